"""POST /v1/verify (docs/protocol.md section 13): a whole credential checked in one call,
against keys and trust from the node's signed lists, with every check listed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry_node.http.appkeys import NODE
from tests import credential_factory as cf
from tests.helpers import issuer

COLLEGE = "did:web:college.ohio.example"
CLOSED = "did:web:closed.ohio.example"
FRAUD = "did:web:fraud.ohio.example"
VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SUBJECT_NAME = "Jo Learner"  # personal data carried by every test credential


def method(did: str) -> str:
    return f"{did}#key-1"


@pytest.fixture(scope="module")
def keys() -> dict[str, Ed25519PrivateKey]:
    return {name: cf.ed25519() for name in (COLLEGE, CLOSED, FRAUD)}


def entry(did: str, key: Ed25519PrivateKey, *steps: tuple[str, str]) -> dict[str, Any]:
    history = [{"status": s, "from": f} for s, f in (("active", "2020-01-01T00:00:00Z"), *steps)]
    return issuer(
        1,
        id=did,
        name=f"College {did}",
        org_type="higher_education",
        keys=[cf.multikey_method(method(did), key)],
        authorizations=[
            {
                "credential_types": ["OpenBadgeCredential", "ClrCredential"],
                "achievement_types": ["Certificate"],
                "jurisdiction": "US-OH",
            }
        ],
        status_history=history,
    )


@pytest.fixture
async def vclient(client: TestClient, keys: dict[str, Ed25519PrivateKey]) -> TestClient:
    node = client.app[NODE]
    await node.issuers.create(entry(COLLEGE, keys[COLLEGE]), "test")
    await node.issuers.create(
        entry(CLOSED, keys[CLOSED], ("retired", "2025-06-01T00:00:00Z")), "test"
    )
    await node.issuers.create(
        entry(FRAUD, keys[FRAUD], ("revoked", "2025-06-01T00:00:00Z")), "test"
    )
    vector = json.loads((VECTORS / "manifest.json").read_text())["vectors"]
    ob3 = next(v for v in vector if v["file"].startswith("04-"))
    await node.issuers.create(
        issuer(
            5,
            id=ob3["issuer"],
            org_type="higher_education",
            keys=[
                {
                    "id": ob3["verificationMethod"],
                    "type": "Multikey",
                    "publicKeyMultibase": ob3["key"]["publicKeyMultibase"],
                }
            ],
            authorizations=[{"credential_types": ["OpenBadgeCredential"], "jurisdiction": "US-OH"}],
            # the vector was issued in 2010
            status_history=[{"status": "active", "from": "2009-01-01T00:00:00Z"}],
        ),
        "test",
    )
    await node.publisher.publish("test")
    return client


def badge(did: str, key: Ed25519PrivateKey, suite: str = "eddsa-rdfc-2022", **kw: Any) -> Any:
    return cf.sign_data_integrity(cf.open_badge(did, **kw), key, method(did), cryptosuite=suite)


async def verify(client: TestClient, credential: Any, **kw: Any) -> dict[str, Any]:
    if isinstance(credential, str):
        resp = await client.post(
            "/v1/verify", data=credential, headers={"Content-Type": "application/vc+jwt"}
        )
    else:
        resp = await client.post("/v1/verify", json=credential)
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


def checks(node: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    return {c["name"]: (c["passed"], c["code"]) for c in node["checks"]}


def failed(node: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["code"] for c in node["checks"] if not c["passed"]}


@pytest.mark.parametrize("suite", ["eddsa-rdfc-2022", "eddsa-jcs-2022", "Ed25519Signature2020"])
async def test_a_trusted_issuer_with_a_pinned_did_web_key(
    vclient: TestClient, keys: dict[str, Ed25519PrivateKey], suite: str
) -> None:
    contexts = [cf.VC_V2, cf.OB_V3]
    if suite == "Ed25519Signature2020":
        contexts.append(cf.ED25519_2020_CONTEXT)
    credential = badge(COLLEGE, keys[COLLEGE], suite, **{"@context": contexts})
    result = await verify(vclient, credential)
    tree = result["credential"]
    assert result["verdict"] == "valid", failed(tree)
    assert checks(tree)["trusted_at_issuance"] == (True, "active")
    assert checks(tree)["trusted_now"] == (True, "active")
    assert result["summary"].startswith(f"Authentic, issued by {COLLEGE}, which US-OH trusts for ")
    # the report names the key that verified and the list that supplied it
    assert tree["key"] == {
        "id": method(COLLEGE),
        "did_key": False,
        "sources": ["https://registry.ohio.example"],
    }
    evidence = tree["trust"]["at_issuance"]
    assert evidence["decided_by"] == ["https://registry.ohio.example"]
    assert evidence["question"]["credential_type"] == "OpenBadgeCredential"
    assert evidence["question"]["achievement_type"] == "Certificate"
    assert evidence["evidence"][0]["list"]["seq"] >= 1


async def test_vc_jwt_with_a_pinned_key(
    vclient: TestClient, keys: dict[str, Ed25519PrivateKey]
) -> None:
    token = cf.sign_jws(cf.open_badge(COLLEGE), keys[COLLEGE], "Ed25519", kid=method(COLLEGE))
    result = await verify(vclient, token)
    assert result["verdict"] == "valid", failed(result["credential"])
    assert result["credential"]["format"] == "vc+jwt"
    as_json_string = await vclient.post("/v1/verify", data=json.dumps(token))
    assert (await as_json_string.json())["verdict"] == "valid"


async def test_a_valid_signature_by_a_key_the_issuer_does_not_control(
    vclient: TestClient,
) -> None:
    stranger = cf.ed25519()
    credential = cf.sign_data_integrity(
        cf.open_badge(COLLEGE), stranger, cf.did_key_method(stranger)
    )
    result = await verify(vclient, credential)
    assert result["verdict"] == "invalid"
    assert checks(result["credential"])["signature"][0] is True
    # the issuer is trusted, but no list vouches for this key: no list's finding applies
    assert failed(result["credential"]) == {
        "issuer_binding": "issuer_binding",
        "trusted_at_issuance": "no_verified_key",
        "trusted_now": "no_verified_key",
    }


@pytest.mark.parametrize(
    ("members", "code"),
    [
        ({"validUntil": "2025-06-01T00:00:00Z"}, "expired"),
        ({"validFrom": "2027-01-01T00:00:00Z"}, "not_yet_valid"),
    ],
)
async def test_dates(
    vclient: TestClient, keys: dict[str, Ed25519PrivateKey], members: dict[str, str], code: str
) -> None:
    result = await verify(vclient, badge(COLLEGE, keys[COLLEGE], **members))
    assert result["verdict"] == "invalid"
    assert failed(result["credential"]) == {"dates": code}


async def test_issuer_revoked_after_issuance_is_refused_now(
    vclient: TestClient, keys: dict[str, Ed25519PrivateKey]
) -> None:
    result = await verify(vclient, badge(FRAUD, keys[FRAUD]))
    tree = result["credential"]
    assert result["verdict"] == "invalid"
    assert checks(tree)["trusted_at_issuance"] == (True, "active")
    assert failed(tree) == {"trusted_now": "revoked"}


@pytest.mark.parametrize("suite", ["eddsa-rdfc-2022", "eddsa-jcs-2022"])
async def test_a_revocation_published_changes_the_very_next_answer(
    vclient: TestClient, keys: dict[str, Ed25519PrivateKey], suite: str
) -> None:
    """The trust decisions are kept between requests (services/index.py): publishing the
    revocation replaces them."""
    credential = badge(COLLEGE, keys[COLLEGE], suite)
    for _ in range(3):
        assert (await verify(vclient, credential))["verdict"] == "valid"
    node = vclient.app[NODE]
    await node.issuers.set_status(COLLEGE, {"status": "revoked", "reason": "fraud"}, "test")
    await node.publisher.publish("test")
    result = await verify(vclient, credential)
    assert result["verdict"] == "invalid"
    assert failed(result["credential"]) == {"trusted_now": "revoked"}


async def test_issuer_retired_after_issuance_keeps_earlier_credentials_good(
    vclient: TestClient, keys: dict[str, Ed25519PrivateKey]
) -> None:
    good = await verify(vclient, badge(CLOSED, keys[CLOSED]))
    assert good["verdict"] == "valid", failed(good["credential"])
    assert checks(good["credential"])["trusted_now"] == (True, "retired")
    late = await verify(vclient, badge(CLOSED, keys[CLOSED], validFrom="2025-07-01T00:00:00Z"))
    assert failed(late["credential"]) == {
        "trusted_at_issuance": "retired",
        "trusted_now": "retired",  # blameless only for what was issued while trusted
    }


async def test_issuer_in_no_list(vclient: TestClient) -> None:
    own = cf.ed25519()
    did = cf.did_key(own)
    credential = cf.sign_data_integrity(cf.open_badge(did), own, cf.did_key_method(own))
    result = await verify(vclient, credential)
    assert checks(result["credential"])["signature"] == (True, "signature_valid")
    assert failed(result["credential"]) == {
        "trusted_at_issuance": "not_listed",
        "trusted_now": "not_listed",
    }


async def test_type_not_authorised(vclient: TestClient, keys: dict[str, Ed25519PrivateKey]) -> None:
    credential = cf.open_badge(COLLEGE)
    credential["credentialSubject"]["achievement"]["achievementType"] = "License"
    signed = cf.sign_data_integrity(credential, keys[COLLEGE], method(COLLEGE))
    result = await verify(vclient, signed)
    assert failed(result["credential"])["trusted_at_issuance"] == "not_authorized"


async def test_a_clr_with_one_trusted_and_one_untrusted_inner_credential(
    vclient: TestClient, keys: dict[str, Ed25519PrivateKey]
) -> None:
    stranger = cf.ed25519()
    untrusted = cf.sign_data_integrity(
        cf.open_badge(cf.did_key(stranger)), stranger, cf.did_key_method(stranger)
    )
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
            "verifiableCredential": [badge(COLLEGE, keys[COLLEGE]), untrusted],
        },
    }
    signed = cf.sign_data_integrity(clr, keys[COLLEGE], method(COLLEGE))
    result = await verify(vclient, signed)
    tree = result["credential"]
    # The verdict covers the CLR itself (docs/adr/0018); all_valid and the summary say that
    # one of the credentials it carries could not be trusted: its issuer is in no list.
    assert result["verdict"] == "valid", failed(tree)
    assert result["all_valid"] is False
    assert "1 of 2 nested credentials valid" in result["summary"]
    assert tree["verdict"] == "valid" and tree["all_valid"] is False
    assert [c["verdict"] for c in tree["children"]] == ["valid", "indeterminate"]
    assert [c["role"] for c in tree["children"]] == ["nested", "nested"]
    assert failed(tree["children"][1]) == {
        "trusted_at_issuance": "not_listed",
        "trusted_now": "not_listed",
    }
    assert tree["children"][0]["trust"]["now"]["outcome"] == "trusted"


async def test_the_ob3_vector_verifies_with_its_key_pinned_in_the_list(
    vclient: TestClient,
) -> None:
    credential = json.loads((VECTORS / "04-1edtech-ob30-url-issuer.json").read_text())
    result = await verify(vclient, credential)
    tree = result["credential"]
    assert checks(tree)["signature"][0] is True
    assert checks(tree)["issuer_binding"][0] is True
    assert checks(tree)["trusted_at_issuance"][0] is True, tree["checks"]


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"42", b"{not json", b'{"@context": []}', b'"not.a.jws"', b"\xff\xfe"],
)
async def test_malformed_credentials_are_400(vclient: TestClient, body: bytes) -> None:
    resp = await vclient.post("/v1/verify", data=body)
    assert resp.status == 400, await resp.text()
    assert resp.content_type == "application/problem+json"


async def test_nothing_personal_is_logged_or_kept(
    vclient: TestClient, keys: dict[str, Ed25519PrivateKey], caplog: pytest.LogCaptureFixture
) -> None:
    credential = badge(COLLEGE, keys[COLLEGE])
    assert SUBJECT_NAME in json.dumps(credential)
    with caplog.at_level(logging.DEBUG, logger="registry_node"):
        result = await verify(vclient, credential)
        await vclient.post("/v1/verify", data=json.dumps({**credential, "proof": 7}))
    logged = "\n".join(
        f"{r.getMessage()} {json.dumps(r.__dict__, default=str)}" for r in caplog.records
    )
    assert "credential verified" in logged
    assert COLLEGE in logged and "OpenBadgeCredential" in logged
    for personal in (SUBJECT_NAME, "did:example:learner-7", "Welding"):
        assert personal not in logged
        assert personal not in json.dumps(result)
    db = vclient.app[NODE].config.db_path.read_bytes()
    assert SUBJECT_NAME.encode() not in db
    metrics = await (await vclient.get("/metrics")).text()
    assert 'registry_credential_verifications_total{verdict="valid"} 1.0' in metrics
