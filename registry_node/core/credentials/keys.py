"""Public keys of credential issuers: did:key, multibase, JWK, and the keys a trust list pins.

Nothing is resolved over the network. A ``did:key`` carries its key in its name and is decoded
here; every other verification method (did:web, an https issuer profile, ...) is known only if
the caller's :class:`KeyResolver` pins it for the issuer.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

#: Multicodec prefixes (unsigned varints) of the public keys a did:key or a Multikey may hold.
ED25519_PUB = b"\xed\x01"
P256_PUB = b"\x80\x24"

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: index for index, char in enumerate(_B58_ALPHABET)}
_EC_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
MIN_RSA_BITS = 2048


class KeyProblem(Exception):
    """A key could not be found or read. ``code`` becomes the reason code of a failing check."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class KeyResolver(Protocol):
    """Where verification keys come from: the verification methods that the trust list pins for
    an issuer, shaped like DID verification methods (``id``, ``type``, and
    ``publicKeyMultibase`` or ``publicKeyJwk``)."""

    def pinned_methods(self, issuer: str) -> Sequence[Mapping[str, Any]]: ...


class PinnedKeys:
    """A :class:`KeyResolver` backed by a dict: issuer id -> verification methods."""

    def __init__(self, pins: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> None:
        self._pins: dict[str, list[Mapping[str, Any]]] = {
            issuer: list(methods) for issuer, methods in (pins or {}).items()
        }

    def pin(self, issuer: str, method: Mapping[str, Any]) -> None:
        self._pins.setdefault(issuer, []).append(method)

    def pinned_methods(self, issuer: str) -> Sequence[Mapping[str, Any]]:
        return list(self._pins.get(issuer, ()))


def b58decode(text: str) -> bytes:
    """Bitcoin base58 (the multibase ``z`` alphabet); leading ``1`` digits are zero bytes."""
    number = 0
    for char in text:
        digit = _B58_INDEX.get(char)
        if digit is None:
            raise ValueError("not base58btc")
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + body


def multibase_decode(value: str) -> bytes:
    """Decode a multibase string; only base58btc (prefix ``z``) is used by these key types."""
    if not isinstance(value, str) or not value.startswith("z") or len(value) < 2:
        raise ValueError("not a base58btc multibase value")
    return b58decode(value[1:])


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url (RFC 7515 section 2); any other character is an error."""
    if not isinstance(text, str) or any(c in text for c in "+/="):
        raise ValueError("not unpadded base64url")
    try:
        return base64.b64decode(
            text.translate(str.maketrans("-_", "+/")) + "=" * (-len(text) % 4), validate=True
        )
    except binascii.Error as exc:
        raise ValueError("not unpadded base64url") from exc


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def key_from_multikey(value: str) -> PublicKey:
    """A multibase, multicodec-prefixed public key (Multikey, Ed25519VerificationKey2020, or the
    method-specific id of a did:key): Ed25519 or compressed P-256."""
    try:
        raw = multibase_decode(value)
    except ValueError as exc:
        raise KeyProblem("bad_key", "publicKeyMultibase is not base58btc multibase") from exc
    if raw.startswith(ED25519_PUB) and len(raw) == 34:
        return Ed25519PublicKey.from_public_bytes(raw[2:])
    if raw.startswith(P256_PUB) and len(raw) == 35:
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw[2:])
        except ValueError as exc:
            raise KeyProblem("bad_key", "the P-256 point is not on the curve") from exc
    raise KeyProblem("unsupported_key_type", "only Ed25519 and P-256 multikeys are supported")


def key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """A public JWK: OKP Ed25519, EC P-256/384/521, or RSA of at least 2048 bits."""
    try:
        kty = jwk.get("kty")
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
        if kty == "EC" and jwk.get("crv") in _EC_CURVES:
            x = int.from_bytes(b64url_decode(jwk["x"]), "big")
            y = int.from_bytes(b64url_decode(jwk["y"]), "big")
            return ec.EllipticCurvePublicNumbers(x, y, _EC_CURVES[jwk["crv"]]).public_key()
        if kty == "RSA":
            n = int.from_bytes(b64url_decode(jwk["n"]), "big")
            e = int.from_bytes(b64url_decode(jwk["e"]), "big")
            if n.bit_length() < MIN_RSA_BITS:
                raise KeyProblem("weak_key", f"RSA keys need at least {MIN_RSA_BITS} bits")
            return rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyProblem("bad_key", "the JWK is not a valid public key") from exc
    raise KeyProblem("unsupported_key_type", f"JWK kty {kty!r} / crv {jwk.get('crv')!r}")


def key_from_method(method: Mapping[str, Any]) -> PublicKey:
    """The public key of a verification method (Multikey, Ed25519VerificationKey2020,
    JsonWebKey, JsonWebKey2020)."""
    if "publicKeyMultibase" in method:
        return key_from_multikey(method["publicKeyMultibase"])
    jwk = method.get("publicKeyJwk")
    if isinstance(jwk, Mapping):
        return key_from_jwk(jwk)
    raise KeyProblem("bad_key", "the verification method has no publicKeyMultibase or JWK")


def did_key_public_key(did: str) -> PublicKey:
    """Decode ``did:key:z...`` (the DID, without a fragment)."""
    if not did.startswith("did:key:"):
        raise KeyProblem("unknown_key", "not a did:key")
    return key_from_multikey(did.removeprefix("did:key:"))


def key_bytes(key: PublicKey) -> bytes:
    """A canonical encoding (SubjectPublicKeyInfo DER) to compare keys of any type."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def controller_of(method_id: str) -> str:
    """The controller named by a verification method id: the part before ``#``."""
    return method_id.split("#", 1)[0]


@dataclass(frozen=True)
class PinnedKey:
    method_id: str
    key: PublicKey
    jwk: Mapping[str, Any] | None


def pinned_keys(resolver: KeyResolver, issuer: str) -> list[PinnedKey]:
    """The readable keys pinned for ``issuer``. A pin that cannot be read is skipped: it can
    never verify anything, and the trust list validated it before it got here."""
    found = []
    for method in resolver.pinned_methods(issuer):
        try:
            key = key_from_method(method)
        except KeyProblem:
            continue
        jwk = method.get("publicKeyJwk")
        found.append(
            PinnedKey(str(method.get("id", "")), key, jwk if isinstance(jwk, Mapping) else None)
        )
    return found


def is_pinned(key: PublicKey, pins: Sequence[PinnedKey]) -> bool:
    wanted = key_bytes(key)
    return any(key_bytes(pin.key) == wanted for pin in pins)


@dataclass(frozen=True)
class ResolvedKey:
    """A key found for a verification method, and how it relates to the issuer."""

    method_id: str
    key: PublicKey
    controller: str
    pinned: bool


def resolve_method(method_id: str, issuer: str, resolver: KeyResolver) -> ResolvedKey:
    """The key of ``method_id``: decoded from a did:key, or else taken from the pins of the
    issuer by id. Raises KeyProblem(``unknown_key``) when neither applies."""
    pins = pinned_keys(resolver, issuer)
    controller = controller_of(method_id)
    if method_id.startswith("did:key:"):
        did, _, fragment = method_id.partition("#")
        if fragment and fragment != did.removeprefix("did:key:"):
            raise KeyProblem("unknown_key", f"{method_id} is not a key of {did}")
        key = did_key_public_key(did)
        return ResolvedKey(method_id, key, controller, is_pinned(key, pins))
    for pin in pins:
        if pin.method_id == method_id:
            return ResolvedKey(method_id, pin.key, controller, True)
    raise KeyProblem(
        "unknown_key", f"{method_id} is neither a did:key nor pinned for issuer {issuer}"
    )


__all__ = [
    "KeyProblem",
    "KeyResolver",
    "PinnedKey",
    "PinnedKeys",
    "PublicKey",
    "ResolvedKey",
    "b58decode",
    "b64url_decode",
    "b64url_encode",
    "controller_of",
    "did_key_public_key",
    "is_pinned",
    "key_bytes",
    "key_from_jwk",
    "key_from_method",
    "key_from_multikey",
    "multibase_decode",
    "pinned_keys",
    "resolve_method",
]
