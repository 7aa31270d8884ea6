"""Sign test credentials with keys made on the spot: Data Integrity proofs (eddsa-rdfc-2022,
eddsa-jcs-2022, Ed25519Signature2020) and compact JWS (vc+jwt and the Open Badges VC-JWT).

The RDF-based suites canonicalize with the verifier's own JSON-LD helpers (pinned contexts only);
the public test vectors check those helpers independently.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import warnings
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from registry_node.core.credentials import contexts

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

VC_V2 = "https://www.w3.org/ns/credentials/v2"
VC_V1 = "https://www.w3.org/2018/credentials/v1"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"
CLR_V2 = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
ED25519_2020_CONTEXT = "https://w3id.org/security/suites/ed25519-2020/v1"
CREATED = "2025-01-01T00:00:00Z"

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def ed25519() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = _B58[digit] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def multikey(public: PublicKey) -> str:
    """The multibase, multicodec-prefixed form of an Ed25519 or P-256 public key."""
    if isinstance(public, Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "z" + b58encode(b"\xed\x01" + raw)
    if isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        return "z" + b58encode(b"\x80\x24" + point)
    raise TypeError("did:key is made here for Ed25519 and P-256 keys only")


def did_key(private: PrivateKey) -> str:
    return "did:key:" + multikey(private.public_key())


def did_key_method(private: PrivateKey) -> str:
    """The verification method id of a did:key: ``did:key:z...#z...``."""
    did = did_key(private)
    return f"{did}#{did.removeprefix('did:key:')}"


def public_jwk(private: PrivateKey) -> dict[str, Any]:
    public = private.public_key()
    if isinstance(public, Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    if isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(point.x.to_bytes(32, "big")),
            "y": b64url(point.y.to_bytes(32, "big")),
        }
    rsa_numbers = public.public_numbers()
    n, e = rsa_numbers.n, rsa_numbers.e
    return {
        "kty": "RSA",
        "n": b64url(n.to_bytes((n.bit_length() + 7) // 8, "big")),
        "e": b64url(e.to_bytes((e.bit_length() + 7) // 8, "big")),
    }


def multikey_method(method_id: str, private: PrivateKey) -> dict[str, Any]:
    """A pinned verification method of type Multikey."""
    return {
        "id": method_id,
        "type": "Multikey",
        "publicKeyMultibase": multikey(private.public_key()),
    }


def jwk_method(method_id: str, private: PrivateKey) -> dict[str, Any]:
    """A pinned verification method of type JsonWebKey."""
    return {"id": method_id, "type": "JsonWebKey", "publicKeyJwk": public_jwk(private)}


def _rdfc(document: dict[str, Any]) -> bytes:
    expansion = contexts.expand(document)
    return hashlib.sha256(contexts.canonize(expansion.expanded).encode()).digest()


def _jcs(document: dict[str, Any]) -> bytes:
    return hashlib.sha256(rfc8785.dumps(document)).digest()


def sign_data_integrity(
    credential: dict[str, Any],
    private: Ed25519PrivateKey,
    method_id: str,
    *,
    cryptosuite: str = "eddsa-rdfc-2022",
    created: str = CREATED,
) -> dict[str, Any]:
    """A copy of ``credential`` with one more proof (a list once there are two).

    ``cryptosuite`` is ``eddsa-rdfc-2022``, ``eddsa-jcs-2022`` or ``Ed25519Signature2020``."""
    signed = copy.deepcopy(credential)
    existing = signed.pop("proof", None)
    if cryptosuite == "Ed25519Signature2020":
        proof: dict[str, Any] = {"type": "Ed25519Signature2020"}
    else:
        proof = {"type": "DataIntegrityProof", "cryptosuite": cryptosuite}
    proof.update(created=created, verificationMethod=method_id, proofPurpose="assertionMethod")
    config = {**proof, "@context": signed["@context"]}
    if cryptosuite == "eddsa-jcs-2022":
        proof["@context"] = signed["@context"]
        data = _jcs(config) + _jcs(signed)
    else:
        data = _rdfc(config) + _rdfc(signed)
    proof["proofValue"] = "z" + b58encode(private.sign(data))
    proofs = [] if existing is None else existing if isinstance(existing, list) else [existing]
    signed["proof"] = proof if not proofs else [*proofs, proof]
    return signed


def _jose_key(private: PrivateKey) -> OKPKey | ECKey | RSAKey:
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if isinstance(private, Ed25519PrivateKey):
        return OKPKey.import_key(pem)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(pem)
    return RSAKey.import_key(pem)


def sign_jws(
    payload: dict[str, Any],
    private: PrivateKey,
    alg: str,
    *,
    typ: str | None = "vc+jwt",
    kid: str | None = None,
    jwk: dict[str, Any] | None = None,
) -> str:
    """A compact JWS over the JSON of ``payload``."""
    header: dict[str, Any] = {"alg": alg}
    if typ is not None:
        header["typ"] = typ
    if kid is not None:
        header["kid"] = kid
    if jwk is not None:
        header["jwk"] = jwk
    body = json.dumps(payload).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EdDSA is deprecated, and still what issuers send
        return jws.serialize_compact(header, body, _jose_key(private), algorithms=[alg])


def tamper_jws(token: str, change: dict[str, Any]) -> str:
    """The same header and signature over a payload with ``change`` merged in."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(change)
    return ".".join([header, b64url(json.dumps(claims).encode()), signature])


def open_badge(issuer: str, **members: Any) -> dict[str, Any]:
    """An unsigned Open Badges 3.0 credential (VC 2.0) for ``issuer``."""
    credential: dict[str, Any] = {
        "@context": [VC_V2, OB_V3],
        "id": "urn:uuid:0f5c2f52-1111-4c4e-9f5e-3a3a8a1f0001",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer, "type": ["Profile"], "name": "Example State College"},
        "validFrom": "2025-01-01T00:00:00Z",
        "name": "Welding Level 1",
        "credentialSubject": {
            "id": "did:example:learner-7",
            "type": ["AchievementSubject"],
            "name": "Jo Learner",
            "achievement": {
                "id": "https://college.example/achievements/welding-1",
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": "Welding Level 1",
                "description": "Welds a butt joint to code.",
                "criteria": {"narrative": "Passed the practical assessment."},
            },
        },
    }
    credential.update(members)
    return credential


def endorsement(issuer: str, **members: Any) -> dict[str, Any]:
    """An unsigned Open Badges 3.0 endorsement by ``issuer`` of the test badge's achievement."""
    credential: dict[str, Any] = {
        "@context": [VC_V2, OB_V3],
        "id": "urn:uuid:5e0f7a57-2222-4c4e-9f5e-3a3a8a1f0009",
        "type": ["VerifiableCredential", "EndorsementCredential"],
        "issuer": {"id": issuer, "type": ["Profile"], "name": "Welding Council"},
        "validFrom": "2025-01-01T00:00:00Z",
        "name": "Endorsement of Welding Level 1",
        "credentialSubject": {
            "id": "https://college.example/achievements/welding-1",
            "type": ["EndorsementSubject"],
            "endorsementComment": "Meets the council's standard.",
        },
    }
    credential.update(members)
    return credential


def clr(issuer: str, nested: list[Any], **members: Any) -> dict[str, Any]:
    """An unsigned CLR 2.0 credential for ``issuer`` carrying the ``nested`` credentials."""
    credential: dict[str, Any] = {
        "@context": [VC_V2, OB_V3, CLR_V2],
        "id": "urn:uuid:7a1d4a7e-3333-4c4e-9f5e-3a3a8a1f0003",
        "type": ["VerifiableCredential", "ClrCredential"],
        "issuer": {"id": issuer, "type": ["Profile"], "name": "Example State College"},
        "validFrom": "2025-01-01T00:00:00Z",
        "name": "Transcript",
        "credentialSubject": {
            "id": "did:example:learner-7",
            "type": ["ClrSubject"],
            "verifiableCredential": nested,
        },
    }
    credential.update(members)
    return credential


__all__ = [
    "CLR_V2",
    "ED25519_2020_CONTEXT",
    "EXAMPLES_V2",
    "OB_V3",
    "VC_V1",
    "VC_V2",
    "clr",
    "did_key",
    "did_key_method",
    "ed25519",
    "endorsement",
    "jwk_method",
    "multikey",
    "multikey_method",
    "open_badge",
    "p256",
    "public_jwk",
    "rsa2048",
    "sign_data_integrity",
    "sign_jws",
    "tamper_jws",
]
