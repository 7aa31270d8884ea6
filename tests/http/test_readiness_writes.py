"""/readyz turns not-ready when the database refuses writes, and ready again once it takes them.

The tests run as root (so does CI), for whom no file mode makes a database unwritable, and no
small full filesystem is at hand. They make the node's own write connection refuse writes the
way SQLite refuses them on a read-only file or filesystem: ``PRAGMA query_only`` makes every
write statement on that connection fail with ``SQLITE_READONLY``, the very error a remounted
read-only disk gives, through the node's real write path. A full disk is ``SQLITE_FULL``, which
``PRAGMA max_page_count`` makes SQLite answer for real when a write would grow the database
(docs/adr/0014).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from registry_node.core import reasons
from registry_node.core.errors import StorageUnavailable
from registry_node.http.appkeys import NODE
from registry_node.services.store import Store
from tests.helpers import issuer


async def _refuse_writes(client: TestClient, refuse: bool) -> None:
    writer = client.app[NODE].store.backend.writer  # the node's own write connection
    await writer.execute(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}")


async def _ready(client: TestClient) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/readyz")
    return resp.status, await resp.json()


async def test_a_refused_write_turns_readyz_not_ready_until_writes_succeed(
    client: TestClient, auth: dict[str, str]
) -> None:
    status, body = await _ready(client)
    assert (status, body["status"], body["checks"]["database"]) == (200, "ready", {"ok": True})

    await _refuse_writes(client, True)
    resp = await client.post("/admin/v1/issuers", json=issuer(1), headers=auth)
    assert resp.status == 503
    problem = await resp.json()
    assert problem["code"] == "database_unwritable"
    assert problem["detail"].endswith(
        "registry.sqlite3: the database refuses writes: attempt to write a readonly database"
    )
    assert problem["hint"] == reasons.hint("database_unwritable")
    for _ in range(2):  # each look tries a small write, which the database still refuses
        status, body = await _ready(client)
        assert status == 503
        assert body["status"] == "not_ready"
        assert body["checks"]["database"] == {
            "ok": False,
            "detail": "database refuses writes: attempt to write a readonly database",
        }
    assert body["checks"]["trust_list"]["ok"] is True  # the list is fine; the database is not

    await _refuse_writes(client, False)
    status, body = await _ready(client)
    assert (status, body["status"], body["checks"]["database"]) == (200, "ready", {"ok": True})
    resp = await client.post("/admin/v1/issuers", json=issuer(1), headers=auth)
    assert resp.status == 201, await resp.text()


async def test_a_failed_publication_turns_readyz_not_ready(client: TestClient) -> None:
    node = client.app[NODE]
    await _refuse_writes(client, True)
    with pytest.raises(StorageUnavailable):
        await node.publisher.publish("test")
    status, body = await _ready(client)
    assert status == 503
    assert "database refuses writes" in body["checks"]["database"]["detail"]


async def test_a_write_that_fails_for_another_reason_leaves_readiness_alone(
    client: TestClient,
) -> None:
    """A constraint a write breaks is the writer's mistake, not a database that cannot write."""
    node = client.app[NODE]
    with pytest.raises(sqlite3.IntegrityError):
        async with node.store.write() as tx:
            await tx.conn.execute("DELETE FROM versions")  # append-only: refused by a trigger
    assert node.store.write_failure is None
    status, body = await _ready(client)
    assert (status, body["status"]) == (200, "ready")


async def test_a_full_database_is_noted_and_cleared_by_the_next_commit(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "node.db")
    try:
        async with store.write() as tx:
            await tx.set_meta("a", "1")
        pages = await (await store.backend.writer.execute("PRAGMA page_count")).fetchone()
        await store.backend.writer.execute(f"PRAGMA max_page_count = {pages[0]}")
        with pytest.raises(StorageUnavailable, match="refuses writes: database or disk is full"):
            async with store.write() as tx:
                await tx.set_meta("big", "x" * 200_000)
        assert store.write_failure is not None
        assert (store.write_failure.error, store.write_failure.detail) == (
            "SQLITE_FULL",
            "database or disk is full",
        )
        assert await store.read.meta("big") is None  # nothing half-written
        assert await store.probe_write("2026-03-01T12:00:00Z")  # a small write still fits
        assert store.write_failure is None
    finally:
        await store.close()
