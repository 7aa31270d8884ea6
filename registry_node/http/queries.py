"""Verifiers' questions: trust lookups, batches, browsing, signed receipts, and the Trust over
IP TRQP v2 HTTPS binding. What these serve is docs/protocol.md sections 11 and 12.

Every handler answers from the resolver's in-memory index; nothing here reads the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import hdrs, web
from multidict import CIMultiDict

from registry_node.core import schema
from registry_node.core.errors import Malformed, RequestSchemaInvalid, SchemaInvalid
from registry_node.core.timeutil import format_rfc3339, parse_rfc3339
from registry_node.core.trust import Question
from registry_node.http import cors
from registry_node.http.appkeys import NODE
from registry_node.http.problems import json_response, problem, read_body
from registry_node.services.index import BrowseFilter, decode_cursor, encode_cursor
from registry_node.services.resolver import Resolver

routes = web.RouteTableDef()

MAX_ID_LENGTH = 2048
MAX_BATCH = 1000
BROWSE_DEFAULT = 50
BROWSE_MAX = 500
JWT_MEDIA_TYPE = "application/jwt"

_PATTERNS = {
    "credential_type": re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,127}"),
    "achievement_type": re.compile(r"(ext:)?[A-Za-z][A-Za-z0-9_.-]{0,127}"),
    "ctid": re.compile(r"ce-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}
_ORG_TYPES = frozenset(
    json.loads(schema.schema_bytes("trust-list-v1.json"))["$defs"]["org_type"]["enum"]
)
#: TRQP schemas have no references: the compiled validator takes them (schema.check_fast)
_SELF_CONTAINED = frozenset({"trqp-authorization-request.json", "trqp-recognition-request.json"})
_STATUSES = frozenset({"active", "suspended", "revoked", "retired"})
#: ``at=2022-05-01``: a date where a date-time is expected (the hint shows the date-time)
_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _resolver(request: web.Request) -> Resolver:
    return request.app[NODE].resolver


def _bad(field: str, detail: str, code: str = "bad_query", hint: str | None = None) -> Malformed:
    return Malformed(f"{field}: {detail}", code=code, field=field, hint=hint)


def _single(query: Mapping[str, str], allowed: frozenset[str]) -> dict[str, str]:
    """Query parameters as a dict; an unknown or repeated parameter is a 400."""
    out: dict[str, str] = {}
    for key, value in query.items():
        if key not in allowed:
            raise _bad(
                key, f"unknown parameter; known: {', '.join(sorted(allowed))}", "unknown_parameter"
            )
        if key in out:
            raise _bad(key, "given more than once")
        out[key] = value
    return out


def _at(value: str | None, field: str = "at") -> datetime | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        example = f"{value}T00:00:00Z" if _DATE_ONLY.fullmatch(value) else "2022-05-01T00:00:00Z"
        raise _bad(
            field,
            f"{value!r} is not an RFC 3339 date-time with an offset",
            hint=f"an RFC 3339 date-time is expected, e.g. {example}",
        ) from None


def _issuer_id(value: str, field: str = "id") -> str:
    if not value:
        raise _bad(field, "the issuer id is empty", "bad_issuer_id")
    if len(value) > MAX_ID_LENGTH:
        raise _bad(
            field, f"the issuer id is longer than {MAX_ID_LENGTH} characters", "bad_issuer_id"
        )
    return value


def _type_filter(params: Mapping[str, Any], prefix: str = "") -> dict[str, str | None]:
    if not params:
        return _NO_TYPES
    out: dict[str, str | None] = {}
    for key, pattern in _PATTERNS.items():
        value = params.get(key)
        if value is not None and (not isinstance(value, str) or not pattern.fullmatch(value)):
            raise _bad(prefix + key, f"{value!r} is not a valid {key.replace('_', ' ')}")
        out[key] = value
    return out


_NO_TYPES: dict[str, str | None] = dict.fromkeys(_PATTERNS)


def question(
    resolver: Resolver,
    name: str,
    params: Mapping[str, Any],
    prefix: str = "",
    now: datetime | None = None,
) -> Question:
    """The question ``params`` ask of ``name``; ``now``: the clock's reading, if taken."""
    at = _at(params.get("at"), prefix + "at")
    when = at or now or resolver.clock()
    types = _type_filter(params, prefix)
    return Question(
        name=name,
        at=when.timestamp(),
        credential_type=types["credential_type"],
        achievement_type=types["achievement_type"],
        ctid=types["ctid"],
        at_now=at is None,
    )


def _validate(name: str, doc: Any, what: str) -> None:
    """Schema errors in a request are 400 here (the TRQP binding's rule), not 422."""
    try:
        if name in _SELF_CONTAINED:
            schema.check_fast(name, doc, what)
        else:
            schema.validate(name, doc, what)
    except SchemaInvalid as exc:
        raise RequestSchemaInvalid(exc.detail, exc.errors, code=exc.code) from None


def _wants_jwt(accept: str) -> bool:
    """True when the Accept header ``accept`` asks for ``application/jwt`` with a non-zero
    weight."""
    if "jwt" not in accept.lower():
        return False  # the common case, decided without parsing
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() != JWT_MEDIA_TYPE:
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


#: the headers of a JSON answer, the CORS headers the edge adds to it included (it then
#: replaces them with themselves): a case-insensitive dict already, which an answer copies
_JSON_ANSWER: CIMultiDict[str] = CIMultiDict(
    {
        "Content-Type": "application/json; charset=utf-8",
        "Vary": "Accept",
        "Cache-Control": "no-store",
        **cors.PUBLIC_HEADERS,
    }
)
_LOOKUP_PARAMS = frozenset({"credential_type", "achievement_type", "ctid", "at"})


def _lookup_question(request: web.Request, resolver: Resolver, now: datetime) -> Question:
    """The question a lookup request asks (a 400 for a bad one)."""
    name = _issuer_id(request.match_info["name"])
    if request.query_string:
        return question(resolver, name, _single(request.query, _LOOKUP_PARAMS), now=now)
    return Question(name, now.timestamp(), at_now=True)  # the common case: now, of any type


@routes.get("/v1/issuers/{name:.*}")
async def lookup(request: web.Request) -> web.Response:
    """Is this issuer trusted, by whom, for what, as of when (docs/protocol.md 11.3).

    The question depends only on the request's raw target (path and query), so the index
    keeps it with the snapshot under that text, decision and all: asked again, it is answered
    without parsing (:meth:`TrustIndex.asked_json`)."""
    resolver = request.app[NODE].resolver
    now = resolver.clock()
    accept = request.headers.get(hdrs.ACCEPT)
    if accept is not None and _wants_jwt(accept):
        asked = _lookup_question(request, resolver, now)
        token = await request.app[NODE].receipts.sign(resolver.ask(asked))
        return web.Response(
            body=token.encode(),
            content_type=JWT_MEDIA_TYPE,
            headers={"Vary": "Accept", "Cache-Control": "no-store"},
        )
    target = request.raw_path
    body = resolver.asked_json(target, now)
    if body is None:
        body = resolver.ask_json(_lookup_question(request, resolver, now), now, target)
    return web.Response(body=body, headers=_JSON_ANSWER)


@routes.post("/v1/issuers/lookup")
async def lookup_batch(request: web.Request) -> web.Response:
    """Up to 1,000 questions in one call; answers come back in the same order."""
    doc = await read_body(request, any_type=True)
    asked = doc.get("questions") if isinstance(doc, dict) else None
    if isinstance(asked, list) and len(asked) > MAX_BATCH:
        raise _bad(
            "questions", f"{len(asked)} questions; at most {MAX_BATCH} per call", "batch_too_large"
        )
    _validate(schema.LOOKUP_BATCH, doc, "lookup batch")
    resolver = _resolver(request)
    questions = [
        question(resolver, q["id"], q, f"questions[{i}].") for i, q in enumerate(doc["questions"])
    ]
    return json_response({"answers": [resolver.ask(q) for q in questions]})


_BROWSE_PARAMS = frozenset(
    {"jurisdiction", "org_type", "status", "credential_type", "q", "at", "limit", "cursor"}
)
_JURISDICTION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


@routes.get("/v1/issuers")
async def browse(request: web.Request) -> web.Response:
    """Browse and search every usable entry, paginated by a stable cursor (11.5)."""
    params = _single(request.query, _BROWSE_PARAMS)
    jurisdiction = params.get("jurisdiction")
    if jurisdiction is not None and not _JURISDICTION.fullmatch(jurisdiction):
        raise _bad("jurisdiction", f"{jurisdiction!r} is not an ISO 3166 code such as US-OH")
    org_type = params.get("org_type")
    if org_type is not None and org_type not in _ORG_TYPES:
        raise _bad("org_type", f"{org_type!r} is not one of {', '.join(sorted(_ORG_TYPES))}")
    status = params.get("status")
    if status is not None and status not in _STATUSES:
        raise _bad("status", f"{status!r} is not one of {', '.join(sorted(_STATUSES))}")
    text = params.get("q")
    if text is not None and not 1 <= len(text) <= 200:
        raise _bad("q", "the search text must be 1 to 200 characters")
    credential_type = _type_filter({"credential_type": params.get("credential_type")})
    limit_text = params.get("limit", str(BROWSE_DEFAULT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= BROWSE_MAX:
        raise _bad("limit", f"must be a whole number from 1 to {BROWSE_MAX}")
    after = None
    if "cursor" in params:
        try:
            after = decode_cursor(params["cursor"])
        except ValueError:
            raise _bad("cursor", "not a cursor from this node") from None
    flt = BrowseFilter(jurisdiction, org_type, status, credential_type["credential_type"], text)
    resolver = _resolver(request)
    at = _at(params.get("at"))
    items, last = resolver.browse(flt, at, int(limit_text), after)
    body: dict[str, Any] = {
        "at": format_rfc3339(at or resolver.clock()),
        "items": items,
        "next_cursor": None if last is None else encode_cursor(last),
    }
    return json_response(body, headers={"Cache-Control": "no-store"})


# -- TRQP v2 HTTPS binding ----------------------------------------------------------------

#: The TRQP members that name what is asked; the official schemas allow them empty.
_TRQP_NAMES = ("entity_id", "authority_id", "action", "resource")


async def _trqp_body(request: web.Request, uri: str, what: str) -> dict[str, Any]:
    doc = await read_body(request, any_type=True)
    _validate(uri, doc, what)
    for field in _TRQP_NAMES:
        if not doc[field].strip():
            # An empty question has no answer: never "authorized" nor "recognized" for it.
            if field == "entity_id" and uri.startswith("trqp-authorization"):
                _issuer_id("", field)  # an issuer id, as in the other queries
            raise _bad(field, "must not be empty or blank", "bad_request")
    time = doc.get("context", {}).get("time")
    if time is not None and not time.endswith("Z"):
        raise _bad("context.time", "must be RFC 3339 with the Z offset", "bad_request")
    return doc  # type: ignore[no-any-return]


def _trqp_common(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The members of a TRQP answer that echo the request, in the binding's order."""
    out = {k: doc[k] for k in ("entity_id", "authority_id", "action", "resource")}
    context = doc.get("context")
    if context is not None:
        out["context"] = context
        if "time" in context:
            out["time_requested"] = context["time"]
    return out


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _trqp_rendered(echo: Mapping[str, Any], verdict: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """A TRQP answer as JSON around its time_evaluated text: (head, tail)."""
    head = _dumps(echo)[:-1] + b',"time_evaluated":"'
    return head, b'",' + _dumps(verdict)[1:]


def _json_bytes(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


@routes.post("/trqp/authorization")
async def trqp_authorization(request: web.Request) -> web.Response:
    trqp = request.app[NODE].trqp
    raw = await request.read()
    held = trqp.rendered_authorization(raw)
    if held is not None:
        return _json_bytes(held)
    doc = await _trqp_body(request, "trqp-authorization-request.json", "TRQP authorization request")
    at = _at(doc.get("context", {}).get("time"), "context.time")
    name = _issuer_id(doc["entity_id"], "entity_id")
    verdict = trqp.authorize(name, doc["authority_id"], doc["action"], doc["resource"], at)
    head, tail = _trqp_rendered(
        _trqp_common(doc), {"authorized": verdict.granted, "message": verdict.message}
    )
    trqp.remember_authorization(raw, head, tail, verdict.until)
    return _json_bytes(head + _resolver(request).now_text().encode() + tail)


@routes.post("/trqp/recognition")
async def trqp_recognition(request: web.Request) -> web.Response:
    resolver = _resolver(request)
    doc = await _trqp_body(request, "trqp-recognition-request.json", "TRQP recognition request")
    _at(doc.get("context", {}).get("time"), "context.time")
    verdict = request.app[NODE].trqp.recognize(
        doc["entity_id"], doc["authority_id"], doc["action"], doc["resource"]
    )
    head, tail = _trqp_rendered(
        _trqp_common(doc), {"recognized": verdict.granted, "message": verdict.message}
    )
    return _json_bytes(head + resolver.now_text().encode() + tail)


# -- Ayra TRQP profile extensions (docs/protocol.md sections 12.3 and 12.4) ---------------

_METADATA_PARAMS = frozenset({"authority_id"})


@routes.get("/trqp/metadata")
async def trqp_metadata(request: web.Request) -> web.Response:
    params = _single(request.query, _METADATA_PARAMS) if request.query_string else {}
    metadata = request.app[NODE].trqp.metadata(params.get("authority_id"))
    return json_response(metadata, headers={"Cache-Control": "public, max-age=60"})


#: The profile's optional extensions this node does not implement: each answers 501.
NOT_IMPLEMENTED = (
    "/trqp/entities",
    "/trqp/entities/{entity_id:.+}/authorizations",
    "/trqp/entities/{entity_id:.+}",
    "/trqp/ecosystems/{ecosystem_id:.+}/recognitions",
    "/trqp/ecosystems/{ecosystem_id:.+}",
    "/trqp/lookups/assuranceLevels",
    "/trqp/lookups/authorizations",
    "/trqp/lookups/didMethods",
)


async def _not_implemented(request: web.Request) -> web.Response:
    return problem(
        501,
        "not_implemented",
        f"{request.path}: this registry does not implement this optional extension of the "
        "Ayra TRQP profile; it answers POST /trqp/authorization and /trqp/recognition",
        instance=request.path,
    )


for _path in NOT_IMPLEMENTED:
    routes.get(_path)(_not_implemented)
