"""The trust list model: issuer entries, status histories, payloads and their digests.

Issuer entries travel as JSON documents (dicts) that satisfy ``trust-list-v1.json#/$defs/issuer``;
this module adds the rules a schema cannot say (ordering, uniqueness) and derives an issuer's
status at any instant from its history (docs/protocol.md section 3.3).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from registry_node.core import schema
from registry_node.core.credentials.diddoc import private_members
from registry_node.core.errors import InvalidInput
from registry_node.core.timeutil import format_rfc3339, parse_rfc3339
from registry_node.core.wire import IssuerEntry, ListPayload

FORMAT_VERSION = 1


def canonical_json(value: Any) -> bytes:
    """Deterministic UTF-8 JSON: sorted keys, no insignificant whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_FROM_URLSAFE = str.maketrans("-_", "+/")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url (RFC 7515 section 2): any other character is an error."""
    if not isinstance(text, str) or "+" in text or "/" in text or "=" in text:
        raise ValueError("not unpadded base64url")
    padded = text.translate(_FROM_URLSAFE) + "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not unpadded base64url") from exc


def digest(body: bytes) -> str:
    """base64url(SHA-256(body)): the ``prev`` link, the ETag and the equivocation check."""
    return b64url(hashlib.sha256(body).digest())


def normalize_history(history: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Entries with ``from`` in UTC (``Z``), stably sorted by that instant, so that the same
    entry always reads the same (equal instants keep their order)."""
    out = [{**e, "from": format_rfc3339(parse_rfc3339(e["from"]))} for e in history]
    return sorted(out, key=lambda e: parse_rfc3339(e["from"]))


def pinned_key_forms(
    entry: Mapping[str, Any], where: str = "issuer", prefix: str = ""
) -> dict[str, Any]:
    """``entry`` with its ``keys`` in the form a list pins them (docs/adr/0020).

    A key may be written as in a DID document, with a ``controller``: that controller must be
    the issuer (its ``id`` or one of its ``aka`` names), and is then dropped, since a pinned key
    is the issuer's by where it is pinned (and the published list keeps the form every peer
    reads). Private key material (``secretKeyMultibase``, a JWK's ``d``, ...) is refused. Raises
    InvalidInput naming the field; anything else is left to the schema (:func:`check_issuer`)."""
    keys = entry.get("keys")
    if not isinstance(keys, list):
        return dict(entry)
    dot = f"{prefix}." if prefix else ""
    names = {entry.get("id"), *(entry.get("aka") or ())}
    forms = []
    for index, method in enumerate(keys):
        if not isinstance(method, Mapping):
            forms.append(method)
            continue
        leaked = next(private_members(method), None)
        if leaked is not None:
            raise InvalidInput(
                f"{where}: keys[{index}].{leaked}: private key material is never pinned; "
                "give the public key only (and treat this key as disclosed)",
                code="private_key_refused",
                field=f"{dot}keys[{index}].{leaked}",
            )
        if "controller" in method:
            controller = method["controller"]
            if not isinstance(controller, str) or controller not in names:
                raise InvalidInput(
                    f"{where}: keys[{index}].controller: {controller!r} is not this issuer "
                    "(its id or an aka): a key is pinned only for the issuer that controls it",
                    code="key_controller_not_issuer",
                    field=f"{dot}keys[{index}].controller",
                )
            method = {k: v for k, v in method.items() if k != "controller"}
        forms.append(method)
    return {**entry, "keys": forms}


def check_issuer(entry: Mapping[str, Any], where: str = "issuer", prefix: str = "") -> None:
    """Schema plus the rules a schema cannot express. Raises InvalidInput naming the field
    (as a path below ``prefix`` when the entry sits inside a larger document)."""
    schema.validate(schema.ISSUER, entry, where, prefix)
    dot = f"{prefix}." if prefix else ""
    late = first_out_of_order(entry["status_history"])
    if late is not None:
        raise InvalidInput(
            f"{where}: status_history[{late}].from: entries must be in time order",
            code="history_unordered",
            field=f"{dot}status_history[{late}].from",
        )
    if (
        "valid_from" in entry
        and "valid_until" in entry
        and parse_rfc3339(entry["valid_until"]) <= parse_rfc3339(entry["valid_from"])
    ):
        raise InvalidInput(
            f"{where}: valid_until: must be after valid_from",
            code="validity_inverted",
            field=f"{dot}valid_until",
        )
    if entry["id"] in entry.get("aka", ()):
        raise InvalidInput(
            f"{where}: aka: must not repeat the issuer's own id",
            code="aka_repeats_id",
            field=f"{dot}aka",
        )


def first_out_of_order(history: Sequence[Mapping[str, Any]]) -> int | None:
    """The index of the first status record whose ``from`` is before the previous one's
    (section 3.3, rule 1), or None. The one statement of the rule, for the node's own entries
    and for peers' lists."""
    instants = [parse_rfc3339(h["from"]) for h in history]
    return next((i for i in range(1, len(instants)) if instants[i] < instants[i - 1]), None)


def first_reused_name(entries: Iterable[Mapping[str, Any]]) -> tuple[int, str, int] | None:
    """The first (index, name, index of its first use) where an ``id`` or ``aka`` names a
    second issuer, or an entry twice; None when every name is used once."""
    owner: dict[str, int] = {}
    for index, entry in enumerate(entries):
        for name in (entry["id"], *entry.get("aka", ())):
            if name in owner:
                return index, name, owner[name]
            owner[name] = index
    return None


def check_unique_ids(entries: Iterable[Mapping[str, Any]], where: str = "") -> None:
    """No id or aka may name two different issuers. ``where`` prefixes the message."""
    reused = first_reused_name(entries)
    if reused is not None:
        index, name, first = reused
        lead = f"{where}: " if where else ""
        raise InvalidInput(
            f"{lead}issuers[{index}]: {name!r} is already used by issuers[{first}]",
            code="duplicate_issuer_id",
            field=f"issuers[{index}].id",
        )


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str
    jurisdiction: str
    name: str


def build_payload(
    identity: NodeIdentity,
    *,
    seq: int,
    iat: int,
    exp: int,
    prev: str | None,
    keys: Sequence[Mapping[str, Any]],
    next_keys: Sequence[Mapping[str, Any]],
    issuers: Sequence[Mapping[str, Any]],
) -> ListPayload:
    """The payload of protocol v1 (docs/protocol.md section 3). Issuers sorted by id."""
    if seq < 1 or exp <= iat:
        raise ValueError("seq must be positive and exp after iat")
    return {
        "version": FORMAT_VERSION,
        "iss": identity.node_id,
        "jurisdiction": identity.jurisdiction,
        "name": identity.name,
        "seq": seq,
        "iat": iat,
        "exp": exp,
        "prev": prev,
        "keys": [dict(k) for k in keys],
        "next_keys": [dict(k) for k in next_keys],
        "issuers": sorted((cast(IssuerEntry, dict(i)) for i in issuers), key=lambda i: i["id"]),
    }
