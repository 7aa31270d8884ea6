"""Checking a whole credential: its proof, issuer binding and dates (core/credentials), then
whether the registry trusts its issuer for its types, as of its issuance and as of now.

Keys pinned for an issuer come from the entries that list it in the usable sources of the
trust index, grouped by source, so a credential of a did:web or https issuer verifies offline,
without trusting DNS or the issuer's web server. Nothing is fetched from the network, unless
the operator turns on did:web resolution for issuers the lists pin no key for
(services/didweb.py).

Keys and trust come from the same sources (docs/protocol.md section 13.2). The credential is
trusted only on the findings of the sources that supplied the key that verified its proof:

- a key pinned for the issuer: the sources that pin that key (one list cannot supply the key
  while another list's ``active`` carries the verdict);
- the key a did:key issuer's DID names, or a key read from a DID document the operator gave
  the node or from a resolved did:web document (only for an issuer no usable list pins a key
  for): every source that lists the issuer, since none of them is needed to know the key;
- no key bound to the issuer verified the proof: no source, so the trust checks fail
  (``no_verified_key``).

A revocation or suspension by any usable source still applies (section 11.2).

Verdicts (docs/adr/0018): each check has an outcome; a trust answer ``trusted`` passes,
``not_trusted`` (revoked, suspended, not authorised, ...) fails, ``unknown`` (no usable list
names the issuer) is indeterminate. The response's ``verdict`` covers the submitted credential
itself; ``all_valid`` and the ``summary`` also cover the credentials it embeds (nested in a
CLR, endorsements), each judged with its own issuer's trust. Status lists
(``credentialStatus``) are gathered before the check by services/statuslists.py: from an
offline bundle, or fetched when the operator turned that on.

Privacy: a credential carries a person's data. Nothing here stores it, and the only thing
logged is the verdict, the issuer ids, the types and the reason codes (docs/protocol.md 13.4).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from registry_node.core.credentials import (
    ISSUER_BINDING,
    Check,
    CredentialReport,
    verify_credential,
)
from registry_node.core.credentials.contexts import PinnedContexts, WouldTakeLong, quick_only
from registry_node.core.credentials.jose import parse_compact
from registry_node.core.credentials.report import DATES, STATUS, Outcome
from registry_node.core.credentials.status import StatusListCopy, status_urls
from registry_node.core.credentials.verify import JSON_OBJECTS
from registry_node.core.errors import FetchFailed, Malformed
from registry_node.core.timeutil import format_rfc3339
from registry_node.core.trust import NOT_TRUSTED, TRUSTED, VETOES, Question
from registry_node.core.wire import Answer
from registry_node.services.didweb import DidWebResolver
from registry_node.services.index import Decision, TrustIndex
from registry_node.services.statuslists import Request, StatusLists

log = logging.getLogger("registry_node.verify")

TRUSTED_AT_ISSUANCE = "trusted_at_issuance"
TRUSTED_NOW = "trusted_now"
#: Types every credential carries: they say nothing about what the issuer is authorised for.
GENERIC_TYPES = frozenset({"VerifiableCredential"})
#: Reasons that end trust without touching credentials issued before (docs/protocol.md 3.3).
BLAMELESS = frozenset({"retired", "outside_validity"})
#: The source label of keys read from a resolved did:web document (never a node id: those are
#: https URLs).
DID_DOCUMENT = "did_document"
#: The source label of keys read from a DID document the operator gave this node in node.yaml
#: (``credentials.did_documents``; docs/adr/0020).
LOCAL_DID_DOCUMENT = "local_did_document"
#: Labels of keys that no list supplied: trust then rests on every list naming the issuer.
DOCUMENT_SOURCES = frozenset({(DID_DOCUMENT,), (LOCAL_DID_DOCUMENT,)})


class IndexKeys:
    """The key resolver of core/credentials: the keys each usable source of the trust index
    pins for an issuer, by source id; else those of the DID document the operator gave the
    node (:data:`LOCAL_DID_DOCUMENT`); else those of its resolved did:web document (when
    resolution is on), labelled :data:`DID_DOCUMENT`. ``now`` is the instant the sources are
    judged usable at (None: the index's clock is read)."""

    def __init__(
        self,
        index: TrustIndex,
        resolved: Mapping[str, list[dict[str, Any]]] | None = None,
        local: Mapping[str, list[dict[str, Any]]] | None = None,
        now: datetime | None = None,
    ) -> None:
        self.index = index
        self.resolved = resolved or {}
        self.local = local or {}
        self.now = now

    def pins(self, issuer: str) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        pinned = self.index.methods_by_source(issuer, self.now)
        if pinned:
            return pinned
        local = self.local.get(issuer)
        if local:
            return {LOCAL_DID_DOCUMENT: local}
        resolved = self.resolved.get(issuer)
        return {DID_DOCUMENT: resolved} if resolved else {}


def embedded_members(credential: Any, depth: int = 0) -> list[Mapping[str, Any]]:
    """The JSON members of a credential and of each credential it embeds (nested in a CLR,
    endorsements), best effort: the verification proper reports anything malformed."""
    if depth > 8:
        return []
    if isinstance(credential, str):
        try:
            payload = parse_compact(credential).payload
        except Malformed:
            return []
        inner = payload.get("vc")
        credential = inner if isinstance(inner, dict) else payload
    if not isinstance(credential, JSON_OBJECTS):
        return []
    found = [credential]
    subject = credential.get("credentialSubject")
    subjects = subject if isinstance(subject, list) else [subject]
    carried: list[Any] = []
    holders: list[Any] = [credential, credential.get("issuer")]
    for item in subjects:
        if isinstance(item, JSON_OBJECTS):
            carried += _many(item.get("verifiableCredential"))
            holders.append(item.get("achievement"))
    for holder in holders:
        if isinstance(holder, JSON_OBJECTS):
            carried += _many(holder.get("endorsement")) + _many(holder.get("endorsementJwt"))
    for inner_credential in carried[:64]:
        found += embedded_members(inner_credential, depth + 1)
    return found


def _many(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def issuer_of(credential: Mapping[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    if isinstance(issuer, JSON_OBJECTS):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def status_requests(credential: Any) -> list[Request]:
    """The status lists the credential and the credentials it embeds name, each with the
    issuer whose entry must allow its origin."""
    found: list[Request] = []
    for members in embedded_members(credential):
        issuer = issuer_of(members)
        if issuer is not None:
            found += [Request(url, issuer) for url in status_urls(members)]
    return list(dict.fromkeys(found))


def issuers_in(credential: Any) -> list[str]:
    """The issuer ids a credential and the credentials it embeds name (best effort)."""
    found = (issuer_of(m) for m in embedded_members(credential))
    return [i for i in found if i is not None]


def _questions(report: CredentialReport, at: datetime, at_now: bool) -> list[list[Question]]:
    """For each specific type of the credential, the questions that must all be answered
    ``trusted`` for it: one per achievement type (one authorisation must cover the credential
    type and that achievement type), and one for an achievement of no type when the
    credential claims one. Each is a question about a whole credential (Question.whole): a
    credential of no specific type, or of an achievement type an authorisation does not name,
    is not covered by it."""
    issuer = report.issuer or ""
    types: list[str | None] = [t for t in report.types if t not in GENERIC_TYPES] or [None]
    achievements: list[str | None] = list(report.achievement_types)
    if report.untyped_achievement or not achievements:
        achievements.append(None)
    untyped = report.untyped_achievement
    return [
        [
            Question(
                issuer,
                at.timestamp(),
                credential_type=t,
                achievement_type=a,
                at_now=at_now,
                whole=True,
                untyped_achievement=untyped and a is None,
            )
            for a in achievements
        ]
        for t in types
    ]


class _NoSource(Exception):
    """No source may decide whether the credential is trusted."""


def trust_sources(report: CredentialReport) -> frozenset[str] | None:
    """The sources whose findings may make ``report``'s credential trusted: None for every
    source that lists the issuer (the key is the issuer's did:key, or was read from its
    resolved did:web document), else the ids of the lists that pin the key that verified the
    proof. Raises _NoSource when no key bound to the issuer verified it."""
    signer = report.signer
    binding = report.check(ISSUER_BINDING)
    if signer is None or binding is None or not binding.passed:
        raise _NoSource
    if signer.did_key or signer.sources in DOCUMENT_SOURCES:
        return None
    return frozenset(signer.sources)


def _decided(
    index: TrustIndex, q: Question, among: frozenset[str] | None, now: datetime
) -> Decision:
    """The decision on ``q`` at ``now`` from the sources ``among`` (None: all), except that a
    revocation or suspension by any usable source decides. Both come from the index's
    decisions, kept with its snapshot until the index, the peers' terms or the time bound
    changes."""
    everyone = index.decided(q, now=now)
    if among is None or everyone.answer["reason"] in VETOES:
        return everyone
    return index.decided_among(q, among, now)


def _judge(
    index: TrustIndex,
    report: CredentialReport,
    at: datetime,
    at_now: bool,
    among: frozenset[str] | None,
    now: datetime,
) -> Answer:
    """The first set of answers at ``now`` that trusts the issuer for one of the credential's
    types, or else the first answer that does not."""
    first_refusal: tuple[Question, Decision] | None = None
    for questions in _questions(report, at, at_now):
        decided = [(q, _decided(index, q, among, now)) for q in questions]
        refused = next((d for d in decided if d[1].answer["outcome"] != TRUSTED), None)
        if refused is None:
            return index.stamped(*decided[0], now)
        first_refusal = first_refusal or refused
    assert first_refusal is not None
    return index.stamped(*first_refusal, now)


def add_trust(index: TrustIndex, report: CredentialReport, now: datetime) -> dict[str, Any]:
    """Add the two trust checks to ``report`` (and its children); return the evidence tree.

    The issuer must be trusted at the credential's issuance (``validFrom`` or
    ``issuanceDate``; now when it has none) and now, where ``retired`` and the end of a
    validity window count as trusted now for a credential issued while trusted; both by the
    sources of :func:`trust_sources`, a revocation or suspension by any source applying.
    """
    children = [add_trust(index, child, now) for child in report.children]
    report.required = (*report.required, TRUSTED_AT_ISSUANCE, TRUSTED_NOW)
    if report.issuer is None:
        for name in (TRUSTED_AT_ISSUANCE, TRUSTED_NOW):
            report.add(Check(name, False, "no_issuer", "the credential names no issuer"))
        return {"at_issuance": None, "now": None, "children": children}
    try:
        among = trust_sources(report)
    except _NoSource:
        detail = "no key bound to the issuer verified the proof, so no list vouches for it"
        for name in (TRUSTED_AT_ISSUANCE, TRUSTED_NOW):
            report.add(Check(name, False, "no_verified_key", detail))
        return {"at_issuance": None, "now": None, "children": children}
    issued = report.issued or now
    then = _judge(index, report, issued, report.issued is None, among, now)
    current = _judge(index, report, now, True, among, now)
    then_ok = then["outcome"] == TRUSTED
    now_ok = current["outcome"] == TRUSTED or (then_ok and current["reason"] in BLAMELESS)
    when = format_rfc3339(issued)
    report.add(
        Check(
            TRUSTED_AT_ISSUANCE,
            then_ok,
            then["reason"],
            f"{then['detail']} ({when})",
            None if then_ok else _outcome(then),
        )
    )
    report.add(
        Check(
            TRUSTED_NOW,
            now_ok,
            current["reason"],
            current["detail"],
            None if now_ok else _outcome(current),
        )
    )
    return {"at_issuance": then, "now": current, "children": children}


def _outcome(answer: Answer) -> Outcome:
    """A refusal is proof (``not_trusted``: revoked, suspended, not authorised, ...); an
    issuer no usable list names (``unknown``) is not."""
    return "failed" if answer["outcome"] == NOT_TRUSTED else "indeterminate"


def render(report: CredentialReport, evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The report tree with each credential's trust evidence beside its checks."""
    out = report.to_dict()
    out["trust"] = {"at_issuance": evidence["at_issuance"], "now": evidence["now"]}
    out["children"] = [
        render(child, ev) for child, ev in zip(report.children, evidence["children"], strict=True)
    ]
    return out


def _trusted_by(evidence: Mapping[str, Any]) -> list[str]:
    answer = evidence.get("now") or {}
    decided = set(answer.get("decided_by", ()))
    return sorted(
        {e["jurisdiction"] for e in answer.get("evidence", ()) if e.get("source") in decided}
    )


def _specific(report: CredentialReport) -> list[str]:
    types = [t for t in report.types if t not in GENERIC_TYPES]
    return types + [a for a in report.achievement_types if a not in types]


def _own_sentence(report: CredentialReport, evidence: Mapping[str, Any]) -> str:
    verdict = report.verdict
    if verdict != "valid":
        wanted = "failed" if verdict == "invalid" else "indeterminate"
        first = next((c for c in report.checks if c.outcome == wanted), None)
        lead = "Not valid" if verdict == "invalid" else "Could not be verified"
        why = f"{first.name}: {first.detail}" if first is not None else "checks are missing"
        return f"{lead}: {why}"
    vouching = _trusted_by(evidence)
    states = " and ".join(vouching) or "the lists"
    trusts = "trusts" if len(vouching) == 1 else "trust"
    what = " and ".join(_specific(report)) or "its credentials"
    status = report.check(STATUS)
    said = "no status list" if status is not None and status.code == "no_status" else "not revoked"
    dates = report.check(DATES)
    until = "with no end date"
    if dates is not None and "until " in dates.detail:
        until = "valid " + dates.detail[dates.detail.index("until ") :]
    issued = f"Authentic, issued by {report.issuer}, which {states} {trusts} for {what}"
    return f"{issued}; {said}; {until}"


def _flatten(report: CredentialReport) -> list[CredentialReport]:
    return [child for c in report.children for child in (c, *_flatten(c))]


def summary(report: CredentialReport, evidence: Mapping[str, Any]) -> str:
    """One sentence a person can read: the credential's own verdict and why, and how many of
    the credentials it embeds are valid."""
    text = _own_sentence(report, evidence)
    embedded = _flatten(report)
    for role, label in (("nested", "nested credentials"), ("endorsement", "endorsements")):
        group = [c for c in embedded if c.role == role]
        if group:
            good = sum(1 for c in group if c.verdict == "valid")
            text += f"; {good} of {len(group)} {label} valid"
    skipped = report.skipped + sum(c.skipped for c in embedded)
    if skipped:
        text += f"; {skipped} embedded credentials not checked (too many)"
    return text + "."


def _codes(report: CredentialReport) -> list[str]:
    codes = [f"{c.name}:{c.code}" for c in report.failed()]
    for child in report.children:
        codes += _codes(child)
    return codes


def _issuers(report: CredentialReport) -> list[str | None]:
    return [report.issuer, *(i for c in report.children for i in _issuers(c))]


#: A credential sent as at most this many bytes is first checked on the event loop itself when
#: no other verification is running: the hop to the worker thread and back costs more than a
#: check of a shape learnt before (well under a millisecond). The check on the loop is quick
#: only (contexts.quick_only): what would take long (a full expansion of a new shape,
#: canonicalisation past a few steps, as a blank-node poisoning input needs) stops it, and
#: the credential is checked again, from the start, in the worker thread.
INLINE_MAX_BYTES = 4096


class Verifier:
    """Verifies credentials against a trust index. Proof checking is CPU work (JSON-LD
    canonicalisation): it runs in one worker thread, so the event loop keeps answering lookups
    between steps, except that a small credential (:data:`INLINE_MAX_BYTES`) is first checked
    quickly on the event loop when the worker is idle. A lock keeps verifications from running
    the JSON-LD processor concurrently either way."""

    def __init__(
        self,
        index: TrustIndex,
        clock_skew: timedelta,
        did_web: DidWebResolver | None = None,
        *,
        jsonld_contexts: PinnedContexts | None = None,
        did_documents: Mapping[str, list[dict[str, Any]]] | None = None,
        status_lists: StatusLists | None = None,
    ) -> None:
        self.index = index
        self.clock_skew = clock_skew
        self.did_web = did_web  # None: never fetch (the default)
        #: the JSON-LD contexts (None: those shipped with the node), built once at start
        self.jsonld_contexts = jsonld_contexts
        #: DID -> methods of the DID documents the operator gave this node (services/offline.py)
        self.did_documents = dict(did_documents or {})
        #: None: no status list is ever consulted (credentials with credentialStatus are then
        #: indeterminate)
        self.status_lists = status_lists
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="verify")
        self._busy = threading.Lock()  # held while a verification runs, inline or not

    def _status_options(self, copies: Mapping[str, StatusListCopy] | None) -> dict[str, Any]:
        if self.status_lists is None:
            return {"status_lists": copies}
        return {"status_lists": copies, "status_max_age": self.status_lists.max_age}

    def verify_now(self, credential: dict[str, Any] | str) -> dict[str, Any]:
        """Verify in the calling thread (the command line): status lists come only from the
        offline copies held (a bundle's), never from the network."""
        now = self.index.clock()
        copies = (
            None
            if self.status_lists is None
            else self.status_lists.held(status_requests(credential))
        )
        report = verify_credential(
            credential,
            keys=IndexKeys(self.index, local=self.did_documents, now=now),
            now=now,
            clock_skew=self.clock_skew,
            jsonld_contexts=self.jsonld_contexts,
            **self._status_options(copies),
        )
        return self._finish(report, now)

    async def _resolve(self, credential: dict[str, Any] | str) -> dict[str, list[dict[str, Any]]]:
        """did:web documents of the issuers the lists pin no key for, when resolution is on."""
        resolved: dict[str, list[dict[str, Any]]] = {}
        if self.did_web is None:
            return resolved
        for issuer in dict.fromkeys(issuers_in(credential)):
            if (
                not issuer.startswith("did:web:")
                or issuer in self.did_documents
                or self.index.pinned_methods(issuer)
            ):
                continue
            try:
                resolved[issuer] = await self.did_web.methods(issuer)
            except FetchFailed as exc:
                log.info("did:web not resolved", extra={"did": issuer, "code": exc.code})
        return resolved

    async def verify(
        self, credential: dict[str, Any] | str, size: int | None = None
    ) -> dict[str, Any]:
        """Verify ``credential``, sent as ``size`` bytes (None: unknown, so it is checked in
        the worker thread)."""
        resolved = await self._resolve(credential)
        copies = None
        if self.status_lists is not None:
            copies = await self.status_lists.gather(status_requests(credential), self.index)
        now = self.index.clock()
        check = partial(
            verify_credential,
            credential,
            keys=IndexKeys(self.index, resolved, self.did_documents, now),
            now=now,
            clock_skew=self.clock_skew,
            jsonld_contexts=self.jsonld_contexts,
            **self._status_options(copies),
        )
        report = None
        if size is not None and size <= INLINE_MAX_BYTES and self._busy.acquire(blocking=False):
            try:
                with quick_only():
                    report = check()
            except WouldTakeLong:
                report = None  # checked again in the worker, from the start
            finally:
                self._busy.release()
        if report is None:
            report = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._exclusive, check
            )
        return self._finish(report, now)

    def _exclusive(self, check: Callable[[], CredentialReport]) -> CredentialReport:
        with self._busy:
            return check()

    def _finish(self, report: CredentialReport, now: datetime) -> dict[str, Any]:
        evidence = add_trust(self.index, report, now)
        verdict = report.verdict
        if log.isEnabledFor(logging.INFO):
            log.info(
                "credential verified",
                extra={
                    "verdict": verdict,
                    "issuers": _issuers(report),
                    "types": report.types,
                    "failed": _codes(report),
                },
            )
        return {
            "verdict": verdict,
            "all_valid": report.all_valid,
            "summary": summary(report, evidence),
            "verified_at": format_rfc3339(now),
            "credential": render(report, evidence),
        }

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.did_web is not None:
            await self.did_web.close()
        if self.status_lists is not None:
            await self.status_lists.close()
