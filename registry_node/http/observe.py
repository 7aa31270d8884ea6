"""Seeing what the node answers: every request is counted and timed in ``/metrics`` under its
route template, and, when ``access_log`` is on, logged as one structured line (by the edge,
http/edge.py).

The route template (``/v1/issuers/{id}``), never the raw path, is the metrics label, so the
number of series stays bounded whatever paths clients send. The log line carries the path
without its query string and no request header but ``User-Agent``: an admin token (in
``Authorization``) or anything a client puts in a query never reaches the log.
"""

from __future__ import annotations

import logging

from aiohttp import web

from registry_node.http.cors import REQUEST_ID

access = logging.getLogger("registry_node.access")

#: the status counted and logged when the client went away before the answer (as nginx does)
CLIENT_CLOSED = 499
#: longest User-Agent kept in a log line
MAX_AGENT = 200


def log_request(
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
