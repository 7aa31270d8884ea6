"""Pages for people: the verifier's page at ``/`` and the operator's console at ``/console``
(docs/protocol.md section 15; docs/adr/0022).

The HTML is rendered by Jinja2 with autoescaping on, so that whatever a list says (an issuer's
name, a reason) is shown as text. The only scripts and styles are the package's own files under
``/static/``, and every page carries a Content-Security-Policy that allows nothing else: no
inline script or style, no other origin. The search is a plain GET form answered here, so it
works without JavaScript; the credential and receipt checks call ``POST /v1/verify`` and
``POST /v1/receipts/verify``, and the console the admin API with the bearer token the operator
types in (kept in ``sessionStorage`` only). No page takes a change by form or cookie, so there
is nothing for a cross-site form to forge.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from registry_node import __version__
from registry_node.core import reasons
from registry_node.core.timeutil import format_rfc3339, parse_rfc3339
from registry_node.core.trust import Question
from registry_node.http.appkeys import NODE
from registry_node.http.problems import problem
from registry_node.services.resolver import Resolver

routes = web.RouteTableDef()

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"

#: docs/protocol.md section 15.3: nothing but the node's own files, and no framing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: Issuers shown for one search; the page says when more matched.
SEARCH_LIMIT = 25
MAX_SEARCH = 200

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template is HTML
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def _static_files() -> dict[str, tuple[bytes, str]]:
    out = {}
    for path in sorted(STATIC.iterdir()):
        if path.is_file():
            kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
            out[path.name] = (path.read_bytes(), kind or "application/octet-stream")
    return out


_STATIC = _static_files()

US_STATES = {
    "US-AL": "Alabama", "US-AK": "Alaska", "US-AZ": "Arizona", "US-AR": "Arkansas",
    "US-CA": "California", "US-CO": "Colorado", "US-CT": "Connecticut", "US-DE": "Delaware",
    "US-DC": "the District of Columbia", "US-FL": "Florida", "US-GA": "Georgia",
    "US-HI": "Hawaii", "US-ID": "Idaho", "US-IL": "Illinois", "US-IN": "Indiana",
    "US-IA": "Iowa", "US-KS": "Kansas", "US-KY": "Kentucky", "US-LA": "Louisiana",
    "US-ME": "Maine", "US-MD": "Maryland", "US-MA": "Massachusetts", "US-MI": "Michigan",
    "US-MN": "Minnesota", "US-MS": "Mississippi", "US-MO": "Missouri", "US-MT": "Montana",
    "US-NE": "Nebraska", "US-NV": "Nevada", "US-NH": "New Hampshire", "US-NJ": "New Jersey",
    "US-NM": "New Mexico", "US-NY": "New York", "US-NC": "North Carolina",
    "US-ND": "North Dakota", "US-OH": "Ohio", "US-OK": "Oklahoma", "US-OR": "Oregon",
    "US-PA": "Pennsylvania", "US-RI": "Rhode Island", "US-SC": "South Carolina",
    "US-SD": "South Dakota", "US-TN": "Tennessee", "US-TX": "Texas", "US-UT": "Utah",
    "US-VT": "Vermont", "US-VA": "Virginia", "US-WA": "Washington", "US-WV": "West Virginia",
    "US-WI": "Wisconsin", "US-WY": "Wyoming", "US-PR": "Puerto Rico",
}  # fmt: skip

OUTCOMES = {"trusted": "Trusted", "not_trusted": "Not trusted", "unknown": "Unknown"}
STATUS_WORDS = {
    "active": "active",
    "suspended": "suspended",
    "revoked": "revoked",
    "retired": "retired",
}


def state_name(jurisdiction: str) -> str:
    return US_STATES.get(jurisdiction, jurisdiction)


def when(text: str | None) -> str:
    """An RFC 3339 instant as a person reads it: 1 March 2021, 00:00 UTC."""
    if not text:
        return "unknown"
    try:
        moment = parse_rfc3339(text).astimezone(UTC)
    except ValueError:
        return text
    day = f"{moment.day} {moment:%B %Y}"
    return day if (moment.hour, moment.minute) == (0, 0) else f"{day}, {moment:%H:%M} UTC"


def _types(authorization: Mapping[str, Any]) -> str:
    parts = []
    credentials = authorization.get("credential_types") or []
    achievements = authorization.get("achievement_types") or []
    if credentials:
        parts.append(", ".join(credentials))
    if achievements:
        parts.append("for achievements of type " + ", ".join(achievements))
    return " ".join(parts) or "any credential"


def _evidence_view(
    source: Any, entry: Mapping[str, Any], evidence: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What one state's list says about the issuer, in words (docs/protocol.md 15.1)."""
    said = (evidence or {}).get("entry") or {}
    status = said.get("status")
    history = list(entry.get("status_history") or [])
    if status is None and history:  # not consulted for the answer: its latest step
        status = history[-1]["status"]
    since = said.get("status_since") or (history[-1]["from"] if history else None)
    reason = said.get("status_reason") or (history[-1].get("reason") if history else None)
    name = state_name(source.jurisdiction)
    words = STATUS_WORDS.get(str(status), str(status))
    sentence = f"{name} lists it as {words} since {when(since)}"
    if status != "active" and reason:
        sentence += f", because: {reason}"
    stale_note = None
    if source.stale:
        stale_note = (
            f"{name}'s list expired on {when(format_rfc3339(_utc(source.exp)))} and has not "
            "been renewed: this is an old copy, and it may no longer be true"
        )
    return {
        "jurisdiction": source.jurisdiction,
        "state": name,
        "source": source.id,
        "local": source.local,
        "stale": source.stale,
        "stale_note": stale_note,
        "seq": source.seq,
        "signed": when(format_rfc3339(_utc(source.iat))),
        "expires": when(format_rfc3339(_utc(source.exp))),
        "fetched": when(source.fetched_at) if source.fetched_at else None,
        "status": status,
        "sentence": sentence,
        "reason_text": reason,
        "outcome": (evidence or {}).get("outcome"),
        "authorizations": [
            {
                "what": _types(a),
                "jurisdiction": a.get("jurisdiction"),
                "legal_basis": a.get("legal_basis"),
            }
            for a in entry.get("authorizations") or []
        ],
        "history": [
            {
                "status": step.get("status"),
                "from": when(step.get("from")),
                "reason": step.get("reason", ""),
            }
            for step in history
        ],
        "name": entry.get("name"),
        "url": entry.get("url") if str(entry.get("url", "")).startswith("https://") else None,
        "valid_from": when(entry["valid_from"]) if entry.get("valid_from") else None,
        "valid_until": when(entry["valid_until"]) if entry.get("valid_until") else None,
    }


def _utc(numeric: int) -> datetime:
    return datetime.fromtimestamp(numeric, UTC)


def issuer_view(resolver: Resolver, issuer_id: str, at: datetime | None) -> dict[str, Any]:
    """One issuer: the node's answer and each state's evidence, ready for the template."""
    when_asked = at or resolver.clock()
    answer = resolver.ask(Question(name=issuer_id, at=when_asked.timestamp(), at_now=at is None))
    by_source = {e["source"]: e for e in answer["evidence"]}
    entries = resolver.entries(issuer_id)
    states = [_evidence_view(s, e, by_source.get(s.id)) for s, e in entries]
    aka: list[str] = []
    for _, entry in entries:
        aka.extend(a for a in entry.get("aka") or [] if a not in aka)
    names = [e.get("name") for _, e in entries if e.get("name")]
    return {
        "id": issuer_id,
        "name": names[0] if names else issuer_id,
        "aka": aka,
        "outcome": answer["outcome"],
        "outcome_label": OUTCOMES.get(answer["outcome"], answer["outcome"]),
        "reason": answer["reason"],
        "reason_hint": reasons.hint(answer["reason"], family="answer"),
        "detail": answer["detail"],
        "stale": answer["stale"],
        "states": states,
        "unavailable": [
            f"{state_name(u['jurisdiction'])} ({u['source']}): its list is stale and not used"
            for u in answer["unavailable"]
        ],
    }


def _as_of(text: str) -> datetime:
    """The page's "as of": a date (its midnight UTC... the end of it would be tomorrow) or an
    RFC 3339 date-time. Raises ValueError."""
    text = text.strip()
    if len(text) == 10:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    return parse_rfc3339(text)


def render(name: str, status: int = 200, **context: Any) -> web.Response:
    body = _ENV.get_template(name).render(version=__version__, **context)
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS
    )


def _node_context(request: web.Request) -> dict[str, Any]:
    config = request.app[NODE].config
    return {
        "node_name": config.name,
        "node_id": config.node_id,
        "jurisdiction": config.jurisdiction,
        "state": state_name(config.jurisdiction),
    }


@routes.get("/")
async def verifier_page(request: web.Request) -> web.Response:
    """Search issuers by name, id or alias; check a credential or a receipt (15.1)."""
    resolver = request.app[NODE].resolver
    query = request.query
    text = query.get("q", "").strip()
    at_text = query.get("at", "").strip()
    errors: list[str] = []
    at: datetime | None = None
    if at_text:
        try:
            at = _as_of(at_text)
        except ValueError:
            errors.append(
                f"“{at_text}” is not a date. Give a date such as 2024-05-01, or leave the "
                "field empty for today."
            )
    if len(text) > MAX_SEARCH:
        errors.append(f"The search is longer than {MAX_SEARCH} characters: shorten it.")
    results: Sequence[dict[str, Any]] = []
    more = False
    if text and not errors:
        ids, more = resolver.find(text, SEARCH_LIMIT)
        results = [issuer_view(resolver, i, at) for i in ids]
    as_of = at or resolver.clock()
    return render(
        "verifier.html",
        status=400 if errors else 200,
        title=f"Results for {text}" if text else "Check an issuer or a credential",
        q=text,
        at=at_text,
        as_of=when(format_rfc3339(as_of)),
        as_of_now=at is None,
        errors=errors,
        searched=bool(text) and not errors,
        results=results,
        more=more,
        limit=SEARCH_LIMIT,
        **_node_context(request),
    )


@routes.get("/console")
async def console_page(request: web.Request) -> web.Response:
    """The operator's console: a page whose script calls the admin API (15.2)."""
    return render("console.html", title="Operator console", **_node_context(request))


@routes.get("/static/{name}")
async def static_file(request: web.Request) -> web.Response:
    found = _STATIC.get(request.match_info["name"])
    if found is None:
        return problem(404, "not_found", f"no file {request.match_info['name']!r}")
    body, kind = found
    return web.Response(
        body=body,
        content_type=kind,
        charset="utf-8" if kind.startswith("text/") else None,
        headers={
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CSP,
        },
    )
