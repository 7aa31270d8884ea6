"""The lookup index and its answers: every list the node holds (its own newest published list
and each peer's held list), and the answers to verifiers' questions made from them.

A :class:`Snapshot` is an immutable view of every source, replaced whole on each change, so a
reader sees the index before or after a change, never half of it. Staleness and the peer's
``on_stale`` policy are applied at question time, from the peer's current configuration: a peer
removed from peers.yaml, or whose list was judged under other terms, is not consulted
(docs/protocol.md section 11). Building the index from the database and following its commits
is services/resolver.py's; signing answers as receipts is services/receipts.py's.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any

from registry_node.core.model import b64url, b64url_decode, canonical_json
from registry_node.core.packed import PackedTexts
from registry_node.core.timeutil import (
    Clock,
    format_rfc3339,
    from_numeric_date,
    to_numeric_date,
)
from registry_node.core.trust import Interner, Listing, Question, Source, decide, listing
from registry_node.core.wire import Answer

#: An answer holds for an hour at most (and never past the lists it rests on).
ANSWER_MAX_SECONDS = 3600
#: Decisions kept per snapshot; the cache is emptied when full (answers are cheap to redo).
ANSWER_CACHE_SIZE = 50_000
#: Issuers whose pinned methods are kept per snapshot; emptied when full, like the decisions.
METHODS_CACHE_SIZE = 4096
#: Parsed entries kept per peer list (a parsed entry takes about twice its text's memory).
PARSED_PER_SOURCE = 4096
#: Questions kept per snapshot by the request that asked them (:meth:`TrustIndex.asked_json`);
#: emptied when full, like the decisions. Only a key this long at most is kept.
ASKED_CACHE_SIZE = 10_000
ASKED_KEY_LENGTH = 512


_FRESH, _STALE = "source fresh", "source stale"


@dataclass(frozen=True)
class SourceIndex:
    """One list's entries: each issuer's entry JSON by id, and every name (id and aka) ->
    issuer id. An entry is parsed into a :class:`Listing` the first time a question needs it
    and kept (``parsed``): building a peer's index costs no parsing. A peer's texts are held
    packed (core/packed.py: a fraction of their size, unpacked in microseconds on the first
    question). The node's own list arrives parsed. ``info`` describes the list (its
    ``stale`` is filled in at question time)."""

    info: Source
    texts: Mapping[str, str] = field(repr=False)
    names: Mapping[str, str] = field(repr=False)
    #: the peer terms the list was judged under (None: the node's own list, or a bundle's)
    terms_id: str | None = None
    parsed: dict[str, Listing] = field(default_factory=dict, repr=False, compare=False)
    interner: Interner = field(default_factory=Interner, repr=False, compare=False)
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: the whole entries of the node's own list, by id (a peer's are its ``texts``)
    raw: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    def source(self, now: int) -> Source:
        """``info`` as it stands at ``now``: stale from its ``exp`` on (each of the two made
        once per ``info``: a Source is immutable)."""
        info = self.info
        stale = info.exp <= now
        # A copy of this index made with other ``info`` (dataclasses.replace) shares ``cache``.
        held = self.cache.get(_STALE if stale else _FRESH)
        if held is not None and held[0] is info:
            found: Source = held[1]
            return found
        found = replace(info, stale=stale)
        self.cache[_STALE if stale else _FRESH] = (info, found)
        return found

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

    def entry(self, issuer_id: str) -> Mapping[str, Any]:
        """The whole entry of ``issuer_id`` as its list has it (every member, not only those
        questions need): for the OpenID Federation statements (services/oidfed.py)."""
        found = self.raw.get(issuer_id)
        if found is None:
            found = json.loads(self.texts[issuer_id])
        return found

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

    answer: Answer
    exp: int | None  # earliest exp of the lists in decided_by
    until: float  # the answer may change from this instant
    #: the whole answer's JSON around its question's ``at`` and its ``evaluated_at`` texts:
    #: head + at + middle + evaluated_at + the rest (:meth:`TrustIndex.ask_json`)
    json_head: bytes = b""
    json_middle: bytes = b""


@dataclass(frozen=True, slots=True)
class Asked:
    """A question as a request asked it, and its decision from the snapshot that keeps it."""

    question: Question
    decision: Decision
    generation: int  # the policy generation the decision was made under


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
    return SourceIndex(info, PackedTexts.pack(texts), names, terms_id=terms_id)


class Snapshot:
    """An immutable view of every source; replaced whole on each change. ``answers`` caches
    decisions made from this view, so a change of the index drops them all at once."""

    def __init__(self, sources: Mapping[str, SourceIndex]) -> None:
        self.sources = sources
        self.answers: dict[tuple[Any, ...], Decision] = {}
        #: (issuer, policy generation) -> (since, until, the methods pinned for it by source)
        #: (:meth:`TrustIndex.methods_by_source`)
        self.methods: dict[
            tuple[str, int], tuple[float, float, Mapping[str, Sequence[Mapping[str, Any]]]]
        ] = {}
        #: whole answers an edge rendered from this view (services/trqp.py), by request
        self.rendered: dict[tuple[Any, ...], Any] = {}
        #: questions an edge parsed from requests, with their decisions from this view, by
        #: the request's raw target (:meth:`TrustIndex.asked_json`)
        self.asked: dict[str, Asked] = {}

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
        #: (the second of the latest answer, its text, the hour after it, that one's text,
        #: and the JSON of an answer's end that holds the two: evaluated_at and expires)
        self._second: tuple[int | None, str, int, str, bytes] = (None, "", 0, "", b"")

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

    def _decision(
        self,
        q: Question,
        authority: str | None,
        now: datetime,
        among: frozenset[str] | None = None,
    ) -> Decision:
        """What the sources say about ``q`` now (only those whose node id is in ``among``,
        when given): computed once, then reused from the current snapshot until the index
        changes, the peers' terms change (the policy generation), or ``now`` reaches an
        instant where the answer could change (a list's ``exp``; for a question about now, a
        status change or the edge of a validity window)."""
        return self._decided_at(q, authority, now.timestamp(), among)

    def _decided_at(
        self,
        q: Question,
        authority: str | None,
        now_ts: float,
        among: frozenset[str] | None = None,
    ) -> Decision:
        """:meth:`_decision` at the POSIX instant ``now_ts``."""
        snapshot = self.snapshot
        key = (
            q.name,
            q.credential_type,
            q.achievement_type,
            q.ctid,
            q.key_at,
            q.whole,
            q.untyped_achievement,
            authority,
            among,
            self.policy_generation(),
        )
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
            if among is not None and index.info.id not in among:
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
        decision = Decision(
            answer,
            min(exps, default=None),
            until,
            b'{"question":' + head,
            tail + b"," + body[1:-1] + b',"evaluated_at":"',
        )
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
        return self._stamps_at(q.at, decision, now.timestamp())

    def _second_of(self, now_ts: float) -> tuple[int | None, str, int, str, bytes]:
        """The texts of the second of ``now_ts`` (:attr:`_second`), made once per second."""
        second = int(now_ts)
        held = self._second  # one reference, swapped whole: safe to read from any thread
        if held[0] != second:
            limit = second + ANSWER_MAX_SECONDS
            evaluated, limit_text = self._text(second), self._text(limit)
            tail = f'{evaluated}","expires":"{limit_text}"}}'.encode()
            held = self._second = (second, evaluated, limit, limit_text, tail)
        return held

    def _at_text(self, at: float, second: int | None, evaluated: str) -> str:
        """The question's ``at`` as RFC 3339 text (``evaluated``: the text of ``second``, the
        whole second of the answer)."""
        whole = int(at)
        if at == whole:
            return self._text(whole)
        if whole == second and 0 < (micro := round((at - whole) * 1e6)) < 1_000_000:
            return f"{evaluated[:-1]}.{micro:06d}Z"  # the usual case: now, with microseconds
        return format_rfc3339(datetime.fromtimestamp(at, UTC))

    def _stamps_at(self, at: float, decision: Decision, now_ts: float) -> tuple[str, str, str]:
        second, evaluated, limit, limit_text, _ = self._second_of(now_ts)
        exp = decision.exp
        expires = limit_text if exp is None or exp >= limit else self._text(exp)
        return self._at_text(at, second, evaluated), evaluated, expires

    def decision(self, q: Question, authority: str | None = None) -> Answer:
        """The outcome, reason, detail and evidence for ``q`` (:meth:`ask` without the
        members that change with the clock). Read only: it is shared."""
        return self._decision(q, authority, self.clock()).answer

    def decided(
        self, q: Question, authority: str | None = None, now: datetime | None = None
    ) -> Decision:
        """:meth:`decision` with the instant it may change from (``until``), as of ``now``
        (None: the clock is read). Read only."""
        return self._decision(q, authority, self.clock() if now is None else now)

    def now_text(self, timestamp: float | None = None) -> str:
        """Now (or the POSIX instant ``timestamp``), as RFC 3339 text to the second."""
        return self._text(int(self.clock().timestamp() if timestamp is None else timestamp))

    def ask(self, q: Question, authority: str | None = None) -> Answer:
        """The answer to ``q``, from every source (``authority`` None) or from the one source
        whose node id or jurisdiction is ``authority`` (docs/protocol.md section 11)."""
        now = self.clock()
        return self._stamped(q, self._decision(q, authority, now), now)

    def _stamped(self, q: Question, decision: Decision, now: datetime) -> Answer:
        """The decision as a whole answer: the question, and the instants it was made at and
        holds until."""
        at, evaluated, expires = self._stamps(q, decision, now)
        answer: Answer = {
            "question": q.as_json(at),
            **decision.answer,
            "evaluated_at": evaluated,
            "expires": expires,
        }
        return answer

    def ask_json(self, q: Question, now: datetime | None = None, key: str | None = None) -> bytes:
        """:meth:`ask` from every source, rendered as JSON: the hot path of ``GET
        /v1/issuers/{id}``, which splices the parts that change with the clock into the
        decision rendered once. ``now``: the clock's reading the question was made at, when
        the caller has one (else the clock is read). ``key``: the request that asked ``q``
        (its raw target), under which the question and its decision are kept with the
        snapshot for :meth:`asked_json`, when it names ``q`` whatever else the request
        carries and is at most ``ASKED_KEY_LENGTH`` long."""
        now_ts = (self.clock() if now is None else now).timestamp()
        snapshot = self.snapshot
        decision = self._decided_at(q, None, now_ts)
        if key is not None and len(key) <= ASKED_KEY_LENGTH:
            asked = snapshot.asked
            if len(asked) >= ASKED_CACHE_SIZE:
                asked.clear()
            asked[key] = Asked(q, decision, self.policy_generation())
        return self._json(q.at, decision, now_ts)

    def asked_json(self, key: str, now: datetime) -> bytes | None:
        """:meth:`ask_json` at ``now`` of the question asked before under ``key``, if it was
        asked of the current snapshot under the current terms (the policy generation) and its
        decision still stands at ``now``; None otherwise. A question about now is answered
        about ``now``."""
        held = self.snapshot.asked.get(key)
        if held is None:
            return None
        now_ts = now.timestamp()
        decision = held.decision
        if now_ts >= decision.until or held.generation != self.policy_generation():
            return None
        q = held.question
        return self._json(now_ts if q.at_now else q.at, decision, now_ts)

    def _json(self, at: float, decision: Decision, now_ts: float) -> bytes:
        """``decision`` as the JSON of a whole answer to a question about ``at``, made at
        ``now_ts``: its parts rendered once, with the instants spliced in."""
        second, evaluated, limit, _, tail = self._second_of(now_ts)
        exp = decision.exp
        if exp is not None and exp < limit:  # a list expires within the hour
            tail = f'{evaluated}","expires":"{self._text(exp)}"}}'.encode()
        at_text = self._at_text(at, second, evaluated)
        return b"".join((decision.json_head, at_text.encode(), decision.json_middle, tail))

    def in_use(self, source_id: str) -> Source | None:
        """The source ``source_id`` as it stands now, if it is in use and fresh: held under
        its peer's current terms and not past its ``exp`` (the node's own list: not past its
        ``exp``). None otherwise."""
        index = self.snapshot.sources.get(source_id)
        if index is None or self._policy(index) is None:
            return None
        source = index.source(to_numeric_date(self.clock()))
        return None if source.stale else source

    def is_authority(self, authority: str) -> bool:
        """Is ``authority`` the node id or jurisdiction of a source in use?"""
        return any(
            authority in (index.info.id, index.info.jurisdiction)
            for index in self.snapshot.sources.values()
            if self._policy(index) is not None
        )

    def knows_resource(self, resource: str) -> bool:
        return resource in self.snapshot.resources

    def find(self, text: str, limit: int) -> tuple[list[str], bool]:
        """Issuer ids whose name, id or an aka contains ``text`` (case-insensitive) in some
        list the node holds of itself or a configured peer, stale ones included (the answer
        then says the list was set aside), sorted, at most ``limit``; and whether more
        matched. For the verifier's page (docs/protocol.md section 15.1), where a person types
        part of a name or an id."""
        needle = text.casefold()
        found: set[str] = set()
        for index, _, _ in self._sources(to_numeric_date(self.clock())):
            for name, issuer_id in index.names.items():
                if issuer_id not in found and needle in name.casefold():
                    found.add(issuer_id)
            for issuer_id in index.ids():
                if issuer_id not in found and needle in index.listing(issuer_id).name.casefold():
                    found.add(issuer_id)
        ordered = sorted(found)
        return ordered[:limit], len(ordered) > limit

    def entries(self, issuer_id: str) -> list[tuple[Source, Mapping[str, Any]]]:
        """Every list in use that has an entry for ``issuer_id`` (its id or an aka), with the
        whole entry as that list has it (authorisations, status history), own list first."""
        out = []
        for index, source, _ in self._sources(to_numeric_date(self.clock())):
            name = index.names.get(issuer_id)
            if name is not None:
                out.append((source, index.entry(name)))
        out.sort(key=lambda item: (not item[0].local, item[0].jurisdiction, item[0].id))
        return out

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

    def methods_by_source(
        self, issuer: str, now: datetime | None = None
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        """The verification methods each usable source listing ``issuer`` (by id or aka) pins
        for it at ``now`` (None: the clock is read), by source id; a source that pins none is
        left out. A credential verified with one of them may be trusted only on the findings
        of the sources that pin that key (:meth:`ask_among`). Read only: it is shared.

        Kept with the snapshot, as decisions are, per issuer and policy generation, for the
        instants between the ``exp`` of the lists listing the issuer on either side of ``now``
        (within which none of them turns stale or fresh, so the same sources are usable)."""
        now_int = to_numeric_date(self.clock() if now is None else now)
        snapshot = self.snapshot
        key = (issuer, self.policy_generation())
        held = snapshot.methods.get(key)
        if held is not None and held[0] <= now_int < held[1]:
            return held[2]
        found: dict[str, Sequence[Mapping[str, Any]]] = {}
        since, until = -math.inf, math.inf
        for index, source, usable in self._sources(now_int):
            entry = index.get(issuer)
            if entry is None:
                continue
            exp = index.info.exp
            if exp <= now_int:
                since = max(since, exp)
            else:
                until = min(until, exp)
            if usable and entry.keys:
                found[source.id] = tuple(entry.methods())
        shared = MappingProxyType(found)
        if len(snapshot.methods) >= METHODS_CACHE_SIZE:
            snapshot.methods.clear()
        snapshot.methods[key] = (since, until, shared)
        return shared

    def status_origins(self, issuer: str) -> frozenset[str]:
        """The https origins that the usable sources listing ``issuer`` (by id or aka) allow
        its status lists to be fetched from (their entries' ``status_origins``)."""
        now = to_numeric_date(self.clock())
        found: set[str] = set()
        for index, _, usable in self._sources(now):
            issuer_id = index.names.get(issuer)
            if usable and issuer_id is not None:
                origins = index.entry(issuer_id).get("status_origins", ())
                found.update(o.rstrip("/").lower() for o in origins if isinstance(o, str))
        return frozenset(found)

    def ask_among(self, q: Question, sources: frozenset[str]) -> Answer:
        """:meth:`ask`, from only the sources whose node id is in ``sources``: those whose
        key verified a credential. A source that is no longer usable (stale under ``on_stale:
        reject``, or a peer no longer configured) is not consulted, as in :meth:`ask`."""
        now = self.clock()
        return self._stamped(q, self._decision(q, None, now, frozenset(sources)), now)

    def decided_among(
        self, q: Question, sources: frozenset[str], now: datetime | None = None
    ) -> Decision:
        """:meth:`ask_among` without the members that change with the clock, as of ``now``
        (None: the clock is read). Read only."""
        return self._decision(q, None, self.clock() if now is None else now, frozenset(sources))

    def stamped(self, q: Question, decision: Decision, now: datetime | None = None) -> Answer:
        """``decision`` (from :meth:`decided` or :meth:`decided_among` for ``q``) as the whole
        answer :meth:`ask` or :meth:`ask_among` gives at ``now`` (None: the clock is read)."""
        return self._stamped(q, decision, self.clock() if now is None else now)
