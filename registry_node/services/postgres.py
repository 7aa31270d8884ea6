"""The node's database on a PostgreSQL server (``database: postgresql://...`` in node.yaml).

The same store as on SQLite (services/store.py: the same queries, the same :class:`Store`),
behind a :class:`PostgresBackend` (docs/adr/0023):

- the queries are written once, in the SQL the two databases share; this connection numbers
  their ``?`` placeholders (``$1``, ``$2``...) and nothing else;
- a write transaction is READ COMMITTED and begins by taking one transaction-scoped advisory
  lock, :data:`WRITER_LOCK`: writers (this process, the admin commands, later replicas) take
  their turn as on SQLite's ``BEGIN IMMEDIATE``, and each statement of the holder sees every
  commit made before it;
- published versions, the audit log and peer events are append-only by triggers, as on SQLite,
  and refuse TRUNCATE too (it runs no row triggers);
- the migrations are numbered as SQLite's (:data:`MIGRATIONS` has one script per SQLite one);
  the number reached is in the ``schema_version`` table, and each script commits with it;
- the password comes from ``database_password_file`` or the environment (``PGPASSWORD``), never
  from the URL, and appears in no message.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from registry_node.core.errors import ConfigError
from registry_node.services.store import (
    MIGRATIONS as SQLITE_MIGRATIONS,
)
from registry_node.services.store import (
    Connection,
    Store,
    WriteFailure,
    check_schema_version,
)

log = logging.getLogger("registry_node.store")


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key of its own for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


#: taken by every write transaction (and migration), for the transaction's length
WRITER_LOCK = _lock_key("registry-node writer")
#: the replicas' lease: held by the replica that runs the scheduled duties (docs/adr/0024)
LEASE_LOCK = _lock_key("registry-node lease")
#: where every write transaction announces its commit to the replicas
CHANNEL = "registry_node_changes"

CONNECT_TIMEOUT = 10.0
#: how long a write transaction waits for another one to finish (SQLite: busy_timeout)
WRITE_LOCK_WAIT = 10.0
#: how long the lease holder's check of its connection may take before it gives the lease up
CHECK_TIMEOUT = 3.0
#: TCP keepalives of the lease's connection, on the server's side: the server drops the lease
#: of a holder whose machine is gone within idle + interval x count seconds
_KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}
KEEPALIVE_BOUND = 5 + 2 * 3
#: connections a node keeps: readers acquire one per query, a write transaction one for its
#: length
POOL_SIZE = 8

_TEXT = 'TEXT COLLATE "C"'  # SQLite compares text by its bytes; so does the "C" collation


def _ddl(script: str) -> str:
    return script.replace("TEXT", _TEXT)


_APPEND_ONLY = """
    CREATE TRIGGER {table}_append_only_d BEFORE DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION registry_refuse('{message}');
    CREATE TRIGGER {table}_append_only_t BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION registry_refuse('{message}');
"""


def _append_only(table: str, message: str, *, update: bool = True) -> str:
    script = _APPEND_ONLY.format(table=table, message=message)
    if update:
        script += (
            f"CREATE TRIGGER {table}_append_only_u BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION registry_refuse('{message}');\n"
        )
    return script


#: The PostgreSQL scripts of SQLite's migrations, number for number (services/store.py says
#: what each one is for).
MIGRATIONS: list[str] = [
    # 1: node core
    _ddl("""
    CREATE FUNCTION registry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
        END $$;
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
        seq BIGINT PRIMARY KEY CHECK (seq >= 1),
        body BYTEA NOT NULL,
        digest TEXT NOT NULL UNIQUE,
        iat BIGINT NOT NULL,
        exp BIGINT NOT NULL,
        prev TEXT,
        signed_by TEXT NOT NULL,
        published_at TEXT NOT NULL,
        reason TEXT NOT NULL
    );
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
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        before TEXT,
        after TEXT
    );
    """)
    + _append_only("versions", "published versions are append-only")
    + _append_only("audit", "the audit log is append-only"),
    # 2: federation
    _ddl("""
    CREATE TABLE peer_lists (
        peer_id TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        digest TEXT NOT NULL,
        body BYTEA NOT NULL,
        iat BIGINT NOT NULL,
        exp BIGINT NOT NULL,
        trusted_keys TEXT NOT NULL,
        pins_id TEXT NOT NULL,
        terms_id TEXT NOT NULL,
        etag TEXT,
        accepted_at TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        entries BIGINT NOT NULL,
        dropped BIGINT NOT NULL,
        narrowed BIGINT NOT NULL,
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
        failures BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE peer_events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        peer_id TEXT NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT
    );
    """)
    + _append_only("peer_events", "peer events are append-only"),
    # 3: withdrawn lists, trust epochs
    _ddl("""
    ALTER TABLE peer_lists ADD COLUMN withdrawn TEXT;
    ALTER TABLE peer_lists ADD COLUMN binds INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX peer_names_by_issuer ON peer_names(peer_id, issuer_id);
    """),
    # 4: entry digests; a held list's body in a table of its own
    """
    ALTER TABLE peer_entries ADD COLUMN hash BYTEA;
    CREATE TABLE peer_list_bodies (
        peer_id TEXT COLLATE "C" PRIMARY KEY,
        body BYTEA NOT NULL
    );
    INSERT INTO peer_list_bodies(peer_id, body) SELECT peer_id, body FROM peer_lists;
    ALTER TABLE peer_lists DROP COLUMN body;
    """,
    # 5: retention (docs/adr/0015): an old version's body may be pruned, once, and only that
    """
    ALTER TABLE versions ADD COLUMN pruned_at TEXT COLLATE "C";
    DROP TRIGGER versions_append_only_u ON versions;
    CREATE FUNCTION registry_versions_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.pruned_at IS NULL AND NEW.pruned_at IS NOT NULL AND NEW.body = ''::bytea
                AND NEW.seq = OLD.seq AND NEW.digest = OLD.digest AND NEW.iat = OLD.iat
                AND NEW.exp = OLD.exp AND NEW.prev IS NOT DISTINCT FROM OLD.prev
                AND NEW.signed_by = OLD.signed_by AND NEW.published_at = OLD.published_at
                AND NEW.reason = OLD.reason
                AND OLD.seq < (SELECT max(seq) FROM versions)
            THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'published versions are append-only (an old body may be pruned)'
                USING ERRCODE = 'integrity_constraint_violation';
        END $$;
    CREATE TRIGGER versions_append_only_u BEFORE UPDATE ON versions
        FOR EACH ROW EXECUTE FUNCTION registry_versions_update();
    """,
]
assert len(MIGRATIONS) == len(SQLITE_MIGRATIONS), "one PostgreSQL script per SQLite migration"

_SCHEMA_VERSION = """
    CREATE TABLE IF NOT EXISTS schema_version (
        one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
        version INTEGER NOT NULL
    )
"""


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """``sql`` with its ``?`` placeholders numbered as PostgreSQL's ``$1``, ``$2``... (no
    query of the store has a ``?`` inside a literal)."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", number, sql)


def _rowcount(status: str) -> int:
    """The rows a command changed, from its status ("UPDATE 3", "INSERT 0 1")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgConnection:
    """A :class:`~registry_node.services.store.Connection` on one asyncpg connection."""

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self.raw.fetchrow(numbered(sql), *params)

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self.raw.fetch(numbered(sql), *params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _rowcount(await self.raw.execute(numbered(sql), *params))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self.raw.executemany(numbered(sql), rows)

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if rows:
            # COPY: the rows in one stream, without a statement per row (triggers still run).
            await self.raw.copy_records_to_table(table, records=rows, columns=list(columns))

    async def update_rows(
        self,
        table: str,
        columns: Sequence[str],
        keys: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        if not rows:
            return
        # The new values are copied into a temporary table of the same column types, emptied
        # at commit, then applied by one UPDATE joined on the keys.
        staged = f"staged_{table}"
        names = [*columns, *keys]
        await self.raw.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} ON COMMIT DELETE ROWS AS "
            f"SELECT {', '.join(names)} FROM {table} WITH NO DATA"
        )
        await self.raw.execute(f"TRUNCATE {staged}")  # an earlier call of this transaction
        await self.raw.copy_records_to_table(staged, records=rows, columns=names)
        sets = ", ".join(f"{c} = s.{c}" for c in columns)
        where = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        await self.raw.execute(f"UPDATE {table} AS t SET {sets} FROM {staged} AS s WHERE {where}")

    async def file_size(self) -> tuple[int, int]:
        size = await self.raw.fetchval("SELECT pg_database_size(current_database())")
        return int(size), 0  # free space inside is the server's affair (autovacuum)


class PgPoolReader:
    """The read side: each query on a connection of the pool, outside any write transaction,
    so it sees what has committed and nothing else."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self.pool.acquire() as raw:
            return await PgConnection(raw).one(sql, params)

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self.pool.acquire() as raw:
            return await PgConnection(raw).all(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.pool.acquire() as raw:
            return await PgConnection(raw).execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.pool.acquire() as raw:
            await PgConnection(raw).executemany(sql, rows)

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        async with self.pool.acquire() as raw:
            await PgConnection(raw).insert_rows(table, columns, rows)

    async def update_rows(
        self,
        table: str,
        columns: Sequence[str],
        keys: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        async with self.pool.acquire() as raw, raw.transaction():  # the staged rows need one
            await PgConnection(raw).update_rows(table, columns, keys, rows)

    async def file_size(self) -> tuple[int, int]:
        async with self.pool.acquire() as raw:
            return await PgConnection(raw).file_size()


#: SQLSTATE classes that mean the server cannot take writes now: connection exceptions (08),
#: insufficient resources such as a full disk (53), operator intervention such as a shutdown
#: (57), system errors such as I/O (58)
_UNWRITABLE_CLASSES = frozenset({"08", "53", "57", "58"})
#: a read-only transaction (a standby, a database set read-only), and another writer that held
#: the writers' lock beyond :data:`WRITE_LOCK_WAIT` (SQLite's SQLITE_BUSY)
_UNWRITABLE_STATES = frozenset({"25006", "55P03"})


def unwritable(exc: BaseException) -> WriteFailure | None:
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        if state[:2] in _UNWRITABLE_CLASSES or state in _UNWRITABLE_STATES or not state:
            return WriteFailure(type(exc).__name__, str(exc) or "the server connection failed")
        return None
    if isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError):
        detail = str(exc) or "the connection to the database server failed"
        return WriteFailure(type(exc).__name__, detail)
    return None


class PostgresBackend:
    """A PostgreSQL database through a pool of asyncpg connections."""

    kind = "PostgreSQL"

    def __init__(
        self, where: str, pool: asyncpg.Pool, url: str = "", password: str | None = None
    ) -> None:
        self.where = where
        self.pool = pool
        self.reader: Connection = PgPoolReader(pool)
        self._url, self._password = url, password

    def coordinator(self, name: str) -> PgCoordinator:
        """The lease and announcements of a replica named ``name`` (docs/adr/0024)."""
        return PgCoordinator(self._url, self._password, name, self.where)

    async def begin(self) -> Connection:
        raw = await self.pool.acquire()
        try:
            await raw.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            # As SQLite's busy timeout: a writer that holds the database too long makes the
            # others fail (noted as unwritable), never wait for ever.
            await raw.execute(f"SET LOCAL lock_timeout = {int(WRITE_LOCK_WAIT * 1000)}")
            await raw.execute("SELECT pg_advisory_xact_lock($1)", WRITER_LOCK)
        except BaseException:
            await self._release(raw)
            raise
        return PgConnection(raw)

    async def _release(self, raw: asyncpg.Connection) -> None:
        try:
            await self.pool.release(raw)
        except Exception as exc:  # a connection that broke: the pool replaces it
            log.warning("a database connection was dropped", extra={"error": str(exc)})

    async def commit(self, conn: Connection) -> None:
        assert isinstance(conn, PgConnection)
        # Announced to every replica when (and only if) the transaction commits.
        await conn.raw.execute(f"NOTIFY {CHANNEL}")
        await conn.raw.execute("COMMIT")
        await self._release(conn.raw)

    async def rollback(self, conn: Connection) -> None:
        assert isinstance(conn, PgConnection)
        try:
            if not conn.raw.is_closed() and conn.raw.is_in_transaction():
                await conn.raw.execute("ROLLBACK")
        finally:
            await self._release(conn.raw)

    def unwritable(self, exc: BaseException) -> WriteFailure | None:
        return unwritable(exc)

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=CONNECT_TIMEOUT) as raw:
                await raw.fetchval("SELECT 1")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.pool.close(), CONNECT_TIMEOUT)
        except TimeoutError:
            self.pool.terminate()


def password(file: Path | None) -> str | None:
    """The database user's password: the first line of ``file`` when node.yaml names one;
    else None, and the driver takes ``PGPASSWORD`` (or a ``.pgpass`` file) as libpq does."""
    if file is None:
        return None
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(
            f"database_password_file: {file}: cannot read: {reason}",
            code="config_unreadable",
            field="database_password_file",
        ) from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ConfigError(
            f"database_password_file: {file}: is empty",
            field="database_password_file",
        )
    return lines[0]


def display(url: str) -> str:
    """The URL as messages show it: scheme, user, host, port and database (no password, no
    query options)."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def _connect_error(where: str, exc: BaseException) -> ConfigError:
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError) or (
        isinstance(exc, asyncpg.InterfaceError) and "password" in str(exc)
    ):
        return ConfigError(
            f"database: {where}: the server refused the login: {exc}",
            code="database_login_refused",
            field="database",
        )
    if isinstance(exc, OSError | TimeoutError):
        reason = getattr(exc, "strerror", None) or str(exc) or "timed out"
        return ConfigError(
            f"database: {where}: cannot reach the database server: {reason}",
            code="database_unreachable",
            field="database",
        )
    return ConfigError(
        f"database: {where}: cannot open the database: {exc}",
        code="database_unusable",
        field="database",
    )


async def _schema_version(raw: asyncpg.Connection) -> int:
    exists = await raw.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await raw.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def migrate(raw: asyncpg.Connection, where: str, on_empty: Callable[[], None]) -> None:
    """Bring the database to the newest schema, one numbered script per transaction, with the
    writers' lock held (two nodes started at once never both migrate). ``on_empty`` is called
    before a database with no schema is given one (it may refuse)."""
    while True:
        async with raw.transaction():
            await raw.execute("SELECT pg_advisory_xact_lock($1)", WRITER_LOCK)
            current = await _schema_version(raw)
            check_schema_version(current, where, read_only=False)
            if current == len(MIGRATIONS):
                return
            if current == 0:
                on_empty()
                await raw.execute(_SCHEMA_VERSION)
            await raw.execute(MIGRATIONS[current])
            await raw.execute(
                "INSERT INTO schema_version(one, version) VALUES (TRUE, $1) "
                "ON CONFLICT (one) DO UPDATE SET version = excluded.version",
                current + 1,
            )


async def open_store(
    url: str,
    password: str | None,
    *,
    read_only: bool = False,
    replica: str | None = None,
    on_empty: Callable[[], None] = lambda: None,
    pool_size: int = POOL_SIZE,
) -> Store:
    """Open the node's database on the server at ``url`` (creating and migrating its tables
    when needed; with ``read_only``, an existing, current one, and never write).
    ``replica``: the serving process's name, which its connections carry as their
    application_name (pg_stat_activity shows which replica each belongs to)."""
    where = display(url)
    settings = {"application_name": application_name(replica or "command")}
    try:
        pool = await asyncpg.create_pool(
            dsn=url,
            password=password,
            min_size=1,
            max_size=pool_size,
            timeout=CONNECT_TIMEOUT,
            server_settings=settings,
        )
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise _connect_error(where, exc) from None
    try:
        async with pool.acquire() as raw:
            if read_only:
                check_schema_version(await _schema_version(raw), where, read_only=True)
            else:
                await migrate(raw, where, on_empty)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        pool.terminate()
        raise _connect_error(where, exc) from None
    except BaseException:
        pool.terminate()
        raise
    return Store(PostgresBackend(where, pool, url, password), read_only=read_only)


class PgCoordinator:
    """The replicas' lease and announcements on one connection of this process's own
    (docs/adr/0024).

    The lease is a session advisory lock, :data:`LEASE_LOCK`, taken with
    ``pg_try_advisory_lock`` so that a standby never waits in the server. The server drops it
    when the holder's connection ends: at once when the process dies (its socket closes), and
    within :data:`KEEPALIVE_BOUND` seconds when its machine is lost (TCP keepalives on the
    server's side). The holder checks its connection at each :meth:`try_lead` and gives the
    lease up when the check fails or takes longer than :data:`CHECK_TIMEOUT`, which is shorter
    than that bound, so that it stops before another replica can start.

    The same connection LISTENs on :data:`CHANNEL`, where every write transaction announces
    its commit (:meth:`PostgresBackend.commit`); ``changed`` is set on each announcement, and
    after the connection comes back (announcements may have been missed)."""

    def __init__(self, url: str, password: str | None, name: str, where: str) -> None:
        self.url = url
        self.password = password
        self.name = name
        self.where = where
        self.changed = asyncio.Event()
        self._raw: asyncpg.Connection | None = None
        self._leading = False

    @property
    def leading(self) -> bool:
        return self._leading

    async def _connect(self) -> asyncpg.Connection | None:
        raw = self._raw
        if raw is not None and not raw.is_closed():
            return raw
        self._drop()
        try:
            raw = await asyncpg.connect(
                dsn=self.url,
                password=self.password,
                timeout=CONNECT_TIMEOUT,
                server_settings={**_KEEPALIVES, "application_name": application_name(self.name)},
            )
            await raw.add_listener(CHANNEL, self._heard)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            log.warning(
                "cannot reach the database for the replicas' lease",
                extra={"database": self.where, "error": str(exc) or type(exc).__name__},
            )
            return None
        raw.add_termination_listener(lambda _: self._drop())
        self._raw = raw
        self.changed.set()  # commits may have been announced while this was not listening
        return raw

    def _heard(self, *_: Any) -> None:
        self.changed.set()

    def _drop(self) -> None:
        """Forget the connection (and with it the lease: the server drops it with the
        session); a connection still open is closed at once."""
        raw, self._raw = self._raw, None
        self._leading = False
        if raw is not None and not raw.is_closed():
            raw.terminate()

    async def try_lead(self) -> bool:
        raw = await self._connect()
        if raw is None:
            return False
        try:
            if self._leading:
                await raw.fetchval("SELECT 1", timeout=CHECK_TIMEOUT)
            else:
                self._leading = bool(
                    await raw.fetchval(
                        "SELECT pg_try_advisory_lock($1)", LEASE_LOCK, timeout=CHECK_TIMEOUT
                    )
                )
        except Exception as exc:  # whatever failed, the lease is in doubt
            # In doubt, the lease is given up: closing the connection makes sure of it.
            log.warning(
                "the connection that holds the replicas' lease failed",
                extra={"database": self.where, "error": str(exc) or type(exc).__name__},
            )
            self._drop()
            return False
        return self._leading

    async def holder(self) -> str | None:
        raw = await self._connect()
        if raw is None:
            return None
        try:
            name = await raw.fetchval(_HOLDER, *lock_ids(LEASE_LOCK), timeout=CHECK_TIMEOUT)
        except Exception:  # a broken connection: made anew at the next call
            self._drop()
            return None
        if not isinstance(name, str) or not name.startswith(_APPLICATION):
            return None  # no holder, or one whose name this user may not see
        return name[len(_APPLICATION) :]

    async def close(self) -> None:
        raw, self._raw = self._raw, None
        self._leading = False
        if raw is not None:
            try:
                await asyncio.wait_for(raw.close(), CONNECT_TIMEOUT)
            except (TimeoutError, OSError, asyncpg.InterfaceError):
                raw.terminate()


_APPLICATION = "registry-node "


def application_name(replica: str) -> str:
    """How the server lists a replica's connections (pg_stat_activity), within its 63 bytes."""
    return (_APPLICATION + replica)[:63]


def lock_ids(key: int) -> tuple[int, int]:
    """The (classid, objid) under which pg_locks lists a bigint advisory lock ``key``."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


#: the application_name of the session that holds an advisory lock (objsubid 1: a bigint key)
_HOLDER = """
    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid
      AND l.objid = $2::bigint::oid AND l.objsubid = 1
"""
