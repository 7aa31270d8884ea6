"""After a restore: never publish an issuer's standing older than one already published.

A restored database lacks what the node published after the backup: a suspension made since
would vanish from the next list, and neighbours would answer ``trusted`` again. So ``restore``
marks the database (meta ``restore_pending``) and, while it is marked, the node publishes
nothing. It asks every configured peer for the newest list of this node that the peer holds
(``GET /v1/peers/list?id=<node id>``, docs/protocol.md section 9.6), checks each with the
node's own keys, and:

- when every peer answered and none holds a version newer than the database's newest, the
  restore is confirmed;
- when the newest version held is newer, it is taken back, in one transaction: its issuers'
  records are merged into the database (histories only grow, so every status published after
  the backup comes back), the version itself is recorded (its seq, digest and body), so the
  next version continues the seq and links to it by ``prev``, and the mark is cleared;
- otherwise (a peer unreachable, a list that does not verify, no peer configured) the mark
  stays, and readiness says why, until a later attempt succeeds or the operator confirms with
  ``registry-node restore --confirm``.

docs/adr/0015 gives the reasons.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from yarl import URL

from registry_node.config import NodeConfig
from registry_node.core.errors import Conflict, FetchFailed, Rejected
from registry_node.core.keys import PublicKey, import_public_jwk
from registry_node.core.model import canonical_json, digest
from registry_node.core.retention import own_list
from registry_node.core.signing import parse_jws
from registry_node.core.timeutil import Clock, format_rfc3339, from_numeric_date
from registry_node.services.changes import LocalListPublished
from registry_node.services.fetcher import Fetcher
from registry_node.services.peers import PeerRegistry
from registry_node.services.store import Queries, Store, Version

if TYPE_CHECKING:  # issuers.py imports the publisher, which imports this module
    from registry_node.services.issuers import IssuerService

log = logging.getLogger("registry_node.recovery")

#: meta key: set by ``restore``, cleared once the restore is confirmed
RESTORE_PENDING = "restore_pending"
#: meta key: the outcome of the last attempt to confirm it
RESTORE_CHECK = "restore_check"


def held_list_url(list_url: str, node_id: str) -> str:
    """Where a peer serves the lists it holds: ``/v1/peers/list`` beside its ``/trust-list``."""
    url = URL(list_url)
    base = url.path.removesuffix("/trust-list") if url.path.endswith("/trust-list") else ""
    return str(url.with_path(f"{base}/v1/peers/list").with_query({"id": node_id}))


async def pending(q: Queries) -> dict[str, Any] | None:
    """The restore still to be confirmed, with the last attempt's outcome; None if none."""
    mark = await q.meta(RESTORE_PENDING)
    if mark is None:
        return None
    check = await q.meta(RESTORE_CHECK)
    return {**json.loads(mark), "check": None if check is None else json.loads(check)}


async def refuse_if_pending(q: Queries) -> None:
    """Raise while a restore is unconfirmed: the node must not publish (section 10)."""
    if await q.meta(RESTORE_PENDING) is not None:
        raise Conflict(
            "the database was restored from a backup and no peer has confirmed the newest "
            "version of this node's list yet: publishing now could undo a later change",
            code="restore_unconfirmed",
        )


@dataclass
class Attempt:
    """One attempt to confirm a restore."""

    confirmed: bool
    detail: str
    #: peer id -> "seq N" / "none held" / the failure
    peers: dict[str, str] = field(default_factory=dict)
    recovered_seq: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "confirmed": self.confirmed,
            "detail": self.detail,
            "peers": self.peers,
            "recovered_seq": self.recovered_seq,
        }


class Recovery:
    def __init__(
        self,
        config: NodeConfig,
        store: Store,
        fetcher: Fetcher,
        peers: PeerRegistry,
        issuers: IssuerService,
        clock: Clock,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.peers = peers
        self.issuers = issuers
        self.clock = clock

    async def pending(self) -> dict[str, Any] | None:
        return await pending(self.store.read)

    async def _own_keys(self) -> dict[str, PublicKey]:
        """The keys the node signs with now (current, announced, retiring): a list signed only
        by a retired key is not taken back (it may be a thief's, docs/operations.md 11)."""
        records = await self.store.read.keys("current", "next", "retiring")
        return {r.kid: import_public_jwk(r.public_jwk) for r in records}

    async def attempt(self) -> Attempt | None:
        """Try to confirm a pending restore (None when there is none)."""
        if await self.store.read.meta(RESTORE_PENDING) is None:
            return None
        outcome = await self._attempt()
        log.log(
            logging.INFO if outcome.confirmed else logging.WARNING,
            "restore confirmed" if outcome.confirmed else "restore not confirmed",
            extra=outcome.as_json(),
        )
        if not outcome.confirmed:
            async with self.store.write() as tx:
                record = {"at": format_rfc3339(self.clock()), **outcome.as_json()}
                await tx.set_meta(RESTORE_CHECK, canonical_json(record).decode())
        return outcome

    async def _attempt(self) -> Attempt:
        peers = self.peers.items()
        if not peers:
            return Attempt(False, "no peer is configured that could confirm the newest version")
        trusted = await self._own_keys()
        found: dict[str, tuple[int, bytes, dict[str, Any]]] = {}
        outcome = Attempt(False, "")

        async def ask(peer_id: str, list_url: str) -> None:
            url = held_list_url(list_url, self.config.node_id)
            try:
                result = await self.fetcher.fetch(url, missing_ok=True)
                if result.status == 404:
                    outcome.peers[peer_id] = "none held"
                    return
                payload = own_list(
                    result.body, self.config.node_id, self.config.jurisdiction, trusted
                )
            except (FetchFailed, Rejected) as exc:
                outcome.peers[peer_id] = exc.diagnostics()
                return
            found[peer_id] = (int(payload["seq"]), result.body, payload)
            outcome.peers[peer_id] = f"seq {payload['seq']}"

        # All at once: each is bounded by the fetch deadline, so a start waits one deadline.
        await asyncio.gather(*(ask(peer_id, peer.url) for peer_id, peer in peers))
        outcome.peers = dict(sorted(outcome.peers.items()))
        failed = sorted(
            p for p, said in outcome.peers.items() if p not in found and said != "none held"
        )
        if failed:
            outcome.detail = f"no usable answer from {', '.join(failed)}"
            return outcome
        by_seq: dict[int, set[str]] = {}
        for seq, body, _ in found.values():
            by_seq.setdefault(seq, set()).add(digest(body))
        if any(len(digests) > 1 for digests in by_seq.values()):
            outcome.detail = "peers hold different lists with the same seq (equivocation)"
            return outcome
        newest = max(found.values(), key=lambda item: item[0], default=None)
        return await self._settle(outcome, newest)

    async def _settle(
        self, outcome: Attempt, newest: tuple[int, bytes, dict[str, Any]] | None
    ) -> Attempt:
        now = self.clock()
        stamp = format_rfc3339(now)
        async with self.store.write() as tx:
            if await tx.meta(RESTORE_PENDING) is None:  # confirmed meanwhile
                outcome.confirmed, outcome.detail = True, "already confirmed"
                return outcome
            latest = await tx.latest_version(with_body=False)
            own_seq = latest.seq if latest else 0
            own_digest = latest.digest if latest else None
            if newest is not None and newest[0] == own_seq and digest(newest[1]) != own_digest:
                outcome.detail = f"a peer holds another list with seq {own_seq}"
                return outcome
            if newest is not None and newest[0] > own_seq:
                seq, body, payload = newest
                if latest is not None and seq == own_seq + 1 and payload["prev"] != latest.digest:
                    outcome.detail = f"seq {seq}, held by a peer, does not extend seq {own_seq}"
                    return outcome
                current = {k.kid for k in await tx.keys("current")}
                if not current & {k["kid"] for k in payload["keys"]}:
                    outcome.detail = (
                        f"seq {seq}, held by a peer, lists keys this database does not sign "
                        "with: a key rotation happened after the backup"
                    )
                    return outcome
                actor = f"restore:recovered seq {seq}"
                merged = await self.issuers.merge_in(tx, list(payload["issuers"]), actor)
                version = Version(
                    seq=seq,
                    body=body,
                    digest=digest(body),
                    iat=int(payload["iat"]),
                    exp=int(payload["exp"]),
                    prev=payload["prev"],
                    signed_by=tuple(s.kid for s in parse_jws(body).signatures if s.kid),
                    published_at=format_rfc3339(from_numeric_date(int(payload["iat"]))),
                    reason="recovered from a peer after a restore",
                )
                await tx.insert_version(version)
                tx.note(LocalListPublished(version.seq, version.body))
                outcome.recovered_seq = seq
                await tx.add_audit(
                    stamp,
                    actor,
                    "restore.recovered",
                    f"seq {seq}",
                    {"seq": own_seq},
                    {"seq": seq, "digest": version.digest, "issuers": merged.as_json()},
                )
            elif latest is not None:  # the restored list is a source of answers again
                restored = await tx.latest_version()
                if restored is not None:
                    tx.note(LocalListPublished(restored.seq, restored.body))
            outcome.confirmed = True
            outcome.detail = (
                f"recovered seq {outcome.recovered_seq} from a peer"
                if outcome.recovered_seq
                else f"no peer holds a version after seq {own_seq}"
            )
            await tx.set_meta(RESTORE_PENDING, None)
            await tx.set_meta(RESTORE_CHECK, None)
            await tx.add_audit(stamp, "system", "restore.confirm", None, None, outcome.as_json())
        return outcome

    async def confirm(self, actor: str) -> bool:
        """The operator's decision: publish again without a peer's confirmation. Returns
        False when no restore was pending."""
        async with self.store.write() as tx:
            mark = await tx.meta(RESTORE_PENDING)
            if mark is None:
                return False
            await tx.set_meta(RESTORE_PENDING, None)
            await tx.set_meta(RESTORE_CHECK, None)
            latest = await tx.latest_version()
            if latest is not None:
                tx.note(LocalListPublished(latest.seq, latest.body))
            await tx.add_audit(
                format_rfc3339(self.clock()), actor, "restore.confirm", None, json.loads(mark), None
            )
        return True
