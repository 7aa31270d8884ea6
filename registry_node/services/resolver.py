"""The resolver: answers verifiers' questions from an in-memory index of every list the node
holds (its own latest published list and each peer's last accepted list).

SQLite stays the source of truth. The index is built from it when the node opens and then
follows every commit that touches a list (``Store.listeners``): a peer's changed entries are
re-read from the commit, the node's own list from its newest published version. Each change
builds new per-source maps and then swaps one reference, so a reader sees the index before or
after the change, never half of it.

Staleness and the peer's ``on_stale`` policy are applied at question time, from the peer's
current configuration: a peer removed from peers.yaml is not consulted even before its entries
are dropped (docs/protocol.md section 11).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.keys import SigningKey
from registry_node.core.model import b64url, b64url_decode, canonical_json
from registry_node.core.peers import PeerConfig
from registry_node.core.signing import parse_jws, sign_compact
from registry_node.core.timeutil import (
    Clock,
    format_rfc3339,
    from_numeric_date,
    parse_rfc3339,
    to_numeric_date,
)
from registry_node.core.trust import Interner, Listing, Question, Source, decide, listing
from registry_node.services.federation import Federation
from registry_node.services.keystore import KeyStore
from registry_node.services.store import PeerList, Store

log = logging.getLogger("registry_node.resolver")

RECEIPT_TYP = "ler-trust-answer+jwt"
RECEIPT_MAX_SECONDS = 3600
#: Decisions kept per snapshot; the cache is emptied when full (answers are cheap to redo).
ANSWER_CACHE_SIZE = 50_000
#: Parsed entries kept per peer list (a parsed entry takes about twice its text's memory).
PARSED_PER_SOURCE = 4096


@dataclass(frozen=True)
class SourceIndex:
    """One list's entries: each issuer's entry JSON by id, and every name (id and aka) ->
    issuer id. An entry is parsed into a :class:`Listing` the first time a question needs it
    and kept (``parsed``): building a peer's index costs no parsing, and its text is about
    half the memory of a parsed listing. The node's own list arrives parsed. ``info``
    describes the list (its ``stale`` is filled in at question time)."""

    info: Source
    texts: Mapping[str, str] = field(repr=False)
    names: Mapping[str, str] = field(repr=False)
    #: the peer terms the list was judged under (None: the node's own list, or a bundle's)
    terms_id: str | None = None
    parsed: dict[str, Listing] = field(default_factory=dict, repr=False, compare=False)
    interner: Interner = field(default_factory=Interner, repr=False, compare=False)
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def source(self, now: int) -> Source:
        return replace(self.info, stale=self.info.exp <= now)

    def ids(self) -> Iterable[str]:
        return self.texts.keys() if self.texts else self.parsed.keys()

    def listing(self, issuer_id: str) -> Listing:
        found = self.parsed.get(issuer_id)
        if found is None:
            found = listing(json.loads(self.texts[issuer_id]), self.interner)
            if len(self.parsed) >= PARSED_PER_SOURCE:  # bounded: texts stay the truth
                self.parsed.clear()
            self.parsed[issuer_id] = found
        return found

    def get(self, name: str) -> Listing | None:
        """The entry named ``name`` (its id or an aka), if this list has one."""
        issuer_id = self.names.get(name)
        return None if issuer_id is None else self.listing(issuer_id)

    def listings(self) -> Iterator[Listing]:
        return (self.listing(i) for i in self.ids())

    def resources(self) -> frozenset[str]:
        """What this list's entries are authorised for; computed once per list version (the
        index keeps a SourceIndex until its list changes)."""
        found = self.cache.get("resources")
        if found is None:
            found = self.cache["resources"] = frozenset(
                r for e in self.listings() for r in e.resources()
            )
        return found


def names_of(aliases: Mapping[str, Sequence[str]], ids: Iterable[str]) -> dict[str, str]:
    """name -> issuer id, from each issuer's id and its ``aka`` names."""
    names = {i: i for i in ids}
    for issuer_id, akas in aliases.items():
        for name in akas:
            names[name] = issuer_id
    return names


@dataclass(frozen=True)
class Decision:
    """The part of an answer that does not change with the clock, rendered once."""

    answer: dict[str, Any]
    body: bytes  # the JSON members of ``answer``, without the enclosing braces
    exp: int | None  # earliest exp of the lists in decided_by
    until: float  # the answer may change from this instant
    #: the rendered ``question`` around its ``at`` text: head + at + tail
    question_head: bytes = b""
    question_tail: bytes = b""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def source_index(
    source_id: str,
    jurisdiction: str,
    local: bool,
    held: tuple[int, str, int, int, str | None],
    texts: Mapping[str, str],
    aliases: Mapping[str, Sequence[str]],
    *,
    terms_id: str | None = None,
    scope_types: frozenset[str] | None = None,
) -> SourceIndex:
    """Index a list's entries (issuer id -> entry JSON, and issuer id -> its aka names) under
    ``held``: the list's (seq, digest, iat, exp, fetched_at)."""
    names = names_of(aliases, texts)
    info = Source(source_id, jurisdiction, local, *held, stale=False, scope_types=scope_types)
    return SourceIndex(info, dict(texts), names, terms_id=terms_id)


class Snapshot:
    """An immutable view of every source; replaced whole on each change. ``answers`` caches
    decisions made from this view, so a change of the index drops them all at once."""

    def __init__(self, sources: Mapping[str, SourceIndex]) -> None:
        self.sources = sources
        self.answers: dict[tuple[Any, ...], Decision] = {}

    @cached_property
    def browse_keys(self) -> list[tuple[str, str]]:
        """(issuer id, source id) of every entry, sorted: the order of ``GET /v1/issuers``."""
        return sorted((i, s.info.id) for s in self.sources.values() for i in s.ids())

    @cached_property
    def resources(self) -> frozenset[str]:
        """Every credential type, achievement type and CTID some entry is authorised for."""
        return frozenset().union(*(s.resources() for s in self.sources.values()))


@dataclass(frozen=True)
class BrowseFilter:
    jurisdiction: str | None = None
    org_type: str | None = None
    status: str | None = None
    credential_type: str | None = None
    text: str | None = None


def encode_cursor(key: tuple[str, str]) -> str:
    return b64url(canonical_json(list(key)))


def decode_cursor(cursor: str) -> tuple[str, str]:
    """Raises ValueError for anything that is not a cursor this node made."""
    try:
        key = json.loads(b64url_decode(cursor))
    except Exception as exc:
        raise ValueError("not a cursor from this node") from exc
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        raise ValueError("not a cursor from this node")
    return key[0], key[1]


class TrustIndex:
    """Answers questions from a :class:`Snapshot` of lists. ``on_stale(peer id)`` gives the
    configured peer's ``on_stale`` policy, or None for a peer that is no longer configured (its
    entries are then not consulted). The node's own list (``local``) is always used."""

    def __init__(self, clock: Clock, on_stale: Callable[[str], str | None]) -> None:
        self.clock = clock
        self.on_stale = on_stale
        self.snapshot = Snapshot({})
        self._texts: dict[int, str] = {}

    def policy_generation(self) -> int:
        """Changes whenever ``on_stale`` may answer differently (the peers were reloaded)."""
        return 0

    def current(self, index: SourceIndex) -> bool:
        """Was this peer list judged under the peer's current terms? Only such a list is a
        source of answers (docs/protocol.md section 9.1)."""
        return True

    def _policy(self, index: SourceIndex) -> str | None:
        """How a list may be used: its peer's ``on_stale``, ``warn`` for the node's own list,
        None when it must not be used at all (peer removed, or terms changed since)."""
        if index.info.local:
            return "warn"
        if not self.current(index):
            return None
        return self.on_stale(index.info.id)

    # -- answering ------------------------------------------------------------------------

    def _sources(self, now: int) -> Iterator[tuple[SourceIndex, Source, bool]]:
        """Each source in use, its state now, and whether it may be used (fresh, or stale
        under ``on_stale: warn``; the node's own list is always used, marked when stale)."""
        for index in self.snapshot.sources.values():
            on_stale = self._policy(index)
            if on_stale is None:
                continue
            source = index.source(now)
            yield index, source, not source.stale or on_stale == "warn"

    def _decision(self, q: Question, authority: str | None, now: datetime) -> Decision:
        """What the sources say about ``q`` now: computed once, then reused from the current
        snapshot until the index changes or ``now`` reaches an instant where the answer could
        change (a list's ``exp``; for a question about now, a status change or the edge of a
        validity window)."""
        snapshot = self.snapshot
        key = (
            q.name,
            q.credential_type,
            q.achievement_type,
            q.ctid,
            q.key_at,
            authority,
            self.policy_generation(),
        )
        now_ts = now.timestamp()
        held = snapshot.answers.get(key)
        if held is not None and now_ts < held.until:
            return held
        now_int = int(now_ts)
        listings: list[tuple[Source, Listing]] = []
        unavailable: list[Source] = []
        until = math.inf
        for index in snapshot.sources.values():
            entry = index.get(q.name)
            if entry is None:
                continue
            if authority is not None and authority not in (index.info.id, index.info.jurisdiction):
                continue
            on_stale = self._policy(index)
            if on_stale is None:
                continue
            source = index.source(now_int)
            if index.info.exp > now_ts:
                until = min(until, index.info.exp)
            if source.stale and on_stale != "warn":
                unavailable.append(source)
                continue
            listings.append((source, entry))
            if q.at_now:
                until = min(until, entry.next_change(now_ts))
        answer = decide(q, listings, unavailable)
        del answer["question"]
        decided = set(answer["decided_by"])
        exps = [s.exp for s, _ in listings if s.id in decided]
        body = _dumps(answer)
        asked = q.as_json("")
        types = {k: v for k, v in asked.items() if k not in ("id", "at")}
        head = b'{"id":' + _dumps(q.name) + b',"at":"'
        tail = b'"' + (b"," + _dumps(types)[1:-1] if types else b"") + b"}"
        decision = Decision(answer, body[1:-1], min(exps, default=None), until, head, tail)
        if len(snapshot.answers) >= ANSWER_CACHE_SIZE:
            snapshot.answers.clear()
        snapshot.answers[key] = decision
        return decision

    def _text(self, instant: int) -> str:
        """RFC 3339 text of a whole second; the few in use at a time are kept."""
        text = self._texts.get(instant)
        if text is None:
            if len(self._texts) > 256:
                self._texts.clear()
            text = self._texts[instant] = format_rfc3339(from_numeric_date(instant))
        return text

    def _stamps(self, q: Question, decision: Decision, now: datetime) -> tuple[str, str, str]:
        """(the question's at, evaluated_at, expires) as RFC 3339 texts, to the second. An
        answer holds for an hour at most, and never past the lists it rests on."""
        second = int(now.timestamp())
        evaluated = self._text(second)
        whole = int(q.at)
        if q.at == whole:
            at = self._text(whole)
        elif whole == second and 0 < (micro := round((q.at - whole) * 1e6)) < 1_000_000:
            at = f"{evaluated[:-1]}.{micro:06d}Z"  # the usual case: now, with microseconds
        else:
            at = format_rfc3339(datetime.fromtimestamp(q.at, UTC))
        limit = second + RECEIPT_MAX_SECONDS
        exp = limit if decision.exp is None else min(limit, decision.exp)
        return at, evaluated, self._text(exp)

    def decision(self, q: Question, authority: str | None = None) -> Mapping[str, Any]:
        """The outcome, reason, detail and evidence for ``q`` (:meth:`ask` without the
        members that change with the clock). Read only: it is shared."""
        return self._decision(q, authority, self.clock()).answer

    def now_text(self) -> str:
        """Now, as RFC 3339 text to the second."""
        return self._text(int(self.clock().timestamp()))

    def ask(self, q: Question, authority: str | None = None) -> dict[str, Any]:
        """The answer to ``q``, from every source (``authority`` None) or from the one source
        whose node id or jurisdiction is ``authority`` (docs/protocol.md section 11)."""
        now = self.clock()
        decision = self._decision(q, authority, now)
        at, evaluated, expires = self._stamps(q, decision, now)
        return {
            "question": q.as_json(at),
            **decision.answer,
            "evaluated_at": evaluated,
            "expires": expires,
        }

    def ask_json(self, q: Question) -> bytes:
        """:meth:`ask` from every source, rendered as JSON: the hot path of ``GET
        /v1/issuers/{id}``, which splices the parts that change with the clock into the
        decision rendered once."""
        now = self.clock()
        decision = self._decision(q, None, now)
        at, evaluated, expires = self._stamps(q, decision, now)
        return b"".join(
            (
                b'{"question":',
                decision.question_head,
                at.encode(),
                decision.question_tail,
                b",",
                decision.body,
                b',"evaluated_at":"',
                evaluated.encode(),
                b'","expires":"',
                expires.encode(),
                b'"}',
            )
        )

    def is_authority(self, authority: str) -> bool:
        """Is ``authority`` the node id or jurisdiction of a source in use?"""
        return any(
            authority in (index.info.id, index.info.jurisdiction)
            for index in self.snapshot.sources.values()
            if self._policy(index) is not None
        )

    def knows_resource(self, resource: str) -> bool:
        return resource in self.snapshot.resources

    def browse(
        self,
        flt: BrowseFilter,
        at: datetime | None,
        limit: int,
        after: tuple[str, str] | None = None,
    ) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        """One page of entries in (issuer id, source) order, after the cursor ``after``."""
        now = to_numeric_date(self.clock())
        when = (at or self.clock()).timestamp()
        snapshot = self.snapshot
        usable = {index.info.id: source for index, source, ok in self._sources(now) if ok}
        keys = snapshot.browse_keys
        start = 0 if after is None else bisect_right(keys, after)
        text = None if flt.text is None else flt.text.casefold()
        items: list[dict[str, Any]] = []
        last: tuple[str, str] | None = None
        for position in range(start, len(keys)):
            issuer_id, source_id = keys[position]
            source = usable.get(source_id)
            if source is None:
                continue
            if flt.jurisdiction is not None and source.jurisdiction != flt.jurisdiction:
                continue
            entry = snapshot.sources[source_id].listing(issuer_id)
            if flt.org_type is not None and entry.org_type != flt.org_type:
                continue
            if text is not None and text not in entry.name.casefold():
                continue
            if flt.credential_type is not None and not any(
                flt.credential_type in a["credential_types"] for a in entry.authorizations
            ):
                continue
            step = entry.status_at(when)
            status = None if step is None else step.status
            if flt.status is not None and status != flt.status:
                continue
            if len(items) == limit:
                return items, last
            items.append(
                {
                    "id": entry.id,
                    "aka": list(entry.aka),
                    "name": entry.name,
                    "org_type": entry.org_type,
                    "status": status,
                    "credential_types": sorted(
                        {t for a in entry.authorizations for t in a["credential_types"]}
                    ),
                    "source": source.id,
                    "jurisdiction": source.jurisdiction,
                    "stale": source.stale,
                }
            )
            last = (issuer_id, source_id)
        return items, None

    def pinned_methods(self, issuer: str) -> list[dict[str, Any]]:
        """The verification methods that the usable sources listing ``issuer`` pin for it
        (their ``keys``), for credential verification."""
        now = to_numeric_date(self.clock())
        methods: list[dict[str, Any]] = []
        for index, _, usable in self._sources(now):
            entry = index.get(issuer)
            if usable and entry is not None:
                methods.extend(m for m in entry.methods() if m not in methods)
        return methods

    def methods_by_source(self, issuer: str) -> dict[str, list[dict[str, Any]]]:
        """The verification methods each usable source listing ``issuer`` (by id or aka) pins
        for it, by source id; a source that pins none is left out. A credential verified with
        one of them may be trusted only on the findings of the sources that pin that key
        (:meth:`ask_among`)."""
        now = to_numeric_date(self.clock())
        found: dict[str, list[dict[str, Any]]] = {}
        for index, source, usable in self._sources(now):
            entry = index.get(issuer)
            if usable and entry is not None and entry.keys:
                found[source.id] = entry.methods()
        return found

    def ask_among(self, q: Question, sources: frozenset[str]) -> dict[str, Any]:
        """:meth:`ask`, from only the sources whose node id is in ``sources``: those whose
        key verified a credential. A source that is no longer usable (stale under ``on_stale:
        reject``, or a peer no longer configured) is not consulted, as in :meth:`ask`. Not
        cached: credential verification asks it a few times per credential."""
        now = self.clock()
        now_int = int(now.timestamp())
        listings: list[tuple[Source, Listing]] = []
        unavailable: list[Source] = []
        for index, source, usable in self._sources(now_int):
            entry = index.get(q.name)
            if entry is None or source.id not in sources:
                continue
            if usable:
                listings.append((source, entry))
            else:
                unavailable.append(source)
        answer = decide(q, listings, unavailable)
        del answer["question"]
        decided = set(answer["decided_by"])
        exps = [s.exp for s, _ in listings if s.id in decided]
        decision = Decision(answer, b"", min(exps, default=None), math.inf)
        at, evaluated, expires = self._stamps(q, decision, now)
        return {"question": q.as_json(at), **answer, "evaluated_at": evaluated, "expires": expires}


class Resolver(TrustIndex):
    """The node's :class:`TrustIndex`: built from the database, following its commits, and
    signing receipts with the node's key."""

    def __init__(
        self,
        config: NodeConfig,
        store: Store,
        federation: Federation,
        keystore: KeyStore,
        clock: Clock,
    ) -> None:
        super().__init__(clock, self._on_stale)
        self.config = config
        self.store = store
        self.federation = federation
        self.keystore = keystore
        self._signer: SigningKey | None = None
        self._lock = asyncio.Lock()

    def policy_generation(self) -> int:
        return self.federation.generation

    def _on_stale(self, peer_id: str) -> str | None:
        peer = self.federation.peers.get(peer_id)
        return None if peer is None else peer.on_stale

    def current(self, index: SourceIndex) -> bool:
        peer = self.federation.peers.get(index.info.id)
        return peer is not None and index.terms_id == peer.terms_id

    def _peer_index(
        self, peer: PeerConfig, accepted: PeerList, texts: Mapping[str, str], aliases: Any
    ) -> SourceIndex | None:
        """The index of a held list, or None when it is withdrawn (no source of answers)."""
        if accepted.withdrawn is not None:
            return None
        state = (accepted.seq, accepted.digest, accepted.iat, accepted.exp, accepted.fetched_at)
        return source_index(
            peer.id,
            peer.jurisdiction,
            False,
            state,
            texts,
            aliases,
            terms_id=accepted.terms_id,
            scope_types=peer.scope.credential_types,
        )

    # -- building the index ---------------------------------------------------------------

    async def load(self) -> None:
        """Build the whole index from the database and follow its commits from now on."""
        async with self._lock:
            sources: dict[str, SourceIndex] = {}
            local = await self._local_index()
            if local is not None:
                sources[local.info.id] = local
            lists = await self.store.read.peer_lists()
            for peer_id, peer in self.federation.peers.items():
                accepted = lists.get(peer_id)
                if accepted is None:
                    continue
                built = self._peer_index(
                    peer,
                    accepted,
                    await self.store.read.peer_entries(peer_id),
                    await self.store.read.peer_aliases(peer_id),
                )
                if built is not None:
                    sources[peer_id] = built
            self.snapshot = Snapshot(sources)
        if self.on_commit not in self.store.listeners:
            self.store.listeners.append(self.on_commit)

    async def _local_index(self) -> SourceIndex | None:
        latest = await self.store.read.latest_version()
        if latest is None:
            return None
        payload = json.loads(parse_jws(latest.body).payload)
        interner = Interner()
        parsed = {e["id"]: listing(e, interner) for e in payload["issuers"]}
        names = names_of({i: e.aka for i, e in parsed.items()}, parsed)
        self._signer = None  # a publication may follow a key rotation
        config = self.config
        held = (latest.seq, latest.digest, latest.iat, latest.exp, None)
        info = Source(config.node_id, config.jurisdiction, True, *held, stale=False)
        return SourceIndex(info, {}, names, parsed=parsed, interner=interner)

    async def on_commit(self, changed: dict[str, Any]) -> None:
        async with self._lock:
            sources = dict(self.snapshot.sources)
            if "local" in changed:
                local = await self._local_index()
                if local is not None:
                    sources[local.info.id] = local
            diff = changed.get("peers_config", {})
            for peer_id in diff.get("removed", ()):
                sources.pop(peer_id, None)
            for peer_id in (*diff.get("added", ()), *diff.get("changed", ())):
                sources.pop(peer_id, None)
                rebuilt = await self._apply_peer(None, peer_id, {})
                if rebuilt is not None:
                    sources[peer_id] = rebuilt
            for peer_id, change in changed.get("peers", {}).items():
                updated = await self._apply_peer(sources.get(peer_id), peer_id, change)
                if updated is not None:
                    sources[peer_id] = updated
                else:
                    sources.pop(peer_id, None)
            self.snapshot = Snapshot(sources)

    async def catch_up(self) -> None:
        """Follow commits made by other processes (the command line publishing, rotating keys
        or syncing): compare the newest published version and each peer's held list with the
        index, and rebuild what differs. Cheap when nothing changed; the scheduler calls it
        every second."""
        latest = await self.store.read.latest_version(with_body=False)
        lists = await self.store.read.peer_lists()
        snapshot = self.snapshot
        changed: dict[str, Any] = {}
        local = next((s for s in snapshot.sources.values() if s.info.local), None)
        if latest is not None and (local is None or local.info.seq != latest.seq):
            changed["local"] = latest.seq
        peers: dict[str, dict[str, Any]] = {}
        for peer_id in self.federation.peers:
            held, accepted = snapshot.sources.get(peer_id), lists.get(peer_id)
            if accepted is None:
                continue
            if held is None and accepted.withdrawn is not None:
                continue
            if (
                held is None
                or (held.info.seq, held.info.digest) != (accepted.seq, accepted.digest)
                or held.terms_id != accepted.terms_id
                or accepted.withdrawn is not None
            ):
                peers[peer_id] = {"list": True}  # no "entries": read them all
            elif held.info.fetched_at != accepted.fetched_at:
                peers[peer_id] = {"fetched_at": accepted.fetched_at}
        if peers:
            changed["peers"] = peers
        if changed:
            await self.on_commit(changed)

    async def _apply_peer(
        self, held: SourceIndex | None, peer_id: str, change: dict[str, Any]
    ) -> SourceIndex | None:
        """The peer's index after ``change``: None when it has no list in use."""
        peer = self.federation.peers.get(peer_id)
        if peer is None:
            return held
        if "list" in change or held is None:
            accepted = await self.store.read.peer_list(peer_id)
            if accepted is None:
                return None
            if change.get("complete"):  # the commit wrote every entry: no need to read them
                return self._peer_index(peer, accepted, change["entries"], change["aliases"])
            if held is None or "entries" not in change:
                # first sight of this peer (or a commit without its entries): read them all
                texts = await self.store.read.peer_entries(peer_id)
                aliases = await self.store.read.peer_aliases(peer_id)
                return self._peer_index(peer, accepted, texts, aliases)
            built = self._peer_index(peer, accepted, {}, {})
            if built is None:
                return None
            texts, names = _patched(held, change["entries"], change["gone"], change["aliases"])
            return replace(built, texts=texts, names=names)
        if "fetched_at" in change:
            return replace(held, info=replace(held.info, fetched_at=change["fetched_at"]))
        return held

    def recognizes(self, peer: PeerConfig, resource: str) -> tuple[bool, str]:
        """Whether this node recognises ``peer`` for ``resource`` now: configured, holding a
        fresh list from it, and the peer's scope admits the resource (section 12.2)."""
        index = self.snapshot.sources.get(peer.id)
        if index is None or not self.current(index):
            return False, f"no list from {peer.jurisdiction} is held under today's terms"
        if index.info.exp <= to_numeric_date(self.clock()):
            expired = format_rfc3339(from_numeric_date(index.info.exp))
            return False, f"the list held from {peer.jurisdiction} is stale (expired {expired})"
        types = peer.scope.credential_types
        in_scope = types is None or resource in types
        if not in_scope:
            in_scope = resource in index.resources()
        if not in_scope:
            return (
                False,
                f"{resource!r} is outside the scope this node trusts {peer.jurisdiction} for",
            )
        return True, (
            f"{peer.jurisdiction} is a peer with a fresh list (seq {index.info.seq}, "
            f"expires {format_rfc3339(from_numeric_date(index.info.exp))})"
        )

    # -- receipts -------------------------------------------------------------------------

    async def _current_signer(self) -> SigningKey:
        signer = self._signer
        if signer is None:
            current = await self.store.read.keys("current")
            if not current:
                raise RuntimeError("no current signing key")
            record = current[0]
            signer = self._signer = self.keystore.load(record.file, record.alg, record.kid)
        return signer

    async def receipt(self, answer: Mapping[str, Any]) -> str:
        """The answer as a JWS compact token signed with the node's current list key."""
        signer = await self._current_signer()
        iat = to_numeric_date(self.clock())
        claims = {
            "iss": self.config.node_id,
            "sub": answer["question"]["id"],
            "iat": iat,
            "exp": to_numeric_date(parse_rfc3339(answer["expires"])),
            "answer": answer,
        }
        return sign_compact(canonical_json(claims), signer, RECEIPT_TYP)


def _patched(
    held: SourceIndex,
    entries: Mapping[str, str],
    gone: list[str],
    aliases: Mapping[str, Sequence[str]],
) -> tuple[dict[str, str], dict[str, str]]:
    """The held texts and names with ``entries`` replaced or added and ``gone`` removed."""
    texts = dict(held.texts)
    names = {n: i for n, i in held.names.items() if i not in entries and i not in gone}
    for issuer_id in gone:
        texts.pop(issuer_id, None)
    texts.update(entries)
    names.update(names_of({i: aliases.get(i, ()) for i in entries}, entries))
    return texts, names
