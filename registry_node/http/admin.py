"""The admin API under /admin/v1/, authenticated by bearer tokens (docs/protocol.md section 7).

Handlers read the whole body (bounded by the application's size limit), parse it, and hand it to
a service that validates it completely before writing anything.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registry_node.core.errors import ConfigError, InvalidInput, Malformed
from registry_node.http.appkeys import JOBS, NODE
from registry_node.http.problems import json_response, problem, read_body

PREFIX = "/admin/v1"
PREFIX_SLASH = PREFIX + "/"
#: the admin API's paths: PREFIX itself and every path under it
PATHS, PREFIXES = (PREFIX,), (PREFIX_SLASH,)
ACTOR = web.RequestKey("actor", str)

routes = web.RouteTableDef()


def is_admin(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX_SLASH)


async def authenticate(request: web.Request) -> web.Response | None:
    """Every admin request needs a valid bearer token; without one nothing runs: the 401 to
    answer, or None with the token's actor noted on the request."""
    challenge = {"WWW-Authenticate": 'Bearer realm="registry-node admin"'}
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return problem(401, "unauthorized", "a bearer token is required", headers=challenge)
    name = await request.app[NODE].tokens.authenticate(token.strip())
    if name is None:
        challenge["WWW-Authenticate"] += ', error="invalid_token"'
        return problem(401, "unauthorized", "the bearer token is not valid", headers=challenge)
    request[ACTOR] = f"token:{name}"
    return None


async def _object(request: web.Request) -> dict[str, Any]:
    doc = await read_body(request)
    if not isinstance(doc, dict):
        raise Malformed("the body must be a JSON object")
    return doc


def _issuer_id(request: web.Request) -> str:
    # aiohttp has already percent-decoded the path segment; decoding again would corrupt ids
    # that contain "%" (did:web:host%3A8443).
    return request.match_info["issuer_id"]


@routes.get(PREFIX + "/issuers")
async def list_issuers(request: web.Request) -> web.Response:
    issuers = await request.app[NODE].issuers.all()
    return json_response({"issuers": issuers, "count": len(issuers)})


@routes.post(PREFIX + "/issuers")
async def create_issuer(request: web.Request) -> web.Response:
    doc = await _object(request)
    created = await request.app[NODE].issuers.create(doc, request[ACTOR])
    return json_response(created, status=201)


# Registered before the catch-all issuer route so that ".../status" reaches it.
@routes.post(PREFIX + "/issuers/{issuer_id:.+}/status")
async def set_status(request: web.Request) -> web.Response:
    change = await _object(request)
    doc = await request.app[NODE].issuers.set_status(_issuer_id(request), change, request[ACTOR])
    return json_response(doc)


@routes.get(PREFIX + "/issuers/{issuer_id:.+}")
async def get_issuer(request: web.Request) -> web.Response:
    return json_response(await request.app[NODE].issuers.get(_issuer_id(request)))


@routes.put(PREFIX + "/issuers/{issuer_id:.+}")
async def update_issuer(request: web.Request) -> web.Response:
    doc = await _object(request)
    updated = await request.app[NODE].issuers.update(_issuer_id(request), doc, request[ACTOR])
    return json_response(updated)


@routes.post(PREFIX + "/import")
async def import_issuers(request: web.Request) -> web.Response:
    doc = await read_body(request, yaml=True)
    service = request.app[NODE].issuers
    entries = service.parse_source(doc, "request body")
    result = await service.import_entries(entries, request[ACTOR])
    return json_response(result.as_json())


@routes.post(PREFIX + "/publish")
async def publish(request: web.Request) -> web.Response:
    version = await request.app[NODE].publisher.publish("requested by admin", request[ACTOR])
    return json_response(
        {"seq": version.seq, "digest": version.digest, "exp": version.exp}, status=201
    )


@routes.get(PREFIX + "/versions")
async def versions(request: web.Request) -> web.Response:
    """The newest published versions and how each links to the one before (section 8.2)."""
    limit = min(max(_whole_number(request, "limit", "50"), 1), 1000)
    found = await request.app[NODE].publisher.recent(limit)
    return json_response(
        {
            "versions": [
                {
                    "seq": v.seq,
                    "digest": v.digest,
                    "prev": v.prev,
                    "iat": v.iat,
                    "exp": v.exp,
                    "signed_by": list(v.signed_by),
                    "published_at": v.published_at,
                    "reason": v.reason,
                    "body_kept": not v.pruned,
                }
                for v in found
            ]
        }
    )


#: The largest value SQLite stores as an integer
MAX_INTEGER = 2**63 - 1


def _whole_number(request: web.Request, name: str, default: str) -> int:
    """A query parameter that must be a whole number a database column can hold."""
    text = request.query.get(name, default)
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_INTEGER):
        raise Malformed(
            f"{name} must be a whole number from 0 to {MAX_INTEGER}", code="bad_query", field=name
        )
    return int(text)


@routes.get(PREFIX + "/audit")
async def audit(request: web.Request) -> web.Response:
    after = _whole_number(request, "after", "0")
    limit = min(max(_whole_number(request, "limit", "100"), 1), 1000)
    records = await request.app[NODE].audit.records(after, limit)
    return json_response(
        {
            "records": [r.as_json() for r in records],
            "next_after": records[-1].id if records else after,
        }
    )


@routes.post(PREFIX + "/peers/reload")
async def reload_peers(request: web.Request) -> web.Response:
    node = request.app[NODE]
    jobs = request.app.get(JOBS)
    try:
        if jobs is not None:
            diff = await jobs.reload_peers(request[ACTOR])
        else:
            diff = await node.federation.reload(request[ACTOR])
    except ConfigError as exc:
        raise InvalidInput(exc.detail, code="peers_invalid", field=exc.field) from exc
    return json_response(diff)


@routes.post(PREFIX + "/peers/sync")
async def sync_peers(request: web.Request) -> web.Response:
    """Sync now: every peer, or only ``?peer=<id>``."""
    federation = request.app[NODE].federation
    peer_id = request.query.get("peer")
    if peer_id is not None:
        results = [await federation.sync(peer_id)]
    else:
        results = await federation.sync_all()
    return json_response({"results": [r.as_json() for r in results]})
