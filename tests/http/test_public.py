"""What the node serves to verifiers and peers (docs/protocol.md sections 2 and 3)."""

from __future__ import annotations

import gzip
import json

import jsonschema
from aiohttp.test_utils import TestClient
from joserfc import jws

from registry_node.core import keys as corekeys
from registry_node.core.model import digest
from registry_node.core.signing import TYP, parse_jws
from registry_node.http.appkeys import NODE
from tests.core.test_signing import verify_with_cryptography
from tests.helpers import FakeClock, issuer


async def test_list_verifies_with_the_served_jwks(client: TestClient) -> None:
    resp = await client.get("/trust-list")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/jose+json"
    body = await resp.read()
    jwks = await (await client.get("/jwks.json")).json()
    assert len(jwks["keys"]) == 1
    jwk = jwks["keys"][0]
    result = jws.deserialize_json(
        json.loads(body), corekeys.import_public_jwk(jwk), algorithms=["Ed25519"]
    )
    header = result.members[0].headers()
    assert header == {"alg": "Ed25519", "kid": jwk["kid"], "typ": TYP}
    verify_with_cryptography(body, jwk)
    payload = json.loads(result.payload)
    # The same key; /jwks.json leaves out the alg of an Ed25519 key (docs/adr/0013).
    assert [{k: v for k, v in key.items() if k != "alg"} for key in payload["keys"]] == jwks["keys"]
    assert payload["keys"][0]["alg"] == "Ed25519" and "alg" not in jwk


async def test_every_served_list_validates_against_the_served_schema(
    client: TestClient, auth: dict[str, str], clock: FakeClock
) -> None:
    node = client.app[NODE]
    await node.issuers.create(issuer(1), "test")
    await node.issuers.set_status(issuer(1)["id"], {"status": "suspended", "reason": "audit"}, "t")
    await node.publisher.publish("test")
    await node.publisher.rotate("ES256", "test")
    schema_doc = await (await client.get("/schemas/trust-list-v1.json")).json()
    validator = jsonschema.Draft202012Validator(schema_doc)
    latest = (await node.store.read.latest_version()).seq
    assert latest == 3
    for seq in range(1, latest + 1):
        body = await (await client.get(f"/trust-list/{seq}")).read()
        validator.validate(json.loads(parse_jws(body).payload))


async def test_etag_is_the_digest_and_conditional_get_returns_304(client: TestClient) -> None:
    identity = {"Accept-Encoding": "identity"}
    resp = await client.get("/trust-list", headers=identity)
    body = await resp.read()
    etag = resp.headers["ETag"]
    assert etag == f'"{digest(body)}"'
    again = await client.get("/trust-list", headers={**identity, "If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert again.headers["ETag"] == etag
    other = await client.get("/trust-list", headers={"If-None-Match": '"something-else"'})
    assert other.status == 200


async def test_body_is_byte_identical_for_a_version(client: TestClient) -> None:
    first = await (await client.get("/trust-list")).read()
    second = await (await client.get("/trust-list")).read()
    by_seq = await (await client.get("/trust-list/1")).read()
    assert first == second == by_seq


async def test_earlier_versions_stay_byte_stable(client: TestClient, clock: FakeClock) -> None:
    node = client.app[NODE]
    v1 = await (await client.get("/trust-list/1")).read()
    for n in range(3):
        await node.issuers.create(issuer(n), "test")
        clock.advance(minutes=1)
        await node.publisher.publish("test")
    resp = await client.get("/trust-list/1")
    assert await resp.read() == v1
    assert "immutable" in resp.headers["Cache-Control"]
    current = await (await client.get("/trust-list")).read()
    assert json.loads(parse_jws(current).payload)["seq"] == 4
    missing = await client.get("/trust-list/99")
    assert missing.status == 404
    assert (await missing.json())["code"] == "version_not_found"


async def test_cache_control_never_outlives_exp(client: TestClient, clock: FakeClock) -> None:
    resp = await client.get("/trust-list")
    assert resp.headers["Cache-Control"] == "public, max-age=300, must-revalidate"
    payload = json.loads(parse_jws(await resp.read()).payload)
    clock.advance(seconds=payload["exp"] - payload["iat"] - 100)  # 100 s before exp
    resp = await client.get("/trust-list")
    assert resp.headers["Cache-Control"] == "public, max-age=100, must-revalidate"
    clock.advance(seconds=200)  # past exp
    resp = await client.get("/trust-list")
    assert resp.headers["Cache-Control"] == "public, max-age=0, must-revalidate"


async def test_gzip_when_accepted(client: TestClient) -> None:
    plain = await (await client.get("/trust-list")).read()
    resp = await client.get(
        "/trust-list", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(await resp.read()) == plain
    assert resp.headers["ETag"] == f'"{digest(plain)}+gzip"'
    not_modified = await client.get(
        "/trust-list",
        headers={"Accept-Encoding": "gzip", "If-None-Match": resp.headers["ETag"]},
    )
    assert not_modified.status == 304
    refused = await client.get("/trust-list", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


async def test_well_known_metadata(client: TestClient) -> None:
    node = client.app[NODE]
    await node.publisher.rotate(None, "test")
    meta = await (await client.get("/.well-known/ler-trust-registry")).json()
    assert meta["id"] == "https://registry.ohio.example"
    assert meta["jurisdiction"] == "US-OH"
    assert meta["protocol_version"] == 1
    assert meta["endpoints"]["trust_list"].endswith("/trust-list")
    assert len(meta["jwks"]["keys"]) == 1
    assert len(meta["next_keys"]) == 1
    assert meta["current"]["seq"] == 2
    for url in meta["schemas"].values():
        path = url.split("8080", 1)[1]
        assert (await client.get(path)).status == 200


async def test_health_and_readiness(client: TestClient, clock: FakeClock) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["status"] == "ready"
    clock.advance(hours=23, minutes=1)  # within an hour of exp, scheduler not running
    not_ready = await client.get("/readyz")
    assert not_ready.status == 503
    doc = await not_ready.json()
    assert doc["checks"]["trust_list"]["ok"] is False
    assert doc["checks"]["database"]["ok"] is True


async def test_unknown_paths_get_problem_details(client: TestClient) -> None:
    resp = await client.get("/nope")
    assert resp.status == 404
    assert resp.headers["Content-Type"] == "application/problem+json"
    doc = await resp.json()
    assert doc["status"] == 404
    assert doc["code"] == "not_found"


async def test_malformed_accept_encoding_falls_back_to_identity(client: TestClient) -> None:
    resp = await client.get("/trust-list", headers={"Accept-Encoding": "gzip;q=abc"})
    assert resp.status == 200
    assert "Content-Encoding" not in resp.headers
