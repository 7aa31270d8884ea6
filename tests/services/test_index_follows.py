"""The lookup index follows the database: after any sequence of commits, the index kept up to
date by the typed changes of each commit, and one that only caught up with the database, both
equal an index rebuilt from the database (docs/adr/0011). Property-based: Hypothesis draws the
sequence of publications, syncs, refetches, reconfigurations and withdrawals."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_node.core import keys
from registry_node.core.model import digest
from registry_node.core.yamlsafe import dump_yaml
from registry_node.services.fetcher import FetchResult
from registry_node.services.node import Node
from registry_node.services.resolver import Resolver
from tests.helpers import FakeClock, issuer, make_config
from tests.sim import PeerSimulator, sim_issuer

PEERS = ("IN", "MI")

step = st.one_of(
    st.tuples(st.just("add_issuer"), st.sampled_from(PEERS), st.integers(10, 40)),
    st.tuples(st.just("append_status"), st.sampled_from(PEERS), st.integers(0, 2)),
    st.tuples(st.just("add_aka"), st.sampled_from(PEERS), st.integers(0, 2)),
    st.tuples(st.just("refetch"), st.sampled_from(PEERS), st.just(0)),
    st.tuples(st.just("scope"), st.sampled_from(PEERS), st.integers(0, 2)),
    st.tuples(st.just("withdraw"), st.sampled_from(PEERS), st.just(0)),
    st.tuples(st.just("remove"), st.sampled_from(PEERS), st.just(0)),
    st.tuples(st.just("restore"), st.sampled_from(PEERS), st.just(0)),
    st.tuples(st.just("local"), st.just("OH"), st.integers(10, 40)),
)


def view(resolver: Resolver) -> dict[str, Any]:
    """What the index holds, comparable across indexes."""
    out = {}
    for source_id, index in resolver.snapshot.sources.items():
        out[source_id] = (
            index.info,
            index.terms_id,
            dict(index.texts),
            dict(index.names),
            sorted(index.ids()),
        )
    return out


class Scenario:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.clock = FakeClock()
        self.sims = {
            "IN": PeerSimulator(self.clock, "https://registry.indiana.example", "US-IN"),
            "MI": PeerSimulator(self.clock, "https://registry.michigan.example", "US-MI"),
        }
        self.scope: dict[str, int] = dict.fromkeys(PEERS, 0)
        self.extra_pin: dict[str, bool] = dict.fromkeys(PEERS, False)
        self.present: dict[str, bool] = dict.fromkeys(PEERS, True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:9/{name}/trust-list"

    def write_peers(self) -> None:
        docs = []
        for name, sim in self.sims.items():
            if not self.present[name]:
                continue
            doc: dict[str, Any] = {
                "id": sim.peer_id,
                "jurisdiction": sim.jurisdiction,
                "url": self.url(name),
                "keys": sim.pins,
            }
            if self.extra_pin[name]:
                doc["keys"] = [*sim.pins, keys.generate().kid]
                doc["threshold"] = 2
            scope = self.scope[name]
            if scope == 1:
                doc["scope"] = {"credential_types": ["OpenBadgeCredential"]}
            elif scope == 2:
                doc["scope"] = {"jurisdictions": [sim.jurisdiction, "US-OH"]}
            docs.append(doc)
        (self.tmp / "peers.yaml").write_text(dump_yaml({"peers": docs}))

    async def fetch(self, url: str, etag: str | None = None) -> FetchResult:
        name = url.split("/")[3]
        body = self.sims[name].current
        tag = f'"{digest(body)}"'
        if etag == tag:
            return FetchResult(304, b"", tag, 0.0)
        return FetchResult(200, body, tag, 0.0)

    async def run(self, steps: list[tuple[str, str, int]]) -> None:
        self.write_peers()
        config = make_config(self.tmp)
        node = await Node.open(config, self.clock)
        node.federation.fetcher.fetch = self.fetch  # type: ignore[method-assign]
        follower = Resolver(config, node.store, node.federation.peers, self.clock)
        await follower.load()
        node.store.listeners.remove(follower.on_commit)  # it only catches up
        try:
            await node.federation.sync_all()
            for kind, name, n in steps:
                await self.apply(node, kind, name, n)
            rebuilt = Resolver(config, node.store, node.federation.peers, self.clock)
            await rebuilt.load()
            await follower.catch_up()
            assert view(node.resolver) == view(rebuilt)
            assert view(follower) == view(rebuilt)
        finally:
            await node.close()

    async def apply(self, node: Node, kind: str, name: str, n: int) -> None:
        self.clock.advance(minutes=1)
        if kind == "local":
            await node.issuers.create(
                issuer(n, id=f"did:web:local{n}-{self.clock().minute}.example"), "t"
            )
            await node.publisher.publish("test")
            return
        sim = self.sims[name]
        if kind in ("add_issuer", "append_status", "add_aka"):
            if kind == "add_issuer":
                jurisdiction = "US-OH" if n % 3 == 0 else sim.jurisdiction
                entry = sim_issuer(n, jurisdiction)
                entry["id"] += f"-{self.clock().minute}"
                sim.issuers.append(entry)
            elif kind == "append_status":
                target = sim.issuers[n % len(sim.issuers)]
                status = (
                    "suspended" if target["status_history"][-1]["status"] == "active" else "active"
                )
                target["status_history"] = [
                    *target["status_history"],
                    {"status": status, "from": f"2025-01-01T00:{self.clock().minute:02d}:00Z"},
                ]
            else:
                target = sim.issuers[n % len(sim.issuers)]
                target["aka"] = [f"https://aka{self.clock().minute}.{name.lower()}.example"]
            sim.publish()
            kind = "refetch"
        if kind == "refetch":
            if self.present[name]:
                await node.federation.sync(sim.peer_id)
            return
        if kind == "scope":
            self.scope[name] = n
        elif kind == "withdraw":
            self.extra_pin[name] = not self.extra_pin[name]
        elif kind == "remove":
            self.present[name] = False
        elif kind == "restore":
            self.present[name] = True
        self.write_peers()
        await node.federation.reload("test")


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(step, min_size=1, max_size=12))
def test_the_index_equals_one_rebuilt_from_the_database(steps: list[tuple[str, str, int]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(Scenario(Path(folder)).run(steps))


async def test_an_accepted_list_reaches_the_index_without_a_read_back(
    tmp_path: Path, clock: FakeClock, aiohttp_server: Any, monkeypatch: Any
) -> None:
    """The commit hands the index the entries it wrote: the index reads nothing back."""
    from tests.services.test_federation import make_world

    world = await make_world(tmp_path, clock, aiohttp_server, PeerSimulator(clock))
    try:
        assert (await world.sync()).outcome == "accepted"
        resolver = world.node.resolver

        async def no_read(peer_id: str) -> None:
            raise AssertionError(f"the index read {peer_id}'s list back from the database")

        monkeypatch.setattr(resolver, "_read_peer", no_read)
        clock.advance(minutes=5)
        world.sim.issuers.append(sim_issuer(77))
        world.sim.publish()
        assert (await world.sync()).outcome == "accepted"
        held = resolver.snapshot.sources[world.sim.peer_id]
        assert held.info.seq == 2
        assert "did:web:issuer77.us-in.example" in held.names
    finally:
        await world.node.close()
