"""The pure acceptance function (docs/protocol.md section 9.3), one row per rule.

Each row builds a body with the peer simulator (no server: only its signing), judges it with
``accept`` against a held state, and states the decision or the reason code. Time is a fixed
instant; nothing here does I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from joserfc.jwk import JWKRegistry

from registry_node.core import keys
from registry_node.core.acceptance import AcceptedState, Decision, accept
from registry_node.core.errors import ConfigError, Rejected
from registry_node.core.model import b64url, canonical_json
from registry_node.core.packed import PackedTexts, accept_packed
from registry_node.core.peers import PeerConfig, parse_peers
from registry_node.core.signing import sign_list
from tests.helpers import FakeClock
from tests.sim import PeerSimulator, sim_issuer

LIMIT = 256 * 1024
SKEW = timedelta(minutes=5)


@dataclass
class Case:
    """A peer simulator, its configuration, what the node holds, and the body to judge."""

    clock: FakeClock
    sim: PeerSimulator
    peer: PeerConfig
    previous: AcceptedState | None = None
    previous_entries: dict[str, str] | None = None
    body: bytes = b""

    def configure(self, **overrides: Any) -> None:
        self.peer = peer_config(self.sim, **overrides)

    def hold(self) -> None:
        """Accept the current body and hold it, as the federation service does."""
        decision = self.judge()
        self.previous = decision.state
        self.previous_entries = dict(decision.entries)

    def judge(self, **kw: Any) -> Decision:
        return accept(
            self.body,
            self.peer,
            self.previous,
            self.clock(),
            max_bytes=LIMIT,
            clock_skew=SKEW,
            previous_entries=self.previous_entries,
            **kw,
        )

    def publish(self, **overrides: Any) -> None:
        self.clock.advance(minutes=1)
        self.body = self.sim.publish(**overrides)


def new_case() -> Case:
    clock = FakeClock()
    sim = PeerSimulator(clock)
    case = Case(clock, sim, peer_config(sim))
    case.body = sim.current
    return case


def peer_config(sim: PeerSimulator, **overrides: Any) -> PeerConfig:
    doc = {
        "id": sim.peer_id,
        "jurisdiction": sim.jurisdiction,
        "url": "https://registry.indiana.example/trust-list",
        "keys": sim.pins,
        **overrides,
    }
    (peer,) = parse_peers({"peers": [doc]}, "peers.yaml")
    return peer


def b64json(value: Any) -> str:
    return b64url(canonical_json(value))


def with_signature(body: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads(body)
    change(doc["signatures"][0])
    return canonical_json(doc)


def non_canonical(jwk: dict[str, Any]) -> dict[str, Any]:
    """The same P-256 key with its x coordinate written in 33 bytes (a leading zero), and the
    ``kid`` that the JOSE library computes for that encoding: another thumbprint."""
    raw = base64.urlsafe_b64decode(jwk["x"] + "=")
    members = {"kty": "EC", "crv": "P-256", "x": b64url(b"\0" + raw), "y": jwk["y"]}
    return {**jwk, **members, "kid": JWKRegistry.import_key(members).thumbprint()}


# -- rows: (name, arrange, expected code or None for accepted) ------------------------------


def too_large(c: Case) -> None:
    c.body = b" " * (LIMIT + 1)


def identical_bytes_expired(c: Case) -> None:
    c.hold()
    c.clock.advance(hours=25)


def not_json(c: Case) -> None:
    c.body = b"<html>"


def jws_malformed(c: Case) -> None:
    c.body = b'{"payload": "e30", "signatures": []}'


def payload_not_json(c: Case) -> None:
    c.body = sign_list(b'{"version": 1,', c.sim.signers)


def schema_invalid(c: Case) -> None:
    c.publish(version=2)


def key_invalid_kid(c: Case) -> None:
    other = keys.generate()
    c.publish(next_keys=[{**other.public_jwk(), "kid": c.sim.pins[0]}])


def key_invalid_non_canonical(c: Case) -> None:
    second = keys.generate("ES256")
    jwk = non_canonical(second.public_jwk())
    assert jwk["kid"] != second.kid
    c.publish(next_keys=[jwk])


def threshold_not_met(c: Case) -> None:
    c.configure(keys=[*c.sim.pins, keys.generate().kid], threshold=2)


def signature_invalid(c: Case) -> None:
    def corrupt(sig: dict[str, Any]) -> None:
        raw = bytearray(base64.urlsafe_b64decode(sig["signature"] + "=="))
        raw[0] ^= 1
        sig["signature"] = b64url(bytes(raw))

    c.body = with_signature(c.body, corrupt)


def alg_not_allowed(c: Case) -> None:
    c.body = c.sim.unsigned_body({"alg": "none", "kid": c.sim.pins[0]})


def typ_mismatch(c: Case) -> None:
    c.body = c.sim.unsigned_body({"alg": "Ed25519", "kid": c.sim.pins[0], "typ": "JWT"})


def header_unexpected(c: Case) -> None:
    c.body = c.sim.unsigned_body({"alg": "Ed25519", "kid": c.sim.pins[0], "jku": "https://x"})


def alg_key_mismatch(c: Case) -> None:
    c.body = c.sim.unsigned_body({"alg": "ES256", "kid": c.sim.pins[0]})


def unknown_key(c: Case) -> None:
    c.sim.signers = [keys.generate()]
    c.publish()


def wrong_issuer(c: Case) -> None:
    c.publish(iss="https://registry.michigan.example")


def wrong_jurisdiction(c: Case) -> None:
    c.publish(jurisdiction="US-MI")


def rollback(c: Case) -> None:
    c.publish()
    c.hold()
    c.body = c.sim.bodies[1]


def equivocation(c: Case) -> None:
    c.hold()
    c.sim.issuers.append(sim_issuer(40))
    c.publish(seq=1)


def chain_broken(c: Case) -> None:
    c.hold()
    c.publish(prev="A" * 43)


def gap_accepted(c: Case) -> None:
    c.hold()
    c.publish()
    c.publish()


def iat_in_future(c: Case) -> None:
    now = int(c.clock().timestamp())
    c.body = c.sim.publish(iat=now + 600, exp=now + 4000)


def expired(c: Case) -> None:
    now = int(c.clock().timestamp())
    c.body = c.sim.publish(iat=now - 7200, exp=now - 1)


def exp_not_after_iat(c: Case) -> None:
    now = int(c.clock().timestamp())
    c.body = c.sim.publish(iat=now + 60, exp=now + 60)


def validity_too_long(c: Case) -> None:
    now = int(c.clock().timestamp())
    c.body = c.sim.publish(iat=now, exp=now + 30 * 365 * 86400)


def validity_at_the_bound(c: Case) -> None:
    now = int(c.clock().timestamp())
    c.body = c.sim.publish(iat=now, exp=now + 3 * 86400)


def validity_bound_per_peer(c: Case) -> None:
    c.configure(max_validity="1h")


def duplicate_issuer_id(c: Case) -> None:
    twin = sim_issuer(1)
    c.sim.issuers.append(twin)
    c.publish()


def duplicate_aka(c: Case) -> None:
    c.sim.issuers[0]["aka"] = [c.sim.issuers[1]["id"]]
    c.publish()


def history_unordered(c: Case) -> None:
    c.sim.issuers[0]["status_history"] = [
        {"status": "active", "from": "2021-01-01T00:00:00Z"},
        {"status": "suspended", "from": "2020-01-01T00:00:00Z"},
    ]
    c.publish()


def _revoked_baseline(c: Case) -> None:
    c.sim.issuers[0]["status_history"] = [
        {"status": "active", "from": "2020-01-01T00:00:00Z"},
        {"status": "revoked", "from": "2021-06-01T00:00:00Z", "reason": "fraud"},
    ]
    c.publish()
    c.hold()


def history_record_erased(c: Case) -> None:
    _revoked_baseline(c)
    c.sim.issuers[0]["status_history"] = [{"status": "active", "from": "2020-01-01T00:00:00Z"}]
    c.publish()


def history_record_altered(c: Case) -> None:
    _revoked_baseline(c)
    c.sim.issuers[0]["status_history"][1] = {
        "status": "revoked",
        "from": "2023-06-01T00:00:00Z",  # the revocation moved two years later
        "reason": "fraud",
    }
    c.publish()


def history_reason_altered(c: Case) -> None:
    _revoked_baseline(c)
    c.sim.issuers[0]["status_history"][1]["reason"] = "clerical error"
    c.publish()


def issuer_dropped(c: Case) -> None:
    _revoked_baseline(c)
    del c.sim.issuers[0]
    c.publish()


def history_grows_by_insertion(c: Case) -> None:
    _revoked_baseline(c)
    c.sim.issuers[0]["status_history"].insert(
        1, {"status": "suspended", "from": "2021-01-01T00:00:00Z"}
    )
    c.sim.issuers[0]["status_history"].append(
        {"status": "active", "from": "2022-01-01T00:00:00+00:00"}
    )
    c.publish()


def history_same_instant_other_text(c: Case) -> None:
    _revoked_baseline(c)
    c.sim.issuers[0]["status_history"][1]["from"] = "2021-06-01T02:00:00+02:00"
    c.publish()


def history_checked_across_a_gap(c: Case) -> None:
    _revoked_baseline(c)
    c.sim.publish()  # a version the node never saw
    c.sim.issuers[0]["status_history"].pop()
    c.publish()


def new_issuer_added(c: Case) -> None:
    _revoked_baseline(c)
    c.sim.issuers.append(sim_issuer(30))
    c.publish()


ROWS: list[tuple[str, Callable[[Case], None], str | None]] = [
    ("1_too_large", too_large, "too_large"),
    ("2_identical_bytes_expired", identical_bytes_expired, "expired"),
    ("3_not_json", not_json, "not_json"),
    ("3_jws_malformed", jws_malformed, "jws_malformed"),
    ("4_payload_not_json", payload_not_json, "payload_not_json"),
    ("5_schema_invalid", schema_invalid, "schema_invalid"),
    ("6_key_invalid_kid_not_thumbprint", key_invalid_kid, "key_invalid"),
    ("6_key_invalid_non_canonical_coordinate", key_invalid_non_canonical, "key_invalid"),
    ("7_threshold_not_met", threshold_not_met, "threshold_not_met"),
    ("7_signature_invalid", signature_invalid, "signature_invalid"),
    ("7_alg_not_allowed", alg_not_allowed, "alg_not_allowed"),
    ("7_typ_mismatch", typ_mismatch, "typ_mismatch"),
    ("7_header_unexpected", header_unexpected, "header_unexpected"),
    ("7_alg_key_mismatch", alg_key_mismatch, "alg_key_mismatch"),
    ("7_unknown_key", unknown_key, "unknown_key"),
    ("8_wrong_issuer", wrong_issuer, "wrong_issuer"),
    ("8_wrong_jurisdiction", wrong_jurisdiction, "wrong_jurisdiction"),
    ("9_rollback", rollback, "rollback"),
    ("9_equivocation", equivocation, "equivocation"),
    ("9_chain_broken", chain_broken, "chain_broken"),
    ("9_gap_accepted", gap_accepted, None),
    ("10_iat_in_future", iat_in_future, "iat_in_future"),
    ("11_expired", expired, "expired"),
    ("12_exp_not_after_iat", exp_not_after_iat, "schema_invalid"),
    ("13_validity_too_long", validity_too_long, "validity_too_long"),
    ("13_validity_at_the_bound_accepted", validity_at_the_bound, None),
    ("13_validity_bound_per_peer", validity_bound_per_peer, "validity_too_long"),
    ("14_duplicate_issuer_id", duplicate_issuer_id, "duplicate_issuer_id"),
    ("14_duplicate_aka", duplicate_aka, "duplicate_issuer_id"),
    ("14_history_unordered", history_unordered, "history_unordered"),
    ("15_history_record_erased", history_record_erased, "history_rewritten"),
    ("15_history_record_altered", history_record_altered, "history_rewritten"),
    ("15_history_reason_altered", history_reason_altered, "history_rewritten"),
    ("15_issuer_dropped", issuer_dropped, "history_rewritten"),
    ("15_history_checked_across_a_gap", history_checked_across_a_gap, "history_rewritten"),
    ("15_history_grows_by_insertion_accepted", history_grows_by_insertion, None),
    ("15_same_instant_other_text_accepted", history_same_instant_other_text, None),
    ("15_new_issuer_accepted", new_issuer_added, None),
]


@pytest.mark.parametrize(("name", "arrange", "code"), ROWS, ids=[r[0] for r in ROWS])
def test_rule(name: str, arrange: Callable[[Case], None], code: str | None) -> None:
    case = new_case()
    arrange(case)
    if code is None:
        assert case.judge().kind == "new"
        return
    with pytest.raises(Rejected) as info:
        case.judge()
    assert info.value.code == code, info.value.detail


def test_2_identical_bytes_under_the_same_terms_are_unchanged() -> None:
    case = new_case()
    case.hold()
    assert case.judge().kind == "unchanged"
    case.configure(threshold=1, scope={"jurisdictions": ["US-IN", "US-OH"]})  # new terms
    assert case.judge().kind == "new"  # judged again in full


def test_2_a_withdrawn_held_list_is_judged_again_not_passed_as_unchanged() -> None:
    case = new_case()
    case.hold()
    assert case.previous is not None
    case.previous = replace(case.previous, withdrawn="threshold_not_met")
    case.configure(keys=[*case.sim.pins, keys.generate().kid], threshold=2)
    case.previous = replace(case.previous, terms_id=case.peer.terms_id)
    with pytest.raises(Rejected) as info:
        case.judge()
    assert info.value.code == "threshold_not_met"


def test_7_one_key_in_two_encodings_counts_once() -> None:
    """A threshold counts distinct keys: a second encoding of a pinned key is refused."""
    case = new_case()
    es = keys.generate("ES256")
    jwk = non_canonical(es.public_jwk())
    with pytest.raises(ConfigError, match="canonical"):
        parse_peers(
            {
                "peers": [
                    {
                        "id": case.sim.peer_id,
                        "jurisdiction": "US-IN",
                        "url": "https://registry.indiana.example/trust-list",
                        "keys": [es.public_jwk(), jwk],
                        "threshold": 2,
                    }
                ]
            },
            "peers.yaml",
        )


def test_9_a_new_trust_epoch_accepts_a_lower_seq() -> None:
    """Held state that no longer binds is not passed (previous None): first contact rules."""
    case = new_case()
    for _ in range(5):
        case.publish()
    case.hold()
    genuine = PeerSimulator(case.clock)
    case.sim = genuine
    case.configure()
    case.body = genuine.current  # seq 1, signed by the newly pinned key
    with pytest.raises(Rejected) as info:
        case.judge()
    assert info.value.code == "rollback"  # the held seq still binds
    case.previous, case.previous_entries = None, None
    assert case.judge().state.seq == 1


def test_rejudge_skips_the_time_rules_but_not_the_others() -> None:
    case = new_case()
    case.hold()
    case.clock.advance(days=2)  # the held list has expired
    case.configure(on_stale="warn")
    assert case.judge(rejudge=True).kind == "new"
    case.configure(max_validity="1h")
    with pytest.raises(Rejected) as info:
        case.judge(rejudge=True)
    assert info.value.code == "validity_too_long"


def test_16_scope_drops_entries_without_an_authorization_in_scope() -> None:
    case = new_case()
    bare = sim_issuer(20)
    bare.pop("authorizations")
    outside = sim_issuer(21, "US-OH")
    mixed = sim_issuer(22, types=["OpenBadgeCredential", "ClrCredential"])
    case.sim.issuers += [bare, outside, mixed]
    case.publish()
    case.configure(scope={"credential_types": ["ClrCredential"]})
    decision = case.judge()
    assert set(decision.entries) == {mixed["id"]}
    assert (decision.dropped, decision.narrowed) == (5, 1)
    kept = json.loads(decision.entries[mixed["id"]])
    assert kept["authorizations"][0]["credential_types"] == ["ClrCredential"]


def test_accept_packed_keeps_the_same_entries_packed() -> None:
    case = new_case()
    decision = case.judge()
    packed = accept_packed(
        case.body, case.peer, None, case.clock(), max_bytes=LIMIT, clock_skew=SKEW
    )
    assert isinstance(packed.entries, PackedTexts)
    assert packed.entries == decision.entries and packed.aliases == decision.aliases
    assert replace(packed, entries=decision.entries) == decision
