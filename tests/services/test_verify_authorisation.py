"""What an authorisation covers when a whole credential is checked (docs/protocol.md section
13.2): every type the credential claims. An authorisation narrowed to achievement types does
not cover an achievement of no type (or a credential other than a CLR with no achievement); a
credential with no specific type is covered by none; a CTID-narrowed authorisation covers no
credential, since the node reads no CTID from one. A lookup's question names only what it asks
about, and keeps its answers apart from the verifier's."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from registry_node.core.trust import Question
from tests import credential_factory as cf
from tests.helpers import FakeClock
from tests.services.test_verify_sources import COLLEGE, OHIO, check, entry, failed, trust_index

METHOD = f"{COLLEGE}#key-1"
CTID = "ce-5de320e1-370c-4bf3-acec-b1ef5e33d1aa"
NARROWED = {
    "credential_types": ["OpenBadgeCredential", "ClrCredential"],
    "achievement_types": ["Certificate"],
    "jurisdiction": "US-OH",
}
OPEN = {"credential_types": ["OpenBadgeCredential"], "jurisdiction": "US-OH"}
BY_CTID = {"credential_types": ["OpenBadgeCredential"], "ctids": [CTID], "jurisdiction": "US-OH"}
NOT_AUTHORISED = {"trusted_at_issuance": "not_authorized", "trusted_now": "not_authorized"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def key() -> Any:
    return cf.ed25519()


def index_with(clock: FakeClock, key: Any, *authorizations: dict[str, Any]) -> Any:
    pinned = [cf.multikey_method(METHOD, key)]
    return trust_index(clock, {OHIO: [entry(COLLEGE, pinned, list(authorizations))]})


def badge(key: Any, change: Any = None, suite: str = "eddsa-jcs-2022", **members: Any) -> Any:
    credential = cf.open_badge(COLLEGE, **members)
    if change is not None:
        change(credential)
    if suite == "vc+jwt":
        return cf.sign_jws(credential, key, "Ed25519", kid=METHOD)
    return cf.sign_data_integrity(credential, key, METHOD, cryptosuite=suite)


def untype(credential: dict[str, Any]) -> None:
    del credential["credentialSubject"]["achievement"]["achievementType"]


def no_achievement(credential: dict[str, Any]) -> None:
    del credential["credentialSubject"]["achievement"]


def second_subject_untyped(credential: dict[str, Any]) -> None:
    other = copy.deepcopy(credential["credentialSubject"])
    other["id"] = "did:example:learner-8"
    del other["achievement"]["achievementType"]
    credential["credentialSubject"] = [credential["credentialSubject"], other]


def achievements_listed(*types: str) -> Any:
    def change(credential: dict[str, Any]) -> None:
        subject = credential["credentialSubject"]
        one = subject["achievement"]
        subject["achievement"] = [{**one, "achievementType": t} for t in types]

    return change


def empty_type(credential: dict[str, Any]) -> None:
    credential["credentialSubject"]["achievement"]["achievementType"] = ""


@pytest.mark.parametrize("suite", ["eddsa-jcs-2022", "eddsa-rdfc-2022", "vc+jwt"])
@pytest.mark.parametrize(
    ("change", "claims"),
    [
        (untype, "an achievement of no type"),
        (no_achievement, "an achievement of no type"),
        (second_subject_untyped, "an achievement of no type"),
        (empty_type, "an achievement of no type"),
        (achievements_listed("Certificate", "Degree"), "achievement type 'Degree'"),
    ],
)
def test_a_narrowed_authorisation_does_not_cover_what_it_does_not_name(
    clock: FakeClock, key: Any, change: Any, claims: str, suite: str
) -> None:
    result = check(index_with(clock, key, NARROWED), badge(key, change, suite))
    assert result["verdict"] == "invalid"
    assert failed(result["credential"]) == NOT_AUTHORISED
    assert claims in result["summary"]


@pytest.mark.parametrize("change", [untype, no_achievement, second_subject_untyped, empty_type])
def test_an_authorisation_not_narrowed_to_achievement_types_covers_an_untyped_one(
    clock: FakeClock, key: Any, change: Any
) -> None:
    result = check(index_with(clock, key, NARROWED, OPEN), badge(key, change))
    assert result["verdict"] == "valid", result["summary"]


@pytest.mark.parametrize("change", [None, achievements_listed("Certificate")])
def test_the_achievement_types_an_authorisation_names_are_covered(
    clock: FakeClock, key: Any, change: Any
) -> None:
    result = check(index_with(clock, key, NARROWED), badge(key, change))
    assert result["verdict"] == "valid", result["summary"]


def test_a_credential_of_no_specific_type_is_covered_by_no_authorisation(
    clock: FakeClock, key: Any
) -> None:
    for authorizations in ([NARROWED], [OPEN], [NARROWED, OPEN]):
        index = index_with(clock, key, *authorizations)
        result = check(index, badge(key, type=["VerifiableCredential"]))
        assert result["verdict"] == "invalid"
        assert failed(result["credential"]) == NOT_AUTHORISED
        assert "a credential of no specific type" in result["summary"]


def test_a_ctid_narrowed_authorisation_covers_no_credential(clock: FakeClock, key: Any) -> None:
    """The node reads no CTID from a credential, so it cannot tell a CTID-narrowed
    authorisation's credentials from others: it fails closed."""
    result = check(index_with(clock, key, BY_CTID), badge(key))
    assert result["verdict"] == "invalid"
    assert failed(result["credential"]) == NOT_AUTHORISED
    open_too = index_with(clock, key, BY_CTID, {**OPEN, "achievement_types": ["Certificate"]})
    assert check(open_too, badge(key))["verdict"] == "valid"


def test_a_clr_is_judged_on_its_type_and_each_nested_credential_on_its_achievements(
    clock: FakeClock, key: Any
) -> None:
    """A ClrCredential's achievements are those of the credentials it carries: it is covered by
    an authorisation narrowed to achievement types, while an untyped nested badge is not."""
    inner = badge(key, untype)
    clr = cf.sign_data_integrity(cf.clr(COLLEGE, [inner]), key, METHOD)
    result = check(index_with(clock, key, NARROWED), clr)
    assert result["verdict"] == "valid", result["summary"]
    assert not result["all_valid"]
    (child,) = result["credential"]["children"]
    assert child["verdict"] == "invalid"
    assert failed(child) == NOT_AUTHORISED


def test_a_lookup_answer_kept_by_the_index_is_not_the_verifiers(clock: FakeClock) -> None:
    """The index keeps decisions per question: a lookup that names only the credential type,
    asked first, does not answer for a credential that claims an achievement of no type (a
    did:key issuer's, whose trust rests on every list that names it)."""
    own = cf.ed25519()
    did = cf.did_key(own)
    index = trust_index(clock, {OHIO: [entry(did, (), [NARROWED])]})
    lookup = Question(did, clock().timestamp(), credential_type="OpenBadgeCredential", at_now=True)
    assert index.decided(lookup, now=clock()).answer["reason"] == "active"
    # a whole credential that claims no achievement (a CLR's question) is covered, too
    clr_like = replace(lookup, whole=True)
    assert index.decided(clr_like, now=clock()).answer["reason"] == "active"
    credential = cf.open_badge(did)
    untype(credential)
    result = check(index, cf.sign_data_integrity(credential, own, cf.did_key_method(own)))
    assert failed(result["credential"]) == NOT_AUTHORISED
    # a lookup about the achievement type alone, then a credential of no specific type
    certificate = replace(lookup, credential_type=None, achievement_type="Certificate")
    assert index.decided(certificate, now=clock()).answer["reason"] == "active"
    generic = cf.open_badge(did, type=["VerifiableCredential"])
    result = check(index, cf.sign_data_integrity(generic, own, cf.did_key_method(own)))
    assert failed(result["credential"]) == NOT_AUTHORISED
