"""Federation as HTTP clients see it: peers status, metrics, readiness, the resolver's staleness
rules, and the admin calls to reload peers.yaml and sync now."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from registry_node.config import NodeConfig
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from tests.helpers import FakeClock, issuer
from tests.sim import PeerSimulator, sim_issuer


@pytest.fixture
async def sim(clock: FakeClock) -> PeerSimulator:
    peer = PeerSimulator(clock)
    aliased = sim_issuer(7)
    aliased["aka"] = ["https://issuer7.indiana.example"]
    peer.issuers.append(aliased)
    peer.publish(seq=1)
    return peer


@pytest.fixture
async def peer_url(sim: PeerSimulator, aiohttp_server: Any) -> str:
    server = await aiohttp_server(sim.app())
    return str(server.make_url("/trust-list"))


def write_peers(config: NodeConfig, sim: PeerSimulator, url: str, **extra: Any) -> None:
    doc = {"id": sim.peer_id, "jurisdiction": sim.jurisdiction, "url": url, "keys": sim.pins}
    config.peers_file.write_text(dump_yaml({"peers": [{**doc, **extra}]}))


@pytest.fixture
async def fed_client(
    aiohttp_client: Any,
    config: NodeConfig,
    clock: FakeClock,
    sim: PeerSimulator,
    peer_url: str,
    request: pytest.FixtureRequest,
) -> TestClient:
    on_stale = getattr(request, "param", "reject")
    write_peers(config, sim, peer_url, on_stale=on_stale)
    client: TestClient = await aiohttp_client(create_app(config, clock, run_scheduler=False))
    return client


@pytest.fixture
async def token(fed_client: TestClient) -> dict[str, str]:
    _, secret = await fed_client.app[NODE].tokens.create("ops", "test")
    return {"Authorization": f"Bearer {secret}"}


async def test_sync_now_then_peers_status_and_metrics(
    fed_client: TestClient, token: dict[str, str]
) -> None:
    before = await (await fed_client.get("/v1/peers")).json()
    assert before["peers"][0]["state"] == "never_synced"
    ready = await (await fed_client.get("/readyz")).json()
    assert ready["status"] == "degraded"
    assert ready["checks"]["peers"]["degraded"][0]["state"] == "never_synced"

    resp = await fed_client.post("/admin/v1/peers/sync", headers=token)
    assert resp.status == 200
    assert (await resp.json())["results"] == [
        {"peer_id": "https://registry.indiana.example", "outcome": "accepted", "seq": 1}
    ]
    peers = (await (await fed_client.get("/v1/peers")).json())["peers"]
    assert peers[0]["state"] == "fresh"
    assert peers[0]["entries"] == {"accepted": 4, "dropped_scope": 0, "narrowed_scope": 0}
    ready = await fed_client.get("/readyz")
    assert (await ready.json())["status"] == "ready"
    metrics = await fed_client.get("/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain")
    text = await metrics.text()
    assert (
        'registry_peer_syncs_total{outcome="accepted",peer="https://registry.indiana.example"}'
        in text
    )


async def test_sync_needs_a_token(fed_client: TestClient) -> None:
    assert (await fed_client.post("/admin/v1/peers/sync")).status == 401
    peers = (await (await fed_client.get("/v1/peers")).json())["peers"]
    assert peers[0]["state"] == "never_synced"


async def test_failing_peer_is_reported_with_its_reason(
    fed_client: TestClient, token: dict[str, str], sim: PeerSimulator
) -> None:
    await fed_client.post("/admin/v1/peers/sync", headers=token)
    sim.status = 503
    await fed_client.post("/admin/v1/peers/sync", headers=token)
    peer = (await (await fed_client.get("/v1/peers")).json())["peers"][0]
    assert peer["state"] == "failing"
    assert peer["last_error"]["code"] == "http_status"
    assert peer["last_error"]["hint"] == (
        "Check the url in peers.yaml; otherwise tell the peer's operator."
    )  # docs/operations.md section 6
    assert peer["seq"] == 1  # the last good list is kept
    ready = await (await fed_client.get("/readyz")).json()
    assert ready["status"] == "degraded"
    assert ready["checks"]["peers"]["degraded"][0]["last_error"] == peer["last_error"]


async def test_resolver_answers_from_local_and_peer_lists(
    fed_client: TestClient, token: dict[str, str]
) -> None:
    node = fed_client.app[NODE]
    await node.issuers.create(issuer(1), "test")
    unpublished = await fed_client.get("/v1/issuers/" + quote(issuer(1)["id"], safe=""))
    assert (await unpublished.json())["outcome"] == "unknown"  # answers come from signed lists
    await node.publisher.publish("test")
    await fed_client.post("/admin/v1/peers/sync", headers=token)
    local = await (await fed_client.get("/v1/issuers/" + quote(issuer(1)["id"], safe=""))).json()
    assert local["outcome"] == "trusted"
    assert [s["source"] for s in local["evidence"]] == ["https://registry.ohio.example"]
    assert local["evidence"][0]["entry"]["status"] == "active"
    assert local["evidence"][0]["local"] is True
    by_aka = await fed_client.get(
        "/v1/issuers/" + quote("https://issuer7.indiana.example", safe="")
    )
    answer = await by_aka.json()
    assert answer["outcome"] == "trusted"
    assert answer["evidence"][0]["source"] == "https://registry.indiana.example"
    assert answer["evidence"][0]["entry"]["id"] == "did:web:issuer7.us-in.example"
    assert answer["evidence"][0]["stale"] is False
    assert answer["evidence"][0]["list"]["seq"] == 1
    past = await fed_client.get(
        "/v1/issuers/" + quote(issuer(1)["id"], safe="") + "?at=2019-06-01T00:00:00Z"
    )
    before = await past.json()
    assert (before["outcome"], before["reason"]) == ("not_trusted", "not_yet_listed")
    assert before["evidence"][0]["entry"]["status"] is None  # before its history began
    unknown = await fed_client.get("/v1/issuers/did:web:nobody.example")
    assert unknown.status == 200
    assert (await unknown.json())["outcome"] == "unknown"


async def test_stale_peer_with_reject_is_not_used_and_the_answer_says_why(
    fed_client: TestClient, token: dict[str, str], clock: FakeClock
) -> None:
    await fed_client.post("/admin/v1/peers/sync", headers=token)
    clock.advance(hours=25)
    resp = await fed_client.get("/v1/issuers/did:web:issuer1.us-in.example")
    doc = await resp.json()
    assert (doc["outcome"], doc["reason"]) == ("unknown", "sources_stale")
    assert doc["unavailable"][0]["source"] == "https://registry.indiana.example"
    assert doc["unavailable"][0]["reason"] == "stale"
    peers = (await (await fed_client.get("/v1/peers")).json())["peers"]
    assert peers[0]["state"] == "stale"


@pytest.mark.parametrize("fed_client", ["warn"], indirect=True)
async def test_stale_peer_with_warn_is_used_and_marked(
    fed_client: TestClient, token: dict[str, str], clock: FakeClock, sim: PeerSimulator
) -> None:
    await fed_client.post("/admin/v1/peers/sync", headers=token)
    clock.advance(hours=25)
    answer = await (await fed_client.get("/v1/issuers/did:web:issuer1.us-in.example")).json()
    assert answer["outcome"] == "trusted"
    assert answer["evidence"][0]["stale"] is True
    assert answer["stale"] is True
    # The peer comes back: fresh again, no longer marked.
    sim.publish()
    await fed_client.post("/admin/v1/peers/sync", headers=token)
    answer = await (await fed_client.get("/v1/issuers/did:web:issuer1.us-in.example")).json()
    assert answer["evidence"][0]["stale"] is False
    assert answer["stale"] is False


async def test_reload_adds_and_removes_peers_and_refuses_a_bad_file(
    fed_client: TestClient, token: dict[str, str], config: NodeConfig, sim: PeerSimulator
) -> None:
    await fed_client.post("/admin/v1/peers/sync", headers=token)
    original = config.peers_file.read_text()
    config.peers_file.write_text(
        "peers:\n  - id: https://registry.indiana.example\n    threshold: 0\n"
    )
    bad = await fed_client.post("/admin/v1/peers/reload", headers=token)
    assert bad.status == 422
    problem = await bad.json()
    assert problem["code"] == "peers_invalid"
    assert "peers[0] (https://registry.indiana.example)" in problem["detail"]
    assert len((await (await fed_client.get("/v1/peers")).json())["peers"]) == 1  # unchanged

    config.peers_file.write_text("peers: []\n")
    removed = await fed_client.post("/admin/v1/peers/reload", headers=token)
    assert await removed.json() == {
        "added": [],
        "removed": ["https://registry.indiana.example"],
        "changed": [],
    }
    assert (await (await fed_client.get("/v1/peers")).json())["peers"] == []
    gone = await fed_client.get("/v1/issuers/did:web:issuer1.us-in.example")
    assert (await gone.json())["outcome"] == "unknown"  # a removed peer stops being trusted

    config.peers_file.write_text(original)
    added = await fed_client.post("/admin/v1/peers/reload", headers=token)
    assert (await added.json())["added"] == ["https://registry.indiana.example"]
    audit = await (await fed_client.get("/admin/v1/audit", headers=token)).json()
    assert [r["action"] for r in audit["records"]].count("peers.reload") == 2


def test_a_bad_peers_file_stops_the_node_at_start(tmp_path: Path, config: NodeConfig) -> None:
    import asyncio

    from registry_node.core.errors import ConfigError
    from registry_node.services.node import Node

    config.peers_file.write_text("peers:\n  - id: https://registry.indiana.example\n    url: x\n")
    with pytest.raises(ConfigError, match=r"peers\[0\] \(https://registry.indiana.example\)"):
        asyncio.run(Node.open(config))


async def test_metrics_report_the_nodes_own_list(fed_client: TestClient, clock: FakeClock) -> None:
    node = fed_client.app[NODE]
    latest = await node.store.read.latest_version(with_body=False)
    assert latest is not None
    clock.advance(hours=1)
    text = await (await fed_client.get("/metrics")).text()
    assert f"registry_trust_list_seq {float(latest.seq)}" in text
    assert "registry_trust_list_age_seconds 3600.0" in text
    assert f"registry_trust_list_expires_in_seconds {float(latest.exp - latest.iat - 3600)}" in text


async def test_a_removed_peer_leaves_no_series_in_metrics(
    fed_client: TestClient, token: dict[str, str], config: NodeConfig, sim: PeerSimulator
) -> None:
    await fed_client.post("/admin/v1/peers/sync", headers=token)
    sim.status = 503
    await fed_client.post("/admin/v1/peers/sync", headers=token)  # a failure, with its reason
    label = 'peer="https://registry.indiana.example"'
    before = await (await fed_client.get("/metrics")).text()
    for series in ("registry_peer_syncs_total", "registry_peer_rejections_total"):
        assert any(line.startswith(series) and label in line for line in before.splitlines())
    config.peers_file.write_text("peers: []\n")
    assert (await fed_client.post("/admin/v1/peers/reload", headers=token)).status == 200
    after = await (await fed_client.get("/metrics")).text()
    assert label not in after
