"""JSON Schemas of protocol v1 and the node's inputs, and validation with readable errors.

The schema files under ``schemas/`` are the single source of truth: the node validates with
them and serves them byte for byte at ``/schemas/{name}``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import jsonschema_rs
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from registry_node.core.errors import SchemaInvalid
from registry_node.core.timeutil import parse_rfc3339

#: served name -> file in the package
SCHEMA_FILES = {
    "trust-list-v1.json": "trust-list-v1.json",
    "issuer-source-v1.json": "issuer-source-v1.json",
    "status-change-v1.json": "status-change-v1.json",
    "node-config-v1.json": "node-config-v1.json",
    "peers-v1.json": "peers-v1.json",
    "lookup-batch-v1.json": "lookup-batch-v1.json",
    "trqp-authorization-request.json": "trqp/trqp-authorization-request.json",
    "trqp-authorization-response.json": "trqp/trqp-authorization-response.json",
    "trqp-recognition-request.json": "trqp/trqp-recognition-request.json",
    "trqp-recognition-response.json": "trqp/trqp-recognition-response.json",
}

TRUST_LIST = "urn:ler-trust-registry:schema:trust-list:v1"
ISSUER = TRUST_LIST + "#/$defs/issuer"
ISSUER_SOURCE = "urn:ler-trust-registry:schema:issuer-source:v1"
STATUS_CHANGE = "urn:ler-trust-registry:schema:status-change:v1"
NODE_CONFIG = "urn:ler-trust-registry:schema:node-config:v1"
PEERS = "urn:ler-trust-registry:schema:peers:v1"
LOOKUP_BATCH = "urn:ler-trust-registry:schema:lookup-batch:v1"
#: The Trust over IP TRQP v2 schemas (copied unmodified; their ``$id`` is a bare name)
TRQP_AUTHORIZATION_REQUEST = "trqp-authorization-request"
TRQP_AUTHORIZATION_RESPONSE = "trqp-authorization-response"
TRQP_RECOGNITION_REQUEST = "trqp-recognition-request"
TRQP_RECOGNITION_RESPONSE = "trqp-recognition-response"


def _date_time(value: object) -> bool:
    """``format: date-time`` as an assertion: an RFC 3339 instant that really exists."""
    if not isinstance(value, str):
        return True  # not a string: the schema's "type" reports it
    try:
        parse_rfc3339(value)
    except ValueError:
        return False
    return True


_format_checker = jsonschema.FormatChecker(formats=())
_format_checker.checks("date-time")(_date_time)


def schema_bytes(name: str) -> bytes:
    """The exact bytes of a packaged schema file, as served."""
    if name not in SCHEMA_FILES:
        raise KeyError(name)
    return (resources.files("registry_node.core") / "schemas" / SCHEMA_FILES[name]).read_bytes()


@cache
def _registry() -> Registry:
    resources_ = []
    for name in SCHEMA_FILES:
        doc = json.loads(schema_bytes(name))
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        resources_.append((doc["$id"], resource))
    return Registry().with_resources(resources_)


@cache
def validator(uri: str) -> jsonschema.protocols.Validator:
    """A compiled validator for the schema (or sub-schema) at ``uri``."""
    cls = jsonschema.Draft202012Validator
    return cls({"$ref": uri}, registry=_registry(), format_checker=_format_checker)


@cache
def _fast_trust_list() -> Any:
    doc = json.loads(schema_bytes("trust-list-v1.json"))
    return jsonschema_rs.Draft202012Validator(
        doc, formats={"date-time": _date_time}, validate_formats=True, offline=True
    )


@cache
def _fast(name: str) -> Any:
    doc = json.loads(schema_bytes(name))
    return jsonschema_rs.Draft202012Validator(
        doc, formats={"date-time": _date_time}, validate_formats=True, offline=True
    )


def check_fast(name: str, document: Any, what: str = "document") -> None:
    """Validate against the self-contained schema file ``name`` with the compiled validator;
    when it refuses, report with the reference validator (as :func:`validate` does)."""
    if _fast(name).is_valid(document):
        return
    uri = json.loads(schema_bytes(name))["$id"]
    validate(uri, document, what)
    raise SchemaInvalid(f"{what}: rejected by the schema validator", [("(document)", "invalid")])


def check_trust_list(payload: Any, what: str = "trust list payload") -> None:
    """Validate a (possibly very large) list payload against ``trust-list-v1.json``.

    The same schema file, compiled by a much faster validator: this is what keeps accepting
    a peer's 10,000-entry list cheap (docs/adr/0004). When it finds the payload invalid, the
    reference validator produces the report, so errors read the same everywhere.
    """
    if _fast_trust_list().is_valid(payload):
        return
    errors = errors_of(TRUST_LIST, payload)
    if not errors:  # the two validators disagree: refuse, and say so plainly
        errors = [("(document)", "rejected by the schema validator")]
    path, message = errors[0]
    raise SchemaInvalid(f"{what}: {path}: {message}", errors)


def format_path(path: list[str | int] | Any) -> str:
    """``['issuers', 3, 'status_history', 0]`` -> ``issuers[3].status_history[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def errors_of(uri: str, document: Any, limit: int = 20) -> list[tuple[str, str]]:
    """Every schema error as (path, message), most specific first within each path."""
    found = []
    for err in validator(uri).iter_errors(document):
        leaf = err
        # For oneOf/anyOf, report the best sub-error: it names the field that is wrong.
        if err.context:
            leaf = jsonschema.exceptions.best_match(err.context)
        found.append((format_path(list(leaf.absolute_path)), _message(leaf)))
    found.sort(key=lambda e: e[0])
    return found[:limit]


def _message(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        return err.message
    if err.validator == "pattern":
        return f"{err.instance!r} is not of the expected form"
    if err.validator == "not" and err.validator_value == {}:
        return "must not be present"
    return err.message


def validate(uri: str, document: Any, what: str = "document", prefix: str = "") -> None:
    """Raise :class:`SchemaInvalid` naming the first field that is wrong.

    ``prefix`` is the document's own path inside a larger one (``issuers[3]``), so that the
    reported fields are paths in what the caller sent.
    """
    errors = errors_of(uri, document)
    if prefix:
        errors = [(_join(prefix, path), message) for path, message in errors]
    if errors:
        path, message = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        shown = path.removeprefix(prefix).lstrip(".") or path if prefix else path
        raise SchemaInvalid(f"{what}: {shown}: {message}{more}", errors)


def _join(prefix: str, path: str) -> str:
    if path == "(document)":
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"
