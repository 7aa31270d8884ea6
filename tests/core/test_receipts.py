"""core/receipts.py: the form of a receipt token and the node's own check of one
(docs/protocol.md section 11.3)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from joserfc import jws

from registry_node.core import keys as corekeys
from registry_node.core import receipts
from registry_node.core.errors import InvalidInput, Rejected
from registry_node.core.model import b64url, b64url_decode, canonical_json

ED = corekeys.generate("Ed25519")
EC = corekeys.generate("ES256")
CLAIMS = {"iss": "https://registry.ohio.example", "sub": "did:web:x", "iat": 1000, "exp": 4600}


def _token(signer: corekeys.SigningKey, claims: dict[str, Any] | None = None) -> str:
    return receipts.sign(canonical_json({**CLAIMS, "answer": {}, **(claims or {})}), signer)


def _keys(*signers: corekeys.SigningKey, exp: int | None = None) -> dict[str, receipts.TrustedKey]:
    return {s.kid: receipts.TrustedKey(s.key, exp) for s in signers}


def _header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0]))
    return header


def _signed_with_header(signer: corekeys.SigningKey, header: dict[str, Any]) -> str:
    payload = canonical_json({**CLAIMS, "answer": {}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jws.serialize_compact(header, payload, signer.key, algorithms=[header["alg"]])


def test_an_ed25519_receipt_says_eddsa_and_an_es256_one_es256() -> None:
    assert _header(_token(ED)) == {"alg": "EdDSA", "kid": ED.kid, "typ": receipts.TYP}
    assert _header(_token(EC)) == {"alg": "ES256", "kid": EC.kid, "typ": receipts.TYP}
    for signer in (ED, EC):
        assert receipts.check(_token(signer), _keys(ED, EC)).claims["sub"] == "did:web:x"


def test_the_fully_specified_name_is_accepted_too() -> None:
    token = _signed_with_header(ED, {"alg": "Ed25519", "kid": ED.kid, "typ": receipts.TYP})
    assert receipts.check(token, _keys(ED)).header["alg"] == "Ed25519"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({"alg": "EdDSA", "kid": ED.kid, "typ": "JWT"}, "typ_mismatch"),
        ({"alg": "EdDSA", "kid": ED.kid, "typ": receipts.TYP, "cty": "x"}, "header_unexpected"),
        ({"alg": "EdDSA", "kid": "A" * 43, "typ": receipts.TYP}, "unknown_key"),
        ({"alg": "HS256", "kid": ED.kid, "typ": receipts.TYP}, "alg_not_allowed"),
    ],
)
def test_headers_other_than_the_node_s_are_refused(header: dict[str, Any], code: str) -> None:
    token = (
        _signed_with_header(ED, header)
        if header["alg"] != "HS256"
        else ".".join([b64url(canonical_json(header)), b64url(b"{}"), b64url(b"x")])
    )
    with pytest.raises(Rejected) as refused:
        receipts.check(token, _keys(ED))
    assert refused.value.code == code


def test_an_es256_alg_with_an_ed25519_key_is_refused() -> None:
    token = _token(EC)
    keys = {EC.kid: receipts.TrustedKey(ED.key)}  # the kid names a key of the other kind
    with pytest.raises(Rejected) as refused:
        receipts.check(token, keys)
    assert refused.value.code == "alg_key_mismatch"


def test_a_changed_payload_or_another_key_is_refused() -> None:
    head, _, sig = _token(ED).split(".")
    other = b64url(canonical_json({**CLAIMS, "sub": "did:web:y", "answer": {}}))
    for token in (f"{head}.{other}.{sig}", _token(ED).replace(sig, _token(EC).split(".")[2])):
        with pytest.raises(Rejected) as refused:
            receipts.check(token, _keys(ED))
        assert refused.value.code == "signature_invalid"
    with pytest.raises(Rejected) as refused:
        receipts.check("not.a-token", _keys(ED))
    assert refused.value.code == "receipt_malformed"


def test_a_retired_key_vouches_only_for_receipts_signed_before_its_retirement() -> None:
    token = _token(ED, {"iat": 2000})
    assert receipts.check(token, _keys(ED, exp=2000)).claims["iat"] == 2000
    with pytest.raises(Rejected) as refused:
        receipts.check(token, _keys(ED, exp=1999))
    assert refused.value.code == "key_retired"


def test_trusted_keys_reads_a_jwks_with_retired_members() -> None:
    jwks = {"keys": [{**ED.public_jwk(), "status": "retired", "exp": 5}, EC.public_jwk()]}
    keys = receipts.trusted_keys(jwks, "jwks.json")
    assert keys[ED.kid].exp == 5 and keys[EC.kid].exp is None
    with pytest.raises(InvalidInput, match=r"jwks.json: keys\[0\]"):
        receipts.trusted_keys({"keys": [{**ED.public_jwk(), "kid": "A" * 43}]}, "jwks.json")
    with pytest.raises(InvalidInput, match="not a JWK Set"):
        receipts.trusted_keys({"nope": []}, "jwks.json")
