"""Verify one Verifiable Credential offline and report named checks.

The checks, in order: ``format`` (what kind of credential, and whether its envelope is
well-formed), ``contexts`` (every JSON-LD context is pinned and processes), ``undefined_terms``
(nothing is silently dropped by JSON-LD), ``signature``, ``issuer_binding`` (the key that
verified the signature is the issuer's; not run when no key did) and ``dates`` (the validity
period). The report names the key that verified the signature and the sources that supplied it
(:class:`~registry_node.core.credentials.report.Signer`), so that the caller can rest its
decision on whether the issuer is trusted on those sources.

A credential that cannot be read at all raises :class:`~registry_node.core.errors.Malformed`
with a stable code: ``credential_not_object``, ``credential_bad_jws``, ``credential_no_vc``,
``credential_no_context``, ``credential_no_type``, ``credential_no_issuer``,
``credential_bad_subject``, ``credential_no_proof``, ``credential_bad_proof``,
``credential_bad_date`` or ``credential_too_deep``.

Then ``status`` (core/credentials/status.py): every ``credentialStatus`` entry judged against
the status lists the caller holds. The credentials a credential embeds are verified the same
way, each as a child of its report with its role: ``nested`` for those a ClrCredential carries
(``credentialSubject.verifiableCredential``), ``endorsement`` for the Open Badges 3.0
endorsements of the credential, of its issuer profile and of its achievement (``endorsement``
and ``endorsementJwt``); at most :data:`MAX_EMBEDDED` in a whole tree, to :data:`MAX_DEPTH`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from registry_node.core.credentials import contexts, dataintegrity, jose, status
from registry_node.core.credentials.dates import Validity, dates_check, validity
from registry_node.core.credentials.keys import KeyResolver, ResolvedKey
from registry_node.core.credentials.report import (
    CONTEXTS,
    FORMAT,
    ROLE_ENDORSEMENT,
    ROLE_NESTED,
    UNDEFINED_TERMS,
    Check,
    CredentialReport,
    Signer,
)
from registry_node.core.credentials.status import StatusListCopy
from registry_node.core.errors import Malformed

#: How deep ClrCredentials may nest inside each other and still have their children verified.
MAX_DEPTH = 3
#: How deeply JSON values may nest in a credential; real ones stay far below this, and the
#: JSON-LD processing is recursive.
MAX_NESTING = 64
#: How many embedded credentials (nested and endorsements, at every depth) one verification
#: checks; the rest are counted as ``skipped`` (and the tree is then not ``all_valid``).
MAX_EMBEDDED = 32
CLR_TYPE = "ClrCredential"
#: JSON objects, for ``isinstance``: parsed JSON gives dicts, tested first (an ABC's test costs
#: far more), and any other Mapping is one too.
JSON_OBJECTS = (dict, Mapping)
#: How long a status list copy may be used when the caller gives no bound.
DEFAULT_STATUS_MAX_AGE = timedelta(hours=24)


@dataclass
class _Run:
    """What one verification shares across the whole tree."""

    keys: KeyResolver
    now: datetime
    skew: timedelta
    status_lists: Mapping[str, StatusListCopy] | None
    status_max_age: timedelta
    budget: int = MAX_EMBEDDED
    #: status list reports by the identity of the list document: each list is verified once
    #: per verification, however many entries name it
    list_reports: dict[int, CredentialReport] = field(default_factory=dict)


@dataclass(frozen=True)
class _Shape:
    """The members of a credential that the report names (none of them personal data)."""

    issuer: str
    types: list[str]
    achievement_types: list[str]
    subjects: list[Mapping[str, Any]]
    #: an achievement of the credential names no type (see _shape)
    untyped_achievement: bool = False


def _shape(credential: Mapping[str, Any], issuer_fallback: str | None = None) -> _Shape:
    context = credential.get("@context")
    if not (isinstance(context, str | dict) or (isinstance(context, list) and context)):
        raise Malformed("the credential has no @context", code="credential_no_context")
    types = credential.get("type")
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        raise Malformed("type must be a string or a list of strings", code="credential_no_type")
    issuer = credential.get("issuer", issuer_fallback)
    if isinstance(issuer, JSON_OBJECTS):
        issuer = issuer.get("id")
    if not isinstance(issuer, str) or not issuer:
        raise Malformed("the credential names no issuer id", code="credential_no_issuer")
    subject = credential.get("credentialSubject")
    subjects = [] if subject is None else subject if isinstance(subject, list) else [subject]
    if not all(isinstance(s, JSON_OBJECTS) for s in subjects):
        raise Malformed("credentialSubject must be an object", code="credential_bad_subject")
    achievement_types: list[str] = []
    achievements = 0
    untyped = False
    for item in subjects:
        value = item.get("achievement")
        for achievement in value if isinstance(value, list) else [value]:
            if not isinstance(achievement, JSON_OBJECTS):
                continue
            achievements += 1
            named = achievement.get("achievementType")
            given = named if isinstance(named, list) else [named]
            names = [n for n in given if isinstance(n, str) and n]
            untyped = untyped or not names
            achievement_types += [n for n in names if n not in achievement_types]
    # A ClrCredential's achievements are those of the credentials it carries, each judged on
    # its own; any other credential claims an achievement of no type when one of its
    # achievements names none, or when it has no achievement at all.
    if CLR_TYPE in types:
        untyped = False
    elif not achievements:
        untyped = True
    return _Shape(issuer, list(types), achievement_types, subjects, untyped)


def _shape_problems(credential: Mapping[str, Any], shape: _Shape) -> list[Check]:
    problems = []
    if "VerifiableCredential" not in shape.types:
        problems.append(Check(FORMAT, False, "not_a_credential", "type lacks VerifiableCredential"))
    if not shape.subjects:
        problems.append(Check(FORMAT, False, "no_credential_subject", "no credentialSubject"))
    return problems


def _format_check(problems: list[Check], code: str, detail: str) -> Check:
    if not problems:
        return Check(FORMAT, True, code, detail)
    return Check(FORMAT, False, problems[0].code, "; ".join(p.detail for p in problems))


#: the undefined-terms check when the contexts could not be processed (a Check is immutable)
_NOT_CHECKED = Check(UNDEFINED_TERMS, False, "not_checked", "the contexts could not be processed")
_ALL_DEFINED = Check(UNDEFINED_TERMS, True, "all_terms_defined", "every term is defined")


def _context_checks(
    document: Mapping[str, Any], whole: Mapping[str, Any]
) -> tuple[Check, Check, contexts.Expansion | None]:
    """The ``contexts`` and ``undefined_terms`` checks, and the expansion of ``document`` when
    it could be expanded. ``whole`` is searched for context URLs (proofs and embedded
    credentials included)."""
    urls = contexts.context_urls(whole)
    missing = contexts.unpinned(urls)
    if missing:
        detail = "contexts not pinned (never fetched): " + ", ".join(missing)
        return Check(CONTEXTS, False, "context_not_pinned", detail), _NOT_CHECKED, None
    declared = document["@context"]
    first = declared[0] if isinstance(declared, list) else declared
    try:
        expansion = contexts.expand(document)
    except contexts.JsonLdProblem as exc:
        return Check(CONTEXTS, False, exc.code, exc.detail), _NOT_CHECKED, None
    if first not in contexts.BASE_CONTEXTS:
        named = first if isinstance(first, str) else "an inline context"
        detail = f"the first @context must be {' or '.join(contexts.BASE_CONTEXTS)}, not {named}"
        context_check = Check(CONTEXTS, False, "base_context", detail)
    else:
        operator = contexts.operator_pinned(urls)
        detail = "pinned: " + ", ".join(urls)
        if operator:
            detail += " (pinned by this node's operator: " + ", ".join(operator) + ")"
        context_check = Check(CONTEXTS, True, "contexts_pinned", detail)
    if expansion.clean and not expansion.claims_agree:
        detail = (
            "the credential states a member the node reads (its type, issuer, dates, status, "
            "subjects, achievement types, carried credentials or endorsements) a second time "
            "under another name (JSON-LD merges them, so it signs more than those members show)"
        )
        terms = Check(UNDEFINED_TERMS, False, "duplicate_claims", detail)
    elif expansion.clean:
        terms = _ALL_DEFINED
    else:
        parts = []
        if expansion.dropped_terms:
            parts.append("terms no context defines: " + ", ".join(expansion.dropped_terms))
        if expansion.undefined_types:
            parts.append("types no context defines: " + ", ".join(expansion.undefined_types))
        if expansion.relative_ids:
            parts.append(f"{expansion.relative_ids} relative id(s)")
        detail = "; ".join(parts) + " (JSON-LD drops them, so a signature does not cover them)"
        terms = Check(UNDEFINED_TERMS, False, "undefined_terms", detail)
    return context_check, terms, expansion


def _embedded(credential: Mapping[str, Any], shape: _Shape) -> list[tuple[str, Any]]:
    """(role, credential) of each credential this one embeds, in document order."""
    found: list[tuple[str, Any]] = []
    if CLR_TYPE in shape.types:
        for subject in shape.subjects:
            inner = subject.get("verifiableCredential")
            found += [(ROLE_NESTED, c) for c in _listed(inner)]
    holders: list[Any] = [credential, credential.get("issuer")]
    holders += [s.get("achievement") for s in shape.subjects]
    for holder in holders:
        if isinstance(holder, JSON_OBJECTS):
            for member in ("endorsement", "endorsementJwt"):
                found += [(ROLE_ENDORSEMENT, c) for c in _listed(holder.get(member))]
    return found


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _children(
    credential: Mapping[str, Any], shape: _Shape, run: _Run, depth: int
) -> tuple[list[CredentialReport], int]:
    """Reports of the credentials this one embeds, each judged on its own, and how many were
    left unverified (beyond :data:`MAX_DEPTH` or :data:`MAX_EMBEDDED`)."""
    embedded = _embedded(credential, shape)
    if depth >= MAX_DEPTH:
        return [], len(embedded)
    reports = []
    skipped = 0
    for role, child in embedded:
        if run.budget <= 0:
            skipped += 1
            continue
        run.budget -= 1
        try:
            report = _verify(child, run, depth + 1)
        except Malformed as exc:
            check = Check(FORMAT, False, exc.code, exc.detail)
            report = CredentialReport("unknown", None, [], [], None, [check])
        report.role = role
        reports.append(report)
    return reports, skipped


def _signer(key: ResolvedKey | None) -> Signer | None:
    return None if key is None else Signer(key.method_id, key.own, key.sources)


def _report(
    format_name: str,
    credential: Mapping[str, Any],
    shape: _Shape,
    period: Validity,
    checks: list[Check],
    run: _Run,
    depth: int,
    signer: ResolvedKey | None,
) -> CredentialReport:
    """The report: ``checks`` and the ``status`` check, and the embedded credentials."""
    key = _signer(signer)
    status_check, entries = status.status_check(
        credential,
        shape.issuer,
        run.status_lists,
        lambda document: _verify_list(document, run),
        run.now,
        run.status_max_age,
        key,
    )
    children, skipped = _children(credential, shape, run, depth)
    return CredentialReport(
        format=format_name,
        issuer=shape.issuer,
        types=shape.types,
        achievement_types=shape.achievement_types,
        untyped_achievement=shape.untyped_achievement,
        issued=period.issued,
        checks=[*checks, status_check],
        children=children,
        signer=key,
        skipped=skipped,
        status_entries=entries,
    )


def _verify_list(document: Any, run: _Run) -> CredentialReport:
    """A status list credential, verified as any credential is, with the same keys (its own
    status and embedded credentials are not looked at)."""
    found = run.list_reports.get(id(document))
    if found is None:
        inner = _Run(run.keys, run.now, run.skew, None, run.status_max_age, budget=0)
        found = run.list_reports[id(document)] = _verify(document, inner, MAX_DEPTH)
    return found


def _verify_data_integrity(credential: dict[str, Any], run: _Run, depth: int) -> CredentialReport:
    keys, now, skew = run.keys, run.now, run.skew
    shape = _shape(credential)
    proof = credential.get("proof")
    if proof is None or proof == []:
        raise Malformed("the credential has no proof", code="credential_no_proof")
    proofs = proof if isinstance(proof, list) else [proof]
    if not all(isinstance(p, dict) for p in proofs):
        raise Malformed("proof must be an object or a list of objects", code="credential_bad_proof")
    period = validity(credential)
    unsecured = {k: v for k, v in credential.items() if k != "proof"}
    suites = ", ".join(dict.fromkeys(dataintegrity.suite_of(p) or "(none)" for p in proofs))
    fmt = _format_check(_shape_problems(credential, shape), "data_integrity", f"proofs: {suites}")
    context_check, terms_check, expansion = _context_checks(unsecured, credential)
    document_nquads = _nquads_once(expansion)
    outcomes = [
        dataintegrity.verify_proof(
            index, item, credential, shape.issuer, keys, document_nquads, now, skew
        )
        for index, item in enumerate(proofs)
    ]
    chosen = (
        next((o for o in outcomes if o.passed), None)
        or next((o for o in outcomes if o.signature.passed), None)
        or outcomes[0]
    )
    signature, binding = chosen.signature, chosen.binding
    if len(outcomes) > 1:
        where = f"proof {chosen.index + 1} of {len(outcomes)}: "
        signature = replace(signature, detail=where + signature.detail)
        binding = replace(binding, detail=where + binding.detail)
    checks = [fmt, context_check, terms_check, signature, binding, dates_check(period, now, skew)]
    return _report("vc-di", credential, shape, period, checks, run, depth, chosen.signer)


def _nquads_once(expansion: contexts.Expansion | None) -> Callable[[], str]:
    """Canonical N-Quads of the unsecured credential, computed at most once for all proofs."""
    memo: list[str] = []

    def nquads() -> str:
        if expansion is None:
            raise contexts.JsonLdProblem(
                "not_checked", "the credential's contexts could not be processed"
            )
        if not memo:
            memo.append(contexts.canonize(expansion.expanded))
        return memo[0]

    return nquads


def _verify_jws(token: str, run: _Run, depth: int) -> CredentialReport:
    keys, now, skew = run.keys, run.now, run.skew
    parsed = jose.parse_compact(token)
    if not _nesting_ok(parsed.payload):
        raise _too_deep()
    fmt_name, credential, problems = jose.credential_of(parsed)
    claims = parsed.payload
    iss = claims.get("iss")
    shape = _shape(credential, iss if isinstance(iss, str) else None)
    if iss is not None and iss != shape.issuer:
        problems.append(Check(FORMAT, False, "iss_mismatch", "iss is not the credential's issuer"))
    problems.extend(_shape_problems(credential, shape))
    detail = f"typ {parsed.header.get('typ')}, alg {parsed.header.get('alg')}"
    fmt = _format_check(problems, "vc_jose" if fmt_name == "vc+jwt" else "vc_jwt", detail)
    period = validity(credential, claims)
    document = credential
    if credential is claims:  # JWT claims beside the credential's members need no definition
        document = {k: v for k, v in credential.items() if k not in jose.JWT_CLAIMS}
    context_check, terms_check, _ = _context_checks(document, credential)
    signature, binding, signer = jose.verify_jws(parsed, shape.issuer, keys)
    checks = [fmt, context_check, terms_check, signature, binding, dates_check(period, now, skew)]
    return _report(fmt_name, credential, shape, period, checks, run, depth, signer)


def _nesting_ok(value: Any) -> bool:
    """Does no value of ``value`` stand deeper than MAX_NESTING levels (``value`` itself on
    the first)? Level by level: each level's values, scalars included, then theirs."""
    level = [value]
    for _ in range(MAX_NESTING):
        below: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                below.extend(item.values())
            elif isinstance(item, list):
                below.extend(item)
        if not below:
            return True
        level = below
    return False


def _too_deep() -> Malformed:
    return Malformed(
        f"the credential nests deeper than {MAX_NESTING} levels", code="credential_too_deep"
    )


def _verify(credential: Any, run: _Run, depth: int) -> CredentialReport:
    if isinstance(credential, str):
        return _verify_jws(credential, run, depth)
    if isinstance(credential, dict):
        if not _nesting_ok(credential):
            raise _too_deep()
        return _verify_data_integrity(credential, run, depth)
    raise Malformed(
        "a credential is a JSON object or a compact JWS string", code="credential_not_object"
    )


def verify_credential(
    credential: dict[str, Any] | str,
    *,
    keys: KeyResolver,
    now: datetime,
    clock_skew: timedelta,
    jsonld_contexts: contexts.PinnedContexts | None = None,
    status_lists: Mapping[str, StatusListCopy] | None = None,
    status_max_age: timedelta = DEFAULT_STATUS_MAX_AGE,
) -> CredentialReport:
    """Verify one credential: a parsed JSON credential with Data Integrity proofs, or a compact
    JWS string. ``keys`` supplies the verification methods pinned per issuer, grouped by the
    source that pins them; ``jsonld_contexts`` the JSON-LD contexts (default: those shipped
    with the node); nothing is fetched. ``now`` (timezone-aware) and ``clock_skew`` judge the
    validity period. ``status_lists`` are the status lists the caller holds, by URL (None:
    status is not consulted, so a credential with ``credentialStatus`` is not valid); a copy
    older than ``status_max_age`` (or its list's ``ttl``) is stale.

    Raises Malformed when the credential cannot be read; every other problem is a failing check
    in the report."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    run = _Run(keys, now, clock_skew, status_lists, status_max_age)
    with contexts.using(jsonld_contexts):
        return _verify(credential, run, 0)


__all__ = ["JSON_OBJECTS", "MAX_DEPTH", "MAX_EMBEDDED", "verify_credential"]
