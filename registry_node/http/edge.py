"""What every request goes through: it is timed and counted (http/observe.py), a CORS
preflight is answered and the CORS headers and the request id added (http/cors.py), errors
become Problem Details (http/problems.py) and a bearer token is asked for under /admin/v1
(http/admin.py), in that order, outermost first.

The edge wraps each route's handler where the route is added, and a last route that matches
every path and method answers what no other route does (404, or 405 with ``Allow`` when the path
is known and the method is not): the application has no middleware. An aiohttp middleware costs
a call and a coroutine on every request, and any middleware at all brings aiohttp's own layer
that sets the request's current application; a lookup is answered in little more time than
those (ADR 0025).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from registry_node.http import admin, cors
from registry_node.http.observe import CLIENT_CLOSED, access, log_request
from registry_node.http.problems import answer_error
from registry_node.services.metrics import UNMATCHED, Metrics


class Edge:
    """Install the routes of an application behind the edge (``install``); ``metrics``: where
    requests are counted, set once the node is open (none counted before)."""

    def __init__(self, access_log: bool, timer: Callable[[], float]) -> None:
        self.metrics: Metrics | None = None
        self._access_log = access_log
        self._timer = timer

    def install(self, app: web.Application, tables: Iterable[web.RouteTableDef]) -> None:
        """Add every route of ``tables`` to ``app``, each handler behind the edge, and then the
        route that answers for everything else."""
        for table in tables:
            for route in table:
                if not isinstance(route, web.RouteDef) or isinstance(route.handler, type):
                    raise TypeError(f"only plain handler routes go behind the edge: {route!r}")
                # The resource the route joins (the router reuses the last one for the same
                # path and name): its template is the route's label in metrics and logs.
                resource = app.router.add_resource(route.path, name=route.kwargs.get("name"))
                edged = self.wrap(route.handler, resource.canonical)
                web.RouteDef(route.method, route.path, edged, route.kwargs).register(app.router)
        last = self.wrap(_unmatched, UNMATCHED)
        app.router.add_route("*", r"/{path:[\s\S]*}", last, name=UNMATCHED)

    def wrap(self, handler: Handler, route: str) -> Handler:
        """``handler`` behind the edge, counted and logged under the template ``route``."""
        edge = self
        timer = self._timer
        access_log = self._access_log

        async def edged(request: web.Request) -> web.StreamResponse:
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
                        if admin.is_admin(path):
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
                metrics = edge.metrics
                if metrics is not None:
                    metrics.observe_request(route, request.method, status, seconds)
                if access_log and access.isEnabledFor(logging.INFO):
                    log_request(request, route, status, seconds, response)

        return edged


async def _unmatched(request: web.Request) -> web.StreamResponse:
    """No route has this path and method: 405 naming the methods when some route has the path
    (what aiohttp's router answers without a last route), else 404."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.name == UNMATCHED:
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()
