"""Real ``registry-node serve`` processes on PostgreSQL: Ohio and Indiana keep their data in
databases of the test's own PostgreSQL server (tests/pg.py), Michigan in SQLite. They publish,
sync each other and answer lookups as on SQLite; a node killed with SIGKILL starts again on
its database with its history whole; the password appears in no log line and no answer."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import asyncpg

from tests.e2e_harness import NodeProcess, federation
from tests.pg import PASSWORD, Cluster

LICENSE = {"achievement_type": "License"}
OHIO_PHARMACY = "did:web:pharmacy.ohio.example"
SYNCED = ("accepted", "unchanged", "not_modified")


def _trusted_by(answer: dict[str, Any], node: NodeProcess, seq: int) -> None:
    assert (answer["outcome"], answer["reason"]) == ("trusted", "active"), answer
    assert answer["decided_by"] == [node.id], answer
    [item] = [e for e in answer["evidence"] if e["source"] == node.id]
    assert item["list"]["seq"] == seq, answer


async def _versions(url: str) -> list[int]:
    raw = await asyncpg.connect(url, password=PASSWORD)
    try:
        return [int(r[0]) for r in await raw.fetch("SELECT seq FROM versions ORDER BY seq")]
    finally:
        await raw.close()


async def test_nodes_on_postgresql_publish_sync_and_answer(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    databases = {
        "oh": (pg_cluster.fresh_database(), pg_cluster.password_file),
        "in": (pg_cluster.fresh_database(), pg_cluster.password_file),
    }
    async with federation(tmp_path, databases) as fed:
        await fed.settle()
        ohio, indiana = fed.oh, fed.in_
        published = {node.id: (await node.current_list()).seq for node in fed.nodes.values()}
        for asker in fed.nodes.values():
            for source in fed.others(asker):
                answer = await asker.lookup(source.state.licensing_board, **LICENSE)
                _trusted_by(answer, source, published[source.id])

        # Ohio's versions are in its PostgreSQL database, and nowhere else.
        assert await _versions(databases["oh"][0]) == list(range(1, published[ohio.id] + 1))
        assert not (ohio.folder / "data" / "registry.sqlite3").exists()

        # A change published on PostgreSQL reaches a node on PostgreSQL and one on SQLite.
        await ohio.set_status(OHIO_PHARMACY, "revoked", "licence board dissolved")
        seq = await ohio.publish()
        for node in fed.others(ohio):
            result = (await node.sync(ohio))[ohio.id]
            assert (result["outcome"], result["seq"]) in {(o, seq) for o in SYNCED}, result
            answer = await node.lookup(OHIO_PHARMACY)
            assert (answer["outcome"], answer["reason"]) == ("not_trusted", "revoked"), answer

        # Killed outright, Ohio starts again on its database: the same history, and the next
        # version follows on; its peers' lists are still held.
        await ohio.stop(signal.SIGKILL)
        await ohio.start()
        assert (await ohio.current_list()).seq == seq
        assert await ohio.publish() == seq + 1
        assert await _versions(databases["oh"][0]) == list(range(1, seq + 2))
        answer = await ohio.lookup(indiana.state.licensing_board, **LICENSE)
        _trusted_by(answer, indiana, (await indiana.current_list()).seq)

        status, ready = await ohio.readyz()
        assert status == 200, ready
        assert ready["checks"]["database"] == {"ok": True}
        for node in (ohio, indiana):
            assert PASSWORD not in node.log_file.read_text()
            assert PASSWORD not in json.dumps((await node.readyz())[1])
