"""Credentials secured with a JWS in Compact Serialization.

Two forms are read:

- VC-JOSE-COSE (``typ`` ``vc+jwt``): the payload is the credential itself, and the JWT claims
  ``vc`` and ``vp`` are forbidden;
- the Open Badges 3.0 / VC Data Model 1.1 JWT form (``typ`` ``JWT`` or none): the credential is
  the ``vc`` claim, or the payload itself when it is a credential.

Keys come from the pins of the issuer or from a ``did:key`` ``kid``; a ``did:key`` issuer's key
is the one its DID names, whatever is pinned for it. A ``jwk`` in the header is accepted only
when it is a key the issuer may sign with (pinned for it, or its did:key's own): anyone can put
a key there.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from registry_node.core import strictjson
from registry_node.core.credentials.dataintegrity import (
    binding_check,
    binding_not_checked,
    key_origin,
)
from registry_node.core.credentials.keys import (
    KeyProblem,
    KeyResolver,
    PinnedKey,
    PublicKey,
    ResolvedKey,
    b64url_decode,
    b64url_encode,
    controller_of,
    distinct_keys,
    is_pinned,
    issuer_keys,
    key_from_jwk,
    resolve_method,
    resolved_key,
)
from registry_node.core.credentials.report import FORMAT, SIGNATURE, Check
from registry_node.core.errors import Malformed

#: ``typ`` values (compared without case and without an ``application/`` prefix, RFC 7515
#: section 4.1.9). ``vc+ld+json+jwt`` is the name used by drafts of VC-JOSE-COSE.
VC_JOSE_TYPS = ("vc+jwt", "vc+ld+json+jwt")
JWT_TYPS = ("jwt", None)
#: Registered JWT claims (RFC 7519 section 4.1): the JOSE layer reads them, so they need no
#: JSON-LD definition when they sit beside the credential's own members.
JWT_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "cnf"})
ALGORITHMS = (
    "EdDSA",
    "Ed25519",
    "ES256",
    "ES384",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
)
_CURVE_OF_ALG = {"ES256": "secp256r1", "ES384": "secp384r1"}
MAX_TOKEN_BYTES = 1 << 24


@dataclass(frozen=True)
class CompactJws:
    """A compact JWS split into its parts; nothing about it is trusted yet."""

    token: str
    header: dict[str, Any]
    payload: dict[str, Any]


def parse_compact(token: str) -> CompactJws:
    """Split and decode a compact JWS whose header and payload are JSON objects.
    Raises Malformed(``credential_bad_jws``)."""

    def bad(why: str) -> Malformed:
        return Malformed(f"not a compact JWS: {why}", code="credential_bad_jws")

    token = token.strip()
    if len(token) > MAX_TOKEN_BYTES:
        raise bad("too large")
    if token.startswith("{"):
        raise bad("this is JSON text; pass a JSON credential parsed, as an object")
    parts = token.split(".")
    if len(parts) != 3:
        raise bad("a compact JWS has three dot-separated parts")
    try:
        header = strictjson.loads(b64url_decode(parts[0]))
        payload = strictjson.loads(b64url_decode(parts[1]))
        b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad("a part is not base64url-encoded JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise bad("the header and the payload must be JSON objects")
    if header.get("b64") is False:
        raise bad("unencoded payloads are not supported")
    return CompactJws(token, header, payload)


def _thumbprint(jwk: Mapping[str, Any]) -> str | None:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, or None if it lacks members."""
    members = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}
    names = members.get(str(jwk.get("kty")))
    if names is None or not all(isinstance(jwk.get(n), str) for n in names):
        return None
    text = json.dumps({n: jwk[n] for n in names}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(text.encode()).digest())


def _fits(alg: str, key: PublicKey) -> bool:
    if alg in ("EdDSA", "Ed25519"):
        return isinstance(key, Ed25519PublicKey)
    if alg in _CURVE_OF_ALG:
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _CURVE_OF_ALG[alg]
    return isinstance(key, rsa.RSAPublicKey)


def _jose_key(key: PublicKey) -> OKPKey | ECKey | RSAKey:
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if isinstance(key, Ed25519PublicKey):
        return OKPKey.import_key(pem)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ECKey.import_key(pem)
    return RSAKey.import_key(pem)


def _signature_valid(token: str, alg: str, key: PublicKey) -> bool:
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    registry.max_header_length = 1 << 16
    registry.max_payload_length = MAX_TOKEN_BYTES
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EdDSA is deprecated, and still used by issuers
            jws.deserialize_compact(token, _jose_key(key), registry=registry)
    except (JoseError, ValueError, TypeError):
        return False
    return True


def _candidates(
    parsed: CompactJws, issuer: str, keys: KeyResolver
) -> tuple[list[ResolvedKey], str]:
    """The keys that may have signed, and how the header named them (for details).
    Raises KeyProblem."""
    header = parsed.header
    pins = issuer_keys(keys, issuer)
    jwk = header.get("jwk")
    if jwk is not None:
        if not isinstance(jwk, Mapping):
            raise KeyProblem("bad_key", "the header jwk is not an object")
        key = key_from_jwk(jwk)
        if not is_pinned(key, pins):
            raise KeyProblem(
                "header_jwk_not_pinned",
                f"the key in the JWS header is not pinned for issuer {issuer}",
            )
        return [resolved_key("header jwk", key, "", pins)], "the header jwk"
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise KeyProblem("bad_key", "kid is not a string")
    if kid:
        method_id = issuer + kid if kid.startswith("#") else kid
        if method_id.startswith("did:key:"):
            return resolve_method(method_id, issuer, keys), method_id
        found = distinct_keys([pin for pin in pins if _names(pin, kid, method_id)])
        if not found:
            raise KeyProblem("unknown_key", f"kid {kid} is not pinned for issuer {issuer}")
        return [_resolved(pin, issuer, pins) for pin in found], f"kid {kid}"
    if not pins:
        raise KeyProblem("unknown_key", f"no key is pinned for issuer {issuer}")
    return [_resolved(pin, issuer, pins) for pin in distinct_keys(pins)], "a key of the issuer"


def _names(pin: PinnedKey, kid: str, method_id: str) -> bool:
    if pin.method_id in (kid, method_id):
        return True
    if pin.jwk is not None:
        return kid in (pin.jwk.get("kid"), _thumbprint(pin.jwk))
    return False


def _resolved(pin: PinnedKey, issuer: str, pins: list[PinnedKey]) -> ResolvedKey:
    controller = controller_of(pin.method_id) if pin.method_id else issuer
    return resolved_key(pin.method_id or "pinned key", pin.key, controller, pins, pin.material)


def verify_jws(
    parsed: CompactJws, issuer: str, keys: KeyResolver
) -> tuple[Check, Check, ResolvedKey | None]:
    """The signature and issuer-binding checks of a compact JWS, and the key that verified it.
    The binding is judged on that key only, and not run when no key verified."""
    alg = parsed.header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        failed = Check(SIGNATURE, False, "unsupported_alg", f"alg {alg!r} is not accepted")
        return failed, binding_not_checked("the algorithm is not accepted"), None
    try:
        candidates, named = _candidates(parsed, issuer, keys)
    except KeyProblem as exc:
        failed = Check(SIGNATURE, False, exc.code, exc.detail)
        return failed, binding_not_checked("no key was found for the signature"), None
    fitting = [c for c in candidates if _fits(alg, c.key)]
    if not fitting:
        failed = Check(SIGNATURE, False, "key_type_mismatch", f"{named} is not a key for {alg}")
        return failed, binding_not_checked("the key does not fit"), None
    for candidate in fitting:
        if _signature_valid(parsed.token, alg, candidate.key):
            detail = f"{alg} by {candidate.method_id}{key_origin(candidate)}"
            passed = Check(SIGNATURE, True, "signature_valid", detail)
            return passed, binding_check(candidate, issuer), candidate
    failed = Check(SIGNATURE, False, "bad_signature", f"the {alg} signature does not verify")
    return failed, binding_not_checked("the signature does not verify"), None


def credential_of(parsed: CompactJws) -> tuple[str, dict[str, Any], list[Check]]:
    """The credential a JWS carries, its format, and format problems (failing checks).
    Raises Malformed when no credential can be found."""
    typ = parsed.header.get("typ")
    media_type = typ.lower().removeprefix("application/") if isinstance(typ, str) else typ
    payload = parsed.payload
    problems = []
    if media_type in VC_JOSE_TYPS:
        forbidden = sorted(claim for claim in ("vc", "vp") if claim in payload)
        if forbidden:
            problems.append(
                Check(
                    FORMAT,
                    False,
                    "forbidden_claim",
                    f"a {typ} payload is the credential; claims {forbidden} are not allowed",
                )
            )
        return "vc+jwt", payload, problems
    if media_type not in JWT_TYPS:
        problems.append(Check(FORMAT, False, "unsupported_typ", f"JWS typ {typ!r}"))
    credential = payload.get("vc")
    if credential is None and "@context" in payload:
        credential = payload
    if not isinstance(credential, dict):
        raise Malformed("the JWT carries no credential (no vc claim)", code="credential_no_vc")
    return "vc-jwt", credential, problems


__all__ = ["ALGORITHMS", "CompactJws", "credential_of", "parse_compact", "verify_jws"]
