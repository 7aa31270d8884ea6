"""Public endpoints: the signed list, its history, node metadata, keys, schemas, health.

What these serve is specified in docs/protocol.md; keep the two in step.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registry_node import PROTOCOL_VERSION, __version__
from registry_node.core import schema
from registry_node.core.signing import MEDIA_TYPE, TYP
from registry_node.core.timeutil import (
    format_rfc3339,
    from_numeric_date,
    to_numeric_date,
)
from registry_node.http.appkeys import LIST_CACHE, NODE
from registry_node.http.cache import Representation
from registry_node.http.problems import json_response, problem
from registry_node.services.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from registry_node.services.metrics import OwnList

routes = web.RouteTableDef()

IMMUTABLE = "public, max-age=31536000, immutable"
#: /readyz turns not-ready when the current list is this close to ``exp``: an hour, or an
#: eighth of the validity when lists are short-lived (the node refreshes at a quarter).
READY_MARGIN = 3600


def _ready_margin(validity_seconds: float) -> float:
    return min(READY_MARGIN, validity_seconds / 8)


def _wants_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower()
            if not q.startswith("q="):
                return True
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
    return False


def _etag_matches(request: web.Request, digest: str) -> bool:
    """If-None-Match with weak comparison (RFC 9110 13.1.2); our gzip tags share the digest."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag.removesuffix("+gzip") == digest:
            return True
    return False


def _serve_list(request: web.Request, rep: Representation, cache_control: str) -> web.Response:
    version = rep.version
    gz = _wants_gzip(request)
    headers = {
        "ETag": f'"{version.digest}+gzip"' if gz else f'"{version.digest}"',
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
        "Last-Modified": _http_date(version.iat),
        "Trust-List-Seq": str(version.seq),
    }
    if _etag_matches(request, version.digest):
        return web.Response(status=304, headers=headers)
    if gz:
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=rep.gzip_body, headers=headers, content_type=MEDIA_TYPE)
    return web.Response(body=version.body, headers=headers, content_type=MEDIA_TYPE)


def _http_date(numeric: int) -> str:
    return from_numeric_date(numeric).strftime("%a, %d %b %Y %H:%M:%S GMT")


@routes.get("/trust-list")
async def current_list(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE]
    if await node.recovery.pending() is not None:
        # The restored newest version may predate a change already published (section 10).
        return problem(503, "restore_unconfirmed", "restored from a backup, not yet confirmed")
    rep = await request.app[LIST_CACHE].latest()
    if rep is None:
        return problem(503, "not_published", "no list has been published yet")
    now = to_numeric_date(node.clock())
    # A cache must never hold the list past its exp (docs/protocol.md section 2.2).
    max_age = max(0, min(int(node.config.cache_max_age.total_seconds()), rep.version.exp - now))
    return _serve_list(request, rep, f"public, max-age={max_age}, must-revalidate")


@routes.get(r"/trust-list/{seq:[0-9]{1,16}}")
async def list_version(request: web.Request) -> web.StreamResponse:
    seq = int(request.match_info["seq"])
    rep = await request.app[LIST_CACHE].get(seq)
    if rep is None:
        if seq <= await request.app[NODE].publisher.latest_seq():
            # Published once, body no longer kept (retention, or lost in a restore).
            return problem(410, "version_gone", f"the body of version {seq} is no longer kept")
        return problem(404, "version_not_found", f"no published version {seq}")
    return _serve_list(request, rep, IMMUTABLE)


def _endpoints(base: str) -> dict[str, str]:
    return {
        "trust_list": f"{base}/trust-list",
        "trust_list_version": f"{base}/trust-list/{{seq}}",
        "jwks": f"{base}/jwks.json",
        "schemas": f"{base}/schemas/",
        "peers": f"{base}/v1/peers",
        "issuer": f"{base}/v1/issuers/{{id}}",
        "metrics": f"{base}/metrics",
        "trqp_authorization": f"{base}/trqp/authorization",
        "trqp_recognition": f"{base}/trqp/recognition",
        "trqp_metadata": f"{base}/trqp/metadata",
        "openid_federation": f"{base}/.well-known/openid-federation",
    }


@routes.get("/.well-known/ler-trust-registry")
async def metadata(request: web.Request) -> web.Response:
    node = request.app[NODE]
    config = node.config
    current = await node.publisher.keys("current")
    upcoming = await node.publisher.keys("next")
    latest = await node.publisher.latest(with_body=False)
    return json_response(
        {
            "id": config.node_id,
            "jurisdiction": config.jurisdiction,
            "name": config.name,
            "protocol_version": PROTOCOL_VERSION,
            "software": f"registry-node/{__version__}",
            "typ": TYP,
            "endpoints": _endpoints(config.base_url),
            "jwks": {"keys": [k.public_jwk for k in current]},
            "next_keys": [k.public_jwk for k in upcoming],
            "current": None
            if latest is None
            else {
                "seq": latest.seq,
                "digest": latest.digest,
                "iat": latest.iat,
                "exp": latest.exp,
            },
            "schemas": {name: f"{config.base_url}/schemas/{name}" for name in schema.SCHEMA_FILES},
        },
        headers={"Cache-Control": "public, max-age=60"},
    )


@routes.get("/jwks.json")
async def jwks(request: web.Request) -> web.Response:
    return json_response(
        await request.app[NODE].publisher.jwks(),
        headers={"Cache-Control": "public, max-age=60"},
    )


@routes.get("/schemas/{name}")
async def schema_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        body = schema.schema_bytes(name)
    except KeyError:
        return problem(404, "schema_not_found", f"no schema {name!r}")
    return web.Response(
        body=body,
        content_type="application/schema+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    node = request.app[NODE]
    checks: dict[str, Any] = {}
    ready = True
    if not await node.healthy():
        checks["database"] = {"ok": False, "detail": "database not reachable"}
        ready = False
    elif (refused := await node.write_problem()) is not None:
        checks["database"] = {"ok": False, "detail": f"database refuses writes: {refused}"}
        ready = False
    else:
        checks["database"] = {"ok": True}
    importing = node.import_status()
    if importing is not None:  # the start-up import of the issuer source file is not done
        checks["issuer_source"] = importing
        ready = False
    latest = await node.publisher.latest(with_body=False)
    now = to_numeric_date(node.clock())
    restored = await node.recovery.pending()
    if restored is not None:
        check = restored["check"] or {}
        checks["trust_list"] = {
            "ok": False,
            "detail": "restored from a backup: nothing is published until every peer has "
            "answered with the newest version of this list it holds, or the operator runs "
            "`registry-node restore --confirm`",
            "restore": {"restored_at": restored.get("restored_at"), "last_attempt": check},
        }
        ready = False
    elif latest is None:
        checks["trust_list"] = {"ok": False, "detail": "no list published"}
        ready = False
    else:
        fresh = now < latest.exp - _ready_margin(latest.exp - latest.iat)
        checks["trust_list"] = {
            "ok": fresh,
            "seq": latest.seq,
            "exp": format_rfc3339(from_numeric_date(latest.exp)),
        }
        if not fresh:
            checks["trust_list"]["detail"] = "the published list is about to expire"
            ready = False
    # Which replica publishes and syncs (docs/adr/0024): informative, since a standby answers
    # as well as the holder; with no holder nothing publishes, which trust_list will show.
    checks["replica"] = await node.replica.status()
    if node.federation.peers_differ is not None:
        # This replica would answer with other peers than the rest: out of the rotation.
        checks["replica"].update(ok=False, detail=node.federation.peers_differ)
        ready = False
    peers = [p.as_json() for p in await node.federation.status()]
    troubled = [p for p in peers if p["state"] != "fresh"]
    checks["peers"] = {
        "ok": not troubled,
        "configured": len(peers),
        "degraded": [
            {"id": p["id"], "state": p["state"], "last_error": p["last_error"]} for p in troubled
        ],
    }
    status = "not_ready" if not ready else ("degraded" if troubled else "ready")
    return json_response({"status": status, "checks": checks}, status=200 if ready else 503)


@routes.get("/v1/peers")
async def peers(request: web.Request) -> web.Response:
    peers = await request.app[NODE].federation.status()
    return json_response({"peers": [p.as_json() for p in peers]})


@routes.get("/v1/peers/list")
async def held_list(request: web.Request) -> web.Response:
    """The list this node holds of peer ``id``, byte for byte as the peer signed it: how a
    peer restored from a backup learns what it had published (docs/protocol.md 9.6)."""
    peer_id = request.query.get("id", "")
    held = await request.app[NODE].federation.held_body(peer_id)
    if held is None:
        return problem(404, "peer_list_not_held", f"no list of {peer_id!r} is held")
    return web.Response(
        body=held.body,
        content_type=MEDIA_TYPE,
        headers={
            "ETag": f'"{held.digest}"',
            "Cache-Control": "no-cache",
            "Trust-List-Seq": str(held.seq),
        },
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    node = request.app[NODE]
    latest = await node.publisher.latest(with_body=False)
    node.metrics.own = None if latest is None else OwnList(latest.seq, latest.iat, latest.exp)
    node.metrics.replica(node.replica.name, node.replica.leading, node.replica.takeovers)
    body = node.metrics.render()
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})
