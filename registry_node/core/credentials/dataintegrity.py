"""Data Integrity proofs with Ed25519: the cryptosuites ``eddsa-rdfc-2022`` and
``eddsa-jcs-2022`` (W3C vc-di-eddsa) and the legacy ``Ed25519Signature2020`` suite.

All three sign ``sha256(canonical proof configuration) || sha256(canonical document)``: the proof
configuration is the proof without ``proofValue``; the document is the credential without
``proof``. RDF-based suites canonicalize with RDFC-1.0 after JSON-LD expansion from the pinned
contexts (the proof configuration takes the credential's ``@context``); ``eddsa-jcs-2022``
canonicalizes the JSON itself with RFC 8785 (JCS).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry_node.core import jsonout
from registry_node.core.credentials import contexts
from registry_node.core.credentials.dates import parse_datetime
from registry_node.core.credentials.keys import (
    KeyProblem,
    KeyResolver,
    ResolvedKey,
    multibase_decode,
    resolve_method,
)
from registry_node.core.credentials.report import ISSUER_BINDING, SIGNATURE, Check

EDDSA_RDFC = "eddsa-rdfc-2022"
EDDSA_JCS = "eddsa-jcs-2022"
ED25519_2020 = "Ed25519Signature2020"
SUITES = (EDDSA_RDFC, EDDSA_JCS, ED25519_2020)


class ProofFailure(Exception):
    """A proof that does not verify; ``code`` is the reason code of the signature check."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ProofOutcome:
    """The signature and issuer-binding checks of one proof, and the key that verified it."""

    index: int
    suite: str
    signature: Check
    binding: Check
    signer: ResolvedKey | None = None

    @property
    def passed(self) -> bool:
        return self.signature.passed and self.binding.passed


def suite_of(proof: Mapping[str, Any]) -> str:
    """The suite name of a proof: its cryptosuite, or the proof type for legacy suites."""
    if proof.get("type") == "DataIntegrityProof":
        return str(proof.get("cryptosuite", ""))
    return str(proof.get("type", ""))


def binding_not_checked(why: str) -> Check:
    """The issuer-binding check when no key verified the signature: binding is judged only on
    a key that did, so it is not run (and does not pass)."""
    return Check(ISSUER_BINDING, False, "not_checked", f"{why}: no key to bind to the issuer")


def binding_check(resolved: ResolvedKey, issuer: str) -> Check:
    """Is the key that verified the signature the issuer's? It is when it is the key the
    issuer's own did:key names, or when a source pins that key for the issuer (the code says
    whether the method's controller is the issuer too). A did:key that is not the issuer's, a
    key no source pins for the issuer, is not. Call it only with a key that verified the
    signature."""
    method_id = resolved.method_id
    if resolved.own:
        return Check(
            ISSUER_BINDING, True, "controller_is_issuer", f"{method_id} is the issuer's did:key"
        )
    if resolved.pinned and resolved.controller == issuer:
        return Check(ISSUER_BINDING, True, "controller_is_issuer", f"{method_id} is the issuer's")
    if resolved.pinned:
        return Check(
            ISSUER_BINDING,
            True,
            "key_pinned",
            f"{method_id} is pinned for issuer {issuer} by {', '.join(resolved.sources)}",
        )
    return Check(
        ISSUER_BINDING,
        False,
        "issuer_binding",
        f"{method_id} is controlled by {resolved.controller or 'an unknown party'}, not by issuer "
        f"{issuer}, and is not pinned for it",
    )


def _hash_rdfc(
    proof: Mapping[str, Any],
    credential: Mapping[str, Any],
    document_nquads: Callable[[], str],
) -> bytes:
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    config["@context"] = credential["@context"]
    try:
        expansion = contexts.expand(config)
        if not expansion.clean:
            names = expansion.dropped_terms + expansion.undefined_types
            if expansion.relative_ids:
                names.append("relative ids")
            raise ProofFailure(
                "proof_undefined_terms",
                "the proof uses terms its contexts do not define: " + ", ".join(names),
            )
        proof_nquads = contexts.canonize(expansion.expanded)
        doc_nquads = document_nquads()
    except contexts.JsonLdProblem as exc:
        # A context the node does not hold, or contexts the credential check could not process
        # (that check says why): the signature could not be checked, which proves nothing.
        undecided = exc.code in ("context_not_pinned", "not_checked")
        raise ProofFailure(exc.code if undecided else "not_canonicalizable", exc.detail) from None
    return (
        hashlib.sha256(proof_nquads.encode()).digest()
        + hashlib.sha256(doc_nquads.encode()).digest()
    )


_INT_MIN, _INT_MAX = -(2**53) + 1, 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_WIDE_OR_SURROGATE = re.compile("[\ud800-\udfff\U00010000-\U0010ffff]")


def _plain(value: Any) -> bool:
    """Is ``value`` JSON whose RFC 8785 form :mod:`jsonout` writes byte for byte: no
    floats, integers within the double-precision range, no surrogate code points, and no key
    whose UTF-16 order could differ from its code-point order?"""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if not item.isascii() and _SURROGATE.search(item):
                return False
        elif kind is dict:
            for key in item:
                if type(key) is not str or (not key.isascii() and _WIDE_OR_SURROGATE.search(key)):
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not _INT_MIN <= item <= _INT_MAX:
                return False
        elif item is not None and kind is not bool:
            return False
    return True


def jcs(value: Any) -> bytes:
    """The RFC 8785 (JCS) form of ``value``: written by :func:`jsonout.compact_sorted` when
    that gives the same bytes (:func:`_plain`), else by ``rfc8785``. Raises
    rfc8785.CanonicalizationError."""
    if _plain(value):
        return _dumps(value)
    return rfc8785.dumps(value)


def _dumps(value: Any) -> bytes:
    """The RFC 8785 form of a value :func:`_plain` accepts."""
    return jsonout.compact_sorted(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _hash_jcs(proof: Mapping[str, Any], credential: Mapping[str, Any]) -> bytes:
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    document = {k: v for k, v in credential.items() if k != "proof"}
    if "@context" in config:
        proof_context = _as_list(config["@context"])
        document_context = _as_list(credential["@context"])
        if document_context[: len(proof_context)] != proof_context:
            raise ProofFailure(
                "proof_context_mismatch",
                "the proof's @context is not a prefix of the credential's @context",
            )
        document["@context"] = config["@context"]
    try:
        if _plain(credential):  # then so are its parts
            return (
                hashlib.sha256(_dumps(config)).digest() + hashlib.sha256(_dumps(document)).digest()
            )
        return hashlib.sha256(jcs(config)).digest() + hashlib.sha256(jcs(document)).digest()
    except rfc8785.CanonicalizationError as exc:
        raise ProofFailure(
            "not_canonicalizable", f"JCS cannot canonicalize it: {type(exc).__name__}"
        ) from None


@dataclass(frozen=True)
class _ProofParts:
    suite: str
    method_id: str
    signature: bytes


def _read_proof(proof: Mapping[str, Any], now: datetime, clock_skew: timedelta) -> _ProofParts:
    """The parts of a proof that need no key. Raises ProofFailure."""
    suite = suite_of(proof)
    if suite not in SUITES:
        raise ProofFailure("unsupported_cryptosuite", f"proof suite {suite or '(none)'}")
    if proof.get("proofPurpose") != "assertionMethod":
        raise ProofFailure("wrong_proof_purpose", "proofPurpose must be assertionMethod")
    method_id = proof.get("verificationMethod")
    if not isinstance(method_id, str) or not method_id:
        raise ProofFailure("bad_proof", "the proof names no verificationMethod")
    try:
        signature = multibase_decode(proof.get("proofValue", ""))
    except ValueError:
        raise ProofFailure("bad_proof_value", "proofValue is not base58btc multibase") from None
    if len(signature) != 64:
        raise ProofFailure("bad_proof_value", "an Ed25519 signature is 64 bytes")
    expires = proof.get("expires")
    if expires is not None:
        instant = parse_datetime(expires) if isinstance(expires, str) else None
        if instant is None:
            raise ProofFailure("bad_proof", "the proof's expires is not a date-time")
        if now - clock_skew >= instant:
            raise ProofFailure("proof_expired", f"the proof expired at {expires}")
    return _ProofParts(suite, method_id, signature)


def _verify_signature(
    parts: _ProofParts,
    key: Ed25519PublicKey,
    proof: Mapping[str, Any],
    credential: Mapping[str, Any],
    document_nquads: Callable[[], str],
) -> None:
    if parts.suite == EDDSA_JCS:
        data = _hash_jcs(proof, credential)
    else:
        data = _hash_rdfc(proof, credential, document_nquads)
    try:
        key.verify(parts.signature, data)
    except InvalidSignature:
        raise ProofFailure(
            "bad_signature", f"the {parts.suite} signature does not verify"
        ) from None


def verify_proof(
    index: int,
    proof: Mapping[str, Any],
    credential: Mapping[str, Any],
    issuer: str,
    keys: KeyResolver,
    document_nquads: Callable[[], str],
    now: datetime,
    clock_skew: timedelta,
) -> ProofOutcome:
    """The signature and issuer-binding checks of one proof of ``credential``. Every key that
    may be the proof's verification method is tried; the binding is judged on the one that
    verified the signature, and not run when none did.

    ``document_nquads`` gives the canonical N-Quads of the credential without its proofs; it is
    called only for RDF-based suites, so the caller can compute it once for all proofs."""
    suite = suite_of(proof)
    try:
        parts = _read_proof(proof, now, clock_skew)
    except ProofFailure as exc:
        binding = binding_not_checked("the proof names no usable key")
        return ProofOutcome(index, suite, Check(SIGNATURE, False, exc.code, exc.detail), binding)
    try:
        candidates = resolve_method(parts.method_id, issuer, keys)
    except KeyProblem as exc:
        binding = binding_not_checked("no key was found for the proof")
        return ProofOutcome(index, suite, Check(SIGNATURE, False, exc.code, exc.detail), binding)
    fitting = [c for c in candidates if isinstance(c.key, Ed25519PublicKey)]
    if not fitting:
        failed = Check(SIGNATURE, False, "key_type_mismatch", f"{parts.method_id} is not Ed25519")
        return ProofOutcome(index, suite, failed, binding_not_checked("the key does not fit"))
    failure: ProofFailure | None = None
    for candidate in fitting:
        assert isinstance(candidate.key, Ed25519PublicKey)
        try:
            _verify_signature(parts, candidate.key, proof, credential, document_nquads)
        except ProofFailure as exc:
            failure = exc
            if exc.code != "bad_signature":
                break  # the data cannot be hashed: no other key would do better
            continue
        detail = f"{suite} proof by {parts.method_id}{key_origin(candidate)}"
        passed = Check(SIGNATURE, True, "signature_valid", detail)
        return ProofOutcome(index, suite, passed, binding_check(candidate, issuer), candidate)
    assert failure is not None
    failed = Check(SIGNATURE, False, failure.code, failure.detail)
    return ProofOutcome(index, suite, failed, binding_not_checked("the signature does not verify"))


def key_origin(key: ResolvedKey) -> str:
    """Where the key came from, for the signature's detail."""
    if key.own:
        return " (the key its did:key names)"
    if key.sources:
        return f" (key from {', '.join(key.sources)})"
    return ""


__all__ = [
    "ED25519_2020",
    "EDDSA_JCS",
    "EDDSA_RDFC",
    "SUITES",
    "ProofOutcome",
    "binding_check",
    "binding_not_checked",
    "key_origin",
    "suite_of",
    "verify_proof",
]
