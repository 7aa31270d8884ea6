"""RFC 7807 Problem Details for every error the HTTP edge returns.

Every problem carries a stable ``code`` (also the last part of its ``type`` URI) so that clients
and operators can act on it without parsing prose (docs/protocol.md section 8).
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web

from registry_node.core import jsonout, reasons, strictjson
from registry_node.core.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    Malformed,
    NotFound,
    RegistryError,
    SchemaInvalid,
    StorageUnavailable,
)
from registry_node.core.strictjson import StrictJSONError
from registry_node.core.yamlsafe import load_yaml
from registry_node.http.appkeys import MAX_BODY

PROBLEM_TYPE = "urn:ler-trust-registry:problem:"
MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("registry_node.http")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def json_response(
    doc: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer (not a problem): compact UTF-8."""
    body = jsonout.compact(doc)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if extra.get("hint") is None:  # the registry's hint for the code (core/reasons.py)
        extra["hint"] = reasons.hint(code, leads_to=status) or None
    body.update({k: v for k, v in extra.items() if v is not None})
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode(),
        content_type=MEDIA_TYPE,
        headers=headers,
    )


JSON_TYPES = ("application/json", "application/octet-stream", "")  # "": no Content-Type
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


async def read_body(request: web.Request, *, yaml: bool = False, any_type: bool = False) -> Any:
    """The parsed body: JSON, or YAML where ``yaml`` allows it. 413 past the size limit.

    ``any_type`` parses JSON whatever the Content-Type says (the query endpoints: a browser's
    simple request may send text/plain), so that a body that is not JSON is always a 400.
    """
    raw = await request.read()
    if yaml and request.content_type in YAML_TYPES:
        return load_yaml(raw, "request body")
    if not any_type and request.content_type not in JSON_TYPES:
        accepted = "application/json or application/yaml" if yaml else "application/json"
        raise web.HTTPUnsupportedMediaType(text=f"send {accepted}")
    try:
        return strictjson.loads(raw)  # docs/protocol.md section 2.4
    except StrictJSONError as exc:
        raise Malformed(f"the body is not valid JSON: {exc}") from exc


def _status_for(exc: RegistryError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Malformed):
        return 400
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, ConfigError):
        return 500
    if isinstance(exc, StorageUnavailable):
        return 503
    return 400


def from_error(exc: RegistryError, instance: str) -> web.Response:
    errors = None
    if isinstance(exc, SchemaInvalid):
        errors = [{"field": path, "message": message} for path, message in exc.errors]
    return problem(
        _status_for(exc),
        exc.code,
        exc.detail,
        instance=instance,
        field=exc.field,
        errors=errors,
        hint=exc.hint or None,
    )


def answer_error(request: web.Request, exc: Exception) -> web.Response | None:
    """Domain errors and aiohttp's HTTP errors as Problem Details; None for an HTTP exception
    below 400 (a redirect), which the caller lets pass. Called in the ``except`` block, so that
    an unexpected error is logged with its traceback."""
    if isinstance(exc, RegistryError):
        return from_error(exc, request.path)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return None
        code = _HTTP_CODES.get(exc.status, "http_error")
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 413:
            detail = f"the request body is larger than the limit of {request.app[MAX_BODY]} bytes"
        headers = {
            k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")
        }
        return problem(exc.status, code, detail, instance=request.path, headers=headers)
    log.exception("unhandled error", extra={"path": request.path})
    return problem(500, "internal_error", "an unexpected error occurred", instance=request.path)
