"""The JWS of a list verifies with the JOSE library and independently with `cryptography`."""

from __future__ import annotations

import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws

from registry_node.core import keys
from registry_node.core.errors import Rejected
from registry_node.core.model import b64url, b64url_decode, canonical_json
from registry_node.core.signing import TYP, parse_jws, sign_list, verify_signatures

PAYLOAD = canonical_json({"seq": 1, "issuers": []})


def verify_with_cryptography(body: bytes, jwk: dict[str, str]) -> None:
    """Verify the first signature made by ``jwk`` using nothing but `cryptography`."""
    doc = json.loads(body)
    for sig in doc["signatures"]:
        header = json.loads(b64url_decode(sig["protected"]))
        if header["kid"] != jwk["kid"]:
            continue
        signing_input = f"{sig['protected']}.{doc['payload']}".encode()
        raw = b64url_decode(sig["signature"])
        if jwk["kty"] == "OKP":
            Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"])).verify(raw, signing_input)
        else:
            x = int.from_bytes(b64url_decode(jwk["x"]), "big")
            y = int.from_bytes(b64url_decode(jwk["y"]), "big")
            public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        return
    raise AssertionError("no signature by that key")


@pytest.mark.parametrize("alg", ["Ed25519", "ES256"])
def test_signature_verifies_with_jose_and_with_cryptography_alone(alg: str) -> None:
    key = keys.generate(alg)
    body = sign_list(PAYLOAD, [key])
    jwk = key.public_jwk()
    # The JOSE library, given only the public JWK:
    public = keys.import_public_jwk(jwk)
    result = jws.deserialize_json(json.loads(body), public, algorithms=[alg])
    assert result.payload == PAYLOAD
    headers = result.members[0].headers()
    assert headers["typ"] == TYP
    assert headers["kid"] == jwk["kid"]
    # And independently:
    verify_with_cryptography(body, jwk)


def test_large_lists_sign_and_verify() -> None:
    key = keys.generate()
    payload = canonical_json({"issuers": ["x" * 100] * 20_000})  # 2 MB, beyond JOSE defaults
    report = verify_signatures(parse_jws(sign_list(payload, [key])), {key.kid: key.key})
    assert report.verified == {key.kid}, report.problems


def test_two_signatures_each_verify() -> None:
    a, b = keys.generate(), keys.generate("ES256")
    body = sign_list(PAYLOAD, [a, b])
    report = verify_signatures(parse_jws(body), {a.kid: a.key, b.kid: b.key})
    assert report.verified == {a.kid, b.kid}
    assert report.problems == []
    verify_with_cryptography(body, a.public_jwk())
    verify_with_cryptography(body, b.public_jwk())


def _flip(text: str, index: int) -> str:
    """Change one byte of a base64url string's decoded content."""
    raw = bytearray(b64url_decode(text))
    raw[index] ^= 0x01
    return b64url(bytes(raw))


@pytest.mark.parametrize("part", ["payload", "signature"])
def test_one_changed_byte_fails_verification(part: str) -> None:
    key = keys.generate()
    doc = json.loads(sign_list(PAYLOAD, [key]))
    if part == "payload":
        doc["payload"] = _flip(doc["payload"], 3)
    else:
        doc["signatures"][0]["signature"] = _flip(doc["signatures"][0]["signature"], 10)
    body = canonical_json(doc)
    report = verify_signatures(parse_jws(body), {key.kid: key.key})
    assert report.verified == set()
    assert report.problems[0][0] == "signature_invalid"
    with pytest.raises(InvalidSignature):
        verify_with_cryptography(body, key.public_jwk())


def test_unknown_key_does_not_spoil_a_trusted_signature() -> None:
    trusted, stranger = keys.generate(), keys.generate()
    body = sign_list(PAYLOAD, [stranger, trusted])
    report = verify_signatures(parse_jws(body), {trusted.kid: trusted.key})
    assert report.verified == {trusted.kid}
    assert [code for code, _ in report.problems] == ["unknown_key"]


def test_legacy_eddsa_name_is_accepted_with_an_ed25519_key() -> None:
    key = keys.generate()
    member = {"protected": {"alg": "EdDSA", "kid": key.kid, "typ": TYP}}
    with pytest.warns(Warning, match="EdDSA is deprecated"):
        value = jws.serialize_json([member], PAYLOAD, key.key, algorithms=["EdDSA"])
    report = verify_signatures(parse_jws(canonical_json(value)), {key.kid: key.key})
    assert report.verified == {key.kid}


def _unsigned(header: dict[str, str]) -> bytes:
    return canonical_json(
        {
            "payload": b64url(PAYLOAD),
            "signatures": [{"protected": b64url(canonical_json(header)), "signature": ""}],
        }
    )


@pytest.mark.parametrize(
    ("header", "code"),
    [
        pytest.param({"alg": "none", "typ": TYP}, "alg_not_allowed", id="alg-none"),
        pytest.param({"alg": "HS256", "typ": TYP}, "alg_not_allowed", id="alg-hmac"),
        pytest.param({"alg": "Ed25519", "typ": "JWT"}, "typ_mismatch", id="typ-mismatch"),
        pytest.param(
            {"alg": "Ed25519", "typ": TYP, "jku": "https://x.example"},
            "header_unexpected",
            id="extra-header",
        ),
    ],
)
def test_headers_outside_the_profile_are_refused(header: dict[str, str], code: str) -> None:
    key = keys.generate()
    header = {**header, "kid": key.kid}
    report = verify_signatures(parse_jws(_unsigned(header)), {key.kid: key.key})
    assert report.verified == set()
    assert report.problems[0][0] == code


def test_es256_header_with_an_ed25519_key_is_refused() -> None:
    key = keys.generate()
    report = verify_signatures(
        parse_jws(_unsigned({"alg": "ES256", "typ": TYP, "kid": key.kid})), {key.kid: key.key}
    )
    assert report.problems[0][0] == "alg_key_mismatch"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b"\xff\xfe", "not_json", id="not-utf8"),
        pytest.param(b'{"payload": "', "not_json", id="truncated"),
        pytest.param(b"[]", "jws_malformed", id="array"),
        pytest.param(b'{"payload":"e30","signatures":[]}', "jws_malformed", id="no-signatures"),
        pytest.param(
            b'{"payload":"e30","protected":"e30","signature":""}', "jws_malformed", id="flattened"
        ),
        pytest.param(
            b'{"payload":"e3+","signatures":[{"protected":"e30","signature":""}]}',
            "jws_malformed",
            id="bad-base64",
        ),
    ],
)
def test_malformed_bodies_are_rejected_with_a_code(body: bytes, code: str) -> None:
    with pytest.raises(Rejected) as info:
        parse_jws(body)
    assert info.value.code == code


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert keys.thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_declared_alg_must_fit_the_key() -> None:
    from registry_node.core.errors import InvalidInput

    jwk = {**keys.generate().public_jwk(), "alg": "ES256"}
    with pytest.raises(InvalidInput, match="does not fit"):
        keys.import_public_jwk(jwk)
