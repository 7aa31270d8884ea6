"""Which methods of a DID document may sign (core/credentials/diddoc.py), and the DID-document
form of a pinned key in an issuer entry (core/model.py): one table row per rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from registry_node.core.credentials.diddoc import DidDocumentProblem, assertion_methods
from registry_node.core.errors import InvalidInput
from registry_node.core.model import check_issuer, pinned_key_forms
from tests import credential_factory as cf
from tests.helpers import issuer

DID = "did:web:college.example"
KEY = cf.ed25519()
OTHER_KEY = cf.ed25519()
MULTIKEY = cf.multikey(KEY.public_key())


def document() -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": DID,
        "verificationMethod": [
            {"id": "#key-1", "type": "Multikey", "controller": DID, "publicKeyMultibase": MULTIKEY},
            {
                "id": f"{DID}#key-2",
                "type": "JsonWebKey",
                "controller": DID,
                "publicKeyJwk": cf.public_jwk(OTHER_KEY),
            },
        ],
        "assertionMethod": ["#key-1", f"{DID}#key-2"],
    }


def ids(doc: dict[str, Any]) -> list[str]:
    return [m["id"] for m in assertion_methods(doc, DID)]


def test_the_usable_methods_in_pinned_form() -> None:
    methods = assertion_methods(document(), DID)
    assert methods == [
        {"id": f"{DID}#key-1", "type": "Multikey", "publicKeyMultibase": MULTIKEY},
        {"id": f"{DID}#key-2", "type": "JsonWebKey", "publicKeyJwk": cf.public_jwk(OTHER_KEY)},
    ]


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


#: Each rule: a change that breaks it for key-1, which is then not used.
LEFT_OUT = {
    "controller-is-another-did": _set(
        ("verificationMethod", 0, "controller"), "did:web:evil.example"
    ),
    "no-controller": _drop(("verificationMethod", 0, "controller")),
    "method-of-another-did": lambda doc: (
        _set(("verificationMethod", 0, "id"), "did:web:evil.example#key-1")(doc),
        _set(("assertionMethod",), ["did:web:evil.example#key-1", f"{DID}#key-2"])(doc),
    ),
    "not-in-assertion-method": _set(("assertionMethod",), [f"{DID}#key-2"]),
    "only-for-authentication": lambda doc: doc.update(
        assertionMethod=[f"{DID}#key-2"], authentication=["#key-1"]
    ),
    "unknown-type": _set(("verificationMethod", 0, "type"), "EcdsaSecp256k1VerificationKey2019"),
    "unreadable-key": _set(("verificationMethod", 0, "publicKeyMultibase"), "zzzz"),
    "key-member-of-another-type": _set(("verificationMethod", 0, "type"), "JsonWebKey"),
}


@pytest.mark.parametrize("change", LEFT_OUT.values(), ids=LEFT_OUT.keys())
def test_a_method_breaking_a_rule_is_not_used(change: Callable[[dict[str, Any]], None]) -> None:
    doc = copy.deepcopy(document())
    change(doc)
    assert ids(doc) == [f"{DID}#key-2"]


def test_an_embedded_assertion_method_is_used_under_the_same_rules() -> None:
    doc = document()
    embedded = {
        "id": "#key-3",
        "type": "Multikey",
        "controller": DID,
        "publicKeyMultibase": MULTIKEY,
    }
    doc["assertionMethod"] = [embedded, {**embedded, "id": "#key-4", "controller": "did:web:x"}]
    assert ids(doc) == [f"{DID}#key-3"]


REFUSED = {
    "another-dids-document": (_set(("id",), "did:web:evil.example"), "did_document_mismatch"),
    "no-id": (_drop(("id",)), "did_document_mismatch"),
    "secret-multibase": (
        _set(("verificationMethod", 0, "secretKeyMultibase"), "z3u2"),
        "did_document_private_key",
    ),
    "private-jwk-d": (
        _set(("verificationMethod", 1, "publicKeyJwk", "d"), "A" * 43),
        "did_document_private_key",
    ),
    "private-key-of-an-unused-method": (
        lambda doc: doc["verificationMethod"].append(
            {"id": "#k9", "type": "JsonWebKey", "privateKeyJwk": {"kty": "OKP"}}
        ),
        "did_document_private_key",
    ),
}


@pytest.mark.parametrize(("change", "code"), REFUSED.values(), ids=REFUSED.keys())
def test_a_document_breaking_a_rule_is_refused_whole(
    change: Callable[[dict[str, Any]], None], code: str
) -> None:
    doc = copy.deepcopy(document())
    change(doc)
    with pytest.raises(DidDocumentProblem) as caught:
        assertion_methods(doc, DID)
    assert caught.value.code == code


def test_not_a_document() -> None:
    with pytest.raises(DidDocumentProblem):
        assertion_methods(["not", "a", "document"], DID)


# -- a pinned key written as in a DID document (core/model.py) -------------------------------


def entry(**key: Any) -> dict[str, Any]:
    method = {"id": f"{DID}#key-1", "type": "Multikey", "publicKeyMultibase": MULTIKEY, **key}
    return issuer(1, id=DID, aka=["https://college.example"], keys=[method])


@pytest.mark.parametrize("controller", [DID, "https://college.example"])
def test_a_key_controlled_by_the_issuer_is_pinned_without_its_controller(controller: str) -> None:
    formed = pinned_key_forms(entry(controller=controller))
    assert formed["keys"] == [
        {"id": f"{DID}#key-1", "type": "Multikey", "publicKeyMultibase": MULTIKEY}
    ]
    check_issuer(formed)  # the form a list publishes


@pytest.mark.parametrize("controller", ["did:web:evil.example", 7, None])
def test_a_key_controlled_by_another_is_refused(controller: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        pinned_key_forms(
            entry(controller=controller), "trust_lists/x.yaml: issuers[0]", "issuers[0]"
        )
    assert caught.value.code == "key_controller_not_issuer"
    assert caught.value.field == "issuers[0].keys[0].controller"
    assert caught.value.detail.startswith("trust_lists/x.yaml: issuers[0]: keys[0].controller:")


@pytest.mark.parametrize(
    ("member", "value", "field"),
    [
        ("secretKeyMultibase", "z3u2", "keys[0].secretKeyMultibase"),
        ("privateKeyJwk", {"kty": "OKP"}, "keys[0].privateKeyJwk"),
        ("publicKeyJwk", {**cf.public_jwk(KEY), "d": "A" * 43}, "keys[0].publicKeyJwk.d"),
    ],
)
def test_private_key_material_is_refused(member: str, value: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        pinned_key_forms(entry(**{member: value}))
    assert caught.value.code == "private_key_refused"
    assert caught.value.field == field


def test_a_key_without_controller_is_left_as_it_is() -> None:
    plain = entry()
    assert pinned_key_forms(plain) == plain
