"""The store's guarantees, on SQLite and on a real PostgreSQL server alike (tests/pg.py): one
transaction per change, readers that see only what committed, append-only tables enforced by
the database, the same answers to the same queries; and on PostgreSQL, its own refusals
(unreachable server, wrong credentials, a newer schema, a second serve)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from registry_node import config as configmod
from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError, StorageUnavailable
from registry_node.services import backup, postgres
from registry_node.services.node import Node
from registry_node.services.store import (
    DATABASE_ERRORS,
    MIGRATIONS,
    KeyRecord,
    PeerEntries,
    PeerList,
    PeerSync,
    Store,
    Version,
)
from tests.conftest import open_backend_store
from tests.helpers import FakeClock
from tests.pg import PASSWORD, TEMPLATE, Cluster

PEER = "https://registry.indiana.example"


@pytest.fixture
async def store(backend_config: NodeConfig) -> Any:
    opened = await open_backend_store(backend_config)
    yield opened
    await opened.close()


def _version(seq: int, *, body: bytes = b"", prev: str | None = None) -> Version:
    return Version(
        seq=seq,
        body=body or f"list {seq}".encode(),
        digest=f"sha-256:{seq}",
        iat=1_700_000_000 + seq,
        exp=4_102_444_800 + seq,  # beyond 2038: 64-bit integers on both
        prev=prev,
        signed_by=("kid-a", "kid-b"),
        published_at=f"2026-01-01T00:00:{seq:02d}Z",
        reason="test",
    )


def _peer_list(seq: int) -> PeerList:
    return PeerList(
        peer_id=PEER,
        seq=seq,
        digest=f"sha-256:peer{seq}",
        body=b"\x00\xffbody",
        iat=10,
        exp=20,
        trusted_keys=({"kid": "k", "kty": "OKP"},),
        pins_id="pins",
        terms_id="terms",
        etag='"e"',
        accepted_at="a",
        fetched_at="f",
        entries=3,
        dropped=1,
        narrowed=0,
        verified_kids=("k",),
    )


async def test_every_record_reads_back_as_written(store: Store) -> None:
    async with store.write() as tx:
        await tx.set_meta("a", "1")
        await tx.set_meta("a", "2")  # an upsert
        await tx.set_meta("gone", "x")
        await tx.set_meta("gone", None)
        await tx.insert_version(_version(1))
        await tx.insert_version(_version(2, prev="sha-256:1"))
        key = KeyRecord("kid-a", "Ed25519", {"kty": "OKP", "x": "y"}, "kid-a.pem", "current",
                        "t0", None, "t1", None)  # fmt: skip
        await tx.insert_key(key)
        await tx.update_key("kid-a", state="retiring", retired_at=None)
        first = await tx.insert_token("ops", "hash-1", "t")
        second = await tx.insert_token("ci", "hash-2", "t")
        assert await tx.revoke_token(first, "later") is True
        assert await tx.revoke_token(first, "again") is False  # revoked once
        await tx.put_peer_list(_peer_list(7))
        await tx.put_peer_list(_peer_list(8))  # replaces the row, and its body
        await tx.put_peer_sync(PeerSync(PEER, last_outcome="accepted", failures=2))
        await tx.put_peer_sync(PeerSync(PEER, last_outcome="unchanged"))
        await tx.add_peer_event(PEER, "t", "accepted", {"seq": 8})
        await tx.add_audit("t", "ops", "issuer.create", "did:web:x", None, {"a": 1})
    read = store.read
    assert await read.meta("a") == "2" and await read.meta("gone") is None
    assert await read.latest_seq() == 2
    latest = await read.latest_version(with_body=False)
    assert latest == dataclasses.replace(_version(2, prev="sha-256:1"), body=b"")
    assert await read.version(1) == _version(1)
    assert await read.recent_versions(5) == [
        dataclasses.replace(_version(2, prev="sha-256:1"), body=b""),
        dataclasses.replace(_version(1), body=b""),
    ]
    assert await read.chain() == [(1, "sha-256:1", None), (2, "sha-256:2", "sha-256:1")]
    assert await read.version_counts() == (2, 2, len(b"list 1") + len(b"list 2"))
    assert await read.keys("retiring") == [dataclasses.replace(key, state="retiring")]
    assert await read.token_by_hash("hash-1") is None
    assert await read.token_by_hash("hash-2") == (second, "ci")
    assert [t["name"] for t in await read.tokens()] == ["ops", "ci"]
    held = await read.peer_list(PEER, with_body=True)
    assert held == _peer_list(8)
    assert (await read.peer_lists())[PEER] == dataclasses.replace(_peer_list(8), body=b"")
    assert await read.peer_sync(PEER) == PeerSync(PEER, last_outcome="unchanged")
    events = await read.peer_events(PEER)
    assert [(e["kind"], e["detail"]) for e in events] == [("accepted", {"seq": 8})]
    audit = await read.audit()
    assert [(r.actor, r.action, r.after) for r in audit] == [("ops", "issuer.create", {"a": 1})]
    size, free = await read.file_size()
    assert size > 0 and 0 <= free <= size


async def test_text_sorts_by_its_bytes_on_both(store: Store) -> None:
    ids = ["did:web:b", "did:web:B", "did:web:É", "did:web:a", "did:web:a-b", "did:web:a_b"]
    async with store.write() as tx:
        for issuer_id in ids:
            await tx.put_issuer({"id": issuer_id}, "t", created=True)
    assert [d["id"] for d in await store.read.issuers()] == sorted(ids, key=str.encode)


async def _half_then_fail(store: Store) -> None:
    async with store.write() as tx:
        await tx.set_meta("half", "written")
        await tx.insert_version(_version(1))
        raise RuntimeError("midway")


async def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError, match="midway"):
        await _half_then_fail(store)
    assert await store.read.meta("half") is None
    assert await store.read.latest_seq() == 0
    async with store.write() as tx:  # and the next one goes through
        await tx.set_meta("whole", "yes")
    assert await store.read.meta("whole") == "yes"
    assert store.write_failure is None


async def test_readers_see_a_write_only_once_it_commits(store: Store) -> None:
    async with store.write() as tx:
        await tx.set_meta("k", "v")
        assert await tx.meta("k") == "v"  # the transaction sees its own write
        assert await store.read.meta("k") is None  # a reader does not, yet
    assert await store.read.meta("k") == "v"


#: Statements the append-only triggers refuse, each after the rows below exist.
REFUSED = {
    "version update": ("UPDATE versions SET reason = 'rewritten' WHERE seq = 1", ()),
    "version body": ("UPDATE versions SET body = ? WHERE seq = 2", (b"\x00",)),
    "newest body pruned": ("UPDATE versions SET body = ?, pruned_at = 't' WHERE seq = 2", (b"",)),
    "version delete": ("DELETE FROM versions WHERE seq = 1", ()),
    "audit update": ("UPDATE audit SET actor = 'someone else'", ()),
    "audit delete": ("DELETE FROM audit", ()),
    "peer event update": ("UPDATE peer_events SET kind = 'accepted'", ()),
    "peer event delete": ("DELETE FROM peer_events", ()),
}


async def _append_only_rows(store: Store) -> None:
    async with store.write() as tx:
        await tx.insert_version(_version(1))
        await tx.insert_version(_version(2, prev="sha-256:1"))
        await tx.add_audit("t", "ops", "publish", None)
        await tx.add_peer_event(PEER, "t", "rejected", {"code": "rollback"})


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_the_database_refuses_to_change_what_is_append_only(store: Store, case: str) -> None:
    await _append_only_rows(store)
    sql, params = REFUSED[case]
    with pytest.raises(DATABASE_ERRORS, match="append-only"):
        async with store.write() as tx:
            await tx.conn.execute(sql, params)
    assert store.write_failure is None  # a refused change is no unwritable database
    assert [v.seq for v in await store.read.versions()] == [1, 2]
    assert (await store.read.version(1)) == _version(1)
    assert len(await store.read.audit()) == 1 and len(await store.read.peer_events()) == 1


async def test_an_old_body_may_be_pruned_once(store: Store) -> None:
    await _append_only_rows(store)
    async with store.write() as tx:
        assert await tx.prune_bodies(keep_last=1, replaced_before=2**40, now="t") == [1]
    pruned = await store.read.version(1)
    assert pruned is not None and pruned.pruned and pruned.body == b""
    with pytest.raises(DATABASE_ERRORS, match="append-only"):
        async with store.write() as tx:  # once pruned, for good
            await tx.conn.execute("UPDATE versions SET pruned_at = 'u' WHERE seq = 1")


@pytest.mark.parametrize("table", ["versions", "audit", "peer_events"])
async def test_postgresql_refuses_to_truncate_what_is_append_only(pg_url: str, table: str) -> None:
    """TRUNCATE runs no row triggers: a statement trigger of its own refuses it."""
    store = await postgres.open_store(pg_url, PASSWORD)
    try:
        await _append_only_rows(store)
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
            async with store.write() as tx:
                await tx.conn.execute(f"TRUNCATE {table}")
        assert await store.read.latest_seq() == 2
    finally:
        await store.close()


async def test_writers_of_two_processes_take_turns(pg_url: str) -> None:
    """Two stores on one database (a node and an admin command): each read-modify-write of a
    counter happens whole, as on SQLite's single writer."""
    stores = [await postgres.open_store(pg_url, PASSWORD) for _ in range(2)]
    try:
        async with stores[0].write() as tx:
            await tx.set_meta("n", "0")

        async def bump(store: Store) -> None:
            async with store.write() as tx:
                n = int(await tx.meta("n") or "0")
                await asyncio.sleep(0)  # let the other store's writer try to begin
                await tx.set_meta("n", str(n + 1))

        await asyncio.gather(*(bump(stores[i % 2]) for i in range(20)))
        assert await stores[1].read.meta("n") == "20"
    finally:
        for store in stores:
            await store.close()


async def test_the_migrations_are_numbered_as_on_sqlite(pg_cluster: Cluster) -> None:
    assert len(postgres.MIGRATIONS) == len(MIGRATIONS)
    raw = await asyncpg.connect(pg_cluster.url(TEMPLATE), password=PASSWORD)
    try:
        assert await raw.fetchval("SELECT version FROM schema_version") == len(MIGRATIONS)
    finally:
        await raw.close()


async def test_an_empty_database_is_migrated_from_the_start(pg_cluster: Cluster) -> None:
    url = pg_cluster.empty_database()
    with pytest.raises(ConfigError, match="holds no registry-node database") as missing:
        await postgres.open_store(url, PASSWORD, read_only=True)
    assert missing.value.code == "database_missing"
    stores = await asyncio.gather(*(postgres.open_store(url, PASSWORD) for _ in range(2)))
    for store in stores:  # two started at once: one migrated, the other found it done
        await store.close()
    store = await postgres.open_store(url, PASSWORD, read_only=True)
    await store.close()


async def _reopen(config: NodeConfig, read_only: bool) -> Store:
    if config.database is None:
        return await Store.open(config.db_path, read_only=read_only)
    return await postgres.open_store(config.database, PASSWORD, read_only=read_only)


async def test_a_schema_newer_than_the_software_is_refused_on_both(
    backend_config: NodeConfig,
) -> None:
    store = await open_backend_store(backend_config)
    try:
        if backend_config.database is None:
            backend = store.sqlite_file("test", "")
            await backend.writer.execute("PRAGMA user_version = 99")
        else:
            async with store.write() as tx:
                await tx.conn.execute("UPDATE schema_version SET version = 99")
    finally:
        await store.close()
    for read_only in (False, True):
        with pytest.raises(ConfigError) as refused:
            await _reopen(backend_config, read_only)
        assert refused.value.code == "database_too_new"
        assert refused.value.detail == (
            f"database schema version 99 is newer than this software ({len(MIGRATIONS)})"
        )


async def test_an_unreachable_server_gets_one_line(pg_cluster: Cluster) -> None:
    with pytest.raises(ConfigError) as refused:
        await postgres.open_store("postgresql://registry@127.0.0.1:1/registry", PASSWORD)
    assert refused.value.code == "database_unreachable"
    assert refused.value.detail.startswith(
        "database: postgresql://registry@127.0.0.1:1/registry: cannot reach the database server: "
    )
    assert "\n" not in refused.value.detail


async def test_wrong_credentials_get_one_line_without_the_password(pg_url: str) -> None:
    for wrong in ("not-the-password", "s3cr3t-wrong"):
        with pytest.raises(ConfigError) as refused:
            await postgres.open_store(pg_url, wrong)
        assert refused.value.code == "database_login_refused"
        assert refused.value.detail == (
            f"database: {pg_url}: the server refused the login: password authentication "
            'failed for user "registry"'
        )
        assert wrong not in str(refused.value) and PASSWORD not in str(refused.value)


async def test_the_password_comes_from_pgpassword(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    store = await postgres.open_store(pg_url, None)
    assert await store.ping()
    await store.close()


def test_a_password_in_the_url_is_refused_and_never_repeated(tmp_path: Path) -> None:
    yaml = tmp_path / "node.yaml"
    yaml.write_text(
        "node_id: https://registry.ohio.example\njurisdiction: US-OH\nname: Ohio\n"
        "database: postgresql://registry:hunter2@db.example:5432/registry\n"
    )
    with pytest.raises(ConfigError) as refused:
        configmod.load(yaml)
    assert refused.value.field == "database"
    assert "database_password_file or the PGPASSWORD" in refused.value.detail
    assert "hunter2" not in str(refused.value.detail)


def test_the_password_file_is_read_and_its_problems_named(tmp_path: Path) -> None:
    file = tmp_path / "pw"
    file.write_text("first line\nsecond\n")
    assert postgres.password(file) == "first line"
    file.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        postgres.password(file)
    with pytest.raises(ConfigError, match="cannot read") as unreadable:
        postgres.password(tmp_path / "missing")
    assert unreadable.value.code == "config_unreadable"


def _pg_config(config: NodeConfig, cluster: Cluster, url: str) -> NodeConfig:
    return dataclasses.replace(config, database=url, database_password_file=cluster.password_file)


async def test_keys_without_their_database_stop_a_node_on_postgresql(
    pg_cluster: Cluster, pg_url: str, config: NodeConfig
) -> None:
    node = await Node.open(_pg_config(config, pg_cluster, pg_url), FakeClock())
    await node.close()  # the data folder now holds the node's signing key
    empty = pg_cluster.empty_database()
    with pytest.raises(ConfigError) as refused:
        await Node.open(_pg_config(config, pg_cluster, empty), FakeClock())
    assert refused.value.code == "database_lost"
    assert refused.value.detail.startswith(f"{empty}: the database is empty, but ")
    check = await asyncpg.connect(empty, password=PASSWORD)
    try:  # and nothing was created in it
        assert await check.fetchval("SELECT to_regclass('schema_version')") is None
    finally:
        await check.close()


async def test_sqlite_only_commands_point_to_pg_dump(
    pg_cluster: Cluster, pg_url: str, config: NodeConfig, tmp_path: Path
) -> None:
    node = await Node.open(_pg_config(config, pg_cluster, pg_url), FakeClock())
    try:
        for attempt in (
            lambda: node.backup(tmp_path / "backup"),
            node.retention.compact,
            node.store.vacuum,
        ):
            with pytest.raises(ConfigError) as refused:
                await attempt()
            assert refused.value.code == "sqlite_only"
            assert "pg_dump" in refused.value.detail or "VACUUM FULL" in refused.value.detail
        assert not (tmp_path / "backup").exists()
        with pytest.raises(ConfigError, match="pg_dump and pg_restore") as refused:
            backup.restore(node.config, tmp_path, FakeClock(), "ops")
        assert refused.value.code == "sqlite_only"
    finally:
        await node.close()


async def test_a_server_that_refuses_writes_is_noted_until_one_commits(pg_url: str) -> None:
    """A standby or a database made read-only answers 25006: the store notes that it cannot
    write (readiness says so) until a write commits again; a constraint broken is not that."""
    store = await postgres.open_store(pg_url, PASSWORD)
    assert isinstance(store.backend, postgres.PostgresBackend)
    pool = store.backend.pool
    database = pg_url.rsplit("/", 1)[1]
    try:
        async with store.write() as tx:
            await tx.conn.execute(
                f"ALTER DATABASE {database} SET default_transaction_read_only = on"
            )
        await pool.expire_connections()
        with pytest.raises(StorageUnavailable, match="refuses writes: cannot execute INSERT"):
            async with store.write() as tx:
                await tx.set_meta("a", "1")
        assert store.write_failure is not None
        assert store.write_failure.error == "ReadOnlySQLTransactionError"
        assert await store.probe_write("t") is False
        raw = await asyncpg.connect(pg_url, password=PASSWORD)
        try:
            await raw.execute("SET default_transaction_read_only = off")
            await raw.execute(f"ALTER DATABASE {database} RESET default_transaction_read_only")
        finally:
            await raw.close()
        await pool.expire_connections()
        assert await store.probe_write("t") is True
        assert store.write_failure is None
        assert await store.read.meta("write_check") == "t"
    finally:
        await store.close()


async def test_a_postgresql_database_of_schema_3_is_migrated(pg_cluster: Cluster) -> None:
    """Migration 4 on PostgreSQL as on SQLite (tests/services/test_store.py): a held list's
    body moves to a table of its own, and entries get their digests once rewritten."""
    url = pg_cluster.empty_database()
    raw = await asyncpg.connect(url, password=PASSWORD)
    try:
        async with raw.transaction():
            await raw.execute(postgres._SCHEMA_VERSION)
            for script in postgres.MIGRATIONS[:3]:
                await raw.execute(script)
            await raw.execute("INSERT INTO schema_version(version) VALUES (3)")
            await raw.execute(
                "INSERT INTO peer_lists(peer_id, seq, digest, body, iat, exp, trusted_keys, "
                "pins_id, terms_id, etag, accepted_at, fetched_at, entries, dropped, narrowed, "
                "verified_kids) VALUES ($1, 7, 'sha-256:x', $2, 1, 2, '[]', 'p', 't', NULL, "
                "'a', 'f', 1, 0, 0, '[]')",
                PEER,
                b"the signed list",
            )
            await raw.execute(
                "INSERT INTO peer_entries(peer_id, issuer_id, doc) VALUES ($1, 'did:web:i1', '{}')",
                PEER,
            )
    finally:
        await raw.close()
    store = await postgres.open_store(url, PASSWORD)
    try:
        held = await store.read.peer_list(PEER, with_body=True)
        assert held is not None and (held.seq, held.body) == (7, b"the signed list")
        entries = PeerEntries.of({"did:web:i1": "{}"}, {})
        async with store.write() as tx:
            assert await tx.sync_peer_entries(PEER, entries) == (1, 0)  # no digest yet
        async with store.write() as tx:
            assert await tx.sync_peer_entries(PEER, entries) == (0, 0)
    finally:
        await store.close()
    raw = await asyncpg.connect(url, password=PASSWORD)
    try:
        assert await raw.fetchval("SELECT version FROM schema_version") == len(MIGRATIONS)
    finally:
        await raw.close()


async def test_a_writer_that_holds_the_database_too_long_is_noted(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As SQLite's busy timeout: a second writer waits a bounded time for the first, then
    fails as a database that cannot take writes; it writes again once the first is done."""
    monkeypatch.setattr(postgres, "WRITE_LOCK_WAIT", 0.2)
    holder = await postgres.open_store(pg_url, PASSWORD)
    other = await postgres.open_store(pg_url, PASSWORD)
    try:
        async with holder.write() as tx:
            await tx.set_meta("held", "yes")
            with pytest.raises(StorageUnavailable, match="refuses writes: canceling statement"):
                async with other.write() as blocked:
                    await blocked.set_meta("other", "no")
            assert other.write_failure is not None
            assert other.write_failure.error == "LockNotAvailableError"
        assert await other.probe_write("t") is True
        assert other.write_failure is None
        assert await other.read.meta("other") is None
    finally:
        await holder.close()
        await other.close()
