"""The OpenID Federation 1.0 endpoints (docs/protocol.md section 14): the Entity Configuration,
fetch, list, extended list, resolve and historical keys. Thin: the statements come from
services/oidfed.py. Errors are the OpenID Federation error body (``error``,
``error_description``, as application/json), not Problem Details: that is what federation
clients read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from registry_node.core import jsonout, oidfed
from registry_node.core.timeutil import to_numeric_date
from registry_node.http.appkeys import NODE
from registry_node.services.oidfed import FederationError, OpenIdFederation, Statement

routes = web.RouteTableDef()

MAX_ID_LENGTH = 2048
#: Statements may be cached for a minute at most, and never past their ``exp``.
MAX_AGE = 60

_LIST_PARAMS = frozenset({"entity_type", "trust_marked", "trust_mark_type", "intermediate"})
_EXTENDED_PARAMS = _LIST_PARAMS | {"from_entity_id", "limit"}


def _federation(request: web.Request) -> OpenIdFederation:
    return request.app[NODE].oidfed


def _error(status: int, error: str, description: str) -> web.Response:
    body = json.dumps(oidfed.error_body(error, description), ensure_ascii=False).encode()
    return web.Response(
        status=status,
        body=body,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )


def _jwt(request: web.Request, statement: Statement, media_type: str) -> web.Response:
    """A signed statement with its media type exactly (no charset parameter: some clients
    compare the whole header)."""
    now = to_numeric_date(request.app[NODE].clock())
    exp = statement.claims.get("exp")
    max_age = MAX_AGE if exp is None else max(0, min(MAX_AGE, int(exp) - now))
    return web.Response(
        body=statement.jwt.encode("ascii"),
        headers={"Content-Type": media_type, "Cache-Control": f"public, max-age={max_age}"},
    )


def _json(doc: Any) -> web.Response:
    body = jsonout.compact(doc)
    return web.Response(
        body=body, headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
    )


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _answers(handler: Handler) -> Handler:
    """Render a FederationError as the OpenID Federation error body."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except FederationError as exc:
            return _error(exc.status, exc.error, exc.description)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _invalid(description: str) -> FederationError:
    return FederationError(400, "invalid_request", description)


def _only(request: web.Request, allowed: frozenset[str]) -> None:
    for key in request.query:
        if key not in allowed:
            raise FederationError(400, "unsupported_parameter", f"unknown parameter {key!r}")


def _one(request: web.Request, name: str, *, required: bool = False) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise _invalid(f"{name} is given more than once")
    if not values:
        if required:
            raise _invalid(f"{name} is required")
        return None
    value = values[0]
    if not value or len(value) > MAX_ID_LENGTH:
        raise _invalid(f"{name} must be 1 to {MAX_ID_LENGTH} characters")
    return value


def _flag(request: web.Request, name: str) -> bool | None:
    value = _one(request, name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise _invalid(f"{name} must be true or false")
    return value == "true"


def _list_filters(request: web.Request) -> tuple[list[str], bool | None, bool]:
    types = request.query.getall("entity_type", [])
    if any(not t or len(t) > 128 for t in types):
        raise _invalid("entity_type must be 1 to 128 characters")
    trust_marked = bool(_flag(request, "trust_marked")) or bool(_one(request, "trust_mark_type"))
    return types, _flag(request, "intermediate"), trust_marked


@routes.get(oidfed.WELL_KNOWN)
@_answers
async def entity_configuration(request: web.Request) -> web.Response:
    statement = await _federation(request).entity_configuration()
    return _jwt(request, statement, oidfed.STATEMENT_MEDIA)


@routes.get(oidfed.PATHS["fetch"])
@_answers
async def fetch(request: web.Request) -> web.Response:
    _only(request, frozenset({"sub"}))
    sub = _one(request, "sub", required=True)
    assert sub is not None
    federation = _federation(request)
    try:
        statement = await federation.fetch(sub)
    except FederationError as exc:
        # A client that does not encode sub (the DCC registry client) sends a did:web with a
        # port as ``did:web:host%3A8443``: the id as its list has it, which decoding changed.
        raw = _raw(request, "sub")
        if exc.error != "not_found" or raw is None or raw == sub:
            raise
        statement = await federation.fetch(raw)
    return _jwt(request, statement, oidfed.STATEMENT_MEDIA)


def _raw(request: web.Request, name: str) -> str | None:
    """The value of the one ``name`` parameter as sent, not percent-decoded."""
    values = [
        part.partition("=")[2]
        for part in request.rel_url.raw_query_string.split("&")
        if part.partition("=")[0] == name
    ]
    return values[0] if len(values) == 1 and "+" not in values[0] else None


@routes.get(oidfed.PATHS["list"])
@_answers
async def subordinate_list(request: web.Request) -> web.Response:
    _only(request, _LIST_PARAMS)
    types, intermediate, trust_marked = _list_filters(request)
    return _json(_federation(request).list(types, intermediate, trust_marked))


@routes.get(oidfed.PATHS["extended_list"])
@_answers
async def extended_list(request: web.Request) -> web.Response:
    _only(request, _EXTENDED_PARAMS)
    types, intermediate, trust_marked = _list_filters(request)
    limit_text = _one(request, "limit")
    limit = oidfed.PAGE_DEFAULT
    if limit_text is not None:
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1_000_000:
            raise _invalid("limit must be a positive integer")
        limit = int(limit_text)
    page = await _federation(request).extended_list(
        types, intermediate, trust_marked, _one(request, "from_entity_id"), limit
    )
    return _json(page)


@routes.get(oidfed.PATHS["resolve"])
@_answers
async def resolve(request: web.Request) -> web.Response:
    _only(request, frozenset({"sub", "trust_anchor", "entity_type"}))
    sub = _one(request, "sub", required=True)
    anchors = request.query.getall("trust_anchor", [])
    if not anchors:
        raise _invalid("trust_anchor is required")
    assert sub is not None
    types = request.query.getall("entity_type", [])
    statement = await _federation(request).resolve(sub, anchors, types)
    return _jwt(request, statement, oidfed.RESOLVE_MEDIA)


@routes.get(oidfed.PATHS["historical_keys"])
@_answers
async def historical_keys(request: web.Request) -> web.Response:
    _only(request, frozenset())
    statement = await _federation(request).historical_keys()
    return _jwt(request, statement, oidfed.JWKS_MEDIA)
