"""Typed views of the wire values that cross layers: a list's payload, an issuer entry and its
parts (docs/protocol.md section 3), and a verifier's answer (section 11.2).

The JSON Schemas in core/schemas stay the single truth of the wire format: these types only
name what a value validated against them holds, so that the code that passes them between
layers is checked (tests/core/test_wire.py keeps them equal to the schemas' members). No
``from __future__ import annotations`` here: the types must see ``NotRequired`` at run time.
"""

from typing import Any, NotRequired, TypedDict

# ``from`` is a keyword: the functional form names it (``from`` is RFC 3339 text).
StatusRecord = TypedDict("StatusRecord", {"status": str, "from": str, "reason": NotRequired[str]})


class Authorization(TypedDict):
    credential_types: list[str]
    achievement_types: NotRequired[list[str]]
    ctids: NotRequired[list[str]]
    jurisdiction: str
    legal_basis: NotRequired[str]


class IssuerEntry(TypedDict):
    id: str
    aka: NotRequired[list[str]]
    name: str
    org_type: str
    url: NotRequired[str]
    legal_name: NotRequired[str]
    logo: NotRequired[str]
    valid_from: NotRequired[str]
    valid_until: NotRequired[str]
    identifiers: NotRequired[list[dict[str, Any]]]
    keys: NotRequired[list[dict[str, Any]]]
    status_origins: NotRequired[list[str]]
    authorizations: NotRequired[list[Authorization]]
    status_history: list[StatusRecord]


class ListPayload(TypedDict):
    version: int
    iss: str
    jurisdiction: str
    name: str
    seq: int
    iat: int
    exp: int
    prev: str | None
    keys: list[dict[str, Any]]
    next_keys: list[dict[str, Any]]
    issuers: list[IssuerEntry]


class Answer(TypedDict):
    """What one question's answer carries (docs/protocol.md sections 11.2 and 11.3)."""

    question: NotRequired[dict[str, Any]]
    outcome: str
    reason: str
    detail: str
    stale: bool
    decided_by: list[str]
    evidence: list[dict[str, Any]]
    unavailable: list[dict[str, Any]]
    evaluated_at: NotRequired[str]
    expires: NotRequired[str]
