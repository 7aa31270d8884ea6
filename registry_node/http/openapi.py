"""``GET /openapi.json``: the OpenAPI 3.1 description of every public and admin endpoint.

The document is a packaged file (``openapi.json`` beside this module), served byte for byte;
tests/http/test_openapi.py checks it against the routes the application really has.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

routes = web.RouteTableDef()


def document_bytes() -> bytes:
    return (resources.files("registry_node.http") / "openapi.json").read_bytes()


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(
        body=document_bytes(),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )
