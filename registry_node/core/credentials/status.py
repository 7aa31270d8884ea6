"""Credential status: ``credentialStatus`` entries judged against status lists (pure, no I/O).

Three kinds of entry are read:

- ``BitstringStatusListEntry`` (W3C Bitstring Status List v1.0): ``statusPurpose``
  (``revocation``, ``suspension``, ``message`` or another purpose), ``statusListIndex``,
  ``statusListCredential``, optional ``statusSize`` (bits per entry, default 1) and
  ``statusMessage``. The list is a ``BitstringStatusListCredential`` whose subject's
  ``encodedList`` is a multibase base64url (prefix ``u``) GZIP-compressed bitstring of at
  least 16 KB; entry ``i`` is the ``statusSize`` bits from bit ``i * statusSize``, the first
  bit being the most significant bit of the first byte;
- ``StatusList2021Entry`` (its predecessor): the same, one bit per entry, a
  ``StatusList2021Credential`` whose ``encodedList`` is plain base64url;
- ``1EdTechRevocationList`` (1EdTech Revocation List Status Method): the entry's ``id`` is the
  list's URL; the list is JSON naming the ``issuer`` and the ids of its ``revokedCredentials``.

The caller supplies the copies of the lists it holds (:class:`StatusListCopy`): fetching them,
and which origins may be fetched from, is services/statuslists.py's. A list that is a
credential is verified with the same core as any credential (its proof, its key bound to its
issuer, its contexts), by the ``verify`` function the caller passes; its issuer must be the
credential's issuer; its ``validFrom``/``validUntil`` must hold; and it must be fresher than
the freshness bound (the node's ``credentials.status_list_max_age``, shortened by the list's
own ``ttl``). Every entry is judged; the ``status`` check fails when one entry says revoked or
suspended, and is indeterminate when one could not be established (docs/protocol.md 13.2).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from registry_node.core.credentials.dates import parse_datetime
from registry_node.core.credentials.report import STATUS, Check, CredentialReport, Signer
from registry_node.core.errors import Malformed

BITSTRING_ENTRY = "BitstringStatusListEntry"
BITSTRING_CREDENTIAL = "BitstringStatusListCredential"
BITSTRING_SUBJECT = "BitstringStatusList"
LEGACY_ENTRY = "StatusList2021Entry"
LEGACY_CREDENTIAL = "StatusList2021Credential"
LEGACY_SUBJECT = "StatusList2021"
REVOCATION_LIST = "1EdTechRevocationList"
ENTRY_TYPES = (BITSTRING_ENTRY, LEGACY_ENTRY, REVOCATION_LIST)

#: The smallest uncompressed bitstring the specifications allow (16 KB), and the largest one
#: decompressed (a GZIP bomb stops here).
MIN_BITSTRING_BYTES = 16 * 1024
MAX_BITSTRING_BYTES = 16 * 1024 * 1024
#: statusSize above this is refused (the specification's examples stay far below).
MAX_STATUS_SIZE = 8
#: Status entries judged per credential.
MAX_ENTRIES = 8
#: Revoked ids read from one 1EdTech revocation list.
MAX_REVOKED = 1_000_000
#: The checks of a status list credential that must pass for it to be believed.
LIST_CHECKS = ("format", "contexts", "undefined_terms", "signature", "issuer_binding")


@dataclass(frozen=True)
class StatusEntry:
    """One ``credentialStatus`` entry, read."""

    type: str
    purpose: str
    url: str
    index: int
    size: int = 1
    messages: Mapping[int, str] | None = None


@dataclass(frozen=True)
class StatusListCopy:
    """A status list as the caller holds it. ``document`` is the parsed JSON or a compact
    JWS string; None when there is no copy, and ``problem`` (code, detail) says why.
    ``fetched_at`` is when it was fetched (None for a copy from an offline bundle: its age is
    then counted from its own ``validFrom``). ``authenticated`` is true for a copy fetched over
    https from an origin the issuer's entry allows: only such a copy of an unsigned list (a
    1EdTech revocation list without a proof) is believed."""

    url: str
    document: Any = None
    fetched_at: datetime | None = None
    authenticated: bool = False
    problem: tuple[str, str] | None = None


class _Unsure(Exception):
    """The entry's status could not be established; ``code`` is indeterminate."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


#: Verifies a list credential with the same core as any credential (no status, no children).
ListVerifier = Callable[[Any], CredentialReport]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _index(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"{where} must be a non-negative integer (as a string)")


def _messages(value: Any, size: int) -> Mapping[int, str] | None:
    if value is None:
        return None
    found: dict[int, str] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("status"), str):
            try:
                found[int(item["status"], 16)] = str(item.get("message", ""))
            except ValueError:
                continue
    if not found:
        raise ValueError("statusMessage must list {status, message} objects")
    return found


def read_entry(item: Any) -> StatusEntry:
    """Read one ``credentialStatus`` entry. Raises ValueError (a malformed entry, the
    issuer's mistake) or _Unsure (a kind of entry this node does not know)."""
    if not isinstance(item, Mapping):
        raise ValueError("a credentialStatus entry must be an object")
    kinds = [t for t in _as_list(item.get("type")) if isinstance(t, str)]
    kind = next((t for t in kinds if t in ENTRY_TYPES), None)
    if kind is None:
        named = ", ".join(kinds) or "(no type)"
        raise _Unsure("status_unsupported", f"status entry of type {named} is not supported")
    if kind == REVOCATION_LIST:
        url = item.get("id")
        if not isinstance(url, str) or not url:
            raise ValueError("a 1EdTechRevocationList entry needs the list's URL as its id")
        return StatusEntry(kind, "revocation", url, 0)
    purpose = item.get("statusPurpose")
    url = item.get("statusListCredential")
    if not isinstance(purpose, str) or not purpose:
        raise ValueError("statusPurpose must be a string")
    if not isinstance(url, str) or not url:
        raise ValueError("statusListCredential must be a URL")
    index = _index(item.get("statusListIndex"), "statusListIndex")
    size = 1
    if kind == BITSTRING_ENTRY and item.get("statusSize") is not None:
        size = _index(item.get("statusSize"), "statusSize")
        if not 1 <= size <= MAX_STATUS_SIZE:
            raise ValueError(f"statusSize must be 1 to {MAX_STATUS_SIZE}")
    messages = _messages(item.get("statusMessage"), size) if kind == BITSTRING_ENTRY else None
    if size > 1 and messages is None:
        raise ValueError("statusMessage must be present when statusSize is above 1")
    return StatusEntry(kind, purpose, url, index, size, messages)


def status_urls(credential: Mapping[str, Any]) -> list[str]:
    """The URLs of the lists a credential's status entries name (best effort, in order)."""
    urls: list[str] = []
    for item in _as_list(credential.get("credentialStatus"))[:MAX_ENTRIES]:
        try:
            url = read_entry(item).url
        except (ValueError, _Unsure):
            continue
        if url not in urls:
            urls.append(url)
    return urls


def decode_bitstring(encoded: Any, multibase: bool) -> bytes:
    """The uncompressed bitstring of an ``encodedList``: multibase base64url (``u``) for a
    Bitstring Status List, plain base64url for a StatusList2021; GZIP-compressed; at least
    :data:`MIN_BITSTRING_BYTES` and at most :data:`MAX_BITSTRING_BYTES`. Raises _Unsure."""
    if not isinstance(encoded, str) or not encoded:
        raise _Unsure("status_list_malformed", "the list has no encodedList")
    text = encoded
    if multibase:
        if not text.startswith("u"):
            raise _Unsure("status_list_malformed", "encodedList must be multibase base64url (u)")
        text = text[1:]
    try:
        compressed = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise _Unsure("status_list_malformed", "encodedList is not base64url") from None
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        bits = inflater.decompress(compressed, MAX_BITSTRING_BYTES + 1)
    except zlib.error:
        raise _Unsure("status_list_malformed", "encodedList is not GZIP-compressed") from None
    if len(bits) > MAX_BITSTRING_BYTES or inflater.unconsumed_tail:
        raise _Unsure("status_list_malformed", f"the bitstring is over {MAX_BITSTRING_BYTES} bytes")
    if len(bits) < MIN_BITSTRING_BYTES:
        raise _Unsure(
            "status_list_malformed",
            f"the bitstring is {len(bits)} bytes, under the minimum of {MIN_BITSTRING_BYTES}",
        )
    return bits


def status_value(bits: bytes, index: int, size: int) -> int:
    """Entry ``index`` of ``size`` bits, the first bit the most significant of byte 0.
    Raises _Unsure when the list is too short for it."""
    start = index * size
    if start + size > len(bits) * 8:
        raise _Unsure(
            "status_index_out_of_range",
            f"statusListIndex {index} is beyond the list's {len(bits) * 8 // size} entries",
        )
    value = 0
    for position in range(start, start + size):
        value = (value << 1) | ((bits[position // 8] >> (7 - position % 8)) & 1)
    return value


def encode_bitstring(bits: bytes, multibase: bool = True) -> str:
    """The ``encodedList`` of ``bits`` (for issuing lists, and for tests)."""
    import gzip

    text = base64.urlsafe_b64encode(gzip.compress(bits, mtime=0)).rstrip(b"=").decode()
    return "u" + text if multibase else text


def _issuer_id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _jws_credential(token: str) -> Mapping[str, Any] | None:
    from registry_node.core.credentials import jose

    try:
        _, credential, _ = jose.credential_of(jose.parse_compact(token))
    except Malformed:
        return None
    return credential


def list_members(document: Any) -> Mapping[str, Any] | None:
    """The JSON members of a list document (the credential inside a JWS)."""
    if isinstance(document, str):
        return _jws_credential(document)
    return document if isinstance(document, Mapping) else None


def list_ttl(document: Any) -> timedelta | None:
    """The list's own ``ttl`` (milliseconds, in its subject), if it gives one."""
    members = list_members(document)
    subject = members.get("credentialSubject") if members is not None else None
    ttl = subject.get("ttl") if isinstance(subject, Mapping) else None
    if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl > 0:
        return timedelta(milliseconds=min(ttl, 10**12))
    return None


def freshness_bound(document: Any, max_age: timedelta) -> timedelta:
    """How long a copy of the list may be used: ``max_age``, or the list's ``ttl`` if
    shorter."""
    ttl = list_ttl(document)
    return max_age if ttl is None else min(max_age, ttl)


def _fresh(
    copy: StatusListCopy, members: Mapping[str, Any], now: datetime, bound: timedelta
) -> None:
    since = copy.fetched_at
    if since is None:
        for name in ("validFrom", "issuanceDate"):
            value = members.get(name)
            if isinstance(value, str) and parse_datetime(value) is not None:
                since = parse_datetime(value)
                break
    if since is None:
        raise _Unsure("status_list_stale", f"{copy.url}: no date to judge the copy's age by")
    if now - since > bound:
        raise _Unsure(
            "status_list_stale",
            f"{copy.url}: the copy is older than the freshness bound of {bound}",
        )


def _same_sources(list_signer: Signer | None, signer: Signer | None) -> bool:
    """Was the list signed with a key from the same sources as the credential's (ADR 0010)? A
    list's key that only another list pins for the issuer cannot clear the credential."""
    if list_signer is None or signer is None:
        return False
    if signer.did_key or list_signer.did_key:
        return signer.did_key and list_signer.did_key
    return bool(set(signer.sources) & set(list_signer.sources))


def _believe(
    copy: StatusListCopy,
    issuer: str,
    verify: ListVerifier,
    now: datetime,
    max_age: timedelta,
    *,
    must_sign: bool,
    signer: Signer | None,
) -> Mapping[str, Any]:
    """The members of a list copy that may be believed for ``issuer``'s credential. Raises
    _Unsure when it may not. A status list credential (``must_sign``) must carry a proof; an
    unsigned 1EdTech revocation list is believed only from an authenticated copy."""
    if copy.document is None:
        code, detail = copy.problem or ("status_list_unavailable", f"{copy.url}: no copy held")
        raise _Unsure(code, detail)
    members = list_members(copy.document)
    if members is None:
        raise _Unsure("status_list_malformed", f"{copy.url}: not a JSON object or a JWS")
    signed = isinstance(copy.document, str) or "proof" in members
    if must_sign and not signed:
        raise _Unsure("status_list_invalid", f"{copy.url}: the status list carries no proof")
    if signed:
        try:
            report = verify(copy.document)
        except Malformed as exc:
            raise _Unsure("status_list_invalid", f"{copy.url}: {exc.code}") from None
        bad = [c for c in report.checks if c.name in LIST_CHECKS and not c.passed]
        if bad or not {c.name for c in report.checks}.issuperset(LIST_CHECKS):
            why = ", ".join(f"{c.name} {c.code}" for c in bad) or "checks missing"
            raise _Unsure("status_list_invalid", f"{copy.url}: the list does not verify: {why}")
        if not _same_sources(report.signer, signer):
            raise _Unsure(
                "status_list_invalid",
                f"{copy.url}: the list's key does not come from the lists that supply the "
                "credential's key",
            )
        dates = report.check("dates")
        if dates is None or not dates.passed:
            raise _Unsure(
                "status_list_expired",
                f"{copy.url}: {dates.detail if dates is not None else 'no validity period'}",
            )
    elif not copy.authenticated:
        raise _Unsure(
            "status_list_unsigned",
            f"{copy.url}: an unsigned list is believed only when fetched from an allowed origin",
        )
    listed_by = _issuer_id(members.get("issuer"))
    if listed_by != issuer:
        raise _Unsure(
            "status_list_issuer_mismatch",
            f"{copy.url}: the list is issued by {listed_by or 'nobody'}, not by {issuer}",
        )
    _fresh(copy, members, now, freshness_bound(copy.document, max_age))
    return members


def _purposes(subject: Mapping[str, Any]) -> list[str]:
    return [p for p in _as_list(subject.get("statusPurpose")) if isinstance(p, str)]


def _judge_bitstring(entry: StatusEntry, members: Mapping[str, Any]) -> tuple[int, str]:
    """The entry's value in the list, and the list's subject type."""
    bitstring = entry.type == BITSTRING_ENTRY
    list_type = BITSTRING_CREDENTIAL if bitstring else LEGACY_CREDENTIAL
    subject_type = BITSTRING_SUBJECT if bitstring else LEGACY_SUBJECT
    if list_type not in _as_list(members.get("type")):
        raise _Unsure("status_list_malformed", f"{entry.url}: the list is not a {list_type}")
    subject = members.get("credentialSubject")
    if not isinstance(subject, Mapping) or subject_type not in _as_list(subject.get("type")):
        raise _Unsure("status_list_malformed", f"{entry.url}: its subject is not a {subject_type}")
    if entry.purpose not in _purposes(subject):
        raise _Unsure(
            "status_purpose_mismatch",
            f"{entry.url}: the list is for {', '.join(_purposes(subject)) or 'no purpose'}, "
            f"not {entry.purpose}",
        )
    bits = decode_bitstring(subject.get("encodedList"), multibase=bitstring)
    return status_value(bits, entry.index, entry.size), subject_type


def _revoked_ids(members: Mapping[str, Any], url: str) -> set[str]:
    revoked = members.get("revokedCredentials")
    if not isinstance(revoked, list) or len(revoked) > MAX_REVOKED:
        raise _Unsure("status_list_malformed", f"{url}: no revokedCredentials list")
    ids = set()
    for item in revoked:
        found = item.get("id") if isinstance(item, Mapping) else item
        if isinstance(found, str):
            ids.add(found)
    return ids


def judge_entry(
    entry: StatusEntry,
    credential_id: str | None,
    issuer: str,
    copy: StatusListCopy,
    verify: ListVerifier,
    now: datetime,
    max_age: timedelta,
    signer: Signer | None = None,
) -> Check:
    """The finding of one entry, as a ``status`` check. ``signer`` is the key that verified the
    credential: a signed list must be signed with a key from the same sources."""
    where = f"{entry.purpose} entry {entry.index} of {entry.url}"
    try:
        members = _believe(
            copy,
            issuer,
            verify,
            now,
            max_age,
            must_sign=entry.type != REVOCATION_LIST,
            signer=signer,
        )
        if entry.type == REVOCATION_LIST:
            if credential_id is None:
                return Check(
                    STATUS,
                    False,
                    "status_entry_malformed",
                    "a credential without an id cannot be looked up in a 1EdTech revocation list",
                )
            if credential_id in _revoked_ids(members, entry.url):
                return Check(STATUS, False, "status_revoked", f"revoked in {entry.url}")
            return Check(STATUS, True, "status_clear", f"not in the revocation list {entry.url}")
        value, _ = _judge_bitstring(entry, members)
    except _Unsure as exc:
        return Check(STATUS, False, exc.code, exc.detail)
    if entry.purpose == "revocation" and value:
        return Check(STATUS, False, "status_revoked", f"revoked: {where} is set")
    if entry.purpose == "suspension" and value:
        return Check(STATUS, False, "status_suspended", f"suspended: {where} is set")
    if entry.purpose in ("revocation", "suspension"):
        state = "not revoked" if entry.purpose == "revocation" else "not suspended"
        return Check(STATUS, True, "status_clear", f"{state}: {where}")
    message = (entry.messages or {}).get(value)
    said = f" ({message})" if message else ""
    return Check(STATUS, True, "status_reported", f"{where}: status {value:#x}{said}")


def _entry_json(entry: StatusEntry | None, check: Check) -> dict[str, Any]:
    out: dict[str, Any] = {"outcome": check.outcome, "code": check.code, "detail": check.detail}
    if entry is not None:
        out.update(type=entry.type, purpose=entry.purpose, list=entry.url, index=entry.index)
    return out


#: The status check of a credential without ``credentialStatus`` (a Check is immutable).
_NO_STATUS = Check(STATUS, True, "no_status", "the credential has no credentialStatus")


def status_check(
    credential: Mapping[str, Any],
    issuer: str,
    copies: Mapping[str, StatusListCopy] | None,
    verify: ListVerifier,
    now: datetime,
    max_age: timedelta,
    signer: Signer | None = None,
) -> tuple[Check, list[dict[str, Any]]]:
    """The ``status`` check of a credential, and the finding of each of its entries.

    ``copies`` are the lists the caller holds, by URL (None: status is not checked at all, the
    check is indeterminate for a credential that has entries). A credential without
    ``credentialStatus`` passes (``no_status``). Otherwise every entry is judged: the check
    fails when any entry fails, else is indeterminate when any is, else passes."""
    items = _as_list(credential.get("credentialStatus"))
    if not items:
        return _NO_STATUS, []
    if len(items) > MAX_ENTRIES:
        detail = f"{len(items)} status entries, over the limit of {MAX_ENTRIES}"
        return Check(STATUS, False, "status_list_malformed", detail), []
    credential_id = credential.get("id")
    found: list[tuple[StatusEntry | None, Check]] = []
    for item in items:
        try:
            entry = read_entry(item)
        except ValueError as exc:
            found.append((None, Check(STATUS, False, "status_entry_malformed", str(exc))))
            continue
        except _Unsure as exc:
            found.append((None, Check(STATUS, False, exc.code, exc.detail)))
            continue
        if copies is None:
            detail = f"{entry.url}: status lists are not consulted here"
            found.append((entry, Check(STATUS, False, "status_not_checked", detail)))
            continue
        copy = copies.get(entry.url) or StatusListCopy(entry.url)
        cid = credential_id if isinstance(credential_id, str) else None
        judged = judge_entry(entry, cid, issuer, copy, verify, now, max_age, signer)
        found.append((entry, judged))
    entries = [_entry_json(e, c) for e, c in found]
    checks = [c for _, c in found]
    worst = next((c for c in checks if c.outcome == "failed"), None) or next(
        (c for c in checks if c.outcome == "indeterminate"), None
    )
    if worst is not None:
        position = checks.index(worst) + 1
        lead = f"entry {position} of {len(checks)}: " if len(checks) > 1 else ""
        return Check(STATUS, False, worst.code, lead + worst.detail), entries
    details = "; ".join(c.detail for c in checks)
    code = "status_clear" if all(c.code == "status_clear" for c in checks) else "status_reported"
    return Check(STATUS, True, code, details), entries


__all__ = [
    "ENTRY_TYPES",
    "MAX_ENTRIES",
    "StatusEntry",
    "StatusListCopy",
    "decode_bitstring",
    "encode_bitstring",
    "freshness_bound",
    "judge_entry",
    "list_members",
    "list_ttl",
    "read_entry",
    "status_check",
    "status_urls",
    "status_value",
]
