"""The trust answer: is this issuer trusted, by which state, for what, and as of when.

Pure: no I/O and no clock. The service layer (services/resolver.py) finds the listings of an
issuer in the node's own list and its peers' lists, says which sources are stale, and hands them
here. The precedence rules are written once, in :func:`decide`, and described in
docs/protocol.md section 11.2.

Entries are held as :class:`Listing` records: compact (equal authorizations and reasons are
shared between entries), with their instants parsed once, so that a lookup does no parsing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry_node.core.timeutil import format_rfc3339, parse_rfc3339
from registry_node.core.wire import Answer

TRUSTED = "trusted"
NOT_TRUSTED = "not_trusted"
UNKNOWN = "unknown"

#: Reason codes of a single source's finding, strongest first when findings disagree.
VETOES = ("revoked", "suspended")
#: Reasons that make a listing not usable for the question, in the order they are reported
#: when no source trusts the issuer.
REFUSALS = ("retired", "outside_validity", "not_yet_listed", "not_authorized")


@dataclass(frozen=True, slots=True)
class Question:
    """What a verifier asks. ``at`` is a POSIX timestamp; the type filters are optional and,
    when several are given, one authorization must satisfy all of them."""

    name: str
    at: float
    credential_type: str | None = None
    achievement_type: str | None = None
    ctid: str | None = None
    #: True when ``at`` is the moment of asking (no instant was given)
    at_now: bool = False
    #: True when the question is a whole credential (``POST /v1/verify``): the types given are
    #: all it claims, so an authorization covers it only when it lists its credential type
    #: (a question without one is covered by none) and is not narrowed to CTIDs (the node
    #: does not read a CTID from a credential)
    whole: bool = False
    #: With ``whole`` and no ``achievement_type``: the credential claims an achievement of no
    #: type, which an authorization narrowed to achievement types does not cover
    untyped_achievement: bool = False

    @property
    def key_at(self) -> float | None:
        return None if self.at_now else self.at

    @property
    def asks_type(self) -> bool:
        return self.whole or bool(self.credential_type or self.achievement_type or self.ctid)

    def as_json(self, at_text: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.name, "at": at_text or _instant(self.at)}
        for key in ("credential_type", "achievement_type", "ctid"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True, slots=True)
class StatusStep:
    since: float
    status: str
    from_text: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class Listing:
    """One issuer entry of one list, reduced to what questions need."""

    id: str
    aka: tuple[str, ...]
    name: str
    org_type: str
    history: tuple[StatusStep, ...]
    valid_from: float | None
    valid_until: float | None
    authorizations: tuple[Mapping[str, Any], ...]
    #: the entry's ``keys`` (verification methods), each as a tuple of (member, value) pairs
    #: (``publicKeyJwk`` as a nested tuple): compact, rebuilt as dicts by :meth:`methods`
    keys: tuple[tuple[tuple[str, Any], ...], ...] = ()

    def methods(self) -> list[dict[str, Any]]:
        """The pinned verification methods, as the list has them."""
        return [
            {k: dict(v) if k == "publicKeyJwk" else v for k, v in method} for method in self.keys
        ]

    def status_at(self, at: float) -> StatusStep | None:
        current = None
        for step in self.history:
            if step.since > at:
                break
            current = step
        return current

    def next_change(self, after: float) -> float:
        """The first instant after ``after`` at which a finding about this entry can change
        (a status step or an edge of the validity window); infinity when there is none."""
        instants = [s.since for s in self.history if s.since > after]
        instants += [t for t in (self.valid_from, self.valid_until) if t is not None and t > after]
        return min(instants, default=math.inf)

    def authorization_for(self, q: Question) -> Mapping[str, Any] | None:
        """The first authorization that covers every type the question names.

        A type list an authorization leaves out (no ``achievement_types``, no ``ctids``) does
        not cover a question about that kind of type: the state has not said so (fail closed).
        """
        for auth in self.authorizations:
            if q.credential_type is not None and q.credential_type not in auth["credential_types"]:
                continue
            if q.achievement_type is not None and q.achievement_type not in auth.get(
                "achievement_types", ()
            ):
                continue
            if q.ctid is not None and q.ctid not in auth.get("ctids", ()):
                continue
            if q.whole and not _covers_whole(auth, q):
                continue
            return auth
        return None

    def resources(self) -> Iterable[str]:
        """Every credential type, achievement type and CTID this listing is authorised for."""
        for auth in self.authorizations:
            yield from auth["credential_types"]
            yield from auth.get("achievement_types", ())
            yield from auth.get("ctids", ())


def _covers_whole(auth: Mapping[str, Any], q: Question) -> bool:
    """Does ``auth``, which covers every type ``q`` names, cover the whole credential: one of
    its credential types, no CTID it cannot check, and no achievement of a type it has not
    named?"""
    if q.credential_type is None or (q.ctid is None and auth.get("ctids")):
        return False
    return not (
        q.untyped_achievement and q.achievement_type is None and auth.get("achievement_types")
    )


class Interner:
    """Shares equal values between the listings of one build: most issuers of a state carry
    the same few authorizations and reasons, so a list of 10,000 holds a few dozen of each."""

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}

    def text(self, value: str) -> str:
        return self._values.setdefault(value, value)  # type: ignore[no-any-return]

    def instant(self, value: str) -> float:
        """The POSIX time of an RFC 3339 text (many entries share the same instants)."""
        key = ("instant", value)
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = parse_rfc3339(value).timestamp()
        return found

    def authorization(self, auth: Mapping[str, Any]) -> Mapping[str, Any]:
        key = (
            "auth",
            tuple(auth["credential_types"]),
            tuple(auth.get("achievement_types", ())),
            tuple(auth.get("ctids", ())),
            auth["jurisdiction"],
            auth.get("legal_basis"),
        )
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = {
                "credential_types": tuple(map(self.text, auth["credential_types"])),
                **{
                    k: tuple(map(self.text, auth[k]))
                    for k in ("achievement_types", "ctids")
                    if k in auth
                },
                "jurisdiction": self.text(auth["jurisdiction"]),
                **({"legal_basis": auth["legal_basis"]} if "legal_basis" in auth else {}),
            }
        return found


def _ts(text: str | None) -> float | None:
    return None if text is None else parse_rfc3339(text).timestamp()


def listing(entry: Mapping[str, Any], interner: Interner | None = None) -> Listing:
    """Reduce a schema-valid issuer entry to a :class:`Listing`."""
    intern = interner or Interner()
    history = tuple(
        StatusStep(
            intern.instant(step["from"]),
            intern.text(step["status"]),
            step["from"],
            None if step.get("reason") is None else intern.text(step["reason"]),
        )
        for step in entry["status_history"]
    )
    return Listing(
        id=entry["id"],
        aka=tuple(entry.get("aka", ())),
        name=entry["name"],
        org_type=intern.text(entry["org_type"]),
        history=tuple(sorted(history, key=lambda s: s.since)),
        valid_from=_ts(entry.get("valid_from")),
        valid_until=_ts(entry.get("valid_until")),
        authorizations=tuple(map(intern.authorization, entry.get("authorizations", ()))),
        keys=tuple(
            tuple((k, tuple(v.items()) if k == "publicKeyJwk" else v) for k, v in method.items())
            for method in entry.get("keys", ())
        ),
    )


@dataclass(frozen=True, slots=True)
class Source:
    """A list the node holds, as it stands at the moment of the question."""

    id: str
    jurisdiction: str
    local: bool
    seq: int
    digest: str
    iat: int
    exp: int
    fetched_at: str | None
    stale: bool
    #: the credential types this node trusts the source for (None: any type); a source's
    #: findings about a type outside it count for nothing, vetoes included
    scope_types: frozenset[str] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.id,
            "jurisdiction": self.jurisdiction,
            "local": self.local,
            "list": {
                "seq": self.seq,
                "digest": self.digest,
                "iat": _instant(self.iat),
                "exp": _instant(self.exp),
                "fetched_at": self.fetched_at,
            },
            "stale": self.stale,
        }


def _instant(ts: float) -> str:
    return format_rfc3339(datetime.fromtimestamp(ts, UTC))


@dataclass(frozen=True, slots=True)
class Finding:
    """What one source says about the issuer for this question."""

    source: Source
    listing: Listing
    outcome: str
    reason: str
    status: StatusStep | None
    authorization: Mapping[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        entry = self.listing
        status = self.status
        out = self.source.describe()
        out["outcome"] = self.outcome
        out["reason"] = self.reason
        out["entry"] = {
            "id": entry.id,
            "aka": list(entry.aka),
            "name": entry.name,
            "org_type": entry.org_type,
            "status": None if status is None else status.status,
            "status_since": None if status is None else status.from_text,
            "status_reason": None if status is None else status.reason,
            "valid_from": None if entry.valid_from is None else _instant(entry.valid_from),
            "valid_until": None if entry.valid_until is None else _instant(entry.valid_until),
            "authorization": None if self.authorization is None else dict(self.authorization),
        }
        return out


def find(source: Source, entry: Listing, q: Question) -> Finding:
    """One source's finding: the first rule that applies, in this order."""
    status = entry.status_at(q.at)
    if status is None:
        return Finding(source, entry, NOT_TRUSTED, "not_yet_listed", None, None)
    if status.status in VETOES or status.status == "retired":
        return Finding(source, entry, NOT_TRUSTED, status.status, status, None)
    if (entry.valid_from is not None and q.at < entry.valid_from) or (
        entry.valid_until is not None and q.at >= entry.valid_until
    ):
        return Finding(source, entry, NOT_TRUSTED, "outside_validity", status, None)
    # An entry with no authorization vouches for nothing, also for a question of no type.
    auth = entry.authorization_for(q) if q.asks_type else None
    if not entry.authorizations or (q.asks_type and auth is None):
        return Finding(source, entry, NOT_TRUSTED, "not_authorized", status, None)
    return Finding(source, entry, TRUSTED, "active", status, auth)


_DETAILS = {
    "active": "listed as active{typ} by {who}",
    "revoked": "revoked by {who}",
    "suspended": "suspended by {who}",
    "retired": "retired by {who}",
    "outside_validity": "outside the period {who} vouches for it",
    "not_yet_listed": "not yet listed by {who} at that time",
    "not_authorized": "listed by {who} but not authorised{typ}",
    "not_listed": "no list this node trusts names it",
    "sources_stale": "only stale lists name it, and they are not used",
}


def _typ(q: Question) -> str:
    parts = [
        f"{label} {value!r}"
        for label, value in (
            ("credential type", q.credential_type),
            ("achievement type", q.achievement_type),
            ("CTID", q.ctid),
        )
        if value is not None
    ]
    if q.whole and q.credential_type is None:
        parts.insert(0, "a credential of no specific type")
    if q.whole and q.untyped_achievement and q.achievement_type is None:
        parts.append("an achievement of no type")
    return f" for {' and '.join(parts)}" if parts else ""


def _who(findings: Sequence[Finding]) -> str:
    return ", ".join(sorted({f.source.jurisdiction for f in findings}))


def _in_scope(source: Source, q: Question) -> bool:
    """Does this node trust the source for what ``q`` asks? A source says nothing, neither
    trust nor veto, about a credential type outside its scope."""
    types = source.scope_types
    return types is None or q.credential_type is None or q.credential_type in types


def decide(
    q: Question,
    listings: Sequence[tuple[Source, Listing]],
    unavailable: Sequence[Source] = (),
) -> Answer:
    """The answer from every usable listing of the issuer (docs/protocol.md section 11.2),
    leaving out the sources whose scope does not cover the credential type asked about:

    1. a revocation, then a suspension, in any usable source decides ``not_trusted``;
    2. otherwise, any source that finds the issuer active and authorised decides ``trusted``;
    3. otherwise, a listing that refuses decides ``not_trusted``, with the first reason in
       ``REFUSALS`` order;
    4. with no usable listing, the answer is ``unknown``: ``sources_stale`` when stale lists
       that were set aside name it, else ``not_listed``.

    ``stale`` is true when a stale list (``on_stale: warn``) is among those the answer rests on.
    """
    findings = [find(source, entry, q) for source, entry in listings if _in_scope(source, q)]
    decisive: list[Finding] = []
    outcome = UNKNOWN
    reason = "sources_stale" if unavailable else "not_listed"
    for veto in VETOES:
        decisive = [f for f in findings if f.reason == veto]
        if decisive:
            outcome, reason = NOT_TRUSTED, veto
            break
    if not decisive:
        decisive = [f for f in findings if f.outcome == TRUSTED]
        if decisive:
            outcome, reason = TRUSTED, "active"
    if not decisive:
        for refusal in REFUSALS:
            decisive = [f for f in findings if f.reason == refusal]
            if decisive:
                outcome, reason = NOT_TRUSTED, refusal
                break
    detail = _DETAILS[reason].format(typ=_typ(q), who=_who(decisive))
    return {
        "question": q.as_json(),
        "outcome": outcome,
        "reason": reason,
        "detail": detail,
        "stale": any(f.source.stale for f in decisive),
        "decided_by": [f.source.id for f in decisive],
        "evidence": [f.as_json() for f in findings],
        "unavailable": [
            {**s.describe(), "reason": "stale", "detail": f"its list expired {_instant(s.exp)}"}
            for s in unavailable
        ],
    }
