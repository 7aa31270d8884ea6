"""Keys and trust come from the same sources (docs/protocol.md section 13.2): a credential is
trusted only on the findings of the lists that supplied the key that verified its proof; a
did:key issuer's key is the one its DID names; the issuer binding is judged only on a key that
verified the signature.

Each test builds a trust index of two lists (the node's own and a peer's) in memory, as the
offline bundle does, and checks credentials through the verifier the node and the command line
use."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry_node.core.errors import FetchFailed
from registry_node.core.timeutil import to_numeric_date
from registry_node.core.trust import Question
from registry_node.services.index import Snapshot, TrustIndex, source_index
from registry_node.services.verifier import DID_DOCUMENT, Verifier
from tests import credential_factory as cf
from tests.helpers import FakeClock

OHIO = "https://registry.ohio.example"  # the node's own list
INDIANA = "https://registry.indiana.example"  # a peer's list
JURISDICTION = {OHIO: "US-OH", INDIANA: "US-IN"}
COLLEGE = "did:web:college.ohio.example"
OTHER = "did:web:other.indiana.example"
SKEW = timedelta(minutes=5)
ACTIVE = [{"status": "active", "from": "2020-01-01T00:00:00Z"}]
AUTHORIZED = [
    {
        "credential_types": ["OpenBadgeCredential", "ClrCredential"],
        "achievement_types": ["Certificate"],
        "jurisdiction": "US-OH",
    }
]
SUITES = ["eddsa-rdfc-2022", "eddsa-jcs-2022", "Ed25519Signature2020"]


def entry(
    did: str,
    keys: Sequence[Mapping[str, Any]] = (),
    authorizations: Sequence[Mapping[str, Any]] = AUTHORIZED,
    history: Sequence[Mapping[str, Any]] = ACTIVE,
    **members: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": did,
        "name": f"Issuer {did}",
        "org_type": "higher_education",
        "authorizations": list(authorizations),
        "status_history": list(history),
        **members,
    }
    if keys:
        doc["keys"] = list(keys)
    return doc


def trust_index(
    clock: FakeClock,
    lists: Mapping[str, Sequence[dict[str, Any]]],
    on_stale: Mapping[str, str | None] | None = None,
    expired: Sequence[str] = (),
) -> TrustIndex:
    """An index of ``lists`` (source id -> entries); OHIO is the node's own list. A list in
    ``expired`` has passed its exp; ``on_stale`` gives each peer's policy (None: the peer is
    no longer configured)."""
    now = to_numeric_date(clock())
    policies = {INDIANA: "reject", **(on_stale or {})}
    sources = {}
    for source_id, entries in lists.items():
        exp = now - 60 if source_id in expired else now + 86400
        sources[source_id] = source_index(
            source_id,
            JURISDICTION[source_id],
            source_id == OHIO,
            (3, "d" * 43, now - 3600, exp, None),
            {e["id"]: json.dumps(e) for e in entries},
            {e["id"]: e.get("aka", []) for e in entries},
        )
    index = TrustIndex(clock, policies.get)
    index.snapshot = Snapshot(sources)
    return index


def check(index: TrustIndex, credential: Any) -> dict[str, Any]:
    verdict: dict[str, Any] = Verifier(index, SKEW).verify_now(credential)
    return verdict


def codes(tree: Mapping[str, Any]) -> dict[str, tuple[bool, str]]:
    return {c["name"]: (c["passed"], c["code"]) for c in tree["checks"]}


def failed(tree: Mapping[str, Any]) -> dict[str, str]:
    return {c["name"]: c["code"] for c in tree["checks"] if not c["passed"]}


def signed(
    issuer: str, key: Ed25519PrivateKey, method_id: str, suite: str = "eddsa-rdfc-2022"
) -> Any:
    """A badge of ``issuer`` signed by ``key`` under ``method_id``, in ``suite`` (a Data
    Integrity cryptosuite, or ``vc+jwt`` for a compact JWS with ``kid``)."""
    contexts = [cf.VC_V2, cf.OB_V3]
    if suite == "Ed25519Signature2020":
        contexts.append(cf.ED25519_2020_CONTEXT)
    badge = cf.open_badge(issuer, **{"@context": contexts})
    if suite == "vc+jwt":
        return cf.sign_jws(badge, key, "Ed25519", kid=method_id)
    return cf.sign_data_integrity(badge, key, method_id, cryptosuite=suite)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def college_key() -> Ed25519PrivateKey:
    return cf.ed25519()


@pytest.fixture(scope="module")
def attacker() -> Ed25519PrivateKey:
    return cf.ed25519()


# --- keys and trust from the same sources ----------------------------------------------------


@pytest.mark.parametrize("suite", [*SUITES, "vc+jwt"])
def test_one_list_cannot_supply_the_key_while_another_carries_the_verdict(
    clock: FakeClock, college_key: Any, attacker: Any, suite: str
) -> None:
    """Indiana lists the college without authorising it for anything, and pins the attacker's
    key for it; Ohio lists it active and authorised, with its real key. A credential signed by
    the attacker's key rests on Indiana's finding alone."""
    index = trust_index(
        clock,
        {
            INDIANA: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-9", attacker)], [])],
            OHIO: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])],
        },
    )
    result = check(index, signed(COLLEGE, attacker, f"{COLLEGE}#key-9", suite))
    tree = result["credential"]
    assert result["verdict"] == "invalid"
    assert codes(tree)["signature"] == (True, "signature_valid")
    assert INDIANA in next(c["detail"] for c in tree["checks"] if c["name"] == "signature")
    assert tree["key"] == {"id": f"{COLLEGE}#key-9", "did_key": False, "sources": [INDIANA]}
    assert failed(tree) == {
        "trusted_at_issuance": "not_authorized",
        "trusted_now": "not_authorized",
    }
    assert tree["trust"]["now"]["decided_by"] == [INDIANA]
    assert [e["source"] for e in tree["trust"]["now"]["evidence"]] == [INDIANA]


@pytest.mark.parametrize("suite", [*SUITES, "vc+jwt"])
def test_the_real_key_rests_on_the_list_that_pins_it(
    clock: FakeClock, college_key: Any, attacker: Any, suite: str
) -> None:
    index = trust_index(
        clock,
        {
            INDIANA: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-9", attacker)], [])],
            OHIO: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])],
        },
    )
    result = check(index, signed(COLLEGE, college_key, f"{COLLEGE}#key-1", suite))
    tree = result["credential"]
    assert result["verdict"] == "valid", failed(tree)
    assert tree["key"] == {"id": f"{COLLEGE}#key-1", "did_key": False, "sources": [OHIO]}
    assert codes(tree)["issuer_binding"] == (True, "controller_is_issuer")
    assert tree["trust"]["at_issuance"]["decided_by"] == [OHIO]
    assert tree["trust"]["now"]["decided_by"] == [OHIO]


def test_an_aka_name_takes_the_keys_and_the_verdict_of_the_same_entry(
    clock: FakeClock, college_key: Any, attacker: Any
) -> None:
    """Indiana's entry for another issuer claims the college's id as an aka and pins the
    attacker's key: what it says counts only as Indiana's finding."""
    index = trust_index(
        clock,
        {
            INDIANA: [
                entry(OTHER, [cf.multikey_method(f"{OTHER}#key-1", attacker)], [], aka=[COLLEGE])
            ],
            OHIO: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])],
        },
    )
    result = check(index, signed(COLLEGE, attacker, f"{OTHER}#key-1"))
    tree = result["credential"]
    assert codes(tree)["issuer_binding"] == (True, "key_pinned")
    assert tree["key"]["sources"] == [INDIANA]
    assert failed(tree) == {
        "trusted_at_issuance": "not_authorized",
        "trusted_now": "not_authorized",
    }


def test_a_revocation_or_suspension_by_any_list_still_applies(
    clock: FakeClock, college_key: Any
) -> None:
    suspended = [*ACTIVE, {"status": "suspended", "from": "2025-06-01T00:00:00Z"}]
    index = trust_index(
        clock,
        {
            INDIANA: [entry(COLLEGE, history=suspended)],
            OHIO: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])],
        },
    )
    result = check(index, signed(COLLEGE, college_key, f"{COLLEGE}#key-1"))
    tree = result["credential"]
    assert result["verdict"] == "invalid"
    assert codes(tree)["trusted_at_issuance"] == (True, "active")  # issued before 2025-06
    assert failed(tree) == {"trusted_now": "suspended"}
    assert tree["trust"]["now"]["decided_by"] == [INDIANA]


def test_two_lists_pinning_different_keys_under_one_id_are_each_tried(
    clock: FakeClock, college_key: Any, attacker: Any
) -> None:
    index = trust_index(
        clock,
        {
            INDIANA: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", attacker)], [])],
            OHIO: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])],
        },
    )
    for suite in [*SUITES, "vc+jwt"]:
        result = check(index, signed(COLLEGE, college_key, f"{COLLEGE}#key-1", suite))
        assert result["verdict"] == "valid", (suite, failed(result["credential"]))
        assert result["credential"]["key"]["sources"] == [OHIO]
        forged = check(index, signed(COLLEGE, attacker, f"{COLLEGE}#key-1", suite))
        assert forged["credential"]["key"]["sources"] == [INDIANA]
        assert failed(forged["credential"])["trusted_now"] == "not_authorized"


def test_a_key_two_lists_pin_rests_on_both(clock: FakeClock, college_key: Any) -> None:
    index = trust_index(
        clock,
        {
            INDIANA: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#k", college_key)], [])],
            OHIO: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])],
        },
    )
    result = check(index, signed(COLLEGE, college_key, f"{COLLEGE}#key-1"))
    tree = result["credential"]
    assert result["verdict"] == "valid", failed(tree)
    assert tree["key"]["sources"] == sorted([INDIANA, OHIO])
    assert tree["trust"]["now"]["decided_by"] == [OHIO]
    assert sorted(e["source"] for e in tree["trust"]["now"]["evidence"]) == sorted([INDIANA, OHIO])


def test_a_key_pinned_for_another_issuer_is_not_the_credential_issuers(
    clock: FakeClock, college_key: Any, attacker: Any
) -> None:
    """The method id names an issuer the lists pin that key for; the credential names
    another."""
    index = trust_index(
        clock,
        {
            OHIO: [
                entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)]),
                entry(OTHER, [cf.multikey_method(f"{OTHER}#key-1", attacker)]),
            ]
        },
    )
    result = check(index, signed(COLLEGE, attacker, f"{OTHER}#key-1"))
    assert failed(result["credential"]) == {
        "signature": "unknown_key",
        "issuer_binding": "not_checked",
        "trusted_at_issuance": "no_verified_key",
        "trusted_now": "no_verified_key",
    }
    assert result["credential"]["key"] is None
    assert result["credential"]["trust"] == {"at_issuance": None, "now": None}
    # the same with a did:key the lists pin for the other issuer only
    result = check(index, signed(COLLEGE, attacker, cf.did_key_method(attacker)))
    assert failed(result["credential"])["issuer_binding"] == "issuer_binding"
    assert failed(result["credential"])["trusted_now"] == "no_verified_key"


# --- which lists may supply a key ------------------------------------------------------------


def test_a_key_pinned_by_a_stale_list_under_reject_is_not_used(
    clock: FakeClock, college_key: Any
) -> None:
    lists = {
        INDIANA: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])],
        OHIO: [entry(COLLEGE)],
    }
    credential = signed(COLLEGE, college_key, f"{COLLEGE}#key-1")
    rejected = check(trust_index(clock, lists, expired=[INDIANA]), credential)
    assert failed(rejected["credential"]) == {
        "signature": "unknown_key",
        "issuer_binding": "not_checked",
        "trusted_at_issuance": "no_verified_key",
        "trusted_now": "no_verified_key",
    }
    warned = check(trust_index(clock, lists, {INDIANA: "warn"}, expired=[INDIANA]), credential)
    assert warned["verdict"] == "valid", failed(warned["credential"])
    assert warned["credential"]["trust"]["now"]["decided_by"] == [INDIANA]
    assert warned["credential"]["trust"]["now"]["stale"] is True


def test_a_key_pinned_by_a_removed_peer_is_not_used(clock: FakeClock, college_key: Any) -> None:
    lists = {
        INDIANA: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])],
        OHIO: [entry(COLLEGE)],
    }
    result = check(
        trust_index(clock, lists, {INDIANA: None}), signed(COLLEGE, college_key, f"{COLLEGE}#key-1")
    )
    assert failed(result["credential"])["signature"] == "unknown_key"
    assert failed(result["credential"])["trusted_now"] == "no_verified_key"


def test_asking_among_sources_sets_aside_one_no_longer_usable(clock: FakeClock) -> None:
    index = trust_index(
        clock, {INDIANA: [entry(COLLEGE)], OHIO: [entry(COLLEGE)]}, expired=[INDIANA]
    )
    q = Question(COLLEGE, clock().timestamp(), credential_type="OpenBadgeCredential", at_now=True)
    answer = index.ask_among(q, frozenset({INDIANA}))
    assert (answer["outcome"], answer["reason"]) == ("unknown", "sources_stale")
    assert [u["source"] for u in answer["unavailable"]] == [INDIANA]
    assert index.ask(q)["outcome"] == "trusted"  # Ohio's finding, which was not asked
    mine = index.ask_among(q, frozenset({OHIO}))
    assert (mine["outcome"], mine["decided_by"]) == ("trusted", [OHIO])
    assert mine["unavailable"] == []


# --- did:key: the key is the DID's own -------------------------------------------------------


def test_a_pin_cannot_replace_or_add_to_a_did_key_issuers_key(
    clock: FakeClock, college_key: Any, attacker: Any
) -> None:
    did = cf.did_key(college_key)
    own_method = cf.did_key_method(college_key)
    # the list pins the attacker's key, even under the DID's own method id
    pins = [cf.multikey_method(own_method, attacker), cf.jwk_method(f"{did}#jwk", attacker)]
    index = trust_index(clock, {OHIO: [entry(did, pins)]})
    badge = cf.open_badge(did)

    by_attacker = check(index, cf.sign_data_integrity(badge, attacker, cf.did_key_method(attacker)))
    assert failed(by_attacker["credential"]) == {
        "issuer_binding": "issuer_binding",
        "trusted_at_issuance": "no_verified_key",
        "trusted_now": "no_verified_key",
    }
    under_own_id = check(index, cf.sign_data_integrity(badge, attacker, own_method))
    assert failed(under_own_id["credential"])["signature"] == "bad_signature"
    no_kid = check(index, cf.sign_jws(badge, attacker, "Ed25519"))
    assert failed(no_kid["credential"])["signature"] == "bad_signature"
    assert failed(no_kid["credential"])["issuer_binding"] == "not_checked"
    header_jwk = check(index, cf.sign_jws(badge, attacker, "Ed25519", jwk=cf.public_jwk(attacker)))
    assert failed(header_jwk["credential"])["signature"] == "header_jwk_not_pinned"
    own_kid = check(index, cf.sign_jws(badge, attacker, "Ed25519", kid=own_method))
    assert failed(own_kid["credential"])["signature"] == "bad_signature"

    # the issuer's own key verifies, with or without a kid, and needs no pin
    for credential in (
        cf.sign_data_integrity(badge, college_key, own_method),
        cf.sign_jws(badge, college_key, "Ed25519"),
        cf.sign_jws(badge, college_key, "Ed25519", jwk=cf.public_jwk(college_key)),
    ):
        result = check(index, credential)
        assert result["verdict"] == "valid", failed(result["credential"])
        assert result["credential"]["key"]["did_key"] is True
        assert result["credential"]["key"]["sources"] == []
        assert result["credential"]["trust"]["now"]["decided_by"] == [OHIO]


def test_a_did_key_issuers_own_key_rests_on_every_list_that_names_it(
    clock: FakeClock, college_key: Any
) -> None:
    did = cf.did_key(college_key)
    suspended = [*ACTIVE, {"status": "suspended", "from": "2025-06-01T00:00:00Z"}]
    index = trust_index(clock, {INDIANA: [entry(did, authorizations=[])], OHIO: [entry(did)]})
    credential = cf.sign_data_integrity(
        cf.open_badge(did), college_key, cf.did_key_method(college_key)
    )
    result = check(index, credential)
    assert result["verdict"] == "valid", failed(result["credential"])
    assert result["credential"]["trust"]["now"]["decided_by"] == [OHIO]
    vetoed = trust_index(clock, {INDIANA: [entry(did, history=suspended)], OHIO: [entry(did)]})
    assert failed(check(vetoed, credential)["credential"]) == {"trusted_now": "suspended"}


# --- the binding is judged only on a key that verified ---------------------------------------


@pytest.mark.parametrize("suite", [*SUITES, "vc+jwt"])
def test_a_forged_signature_never_shows_the_binding_passed(
    clock: FakeClock, college_key: Any, suite: str
) -> None:
    index = trust_index(
        clock, {OHIO: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])]}
    )
    credential = signed(COLLEGE, college_key, f"{COLLEGE}#key-1", suite)
    if isinstance(credential, str):
        forged: Any = cf.tamper_jws(credential, {"name": "Forged"})
    else:
        forged = {**credential, "name": "Forged"}
    tree = check(index, forged)["credential"]
    assert failed(tree) == {
        "signature": "bad_signature",
        "issuer_binding": "not_checked",
        "trusted_at_issuance": "no_verified_key",
        "trusted_now": "no_verified_key",
    }
    assert tree["key"] is None
    # an unknown key under the issuer's own DID is not bound either
    unknown = check(index, signed(COLLEGE, college_key, f"{COLLEGE}#key-2", suite))["credential"]
    assert codes(unknown)["signature"] == (False, "unknown_key")
    assert codes(unknown)["issuer_binding"] == (False, "not_checked")


def test_a_forged_inner_credential_of_a_clr(clock: FakeClock, college_key: Any) -> None:
    index = trust_index(
        clock, {OHIO: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])]}
    )
    inner = signed(COLLEGE, college_key, f"{COLLEGE}#key-1")
    inner["name"] = "Forged"
    clr = {
        "@context": [cf.VC_V2, cf.OB_V3, cf.EXAMPLES_V2],
        "id": "urn:uuid:7a1d4a7e-3333-4c4e-9f5e-3a3a8a1f0003",
        "type": ["VerifiableCredential", "ClrCredential"],
        "issuer": COLLEGE,
        "validFrom": "2025-01-01T00:00:00Z",
        "name": "Transcript",
        "credentialSubject": {
            "id": "did:example:learner-7",
            "type": ["ClrSubject"],
            "verifiableCredential": [inner, signed(COLLEGE, college_key, f"{COLLEGE}#key-1")],
        },
    }
    result = check(index, cf.sign_data_integrity(clr, college_key, f"{COLLEGE}#key-1"))
    tree = result["credential"]
    assert tree["verdict"] == "valid", failed(tree)
    assert tree["key"]["sources"] == [OHIO]
    forged, good = tree["children"]
    assert failed(forged) == {
        "signature": "bad_signature",
        "issuer_binding": "not_checked",
        "trusted_at_issuance": "no_verified_key",
        "trusted_now": "no_verified_key",
    }
    assert good["verdict"] == "valid" and good["key"]["sources"] == [OHIO]


# --- a key from a resolved did:web document --------------------------------------------------


class StubDidWeb:
    """Stands in for the network: the document of one did:web issuer."""

    def __init__(self, did: str, methods: list[dict[str, Any]]) -> None:
        self.documents = {did: methods}

    async def methods(self, did: str) -> list[dict[str, Any]]:
        if did not in self.documents:
            raise FetchFailed("no such DID", code="http_status")
        return self.documents[did]

    async def close(self) -> None:
        pass


async def test_a_resolved_did_web_key_rests_on_every_list_that_names_the_issuer(
    clock: FakeClock, college_key: Any
) -> None:
    """No list pins a key for the college; its DID document gives one."""
    index = trust_index(
        clock, {INDIANA: [entry(COLLEGE, authorizations=[])], OHIO: [entry(COLLEGE)]}
    )
    stub = StubDidWeb(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-1", college_key)])
    verifier = Verifier(index, SKEW, stub)  # type: ignore[arg-type]
    try:
        result = await verifier.verify(signed(COLLEGE, college_key, f"{COLLEGE}#key-1"))
    finally:
        await verifier.close()
    tree = result["credential"]
    assert result["verdict"] == "valid", failed(tree)
    assert tree["key"] == {"id": f"{COLLEGE}#key-1", "did_key": False, "sources": [DID_DOCUMENT]}
    assert tree["trust"]["now"]["decided_by"] == [OHIO]
