"""``POST /v1/verify``: check one whole credential (docs/protocol.md section 13); and
``POST /v1/receipts/verify``: check a signed receipt of this node (section 11.7).

The body is the credential: a JSON object (Data Integrity), or a compact JWS sent as
``application/jwt`` / ``application/vc+jwt`` / ``text/plain``, or as a JSON string. The
credential is never stored and never logged; a malformed one is a 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from registry_node.core import strictjson
from registry_node.core.errors import Malformed
from registry_node.core.strictjson import StrictJSONError
from registry_node.http.appkeys import NODE
from registry_node.http.problems import json_response

if TYPE_CHECKING:
    from registry_node.services.node import Node

routes = web.RouteTableDef()

TOKEN_TYPES = ("application/jwt", "application/vc+jwt", "application/vc+sd-jwt", "text/plain")


async def read_credential(request: web.Request) -> dict[str, Any] | str:
    return credential_from(await request.read(), request.content_type)


def credential_from(raw: bytes, content_type: str) -> dict[str, Any] | str:
    """The credential a request body of ``content_type`` carries; raises Malformed."""
    if not raw.strip():
        raise Malformed("the body is empty: send the credential", code="credential_missing")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8", code="malformed_body") from None
    if content_type in TOKEN_TYPES and not text.lstrip().startswith(("{", '"')):
        return text.strip()
    try:
        doc = strictjson.loads(text)  # docs/protocol.md section 2.4
    except StrictJSONError:
        raise Malformed(
            "the body is neither JSON nor a compact JWS with a token media type",
            code="malformed_body",
        ) from None
    if isinstance(doc, str):
        return doc.strip()
    if not isinstance(doc, dict):
        raise Malformed("the credential must be a JSON object or a compact JWS string")
    return doc


@routes.post("/v1/verify")
async def verify(request: web.Request) -> web.Response:
    return await answer(request.app[NODE], await request.read(), request.content_type)


async def answer(node: Node, raw: bytes, content_type: str) -> web.Response:
    """The whole answer to a ``POST /v1/verify`` of ``raw`` (bench/verify.py measures it)."""
    credential = credential_from(raw, content_type)
    result = await node.verifier.verify(credential, len(raw))
    node.metrics.count_verification(result["verdict"])
    return json_response(result, headers={"Cache-Control": "no-store"})


#: A receipt is one answer: far smaller than this.
MAX_RECEIPT_BYTES = 256 * 1024


@routes.post("/v1/receipts/verify")
async def verify_receipt(request: web.Request) -> web.Response:
    """Is this a receipt this node signed, and what does it say? The token is the body, as
    text (any media type) or as a JSON string; what does not verify is ``verified: false``."""
    node = request.app[NODE]
    raw = await request.read()
    if not raw.strip():
        raise Malformed("the body is empty: send the receipt", code="receipt_malformed")
    if len(raw) > MAX_RECEIPT_BYTES:
        raise Malformed(
            f"a receipt is not larger than {MAX_RECEIPT_BYTES} bytes", code="receipt_malformed"
        )
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        text = ""  # not a compact JWS: the check below says so
    if text.startswith('"'):
        try:
            decoded = strictjson.loads(text)
        except StrictJSONError:
            decoded = None
        text = decoded.strip() if isinstance(decoded, str) else ""
    result = node.receipts.check(text, await node.publisher.jwks())
    return json_response(result, headers={"Cache-Control": "no-store"})
