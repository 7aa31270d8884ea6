"""The publisher: signs the node's issuers into a new list version, and manages signing keys.

A publication is one database transaction (docs/protocol.md section 5): read the issuers and the
previous version, build and sign the payload, append the version, update key states, write the
audit record, commit. A crash at any step leaves the old version or the new one, never a half
of it, and ``seq`` comes from the database inside that transaction, so it is never reused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core import jwks as corejwks
from registry_node.core import keys as corekeys
from registry_node.core import schema
from registry_node.core.errors import Conflict
from registry_node.core.model import build_payload, canonical_json, digest
from registry_node.core.signing import sign_list
from registry_node.core.timeutil import (
    Clock,
    describe_duration,
    format_rfc3339,
    parse_rfc3339,
    to_numeric_date,
)
from registry_node.services.changes import LocalListPublished
from registry_node.services.keystore import KeyStore
from registry_node.services.recovery import RESTORE_PENDING, refuse_if_pending
from registry_node.services.store import KeyRecord, Queries, Store, Tx, Version

log = logging.getLogger("registry_node.publisher")

#: meta keys that record unpublished changes (the debounce window)
DIRTY_SINCE = "dirty_since"
LAST_CHANGE = "last_change"

#: named points inside a publication where tests inject crashes
FAULT_POINTS = ("read", "signed", "inserted", "keys_updated", "audited")


async def mark_changed(tx: Tx, now: datetime) -> None:
    """Record, in the caller's transaction, that the issuers changed and need publishing."""
    stamp = format_rfc3339(now)
    if await tx.meta(DIRTY_SINCE) is None:
        await tx.set_meta(DIRTY_SINCE, stamp)
    await tx.set_meta(LAST_CHANGE, stamp)


async def restore_pending(q: Queries) -> bool:
    return await q.meta(RESTORE_PENDING) is not None


class Publisher:
    def __init__(
        self,
        config: NodeConfig,
        store: Store,
        keystore: KeyStore,
        clock: Clock,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.keystore = keystore
        self.clock = clock
        self._fault = fault or (lambda point: None)
        #: why nothing may be published now (None: publication is free)
        self._held: Callable[[], str] | None = None

    # -- holding publication ------------------------------------------------------------

    def hold(self, why: Callable[[], str]) -> None:
        """Publish nothing until :meth:`release`: the scheduled check publishes nothing and a
        publication requested of this process (or a key rotation in it) is refused with
        ``publication_held``, whose detail is ``why()``. A starting node holds publication
        while it imports its issuer source file, so that no list of it lacks issuers the file
        names. Other processes (the command line) are not held."""
        self._held = why

    def release(self) -> None:
        self._held = None

    @property
    def held(self) -> bool:
        return self._held is not None

    # -- keys ---------------------------------------------------------------------------

    # -- what is published (for the edges, which never read the store) -------------------

    async def latest_seq(self) -> int:
        """The newest published seq, 0 before the first publication."""
        return await self.store.read.latest_seq()

    async def latest(self, *, with_body: bool = True) -> Version | None:
        return await self.store.read.latest_version(with_body=with_body)

    async def version(self, seq: int) -> Version | None:
        return await self.store.read.version(seq)

    async def recent(self, limit: int) -> list[Version]:
        """The newest ``limit`` versions, newest first, without bodies (the console)."""
        return await self.store.read.recent_versions(limit)

    async def pruned(self, seq: int) -> bool:
        """Was version ``seq``'s body pruned (retention)?"""
        return await self.store.read.pruned(seq)

    async def keys(self, *states: str) -> list[KeyRecord]:
        """The node's signing keys in ``states`` (all when none is given)."""
        return await self.store.read.keys(*states)

    async def jwks(self) -> dict[str, Any]:
        """The JWK Set of ``/jwks.json``: current and next keys, and the retired keys still
        retained (core/jwks.py holds the rule)."""
        records = await self.store.read.keys()
        latest = await self.store.read.latest_version(with_body=False)
        return corejwks.jwk_set(
            (
                corejwks.KeyState(
                    r.public_jwk,
                    r.state,
                    parse_rfc3339(r.retired_at) if r.retired_at else None,
                )
                for r in records
            ),
            self.clock(),
            self.config.receipt_retention,
            latest.signed_by if latest else (),
        )

    async def ensure_signing_key(self, actor: str = "system") -> KeyRecord:
        """On first start, generate the node's signing key; afterwards check it is usable."""
        current = await self.store.read.keys("current")
        if not current:
            async with self.store.write() as tx:
                if not await tx.keys("current"):
                    record = await self._new_key(tx, self.config.signing_alg, "current", actor)
                    log.info("generated signing key", extra={"kid": record.kid})
            current = await self.store.read.keys("current")
        for record in await self.store.read.keys("current", "next", "retiring"):
            self.keystore.load(record.file, record.alg, record.kid)
        return current[0]

    async def _new_key(self, tx: Tx, alg: str, state: str, actor: str) -> KeyRecord:
        key = corekeys.generate(alg)
        path = self.keystore.save(key)
        now = format_rfc3339(self.clock())
        record = KeyRecord(
            kid=key.kid,
            alg=alg,
            public_jwk=key.public_jwk(),
            file=path.name,
            state=state,
            created_at=now,
            announced_at=None,
            activated_at=now if state == "current" else None,
            retired_at=None,
        )
        await tx.insert_key(record)
        await tx.add_audit(now, actor, "key.create", record.kid, None, {"alg": alg, "state": state})
        return record

    async def rotate(self, alg: str | None, actor: str) -> tuple[KeyRecord, Version]:
        """Generate a successor key and announce it in ``next_keys`` (publishes at once)."""
        async with self.store.write() as tx:
            pending = await tx.keys("next")
            if pending:
                raise Conflict(
                    f"key {pending[0].kid} is already announced as the next key",
                    code="rotation_in_progress",
                    hint="complete it with `registry-node keys rotate --complete`",
                )
            record = await self._new_key(tx, alg or self.config.signing_alg, "next", actor)
            version = await self.publish_in(tx, "key rotation announced", actor)
            announced = [k for k in await tx.keys("next") if k.kid == record.kid]
        return announced[0], version  # as stored: with the instant it was announced

    def rotation_ready_at(self, record: KeyRecord) -> datetime | None:
        if record.announced_at is None:
            return None
        return parse_rfc3339(record.announced_at) + self.config.list_validity

    async def complete_rotation(self, actor: str) -> tuple[KeyRecord, Version]:
        """Make the announced key the signing key once it has been out a validity period.

        The first list after this is signed by both the old and the new key, so a peer that
        trusts either accepts it (docs/protocol.md section 6).
        """
        now = self.clock()
        async with self.store.write() as tx:
            pending = await tx.keys("next")
            if not pending:
                raise Conflict(
                    "no key has been announced",
                    code="no_rotation",
                    hint="start one with `registry-node keys rotate`",
                )
            successor = pending[0]
            ready = self.rotation_ready_at(successor)
            if ready is None or now < ready:
                when = (
                    "is not yet announced"
                    if ready is None
                    else f"can complete at {format_rfc3339(ready)}"
                )
                raise Conflict(
                    f"key {successor.kid} {when}: peers must see the announcement for one "
                    "list validity period "
                    f"({describe_duration(self.config.list_validity)}) first",
                    code="rotation_too_early",
                )
            stamp = format_rfc3339(now)
            for old in await tx.keys("current"):
                await tx.update_key(old.kid, state="retiring")
            await tx.update_key(successor.kid, state="current", activated_at=stamp)
            await tx.add_audit(stamp, actor, "key.activate", successor.kid, None, None)
            version = await self.publish_in(tx, "key rotation completed", actor)
        return successor, version

    # -- publication --------------------------------------------------------------------

    async def publish(self, reason: str, actor: str = "system") -> Version:
        async with self.store.write() as tx:
            return await self.publish_in(tx, reason, actor)

    async def publish_in(self, tx: Tx, reason: str, actor: str) -> Version:
        """Build, sign and append the next version inside the caller's transaction."""
        if self._held is not None:
            raise Conflict(
                f"not published: {self._held()}; the node publishes when it is done",
                code="publication_held",
            )
        await refuse_if_pending(tx)  # a restored node publishes nothing until confirmed
        now = self.clock()
        self._fault("read")
        previous = await tx.latest_version()
        issuers = await tx.issuers()
        current = await tx.keys("current")
        announced = await tx.keys("next")
        retiring = await tx.keys("retiring")
        if not current:
            raise RuntimeError("no current signing key: call ensure_signing_key() first")
        signers = [self.keystore.load(k.file, k.alg, k.kid) for k in (*current, *retiring)]
        seq = (previous.seq if previous else 0) + 1
        iat = to_numeric_date(now)
        exp = to_numeric_date(now + self.config.list_validity)
        payload = build_payload(
            self.config.identity,
            seq=seq,
            iat=iat,
            exp=exp,
            prev=previous.digest if previous else None,
            keys=[k.public_jwk for k in current],
            next_keys=[k.public_jwk for k in announced],
            issuers=issuers,
        )
        # Never sign what the published schema would refuse (docs/protocol.md section 3).
        schema.check_trust_list(payload)
        body = sign_list(canonical_json(payload), signers)
        self._fault("signed")
        version = Version(
            seq=seq,
            body=body,
            digest=digest(body),
            iat=iat,
            exp=exp,
            prev=payload["prev"],
            signed_by=tuple(s.kid for s in signers),
            published_at=format_rfc3339(now),
            reason=reason,
        )
        await tx.insert_version(version)
        tx.note(LocalListPublished(version.seq, version.body))
        self._fault("inserted")
        stamp = format_rfc3339(now)
        for record in announced:
            if record.announced_at is None:
                await tx.update_key(record.kid, announced_at=stamp)
        for record in retiring:
            await tx.update_key(record.kid, state="retired", retired_at=stamp)
        await tx.set_meta(DIRTY_SINCE, None)
        await tx.set_meta(LAST_CHANGE, None)
        self._fault("keys_updated")
        await tx.add_audit(
            stamp,
            actor,
            "publish",
            f"seq {seq}",
            None,
            {"seq": seq, "digest": version.digest, "reason": reason, "exp": exp},
        )
        self._fault("audited")
        log.info(
            "published trust list",
            extra={"seq": seq, "digest": version.digest, "reason": reason, "issuers": len(issuers)},
        )
        return version

    async def due(self, q: Queries | None = None) -> str | None:
        """Why a publication is due now, or None (debounced changes, refresh before ``exp``)."""
        q = q or self.store.read
        if await restore_pending(q):
            return None  # publication waits for the restore to be confirmed (recovery.py)
        now = self.clock()
        latest = await q.latest_version(with_body=False)
        if latest is None:
            return "initial publication"
        last_change = await q.meta(LAST_CHANGE)
        dirty_since = await q.meta(DIRTY_SINCE)
        if last_change is not None and dirty_since is not None:
            quiet = now - parse_rfc3339(last_change) >= self.config.publish_debounce
            # A steady trickle of edits must not postpone publication for ever.
            waited = now - parse_rfc3339(dirty_since) >= 10 * self.config.publish_debounce
            if quiet or waited:
                return "issuers changed"
        validity = min(timedelta(seconds=latest.exp - latest.iat), self.config.list_validity)
        if to_numeric_date(now) >= latest.exp - validity.total_seconds() / 4:
            return "refresh before expiry"
        return None

    async def tick(self) -> Version | None:
        """The scheduler job: publish when :meth:`due` says so (and nothing holds it)."""
        if self._held is not None or await self.due() is None:
            return None
        async with self.store.write() as tx:
            # Re-check inside the transaction: another process may have just published.
            reason = await self.due(tx)
            if reason is None or self._held is not None:
                return None
            return await self.publish_in(tx, reason, "system")
