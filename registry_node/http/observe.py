"""Seeing what the node answers: every request is counted and timed in ``/metrics`` under its
route template, and, when ``access_log`` is on, logged as one structured line.

The route template (``/v1/issuers/{id}``), never the raw path, is the metrics label, so the
number of series stays bounded whatever paths clients send. The log line carries the path
without its query string and no request header but ``User-Agent``: an admin token (in
``Authorization``) or anything a client puts in a query never reaches the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from registry_node.http.appkeys import NODE
from registry_node.http.cors import REQUEST_ID
from registry_node.services.metrics import UNMATCHED

access = logging.getLogger("registry_node.access")

#: the status counted and logged when the client went away before the answer (as nginx does)
CLIENT_CLOSED = 499
#: longest User-Agent kept in a log line
MAX_AGENT = 200


def route_template(request: web.Request) -> str:
    """The matched resource's template, e.g. ``/trust-list/{seq}``; ``unmatched`` for none."""
    resource = request.match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


def observe_middleware(access_log: bool, timer: Callable[[], float]) -> Middleware:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = timer()
        status = 500
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:  # a redirect or an error the inner layers let pass
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            seconds = timer() - start
            route = route_template(request)
            node = request.app.get(NODE)
            if node is not None:
                node.metrics.observe_request(route, request.method, status, seconds)
            if access_log and access.isEnabledFor(logging.INFO):
                _log(request, route, status, seconds, response)

    return observe


def _log(
    request: web.Request,
    route: str,
    status: int,
    seconds: float,
    response: web.StreamResponse | None,
) -> None:
    fields: dict[str, object] = {
        "method": request.method,
        # Still percent-encoded: a client cannot put a line break into a text log.
        "path": request.rel_url.raw_path,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "remote": request.remote,
    }
    size = getattr(response, "content_length", None)
    if size is not None:
        fields["bytes"] = size
    if response is not None and REQUEST_ID in response.headers:  # only a valid one is echoed
        fields["request_id"] = response.headers[REQUEST_ID]
    agent = request.headers.get("User-Agent")
    if agent:
        fields["user_agent"] = "".join(c if c.isprintable() else "?" for c in agent[:MAX_AGENT])
    access.info("request", extra=fields)
