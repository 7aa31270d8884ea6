"""The three-state demo sets up nodes that pin each other's keys, and reuses them."""

from __future__ import annotations

from pathlib import Path

from registry_node.core.peers import parse_peers
from registry_node.core.yamlsafe import load_yaml
from registry_node.demo import STATES, prepare
from registry_node.services.node import Node

ROOT = Path(__file__).resolve().parents[1]


async def test_demo_nodes_pin_each_other(tmp_path: Path) -> None:
    configs = await prepare(tmp_path, ROOT / "trust_lists")
    assert [c.jurisdiction for c in configs] == [s.code for s in STATES]
    kids = {}
    for config in configs:
        node = await Node.open(config, import_source=False, publish=False)
        kids[config.node_id] = {k.kid for k in await node.store.read.keys("current")}
        assert len(await node.issuers.all()) >= 12
        await node.close()
    for config in configs:
        folder = config.data_dir.parent
        assert (folder / "admin-token").stat().st_mode & 0o777 == 0o600
        peers = parse_peers(load_yaml((folder / "peers.yaml").read_bytes(), "peers.yaml"), "p")
        assert {p.id for p in peers} == set(kids) - {config.node_id}
        for peer in peers:
            assert peer.pinned_thumbprints == kids[peer.id]
    again = await prepare(tmp_path, ROOT / "trust_lists")
    assert [c.node_id for c in again] == [c.node_id for c in configs]
    for config in again:
        node = await Node.open(config, import_source=False, publish=False)
        assert {k.kid for k in await node.store.read.keys("current")} == kids[config.node_id]
        await node.close()
