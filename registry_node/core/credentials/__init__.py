"""Offline verification of one Verifiable Credential (no HTTP, no database, no network).

``verify_credential`` takes a credential with Data Integrity proofs (``eddsa-rdfc-2022``,
``eddsa-jcs-2022``, ``Ed25519Signature2020``) or a compact JWS (VC-JOSE-COSE ``vc+jwt``, or the
Open Badges 3.0 VC-JWT form) and returns a :class:`CredentialReport` of named checks. Keys come
from ``did:key`` identifiers and from the verification methods the caller pins per issuer,
grouped by source (:class:`KeyResolver`, e.g. :class:`PinnedKeys`); the report's
:class:`Signer` names the key that verified and the sources that hold it. JSON-LD contexts come
only from the pinned copies shipped in ``contexts/``.
"""

from __future__ import annotations

from registry_node.core.credentials.keys import KeyResolver, PinnedKeys
from registry_node.core.credentials.report import (
    CHECK_ORDER,
    CONTEXTS,
    DATES,
    FORMAT,
    ISSUER_BINDING,
    SIGNATURE,
    UNDEFINED_TERMS,
    Check,
    CredentialReport,
    Signer,
    Verdict,
)
from registry_node.core.credentials.verify import verify_credential

__all__ = [
    "CHECK_ORDER",
    "CONTEXTS",
    "DATES",
    "FORMAT",
    "ISSUER_BINDING",
    "SIGNATURE",
    "UNDEFINED_TERMS",
    "Check",
    "CredentialReport",
    "KeyResolver",
    "PinnedKeys",
    "Signer",
    "Verdict",
    "verify_credential",
]
