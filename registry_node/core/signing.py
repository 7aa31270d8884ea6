"""JWS General JSON Serialization of trust lists (RFC 7515 section 7.2.1).

Signing and verification go through the JOSE library. Verification is per signature, so that a
list with several signatures can be judged against a threshold of distinct trusted keys
(docs/protocol.md section 4): a signature by an unknown key does not spoil the others.
"""

from __future__ import annotations

import binascii
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from joserfc.jws import JWSRegistry

from registry_node.core import strictjson
from registry_node.core.errors import Rejected
from registry_node.core.keys import PublicKey, SigningKey
from registry_node.core.model import b64url_decode, canonical_json
from registry_node.core.strictjson import StrictJSONError

TYP = "ler-trust-list+json"
MEDIA_TYPE = "application/jose+json"
#: ``EdDSA`` is accepted from older signers with an Ed25519 key (RFC 9864 deprecates it).
ACCEPTED_ALGS = ("Ed25519", "ES256", "EdDSA")
MAX_SIGNATURES = 16
#: The JOSE library refuses payloads over 128 kB by default; lists are far larger. Sizes are
#: bounded before a body reaches this module (the fetch limit, the admin body limit).
MAX_PAYLOAD_BYTES = 1 << 30


def _registry(alg: str) -> JWSRegistry:
    registry = JWSRegistry(algorithms=[alg])
    registry.max_payload_length = MAX_PAYLOAD_BYTES
    return registry


def sign_list(payload: bytes, signers: Sequence[SigningKey]) -> bytes:
    """Sign ``payload`` with every key in ``signers``; return the deterministic JWS body."""
    if not signers:
        raise ValueError("at least one signing key is required")
    if len({s.kid for s in signers}) != len(signers):
        raise ValueError("signing keys must be distinct")
    by_kid = {s.kid: s for s in signers}
    members: list[Any] = [{"protected": {"alg": s.alg, "kid": s.kid, "typ": TYP}} for s in signers]

    def find_key(obj: Any) -> PublicKey:
        return by_kid[obj.headers()["kid"]].key

    value = jws.serialize_json(members, payload, find_key, algorithms=[s.alg for s in signers])
    return canonical_json(value)


@dataclass(frozen=True)
class SignatureMember:
    header: dict[str, Any]
    protected_b64: str
    signature_b64: str

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


@dataclass(frozen=True)
class ParsedList:
    """A JWS body split into its parts; nothing about it is trusted yet."""

    payload_b64: str
    payload: bytes
    signatures: tuple[SignatureMember, ...]


def sign_compact(payload: bytes, signer: SigningKey, typ: str) -> str:
    """A JWS Compact Serialization of ``payload`` (RFC 7515 section 7.1) under the list key's
    own algorithm name, as the keys published with it carry it: the OpenID Federation
    statements of section 14. Receipts name theirs for older libraries (core/receipts.py)."""
    header = {"alg": signer.alg, "kid": signer.kid, "typ": typ}
    return jws.serialize_compact(header, payload, signer.key, algorithms=[signer.alg])


def parse_jws(body: bytes) -> ParsedList:
    """Parse a JWS General JSON Serialization strictly. Raises Rejected(``jws_malformed``)."""

    def bad(why: str) -> Rejected:
        return Rejected(f"not a JWS in General JSON Serialization: {why}", code="jws_malformed")

    try:
        doc = strictjson.loads(body)  # UTF-8 only, I-JSON (docs/protocol.md section 2.4)
    except StrictJSONError as exc:
        raise Rejected(f"body is not JSON: {exc}", code="not_json") from exc
    if not isinstance(doc, dict):
        raise bad("the body is not a JSON object")
    if set(doc) != {"payload", "signatures"}:
        raise bad(f"expected exactly 'payload' and 'signatures', got {sorted(doc)}")
    payload_b64, sigs = doc["payload"], doc["signatures"]
    if not isinstance(payload_b64, str) or not isinstance(sigs, list):
        raise bad("'payload' must be a string and 'signatures' an array")
    if not 1 <= len(sigs) <= MAX_SIGNATURES:
        raise bad(f"between 1 and {MAX_SIGNATURES} signatures are allowed, got {len(sigs)}")
    try:
        payload = b64url_decode(payload_b64)
    except (ValueError, binascii.Error) as exc:
        raise bad("'payload' is not base64url") from exc
    members = []
    for index, sig in enumerate(sigs):
        if not isinstance(sig, dict) or set(sig) != {"protected", "signature"}:
            raise bad(f"signatures[{index}] must hold exactly 'protected' and 'signature'")
        protected, signature = sig["protected"], sig["signature"]
        if not isinstance(protected, str) or not isinstance(signature, str):
            raise bad(f"signatures[{index}] members must be strings")
        try:
            header = strictjson.loads(b64url_decode(protected))
            b64url_decode(signature)
        except (ValueError, binascii.Error) as exc:
            raise bad(f"signatures[{index}] is not base64url JSON") from exc
        if not isinstance(header, dict):
            raise bad(f"signatures[{index}].protected is not a JSON object")
        members.append(SignatureMember(header, protected, signature))
    return ParsedList(payload_b64, payload, tuple(members))


@dataclass
class SignatureReport:
    """Which distinct trusted keys verified, and why the other signatures did not count."""

    verified: set[str] = field(default_factory=set)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (code, detail)


def _alg_fits(alg: str, key: PublicKey) -> bool:
    if alg in ("Ed25519", "EdDSA"):
        return isinstance(key, OKPKey) and key.curve_name == "Ed25519"
    if alg == "ES256":
        return isinstance(key, ECKey) and key.curve_name == "P-256"
    return False


def verify_signatures(parsed: ParsedList, trusted: Mapping[str, PublicKey]) -> SignatureReport:
    """Verify each signature against the trusted keys (kid -> key) on its own."""
    report = SignatureReport()
    for index, member in enumerate(parsed.signatures):
        header = member.header
        where = f"signatures[{index}]"
        alg, kid = header.get("alg"), member.kid
        if header.get("typ") != TYP:
            report.problems.append(("typ_mismatch", f"{where}: typ {header.get('typ')!r}"))
            continue
        if alg not in ACCEPTED_ALGS:
            report.problems.append(("alg_not_allowed", f"{where}: alg {alg!r}"))
            continue
        if set(header) - {"alg", "kid", "typ"}:
            extra = sorted(set(header) - {"alg", "kid", "typ"})
            report.problems.append(("header_unexpected", f"{where}: unexpected {extra}"))
            continue
        if kid is None or kid not in trusted:
            report.problems.append(("unknown_key", f"{where}: kid {kid!r} is not trusted"))
            continue
        key = trusted[kid]
        if not _alg_fits(str(alg), key):
            report.problems.append(("alg_key_mismatch", f"{where}: alg {alg!r} with this key"))
            continue
        flattened: Any = {
            "payload": parsed.payload_b64,
            "protected": member.protected_b64,
            "signature": member.signature_b64,
        }
        try:
            with warnings.catch_warnings():
                # EdDSA is accepted on purpose, for older signers (docs/protocol.md section 2).
                warnings.simplefilter("ignore")
                jws.deserialize_json(flattened, key, registry=_registry(str(alg)))
        except (JoseError, ValueError) as exc:
            report.problems.append(("signature_invalid", f"{where}: {type(exc).__name__}"))
            continue
        # A kid is its key's thumbprint and keys are refused unless canonically encoded
        # (core/keys.py), so distinct kids are distinct keys.
        report.verified.add(kid)
    return report


__all__ = [
    "ACCEPTED_ALGS",
    "MEDIA_TYPE",
    "TYP",
    "ParsedList",
    "SignatureReport",
    "parse_jws",
    "sign_list",
    "verify_signatures",
]
