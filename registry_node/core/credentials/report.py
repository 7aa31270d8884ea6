"""The outcome of verifying one credential: named checks with stable reason codes.

A report holds no personal data of the credential subject: details name only the issuer id,
types, context URLs, key ids, proof positions and reason codes. The verdict is derived from the
checks, so a caller that adds a check of its own (for example whether the issuer is trusted in
the registry) with :meth:`CredentialReport.add` gets a verdict that accounts for it.

Three verdicts, as signature validators give (docs/adr/0018): ``valid`` when every required
check passed; ``invalid`` when a check found something proven wrong (a forged signature, a
revoked credential, an expired one, a key that is not the issuer's); ``indeterminate`` when
something could not be established (a key, a context, the status, the issuer's standing). Each
check has an ``outcome``; a failing code is ``indeterminate`` when it is one of
:data:`INDETERMINATE_CODES`, else ``failed``, unless the check says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from registry_node.core.timeutil import format_rfc3339

Verdict = Literal["valid", "invalid", "indeterminate"]
Outcome = Literal["passed", "failed", "indeterminate"]
VALID: Verdict = "valid"
INVALID: Verdict = "invalid"
INDETERMINATE: Verdict = "indeterminate"

#: Names of the checks, in the order they appear in a report.
FORMAT = "format"
CONTEXTS = "contexts"
UNDEFINED_TERMS = "undefined_terms"
SIGNATURE = "signature"
ISSUER_BINDING = "issuer_binding"
DATES = "dates"
STATUS = "status"

CHECK_ORDER = (FORMAT, CONTEXTS, UNDEFINED_TERMS, SIGNATURE, ISSUER_BINDING, DATES, STATUS)

#: Failing codes that mean "could not be established", not "proven wrong": the check's outcome
#: is ``indeterminate``. Everything else that fails is ``failed`` (fail closed: neither is
#: ever valid).
INDETERMINATE_CODES = frozenset(
    {
        # contexts: a context the node does not hold is never fetched
        "context_not_pinned",
        # a check that could not run because an earlier one could not
        "not_checked",
        # signature: no key of the issuer is known, or the proof's kind cannot be checked
        "unknown_key",
        "header_jwk_not_pinned",
        "unsupported_cryptosuite",
        "unsupported_alg",
        "unsupported_key_type",
        "weak_key",
        # trust: no key bound to the issuer verified the proof
        "no_verified_key",
        # status (core/credentials/status.py)
        "status_unsupported",
        "status_not_checked",
        "status_list_unavailable",
        "status_origin_not_allowed",
        "status_list_invalid",
        "status_list_issuer_mismatch",
        "status_list_expired",
        "status_list_stale",
        "status_list_malformed",
        "status_list_unsigned",
        "status_purpose_mismatch",
        "status_index_out_of_range",
    }
)

#: The roles of a credential in a report tree: the one submitted, an endorsement of it (or of
#: its issuer or achievement), or a credential a ClrCredential carries.
ROLE_CREDENTIAL = "credential"
ROLE_ENDORSEMENT = "endorsement"
ROLE_NESTED = "nested"


@dataclass(frozen=True, slots=True)
class Check:
    """One named check. ``code`` is stable (for programs); ``detail`` is for people.
    ``outcome`` is ``passed`` exactly when ``passed``; for a check that does not pass it is
    given, or else ``indeterminate`` for a code of :data:`INDETERMINATE_CODES` and ``failed``
    for any other."""

    name: str
    passed: bool
    code: str
    detail: str
    outcome: Outcome | None = None

    def __post_init__(self) -> None:
        if self.passed:
            if self.outcome not in (None, "passed"):
                raise ValueError("a passed check has outcome passed")
            object.__setattr__(self, "outcome", "passed")
        elif self.outcome is None:
            found: Outcome = "indeterminate" if self.code in INDETERMINATE_CODES else "failed"
            object.__setattr__(self, "outcome", found)
        elif self.outcome == "passed":
            raise ValueError("a check that did not pass cannot have outcome passed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "outcome": self.outcome,
            "code": self.code,
            "detail": self.detail,
        }


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
    ClrCredential carries and the endorsements it embeds, each judged on its own (``role``
    says which): the verdict covers this credential only, and :attr:`all_valid` covers the
    children too. ``signer`` is the key that verified the proof (None when no key did); the
    ``issuer_binding`` check says whether it is the issuer's. ``required`` names the checks
    without which the verdict cannot be ``valid`` (a caller that adds checks of its own adds
    their names); ``skipped`` counts embedded credentials left unverified by the bound on work,
    and ``status_entries`` reports each ``credentialStatus`` entry.
    """

    format: str
    issuer: str | None
    types: list[str]
    achievement_types: list[str]
    issued: datetime | None
    checks: list[Check]
    children: list[CredentialReport] = field(default_factory=list)
    signer: Signer | None = None
    role: str = ROLE_CREDENTIAL
    required: tuple[str, ...] = CHECK_ORDER
    skipped: int = 0
    status_entries: list[dict[str, Any]] = field(default_factory=list)
    #: The credential claims an achievement of no type: one of its achievements names no
    #: ``achievementType``, or (other than a ClrCredential) it has no achievement at all. An
    #: authorisation narrowed to achievement types does not cover it.
    untyped_achievement: bool = False

    @property
    def verdict(self) -> Verdict:
        """``invalid`` when any check failed; else ``indeterminate`` when any check is
        indeterminate or a required check is missing (an empty or partial set of checks is
        never valid); else ``valid``."""
        outcomes = [c.outcome for c in self.checks]
        if "failed" in outcomes:
            return INVALID
        names = {c.name for c in self.checks}
        if not self.checks or "indeterminate" in outcomes or not names.issuperset(self.required):
            return INDETERMINATE
        return VALID

    @property
    def all_valid(self) -> bool:
        """This credential and every credential it carries are valid (and none was skipped)."""
        return (
            self.verdict == VALID
            and not self.skipped
            and all(child.all_valid for child in self.children)
        )

    def check(self, name: str) -> Check | None:
        """The check called ``name``, if the report has one."""
        return next((c for c in self.checks if c.name == name), None)

    def failed(self) -> list[Check]:
        """The checks that did not pass (failed or indeterminate)."""
        return [c for c in self.checks if not c.passed]

    def add(self, check: Check) -> None:
        """Append a check made by the caller (for example, the registry's trust decision)."""
        self.checks.append(check)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for an HTTP response or a command line."""
        return {
            "verdict": self.verdict,
            "role": self.role,
            "all_valid": self.all_valid,
            "format": self.format,
            "issuer": self.issuer,
            "types": list(self.types),
            "achievementTypes": list(self.achievement_types),
            "issued": format_rfc3339(self.issued) if self.issued is not None else None,
            "checks": [c.to_dict() for c in self.checks],
            "key": None if self.signer is None else self.signer.to_dict(),
            "status": [dict(e) for e in self.status_entries],
            "children": [child.to_dict() for child in self.children],
            "skipped": self.skipped,
        }


__all__ = [
    "CHECK_ORDER",
    "CONTEXTS",
    "DATES",
    "FORMAT",
    "INDETERMINATE",
    "INDETERMINATE_CODES",
    "INVALID",
    "ISSUER_BINDING",
    "ROLE_CREDENTIAL",
    "ROLE_ENDORSEMENT",
    "ROLE_NESTED",
    "SIGNATURE",
    "STATUS",
    "UNDEFINED_TERMS",
    "VALID",
    "Check",
    "CredentialReport",
    "Outcome",
    "Signer",
    "Verdict",
]
