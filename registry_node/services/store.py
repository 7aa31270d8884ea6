"""SQLite storage of the node (WAL, one writer, schema migrations from version 1).

Invariants:
- every change happens inside :meth:`Store.write`, one ``BEGIN IMMEDIATE`` transaction that
  either commits whole or leaves nothing behind, so a crash at any point leaves a consistent
  database;
- published versions and the audit log are append-only, enforced by triggers;
- readers use their own connection and so never see a write that has not committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import asyncpg

from registry_node.core.errors import ConfigError, StorageUnavailable
from registry_node.core.model import canonical_json
from registry_node.services.changes import Change
from registry_node.services.datafolder import database_present
from registry_node.services.replicas import Coordinator, SoleCoordinator

log = logging.getLogger("registry_node.store")

MIGRATIONS: list[str] = [
    # 1: node core
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE issuers (
        id TEXT PRIMARY KEY,
        doc TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE issuer_names (
        name TEXT PRIMARY KEY,
        issuer_id TEXT NOT NULL REFERENCES issuers(id)
    );
    CREATE TABLE versions (
        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
        body BLOB NOT NULL,
        digest TEXT NOT NULL UNIQUE,
        iat INTEGER NOT NULL,
        exp INTEGER NOT NULL,
        prev TEXT,
        signed_by TEXT NOT NULL,
        published_at TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE TRIGGER versions_append_only_u BEFORE UPDATE ON versions
        BEGIN SELECT RAISE(ABORT, 'published versions are append-only'); END;
    CREATE TRIGGER versions_append_only_d BEFORE DELETE ON versions
        BEGIN SELECT RAISE(ABORT, 'published versions are append-only'); END;
    CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        file TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('next', 'current', 'retiring', 'retired')),
        created_at TEXT NOT NULL,
        announced_at TEXT,
        activated_at TEXT,
        retired_at TEXT
    );
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        before TEXT,
        after TEXT
    );
    CREATE TRIGGER audit_append_only_u BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_append_only_d BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 2: federation
    """
    CREATE TABLE peer_lists (
        peer_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        digest TEXT NOT NULL,
        body BLOB NOT NULL,
        iat INTEGER NOT NULL,
        exp INTEGER NOT NULL,
        trusted_keys TEXT NOT NULL,
        pins_id TEXT NOT NULL,
        terms_id TEXT NOT NULL,
        etag TEXT,
        accepted_at TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        entries INTEGER NOT NULL,
        dropped INTEGER NOT NULL,
        narrowed INTEGER NOT NULL,
        verified_kids TEXT NOT NULL
    );
    CREATE TABLE peer_entries (
        peer_id TEXT NOT NULL,
        issuer_id TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (peer_id, issuer_id)
    );
    CREATE INDEX peer_entries_by_issuer ON peer_entries(issuer_id);
    CREATE TABLE peer_names (
        peer_id TEXT NOT NULL,
        name TEXT NOT NULL,
        issuer_id TEXT NOT NULL,
        PRIMARY KEY (peer_id, name)
    );
    CREATE INDEX peer_names_by_name ON peer_names(name);
    CREATE TABLE peer_sync (
        peer_id TEXT PRIMARY KEY,
        last_attempt TEXT,
        last_success TEXT,
        last_outcome TEXT,
        last_error_code TEXT,
        last_error_detail TEXT,
        failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE peer_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        peer_id TEXT NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT
    );
    CREATE TRIGGER peer_events_append_only_u BEFORE UPDATE ON peer_events
        BEGIN SELECT RAISE(ABORT, 'peer events are append-only'); END;
    CREATE TRIGGER peer_events_append_only_d BEFORE DELETE ON peer_events
        BEGIN SELECT RAISE(ABORT, 'peer events are append-only'); END;
    """,
    # 3: a held list that fails the peer's current terms is withdrawn (no source of answers);
    # after a re-pin that it fails, it no longer binds (a new trust epoch, protocol 9.3)
    """
    ALTER TABLE peer_lists ADD COLUMN withdrawn TEXT;
    ALTER TABLE peer_lists ADD COLUMN binds INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX peer_names_by_issuer ON peer_names(peer_id, issuer_id);
    """,
    # 4: each stored peer entry carries the digest of its text, so that a sync finds what
    # changed by reading digests, not every entry's text (NULL until an entry is next written);
    # a held list's body (some MB) lives in a table of its own: a row is read and rewritten
    # whole, and the list's numbers are read and updated at every sync
    """
    ALTER TABLE peer_entries ADD COLUMN hash BLOB;
    CREATE TABLE peer_list_bodies (
        peer_id TEXT PRIMARY KEY,
        body BLOB NOT NULL
    );
    INSERT INTO peer_list_bodies(peer_id, body) SELECT peer_id, body FROM peer_lists;
    ALTER TABLE peer_lists DROP COLUMN body;
    """,
    # 5: retention (docs/adr/0015): the body of an old version may be pruned, once, and only
    # that; its seq, digest, prev, times and signers stay, so the chain stays checkable. The
    # newest version's body is never pruned.
    """
    ALTER TABLE versions ADD COLUMN pruned_at TEXT;
    DROP TRIGGER versions_append_only_u;
    CREATE TRIGGER versions_append_only_u BEFORE UPDATE ON versions
        WHEN NOT (
            OLD.pruned_at IS NULL AND NEW.pruned_at IS NOT NULL AND NEW.body = x''
            AND NEW.seq = OLD.seq AND NEW.digest = OLD.digest AND NEW.iat = OLD.iat
            AND NEW.exp = OLD.exp AND NEW.prev IS OLD.prev AND NEW.signed_by = OLD.signed_by
            AND NEW.published_at = OLD.published_at AND NEW.reason = OLD.reason
            AND OLD.seq < (SELECT max(seq) FROM versions)
        )
        BEGIN
            SELECT RAISE(ABORT, 'published versions are append-only (an old body may be pruned)');
        END;
    """,
]


@dataclass(frozen=True)
class Version:
    seq: int
    body: bytes
    digest: str
    iat: int
    exp: int
    prev: str | None
    signed_by: tuple[str, ...]
    published_at: str
    reason: str
    #: when retention removed the body (``body`` is then empty); None while it is kept
    pruned_at: str | None = None

    @property
    def pruned(self) -> bool:
        return self.pruned_at is not None


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    file: str
    state: str
    created_at: str
    announced_at: str | None
    activated_at: str | None
    retired_at: str | None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: str
    actor: str
    action: str
    target: str | None
    before: Any
    after: Any

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class PeerList:
    """The last accepted list of a peer (its body, and what acceptance derived from it)."""

    peer_id: str
    seq: int
    digest: str
    body: bytes
    iat: int
    exp: int
    trusted_keys: tuple[dict[str, Any], ...]
    pins_id: str
    terms_id: str
    etag: str | None
    accepted_at: str
    fetched_at: str
    entries: int
    dropped: int
    narrowed: int
    verified_kids: tuple[str, ...]
    #: {"code", "detail", "at"} when the list failed the peer's current terms, else None
    withdrawn: dict[str, Any] | None = None
    #: False once a new trust epoch began (the operator re-pinned and the list failed the new
    #: pins): its seq, digest, keys and entries no longer constrain the next list
    binds: bool = True


@dataclass(frozen=True)
class PeerSync:
    peer_id: str
    last_attempt: str | None = None
    last_success: str | None = None
    last_outcome: str | None = None
    last_error_code: str | None = None
    last_error_detail: str | None = None
    failures: int = 0


_PEER_LIST_COLS = (
    "peer_id, seq, digest, body, iat, exp, trusted_keys, pins_id, terms_id, etag, accepted_at, "
    "fetched_at, entries, dropped, narrowed, verified_kids, withdrawn, binds"
)
#: the held list's body, from its own table (migration 4)
_BODY = "(SELECT b.body FROM peer_list_bodies b WHERE b.peer_id = peer_lists.peer_id)"
_PEER_SYNC_COLS = (
    "peer_id, last_attempt, last_success, last_outcome, last_error_code, last_error_detail, "
    "failures"
)


def _peer_list(row: Sequence[Any], with_body: bool = True) -> PeerList:
    return PeerList(
        peer_id=row[0],
        seq=row[1],
        digest=row[2],
        body=bytes(row[3]) if with_body else b"",
        iat=row[4],
        exp=row[5],
        trusted_keys=tuple(json.loads(row[6])),
        pins_id=row[7],
        terms_id=row[8],
        etag=row[9],
        accepted_at=row[10],
        fetched_at=row[11],
        entries=row[12],
        dropped=row[13],
        narrowed=row[14],
        verified_kids=tuple(json.loads(row[15])),
        withdrawn=None if row[16] is None else json.loads(row[16]),
        binds=bool(row[17]),
    )


_VERSION_COLS = "seq, body, digest, iat, exp, prev, signed_by, published_at, reason, pruned_at"
_KEY_COLS = "kid, alg, public_jwk, file, state, created_at, announced_at, activated_at, retired_at"


def _version(row: Sequence[Any]) -> Version:
    return Version(
        seq=row[0],
        body=b"" if row[1] is None else bytes(row[1]),
        digest=row[2],
        iat=row[3],
        exp=row[4],
        prev=row[5],
        signed_by=tuple(json.loads(row[6])),
        published_at=row[7],
        reason=row[8],
        pruned_at=row[9],
    )


def _key(row: Sequence[Any]) -> KeyRecord:
    return KeyRecord(row[0], row[1], json.loads(row[2]), *row[3:])


def entry_hash(text: str) -> bytes:
    """The digest a stored peer entry is compared by (16 bytes of BLAKE2b of its text)."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass(frozen=True)
class PeerEntries:
    """A peer list's entries made ready to store: issuer id -> (digest, text), and issuer id
    -> its ``aka`` names. Built before the write transaction (:meth:`of`), so that the
    transaction holding the single writer only compares digests and writes rows."""

    rows: Mapping[str, tuple[bytes, str]]
    aliases: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, entries: Mapping[str, str], aliases: Mapping[str, tuple[str, ...]]) -> PeerEntries:
        return cls({i: (entry_hash(text), text) for i, text in entries.items()}, aliases)


def _upsert(table: str, columns: str, key: str) -> str:
    """An INSERT that replaces the row of the same ``key``: the upsert SQLite and PostgreSQL
    share (every column not in the key is set from the new row)."""
    names = [c.strip() for c in columns.split(",")]
    keys = {c.strip() for c in key.split(",")}
    marks = ", ".join("?" * len(names))
    sets = ", ".join(f"{c} = excluded.{c}" for c in names if c not in keys)
    return (
        f"INSERT INTO {table}({columns}) VALUES ({marks}) ON CONFLICT({key}) DO UPDATE SET {sets}"
    )


def insert_sql(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table}({', '.join(columns)}) VALUES ({marks})"


def update_sql(table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    sets = ", ".join(f"{c} = ?" for c in columns)
    where = " AND ".join(f"{k} = ?" for k in keys)
    return f"UPDATE {table} SET {sets} WHERE {where}"


def _json_or_none(value: Any) -> str | None:
    return None if value is None else canonical_json(value).decode()


class Connection(Protocol):
    """What the queries need of a database connection, whichever the database: SQL text with
    ``?`` placeholders, written in the SQL that SQLite and PostgreSQL share (the PostgreSQL
    connection numbers the placeholders, services/postgres.py)."""

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert many rows of ``columns`` (the bulk writes of a peer's list; PostgreSQL:
        COPY, a round trip instead of one statement per row)."""
        ...

    async def update_rows(
        self,
        table: str,
        columns: Sequence[str],
        keys: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Set ``columns`` of many rows, each found by ``keys``: every row is the new values,
        then the key values (PostgreSQL: COPY into a temporary table, then one UPDATE)."""
        ...

    async def file_size(self) -> tuple[int, int]:
        """(bytes of the database, bytes of its free pages)."""
        ...


class SqliteConnection:
    """A :class:`Connection` on an aiosqlite connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.raw = conn

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self.raw.execute(sql, params) as cur:
            return await cur.fetchone()

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self.raw.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.raw.execute(sql, params) as cur:
            return int(cur.rowcount)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.raw.executemany(sql, rows)

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        await self.executemany(insert_sql(table, columns), rows)

    async def update_rows(
        self,
        table: str,
        columns: Sequence[str],
        keys: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        await self.executemany(update_sql(table, columns, keys), rows)

    async def file_size(self) -> tuple[int, int]:
        page = int((await self.one("PRAGMA page_size"))[0])
        count = int((await self.one("PRAGMA page_count"))[0])
        free = int((await self.one("PRAGMA freelist_count"))[0])
        return page * count, page * free


class Queries:
    """Read queries, shared by the read connection and write transactions."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self.conn.one(sql, params)

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.conn.all(sql, params)

    async def meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def issuer(self, issuer_id: str) -> dict[str, Any] | None:
        row = await self._one("SELECT doc FROM issuers WHERE id = ?", (issuer_id,))
        return None if row is None else dict(json.loads(row[0]))

    async def issuers(self) -> list[dict[str, Any]]:
        rows = await self._all("SELECT doc FROM issuers ORDER BY id")
        return [json.loads(r[0]) for r in rows]

    async def name_owner(self, name: str) -> str | None:
        row = await self._one("SELECT issuer_id FROM issuer_names WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    async def latest_version(self, *, with_body: bool = True) -> Version | None:
        """The newest version; ``with_body=False`` leaves ``body`` empty (a list of 10,000
        issuers is about 10 MB: checks that run every second need only its numbers)."""
        cols = _VERSION_COLS if with_body else _VERSION_COLS.replace("body", "NULL")
        row = await self._one(f"SELECT {cols} FROM versions ORDER BY seq DESC LIMIT 1")
        return None if row is None else _version(row)

    async def latest_seq(self) -> int:
        row = await self._one("SELECT max(seq) FROM versions")
        return int(row[0] or 0)

    async def version(self, seq: int) -> Version | None:
        row = await self._one(f"SELECT {_VERSION_COLS} FROM versions WHERE seq = ?", (seq,))
        return None if row is None else _version(row)

    async def pruned(self, seq: int) -> bool:
        row = await self._one("SELECT pruned_at IS NOT NULL FROM versions WHERE seq = ?", (seq,))
        return bool(row and row[0])

    async def recent_versions(self, limit: int) -> list[Version]:
        """The newest ``limit`` versions, newest first, without their bodies."""
        cols = _VERSION_COLS.replace("body", "NULL")
        rows = await self._all(f"SELECT {cols} FROM versions ORDER BY seq DESC LIMIT ?", (limit,))
        return [_version(r) for r in rows]

    async def versions(self) -> list[Version]:
        rows = await self._all(f"SELECT {_VERSION_COLS} FROM versions ORDER BY seq")
        return [_version(r) for r in rows]

    async def version_counts(self) -> tuple[int, int, int]:
        """(versions, versions whose body is kept, bytes of the kept bodies)."""
        row = await self._one(
            "SELECT count(*), count(*) - count(pruned_at), coalesce(sum(length(body)), 0) "
            "FROM versions"
        )
        return int(row[0]), int(row[1]), int(row[2])

    async def chain(self) -> list[tuple[int, str, str | None]]:
        """(seq, digest, prev) of every version, in seq order: the hash chain, bodies or not."""
        rows = await self._all("SELECT seq, digest, prev FROM versions ORDER BY seq")
        return [(int(r[0]), str(r[1]), r[2]) for r in rows]

    async def file_size(self) -> tuple[int, int]:
        """(bytes of the database's pages, bytes of its free pages)."""
        return await self.conn.file_size()

    async def keys(self, *states: str) -> list[KeyRecord]:
        if states:
            marks = ",".join("?" * len(states))
            rows = await self._all(
                f"SELECT {_KEY_COLS} FROM signing_keys WHERE state IN ({marks}) "
                "ORDER BY created_at, kid",
                states,
            )
        else:
            rows = await self._all(f"SELECT {_KEY_COLS} FROM signing_keys ORDER BY created_at, kid")
        return [_key(r) for r in rows]

    async def token_by_hash(self, token_hash: str) -> tuple[int, str] | None:
        row = await self._one(
            "SELECT id, name FROM tokens WHERE hash = ? AND revoked_at IS NULL", (token_hash,)
        )
        return None if row is None else (int(row[0]), str(row[1]))

    async def tokens(self) -> list[dict[str, Any]]:
        rows = await self._all("SELECT id, name, created_at, revoked_at FROM tokens ORDER BY id")
        return [{"id": r[0], "name": r[1], "created_at": r[2], "revoked_at": r[3]} for r in rows]

    async def peer_list(self, peer_id: str, *, with_body: bool = False) -> PeerList | None:
        body = _BODY if with_body else "NULL"
        row = await self._one(
            f"SELECT {_PEER_LIST_COLS.replace('body', body)} FROM peer_lists WHERE peer_id = ?",
            (peer_id,),
        )
        return None if row is None else _peer_list(row, with_body)

    async def peer_lists(self) -> dict[str, PeerList]:
        cols = _PEER_LIST_COLS.replace("body", "NULL")
        rows = await self._all(f"SELECT {cols} FROM peer_lists ORDER BY peer_id")
        return {r[0]: _peer_list(r, with_body=False) for r in rows}

    async def peer_syncs(self) -> dict[str, PeerSync]:
        rows = await self._all(f"SELECT {_PEER_SYNC_COLS} FROM peer_sync ORDER BY peer_id")
        return {r[0]: PeerSync(*r) for r in rows}

    async def peer_sync(self, peer_id: str) -> PeerSync:
        row = await self._one(
            f"SELECT {_PEER_SYNC_COLS} FROM peer_sync WHERE peer_id = ?", (peer_id,)
        )
        return PeerSync(peer_id) if row is None else PeerSync(*row)

    async def peer_entries(self, peer_id: str) -> dict[str, str]:
        """issuer id -> the entry's JSON text (as the peer signed it, unless narrowed)."""
        rows = await self._all(
            "SELECT issuer_id, doc FROM peer_entries WHERE peer_id = ? ORDER BY issuer_id",
            (peer_id,),
        )
        return {r[0]: r[1] for r in rows}

    async def peer_aliases(self, peer_id: str) -> dict[str, list[str]]:
        """issuer id -> its ``aka`` names, for the peer's entries that have any."""
        out: dict[str, list[str]] = {}
        for name, issuer_id in await self._all(
            "SELECT name, issuer_id FROM peer_names WHERE peer_id = ? ORDER BY name", (peer_id,)
        ):
            out.setdefault(issuer_id, []).append(name)
        return out

    async def peer_events(
        self, peer_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        if peer_id is None:
            rows = await self._all(
                "SELECT id, peer_id, at, kind, detail FROM peer_events ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = await self._all(
                "SELECT id, peer_id, at, kind, detail FROM peer_events WHERE peer_id = ? "
                "ORDER BY id DESC LIMIT ?",
                (peer_id, limit),
            )
        return [
            {
                "id": r[0],
                "peer_id": r[1],
                "at": r[2],
                "kind": r[3],
                "detail": json.loads(r[4] or "null"),
            }
            for r in rows
        ]

    async def audit(
        self,
        after: int = 0,
        limit: int = 100,
        *,
        actor: str | None = None,
        target: str | None = None,
    ) -> list[AuditRecord]:
        """Up to ``limit`` records with an id above ``after``, oldest first; only those of
        ``actor`` and about ``target`` when given."""
        where: list[str] = ["id > ?"]
        params: list[Any] = [after]
        for column, value in (("actor", actor), ("target", target)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = await self._all(
            "SELECT id, at, actor, action, target, before, after FROM audit "
            f"WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [
            AuditRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                None if r[5] is None else json.loads(r[5]),
                None if r[6] is None else json.loads(r[6]),
            )
            for r in rows
        ]


class Tx(Queries):
    """Writes of one transaction. Obtain one from :meth:`Store.write`. The writer notes what
    the transaction changed (:meth:`note`, typed values of services/changes.py); once it has
    committed, the store hands them to its listeners (the lookup index)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.changes: list[Change] = []

    def note(self, change: Change) -> None:
        self.changes.append(change)

    async def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            await self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            await self.conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    async def put_issuer(self, doc: dict[str, Any], now: str, *, created: bool) -> None:
        body = canonical_json(doc).decode()
        if created:
            await self.conn.execute(
                "INSERT INTO issuers(id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (doc["id"], body, now, now),
            )
        else:
            await self.conn.execute(
                "UPDATE issuers SET doc = ?, updated_at = ? WHERE id = ?", (body, now, doc["id"])
            )
        await self.conn.execute("DELETE FROM issuer_names WHERE issuer_id = ?", (doc["id"],))
        await self.conn.executemany(
            "INSERT INTO issuer_names(name, issuer_id) VALUES (?, ?)",
            [(name, doc["id"]) for name in (doc["id"], *doc.get("aka", ()))],
        )

    async def insert_version(self, version: Version) -> None:
        await self.conn.execute(
            f"INSERT INTO versions({_VERSION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                version.seq,
                version.body,
                version.digest,
                version.iat,
                version.exp,
                version.prev,
                json.dumps(list(version.signed_by)),
                version.published_at,
                version.reason,
                version.pruned_at,
            ),
        )

    async def prune_bodies(
        self, *, keep_last: int, replaced_before: int, now: str, limit: int = 500
    ) -> list[int]:
        """Remove the bodies of at most ``limit`` old versions: those that are not among the
        newest ``keep_last`` and that a newer version replaced at or before ``replaced_before``
        (the newer one's ``iat``). Returns their seqs. The newest version's body is never
        removed (the database refuses it)."""
        if keep_last < 1:
            raise ValueError("keep_last must be at least 1: the newest body is always kept")
        rows = await self._all(
            "SELECT v.seq FROM versions v WHERE v.pruned_at IS NULL "
            "AND v.seq <= (SELECT max(seq) FROM versions) - ? "
            "AND (SELECT n.iat FROM versions n WHERE n.seq > v.seq ORDER BY n.seq LIMIT 1) <= ? "
            "ORDER BY v.seq LIMIT ?",
            (keep_last, replaced_before, limit),
        )
        seqs = [int(r[0]) for r in rows]
        await self.conn.executemany(
            "UPDATE versions SET body = ?, pruned_at = ? WHERE seq = ?",
            [(b"", now, seq) for seq in seqs],
        )
        return seqs

    async def insert_key(self, record: KeyRecord) -> None:
        await self.conn.execute(
            f"INSERT INTO signing_keys({_KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.kid,
                record.alg,
                canonical_json(record.public_jwk).decode(),
                record.file,
                record.state,
                record.created_at,
                record.announced_at,
                record.activated_at,
                record.retired_at,
            ),
        )

    async def update_key(self, kid: str, **changes: str | None) -> None:
        allowed = {"state", "announced_at", "activated_at", "retired_at"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"cannot change {sorted(set(changes) - allowed)}")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        await self.conn.execute(
            f"UPDATE signing_keys SET {assignments} WHERE kid = ?",
            (*changes.values(), kid),
        )

    async def insert_token(self, name: str, token_hash: str, now: str) -> int:
        row = await self._one(
            "INSERT INTO tokens(name, hash, created_at) VALUES (?, ?, ?) RETURNING id",
            (name, token_hash, now),
        )
        return int(row[0])

    async def revoke_token(self, token_id: int, now: str) -> bool:
        changed = await self.conn.execute(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now, token_id),
        )
        return changed == 1

    async def put_peer_list(self, record: PeerList) -> None:
        await self.conn.execute(
            _upsert("peer_lists", _PEER_LIST_COLS.replace("body, ", ""), "peer_id"),
            (
                record.peer_id,
                record.seq,
                record.digest,
                record.iat,
                record.exp,
                canonical_json(list(record.trusted_keys)).decode(),
                record.pins_id,
                record.terms_id,
                record.etag,
                record.accepted_at,
                record.fetched_at,
                record.entries,
                record.dropped,
                record.narrowed,
                json.dumps(sorted(record.verified_kids)),
                _json_or_none(record.withdrawn),
                int(record.binds),
            ),
        )
        await self.conn.execute(
            _upsert("peer_list_bodies", "peer_id, body", "peer_id"),
            (record.peer_id, record.body),
        )

    async def withdraw_peer_list(
        self, peer_id: str, withdrawn: dict[str, Any], terms_id: str, *, binds: bool
    ) -> None:
        """Stop using the held list: it failed the terms ``terms_id``. Its body, entries and
        numbers stay for the record (and, while it ``binds``, for rollback and history)."""
        await self.conn.execute(
            "UPDATE peer_lists SET withdrawn = ?, terms_id = ?, binds = ?, etag = NULL "
            "WHERE peer_id = ?",
            (_json_or_none(withdrawn), terms_id, int(binds), peer_id),
        )

    async def touch_peer_list(self, peer_id: str, fetched_at: str, etag: str | None) -> None:
        await self.conn.execute(
            "UPDATE peer_lists SET fetched_at = ?, etag = coalesce(?, etag) WHERE peer_id = ?",
            (fetched_at, etag, peer_id),
        )

    async def sync_peer_entries(self, peer_id: str, entries: PeerEntries) -> tuple[int, int]:
        """Make the stored entries (and their ``aka`` names) equal ``entries``, writing only
        the difference: it reads the stored digests and names, never the stored texts.
        Returns (entries written, entries deleted)."""
        existing = {
            issuer_id: stored
            for issuer_id, stored in await self._all(
                "SELECT issuer_id, hash FROM peer_entries WHERE peer_id = ?", (peer_id,)
            )
        }
        rows = entries.rows
        gone = [issuer_id for issuer_id in existing.keys() - rows.keys()]
        added: list[tuple[str, str, str, bytes]] = []
        changed: list[tuple[str, bytes, str, str]] = []
        for issuer_id, (entry_digest, text) in rows.items():
            if issuer_id not in existing:
                added.append((peer_id, issuer_id, text, entry_digest))
            elif existing[issuer_id] != entry_digest:
                changed.append((text, entry_digest, peer_id, issuer_id))
        if gone:
            await self.conn.executemany(
                "DELETE FROM peer_entries WHERE peer_id = ? AND issuer_id = ?",
                [(peer_id, issuer_id) for issuer_id in gone],
            )
        if changed:
            # An UPDATE of the text leaves the keys and their indexes alone (a REPLACE would
            # delete and insert the row and each of its index entries).
            await self.conn.update_rows(
                "peer_entries", ("doc", "hash"), ("peer_id", "issuer_id"), changed
            )
        if added:
            await self.conn.insert_rows(
                "peer_entries", ("peer_id", "issuer_id", "doc", "hash"), added
            )
        if gone or changed or added:
            # The names of the entries written or deleted; most entries that change keep theirs.
            touched = {*gone, *(r[3] for r in changed), *(r[1] for r in added)}
            every_name = await self._all(
                "SELECT name, issuer_id FROM peer_names WHERE peer_id = ?", (peer_id,)
            )
            stored_names = {
                (name, issuer_id) for name, issuer_id in every_name if issuer_id in touched
            }
            wanted = {
                (name, issuer_id)
                for issuer_id in touched
                for name in entries.aliases.get(issuer_id, ())
                if issuer_id in rows
            }
            if stale := stored_names - wanted:
                await self.conn.executemany(
                    "DELETE FROM peer_names WHERE peer_id = ? AND name = ?",
                    [(peer_id, name) for name, _ in stale],
                )
            if fresh := wanted - stored_names:
                # A name still held by another entry is moved (upsert); the rest are new rows.
                taken = {name for name, _ in every_name} - {name for name, _ in stale}
                moved = [(peer_id, n, i) for n, i in fresh if n in taken]
                new = [(peer_id, n, i) for n, i in fresh if n not in taken]
                if moved:
                    await self.conn.executemany(
                        _upsert("peer_names", "peer_id, name, issuer_id", "peer_id, name"), moved
                    )
                if new:
                    await self.conn.insert_rows("peer_names", ("peer_id", "name", "issuer_id"), new)
        return len(changed) + len(added), len(gone)

    async def put_peer_sync(self, record: PeerSync) -> None:
        await self.conn.execute(
            _upsert("peer_sync", _PEER_SYNC_COLS, "peer_id"),
            (
                record.peer_id,
                record.last_attempt,
                record.last_success,
                record.last_outcome,
                record.last_error_code,
                record.last_error_detail,
                record.failures,
            ),
        )

    async def add_peer_event(self, peer_id: str, at: str, kind: str, detail: Any) -> None:
        await self.conn.execute(
            "INSERT INTO peer_events(peer_id, at, kind, detail) VALUES (?, ?, ?, ?)",
            (peer_id, at, kind, _json_or_none(detail)),
        )

    async def add_audit(
        self,
        at: str,
        actor: str,
        action: str,
        target: str | None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO audit(at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)",
            (at, actor, action, target, _json_or_none(before), _json_or_none(after)),
        )


async def _connect(path: Path, *, read_only: bool = False) -> aiosqlite.Connection:
    if read_only:
        # mode=ro: SQLite never creates the file nor writes to it.
        conn = await aiosqlite.connect(
            path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None
        )
    else:
        conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        await conn.execute("PRAGMA busy_timeout = 10000")
        await conn.execute("PRAGMA foreign_keys = ON")
        # FULL: a published version is on disk before it is served, so a power cut can never
        # make the node hand out the same seq twice with different bodies (docs/adr/0002).
        await conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        await conn.close()  # its thread would keep the process alive
        raise
    return conn


#: SQLite's primary result codes that mean the database cannot take writes: the disk is full,
#: the file or its filesystem is read-only, an I/O error, a file that cannot be opened, a
#: damaged file, a writer that could not get the lock in time (docs/adr/0014).
UNWRITABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_NOTADB,
    }
)


#: what the drivers raise when a statement or the database fails
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


@dataclass(frozen=True)
class WriteFailure:
    """The last write the database refused: SQLite's error name and message."""

    error: str
    detail: str


def _unwritable(exc: BaseException) -> WriteFailure | None:
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in UNWRITABLE:
        return None
    return WriteFailure(str(getattr(exc, "sqlite_errorname", "")), str(exc))


def _unusable(path: Path, exc: sqlite3.Error) -> ConfigError:
    return ConfigError(
        f"{path}: cannot open the database: {exc}",
        code="database_unusable",
        field="data_dir",
    )


class Backend(Protocol):
    """One database behind the :class:`Store`: SQLite here (:class:`SqliteBackend`), or
    PostgreSQL (services/postgres.py). It hands out the read connection and one write
    transaction at a time; the store does the rest the same way for both."""

    #: where the database is, for messages (a path, or a URL without its password)
    where: str
    #: the database's own name, for messages that differ ("SQLite", "PostgreSQL")
    kind: str
    reader: Connection

    async def begin(self) -> Connection:
        """Start the one write transaction (it waits for any other writer to finish)."""
        ...

    async def commit(self, conn: Connection) -> None: ...

    async def rollback(self, conn: Connection) -> None:
        """End the transaction without its changes (it may have ended already)."""
        ...

    def unwritable(self, exc: BaseException) -> WriteFailure | None:
        """``exc`` as a database that cannot take writes; None for any other error."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...

    def coordinator(self, name: str) -> Coordinator:
        """How a serving replica named ``name`` shares the lease with the others on this
        database and hears of their commits (services/replicas.py)."""
        ...


class SqliteBackend:
    """A SQLite file: one write connection (``BEGIN IMMEDIATE``) and one read connection."""

    kind = "SQLite"

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self.where = str(path)
        #: the write connection itself (tests make it refuse writes as a full disk would)
        self.writer = writer
        self._writer = SqliteConnection(writer)
        self._raw_reader = reader
        self.reader: Connection = SqliteConnection(reader)

    async def begin(self) -> Connection:
        await self.writer.execute("BEGIN IMMEDIATE")
        return self._writer

    async def commit(self, conn: Connection) -> None:
        await self.writer.execute("COMMIT")

    async def rollback(self, conn: Connection) -> None:
        if self.writer.in_transaction:  # SQLite may have rolled back already (disk full)
            await self.writer.execute("ROLLBACK")

    def unwritable(self, exc: BaseException) -> WriteFailure | None:
        return _unwritable(exc)

    async def ping(self) -> bool:
        try:
            await (await self._raw_reader.execute("SELECT 1")).fetchone()
        except (sqlite3.Error, ValueError):
            return False
        return True

    async def close(self) -> None:
        await self._raw_reader.close()
        await self.writer.close()

    def coordinator(self, name: str) -> Coordinator:
        # One serve per data folder (its lock), so per database: the sole replica.
        return SoleCoordinator(name)

    async def vacuum(self) -> None:
        await self.writer.execute("VACUUM")
        await self.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def backup_to(self, target: Path) -> None:
        fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        destination = sqlite3.connect(str(target), check_same_thread=False)
        try:
            # One step (pages=0): a single read snapshot, so the copy is of one instant.
            await self._raw_reader.backup(destination)
            # A self-contained file: no write-ahead log beside it.
            destination.execute("PRAGMA journal_mode = DELETE")
        finally:
            destination.close()


def sqlite_only(what: str, where: str, instead: str) -> ConfigError:
    """The refusal of a command that works on a SQLite file only, on another database."""
    return ConfigError(
        f"database: {where}: {what} works on a SQLite database only; on PostgreSQL use "
        f"{instead} (docs/operations.md, Running on PostgreSQL)",
        code="sqlite_only",
        field="database",
    )


class Store:
    """The node's database: one write transaction at a time (serialised) and reads that see
    only what has committed, on SQLite or PostgreSQL (:class:`Backend`)."""

    def __init__(self, backend: Backend, *, read_only: bool = False):
        self.backend = backend
        self.read_only = read_only
        self._lock = asyncio.Lock()
        self._notifying = asyncio.Lock()
        self.read = Queries(backend.reader)
        #: Called with ``Tx.changes`` after each commit that noted any, in commit order.
        self.listeners: list[Callable[[Sequence[Change]], Awaitable[None]]] = []
        #: Why the last write failed for want of a writable database; None once one commits.
        self.write_failure: WriteFailure | None = None

    @property
    def where(self) -> str:
        return self.backend.where

    @classmethod
    async def open(cls, path: Path, *, read_only: bool = False) -> Store:
        """Open (creating and migrating it when needed) the SQLite database at ``path``; with
        ``read_only``, open an existing, current database for reading and never write."""
        if read_only:
            return await cls._open_read_only(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            # Create the file private to the node's user before SQLite opens it.
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        try:
            writer = await _connect(path)
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from None
        try:
            mode = await (await writer.execute("PRAGMA journal_mode = WAL")).fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise ConfigError(
                    f"{path}: could not switch the database to WAL mode",
                    code="database_unusable",
                    field="data_dir",
                )
            await _migrate(writer)
            reader = await _connect(path)
        except sqlite3.Error as exc:
            await writer.close()
            raise _unusable(path, exc) from None
        except BaseException:
            await writer.close()
            raise
        return cls(SqliteBackend(path, writer, reader))

    @classmethod
    async def _open_read_only(cls, path: Path) -> Store:
        if not database_present(path):
            raise ConfigError(
                f"{path}: no database here: this command reads a node's database and never "
                "creates one",
                code="database_missing",
                field="data_dir",
            )
        try:
            writer = await _connect(path, read_only=True)
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from None
        try:
            row = await (await writer.execute("PRAGMA user_version")).fetchone()
            check_schema_version(int(row[0]) if row else 0, str(path), read_only=True)
            reader = await _connect(path, read_only=True)
        except sqlite3.Error as exc:
            await writer.close()
            raise _unusable(path, exc) from None
        except BaseException:
            await writer.close()
            raise
        return cls(SqliteBackend(path, writer, reader), read_only=True)

    async def close(self) -> None:
        await self.backend.close()

    def _note(self, exc: BaseException) -> StorageUnavailable | None:
        """Note a write the database refused for want of a writable database; the error to
        raise instead of the driver's (None for any other error)."""
        failure = self.backend.unwritable(exc)
        if failure is None:
            return None
        if self.write_failure is None:
            log.error(
                "the database refused a write",
                extra={"path": self.where, "error": failure.error, "detail": failure.detail},
            )
        self.write_failure = failure
        return StorageUnavailable(f"{self.where}: the database refuses writes: {failure.detail}")

    async def _rollback(self, conn: Connection) -> None:
        try:
            await self.backend.rollback(conn)
        except Exception as exc:
            self._note(exc)  # noted for readiness; the caller's error stands

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One write transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: services/postgres.py):
        commits on success, rolls back on any error. The listeners run after the commit, once
        the next transaction may begin (a peer's list of 10,000 entries takes the index some
        milliseconds to follow), but always in commit order, and before this context exits. A
        write the database refuses (disk full, read-only, I/O error, server gone) is noted in
        :attr:`write_failure` until one commits."""
        async with self._lock:
            try:
                conn = await self.backend.begin()
            except Exception as exc:
                if refused := self._note(exc):
                    raise refused from exc
                raise
            tx = Tx(conn)
            try:
                yield tx
            except BaseException as exc:
                refused = self._note(exc)
                await self._rollback(conn)
                if refused:
                    raise refused from exc
                raise
            try:
                await self.backend.commit(conn)
            except BaseException as exc:  # cancelled too: the connection goes back, rolled back
                refused = self._note(exc)
                await self._rollback(conn)
                if refused:
                    raise refused from exc
                raise
            if self.write_failure is not None:
                log.info("the database takes writes again", extra={"path": self.where})
                self.write_failure = None
            if not tx.changes:
                return
            # Taken before the writer is handed on: listeners see commits in their order.
            await self._notifying.acquire()
        try:
            for listener in self.listeners:
                try:
                    await listener(tx.changes)
                except Exception:
                    log.exception("a listener failed after a commit")
        finally:
            self._notifying.release()

    async def probe_write(self, stamp: str) -> bool:
        """Try one small write (the ``write_check`` meta row); True when it committed."""
        try:
            async with self.write() as tx:
                await tx.set_meta("write_check", stamp)
        except StorageUnavailable:
            return False
        except DATABASE_ERRORS:
            return False
        return True

    def sqlite_file(self, what: str, instead: str) -> SqliteBackend:
        """The SQLite backend, for ``what`` only SQLite can do; else refuse, naming the
        PostgreSQL way (``instead``)."""
        if not isinstance(self.backend, SqliteBackend):
            raise sqlite_only(what, self.where, instead)
        return self.backend

    async def vacuum(self) -> None:
        """Rebuild the file without its free pages (VACUUM), holding the writer meanwhile,
        then fold the write-ahead log back into it. SQLite only (PostgreSQL's autovacuum
        does this work on its own)."""
        backend = self.sqlite_file("compact", "VACUUM FULL, run by the database's administrator")
        async with self._lock:
            await backend.vacuum()

    async def backup_to(self, target: Path) -> None:
        """A consistent copy of the whole database at ``target`` (SQLite's online backup:
        the node keeps answering and writing meanwhile). ``target`` must not exist."""
        await self.sqlite_file("backup", "pg_dump").backup_to(target)

    async def ping(self) -> bool:
        return await self.backend.ping()


def check_schema_version(version: int, where: str, *, read_only: bool) -> None:
    """Stop at a database this release cannot use: newer than it (always), empty or older
    (when it only reads and so cannot migrate). One wording for SQLite and PostgreSQL."""
    if version > len(MIGRATIONS):
        raise ConfigError(
            f"database schema version {version} is newer than this software ({len(MIGRATIONS)})",
            code="database_too_new",
            hint="run the registry-node release that wrote this database, or a newer one",
        )
    if not read_only:
        return
    if version == 0:
        raise ConfigError(
            f"{where}: holds no registry-node database",
            code="database_missing",
            field="data_dir",
        )
    if version < len(MIGRATIONS):
        raise ConfigError(
            f"{where}: database schema version {version} is older than this software "
            f"({len(MIGRATIONS)})",
            code="database_needs_upgrade",
        )


async def _migrate(conn: aiosqlite.Connection) -> None:
    row = await (await conn.execute("PRAGMA user_version")).fetchone()
    current = int(row[0]) if row else 0
    check_schema_version(current, "", read_only=False)
    for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
        # The migration and its version bump commit together or not at all.
        try:
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
        except sqlite3.Error:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
