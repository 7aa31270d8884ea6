"""The acceptance rules for a peer's list: a pure function of bytes, configuration, the
previously accepted state and the time (docs/protocol.md section 9.3).

Like a TUF client's trusted metadata set, it only ever returns a decision or raises
``Rejected`` with a stable reason code; it performs no I/O and reads no clock of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from registry_node.core import schema
from registry_node.core.errors import InvalidInput, Rejected, SchemaInvalid
from registry_node.core.jsonspans import PayloadError, parse_payload
from registry_node.core.keys import PublicKey, import_public_jwk
from registry_node.core.model import digest, first_out_of_order, first_reused_name
from registry_node.core.peers import PeerConfig, Scope
from registry_node.core.signing import ParsedList, parse_jws, verify_signatures
from registry_node.core.timeutil import parse_rfc3339, to_numeric_date
from registry_node.core.wire import Authorization, IssuerEntry

#: Refusals meaning no key trusted under the peer's terms signed the list (``threshold_not_met``
#: is not one: some trusted key did). When the operator re-pins a peer and the held list fails
#: the new pins with one of these, it no longer binds: a new trust epoch begins
#: (docs/protocol.md section 9.1).
UNSIGNED_CODES = frozenset(
    {
        "unknown_key",
        "signature_invalid",
        "alg_not_allowed",
        "typ_mismatch",
        "header_unexpected",
        "alg_key_mismatch",
    }
)
#: Refusals that prove misbehaviour or a stolen key at the peer: raised as alarms.
ALARM_CODES = frozenset({"equivocation", "history_rewritten"})


@dataclass(frozen=True)
class AcceptedState:
    """What is remembered of the last accepted list, and the keys trusted for the next one.
    ``withdrawn`` is the reason code when the held list failed the peer's current terms: it
    is then no source of answers, but still the reference for rollback and equivocation."""

    seq: int
    digest: str
    iat: int
    exp: int
    trusted_keys: tuple[dict[str, Any], ...]
    pins_id: str
    terms_id: str
    withdrawn: str | None = None


@dataclass(frozen=True)
class Decision:
    """An accepted list. ``kind`` is ``unchanged`` when the bytes equal the accepted ones."""

    kind: Literal["new", "unchanged"]
    state: AcceptedState
    #: issuer id -> the entry's JSON text: exactly as signed, or re-encoded where scope narrowed
    #: it (a dict; core/packed.py packs it where it crosses to the node's process)
    entries: Mapping[str, str] = field(default_factory=dict)
    #: issuer id -> its other names (``aka``), for the entries that have any
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dropped: int = 0  # entries outside the peer's scope
    narrowed: int = 0  # entries kept with some authorizations removed
    gap: int = 0  # versions skipped since the accepted one
    verified_kids: frozenset[str] = frozenset()


def _trusted(
    peer: PeerConfig, previous: AcceptedState | None, payload: Mapping[str, Any]
) -> dict[str, PublicKey]:
    """The keys a list must be signed by: those the last accepted list declared, or, at first
    contact (or after the operator re-pinned), the pins from peers.yaml."""
    if previous is not None and previous.pins_id == peer.pins_id:
        return {jwk["kid"]: import_public_jwk(jwk) for jwk in previous.trusted_keys}
    trusted: dict[str, PublicKey] = {}
    for jwk in peer.pinned_jwks:
        key = import_public_jwk(jwk)
        trusted[key.thumbprint()] = key
    # A thumbprint pin trusts the key with that thumbprint, wherever its bytes come from.
    for jwk in (*payload["keys"], *payload["next_keys"]):
        if jwk["kid"] in peer.pinned_thumbprints:
            trusted[jwk["kid"]] = import_public_jwk(jwk)
    return trusted


def _signature_failure(problems: list[tuple[str, str]], verified: int, threshold: int) -> Rejected:
    if verified:
        return Rejected(
            f"{verified} trusted signature(s), {threshold} required", code="threshold_not_met"
        )
    codes = [code for code, _ in problems]
    for code in (
        "signature_invalid",
        "alg_not_allowed",
        "typ_mismatch",
        "header_unexpected",
        "alg_key_mismatch",
    ):
        if code in codes:
            return Rejected("; ".join(d for c, d in problems if c == code), code=code)
    return Rejected(
        "no signature by a trusted key: " + "; ".join(d for _, d in problems), code="unknown_key"
    )


def _narrow(auth: Authorization, scope: Scope) -> Authorization | None:
    """The part of one authorization that the scope allows, or None."""
    if auth["jurisdiction"] not in scope.jurisdictions:
        return None
    if scope.credential_types is None:
        return auth
    types = [t for t in auth["credential_types"] if t in scope.credential_types]
    if not types:
        return None
    return (
        auth if len(types) == len(auth["credential_types"]) else {**auth, "credential_types": types}
    )


def in_scope(
    entries: Iterable[IssuerEntry], scope: Scope
) -> tuple[list[tuple[int, IssuerEntry]], int]:
    """Keep what the scope allows: authorizations in the scope's jurisdictions, credential
    types narrowed to the scope's.
    Returns ((index, entry) kept, number dropped); a narrowed entry is a new object.

    An entry with no authorization in scope (none at all, or none left) vouches for nothing
    this node trusts the peer for, and its status counts for nothing either: it is dropped."""
    kept: list[tuple[int, IssuerEntry]] = []
    dropped = 0
    for index, entry in enumerate(entries):
        auths = entry.get("authorizations")
        if not auths:
            dropped += 1
            continue
        allowed = [a for a in (_narrow(auth, scope) for auth in auths) if a is not None]
        if not allowed:
            dropped += 1
            continue
        if len(allowed) != len(auths) or any(
            a is not b for a, b in zip(allowed, auths, strict=True)
        ):
            entry = {**entry, "authorizations": allowed}
        kept.append((index, entry))
    return kept, dropped


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _check_entries(entries: list[IssuerEntry]) -> None:
    reused = first_reused_name(entries)
    if reused is not None:
        index, name, _ = reused
        raise Rejected(f"issuers[{index}]: {name!r} appears twice", code="duplicate_issuer_id")
    for index, entry in enumerate(entries):
        if first_out_of_order(entry["status_history"]) is not None:
            raise Rejected(
                f"issuers[{index}]: status_history out of order", code="history_unordered"
            )


def _steps(history: Iterable[Mapping[str, Any]]) -> list[tuple[str, datetime, str | None]]:
    return [(h["status"], parse_rfc3339(h["from"]), h.get("reason")) for h in history]


def _contains_in_order(
    old: list[tuple[str, datetime, str | None]], new: list[tuple[str, datetime, str | None]]
) -> bool:
    """Is every step of ``old`` in ``new``, in the same order (steps may be inserted)?"""
    remaining = iter(new)
    return all(any(step == other for other in remaining) for step in old)


def _check_history_grows(
    issuers: list[IssuerEntry], texts: list[str], previous: Mapping[str, str]
) -> None:
    """Compared with the held version, no issuer is dropped and no status record is removed
    or altered (section 3.3 rule 5). ``previous`` maps each held entry's id to its stored
    text; an entry whose text is unchanged needs no parsing."""
    position = {entry["id"]: index for index, entry in enumerate(issuers)}
    for issuer_id, old_text in previous.items():
        index = position.get(issuer_id)
        if index is None:
            raise Rejected(
                f"issuer {issuer_id!r} of the held list is missing from this one",
                code="history_rewritten",
            )
        if texts[index] == old_text:
            continue
        old = json.loads(old_text)["status_history"]
        new = issuers[index]["status_history"]
        if old == new[: len(old)] or _contains_in_order(_steps(old), _steps(new)):
            continue
        raise Rejected(
            f"issuers[{index}] ({issuer_id}): status_history drops or alters a record of the "
            "held list",
            code="history_rewritten",
        )


def parse_list(body: bytes) -> tuple[ParsedList, dict[str, Any], list[str] | None]:
    """A list body's JWS parts, its payload valid under the published schema, and each issuer
    entry's exact text (core/jsonspans.py). Nothing is trusted yet: no signature is checked.
    Raises Rejected."""
    parsed = parse_jws(body)
    try:
        payload, texts = parse_payload(parsed.payload)
    except PayloadError as exc:
        raise Rejected(f"payload is not JSON: {exc}", code="payload_not_json") from exc
    try:
        schema.check_trust_list(payload)
    except SchemaInvalid as exc:
        raise Rejected(exc.detail, code="schema_invalid") from exc
    return parsed, payload, texts


def accept(
    body: bytes,
    peer: PeerConfig,
    previous: AcceptedState | None,
    now: datetime,
    *,
    max_bytes: int,
    clock_skew: timedelta,
    previous_entries: Mapping[str, str] | None = None,
    rejudge: bool = False,
) -> Decision:
    """Judge ``body`` as ``peer``'s next list. Returns a Decision or raises Rejected.

    ``previous_entries`` are the held list's stored entries (id -> text), against which the
    histories must have only grown. With ``rejudge`` the body is the held list itself, judged
    again under the peer's new terms: the time checks that passed when it was accepted are not
    repeated (an expired held list is stale, not refused, section 9.5)."""
    # 1. size, structure, schema
    if len(body) > max_bytes:
        raise Rejected(f"{len(body)} bytes exceeds the limit of {max_bytes}", code="too_large")
    body_digest = digest(body)
    numeric_now = to_numeric_date(now)
    same_terms = previous is not None and previous.terms_id == peer.terms_id
    if (
        previous is not None
        and body_digest == previous.digest
        and same_terms
        and previous.withdrawn is None
        and not rejudge
    ):
        # The same bytes judged under the same terms: already verified; only time can change.
        if previous.exp <= numeric_now:
            raise Rejected(f"the list expired at {previous.exp}", code="expired")
        return Decision("unchanged", previous)
    parsed, payload, texts = parse_list(body)

    # 2. signatures by at least `threshold` distinct trusted keys
    try:
        trusted = _trusted(peer, previous, payload)
        for jwk in (*payload["keys"], *payload["next_keys"]):
            import_public_jwk(jwk)  # each declared kid must be its key's thumbprint
    except InvalidInput as exc:
        raise Rejected(exc.detail, code="key_invalid") from exc
    report = verify_signatures(parsed, trusted)
    if len(report.verified) < peer.threshold:
        raise _signature_failure(report.problems, len(report.verified), peer.threshold)

    # 3. the list is the configured peer's
    if payload["iss"] != peer.id:
        raise Rejected(f"iss {payload['iss']!r} is not {peer.id!r}", code="wrong_issuer")
    if payload["jurisdiction"] != peer.jurisdiction:
        raise Rejected(
            f"jurisdiction {payload['jurisdiction']} is not {peer.jurisdiction}",
            code="wrong_jurisdiction",
        )

    # 4. rollback, equivocation, the hash chain
    seq = payload["seq"]
    gap = 0
    if previous is not None:
        if seq < previous.seq:
            raise Rejected(f"seq {seq} is older than the accepted {previous.seq}", code="rollback")
        if seq == previous.seq and body_digest != previous.digest:
            raise Rejected(
                f"seq {seq} was accepted as {previous.digest}; this body is {body_digest}",
                code="equivocation",
            )
        if seq == previous.seq + 1 and payload["prev"] != previous.digest:
            raise Rejected(
                f"prev {payload['prev']!r} is not the digest of seq {previous.seq}",
                code="chain_broken",
            )
        # seq == previous.seq here means the same bytes judged again under new terms.
        gap = max(0, seq - previous.seq - 1)

    # 5. time
    if not rejudge:
        if payload["iat"] > numeric_now + clock_skew.total_seconds():
            raise Rejected(f"iat {payload['iat']} is in the future", code="iat_in_future")
        if payload["exp"] <= numeric_now:
            raise Rejected(f"the list expired at {payload['exp']}", code="expired")
    if payload["exp"] <= payload["iat"]:
        raise Rejected("exp is not after iat", code="schema_invalid")
    validity, bound = payload["exp"] - payload["iat"], int(peer.max_validity.total_seconds())
    if validity > bound:
        raise Rejected(
            f"valid for {validity} s (exp - iat), more than the {bound} s max_validity allows",
            code="validity_too_long",
        )

    # 6. names, histories, and history only growing since the held version
    issuers: list[IssuerEntry] = payload["issuers"]
    assert texts is not None  # the schema guarantees an issuers array
    _check_entries(issuers)
    if previous_entries and not rejudge:
        _check_history_grows(issuers, texts, previous_entries)

    # 7. scope: entries outside it are dropped from what this peer vouches for
    kept, dropped = in_scope(issuers, peer.scope)
    entries = {
        entry["id"]: texts[index] if entry is issuers[index] else _encode(entry)
        for index, entry in kept
    }
    aliases = {entry["id"]: tuple(entry["aka"]) for _, entry in kept if entry.get("aka")}
    narrowed = sum(1 for index, entry in kept if entry is not issuers[index])
    state = AcceptedState(
        seq=seq,
        digest=body_digest,
        iat=payload["iat"],
        exp=payload["exp"],
        trusted_keys=tuple({**jwk} for jwk in (*payload["keys"], *payload["next_keys"])),
        pins_id=peer.pins_id,
        terms_id=peer.terms_id,
    )
    return Decision(
        "new",
        state,
        entries,
        aliases,
        dropped,
        narrowed,
        gap,
        frozenset(report.verified),
    )
