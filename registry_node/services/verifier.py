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

Privacy: a credential carries a person's data. Nothing here stores it, and the only thing
logged is the verdict, the issuer ids, the types and the reason codes (docs/protocol.md 13.4).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
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
from registry_node.core.credentials.contexts import PinnedContexts
from registry_node.core.credentials.jose import parse_compact
from registry_node.core.errors import FetchFailed, Malformed
from registry_node.core.timeutil import format_rfc3339
from registry_node.core.trust import TRUSTED, VETOES, Question
from registry_node.core.wire import Answer
from registry_node.services.didweb import DidWebResolver
from registry_node.services.index import TrustIndex

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
    resolution is on), labelled :data:`DID_DOCUMENT`."""

    def __init__(
        self,
        index: TrustIndex,
        resolved: Mapping[str, list[dict[str, Any]]] | None = None,
        local: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.index = index
        self.resolved = resolved or {}
        self.local = local or {}

    def pins(self, issuer: str) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        pinned = self.index.methods_by_source(issuer)
        if pinned:
            return pinned
        local = self.local.get(issuer)
        if local:
            return {LOCAL_DID_DOCUMENT: local}
        resolved = self.resolved.get(issuer)
        return {DID_DOCUMENT: resolved} if resolved else {}


def issuers_in(credential: Any, depth: int = 0) -> list[str]:
    """The issuer ids a credential and the credentials it carries name (best effort: the
    verification proper reports anything malformed)."""
    if depth > 8:
        return []
    if isinstance(credential, str):
        try:
            payload = parse_compact(credential).payload
        except Malformed:
            return []
        inner = payload.get("vc")
        credential = inner if isinstance(inner, dict) else payload
    if not isinstance(credential, Mapping):
        return []
    issuer = credential.get("issuer")
    if isinstance(issuer, Mapping):
        issuer = issuer.get("id")
    found = [issuer] if isinstance(issuer, str) else []
    subject = credential.get("credentialSubject")
    carried = subject.get("verifiableCredential", []) if isinstance(subject, Mapping) else []
    for inner_credential in carried if isinstance(carried, list) else []:
        found += issuers_in(inner_credential, depth + 1)
    return found


def _questions(report: CredentialReport, at: datetime, at_now: bool) -> list[list[Question]]:
    """For each specific type of the credential, the questions that must all be answered
    ``trusted`` for it: one per achievement type (the same authorisation must cover both)."""
    issuer = report.issuer or ""
    types: list[str | None] = [t for t in report.types if t not in GENERIC_TYPES] or [None]
    achievements: list[str | None] = list(report.achievement_types) or [None]
    return [
        [
            Question(issuer, at.timestamp(), credential_type=t, achievement_type=a, at_now=at_now)
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


def _ask(index: TrustIndex, q: Question, among: frozenset[str] | None) -> Answer:
    """The answer to ``q`` from the sources ``among`` (None: all), except that a revocation or
    suspension by any usable source decides."""
    everyone = index.ask(q)
    if among is None or everyone["reason"] in VETOES:
        return everyone
    return index.ask_among(q, among)


def _judge(
    index: TrustIndex,
    report: CredentialReport,
    at: datetime,
    at_now: bool,
    among: frozenset[str] | None,
) -> Answer:
    """The first set of answers that trusts the issuer for one of the credential's types, or
    else the first answer that does not."""
    first_refusal: Answer | None = None
    for questions in _questions(report, at, at_now):
        answers = [_ask(index, q, among) for q in questions]
        refused = next((a for a in answers if a["outcome"] != TRUSTED), None)
        if refused is None:
            return answers[0]
        first_refusal = first_refusal or refused
    assert first_refusal is not None
    return first_refusal


def add_trust(index: TrustIndex, report: CredentialReport, now: datetime) -> dict[str, Any]:
    """Add the two trust checks to ``report`` (and its children); return the evidence tree.

    The issuer must be trusted at the credential's issuance (``validFrom`` or
    ``issuanceDate``; now when it has none) and now, where ``retired`` and the end of a
    validity window count as trusted now for a credential issued while trusted; both by the
    sources of :func:`trust_sources`, a revocation or suspension by any source applying.
    """
    children = [add_trust(index, child, now) for child in report.children]
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
    then = _judge(index, report, issued, report.issued is None, among)
    current = _judge(index, report, now, True, among)
    then_ok = then["outcome"] == TRUSTED
    now_ok = current["outcome"] == TRUSTED or (then_ok and current["reason"] in BLAMELESS)
    when = format_rfc3339(issued)
    report.add(Check(TRUSTED_AT_ISSUANCE, then_ok, then["reason"], f"{then['detail']} ({when})"))
    report.add(Check(TRUSTED_NOW, now_ok, current["reason"], current["detail"]))
    return {"at_issuance": then, "now": current, "children": children}


def render(report: CredentialReport, evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The report tree with each credential's trust evidence beside its checks."""
    out = report.to_dict()
    out["trust"] = {"at_issuance": evidence["at_issuance"], "now": evidence["now"]}
    out["children"] = [
        render(child, ev) for child, ev in zip(report.children, evidence["children"], strict=True)
    ]
    return out


def _codes(report: CredentialReport) -> list[str]:
    codes = [f"{c.name}:{c.code}" for c in report.failed()]
    for child in report.children:
        codes += _codes(child)
    return codes


def _issuers(report: CredentialReport) -> list[str | None]:
    return [report.issuer, *(i for c in report.children for i in _issuers(c))]


class Verifier:
    """Verifies credentials against a trust index. Proof checking is CPU work (JSON-LD
    canonicalisation): it runs in one worker thread, so the event loop keeps answering
    lookups between steps, and verifications do not run the JSON-LD processor concurrently."""

    def __init__(
        self,
        index: TrustIndex,
        clock_skew: timedelta,
        did_web: DidWebResolver | None = None,
        *,
        jsonld_contexts: PinnedContexts | None = None,
        did_documents: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.index = index
        self.clock_skew = clock_skew
        self.did_web = did_web  # None: never fetch (the default)
        #: the JSON-LD contexts (None: those shipped with the node), built once at start
        self.jsonld_contexts = jsonld_contexts
        #: DID -> methods of the DID documents the operator gave this node (services/offline.py)
        self.did_documents = dict(did_documents or {})
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="verify")

    def verify_now(self, credential: dict[str, Any] | str) -> dict[str, Any]:
        """Verify in the calling thread (the command line)."""
        now = self.index.clock()
        report = verify_credential(
            credential,
            keys=IndexKeys(self.index, local=self.did_documents),
            now=now,
            clock_skew=self.clock_skew,
            jsonld_contexts=self.jsonld_contexts,
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

    async def verify(self, credential: dict[str, Any] | str) -> dict[str, Any]:
        resolved = await self._resolve(credential)
        now = self.index.clock()
        check = partial(
            verify_credential,
            credential,
            keys=IndexKeys(self.index, resolved, self.did_documents),
            now=now,
            clock_skew=self.clock_skew,
            jsonld_contexts=self.jsonld_contexts,
        )
        report = await asyncio.get_running_loop().run_in_executor(self._pool, check)
        return self._finish(report, now)

    def _finish(self, report: CredentialReport, now: datetime) -> dict[str, Any]:
        evidence = add_trust(self.index, report, now)
        verdict = "valid" if report.all_valid else "invalid"
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
            "verified_at": format_rfc3339(now),
            "credential": render(report, evidence),
        }

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.did_web is not None:
            await self.did_web.close()
