"""Cross-origin reads and request ids, for every response including errors.

The public read endpoints answer any origin, so that a browser-based verifier can call them;
they carry no credentials, so ``*`` is safe. The admin API sends no CORS headers: a browser
on another origin cannot call it. A valid ``X-Request-ID`` is echoed on every response
(docs/protocol.md section 11.6).
"""

from __future__ import annotations

import re

from aiohttp import web
from multidict import CIMultiDict, istr

#: the public paths that are not under one of PUBLIC_PREFIXES
PUBLIC_PATHS = ("/v1/issuers",)
PUBLIC_PREFIXES = (
    "/v1/",
    "/trqp/",
    "/trust-list",
    "/jwks.json",
    "/.well-known/",
    "/schemas/",
    "/openapi.json",
    "/federation/",
)
ALLOW_METHODS = "GET, HEAD, POST, OPTIONS"
ALLOW_HEADERS = "Accept, Accept-Encoding, Content-Type, If-None-Match, X-Request-ID"
EXPOSE_HEADERS = "ETag, Trust-List-Seq, X-Request-ID, Content-Encoding"
MAX_AGE = "86400"

REQUEST_ID = "X-Request-ID"
#: the same name, as the key a request's headers are read with (its case folded once)
REQUEST_ID_KEY = istr(REQUEST_ID)
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


#: the preflight's answer; a new response each time (a response is prepared only once)
_PREFLIGHT = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": ALLOW_METHODS,
    "Access-Control-Allow-Headers": ALLOW_HEADERS,
    "Access-Control-Max-Age": MAX_AGE,
}
#: what every answer of a public endpoint carries (a case-insensitive dict already, so that
#: adding it to an answer's headers folds no name's case again)
PUBLIC_HEADERS: CIMultiDict[str] = CIMultiDict(
    {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": EXPOSE_HEADERS,
    }
)


def is_preflight(request: web.Request, public: bool) -> bool:
    return (
        public
        and request.method == "OPTIONS"
        and "Access-Control-Request-Method" in request.headers
    )


def preflight() -> web.Response:
    """The answer to a preflight: its own CORS headers (not :data:`PUBLIC_HEADERS`)."""
    return web.Response(status=204, headers=_PREFLIGHT)


#: a valid X-Request-ID, echoed on every answer
valid_request_id = _REQUEST_ID.fullmatch
