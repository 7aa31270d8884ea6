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

from aiohttp import hdrs, web
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
                edged = self.wrap(route.handler, resource.canonical, route.method)
                web.RouteDef(route.method, route.path, edged, route.kwargs).register(app.router)
        last = self.wrap(_unmatched, UNMATCHED, hdrs.METH_ANY, UNMATCHED_PATH)
        app.router.add_route(hdrs.METH_ANY, UNMATCHED_PATH, last, name=UNMATCHED)

    def wrap(
        self, handler: Handler, route: str, method: str = hdrs.METH_ANY, template: str = ""
    ) -> Handler:
        """``handler`` behind the edge, counted and logged under the template ``route``;
        ``method``: the route's (a preflight reaches only a route of ``OPTIONS`` or of every
        method); ``template``: the path the route was added with (default: ``route``).

        Whether a request is public (CORS) and whether it is an admin one (token) are rules of
        its path, decided here once for a route whose every path has the same answer (the
        lookup's ``/v1/issuers/{name}``: public, not admin), and per request otherwise."""
        edge = self
        timer = self._timer
        access_log = self._access_log
        template = template or route
        always_public = path_rule(template, cors.PUBLIC_PATHS, cors.PUBLIC_PREFIXES)
        always_admin = path_rule(template, admin.PATHS, admin.PREFIXES)
        preflights = method in (hdrs.METH_ANY, hdrs.METH_OPTIONS)

        async def edged(request: web.Request) -> web.StreamResponse:
            start = timer()
            status = 500
            response: web.StreamResponse | None = None
            try:
                public = always_public
                if public is None:
                    public = cors.is_public(request.path)
                if preflights and cors.is_preflight(request, public):
                    response = cors.preflight()
                else:
                    try:
                        is_admin = always_admin
                        if is_admin is None:
                            is_admin = admin.is_admin(request.path)
                        if is_admin:
                            response = await admin.authenticate(request)
                        if response is None:
                            response = await handler(request)
                    except Exception as exc:  # not CancelledError: the client went away
                        response = answer_error(request, exc)
                        if response is None:  # a redirect
                            raise
                    if public:
                        response.headers.update(cors.PUBLIC_HEADERS)
                request_id = request.headers.get(cors.REQUEST_ID_KEY)
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


#: the last route's path: every path
UNMATCHED_PATH = r"/{path:[\s\S]*}"


def path_rule(template: str, paths: Iterable[str], prefixes: Iterable[str]) -> bool | None:
    """Is every path the route ``template`` matches one of ``paths`` or under one of
    ``prefixes`` (True), is none (False), or does that depend on the path (None)? A path that a
    template matches begins with the template's text before its first variable, that text
    itself when it has none (and no ``%``, which the router reads decoded)."""
    literal, variable, _ = template.partition("{")
    if "%" in literal:
        return None
    if not variable:  # a plain route: its one path
        return literal in paths or literal.startswith(tuple(prefixes))
    if literal.startswith(tuple(prefixes)):
        return True
    if any(p.startswith(literal) for p in (*paths, *prefixes)):
        return None  # the rest of the path decides
    return False


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
