"""Verifiers' questions over HTTP (docs/protocol.md sections 11 and 12): lookups from the node's
own published list and a peer's accepted list, receipts, batches, browsing, TRQP, CORS and the
answers to bad input."""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from joserfc import jws
from joserfc.jwk import KeySet

from registry_node.config import NodeConfig
from registry_node.core import schema
from registry_node.core.timeutil import to_numeric_date
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.http.queries import question
from registry_node.services.index import ASKED_KEY_LENGTH
from registry_node.services.node import Node
from registry_node.services.receipts import RECEIPT_TYP
from tests.helpers import FakeClock, issuer
from tests.sim import PeerSimulator, sim_issuer

OH = "https://registry.ohio.example"
IN = "https://registry.indiana.example"
PORT_DID = "did:web:board9.ohio.example%3A8443"


def path(issuer_id: str, query: str = "") -> str:
    return "/v1/issuers/" + quote(issuer_id, safe="") + (f"?{query}" if query else "")


@pytest.fixture
async def sim(clock: FakeClock) -> PeerSimulator:
    peer = PeerSimulator(clock)
    aliased = sim_issuer(7)
    aliased["aka"] = ["https://issuer7.indiana.example"]
    suspended = sim_issuer(8)
    suspended["id"] = issuer(2)["id"]  # Ohio's board 2, as Indiana sees it
    suspended["status_history"].append({"status": "suspended", "from": "2025-01-01T00:00:00Z"})
    outside = sim_issuer(9, jurisdiction="US-OH")  # outside Indiana's scope: dropped
    mixed = sim_issuer(10)
    mixed["authorizations"].append(
        {"credential_types": ["ClrCredential"], "jurisdiction": "US-OH"}  # narrowed away
    )
    peer.issuers += [aliased, suspended, outside, mixed]
    peer.publish(seq=1)
    return peer


@pytest.fixture
async def qclient(
    aiohttp_client: Any, config: NodeConfig, clock: FakeClock, sim: PeerSimulator
) -> TestClient:
    server = await aiohttp_client(sim.app())
    url = str(server.make_url("/trust-list"))
    doc = {
        "id": sim.peer_id,
        "jurisdiction": sim.jurisdiction,
        "url": url,
        "keys": sim.pins,
        "scope": {"credential_types": ["OpenBadgeCredential"]},
    }
    config.peers_file.write_text(dump_yaml({"peers": [doc]}))
    client: TestClient = await aiohttp_client(create_app(config, clock, run_scheduler=False))
    node = client.app[NODE]
    await node.issuers.create(issuer(1, aka=["https://board1.ohio.example"]), "test")
    await node.issuers.create(issuer(2), "test")
    await node.issuers.create(issuer(9, id=PORT_DID), "test")
    await node.publisher.publish("test")
    await node.federation.sync(IN)
    return client


@pytest.fixture
async def auth(qclient: TestClient) -> dict[str, str]:
    """A token of the node qclient serves (one node per data folder: never a second app)."""
    _, token = await qclient.app[NODE].tokens.create("tests", "test")
    return {"Authorization": f"Bearer {token}"}


async def get_json(client: TestClient, url: str, **kw: Any) -> Any:
    resp = await client.get(url, **kw)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_lookup_by_aka_answers_from_the_published_list(qclient: TestClient) -> None:
    latest = await qclient.app[NODE].store.read.latest_version()
    assert latest is not None
    answer = await get_json(qclient, path("https://board1.ohio.example"))
    assert (answer["outcome"], answer["reason"]) == ("trusted", "active")
    (evidence,) = answer["evidence"]
    assert evidence["source"] == OH and evidence["local"] is True
    assert (evidence["list"]["seq"], evidence["list"]["digest"]) == (latest.seq, latest.digest)
    assert evidence["entry"]["id"] == issuer(1)["id"]


async def test_percent_encoded_did_is_decoded_once(qclient: TestClient) -> None:
    answer = await get_json(qclient, path(PORT_DID))
    assert answer["outcome"] == "trusted"
    assert answer["question"]["id"] == PORT_DID


async def test_peer_entry_by_aka_with_list_evidence(qclient: TestClient) -> None:
    answer = await get_json(
        qclient, path("https://issuer7.indiana.example", "achievement_type=Degree")
    )
    assert (answer["outcome"], answer["decided_by"]) == ("trusted", [IN])
    (evidence,) = answer["evidence"]
    assert evidence["jurisdiction"] == "US-IN"
    assert evidence["list"]["seq"] == 1
    assert evidence["list"]["fetched_at"] == "2026-03-01T12:00:00Z"
    assert evidence["entry"]["authorization"]["achievement_types"] == ["Degree"]


async def test_out_of_scope_peer_entries_are_not_used(qclient: TestClient) -> None:
    dropped = await get_json(qclient, path("did:web:issuer9.us-oh.example"))
    assert (dropped["outcome"], dropped["reason"]) == ("unknown", "not_listed")
    narrowed = await get_json(
        qclient, path("did:web:issuer10.us-in.example", "credential_type=ClrCredential")
    )
    # Indiana is trusted for OpenBadgeCredential only: it says nothing about ClrCredential.
    assert (narrowed["outcome"], narrowed["reason"]) == ("unknown", "not_listed")
    assert narrowed["evidence"] == []


async def test_a_peers_suspension_outweighs_our_active(qclient: TestClient) -> None:
    answer = await get_json(qclient, path(issuer(2)["id"]))
    assert (answer["outcome"], answer["reason"], answer["decided_by"]) == (
        "not_trusted",
        "suspended",
        [IN],
    )
    assert {e["source"]: e["outcome"] for e in answer["evidence"]} == {
        OH: "trusted",
        IN: "not_trusted",
    }


async def test_a_revocation_shows_once_it_is_published(
    qclient: TestClient, auth: dict[str, str]
) -> None:
    resp = await qclient.post(
        path(issuer(1)["id"]).replace("/v1/", "/admin/v1/") + "/status",
        json={"status": "revoked", "from": "2026-03-01T11:00:00Z", "reason": "fraud"},
        headers=auth,
    )
    assert resp.status == 200, await resp.text()
    before = await get_json(qclient, path(issuer(1)["id"]))
    assert before["outcome"] == "trusted"  # answers rest on signed lists only
    await qclient.app[NODE].publisher.publish("test")
    after = await get_json(qclient, path(issuer(1)["id"]))
    assert (after["outcome"], after["reason"]) == ("not_trusted", "revoked")
    assert after["evidence"][0]["entry"]["status_reason"] == "fraud"
    earlier = await get_json(qclient, path(issuer(1)["id"], "at=2026-03-01T10:59:59Z"))
    assert earlier["outcome"] == "trusted"


async def test_index_is_rebuilt_from_the_database_on_restart(
    qclient: TestClient, config: NodeConfig, clock: FakeClock
) -> None:
    answer = await get_json(qclient, path(issuer(2)["id"]))
    reopened = await Node.open(config, clock, import_source=False, publish=False)
    try:
        again = reopened.resolver.ask(question(reopened.resolver, issuer(2)["id"], {}))
        by_aka = reopened.resolver.ask(
            question(reopened.resolver, "https://issuer7.indiana.example", {})
        )
    finally:
        await reopened.close()
    assert json.loads(json.dumps(again)) == answer
    assert by_aka["outcome"] == "trusted"  # aka names come back from the database too


async def test_a_reader_keeps_a_whole_snapshot_while_the_index_changes(
    qclient: TestClient, sim: PeerSimulator
) -> None:
    resolver = qclient.app[NODE].resolver
    held = resolver.snapshot
    (seventh,) = [i for i in sim.issuers if i["id"] == "did:web:issuer7.us-in.example"]
    seventh["aka"] = []  # its other name goes; its history grows by a retirement
    seventh["status_history"] = [
        *seventh["status_history"],
        {"status": "retired", "from": "2026-02-01T00:00:00Z"},
    ]
    sim.publish()
    await qclient.app[NODE].federation.sync(IN)
    assert resolver.snapshot is not held
    old_text = held.sources[IN].texts["did:web:issuer7.us-in.example"]  # the old view is whole
    assert "retired" not in old_text and "https://issuer7.indiana.example" in old_text
    assert held.sources[IN].info.seq == 1
    assert "retired" in resolver.snapshot.sources[IN].texts["did:web:issuer7.us-in.example"]
    assert "https://issuer7.indiana.example" not in resolver.snapshot.sources[IN].names
    assert resolver.snapshot.sources[IN].info.seq == 2
    answer = await get_json(qclient, path("https://issuer7.indiana.example"))
    assert answer["outcome"] == "unknown"


# -- receipts -----------------------------------------------------------------------------


async def _verify_receipt(client: TestClient, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    keyset = KeySet.import_key_set(await get_json(client, "/jwks.json"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EdDSA, as receipts carry it (docs/adr/0013)
        obj = jws.deserialize_compact(token, keyset, algorithms=["EdDSA", "ES256"])
    return dict(obj.protected), json.loads(obj.payload)


async def test_receipt_verifies_with_the_jwks_and_expires_within_an_hour(
    qclient: TestClient, clock: FakeClock
) -> None:
    resp = await qclient.get(path(issuer(1)["id"]), headers={"Accept": "application/jwt"})
    assert resp.status == 200
    assert resp.content_type == "application/jwt"
    header, claims = await _verify_receipt(qclient, await resp.text())
    assert header == {"alg": "EdDSA", "kid": header["kid"], "typ": RECEIPT_TYP}
    now = to_numeric_date(clock())
    assert claims["iss"] == OH and claims["sub"] == issuer(1)["id"]
    assert claims["iat"] == now and claims["exp"] == now + 3600
    assert claims["answer"]["outcome"] == "trusted"


async def test_receipt_never_outlives_the_lists_it_rests_on(
    qclient: TestClient, sim: PeerSimulator, clock: FakeClock
) -> None:
    sim.validity = timedelta(minutes=20)
    sim.publish()
    await qclient.app[NODE].federation.sync(IN)
    resp = await qclient.get(
        path("did:web:issuer7.us-in.example"),
        headers={"Accept": "application/json, application/jwt"},
    )
    _, claims = await _verify_receipt(qclient, await resp.text())
    assert claims["exp"] == to_numeric_date(clock()) + 20 * 60
    assert claims["answer"]["expires"] == "2026-03-01T12:20:00Z"


async def test_receipt_refused_weight_zero_gives_json(qclient: TestClient) -> None:
    resp = await qclient.get(path(issuer(1)["id"]), headers={"Accept": "application/jwt;q=0"})
    assert resp.content_type == "application/json"


# -- batch and browse ---------------------------------------------------------------------


async def test_batch_answers_in_order(qclient: TestClient) -> None:
    questions = [
        {"id": issuer(1)["id"]},
        {"id": issuer(2)["id"], "credential_type": "OpenBadgeCredential"},
        {"id": "did:web:nobody.example", "at": "2024-01-01T00:00:00Z"},
    ]
    resp = await qclient.post("/v1/issuers/lookup", json={"questions": questions})
    assert resp.status == 200
    answers = (await resp.json())["answers"]
    assert [a["outcome"] for a in answers] == ["trusted", "not_trusted", "unknown"]
    assert answers[2]["question"]["at"] == "2024-01-01T00:00:00Z"


async def test_batch_limits_and_errors_name_the_question(qclient: TestClient) -> None:
    over = await qclient.post("/v1/issuers/lookup", json={"questions": [{"id": "x"}] * 1001})
    assert over.status == 400
    assert (await over.json())["code"] == "batch_too_large"
    bad = await qclient.post(
        "/v1/issuers/lookup", json={"questions": [{"id": "a"}, {"id": "b", "at": "yesterday"}]}
    )
    assert bad.status == 400
    assert (await bad.json())["errors"][0]["field"] == "questions[1].at"
    for body in (b"not json", b"[]", b'{"questions": []}', b'{"questions": [{"id": ""}]}'):
        resp = await qclient.post("/v1/issuers/lookup", data=body)
        assert resp.status == 400, body


async def test_browse_pages_with_a_stable_cursor(qclient: TestClient) -> None:
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await get_json(qclient, f"/v1/issuers?{query}")
        seen += [(i["id"], i["source"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = await get_json(qclient, "/v1/issuers?limit=500")
    assert seen == [(i["id"], i["source"]) for i in everything["items"]]
    assert seen == sorted(seen)
    assert len(seen) == 3 + 6  # Ohio's three, Indiana's six in scope


async def test_browse_filters(qclient: TestClient) -> None:
    async def ids(query: str) -> list[str]:
        return [i["id"] for i in (await get_json(qclient, f"/v1/issuers?{query}"))["items"]]

    assert await ids("jurisdiction=US-OH") == sorted([issuer(1)["id"], issuer(2)["id"], PORT_DID])
    assert await ids("org_type=licensing_board") == await ids("jurisdiction=US-OH")
    assert await ids("status=suspended") == [issuer(2)["id"]]
    assert await ids("q=LICENSING%20board%209") == [PORT_DID]
    assert await ids("credential_type=ClrCredential") == []
    assert len(await ids("jurisdiction=US-IN&status=active")) == 5


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/v1/issuers/", "bad_issuer_id"),
        ("/v1/issuers/" + "x" * 2049, "bad_issuer_id"),
        ("/v1/issuers/did:web:a.example?at=2026-13-01T00:00:00Z", "bad_query"),
        ("/v1/issuers/did:web:a.example?at=now", "bad_query"),
        ("/v1/issuers/did:web:a.example?credential_type=%20x", "bad_query"),
        ("/v1/issuers/did:web:a.example?ctid=ce-1", "bad_query"),
        ("/v1/issuers/did:web:a.example?colour=blue", "unknown_parameter"),
        (
            "/v1/issuers/did:web:a.example?at=2026-01-01T00:00:00Z&at=2026-01-02T00:00:00Z",
            "bad_query",
        ),
        ("/v1/issuers?status=dormant", "bad_query"),
        ("/v1/issuers?org_type=bank", "bad_query"),
        ("/v1/issuers?jurisdiction=ohio", "bad_query"),
        ("/v1/issuers?limit=0", "bad_query"),
        ("/v1/issuers?limit=501", "bad_query"),
        ("/v1/issuers?cursor=abc", "bad_query"),
        ("/v1/issuers?sort=name", "unknown_parameter"),
    ],
)
async def test_bad_queries_are_400_problems(qclient: TestClient, url: str, code: str) -> None:
    resp = await qclient.get(url)
    assert resp.status == 400, url
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["code"] == code


# -- TRQP ---------------------------------------------------------------------------------


def trqp(**changes: Any) -> dict[str, Any]:
    return {
        "entity_id": "did:web:issuer7.us-in.example",
        "authority_id": OH,
        "action": "issue",
        "resource": "OpenBadgeCredential",
        **changes,
    }


async def post_trqp(client: TestClient, kind: str, body: Any, **kw: Any) -> Any:
    resp = await client.post(f"/trqp/{kind}", json=body, **kw)
    return resp.status, await resp.json(), resp.headers


@pytest.mark.parametrize(
    ("changes", "authorized"),
    [
        ({}, True),
        ({"resource": "Degree"}, True),  # an achievement type
        ({"resource": "License"}, False),  # a type Ohio's lists know, not authorised for it
        ({"authority_id": "US-IN"}, True),  # Indiana's list alone
        ({"authority_id": IN}, True),
        ({"entity_id": issuer(2)["id"]}, False),  # suspended by Indiana
        ({"entity_id": issuer(2)["id"], "authority_id": "US-OH"}, True),  # Ohio's list alone
        ({"context": {"time": "2019-01-01T00:00:00Z"}}, False),  # before it was listed
    ],
)
async def test_trqp_authorization(
    qclient: TestClient, changes: dict[str, Any], authorized: bool
) -> None:
    request = trqp(**changes)
    schema.validate(schema.TRQP_AUTHORIZATION_REQUEST, request)
    status, body, headers = await post_trqp(
        qclient, "authorization", request, headers={"X-Request-ID": "req-42"}
    )
    assert status == 200, body
    schema.validate(schema.TRQP_AUTHORIZATION_RESPONSE, body)
    assert body["authorized"] is authorized
    assert headers["X-Request-ID"] == "req-42"
    assert {k: body[k] for k in ("entity_id", "authority_id", "action", "resource")} == {
        k: request[k] for k in ("entity_id", "authority_id", "action", "resource")
    }
    if "context" in request:
        assert body["time_requested"] == request["context"]["time"]
        assert body["context"] == request["context"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (trqp(entity_id="did:web:nobody.example"), 404, "entity_not_found"),
        (trqp(authority_id="https://registry.texas.example"), 404, "authority_not_found"),
        (trqp(action="revoke"), 404, "action_not_found"),
        (trqp(resource="Spaceship"), 404, "resource_not_found"),
        (trqp(context={"time": "2026-01-01T00:00:00+01:00"}), 400, "bad_request"),
        (trqp(context={"time": "yesterday"}), 400, "schema_invalid"),
        ({"entity_id": "x"}, 400, "schema_invalid"),
        (trqp(entity_id=""), 400, "bad_issuer_id"),
        (["not", "an", "object"], 400, "schema_invalid"),
    ],
)
async def test_trqp_authorization_errors(
    qclient: TestClient, body: Any, status: int, code: str
) -> None:
    got, problem, headers = await post_trqp(
        qclient, "authorization", body, headers={"X-Request-ID": "e-1"}
    )
    assert (got, problem["code"]) == (status, code)
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert headers["X-Request-ID"] == "e-1"


async def test_trqp_non_json_body_is_400(qclient: TestClient) -> None:
    for kind in ("authorization", "recognition"):
        resp = await qclient.post(f"/trqp/{kind}", data=b"{nope", headers={"X-Request-ID": "n"})
        assert resp.status == 400
        assert resp.headers["X-Request-ID"] == "n"
        assert resp.content_type == "application/problem+json"


def recognition(**changes: Any) -> dict[str, Any]:
    return {
        "entity_id": IN,
        "authority_id": OH,
        "action": "recognize",
        "resource": "OpenBadgeCredential",
        **changes,
    }


async def test_trqp_recognition(qclient: TestClient, clock: FakeClock) -> None:
    for request, recognized in [
        (recognition(), True),
        (recognition(entity_id="US-IN", authority_id="US-OH"), True),
        (recognition(resource="Degree"), True),
        (recognition(resource="ClrCredential"), False),  # outside Indiana's scope
    ]:
        schema.validate(schema.TRQP_RECOGNITION_REQUEST, request)
        status, body, _ = await post_trqp(qclient, "recognition", request)
        assert status == 200, body
        schema.validate(schema.TRQP_RECOGNITION_RESPONSE, body)
        assert body["recognized"] is recognized, request
    clock.advance(hours=25)  # Indiana's list expires
    status, body, _ = await post_trqp(qclient, "recognition", recognition())
    assert (status, body["recognized"]) == (200, False)
    assert "stale" in body["message"]
    status, body, _ = await post_trqp(
        qclient, "recognition", recognition(entity_id="https://registry.texas.example")
    )
    assert (status, body["code"]) == (404, "entity_not_found")
    status, body, _ = await post_trqp(qclient, "recognition", recognition(authority_id=IN))
    assert (status, body["code"]) == (404, "authority_not_found")


# -- CORS ---------------------------------------------------------------------------------


async def test_cors_for_public_reads_only(qclient: TestClient, auth: dict[str, str]) -> None:
    origin = {"Origin": "https://wallet.example"}
    answer = await qclient.get(path(issuer(1)["id"]), headers=origin)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    problem = await qclient.get("/v1/issuers/", headers=origin)
    assert problem.headers["Access-Control-Allow-Origin"] == "*"  # errors are readable too
    preflight = await qclient.options(
        "/trqp/authorization",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-request-id",
        },
    )
    assert preflight.status == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "X-Request-ID" in preflight.headers["Access-Control-Allow-Headers"]
    admin = await qclient.get("/admin/v1/issuers", headers={**origin, **auth})
    assert "Access-Control-Allow-Origin" not in admin.headers
    admin_preflight = await qclient.options(
        "/admin/v1/issuers", headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in admin_preflight.headers


async def test_answers_follow_the_clock_without_an_index_change(
    qclient: TestClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Decisions are reused until an instant where they could change: a status taking effect
    later, a peer's list expiring."""
    node = qclient.app[NODE]
    resp = await qclient.post(
        path(issuer(1)["id"]).replace("/v1/", "/admin/v1/") + "/status",
        json={"status": "suspended", "from": "2026-03-01T13:00:00Z", "reason": "audit"},
        headers=auth,
    )
    assert resp.status == 200
    await node.publisher.publish("test")
    before = await get_json(qclient, path(issuer(1)["id"]))
    peer = await get_json(qclient, path("did:web:issuer7.us-in.example"))
    assert (before["outcome"], peer["outcome"]) == ("trusted", "trusted")
    held = node.resolver.snapshot
    clock.advance(hours=1)
    after = await get_json(qclient, path(issuer(1)["id"]))
    assert (after["outcome"], after["reason"]) == ("not_trusted", "suspended")
    clock.advance(hours=24)  # Indiana's list (24 h) has expired; ours too, used but stale
    stale = await get_json(qclient, path("did:web:issuer7.us-in.example"))
    assert (stale["outcome"], stale["reason"]) == ("unknown", "sources_stale")
    assert node.resolver.snapshot is held  # the same index, answers re-decided


async def test_the_index_catches_up_with_commits_of_another_process(
    qclient: TestClient, config: NodeConfig, clock: FakeClock
) -> None:
    """The command line publishes from its own process: the serving node's index follows on
    its next scheduler tick (``catch_up``), not only after a restart."""
    other = await Node.open(config, clock, import_source=False, publish=False)
    try:
        change = {"status": "revoked", "reason": "board dissolved"}
        await other.issuers.set_status(issuer(1)["id"], change, "cli")
        await other.publisher.publish("cli")
    finally:
        await other.close()
    resolver = qclient.app[NODE].resolver
    assert (await get_json(qclient, path(issuer(1)["id"])))["outcome"] == "trusted"
    await resolver.catch_up()
    answer = await get_json(qclient, path(issuer(1)["id"]))
    assert (answer["outcome"], answer["reason"]) == ("not_trusted", "revoked")
    held = resolver.snapshot
    await resolver.catch_up()  # nothing new: the index is left alone
    assert resolver.snapshot is held


async def test_questions_about_now_reuse_their_decision(
    qclient: TestClient, clock: FakeClock
) -> None:
    """A question without an instant is keyed without the clock: asking again a second later
    (by GET or TRQP) reuses the decision instead of growing the cache."""
    answers = qclient.app[NODE].resolver.snapshot.answers
    for _ in range(3):
        await get_json(qclient, path(issuer(1)["id"]))
        status, _, _ = await post_trqp(qclient, "authorization", trqp())
        assert status == 200
        clock.advance(seconds=1)
    assert len(answers) == 2


async def test_a_peer_removed_stops_counting_at_once_even_for_reused_decisions(
    qclient: TestClient,
) -> None:
    """Between the new peers taking effect and the reload's commit reaching the index, a
    decision made with the old peers must not be reused."""
    assert (await get_json(qclient, path("did:web:issuer7.us-in.example")))["outcome"] == "trusted"
    qclient.app[NODE].federation.set_peers([])  # what a reload does before it commits
    answer = await get_json(qclient, path("did:web:issuer7.us-in.example"))
    assert (answer["outcome"], answer["reason"]) == ("unknown", "not_listed")


async def test_a_change_within_the_current_second_is_not_missed(
    qclient: TestClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Questions about now are evaluated at the exact instant, not rounded to the second."""
    clock.advance(seconds=0.25)
    revoked_at = clock.advance(seconds=0.5)  # 12:00:00.75
    change = {"status": "revoked", "from": "2026-03-01T12:00:00.750000Z", "reason": "fraud"}
    resp = await qclient.post(
        path(issuer(1)["id"]).replace("/v1/", "/admin/v1/") + "/status", json=change, headers=auth
    )
    assert resp.status == 200, await resp.text()
    await qclient.app[NODE].publisher.publish("test")
    assert revoked_at.microsecond == 750000
    answer = await get_json(qclient, path(issuer(1)["id"]))
    assert (answer["outcome"], answer["reason"]) == ("not_trusted", "revoked")
    assert answer["question"]["at"] == "2026-03-01T12:00:00.750000Z"


async def _get_raw(client: TestClient, url: str, **kw: Any) -> bytes:
    resp = await client.get(url, **kw)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.read()


async def test_lookups_asked_again_are_the_same_bytes_with_the_instants_of_asking(
    qclient: TestClient, clock: FakeClock
) -> None:
    """A lookup's question is kept with the snapshot under the request's raw target, decision
    and all; asking again gives what asking it afresh gives: the same bytes but for the
    instants, those of this asking (a question about now is about the new now, to the
    microsecond; one about a given instant keeps it)."""
    node = qclient.app[NODE]
    resolver = node.resolver
    board1 = issuer(1)["id"]
    targets = (
        path(board1),
        path(board1, "credential_type=OpenBadgeCredential"),
        path(board1, "at=2026-02-01T00:00:00Z"),
    )
    firsts = [await _get_raw(qclient, t) for t in targets]
    assert len(resolver.snapshot.asked) == 3  # under the targets as sent (":" not encoded)
    clock.advance(seconds=61.25)
    agains = [await _get_raw(qclient, t) for t in targets]
    assert len(resolver.snapshot.asked) == 3

    for first, again in zip(firsts, agains, strict=True):
        doc = json.loads(first)
        if doc["question"]["at"] == "2026-03-01T12:00:00Z":  # about now
            doc["question"]["at"] = "2026-03-01T12:01:01.250000Z"
        doc["evaluated_at"], doc["expires"] = "2026-03-01T12:01:01Z", "2026-03-01T13:01:01Z"
        assert again == json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(agains[1])["question"] == {
        "id": board1,
        "at": "2026-03-01T12:01:01.250000Z",
        "credential_type": "OpenBadgeCredential",
    }
    assert json.loads(agains[2])["question"]["at"] == "2026-02-01T00:00:00Z"
    for target, again in zip(targets, agains, strict=True):  # as a fresh question answers
        params = dict(p.split("=") for p in target.partition("?")[2].split("&") if p)
        fresh = resolver.ask(question(resolver, board1, params))
        assert json.loads(again) == json.loads(json.dumps(fresh))


async def _suspend_in_an_hour(qclient: TestClient, issuer_id: str, auth: dict[str, str]) -> None:
    """Suspend ``issuer_id`` from an hour after the fixture's clock reading, and publish."""
    resp = await qclient.post(
        path(issuer_id).replace("/v1/", "/admin/v1/") + "/status",
        json={"status": "suspended", "from": "2026-03-01T13:00:00Z", "reason": "audit"},
        headers=auth,
    )
    assert resp.status == 200
    await qclient.app[NODE].publisher.publish("test")


async def test_lookups_asked_again_follow_the_index_the_clock_and_the_peers(
    qclient: TestClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A kept question is never answered past the instant its decision may change (a status
    taking effect later), nor after the index changes (a publication) or the peers' terms do
    (a reload), even for the very same request target."""
    node = qclient.app[NODE]
    board1, board9 = path(issuer(1)["id"]), path(PORT_DID)
    peers = path("did:web:issuer7.us-in.example")
    await _suspend_in_an_hour(qclient, issuer(1)["id"], auth)
    for target in (board1, board9, peers, board1, board9, peers):
        assert json.loads(await _get_raw(qclient, target))["outcome"] == "trusted"
    assert len(node.resolver.snapshot.asked) == 3

    clock.advance(hours=1)  # the suspension takes effect: the index is the same
    held = node.resolver.snapshot
    answer = json.loads(await _get_raw(qclient, board1))
    assert (answer["outcome"], answer["reason"]) == ("not_trusted", "suspended")
    assert node.resolver.snapshot is held

    change = {"status": "revoked", "reason": "board dissolved"}
    await node.issuers.set_status(PORT_DID, change, "test")
    await node.publisher.publish("test")  # a new snapshot
    answer = json.loads(await _get_raw(qclient, board9))
    assert (answer["outcome"], answer["reason"]) == ("not_trusted", "revoked")

    assert json.loads(await _get_raw(qclient, peers))["outcome"] == "trusted"
    held = node.resolver.snapshot
    node.federation.set_peers([])  # what a reload does before it commits
    answer = json.loads(await _get_raw(qclient, peers))
    assert (answer["outcome"], answer["reason"]) == ("unknown", "not_listed")
    assert node.resolver.snapshot is held


async def test_a_kept_lookup_expires_with_the_list_it_rests_on_and_asks_for_a_receipt_anew(
    qclient: TestClient, sim: PeerSimulator, clock: FakeClock
) -> None:
    """An answer resting on a list that expires within the hour expires with it, asked afresh
    or again; a request for a receipt (Accept) is never answered with the kept JSON; a target
    too long to keep is answered all the same."""
    sim.validity = timedelta(minutes=20)
    sim.publish()
    await qclient.app[NODE].federation.sync(IN)
    target = path("did:web:issuer7.us-in.example")
    for seconds in (0, 1.5):
        clock.advance(seconds=seconds)
        answer = json.loads(await _get_raw(qclient, target))
        assert answer["expires"] == "2026-03-01T12:20:00Z"
    assert answer["evaluated_at"] == "2026-03-01T12:00:01Z"
    resp = await qclient.get(target, headers={"Accept": "application/jwt"})
    assert resp.content_type == "application/jwt"
    _, claims = await _verify_receipt(qclient, await resp.text())
    assert claims["answer"]["expires"] == "2026-03-01T12:20:00Z"

    asked = qclient.app[NODE].resolver.snapshot.asked
    long_id = "did:web:" + "a" * 600 + ".example"
    assert len(path(long_id)) > ASKED_KEY_LENGTH
    for _ in range(2):
        answer = json.loads(await _get_raw(qclient, path(long_id)))
        assert (answer["outcome"], answer["question"]["id"]) == ("unknown", long_id)
    assert len(asked) == 1


async def test_trqp_checks_the_resource_vocabulary_only_when_it_refuses(
    qclient: TestClient,
) -> None:
    """Collecting every resource the lists name parses every entry: a trusted answer, which
    proves the resource known, skips it; a refusal computes it per list, once per version."""
    node = qclient.app[NODE]
    status, body, _ = await post_trqp(qclient, "authorization", trqp())
    assert (status, body["authorized"]) == (200, True)
    assert "resources" not in vars(node.resolver.snapshot)  # not computed
    status, body, _ = await post_trqp(qclient, "authorization", trqp(resource="License"))
    assert (status, body["authorized"]) == (200, False)
    indiana = node.resolver.snapshot.sources[IN]
    assert "Degree" in indiana.cache["resources"]
    await node.publisher.publish("test")  # Ohio's list changes; Indiana's index is kept
    assert node.resolver.snapshot.sources[IN] is indiana


async def _post_raw(client: TestClient, body: bytes) -> tuple[int, bytes]:
    resp = await client.post(
        "/trqp/authorization", data=body, headers={"Content-Type": "application/json"}
    )
    return resp.status, await resp.read()


async def test_trqp_answers_rendered_once_are_the_same_bytes_with_the_time_of_asking(
    qclient: TestClient, clock: FakeClock
) -> None:
    """An authorization answer is rendered once per snapshot and request body; asking again
    gives the same bytes but for time_evaluated, the instant of this asking."""
    body = json.dumps(trqp(context={"time": "2026-02-01T00:00:00Z"})).encode()
    status, first = await _post_raw(qclient, body)
    assert status == 200
    clock.advance(seconds=61)
    status, again = await _post_raw(qclient, body)
    assert status == 200
    assert len(qclient.app[NODE].resolver.snapshot.rendered) == 1
    doc = json.loads(again)
    assert doc["time_evaluated"] == "2026-03-01T12:01:01Z"
    assert again == first.replace(b"2026-03-01T12:00:00Z", b"2026-03-01T12:01:01Z")
    assert again == json.dumps(doc, separators=(",", ":")).encode()  # compact, one rendering
    assert (doc["authorized"], doc["time_requested"]) == (True, "2026-02-01T00:00:00Z")


async def test_trqp_answers_rendered_once_follow_the_index_the_clock_and_the_peers(
    qclient: TestClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A rendered answer is never served past the instant its decisions may change (a status
    taking effect later), nor after the index changes (a publication) or the peers' terms do
    (a reload), even for the very same request bytes."""
    node = qclient.app[NODE]
    board1 = json.dumps(trqp(entity_id=issuer(1)["id"])).encode()
    board2 = json.dumps(trqp(entity_id=issuer(2)["id"], authority_id="US-OH")).encode()
    peers = json.dumps(trqp()).encode()
    await _suspend_in_an_hour(qclient, issuer(1)["id"], auth)
    for body in (board1, board2, peers, board1, board2, peers):
        status, answer = await _post_raw(qclient, body)
        assert (status, json.loads(answer)["authorized"]) == (200, True)
    assert len(node.resolver.snapshot.rendered) == 3

    clock.advance(hours=1)  # the suspension takes effect: the index is the same
    held = node.resolver.snapshot
    status, answer = await _post_raw(qclient, board1)
    assert (status, json.loads(answer)["authorized"]) == (200, False)
    assert node.resolver.snapshot is held

    change = {"status": "revoked", "reason": "board dissolved"}
    await node.issuers.set_status(issuer(2)["id"], change, "test")
    await node.publisher.publish("test")  # a new snapshot
    status, answer = await _post_raw(qclient, board2)
    assert (status, json.loads(answer)["authorized"]) == (200, False)

    status, answer = await _post_raw(qclient, peers)
    assert (status, json.loads(answer)["authorized"]) == (200, True)
    held = node.resolver.snapshot
    node.federation.set_peers([])  # what a reload does before it commits
    status, answer = await _post_raw(qclient, peers)
    assert (status, json.loads(answer)["code"]) == (404, "entity_not_found")
    assert node.resolver.snapshot is held
