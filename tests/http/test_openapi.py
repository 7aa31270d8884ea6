"""``GET /openapi.json``: the document is served; it describes exactly the routes the
application registers; it is valid OpenAPI 3.1 (checked against the official schema in
tests/data); every ``$ref`` in it resolves; the JSON Schemas it embeds are the node's own; and
what the node really answers matches what the document says."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from registry_node.config import NodeConfig
from registry_node.core import schema
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.http.cors import is_public
from registry_node.http.openapi import document_bytes
from registry_node.services.metrics import UNMATCHED
from tests import credential_factory
from tests.helpers import FakeClock, issuer
from tests.sim import PeerSimulator, sim_issuer

Client = TestClient[web.Request, web.Application]

OAS_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "openapi-3.1-schema.json"
OAS_SCHEMA_ID = "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
DOC: dict[str, Any] = json.loads(document_bytes())
#: the document as a JSON Schema resource, so that response bodies can be validated against
#: the schemas it gives them, ``$ref``s included
BASE = "urn:registry-node:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(BASE, DRAFT202012.create_resource(DOC))

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
#: ``{name}`` or ``{name:regex}`` (a regex may hold one level of braces, as in ``{1,16}``)
PLACEHOLDER = re.compile(r"\{(\w+)(?::(?:[^{}]|\{[^{}]*\})*)?\}")
TAGS = {"list", "node", "queries", "trqp", "admin", "federation", "health"}
PROBLEM_REQUIRED = {"type", "title", "status", "detail", "code"}
PROBLEM_MEMBERS = PROBLEM_REQUIRED | {"instance", "field", "errors", "hint"}
PROBLEM_MEDIA = "application/problem+json"
ADMIN_PREFIX = "/admin/v1/"
OIDF_PATHS = ("/federation/", "/.well-known/openid-federation")
#: the claims schema of each signed OpenID Federation answer
OIDF_CLAIMS = {
    "application/entity-statement+jwt": "EntityStatementClaims",
    "application/resolve-response+jwt": "ResolveResponseClaims",
    "application/jwk-set+jwt": "HistoricalKeysClaims",
}
EMBEDDED = {
    "trust-list-v1.json",
    "issuer-source-v1.json",
    "status-change-v1.json",
    "lookup-batch-v1.json",
    "trqp-authorization-request.json",
    "trqp-authorization-response.json",
    "trqp-recognition-request.json",
    "trqp-recognition-response.json",
}


# -- helpers ------------------------------------------------------------------------------


def documented_operations() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in DOC["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def registered_operations() -> set[tuple[str, str]]:
    """(path template, method) of every route, less the HEAD and OPTIONS aiohttp adds and the
    edge's last route (it answers 404 and 405 for everything else)."""
    app = create_app(NodeConfig(), run_scheduler=False)
    out = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        if route.resource is not None and route.resource.name == UNMATCHED:
            continue
        assert route.method != "*", f"a route answers every method: {route}"
        assert route.resource is not None
        out.add((PLACEHOLDER.sub(r"{\1}", route.resource.canonical), route.method.lower()))
    return out


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, method in sorted(documented_operations()):
        yield path, method, DOC["paths"][path][method]


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str) -> str:
    return "#/" + "/".join(escape(t) for t in tokens)


def resolve(ref: str) -> Any:
    """The value at a local JSON Pointer reference; KeyError, IndexError or ValueError when
    there is none."""
    if not ref.startswith("#/"):
        raise ValueError(f"not a reference into this document: {ref}")
    node: Any = DOC
    for raw in ref[2:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def deref(node: Mapping[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """An OpenAPI object and its location, following a Reference Object."""
    if "$ref" in node:
        return resolve(node["$ref"]), node["$ref"]
    return dict(node), where


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """(location, value) of every ``$ref`` in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{escape(key)}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from refs(value, f"{where}/{index}")


def keys_named(node: Any, names: set[str]) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in names:
                yield key
            yield from keys_named(value, names)
    elif isinstance(node, list):
        for value in node:
            yield from keys_named(value, names)


def schema_objects(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every Schema Object outside ``components/schemas`` (parameters, headers, media types)."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}/{escape(key)}"
            if key == "schema":
                yield here, value
            elif key not in ("example", "examples"):
                yield from schema_objects(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from schema_objects(value, f"{where}/{index}")


def media_and_parameters(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Objects that have both a ``schema`` and possibly an ``example``."""
    if isinstance(node, dict):
        if "schema" in node and "$ref" not in node:
            yield where, node
        for key, value in node.items():
            if key not in ("schema", "schemas", "example", "examples"):
                yield from media_and_parameters(value, f"{where}/{escape(key)}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from media_and_parameters(value, f"{where}/{index}")


def validation_errors(instance: Any, at: str) -> list[str]:
    """Errors of ``instance`` against the schema at ``at`` (a reference into the document)."""
    validator = Draft202012Validator({"$ref": BASE + at}, registry=REGISTRY)
    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: e.json_path)
    except Unresolvable as exc:  # its message would hold the whole document
        return [f"unresolvable reference {exc.ref!r}"]
    return [f"{error.json_path}: {error.message[:300]}" for error in errors]


def embedded(file_name: str) -> dict[str, Any]:
    """A project schema as the document embeds it: ``$id`` and ``$schema`` dropped, every
    ``$ref`` (``#/$defs/...`` inside it, ``urn:...#/...`` to another schema) pointing into
    ``components/schemas``."""
    ids = {
        json.loads(schema.schema_bytes(name))["$id"]: name.removesuffix(".json")
        for name in schema.SCHEMA_FILES
    }
    own = file_name.removesuffix(".json")

    def rewrite(ref: str) -> str:
        base, _, fragment = ref.partition("#")
        return f"#/components/schemas/{ids[base] if base else own}{fragment}"

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: rewrite(v) if k == "$ref" and isinstance(v, str) else walk(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    doc = json.loads(schema.schema_bytes(file_name))
    out: dict[str, Any] = walk({k: v for k, v in doc.items() if k not in ("$id", "$schema")})
    return out


def b64url_json(text: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


# -- 1. served ----------------------------------------------------------------------------


async def test_the_document_is_served(client: Client) -> None:
    resp = await client.get("/openapi.json", headers={"X-Request-ID": "oas-1"})
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert resp.headers["X-Request-ID"] == "oas-1"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    body = await resp.read()
    assert body == document_bytes()
    doc = json.loads(body)
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"]
    assert doc["paths"]


# -- 2. every route, and nothing else -----------------------------------------------------


def test_every_route_is_documented_and_nothing_else() -> None:
    registered = registered_operations()
    documented = documented_operations()
    assert len(registered) >= 20
    assert sorted(registered - documented) == [], "routes missing from openapi.json"
    assert sorted(documented - registered) == [], "documented operations no route serves"
    for path, item in DOC["paths"].items():
        assert set(item) <= HTTP_METHODS | {"parameters", "summary", "description"}, path
        assert "head" not in item and "options" not in item, path


# -- 3. valid OpenAPI 3.1 -----------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1() -> None:
    meta = json.loads(OAS_SCHEMA.read_text())
    assert meta["$id"] == OAS_SCHEMA_ID
    Draft202012Validator.check_schema(meta)
    validator = Draft202012Validator(meta)
    errors = sorted(validator.iter_errors(DOC), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message[:300]}" for e in errors[:20])


def test_the_official_schema_catches_mistakes() -> None:
    """The check above is not vacuous: the schema refuses a broken copy of the document."""
    validator = Draft202012Validator(json.loads(OAS_SCHEMA.read_text()))
    broken = json.loads(document_bytes())
    broken["paths"]["/healthz"]["get"]["responses"]["200"].pop("description")
    broken["paths"]["/healthz"]["get"]["x_not_a_field"] = True
    assert len(list(validator.iter_errors(broken))) == 2


def test_every_schema_object_is_valid_json_schema() -> None:
    """The official schema does not look inside Schema Objects; check them here."""
    found = [
        (f"#/components/schemas/{escape(name)}", value)
        for name, value in DOC["components"]["schemas"].items()
    ]
    found += list(schema_objects(DOC["paths"], "#/paths"))
    for part in ("parameters", "headers", "responses", "requestBodies"):
        found += list(schema_objects(DOC["components"].get(part, {}), f"#/components/{part}"))
    assert len(found) > 50
    for where, value in found:
        try:
            Draft202012Validator.check_schema(value)
        except Exception as exc:
            pytest.fail(f"{where}: {exc}")


def test_rules_the_official_schema_cannot_express() -> None:
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    assert {t["name"] for t in DOC["tags"]} == TAGS
    used: set[str] = set()
    for path, method, op in operations():
        where = f"{method.upper()} {path}"
        assert op["tags"] and set(op["tags"]) <= TAGS, where
        used.update(op["tags"])
        params = [deref(p, "")[0] for p in op.get("parameters", [])]
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{(\w+)\}", path)), where
        assert all(p["required"] for p in params if p["in"] == "path"), where
        named = [(p["in"], p["name"]) for p in params]
        assert len(named) == len(set(named)), f"{where}: a parameter appears twice"
        assert ("header", "X-Request-ID") in named, where
        admin = path.startswith(ADMIN_PREFIX)
        assert op.get("security") == ([{"adminBearer": []}] if admin else None), where
        if admin:
            assert "401" in op["responses"], where
        assert ("**CORS:**" in op["description"]) or admin, where
        assert ("Access-Control-Allow-Origin: *" in op["description"]) == is_public(path), where
        for status, ref in op["responses"].items():
            response, _ = deref(ref, "")
            headers = response.get("headers", {})
            assert "X-Request-ID" in headers, f"{where} {status}"
            cors = "Access-Control-Allow-Origin" in headers
            assert cors == is_public(path), f"{where} {status}"
            if status.startswith(("4", "5")) or status == "default":
                if path == "/readyz" and status == "503":
                    continue  # the readiness body, by design (docs/protocol.md section 7)
                if path == "/" and status == "400":
                    continue  # a page explains a mistake to a person, as HTML (section 15.1)
                if path.startswith(OIDF_PATHS) and status != "default":
                    # OpenID Federation clients read its error body (docs/protocol.md 14)
                    assert list(response["content"]) == ["application/json"], where
                    federation_error = response["content"]["application/json"]["schema"]
                    assert federation_error == {"$ref": "#/components/schemas/FederationError"}
                    continue
                assert list(response["content"]) == [PROBLEM_MEDIA], f"{where} {status}"
                problem_schema = response["content"][PROBLEM_MEDIA]["schema"]
                assert problem_schema == {"$ref": "#/components/schemas/Problem"}
    assert used == TAGS
    assert "security" not in DOC, "public endpoints need no credentials"
    bearer = DOC["components"]["securitySchemes"]["adminBearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    problem = DOC["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == PROBLEM_MEMBERS
    assert set(problem["required"]) == PROBLEM_REQUIRED


# -- 4. every $ref resolves ---------------------------------------------------------------


def test_every_ref_resolves() -> None:
    found = list(refs(DOC))
    assert len(found) > 100
    broken = []
    for where, ref in found:
        try:
            resolve(ref)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            broken.append(f"{where}: {ref} ({exc!r})")
    assert not broken, "\n".join(broken)
    # Nothing changes the base URI the references resolve against.
    assert not set(keys_named(DOC, {"$id", "$anchor", "$dynamicRef", "$dynamicAnchor"}))


def test_the_embedded_schemas_are_the_nodes_own() -> None:
    components = DOC["components"]["schemas"]
    present = {n for n in schema.SCHEMA_FILES if n.removesuffix(".json") in components}
    assert present >= EMBEDDED
    for name in present:
        assert components[name.removesuffix(".json")] == embedded(name), name
    served = DOC["components"]["parameters"]["SchemaName"]["schema"]["enum"]
    assert served == list(schema.SCHEMA_FILES)
    issuer_members = json.loads(schema.schema_bytes("trust-list-v1.json"))["$defs"]["issuer"]
    for name in ("IssuerCreate", "IssuerReplace"):
        assert set(components[name]["properties"]) == set(issuer_members["properties"]), name


def test_every_example_matches_its_schema() -> None:
    checked = 0
    for where, node in list(media_and_parameters(DOC["paths"], "#/paths")) + list(
        media_and_parameters(DOC["components"], "#/components")
    ):
        if "example" in node:
            errors = validation_errors(node["example"], where + "/schema")
            assert not errors, f"{where}: " + "\n".join(errors)
            checked += 1
    assert checked >= 10


# -- 5. what the node answers is what the document says -----------------------------------


class Conformance:
    """Calls the node and checks each answer against the documented operation: the status is
    listed, the media type is one of its content types, the body validates against its schema,
    every documented header is present and valid, and a problem's code is named."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.exercised: set[tuple[str, str]] = set()

    async def call(
        self,
        method: str,
        template: str,
        path: str,
        status: int,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        sent = {"X-Request-ID": "conformance-1", **(headers or {})}
        resp = await self.client.request(method.upper(), path, headers=sent, **kwargs)
        body = await resp.read()
        where = f"{method.upper()} {path} -> {resp.status}"
        assert resp.status == status, f"{where}: {body[:500]!r}"
        assert method in DOC["paths"].get(template, {}), f"{where}: operation not documented"
        operation = DOC["paths"][template][method]
        assert str(status) in operation["responses"], f"{where}: status not documented"
        response, at = deref(
            operation["responses"][str(status)],
            pointer("paths", template, method, "responses", str(status)),
        )
        self._headers(where, response, resp.headers)
        if "content" not in response:
            assert body == b"", where
            return None
        media = resp.content_type
        assert media in response["content"], f"{where}: {media} not documented"
        texts = ("application/jwt", "text/plain", "text/html", "text/css", "text/javascript")
        texts += tuple(OIDF_CLAIMS)
        value: Any = body.decode() if media in texts else None
        if value is None:
            value = json.loads(body)
        errors = validation_errors(value, f"{at}/content/{escape(media)}/schema")
        assert not errors, f"{where}:\n" + "\n".join(errors)
        if media == PROBLEM_MEDIA:
            assert f"`{value['code']}`" in response["description"], f"{where}: {value['code']}"
        if media == "application/jose+json":  # the signed payload, against trust-list-v1
            payload = b64url_json(value["payload"])
            errors = validation_errors(payload, "#/components/schemas/trust-list-v1")
            assert not errors, f"{where} payload:\n" + "\n".join(errors)
        if media == "application/jwt":  # the receipt's claims
            claims = b64url_json(value.split(".")[1])
            errors = validation_errors(claims, "#/components/schemas/TrustReceiptClaims")
            assert not errors, f"{where} claims:\n" + "\n".join(errors)
        if media in OIDF_CLAIMS:
            assert resp.headers["Content-Type"] == media, where  # no parameters at all
            claims = b64url_json(value.split(".")[1])
            errors = validation_errors(claims, f"#/components/schemas/{OIDF_CLAIMS[media]}")
            assert not errors, f"{where} claims:\n" + "\n".join(errors)
        if media == "application/json" and "error" in value and status >= 400:
            assert f"`{value['error']}`" in response["description"], f"{where}: {value['error']}"
        # An operation that documents no success (a profile extension answered 501) counts
        # once its one answer has been seen.
        succeeds = any(code.startswith("2") for code in operation["responses"])
        if status < 300 or not succeeds:
            self.exercised.add((template, method))
        return value

    @staticmethod
    def _headers(where: str, response: Mapping[str, Any], got: Mapping[str, str]) -> None:
        documented = response.get("headers", {})
        for name, ref in documented.items():
            header, _ = deref(ref, "")
            value = got.get(name)
            if value is None and name == "Content-Encoding":
                continue  # only with the gzip representation
            assert value is not None, f"{where}: header {name} missing"
            errors = list(Draft202012Validator(header["schema"]).iter_errors(value))
            assert not errors, f"{where}: header {name}: {value!r}"
        if "Access-Control-Allow-Origin" not in documented:
            assert "Access-Control-Allow-Origin" not in got, f"{where}: undocumented CORS"


@pytest.fixture
async def fed_client(
    aiohttp_client: Any, aiohttp_server: Any, config: NodeConfig, clock: FakeClock
) -> tuple[Client, PeerSimulator]:
    sim = PeerSimulator(clock)
    aliased = sim_issuer(7)
    aliased["aka"] = ["https://issuer7.indiana.example"]
    sim.issuers.append(aliased)
    sim.publish(seq=1)
    server = await aiohttp_server(sim.app())
    peer = {
        "id": sim.peer_id,
        "jurisdiction": sim.jurisdiction,
        "url": str(server.make_url("/trust-list")),
        "keys": sim.pins,
    }
    config.peers_file.write_text(dump_yaml({"peers": [peer]}))
    client: Client = await aiohttp_client(create_app(config, clock, run_scheduler=False))
    return client, sim


async def test_answers_match_the_document(
    fed_client: tuple[Client, PeerSimulator], config: NodeConfig
) -> None:
    client, sim = fed_client
    _, token = await client.app[NODE].tokens.create("openapi", "test")
    auth = {"Authorization": f"Bearer {token}"}
    node_id = config.node_id
    one = issuer(1)
    one_path = "/admin/v1/issuers/" + quote(one["id"], safe="")
    c = Conformance(client)

    # admin
    await c.call("get", "/admin/v1/issuers", "/admin/v1/issuers", 401)
    await c.call("post", "/admin/v1/issuers", "/admin/v1/issuers", 201, auth, json=one)
    await c.call("post", "/admin/v1/issuers", "/admin/v1/issuers", 409, auth, json=one)
    await c.call("post", "/admin/v1/issuers", "/admin/v1/issuers", 422, auth, json={"id": "x"})
    text = {**auth, "Content-Type": "application/json"}
    await c.call("post", "/admin/v1/issuers", "/admin/v1/issuers", 400, text, data="{")
    plain = {**auth, "Content-Type": "text/plain"}
    await c.call("post", "/admin/v1/issuers", "/admin/v1/issuers", 415, plain, data="{}")
    listed = await c.call("get", "/admin/v1/issuers", "/admin/v1/issuers", 200, auth)
    assert listed["count"] == 1
    item = "/admin/v1/issuers/{issuer_id}"
    await c.call("get", item, one_path, 200, auth)
    await c.call("get", item, "/admin/v1/issuers/did%3Aweb%3Anobody.example", 404, auth)
    await c.call("put", item, one_path, 200, auth, json={**one, "name": "Renamed Board"})
    source = {"jurisdiction": "US-OH", "issuers": [issuer(2)]}
    await c.call("post", "/admin/v1/import", "/admin/v1/import", 200, auth, json=source)
    yaml = {**auth, "Content-Type": "application/yaml"}
    body = dump_yaml({"jurisdiction": "US-OH", "issuers": [issuer(3)]})
    await c.call("post", "/admin/v1/import", "/admin/v1/import", 200, yaml, data=body)
    await c.call("post", "/admin/v1/import", "/admin/v1/import", 400, yaml, data="a: [")
    status = "/admin/v1/issuers/{issuer_id}/status"
    change = {"status": "suspended", "reason": "inquiry", "from": "2026-04-01T00:00:00Z"}
    two_status = "/admin/v1/issuers/" + quote(issuer(2)["id"], safe="") + "/status"
    await c.call("post", status, two_status, 200, auth, json=change)
    await c.call("post", status, two_status, 422, auth, json={"status": "gone"})
    await c.call("post", "/admin/v1/publish", "/admin/v1/publish", 201, auth)
    await c.call("get", "/admin/v1/audit", "/admin/v1/audit?limit=3", 200, auth)
    await c.call("get", "/admin/v1/audit", "/admin/v1/audit?after=x", 400, auth)
    versions = await c.call("get", "/admin/v1/versions", "/admin/v1/versions", 200, auth)
    assert versions["versions"][0]["prev"] == versions["versions"][1]["digest"]
    await c.call("get", "/admin/v1/versions", "/admin/v1/versions?limit=-1", 400, auth)
    await c.call("post", "/admin/v1/peers/reload", "/admin/v1/peers/reload", 200, auth)
    synced = await c.call("post", "/admin/v1/peers/sync", "/admin/v1/peers/sync", 200, auth)
    assert synced["results"][0]["outcome"] == "accepted"
    sync_one = "/admin/v1/peers/sync?peer=" + quote("https://nobody.example", safe="")
    await c.call("post", "/admin/v1/peers/sync", sync_one, 404, auth)

    # the list and the node
    await c.call("get", "/trust-list", "/trust-list", 200)
    resp = await client.get("/trust-list")
    etag = resp.headers["ETag"]
    await c.call("get", "/trust-list", "/trust-list", 304, {"If-None-Match": etag})
    identity = {"Accept-Encoding": "identity"}
    await c.call("get", "/trust-list/{seq}", "/trust-list/1", 200, identity)
    await c.call("get", "/trust-list/{seq}", "/trust-list/2", 304, {"If-None-Match": "*"})
    await c.call("get", "/trust-list/{seq}", "/trust-list/999", 404)
    await c.call("get", "/.well-known/ler-trust-registry", "/.well-known/ler-trust-registry", 200)
    await c.call("get", "/jwks.json", "/jwks.json", 200)
    for name in schema.SCHEMA_FILES:
        await c.call("get", "/schemas/{name}", f"/schemas/{name}", 200)
    await c.call("get", "/schemas/{name}", "/schemas/nope.json", 404)
    await c.call("get", "/openapi.json", "/openapi.json", 200)
    await c.call("get", "/healthz", "/healthz", 200)
    ready = await c.call("get", "/readyz", "/readyz", 200)
    assert ready["status"] == "ready"
    await c.call("get", "/metrics", "/metrics", 200)
    peers = await c.call("get", "/v1/peers", "/v1/peers", 200)
    assert peers["peers"][0]["state"] == "fresh"
    held = "/v1/peers/list?id=" + quote(sim.peer_id, safe="")
    await c.call("get", "/v1/peers/list", held, 200, identity)
    await c.call("get", "/v1/peers/list", "/v1/peers/list?id=https://nobody.example", 404)

    # queries
    lookup = "/v1/issuers/{name}"
    asked = f"/v1/issuers/{quote(one['id'])}?credential_type=OpenBadgeCredential"
    answer = await c.call("get", lookup, asked, 200)
    assert answer["outcome"] == "trusted"
    jwt = {"Accept": "application/jwt"}
    await c.call("get", lookup, f"/v1/issuers/{quote(one['id'])}", 200, jwt)
    via_peer = await c.call("get", lookup, "/v1/issuers/https://issuer7.indiana.example", 200)
    assert via_peer["decided_by"] == [sim.peer_id]
    unknown = await c.call("get", lookup, "/v1/issuers/did:web:nobody.example", 200)
    assert unknown["outcome"] == "unknown"
    suspended = f"/v1/issuers/{quote(issuer(2)['id'])}?at=2026-05-01T00:00:00Z"
    assert (await c.call("get", lookup, suspended, 200))["reason"] == "suspended"
    await c.call("get", lookup, "/v1/issuers/did:web:x.example?colour=red", 400)
    await c.call("get", lookup, "/v1/issuers/did:web:x.example?at=yesterday", 400)
    page = await c.call("get", "/v1/issuers", "/v1/issuers?limit=2", 200)
    assert page["next_cursor"] is not None
    after = f"/v1/issuers?limit=500&cursor={page['next_cursor']}&jurisdiction=US-IN"
    await c.call("get", "/v1/issuers", after, 200)
    await c.call("get", "/v1/issuers", "/v1/issuers?limit=0", 400)
    batch = {
        "questions": [
            {"id": one["id"], "credential_type": "OpenBadgeCredential"},
            {"id": "did:web:issuer7.us-in.example", "achievement_type": "Degree"},
            {"id": "did:web:nobody.example", "at": "2025-01-01T00:00:00Z"},
        ]
    }
    answers = await c.call("post", "/v1/issuers/lookup", "/v1/issuers/lookup", 200, json=batch)
    assert len(answers["answers"]) == 3
    empty: dict[str, list[Any]] = {"questions": []}
    await c.call("post", "/v1/issuers/lookup", "/v1/issuers/lookup", 400, json=empty)
    trqp = {
        "entity_id": one["id"],
        "authority_id": node_id,
        "action": "issue",
        "resource": "OpenBadgeCredential",
        "context": {"time": "2026-03-01T00:00:00Z"},
    }
    authz = "/trqp/authorization"
    assert (await c.call("post", authz, authz, 200, json=trqp))["authorized"] is True
    await c.call("post", authz, authz, 404, json={**trqp, "entity_id": "did:web:nobody.example"})
    await c.call("post", authz, authz, 400, json={"entity_id": one["id"]})
    recognition = {
        "entity_id": sim.peer_id,
        "authority_id": node_id,
        "action": "recognize",
        "resource": "OpenBadgeCredential",
    }
    rec = "/trqp/recognition"
    assert (await c.call("post", rec, rec, 200, json=recognition))["recognized"] is True
    await c.call("post", rec, rec, 404, json={**recognition, "entity_id": "https://x.example"})
    meta = "/trqp/metadata"
    assert (await c.call("get", meta, meta, 200))["authority_id"] == node_id
    await c.call("get", meta, f"{meta}?authority_id=US-IN", 200)
    await c.call("get", meta, f"{meta}?authority_id=https://x.example", 404)
    await c.call("get", meta, f"{meta}?colour=red", 400)
    entity = quote(one["id"], safe=":")
    for template, asked in (
        ("/trqp/entities", "/trqp/entities"),
        ("/trqp/entities/{entity_id}", f"/trqp/entities/{entity}"),
        ("/trqp/entities/{entity_id}/authorizations", f"/trqp/entities/{entity}/authorizations"),
        ("/trqp/ecosystems/{ecosystem_id}", "/trqp/ecosystems/did:web:ler.example"),
        (
            "/trqp/ecosystems/{ecosystem_id}/recognitions",
            "/trqp/ecosystems/did:web:ler.example/recognitions",
        ),
        ("/trqp/lookups/assuranceLevels", "/trqp/lookups/assuranceLevels"),
        ("/trqp/lookups/authorizations", "/trqp/lookups/authorizations"),
        ("/trqp/lookups/didMethods", "/trqp/lookups/didMethods"),
    ):
        await c.call("get", template, asked, 501)

    key = credential_factory.ed25519()
    credential = credential_factory.sign_data_integrity(
        credential_factory.open_badge(credential_factory.did_key(key)),
        key,
        credential_factory.did_key_method(key),
    )
    verdict = await c.call("post", "/v1/verify", "/v1/verify", 200, json=credential)
    assert verdict["credential"]["trust"]["now"]["reason"] == "not_listed"
    await c.call("post", "/v1/verify", "/v1/verify", 400, json=["not", "a", "credential"])
    receipt = await (await client.get(f"/v1/issuers/{quote(one['id'])}", headers=jwt)).text()
    check = "/v1/receipts/verify"
    assert (await c.call("post", check, check, 200, data=receipt))["verified"] is True
    assert (await c.call("post", check, check, 200, data="x.y.z"))["verified"] is False
    await c.call("post", check, check, 400, data="")

    # pages (docs/protocol.md section 15)
    await c.call("get", "/", "/", 200)
    await c.call("get", "/", f"/?q={quote(one['name'])}&at=2026-03-01", 200)
    await c.call("get", "/", "/?q=board&at=never", 400)
    await c.call("get", "/console", "/console", 200)
    await c.call("get", "/static/{name}", "/static/pages.css", 200)
    await c.call("get", "/static/{name}", "/static/verifier.js", 200)
    await c.call("get", "/static/{name}", "/static/nothing.js", 404)

    # OpenID Federation (docs/protocol.md section 14)
    ec = "/.well-known/openid-federation"
    await c.call("get", ec, ec, 200)
    fetch = "/federation/fetch"
    await c.call("get", fetch, f"{fetch}?sub={quote(one['id'], safe='')}", 200)
    await c.call("get", fetch, f"{fetch}?sub=https://issuer7.indiana.example", 200)
    await c.call("get", fetch, f"{fetch}?sub={quote(sim.peer_id, safe='')}", 200)
    await c.call("get", fetch, f"{fetch}?sub=did:web:nobody.example", 404)
    await c.call("get", fetch, fetch, 400)
    await c.call("get", fetch, f"{fetch}?sub=x&colour=red", 400)
    listed = await c.call("get", "/federation/list", "/federation/list?entity_type=ler_issuer", 200)
    assert one["id"] in listed
    await c.call("get", "/federation/list", "/federation/list?intermediate=maybe", 400)
    extended = "/federation/list-extended"
    page = await c.call("get", extended, f"{extended}?limit=1", 200)
    assert page["next_entity_id"]
    await c.call("get", extended, f"{extended}?from_entity_id=did:web:nobody.example", 400)
    resolve = "/federation/resolve"
    anchor = quote(node_id, safe="")
    await c.call("get", resolve, f"{resolve}?sub={quote(one['id'])}&trust_anchor={anchor}", 200)
    await c.call("get", resolve, f"{resolve}?sub=x&trust_anchor=https://x.example", 404)
    await c.call("get", resolve, f"{resolve}?sub=x", 400)
    keys = "/federation/historical-keys"
    await c.call("get", keys, keys, 200)

    assert c.exercised == documented_operations(), "every operation answered successfully once"


async def test_a_jwks_with_a_retired_key_matches_the_document(
    client: Client, clock: FakeClock
) -> None:
    publisher = client.app[NODE].publisher
    await publisher.publish("test")
    await publisher.rotate("ES256", "test")
    clock.advance(hours=24)
    await publisher.complete_rotation("test")
    await publisher.rotate(None, "test")
    jwks = await (await client.get("/jwks.json")).json()
    assert [k.get("status") for k in jwks["keys"]] == [None, None, "retired"]
    assert [k.get("alg") for k in jwks["keys"]] == ["ES256", None, None]
    assert validation_errors(jwks, "#/components/schemas/Jwks") == []
    jwks["keys"][2].pop("exp")
    assert validation_errors(jwks, "#/components/schemas/Jwks")
