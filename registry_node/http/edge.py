"""The one middleware every request goes through: it times and counts the request
(http/observe.py), answers a CORS preflight and adds the CORS headers and the request id
(http/cors.py), turns errors into Problem Details (http/problems.py) and asks for a bearer token
under /admin/v1 (http/admin.py), in that order, outermost first.

One layer rather than four: each aiohttp middleware is a call and a coroutine of its own on every
request, and a lookup is answered in little more time than that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from registry_node.http import admin, cors
from registry_node.http.observe import CLIENT_CLOSED, access, log_request, route_template
from registry_node.http.problems import answer_error
from registry_node.services.metrics import Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Edge:
    """``middleware`` for the application; ``metrics``: where requests are counted, set once
    the node is open (none counted before)."""

    def __init__(self, access_log: bool, timer: Callable[[], float]) -> None:
        self.metrics: Metrics | None = None
        self.middleware = self._middleware(access_log, timer)

    def _middleware(self, access_log: bool, timer: Callable[[], float]) -> Middleware:
        edge = self

        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            start = timer()
            status = 500
            response: web.StreamResponse | None = None
            try:
                path = request.path
                public = cors.is_public(path)
                if cors.is_preflight(request, public):
                    response = cors.preflight()
                else:
                    try:
                        if path.startswith(admin.PREFIX) and admin.is_admin(path):
                            response = await admin.authenticate(request)
                        if response is None:
                            response = await handler(request)
                    except Exception as exc:  # not CancelledError: the client went away
                        response = answer_error(request, exc)
                        if response is None:  # a redirect
                            raise
                    if public:
                        response.headers.update(cors.PUBLIC_HEADERS)
                request_id = request.headers.get(cors.REQUEST_ID)
                if request_id is not None and cors.valid_request_id(request_id):
                    response.headers[cors.REQUEST_ID] = request_id
                status = response.status
                return response
            except web.HTTPException as exc:  # a redirect, or an error raised past the rest
                status = exc.status
                raise
            except asyncio.CancelledError:
                status = CLIENT_CLOSED
                raise
            finally:
                seconds = timer() - start
                route = route_template(request)
                metrics = edge.metrics
                if metrics is not None:
                    metrics.observe_request(route, request.method, status, seconds)
                if access_log and access.isEnabledFor(logging.INFO):
                    log_request(request, route, status, seconds, response)

        return middleware
