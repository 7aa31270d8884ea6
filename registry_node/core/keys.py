"""Signing keys of trust lists: generation, serialisation and RFC 7638 thumbprints.

Key material is handled by the JOSE library; this module never touches files (the key store
service does). A list signing key is Ed25519 (default) or P-256 (ES256); its ``kid`` is always its
RFC 7638 SHA-256 thumbprint, so the ``kid`` in a signature header names exactly one key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, JWKRegistry, OKPKey

from registry_node.core.errors import InvalidInput

SIGNING_ALGS = ("Ed25519", "ES256")

PublicKey = OKPKey | ECKey


@dataclass(frozen=True)
class SigningKey:
    """A private key able to sign lists, with its derived public identity."""

    alg: str
    key: PublicKey

    @property
    def kid(self) -> str:
        return self.key.thumbprint()

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.key, self.alg)

    def private_pem(self) -> bytes:
        return self.key.as_pem(private=True)


def generate(alg: str = "Ed25519") -> SigningKey:
    if alg == "Ed25519":
        return SigningKey(alg, OKPKey.generate_key("Ed25519", private=True))
    if alg == "ES256":
        return SigningKey(alg, ECKey.generate_key("P-256", private=True))
    raise InvalidInput(f"unsupported signing algorithm {alg!r}; use one of {SIGNING_ALGS}")


def load_private_pem(data: bytes, alg: str) -> SigningKey:
    key: PublicKey
    if alg == "Ed25519":
        key = OKPKey.import_key(data)
        if key.curve_name != "Ed25519":
            raise InvalidInput(f"key is {key.curve_name}, expected Ed25519")
    elif alg == "ES256":
        key = ECKey.import_key(data)
        if key.curve_name != "P-256":
            raise InvalidInput(f"key is {key.curve_name}, expected P-256")
    else:
        raise InvalidInput(f"unsupported signing algorithm {alg!r}")
    if not key.is_private:
        raise InvalidInput("the key file holds no private key")
    return SigningKey(alg, key)


def alg_for(key: PublicKey) -> str:
    if isinstance(key, OKPKey) and key.curve_name == "Ed25519":
        return "Ed25519"
    if isinstance(key, ECKey) and key.curve_name == "P-256":
        return "ES256"
    raise InvalidInput(f"{key.key_type} {getattr(key, 'curve_name', '')} cannot sign lists")


def public_jwk(key: PublicKey, alg: str | None = None) -> dict[str, Any]:
    """The public JWK with ``kid`` (thumbprint), ``alg`` and ``use``, as published in lists."""
    jwk: dict[str, Any] = dict(key.as_dict(private=False))
    for member in ("kid", "alg", "use", "key_ops"):
        jwk.pop(member, None)
    jwk["kid"] = key.thumbprint()
    jwk["alg"] = alg or alg_for(key)
    jwk["use"] = "sig"
    return jwk


#: The one length of each coordinate of a list signing key (RFC 8037; RFC 7518 6.2.1.2).
_COORDINATE_BYTES: dict[tuple[Any, Any], tuple[str, ...]] = {
    ("OKP", "Ed25519"): ("x",),
    ("EC", "P-256"): ("x", "y"),
}


def _check_canonical(jwk: dict[str, Any], key: PublicKey) -> None:
    """Refuse a JWK that is not its key's one canonical encoding: each coordinate exactly the
    curve's length in unpadded base64url, re-encoding to the same text. Two encodings of one
    key would have two thumbprints and so count twice towards a threshold."""
    names = _COORDINATE_BYTES.get((jwk.get("kty"), jwk.get("crv")), ())
    canonical = key.as_dict(private=False)
    for name in names:
        value = jwk.get(name)
        if not isinstance(value, str) or len(value) != 43 or value != canonical.get(name):
            raise InvalidInput(
                f"{name} is not the canonical encoding of a {jwk.get('crv')} coordinate "
                "(exactly 32 bytes, unpadded base64url)"
            )
    if jwk.get("kty") == "OKP" and "y" in jwk:
        raise InvalidInput("an OKP key has no y coordinate")


def import_public_jwk(jwk: dict[str, Any]) -> PublicKey:
    """Import a public JWK for list verification. Only Ed25519 and P-256 keys qualify, each in
    its one canonical encoding."""
    if any(m in jwk for m in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise InvalidInput("a private key member appears where a public key was expected")
    members = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")}
    try:
        key = JWKRegistry.import_key(members)
    except Exception as exc:
        raise InvalidInput(f"not a usable public JWK: {exc}") from exc
    if not isinstance(key, OKPKey | ECKey):
        raise InvalidInput("list signing keys must be OKP (Ed25519) or EC (P-256)")
    _check_canonical(members, key)
    alg = alg_for(key)
    if jwk.get("alg", alg) != alg:
        raise InvalidInput(f"alg {jwk['alg']!r} does not fit a {key.key_type} {key.curve_name} key")
    declared = jwk.get("kid")
    if declared is not None and declared != key.thumbprint():
        raise InvalidInput(f"kid {declared!r} is not the key's RFC 7638 thumbprint")
    return key


def thumbprint(jwk: dict[str, Any]) -> str:
    return import_public_jwk(jwk).thumbprint()
