"""The Ayra TRQP profile (docs/protocol.md sections 12.3 and 12.4): every path of the profile's
OpenAPI description, under the node's /trqp/ prefix, answers as the profile requires, and the
answers validate against the profile's own schemas (tests/data/ayra, copied unmodified)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from tests.helpers import FakeClock, issuer, make_config

AYRA = Path(__file__).resolve().parents[1] / "data" / "ayra"
PROFILE: dict[str, Any] = yaml.safe_load((AYRA / "trqp_ayra_profile_swagger.yaml").read_text())
METADATA_SCHEMA: dict[str, Any] = json.loads((AYRA / "ayra_metadata.schema.json").read_text())
BASE = "urn:ayra-trqp-profile"
REGISTRY: Registry[Any] = Registry().with_resource(BASE, DRAFT202012.create_resource(PROFILE))
CORE = {"/authorization", "/recognition"}
NODE_ID = "https://registry.ohio.example"
FRAMEWORK = "https://ohio.example/ler-governance"


def errors(doc: Any, component: str) -> list[str]:
    validator = Draft202012Validator(
        {"$ref": f"{BASE}#/components/schemas/{component}"}, registry=REGISTRY
    )
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.fixture
async def web(aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> TestClient:
    config = make_config(tmp_path, governance_framework=FRAMEWORK)
    client: TestClient = await aiohttp_client(create_app(config, clock, run_scheduler=False))
    await client.app[NODE].issuers.create(issuer(1), "test")
    await client.app[NODE].publisher.publish("test")
    return client


def test_the_copied_profile_is_the_one_the_tests_expect() -> None:
    assert PROFILE["info"]["title"] == "Ayra TRQP Profile API"
    assert {"200", "404", "501"} <= statuses("/metadata")
    # The standalone metadata schema and the OpenAPI component say the same.
    component = PROFILE["components"]["schemas"]["TrustRegistryMetadata"]
    assert set(component["properties"]) == set(METADATA_SCHEMA["properties"])
    assert component["required"] == METADATA_SCHEMA["required"]


async def test_metadata_has_the_profile_s_shape(web: TestClient) -> None:
    resp = await web.get("/trqp/metadata")
    assert resp.status == 200 and resp.content_type == "application/json"
    doc = await resp.json()
    assert errors(doc, "TrustRegistryMetadata") == []
    assert list(Draft202012Validator(METADATA_SCHEMA).iter_errors(doc)) == []
    assert doc["id"] == NODE_ID and doc["authority_id"] == NODE_ID
    assert doc["name"] == "Ohio LER Trust Registry"
    assert doc["governance_framework_id"] == FRAMEWORK
    assert doc["supported_did_methods"] == ["did:key", "did:web"]
    assert 0 < len(doc["description"]) <= 4096

    jurisdiction = await (await web.get("/trqp/metadata?authority_id=US-OH")).json()
    assert jurisdiction["authority_id"] == "US-OH"
    assert errors(jurisdiction, "TrustRegistryMetadata") == []


async def test_metadata_without_a_governance_framework_leaves_it_out(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client = await aiohttp_client(create_app(make_config(tmp_path), clock, run_scheduler=False))
    doc = await (await client.get("/trqp/metadata")).json()
    assert "governance_framework_id" not in doc
    assert errors(doc, "TrustRegistryMetadata") == []


async def test_metadata_of_an_unknown_authority_is_a_problem(web: TestClient) -> None:
    for query, status, code in (
        ("authority_id=https://nobody.example", 404, "authority_not_found"),
        ("colour=red", 400, "unknown_parameter"),
    ):
        resp = await web.get(f"/trqp/metadata?{query}")
        assert resp.status == status and resp.content_type == "application/problem+json"
        doc = await resp.json()
        assert doc["code"] == code and errors(doc, "ProblemDetails") == []
        assert str(status) in statuses("/metadata") or status == 400


def statuses(path: str, method: str = "get") -> set[str]:
    """The statuses the profile lists for an operation (its YAML writes some as numbers)."""
    return {str(code) for code in PROFILE["paths"][path][method]["responses"]}


def _sample(template: str) -> str:
    """A path of the profile with its placeholders filled, under the node's prefix."""
    return "/trqp" + re.sub(r"\{(\w+)\}", "did:web:ler.example", template)


async def test_every_extension_the_node_does_not_implement_answers_501(web: TestClient) -> None:
    extensions = [p for p in PROFILE["paths"] if p not in CORE | {"/metadata"}]
    assert len(extensions) == 8
    for template in extensions:
        assert "501" in statuses(template), template
        for method in ("GET", "HEAD"):
            resp = await web.request(method, _sample(template))
            assert resp.status == 501, (method, template)
            assert resp.content_type == "application/problem+json"
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
        doc = await (await web.get(_sample(template))).json()
        assert errors(doc, "ProblemDetails") == [], template
        assert (doc["status"], doc["code"]) == (501, "not_implemented")
        assert doc["instance"] == _sample(template)


async def test_the_core_queries_never_answer_501_and_follow_the_profile(web: TestClient) -> None:
    question = {
        "entity_id": issuer(1)["id"],
        "authority_id": NODE_ID,
        "action": "issue",
        "resource": "OpenBadgeCredential",
    }
    resp = await web.post("/trqp/authorization", json=question)
    assert resp.status == 200
    assert errors(await resp.json(), "TrqpAuthorizationResponse") == []
    recognition = {**question, "entity_id": "https://registry.nowhere.example"}
    resp = await web.post("/trqp/recognition", json={**recognition, "action": "recognize"})
    assert resp.status == 404  # a status the profile lists for it, never 501
    assert "404" in statuses("/recognition", "post")
    assert errors(await resp.json(), "ProblemDetails") == []
    for path in CORE:
        assert "501" not in statuses(path, "post")


async def test_the_node_metadata_advertises_the_trqp_endpoints(web: TestClient) -> None:
    endpoints = (await (await web.get("/.well-known/ler-trust-registry")).json())["endpoints"]
    for name, path in (
        ("trqp_authorization", "/trqp/authorization"),
        ("trqp_recognition", "/trqp/recognition"),
        ("trqp_metadata", "/trqp/metadata"),
    ):
        assert endpoints[name].endswith(path)
        assert endpoints[name] == endpoints["jwks"].removesuffix("/jwks.json") + path
