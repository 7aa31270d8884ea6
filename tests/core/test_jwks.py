"""core/jwks.py: which keys /jwks.json holds, how they are written, and for how long a retired
key stays (docs/protocol.md section 7, docs/adr/0013)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from registry_node.core import keys as corekeys
from registry_node.core.jwks import KeyState, jwk_set, member, retained
from registry_node.core.timeutil import to_numeric_date

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
ED = corekeys.generate("Ed25519").public_jwk()
EC = corekeys.generate("ES256").public_jwk()
OLD = corekeys.generate("Ed25519").public_jwk()


def test_current_and_next_keys_are_always_held() -> None:
    for state in ("current", "next", "retiring"):
        assert retained(KeyState(ED, state), T0 + 100 * YEAR, YEAR, ())


def test_a_retired_key_stays_for_the_receipt_retention_and_not_a_second_longer() -> None:
    key = KeyState(OLD, "retired", T0)
    assert retained(key, T0, YEAR, ())
    assert retained(key, T0 + YEAR - timedelta(seconds=1), YEAR, ())
    assert not retained(key, T0 + YEAR, YEAR, ())
    assert not retained(key, T0 + timedelta(days=2), timedelta(days=1), ())


def test_a_retired_key_stays_while_the_newest_version_carries_its_signature() -> None:
    """The version that completes a rotation is signed by the retiring key too; it is the
    newest until the next publication, however late (a stopped node serves it for ever)."""
    key = KeyState(OLD, "retired", T0)
    late = T0 + 10 * YEAR
    assert not retained(key, late, YEAR, {ED["kid"]})
    assert retained(key, late, YEAR, {ED["kid"], OLD["kid"]})


def test_a_retired_key_without_a_retirement_instant_is_not_published() -> None:
    assert not retained(KeyState(OLD, "retired", None), T0, YEAR, ())
    assert not retained(KeyState(OLD, "deleted", T0), T0, YEAR, ())


def test_members_leave_out_an_ed25519_alg_and_mark_retired_keys() -> None:
    current = member(KeyState(ED, "current"))
    assert ED["alg"] == "Ed25519" and "alg" not in current
    assert current == {k: v for k, v in ED.items() if k != "alg"}
    assert member(KeyState(EC, "current"))["alg"] == "ES256"
    retired = member(KeyState(OLD, "retired", T0))
    assert retired["status"] == "retired" and retired["exp"] == to_numeric_date(T0)
    assert retired["kid"] == OLD["kid"] and retired["x"] == OLD["x"]
    # Every member still imports as the key it names.
    assert corekeys.import_public_jwk(retired).thumbprint() == OLD["kid"]


def test_the_set_orders_current_next_then_retired_newest_first() -> None:
    older = corekeys.generate("ES256").public_jwk()
    keys = [
        KeyState(older, "retired", T0 - timedelta(days=30)),
        KeyState(EC, "next"),
        KeyState(OLD, "retired", T0 - timedelta(days=1)),
        KeyState(ED, "current"),
        KeyState(corekeys.generate().public_jwk(), "retired", T0 - 2 * YEAR),
    ]
    doc = jwk_set(keys, T0, YEAR, ())
    assert [k["kid"] for k in doc["keys"]] == [ED["kid"], EC["kid"], OLD["kid"], older["kid"]]
    assert [k.get("status") for k in doc["keys"]] == [None, None, "retired", "retired"]
