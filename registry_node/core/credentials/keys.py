"""Public keys of credential issuers: did:key, multibase, JWK, and the keys a trust list pins.

Nothing is resolved over the network. A ``did:key`` carries its key in its name and is decoded
here; every other verification method (did:web, an https issuer profile, ...) is known only if
the caller's :class:`KeyResolver` pins it for the issuer.

Pins are grouped by the source that supplied them (for the node: the list that pins them), and
each key found says which sources hold it, so that the caller can rest its trust decision on
those sources only. A ``did:key`` issuer's key is the one its DID names: pins can add keys for
other issuers, but what a resolver pins for a ``did:key`` issuer is ignored.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

#: Multicodec prefixes (unsigned varints) of the public keys a did:key or a Multikey may hold.
ED25519_PUB = b"\xed\x01"
P256_PUB = b"\x80\x24"

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
#: byte -> its base58 digit, 0xff for a byte that is none
_B58_DIGITS = bytes(_B58_ALPHABET.find(chr(b)) % 256 for b in range(256))
_B58_FIVE = 58**5
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
    """Where verification keys come from: the verification methods pinned for an issuer, shaped
    like DID verification methods (``id``, ``type``, and ``publicKeyMultibase`` or
    ``publicKeyJwk``), grouped by the label of the source that pins them."""

    def pins(self, issuer: str) -> Mapping[str, Sequence[Mapping[str, Any]]]: ...


class PinnedKeys:
    """A :class:`KeyResolver` backed by a dict: issuer id -> verification methods, all from one
    source labelled ``source``; :meth:`pin` adds methods from other sources."""

    def __init__(
        self,
        pins: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        source: str = "pinned",
    ) -> None:
        self._pins: dict[str, dict[str, list[Mapping[str, Any]]]] = {
            issuer: {source: list(methods)} for issuer, methods in (pins or {}).items()
        }

    def pin(self, issuer: str, method: Mapping[str, Any], source: str = "pinned") -> None:
        self._pins.setdefault(issuer, {}).setdefault(source, []).append(method)

    def pins(self, issuer: str) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        return {source: list(methods) for source, methods in self._pins.get(issuer, {}).items()}


def b58decode(text: str) -> bytes:
    """Bitcoin base58 (the multibase ``z`` alphabet); leading ``1`` digits are zero bytes."""
    if not text.isascii():
        raise ValueError("not base58btc")
    digits = text.encode("ascii").translate(_B58_DIGITS)
    if b"\xff" in digits:
        raise ValueError("not base58btc")
    # Five digits at a time in small integers (58**5 < 2**30), then into the whole number.
    head = len(digits) % 5
    number = 0
    for digit in digits[:head]:
        number = number * 58 + digit
    for a, b, c, d, e in zip(*[iter(digits[head:])] * 5, strict=True):
        number = number * _B58_FIVE + ((((a * 58 + b) * 58 + c) * 58 + d) * 58 + e)
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


@lru_cache(maxsize=1024)
def key_from_multikey(value: str) -> PublicKey:
    """A multibase, multicodec-prefixed public key (Multikey, Ed25519VerificationKey2020, or the
    method-specific id of a did:key): Ed25519 or compressed P-256. Remembered: the same pinned
    keys come with every credential of an issuer (and the key objects are immutable)."""
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


@lru_cache(maxsize=1024)
def _multikey_material(value: str) -> bytes:
    return key_bytes(key_from_multikey(value))


def _material(method: Mapping[str, Any], key: PublicKey) -> bytes:
    """:func:`key_bytes` of ``method``'s key ``key``, remembered for a multikey (the same pins
    come with every credential of an issuer)."""
    value = method.get("publicKeyMultibase")
    return _multikey_material(value) if isinstance(value, str) else key_bytes(key)


def controller_of(method_id: str) -> str:
    """The controller named by a verification method id: the part before ``#``."""
    return method_id.split("#", 1)[0]


@dataclass(frozen=True)
class PinnedKey:
    """A key that may sign for an issuer. ``source`` is the label of the source that pins it,
    or None for the key a did:key issuer's DID names."""

    method_id: str
    key: PublicKey
    jwk: Mapping[str, Any] | None
    source: str | None
    #: :func:`key_bytes` of ``key``: two pins hold the same key when these are equal
    material: bytes


def issuer_keys(resolver: KeyResolver, issuer: str) -> list[PinnedKey]:
    """The keys that may sign for ``issuer``.

    For a ``did:key`` issuer, the key its DID names and nothing else: a pin cannot replace that
    key or add another one, so what the resolver pins for it is ignored. For any other issuer,
    the readable keys the resolver pins for it, each with its source. A pin that cannot be
    read is skipped: it can never verify anything, and the trust list validated it before it
    got here."""
    if issuer.startswith("did:key:"):
        did = issuer.split("#", 1)[0]
        try:
            key = did_key_public_key(did)
        except KeyProblem:
            return []
        material = _multikey_material(did.removeprefix("did:key:"))
        return [PinnedKey(f"{did}#{did.removeprefix('did:key:')}", key, None, None, material)]
    return _pinned_keys(resolver.pins(issuer))


def _pinned_keys(pins: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[PinnedKey]:
    found = []
    for source, methods in pins.items():
        for method in methods:
            try:
                key = key_from_method(method)
            except KeyProblem:
                continue
            jwk = method.get("publicKeyJwk")
            found.append(
                PinnedKey(
                    str(method.get("id", "")),
                    key,
                    jwk if isinstance(jwk, Mapping) else None,
                    source,
                    _material(method, key),
                )
            )
    return found


def is_pinned(key: PublicKey, pins: Sequence[PinnedKey]) -> bool:
    wanted = key_bytes(key)
    return any(pin.material == wanted for pin in pins)


@dataclass(frozen=True)
class ResolvedKey:
    """A key that may have signed for a verification method, and how it relates to the issuer:
    ``own`` when it is the key the issuer's did:key names, ``sources`` the labels of the
    sources that pin this same key (by key material, whatever id they give it) for the
    issuer."""

    method_id: str
    key: PublicKey
    controller: str
    own: bool
    sources: tuple[str, ...]

    @property
    def pinned(self) -> bool:
        return bool(self.sources)


def resolved_key(
    method_id: str,
    key: PublicKey,
    controller: str,
    pins: Sequence[PinnedKey],
    material: bytes | None = None,
) -> ResolvedKey:
    """``key`` (whose :func:`key_bytes` are ``material``, when known) as found for
    ``method_id``, with what ``pins`` say about it."""
    wanted = key_bytes(key) if material is None else material
    same = [pin for pin in pins if pin.material == wanted]
    sources = sorted({pin.source for pin in same if pin.source is not None})
    own = any(pin.source is None for pin in same)
    return ResolvedKey(method_id, key, controller, own, tuple(sources))


def distinct_keys(pins: Sequence[PinnedKey]) -> list[PinnedKey]:
    """The first pin of each distinct key, in order."""
    seen: set[bytes] = set()
    found = []
    for pin in pins:
        if pin.material not in seen:
            seen.add(pin.material)
            found.append(pin)
    return found


#: How many (pins, method id) answers of :func:`resolve_method` are kept; emptied when full.
RESOLVED_CACHE_SIZE = 4096
#: (identity of a read-only pins view, method id) -> (that view, the keys it gives the method).
#: The view is held with its answer, so its identity is not reused while the answer is kept.
_resolved: dict[tuple[int, str], tuple[Mapping[str, Any], tuple[ResolvedKey, ...]]] = {}


def resolve_method(method_id: str, issuer: str, resolver: KeyResolver) -> list[ResolvedKey]:
    """The keys that may be ``method_id``'s: the one a did:key decodes to, or else every
    distinct key the sources pin for the issuer under that id (two sources may pin different
    keys under one id; each is tried). Raises KeyProblem(``unknown_key``) when there is
    none.

    Pins a resolver hands out as a :class:`~types.MappingProxyType` are taken to be unchanging
    (the node's trust index shares one view per issuer until its sources change): what they
    give a method id is worked out once and kept."""
    if issuer.startswith("did:key:"):
        return _resolve(method_id, issuer, issuer_keys(resolver, issuer))
    pins = resolver.pins(issuer)
    if type(pins) is not MappingProxyType:
        return _resolve(method_id, issuer, _pinned_keys(pins))
    memo = (id(pins), method_id)
    held = _resolved.get(memo)
    if held is None:
        found = tuple(_resolve(method_id, issuer, _pinned_keys(pins)))
        if len(_resolved) >= RESOLVED_CACHE_SIZE:
            _resolved.clear()
        held = _resolved[memo] = (pins, found)
    return list(held[1])


def _resolve(method_id: str, issuer: str, pins: list[PinnedKey]) -> list[ResolvedKey]:
    controller = controller_of(method_id)
    if method_id.startswith("did:key:"):
        did, _, fragment = method_id.partition("#")
        if fragment and fragment != did.removeprefix("did:key:"):
            raise KeyProblem("unknown_key", f"{method_id} is not a key of {did}")
        return [resolved_key(method_id, did_key_public_key(did), controller, pins)]
    named = distinct_keys([pin for pin in pins if pin.method_id == method_id])
    if not named:
        raise KeyProblem(
            "unknown_key", f"{method_id} is neither a did:key nor pinned for issuer {issuer}"
        )
    return [resolved_key(method_id, pin.key, controller, pins, pin.material) for pin in named]


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
    "distinct_keys",
    "is_pinned",
    "issuer_keys",
    "key_bytes",
    "key_from_jwk",
    "key_from_method",
    "key_from_multikey",
    "multibase_decode",
    "resolve_method",
    "resolved_key",
]
