"""The outcome of verifying one credential: named checks with stable reason codes.

A report holds no personal data of the credential subject: details name only the issuer id,
types, context URLs, key ids, proof positions and reason codes. The verdict is derived from the
checks, so a caller that adds a check of its own (for example whether the issuer is trusted in
the registry) with :meth:`CredentialReport.add` gets a verdict that accounts for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from registry_node.core.timeutil import format_rfc3339

Verdict = Literal["valid", "invalid"]

#: Names of the checks, in the order they appear in a report.
FORMAT = "format"
CONTEXTS = "contexts"
UNDEFINED_TERMS = "undefined_terms"
SIGNATURE = "signature"
ISSUER_BINDING = "issuer_binding"
DATES = "dates"

CHECK_ORDER = (FORMAT, CONTEXTS, UNDEFINED_TERMS, SIGNATURE, ISSUER_BINDING, DATES)


@dataclass(frozen=True, slots=True)
class Check:
    """One named check. ``code`` is stable (for programs); ``detail`` is for people."""

    name: str
    passed: bool
    code: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "code": self.code, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Signer:
    """The key that verified the credential's proof, and what vouches for it.

    ``did_key`` is true when the key is the one the issuer's own ``did:key`` names: it needs no
    pin. Otherwise ``sources`` names what supplied the key for the issuer: the labels of the
    key resolver's groups that hold that same key (for the node, the ids of the lists that pin
    it, or ``did_document`` for a key read from a resolved did:web document)."""

    method_id: str
    did_key: bool
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.method_id, "did_key": self.did_key, "sources": list(self.sources)}


@dataclass(slots=True)
class CredentialReport:
    """What verifying one credential found.

    ``format`` is ``vc-di`` (Data Integrity proof), ``vc+jwt`` (VC-JOSE-COSE) or ``vc-jwt``
    (the Open Badges 3.0 / VC 1.1 JWT form). ``children`` are the reports of the credentials a
    ClrCredential carries, each judged on its own: the verdict covers this credential only, and
    :attr:`all_valid` covers the children too. ``signer`` is the key that verified the proof
    (None when no key did); the ``issuer_binding`` check says whether it is the issuer's.
    """

    format: str
    issuer: str | None
    types: list[str]
    achievement_types: list[str]
    issued: datetime | None
    checks: list[Check]
    children: list[CredentialReport] = field(default_factory=list)
    signer: Signer | None = None

    @property
    def verdict(self) -> Verdict:
        return "valid" if self.checks and all(c.passed for c in self.checks) else "invalid"

    @property
    def all_valid(self) -> bool:
        """This credential and every credential it carries are valid."""
        return self.verdict == "valid" and all(child.all_valid for child in self.children)

    def check(self, name: str) -> Check | None:
        """The check called ``name``, if the report has one."""
        return next((c for c in self.checks if c.name == name), None)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def add(self, check: Check) -> None:
        """Append a check made by the caller (for example, the registry's trust decision)."""
        self.checks.append(check)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for an HTTP response or a command line."""
        return {
            "verdict": self.verdict,
            "format": self.format,
            "issuer": self.issuer,
            "types": list(self.types),
            "achievementTypes": list(self.achievement_types),
            "issued": format_rfc3339(self.issued) if self.issued is not None else None,
            "checks": [c.to_dict() for c in self.checks],
            "key": None if self.signer is None else self.signer.to_dict(),
            "children": [child.to_dict() for child in self.children],
        }


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
    "Signer",
    "Verdict",
]
