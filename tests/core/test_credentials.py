"""Offline credential verification: the public vectors as published, tampered copies of them,
and credentials signed here in every supported format."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from registry_node.core.credentials import (
    CHECK_ORDER,
    Check,
    CredentialReport,
    PinnedKeys,
    Signer,
    verify_credential,
)
from registry_node.core.credentials import contexts as ld
from registry_node.core.credentials.keys import KeyProblem, did_key_public_key, key_bytes
from registry_node.core.errors import Malformed
from tests import credential_factory as cf

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)
COLLEGE = "https://college.example/issuers/1"
COLLEGE_KEY = COLLEGE + "#key-1"


def verify(credential: dict[str, Any] | str, keys: PinnedKeys | None = None, **kw: Any) -> Any:
    return verify_credential(
        credential, keys=keys or PinnedKeys(), now=kw.get("now", NOW), clock_skew=SKEW
    )


def codes(report: CredentialReport) -> dict[str, str]:
    return {c.name: c.code for c in report.checks}


def failed(report: CredentialReport) -> dict[str, str]:
    return {c.name: c.code for c in report.failed()}


#: A signature that does not verify: the issuer binding is judged only on a key that verified,
#: so it is not run, and never passes.
BAD_SIGNATURE = {"signature": "bad_signature", "issuer_binding": "not_checked"}


# --- the public vectors ----------------------------------------------------------------------


def load_vector(entry: dict[str, Any]) -> dict[str, Any] | str:
    name: str = entry["file"]
    text = (VECTORS / name).read_text()
    if name.endswith(".jwt"):
        return text.strip()
    credential: dict[str, Any] = json.loads(text)
    return credential


def vector_pin(entry: dict[str, Any]) -> dict[str, Any]:
    """The verification method the manifest gives for the vector's key, as a trust list would
    pin it."""
    if "file" in entry["key"]:
        method: dict[str, Any] = json.loads((VECTORS / entry["key"]["file"]).read_text())
        return method
    return {
        "id": entry["verificationMethod"],
        "type": "Multikey",
        "publicKeyMultibase": entry["key"]["publicKeyMultibase"],
    }


def vector_ids() -> list[str]:
    return [entry["file"] for entry in MANIFEST["vectors"]]


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=vector_ids())
def test_vector_verifies_with_its_key_pinned(entry: dict[str, Any]) -> None:
    keys = PinnedKeys({entry["issuer"]: [vector_pin(entry)]})
    report = verify(load_vector(entry), keys)
    assert entry["expect_signature_valid"] is True
    assert report.check("signature").passed, report.check("signature")
    assert report.verdict == "valid", report.failed()
    assert report.issuer == entry["issuer"]
    assert [c.name for c in report.checks] == list(CHECK_ORDER)


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=vector_ids())
def test_vector_without_pins(entry: dict[str, Any]) -> None:
    """A did:key signs for itself; the binding to another issuer needs a pin; an https key id
    is unknown without one."""
    report = verify(load_vector(entry))
    method = entry.get("verificationMethod", "")
    if method.startswith("did:key:") and method.split("#")[0] == entry["issuer"]:
        assert report.verdict == "valid"
    elif method.startswith("did:key:"):
        assert failed(report) == {"issuer_binding": "issuer_binding"}
        assert report.check("signature").passed
    else:
        assert failed(report).get("signature") == "unknown_key"


def test_vector_01_canonical_forms_match_the_published_n_quads() -> None:
    credential = json.loads((VECTORS / "01-w3c-eddsa-rdfc-2022-alumni.json").read_text())
    proof = credential.pop("proof")
    document = ld.canonize(ld.expand(credential).expanded)
    assert document == (VECTORS / "01-w3c-eddsa-rdfc-2022-alumni.canon-doc.nq").read_text()
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    config["@context"] = credential["@context"]
    proof_nquads = ld.canonize(ld.expand(config).expanded)
    assert proof_nquads == (VECTORS / "01-w3c-eddsa-rdfc-2022-alumni.canon-proof.nq").read_text()


def tampered(entry: dict[str, Any]) -> dict[str, Any] | str:
    credential = load_vector(entry)
    if isinstance(credential, str):
        return cf.tamper_jws(credential, {"id": "http://university.example/credentials/9999"})
    changed = copy.deepcopy(credential)
    changed["id"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
    return changed


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=vector_ids())
def test_tampered_vector_fails_signature(entry: dict[str, Any]) -> None:
    keys = PinnedKeys({entry["issuer"]: [vector_pin(entry)]})
    report = verify(tampered(entry), keys)
    assert report.verdict == "invalid"
    assert failed(report) == BAD_SIGNATURE
    assert report.signer is None


def test_vector_06_nested_endorsement_is_signed_on_its_own() -> None:
    entry = next(e for e in MANIFEST["vectors"] if e["file"].startswith("06-"))
    for nested in entry["nested"]:
        value: Any = load_vector(entry)
        for step in nested["path"]:
            value = value[step]
        key = did_key_public_key(nested["issuer"])
        assert key_bytes(key).endswith(bytes.fromhex(nested["ed25519_public_hex"]))
        report = verify(value)
        assert report.check("signature").passed
        assert failed(report) == {"dates": "expired"}  # its validUntil is 2020
        assert verify(value, now=datetime(2015, 1, 1, tzinfo=UTC)).verdict == "valid"


def test_vector_08_iat_string_is_not_a_reason_to_refuse() -> None:
    entry = next(e for e in MANIFEST["vectors"] if e["file"].startswith("08-"))
    report = verify(load_vector(entry), PinnedKeys({entry["issuer"]: [vector_pin(entry)]}))
    assert report.format == "vc+jwt"
    assert report.issued == datetime(2010, 1, 1, 19, 23, 24, tzinfo=UTC)


def test_the_package_pins_the_vector_contexts_with_the_same_hashes() -> None:
    pinned = ld.pinned_contexts()
    index = json.loads(
        (Path(ld.__file__).parent / "contexts" / "index.json").read_text(encoding="utf-8")
    )
    for url, entry in MANIFEST["contexts"].items():
        assert url in pinned
        assert index[url]["sha256"] == entry["sha256"]
        data = (VECTORS / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_reports_carry_no_personal_data_of_the_subject() -> None:
    entry = next(e for e in MANIFEST["vectors"] if e["file"].startswith("06-"))
    text = json.dumps(verify(load_vector(entry)).to_dict())
    assert "Sam Salmon" not in text
    key = cf.ed25519()
    credential = cf.sign_data_integrity(cf.open_badge(cf.did_key(key)), key, cf.did_key_method(key))
    credential["credentialSubject"]["name"] = "Someone Else"
    text = json.dumps(verify(credential).to_dict())
    for personal in ("Jo Learner", "Someone Else", "did:example:learner-7"):
        assert personal not in text


# --- credentials signed here -----------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer_key() -> Any:
    return cf.ed25519()


def signed_badge(key: Any, cryptosuite: str = "eddsa-rdfc-2022", **members: Any) -> Any:
    credential = cf.open_badge(cf.did_key(key), **members)
    return cf.sign_data_integrity(credential, key, cf.did_key_method(key), cryptosuite=cryptosuite)


@pytest.mark.parametrize("cryptosuite", ["eddsa-rdfc-2022", "eddsa-jcs-2022"])
def test_data_integrity_cryptosuites(issuer_key: Any, cryptosuite: str) -> None:
    report = verify(signed_badge(issuer_key, cryptosuite))
    assert report.verdict == "valid", report.failed()
    assert report.format == "vc-di"
    assert report.issuer == cf.did_key(issuer_key)
    assert report.types == ["VerifiableCredential", "OpenBadgeCredential"]
    assert report.achievement_types == ["Certificate"]
    assert report.issued == datetime(2025, 1, 1, tzinfo=UTC)
    assert codes(report)["issuer_binding"] == "controller_is_issuer"


def test_ed25519_signature_2020_on_a_vc_1_1_credential(issuer_key: Any) -> None:
    credential = {
        "@context": [cf.VC_V1, cf.ED25519_2020_CONTEXT, cf.EXAMPLES_V2],
        "id": "urn:uuid:2e3f0b0c-2222-4c4e-9f5e-3a3a8a1f0002",
        "type": ["VerifiableCredential", "AlumniCredential"],
        "issuer": cf.did_key(issuer_key),
        "issuanceDate": "2024-06-01T00:00:00Z",
        "expirationDate": "2030-06-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:learner-7", "alumniOf": "Example College"},
    }
    signed = cf.sign_data_integrity(
        credential, issuer_key, cf.did_key_method(issuer_key), cryptosuite="Ed25519Signature2020"
    )
    report = verify(signed)
    assert report.verdict == "valid", report.failed()
    assert report.issued == datetime(2024, 6, 1, tzinfo=UTC)
    assert "until 2030-06-01T00:00:00Z" in report.check("dates").detail
    signed["credentialSubject"]["alumniOf"] = "Another College"
    assert failed(verify(signed)) == BAD_SIGNATURE


def test_ed25519_signature_2020_proof_without_its_context_is_refused(issuer_key: Any) -> None:
    """Under the VC 2.0 context alone, the legacy proof's terms are undefined, so the signature
    would not cover them."""
    plain = [cf.VC_V2, cf.OB_V3]
    signed = cf.sign_data_integrity(
        cf.open_badge(cf.did_key(issuer_key), **{"@context": [*plain, cf.ED25519_2020_CONTEXT]}),
        issuer_key,
        cf.did_key_method(issuer_key),
        cryptosuite="Ed25519Signature2020",
    )
    assert verify(signed).verdict == "valid"
    signed["@context"] = plain
    assert failed(verify(signed))["signature"] == "proof_undefined_terms"


def test_vc_jwt_es256_with_a_p256_did_key() -> None:
    key = cf.p256()
    payload = cf.open_badge(cf.did_key(key))
    token = cf.sign_jws(payload, key, "ES256", kid=cf.did_key_method(key))
    report = verify(token)
    assert report.verdict == "valid", report.failed()
    assert report.format == "vc+jwt"
    assert codes(report)["format"] == "vc_jose"
    assert report.achievement_types == ["Certificate"]


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])
def test_vc_jwt_ed25519(issuer_key: Any, alg: str) -> None:
    payload = cf.open_badge(cf.did_key(issuer_key))
    token = cf.sign_jws(payload, issuer_key, alg, kid=cf.did_key_method(issuer_key))
    assert verify(token).verdict == "valid"
    assert failed(verify(cf.tamper_jws(token, {"name": "Forged"}))) == BAD_SIGNATURE


def test_open_badges_vc_jwt_rs256_with_a_vc_claim() -> None:
    key = cf.rsa2048()
    credential = cf.open_badge(COLLEGE)
    claims = {
        "iss": COLLEGE,
        "jti": credential["id"],
        "sub": "did:example:learner-7",
        "nbf": int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()),
        "exp": int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()),
        "vc": credential,
    }
    token = cf.sign_jws(claims, key, "RS256", typ="JWT", kid=COLLEGE_KEY)
    keys = PinnedKeys({COLLEGE: [cf.jwk_method(COLLEGE_KEY, key)]})
    report = verify(token, keys)
    assert report.verdict == "valid", report.failed()
    assert report.format == "vc-jwt"
    assert report.types == ["VerifiableCredential", "OpenBadgeCredential"]
    assert codes(report)["issuer_binding"] == "controller_is_issuer"
    late = verify(token, keys, now=datetime(2027, 6, 1, tzinfo=UTC))
    assert failed(late) == {"dates": "expired"}
    assert failed(verify(token)) == {"signature": "unknown_key", "issuer_binding": "not_checked"}


def test_open_badges_vc_jwt_iss_must_be_the_issuer() -> None:
    key = cf.rsa2048()
    token = cf.sign_jws(
        {"iss": "https://other.example", "vc": cf.open_badge(COLLEGE)}, key, "RS256", typ="JWT"
    )
    report = verify(token, PinnedKeys({COLLEGE: [cf.jwk_method(COLLEGE_KEY, key)]}))
    assert failed(report) == {"format": "iss_mismatch"}


def test_vc_jwt_with_a_vc_claim_is_refused(issuer_key: Any) -> None:
    payload = cf.open_badge(cf.did_key(issuer_key))
    payload["vc"] = copy.deepcopy(payload)
    token = cf.sign_jws(payload, issuer_key, "EdDSA", kid=cf.did_key_method(issuer_key))
    report = verify(token)
    assert report.check("signature").passed
    assert failed(report)["format"] == "forbidden_claim"


def test_unsigned_and_unknown_jws_forms_are_refused(issuer_key: Any) -> None:
    payload = cf.open_badge(cf.did_key(issuer_key))
    unsigned = ".".join(
        [cf.b64url(b'{"alg":"none","typ":"vc+jwt"}'), cf.b64url(json.dumps(payload).encode()), ""]
    )
    assert failed(verify(unsigned))["signature"] == "unsupported_alg"
    odd = cf.sign_jws(payload, issuer_key, "Ed25519", typ="dc+sd-jwt")
    assert failed(verify(odd))["format"] == "unsupported_typ"
    upper = cf.sign_jws(payload, issuer_key, "Ed25519", typ="application/VC+JWT")
    assert verify(upper).format == "vc+jwt"


def test_signature_by_a_key_that_is_not_the_issuers(issuer_key: Any) -> None:
    stranger = cf.ed25519()
    credential = cf.open_badge(cf.did_key(issuer_key))
    signed = cf.sign_data_integrity(credential, stranger, cf.did_key_method(stranger))
    report = verify(signed)
    assert report.check("signature").passed
    assert failed(report) == {"issuer_binding": "issuer_binding"}
    # a pin cannot add a key to a did:key issuer: its key is the one its DID names
    pinned = PinnedKeys({cf.did_key(issuer_key): [cf.multikey_method("any", stranger)]})
    assert failed(verify(signed, pinned)) == {"issuer_binding": "issuer_binding"}
    assert verify(signed, pinned).signer == Signer(cf.did_key_method(stranger), False, ())


def test_pinned_key_of_a_url_issuer_by_method_id(issuer_key: Any) -> None:
    credential = cf.open_badge(COLLEGE)
    signed = cf.sign_data_integrity(credential, issuer_key, COLLEGE_KEY)
    # the key id names the issuer, but no key is known: the binding is not shown as passed
    assert failed(verify(signed)) == {"signature": "unknown_key", "issuer_binding": "not_checked"}
    keys = PinnedKeys({COLLEGE: [cf.multikey_method(COLLEGE_KEY, issuer_key)]})
    assert verify(signed, keys).verdict == "valid"
    other = PinnedKeys({COLLEGE: [cf.multikey_method(COLLEGE_KEY, cf.ed25519())]})
    assert failed(verify(signed, other)) == BAD_SIGNATURE


def test_expired_and_not_yet_valid(issuer_key: Any) -> None:
    expired = signed_badge(issuer_key, validUntil="2026-03-01T11:00:00Z")
    assert failed(verify(expired)) == {"dates": "expired"}
    early = signed_badge(issuer_key, validFrom="2026-03-02T00:00:00Z")
    assert failed(verify(early)) == {"dates": "not_yet_valid"}
    within_skew = signed_badge(issuer_key, validFrom="2026-03-01T12:04:00Z")
    assert verify(within_skew).verdict == "valid"


def test_an_unpinned_context_fails_without_touching_the_network(
    issuer_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the verifier tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    extra = "https://contexts.example/extra/v1"
    # signed with JCS, which needs no contexts: the signature holds, the context is refused
    jcs = signed_badge(issuer_key, "eddsa-jcs-2022", **{"@context": [cf.VC_V2, cf.OB_V3, extra]})
    report = verify(jcs)
    assert report.check("signature").passed
    contexts_check = report.check("contexts")
    assert (contexts_check.code, contexts_check.passed) == ("context_not_pinned", False)
    assert extra in contexts_check.detail
    assert failed(report) == {"contexts": "context_not_pinned", "undefined_terms": "not_checked"}
    # an RDF-canonicalized proof cannot even be checked without the context
    rdfc = signed_badge(issuer_key)
    rdfc["@context"].append(extra)
    report = verify(rdfc)
    assert failed(report)["signature"] == "context_not_pinned"
    assert failed(report)["contexts"] == "context_not_pinned"
    assert report.check("signature").outcome == "indeterminate"  # nothing proven either way
    assert report.verdict == "indeterminate"


def test_an_undefined_term_is_reported_and_not_covered_by_the_signature(
    issuer_key: Any,
) -> None:
    signed = signed_badge(issuer_key, favouriteColour="green")
    report = verify(signed)
    assert report.check("signature").passed
    assert failed(report) == {"undefined_terms": "undefined_terms"}
    assert "favouriteColour" in report.check("undefined_terms").detail
    assert "green" not in report.check("undefined_terms").detail
    signed["favouriteColour"] = "red"  # the signature does not notice
    assert failed(verify(signed)) == {"undefined_terms": "undefined_terms"}


def test_an_undefined_type_is_reported(issuer_key: Any) -> None:
    signed = signed_badge(issuer_key, type=["VerifiableCredential", "MysteryCredential"])
    report = verify(signed)
    assert failed(report) == {"undefined_terms": "undefined_terms"}
    assert "MysteryCredential" in report.check("undefined_terms").detail


def test_a_header_jwk_is_accepted_only_when_pinned() -> None:
    key = cf.p256()
    payload = cf.open_badge(COLLEGE)
    token = cf.sign_jws(payload, key, "ES256", jwk=cf.public_jwk(key))
    report = verify(token)
    assert failed(report)["signature"] == "header_jwk_not_pinned"
    someone_else = PinnedKeys({COLLEGE: [cf.jwk_method(COLLEGE_KEY, cf.p256())]})
    assert failed(verify(token, someone_else))["signature"] == "header_jwk_not_pinned"
    pinned = PinnedKeys({COLLEGE: [cf.multikey_method(COLLEGE_KEY, key)]})
    assert verify(token, pinned).verdict == "valid"


def test_two_proofs_where_only_the_second_is_valid(issuer_key: Any) -> None:
    stranger = cf.ed25519()
    credential = cf.open_badge(cf.did_key(issuer_key))
    first = cf.sign_data_integrity(credential, stranger, cf.did_key_method(issuer_key))
    both = cf.sign_data_integrity(first, issuer_key, cf.did_key_method(issuer_key))
    assert isinstance(both["proof"], list) and len(both["proof"]) == 2
    report = verify(both)
    assert report.verdict == "valid", report.failed()
    assert report.check("signature").detail.startswith("proof 2 of 2")
    only_first = {**both, "proof": both["proof"][0]}
    assert failed(verify(only_first)) == BAD_SIGNATURE


def test_a_clr_credential_judges_each_inner_credential(issuer_key: Any) -> None:
    good = signed_badge(issuer_key)
    bad = signed_badge(issuer_key, name="Welding Level 2")
    bad["name"] = "Welding Level 3"
    clr = {
        "@context": [cf.VC_V2, cf.OB_V3, cf.EXAMPLES_V2],
        "id": "urn:uuid:7a1d4a7e-3333-4c4e-9f5e-3a3a8a1f0003",
        "type": ["VerifiableCredential", "ClrCredential"],
        "issuer": cf.did_key(issuer_key),
        "validFrom": "2025-01-01T00:00:00Z",
        "name": "Transcript",
        "credentialSubject": {
            "id": "did:example:learner-7",
            "type": ["ClrSubject"],
            "verifiableCredential": [good, bad],
        },
    }
    signed = cf.sign_data_integrity(clr, issuer_key, cf.did_key_method(issuer_key))
    report = verify(signed)
    assert report.verdict == "valid", report.failed()
    assert report.types == ["VerifiableCredential", "ClrCredential"]
    assert [child.verdict for child in report.children] == ["valid", "invalid"]
    assert failed(report.children[1]) == BAD_SIGNATURE
    assert report.children[1].signer is None
    assert not report.all_valid
    assert [c["verdict"] for c in report.to_dict()["children"]] == ["valid", "invalid"]


def test_a_caller_adds_its_trust_check(issuer_key: Any) -> None:
    report = verify(signed_badge(issuer_key))
    assert report.verdict == "valid"
    report.add(Check("trusted", False, "issuer_not_listed", "not in the trust list"))
    assert report.verdict == "invalid"


def test_a_custom_key_resolver(issuer_key: Any) -> None:
    class FromTrustList:
        def pins(self, issuer: str) -> dict[str, list[dict[str, Any]]]:
            if issuer != COLLEGE:
                return {}
            return {"https://registry.example": [cf.multikey_method(COLLEGE_KEY, issuer_key)]}

    signed = cf.sign_data_integrity(cf.open_badge(COLLEGE), issuer_key, COLLEGE_KEY)
    report = verify_credential(signed, keys=FromTrustList(), now=NOW, clock_skew=SKEW)
    assert report.verdict == "valid"
    assert report.to_dict()["key"] == {
        "id": COLLEGE_KEY,
        "did_key": False,
        "sources": ["https://registry.example"],
    }


def test_did_key_decoding_rejects_unknown_codecs() -> None:
    assert did_key_public_key(cf.did_key(cf.p256()))
    with pytest.raises(KeyProblem):
        did_key_public_key("did:key:z" + cf.b58encode(b"\x12\x00" + bytes(32)))


# --- malformed credentials -------------------------------------------------------------------


def garbage_jws() -> list[str]:
    header = base64.urlsafe_b64encode(b'{"alg":"ES256"}').rstrip(b"=").decode()
    return ["", "not a jws", "a.b", "a.b.c.d", "!!.??.**", f"{header}.bm90IGpzb24.c2ln"]


@pytest.mark.parametrize(
    ("credential", "code"),
    [
        ([], "credential_not_object"),
        (42, "credential_not_object"),
        ({"@context": [cf.VC_V2], "type": ["VerifiableCredential"]}, "credential_no_issuer"),
        (cf.open_badge("did:example:x"), "credential_no_proof"),
        (cf.open_badge("did:example:x", proof="yes"), "credential_bad_proof"),
        (cf.open_badge("did:example:x", proof=[]), "credential_no_proof"),
        (cf.open_badge("did:example:x", type=None, proof={}), "credential_no_type"),
        ({**cf.open_badge("did:example:x", proof={}), "@context": None}, "credential_no_context"),
        (cf.open_badge("did:example:x", validFrom="yesterday", proof={}), "credential_bad_date"),
        *[(token, "credential_bad_jws") for token in garbage_jws()],
    ],
)
def test_malformed_credentials_raise(credential: Any, code: str) -> None:
    with pytest.raises(Malformed) as caught:
        verify(credential)
    assert caught.value.code == code


def test_a_jwt_without_a_credential_is_malformed() -> None:
    key = cf.ed25519()
    token = cf.sign_jws({"iss": "did:example:x", "sub": "y"}, key, "EdDSA", typ="JWT")
    with pytest.raises(Malformed) as caught:
        verify(token)
    assert caught.value.code == "credential_no_vc"


def test_a_malformed_inner_credential_is_a_failing_child(issuer_key: Any) -> None:
    clr = cf.open_badge(
        cf.did_key(issuer_key),
        type=["VerifiableCredential", "ClrCredential"],
        **{"@context": [cf.VC_V2, cf.OB_V3, cf.EXAMPLES_V2]},
    )
    clr["credentialSubject"]["verifiableCredential"] = [{"no": "credential"}]
    report = verify(cf.sign_data_integrity(clr, issuer_key, cf.did_key_method(issuer_key)))
    assert report.verdict == "valid", report.failed()
    assert failed(report.children[0]) == {"format": "credential_no_context"}


def test_now_must_be_timezone_aware(issuer_key: Any) -> None:
    with pytest.raises(ValueError, match="timezone"):
        verify_credential(
            signed_badge(issuer_key), keys=PinnedKeys(), now=datetime(2026, 1, 1), clock_skew=SKEW
        )


def _nested(levels: int, leaf: Any, kind: str) -> Any:
    value = leaf
    for _ in range(levels - 1):
        value = {"x": value} if kind == "dict" else [value]
    return value


@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("leaf", ["text", 7, None, {}, []])
def test_nesting_is_counted_to_the_deepest_value(kind: str, leaf: Any) -> None:
    """MAX_NESTING levels pass, one more does not, whatever the deepest value is (a scalar
    counts as a level), beside shallow siblings or not."""
    from registry_node.core.credentials.verify import MAX_NESTING, _nesting_ok

    assert _nesting_ok(_nested(MAX_NESTING, leaf, kind))
    assert not _nesting_ok(_nested(MAX_NESTING + 1, leaf, kind))
    deep = _nested(MAX_NESTING, leaf, kind)
    assert not _nesting_ok({"a": 1, "b": [2, {"c": 3}], "d": deep})
    assert _nesting_ok({"a": 1, "d": _nested(MAX_NESTING - 1, leaf, kind)})
    assert _nesting_ok("text") and _nesting_ok({}) and _nesting_ok([])


def test_base58_decodes_as_the_definition_says() -> None:
    """Leading ``1`` digits are zero bytes, the rest one big-endian number; any other
    character (0, O, I, l, non-ASCII) is refused."""
    import random

    from registry_node.core.credentials.keys import b58decode

    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

    def reference(text: str) -> bytes:
        number = 0
        for char in text:
            if char not in alphabet:
                raise ValueError(char)
            number = number * 58 + alphabet.index(char)
        zeros = len(text) - len(text.lstrip("1"))
        return b"\x00" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")

    rand = random.Random(58)
    for _ in range(3000):
        text = "".join(rand.choice(alphabet + "0OIl+/é\x00") for _ in range(rand.randrange(12)))
        try:
            expected: bytes | None = reference(text)
        except ValueError:
            expected = None
        if expected is None:
            with pytest.raises(ValueError, match="not base58btc"):
                b58decode(text)
        else:
            assert b58decode(text) == expected, text
    assert b58decode("") == b"" and b58decode("11") == b"\x00\x00"


def test_deeply_nested_credentials_are_malformed_not_a_crash() -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(2000):
        inner["x"] = {}
        inner = inner["x"]
    credential = cf.open_badge("did:example:x", proof={}, evidence=deep)
    with pytest.raises(Malformed) as caught:
        verify(credential)
    assert caught.value.code == "credential_too_deep"
    payload = "[" * 100_000 + "]" * 100_000
    token = ".".join(cf.b64url(part.encode()) for part in ('{"alg":"ES256"}', payload, "sig"))
    with pytest.raises(Malformed) as caught:
        verify(token)
    assert caught.value.code == "credential_bad_jws"


def test_json_text_is_not_taken_for_a_jws(issuer_key: Any) -> None:
    with pytest.raises(Malformed, match="parsed"):
        verify(json.dumps(signed_badge(issuer_key)))
