from __future__ import annotations

from datetime import UTC, datetime

import pytest

from registry_node.config import NodeConfig
from registry_node.core.errors import InvalidInput, SchemaInvalid
from registry_node.core.model import (
    build_payload,
    canonical_json,
    check_issuer,
    check_unique_ids,
    digest,
)
from registry_node.core.trust import listing
from tests.helpers import issuer

HISTORY = [
    {"status": "active", "from": "2020-01-01T00:00:00Z", "reason": "licensed"},
    {"status": "suspended", "from": "2023-05-01T00:00:00Z", "reason": "audit"},
    {"status": "active", "from": "2023-09-01T00:00:00Z", "reason": "audit passed"},
    {"status": "revoked", "from": "2027-01-01T00:00:00Z", "reason": "board dissolved"},
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param("2019-12-31T23:59:59", None, id="before-first-entry"),
        pytest.param("2020-01-01T00:00:00", "active", id="first-entry-starts-inclusive"),
        pytest.param("2023-06-15T00:00:00", "suspended", id="past-suspension"),
        pytest.param("2023-09-01T00:00:00", "active", id="reinstated"),
        pytest.param("2026-11-29T00:00:00", "active", id="present"),
        pytest.param("2027-01-01T00:00:00", "revoked", id="future-dated-change-in-force"),
        pytest.param("2030-01-01T00:00:00", "revoked", id="far-future"),
    ],
)
def test_status_follows_history(instant: str, expected: str | None) -> None:
    found = listing(issuer(status_history=HISTORY)).status_at(at(instant).timestamp())
    assert (found.status if found else None) == expected


def test_status_carries_reason_and_since() -> None:
    found = listing(issuer(status_history=HISTORY)).status_at(at("2023-06-15T00:00:00").timestamp())
    assert found is not None
    assert found.reason == "audit"
    assert found.since == at("2023-05-01T00:00:00").timestamp()


def test_history_must_be_in_time_order() -> None:
    doc = issuer(status_history=list(reversed(HISTORY)))
    with pytest.raises(InvalidInput) as info:
        check_issuer(doc)
    assert info.value.code == "history_unordered"
    assert "status_history[1].from" in info.value.detail


def test_schema_error_names_the_field() -> None:
    doc = issuer(org_type="school")
    with pytest.raises(SchemaInvalid) as info:
        check_issuer(doc, "trust_lists/us-oh.yaml: issuers[4] (did:web:x.example)")
    assert info.value.field == "org_type"
    assert info.value.detail.startswith(
        "trust_lists/us-oh.yaml: issuers[4] (did:web:x.example): org_type:"
    )


def test_private_key_members_are_refused() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43, "d": "B" * 43}
    doc = issuer(keys=[{"type": "JsonWebKey", "publicKeyJwk": jwk}])
    with pytest.raises(SchemaInvalid) as info:
        check_issuer(doc)
    assert ("keys[0].publicKeyJwk.d", "must not be present") in info.value.errors


def test_ids_and_akas_are_unique_across_issuers() -> None:
    a = issuer(1, aka=["https://board.ohio.example"])
    b = issuer(2, aka=["https://board.ohio.example"])
    with pytest.raises(InvalidInput) as info:
        check_unique_ids([a, b])
    assert info.value.code == "duplicate_issuer_id"


def test_canonical_json_and_digest_are_deterministic() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert digest(b"") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def test_payload_sorts_issuers_and_rejects_bad_times() -> None:
    identity = NodeConfig().identity
    payload = build_payload(
        identity,
        seq=1,
        iat=10,
        exp=20,
        prev=None,
        keys=[],
        next_keys=[],
        issuers=[issuer(2), issuer(1)],
    )
    assert [i["id"] for i in payload["issuers"]] == [issuer(1)["id"], issuer(2)["id"]]
    with pytest.raises(ValueError, match="exp after iat"):
        build_payload(identity, seq=1, iat=20, exp=20, prev=None, keys=[], next_keys=[], issuers=[])


def test_a_key_method_cannot_carry_both_forms() -> None:
    method = {
        "type": "JsonWebKey",
        "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43},
        "publicKeyMultibase": "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
    }
    with pytest.raises(SchemaInvalid):
        check_issuer(issuer(keys=[method]))


def test_history_is_normalised_to_utc() -> None:
    from registry_node.core.model import normalize_history

    history = [
        {"status": "suspended", "from": "2024-01-01T03:00:00+02:00", "reason": "b"},
        {"status": "active", "from": "2020-01-01T00:00:00Z", "reason": "a"},
    ]
    assert normalize_history(history) == [
        {"status": "active", "from": "2020-01-01T00:00:00Z", "reason": "a"},
        {"status": "suspended", "from": "2024-01-01T01:00:00Z", "reason": "b"},
    ]


@pytest.mark.parametrize("text", ["ab+c", "ab/c", "abc=", "ab c", "ab\\nc", "a"])
def test_base64url_is_strict(text: str) -> None:
    from registry_node.core.model import b64url_decode

    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


@pytest.mark.parametrize(
    "text",
    [
        "20260301T000000Z",
        "2026-03-01 00:00:00Z",
        "2026-03-01T00:00:00",
        "2026-03-01",
        "2026-03-01t00:00:00z",
    ],
)
def test_only_rfc3339_date_times_parse(text: str) -> None:
    from registry_node.core.timeutil import parse_rfc3339

    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339(text)
