"""Replicas on one PostgreSQL database (services/replicas.py, docs/adr/0024): one lease, held
by one serving process at a time and taken over when it goes; every commit announced to all;
the holder alone does a start's work; and on SQLite the serving node is the sole replica."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from registry_node.config import NodeConfig
from registry_node.core import keys
from registry_node.core.signing import parse_jws
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.services import postgres
from registry_node.services.node import Node
from registry_node.services.replicas import Replica, default_name
from registry_node.services.scheduler import Jobs, job_id
from tests.helpers import FakeClock, issuer, make_config
from tests.pg import PASSWORD, Cluster

ANNOUNCED = 5.0  # seconds an announcement may take to arrive on loopback (a bound, no sleep)


def _replica_config(
    tmp_path: Path, cluster: Cluster, url: str, name: str, **changes: object
) -> NodeConfig:
    """A replica of Ohio's node on ``url``: its own data folder, the key folder they share."""
    return make_config(
        tmp_path,
        data_dir=tmp_path / name,
        shared_keys_dir=tmp_path / "keys",
        database=url,
        database_password_file=cluster.password_file,
        replica_name=name,
        **changes,
    )


@pytest.fixture
async def two_replicas(
    pg_cluster: Cluster, pg_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Node, Node]]:
    """Replicas "a" (opened first: it holds the lease) and "b" of one node on ``pg_url``."""
    clock = FakeClock()
    first = await Node.open(
        _replica_config(tmp_path, pg_cluster, pg_url, "a"), clock, exclusive=True
    )
    second = await Node.open(
        _replica_config(tmp_path, pg_cluster, pg_url, "b"), clock, exclusive=True
    )
    yield first, second
    await first.close()
    await second.close()


async def _versions(url: str) -> list[tuple[int, str]]:
    raw = await asyncpg.connect(url, password=PASSWORD)
    try:
        rows = await raw.fetch("SELECT seq, reason FROM versions ORDER BY seq")
        return [(int(r[0]), str(r[1])) for r in rows]
    finally:
        await raw.close()


async def test_one_replica_holds_the_lease_and_another_takes_it_over(
    pg_cluster: Cluster, pg_url: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    first = await Node.open(
        _replica_config(tmp_path, pg_cluster, pg_url, "a"), clock, exclusive=True
    )
    second = await Node.open(
        _replica_config(tmp_path, pg_cluster, pg_url, "b"), clock, exclusive=True
    )
    try:
        assert (first.replica.leading, second.replica.leading) == (True, False)
        assert await first.replica.status() == {
            "ok": True,
            "name": "a",
            "lease": "held",
            "holder": "a",
        }
        assert await second.replica.status() == {
            "ok": True,
            "name": "b",
            "lease": "standby",
            "holder": "a",
        }
        # A standby asking again does not get it while the holder lives.
        assert await second.replica.refresh() is False
        assert await first.replica.refresh() is False  # already held: nothing new to start
        assert first.replica.leading
        # Only the holder published on opening: one first version.
        assert await _versions(pg_url) == [(1, "initial publication")]
    finally:
        await first.close()
    try:
        # The holder went (its connection with it): the standby takes the lease at once.
        assert await second.replica.refresh() is True
        assert second.replica.leading and second.replica.takeovers == 1
        assert (await second.replica.status())["holder"] == "b"
    finally:
        await second.close()


async def test_a_holder_whose_connection_dies_gives_the_lease_up(
    two_replicas: tuple[Node, Node], pg_url: str
) -> None:
    """The server ends the holder's session (as when its machine is cut off and the keepalives
    run out): the holder stops leading at its next check, and the standby takes over."""
    first, second = two_replicas
    admin = await asyncpg.connect(pg_url, password=PASSWORD)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid IN "
            "(SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1)",
            postgres.application_name("a"),
        )
    finally:
        await admin.close()
    assert ended == 1
    # The server dropped the lease with the session: the standby takes it...
    assert await second.replica.refresh() is True
    # ... and the old holder, at its next check, knows it no longer holds it.
    assert await first.replica.refresh() is False
    assert not first.replica.leading
    assert (await first.replica.status())["holder"] == "b"
    # The old holder does not take it back while the new one holds it.
    assert await first.replica.refresh() is False


async def test_every_commit_is_announced_to_the_other_replicas(
    two_replicas: tuple[Node, Node], pg_url: str
) -> None:
    first, second = two_replicas
    heard = second.replica.changed
    heard.clear()
    first.replica.changed.clear()
    await second.issuers.create(issuer(7), "admin")  # through the standby
    await asyncio.wait_for(first.replica.changed.wait(), ANNOUNCED)
    await asyncio.wait_for(heard.wait(), ANNOUNCED)  # its own commits too
    # A rolled back transaction announces nothing; announcements come in commit order.
    heard_raw: list[str] = []
    listener = await asyncpg.connect(pg_url, password=PASSWORD)
    try:
        await listener.add_listener(postgres.CHANNEL, lambda *_: heard_raw.append("commit"))
        with pytest.raises(RuntimeError):
            await _rolled_back(first)
        async with first.store.write() as tx:
            await tx.set_meta("scratch", "committed")
        async with asyncio.timeout(ANNOUNCED):
            while not heard_raw:
                await listener.fetchval("SELECT 1")  # the notifications come with replies
        assert heard_raw == ["commit"]
    finally:
        await listener.close()


async def _rolled_back(node: Node) -> None:
    async with node.store.write() as tx:
        await tx.set_meta("scratch", "rolled back")
        raise RuntimeError("rolled back")


async def test_replicas_started_at_the_same_instant_publish_once(
    pg_cluster: Cluster, pg_url: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    configs = [_replica_config(tmp_path, pg_cluster, pg_url, name) for name in "abc"]
    nodes = await asyncio.gather(*(Node.open(c, clock, exclusive=True) for c in configs))
    try:
        assert sorted(n.replica.leading for n in nodes) == [False, False, True]
        [holder] = [n.replica.name for n in nodes if n.replica.leading]
        assert {(await n.replica.status())["holder"] for n in nodes} == {holder}
        # One signing key (in the folder they share), one first version.
        assert len(await nodes[0].publisher.keys("current")) == 1
        assert len(list((tmp_path / "keys").glob("*.pem"))) == 1
        assert await _versions(pg_url) == [(1, "initial publication")]
    finally:
        for node in nodes:
            await node.close()


async def test_a_node_on_sqlite_and_a_command_are_sole_replicas(tmp_path: Path) -> None:
    node = await Node.open(make_config(tmp_path, replica_name="only"), FakeClock(), exclusive=True)
    try:
        assert not node.replica.shared and node.replica.leading
        assert await node.replica.status() == {
            "ok": True,
            "name": "only",
            "lease": "held",
            "holder": "only",
        }
    finally:
        await node.close()
    command = await Node.open(make_config(tmp_path), FakeClock())
    try:
        assert command.replica.leading and not command.replica.shared
        assert command.replica.name == default_name()
    finally:
        await command.close()


def test_a_replica_name_fits_the_servers_application_name() -> None:
    assert len(default_name()) <= 49
    assert postgres.application_name("x" * 80) == ("registry-node " + "x" * 80)[:63]
    assert Replica.sole("n").name == "n"
    # pg_locks lists a bigint advisory key as two unsigned 32-bit halves
    assert postgres.lock_ids(-1) == (0xFFFFFFFF, 0xFFFFFFFF)
    assert postgres.lock_ids(0x0000000100000002) == (1, 2)


async def test_a_command_on_postgresql_never_takes_the_lease(
    pg_cluster: Cluster, pg_url: str, tmp_path: Path
) -> None:
    config = _replica_config(tmp_path, pg_cluster, pg_url, "a")
    command = await Node.open(dataclasses.replace(config, replica_name=None), FakeClock())
    try:
        assert not command.replica.shared
        serving = await Node.open(config, FakeClock(), exclusive=True)
        try:
            assert serving.replica.leading  # the command held no lease
        finally:
            await serving.close()
    finally:
        await command.close()


def _peers_file(path: Path, *ids: str) -> None:
    """A peers.yaml naming peers ``ids`` (their lists are never fetched here)."""
    entries = [
        {
            "id": f"https://registry.{i}.example",
            "jurisdiction": f"US-{i.upper()}",
            "url": f"https://registry.{i}.example/trust-list",
            "keys": [keys.generate().kid],
        }
        for i in ids
    ]
    path.write_text(dump_yaml({"peers": entries}))


async def test_a_reload_through_one_replica_is_followed_by_the_others_with_the_same_file(
    pg_cluster: Cluster, pg_url: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    configs = [
        _replica_config(tmp_path, pg_cluster, pg_url, name, peers_file=tmp_path / f"{name}.yaml")
        for name in ("a", "b")
    ]
    for config in configs:
        _peers_file(config.peers_file, "in")
    shutil.copy(configs[0].peers_file, configs[1].peers_file)
    nodes = [await Node.open(c, clock, exclusive=True) for c in configs]
    schedulers = [AsyncIOScheduler(timezone="UTC") for _ in nodes]
    jobs = [Jobs(s, n, rand=lambda: 0.5) for s, n in zip(schedulers, nodes, strict=True)]
    try:
        for scheduler in schedulers:
            scheduler.start(paused=True)
        a, b = jobs
        # The operator adds a neighbour in the file every replica mounts, and reloads one.
        _peers_file(configs[0].peers_file, "in", "mi")
        shutil.copy(configs[0].peers_file, configs[1].peers_file)
        await a.reload_peers("admin")
        assert nodes[1].federation.peers.ids() == ["https://registry.in.example"]
        await b.follow_peers()
        assert nodes[1].federation.peers.ids() == [
            "https://registry.in.example",
            "https://registry.mi.example",
        ]
        assert b.scheduler.get_job(job_id("https://registry.mi.example")) is not None
        assert nodes[1].federation.peers_differ is None
        # A replica whose file is not the one put in force keeps its peers, and says so.
        _peers_file(configs[0].peers_file, "in")
        await a.reload_peers("admin")
        await b.follow_peers()
        assert len(nodes[1].federation.peers.ids()) == 2
        differ = nodes[1].federation.peers_differ
        assert differ is not None and "replica a put in force" in differ
        # Once its file is the same, it follows.
        shutil.copy(configs[0].peers_file, configs[1].peers_file)
        await b.follow_peers()
        assert nodes[1].federation.peers.ids() == ["https://registry.in.example"]
        assert nodes[1].federation.peers_differ is None
    finally:
        for scheduler in schedulers:
            if scheduler.running:
                scheduler.shutdown(wait=False)
        for node in nodes:
            await node.close()


async def test_readiness_names_the_holder_and_takes_a_replica_with_other_peers_out(
    pg_cluster: Cluster, pg_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    config = _replica_config(tmp_path, pg_cluster, pg_url, "a")
    client = await aiohttp_client(
        create_app(config, FakeClock(), run_scheduler=False, handle_sighup=False)
    )
    resp = await client.get("/readyz")
    body = await resp.json()
    assert body["checks"]["replica"] == {"ok": True, "name": "a", "lease": "held", "holder": "a"}
    metrics = await (await client.get("/metrics")).text()
    assert 'registry_replica_lease_held{replica="a"} 1.0' in metrics
    client.app[NODE].federation.peers_differ = "peers.yaml differs"
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 503 and body["status"] == "not_ready"
    assert body["checks"]["replica"]["ok"] is False
    assert body["checks"]["replica"]["detail"] == "peers.yaml differs"


async def test_processes_publishing_at_once_never_sign_one_seq_twice(
    backend_config: NodeConfig,
) -> None:
    """Two processes on one database (replicas on PostgreSQL, a node and the command line on
    SQLite) publish many times at once: every seq is signed once, and each version's prev is
    the digest of the one before, whichever process signed it."""
    clock = FakeClock()
    first = await Node.open(backend_config, clock)
    second = await Node.open(backend_config, clock)
    try:

        async def publish(node: Node, times: int) -> list[int]:
            return [(await node.publisher.publish("test", "test")).seq for _ in range(times)]

        seqs = await asyncio.gather(publish(first, 15), publish(second, 15))
        history = [await first.store.read.version(seq) for seq in range(1, 32)]
    finally:
        await first.close()
        await second.close()
    signed = sorted(seqs[0] + seqs[1])
    assert signed == list(range(2, 32))  # seq 1: the first start's publication
    versions = [v for v in history if v is not None]
    assert [v.seq for v in versions] == list(range(1, 32))
    for earlier, later in itertools.pairwise(versions):
        assert later.prev == earlier.digest
        payload = json.loads(parse_jws(later.body).payload)
        assert (payload["seq"], payload["prev"]) == (later.seq, earlier.digest)
