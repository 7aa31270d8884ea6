"""The store, on SQLite and on PostgreSQL alike: its peer entries (a sync writes only the
difference, by the digests of the texts), its transactions, the append-only tables and the
schema versions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from registry_node.config import NodeConfig
from registry_node.services.store import MIGRATIONS, PeerEntries, Store
from tests.conftest import open_backend_store

PEER = "https://registry.indiana.example"


def _text(n: int, name: str = "Provider", aka: tuple[str, ...] = ()) -> str:
    return json.dumps({"id": f"did:web:i{n}.example", "name": f"{name} {n}", "aka": list(aka)})


def _entries(*items: tuple[int, str, tuple[str, ...]]) -> PeerEntries:
    texts = {f"did:web:i{n}.example": _text(n, name, aka) for n, name, aka in items}
    aliases = {f"did:web:i{n}.example": aka for n, _, aka in items if aka}
    return PeerEntries.of(texts, aliases)


async def _sync(store: Store, entries: PeerEntries) -> tuple[int, int]:
    async with store.write() as tx:
        return await tx.sync_peer_entries(PEER, entries)


async def _names(store: Store) -> dict[str, list[str]]:
    return {i: sorted(n) for i, n in (await store.read.peer_aliases(PEER)).items()}


@pytest.fixture
async def store(backend_config: NodeConfig) -> Any:
    opened = await open_backend_store(backend_config)
    yield opened
    await opened.close()


async def test_a_sync_writes_only_the_entries_that_changed(store: Store) -> None:
    first = _entries((1, "A", ("https://a1",)), (2, "A", ("https://a2",)), (3, "A", ()))
    assert await _sync(store, first) == (3, 0)
    assert await _sync(store, first) == (0, 0)
    second = _entries((1, "B", ("https://a1",)), (2, "A", ("https://a2",)), (4, "A", ()))
    assert await _sync(store, second) == (2, 1)  # 1 changed, 4 added; 3 gone
    stored = await store.read.peer_entries(PEER)
    assert stored == {i: text for i, (_, text) in second.rows.items()}
    assert await _names(store) == {
        "did:web:i1.example": ["https://a1"],
        "did:web:i2.example": ["https://a2"],
    }


async def test_names_follow_the_entries_that_changed_or_went(store: Store) -> None:
    await _sync(store, _entries((1, "A", ("https://a1", "https://x")), (2, "A", ("https://a2",))))
    # i1 drops one name and i2 takes it over; then i2 goes and i1 changes without names
    await _sync(store, _entries((1, "B", ("https://a1",)), (2, "B", ("https://a2", "https://x"))))
    assert await _names(store) == {
        "did:web:i1.example": ["https://a1"],
        "did:web:i2.example": ["https://a2", "https://x"],
    }
    await _sync(store, _entries((1, "C", ())))
    assert await _names(store) == {}
    assert set(await store.read.peer_entries(PEER)) == {"did:web:i1.example"}


async def test_a_name_taken_over_from_an_unchanged_entry_moves_to_the_changed_one(
    store: Store,
) -> None:
    """Rows are written in bulk (COPY on PostgreSQL); a name another entry still holds is
    moved, never inserted twice."""
    await _sync(store, _entries((1, "A", ("https://x",)), (2, "A", ())))
    await _sync(store, _entries((1, "A", ("https://x",)), (2, "B", ("https://x", "https://y"))))
    assert await _names(store) == {"did:web:i2.example": ["https://x", "https://y"]}
    many = _entries(*((n, "M", (f"https://m{n}",)) for n in range(3, 503)))
    assert await _sync(store, many) == (500, 2)
    changed = _entries(*((n, "N" if n % 2 else "M", (f"https://m{n}",)) for n in range(3, 503)))
    assert await _sync(store, changed) == (250, 0)
    assert await store.read.peer_entries(PEER) == {i: t for i, (_, t) in changed.rows.items()}
    assert len(await _names(store)) == 500


async def test_a_database_of_schema_3_is_migrated(tmp_path: Path) -> None:
    # A database of schema 3 (entries without digests, bodies inside peer_lists) is migrated:
    # its entries compare as changed once, are rewritten with their digests, and compare
    # equal from then on.
    path = tmp_path / "node.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.execute(
        "INSERT INTO peer_entries(peer_id, issuer_id, doc) VALUES (?, ?, ?)",
        (PEER, "did:web:i1.example", _text(1, "A")),
    )
    conn.execute(
        "INSERT INTO peer_lists(peer_id, seq, digest, body, iat, exp, trusted_keys, pins_id, "
        "terms_id, etag, accepted_at, fetched_at, entries, dropped, narrowed, verified_kids) "
        "VALUES (?, 7, 'sha-256:x', ?, 1, 2, '[]', 'p', 't', NULL, 'a', 'f', 1, 0, 0, '[]')",
        (PEER, b"the signed list"),
    )
    conn.close()
    store = await Store.open(path)
    try:
        # The held list's body moved to a table of its own, and reads as before.
        held = await store.read.peer_list(PEER, with_body=True)
        assert held is not None and (held.seq, held.body) == (7, b"the signed list")
        listed = await store.read.peer_lists()
        assert listed[PEER].body == b"" and listed[PEER].seq == 7
        async with store.write() as tx:
            await tx.touch_peer_list(PEER, "later", None)
        held = await store.read.peer_list(PEER, with_body=True)
        assert held is not None and (held.fetched_at, held.body) == ("later", b"the signed list")
        entries = _entries((1, "A", ()))
        assert await _sync(store, entries) == (1, 0)
        assert await _sync(store, entries) == (0, 0)
        assert await store.read.peer_entries(PEER) == {"did:web:i1.example": _text(1, "A")}
    finally:
        await store.close()
