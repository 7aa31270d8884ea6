"""Signed receipts as tokens (docs/protocol.md section 11.3; docs/adr/0013).

A receipt is a JWS Compact Serialization whose payload is the node's answer. It is meant to be
checked by anyone with an ordinary JOSE library and the node's ``/jwks.json``, so its header
names the algorithm as those libraries expect it: ``EdDSA`` for an Ed25519 key (RFC 8037; the
name PyJWT, jwcrypto and ``jose`` all accept, where RFC 9864's ``Ed25519`` is not yet known to
all of them), ``ES256`` for a P-256 key. Lists keep ``Ed25519`` (section 2.1).

:func:`check` is the node's own check of a receipt, with a set of keys the caller trusts: the
header is exactly ``alg``, ``kid`` and ``typ``; the key the ``kid`` names verifies the
signature; a retired key (its JWK marked with ``exp``) vouches only for receipts signed before
it was retired.
"""

from __future__ import annotations

import binascii
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from registry_node.core import strictjson
from registry_node.core.errors import InvalidInput, Rejected
from registry_node.core.keys import PublicKey, SigningKey, alg_for, import_public_jwk
from registry_node.core.model import b64url_decode
from registry_node.core.strictjson import StrictJSONError

TYP = "ler-trust-answer+jwt"
MEDIA_TYPE = "application/jwt"
#: The ``alg`` a receipt carries for each list signing algorithm.
RECEIPT_ALG = {"Ed25519": "EdDSA", "ES256": "ES256"}
#: What :func:`check` accepts: both names of an Ed25519 signature, and ES256.
ACCEPTED_ALGS = {"EdDSA": "Ed25519", "Ed25519": "Ed25519", "ES256": "ES256"}
CLAIMS = ("iss", "sub", "iat", "exp", "answer")


def sign(payload: bytes, signer: SigningKey) -> str:
    """The receipt token for ``payload``, signed by the node's list key ``signer``."""
    alg = RECEIPT_ALG[signer.alg]
    header = {"alg": alg, "kid": signer.kid, "typ": TYP}
    with warnings.catch_warnings():
        # EdDSA is chosen on purpose, for the libraries verifiers have (docs/adr/0013).
        warnings.simplefilter("ignore")
        return jws.serialize_compact(header, payload, signer.key, algorithms=[alg])


@dataclass(frozen=True)
class TrustedKey:
    """A key a receipt may be checked with; ``exp``: the instant its signing ended, if it has."""

    key: PublicKey
    exp: int | None = None


def trusted_keys(jwks: Mapping[str, Any], where: str) -> dict[str, TrustedKey]:
    """The usable keys of a JWK Set such as ``/jwks.json`` (kid -> key). Raises InvalidInput."""
    members = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(members, list):
        raise InvalidInput(f"{where}: keys: not a JWK Set", field="keys")
    out: dict[str, TrustedKey] = {}
    for i, jwk in enumerate(members):
        if not isinstance(jwk, dict):
            raise InvalidInput(f"{where}: keys[{i}]: not a JWK", field=f"keys[{i}]")
        try:
            key = import_public_jwk(jwk)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: keys[{i}]: {exc.detail}", field=f"keys[{i}]") from None
        exp = jwk.get("exp")
        if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool)):
            raise InvalidInput(f"{where}: keys[{i}].exp: not a NumericDate", field=f"keys[{i}]")
        out[key.thumbprint()] = TrustedKey(key, exp)
    return out


@dataclass(frozen=True)
class Receipt:
    header: dict[str, Any]
    claims: dict[str, Any]


def _refused(why: str, code: str = "receipt_malformed") -> Rejected:
    return Rejected(why, code=code)


def check(token: str, keys: Mapping[str, TrustedKey]) -> Receipt:
    """Verify ``token`` with ``keys`` and return its header and claims. Raises Rejected.

    The claims' ``exp`` is not judged here: a kept receipt shows what the node answered at
    ``iat``; whether that answer may still be relied on is the caller's question."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise _refused("not a JWS Compact Serialization (three base64url parts)")
    try:
        header = strictjson.loads(b64url_decode(parts[0]))
        payload = b64url_decode(parts[1])
        b64url_decode(parts[2])
    except (ValueError, binascii.Error, StrictJSONError) as exc:
        raise _refused(f"not base64url JSON: {exc}") from None
    if not isinstance(header, dict) or set(header) != {"alg", "kid", "typ"}:
        got = sorted(header) if isinstance(header, dict) else type(header).__name__
        why = f"the header must hold exactly alg, kid and typ, got {got}"
        raise _refused(why, "header_unexpected")
    if header["typ"] != TYP:
        raise _refused(f"typ {header['typ']!r} is not {TYP!r}", "typ_mismatch")
    alg = header["alg"]
    if alg not in ACCEPTED_ALGS:
        raise _refused(f"alg {alg!r} is not one of {sorted(ACCEPTED_ALGS)}", "alg_not_allowed")
    trusted = keys.get(header["kid"]) if isinstance(header["kid"], str) else None
    if trusted is None:
        raise _refused(f"kid {header['kid']!r} names no key trusted for the node", "unknown_key")
    key = trusted.key

    if alg_for(key) != ACCEPTED_ALGS[alg]:
        raise _refused(f"alg {alg!r} does not fit the key {header['kid']}", "alg_key_mismatch")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EdDSA, on purpose (docs/adr/0013)
            jws.deserialize_compact(token.strip(), key, algorithms=[alg])
    except (JoseError, ValueError) as exc:
        why = f"the signature does not verify ({type(exc).__name__})"
        raise _refused(why, "signature_invalid") from None
    try:
        claims = strictjson.loads(payload)
    except StrictJSONError as exc:
        raise _refused(f"the payload is not JSON: {exc}") from None
    if not isinstance(claims, dict) or any(c not in claims for c in CLAIMS):
        raise _refused(f"the payload must hold {', '.join(CLAIMS)}")
    iat = claims["iat"]
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise _refused("iat is not a NumericDate")
    if trusted.exp is not None and iat > trusted.exp:
        raise _refused(
            f"signed at {iat}, after its key {header['kid']} was retired at {trusted.exp}",
            "key_retired",
        )
    return Receipt(dict(header), claims)


__all__ = [
    "ACCEPTED_ALGS",
    "MEDIA_TYPE",
    "RECEIPT_ALG",
    "TYP",
    "Receipt",
    "TrustedKey",
    "check",
    "sign",
    "trusted_keys",
]
