"""The node's services wired together, with one lifecycle shared by ``serve``, the CLI and tests.

Opening a node: data folder (0700; the serving node holds its lock), database (migrated),
signing key (generated on first start), the state's issuer source file (imported when it
changed), and a first publication if none is current. A folder with key files but no database,
or a database of another node_id, stops the opening (services/datafolder.py, docs/adr/0014).
A read-only opening (the commands that only read) creates nothing and writes nothing. Closing
the node closes the database and drops the lock.

``serve`` opens the port before a long import of the source file is done (``defer_import``):
the import then runs in the background (:meth:`Node.run_startup_import`), ``/readyz`` says how
far it got, and publication is held until it is done, so the node never publishes a list that
lacks issuers the file names. Until then the node serves what it published before (on a first
start: no list at all, ``503 not_published``), which is still what it signed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.model import digest
from registry_node.core.timeutil import Clock, format_rfc3339, system_clock
from registry_node.core.yamlsafe import load_yaml
from registry_node.services import backup, datafolder, offline, postgres
from registry_node.services.audit import AuditLog
from registry_node.services.didweb import DidWebResolver
from registry_node.services.federation import Federation
from registry_node.services.fetcher import Fetcher, new_session
from registry_node.services.issuers import ImportResult, IssuerService
from registry_node.services.keystore import KeyStore
from registry_node.services.metrics import Metrics
from registry_node.services.oidfed import OpenIdFederation
from registry_node.services.peers import PeerRegistry
from registry_node.services.progress import READING, VALIDATING, Progress, ignore
from registry_node.services.publisher import Publisher
from registry_node.services.receipts import Receipts
from registry_node.services.recovery import Recovery
from registry_node.services.replicas import Replica, default_name
from registry_node.services.resolver import Resolver
from registry_node.services.retention import Retention
from registry_node.services.statuslists import StatusLists
from registry_node.services.store import Store
from registry_node.services.tokens import TokenService
from registry_node.services.trqp import Trqp
from registry_node.services.verifier import Verifier

log = logging.getLogger("registry_node.node")

SOURCE_DIGEST = "source_digest"


DID_DOCUMENT_MARK = offline.DID_DOCUMENT_MEMBER.encode()


def _stamp_with_documents(path: Path, raw: bytes) -> str:
    """The source file's digest, with the bytes of each DID document it names. A file that
    cannot be read or parsed here gets the plain digest: the import then says what is wrong."""
    try:
        doc = load_yaml(raw, str(path))
        named = [
            entry[offline.DID_DOCUMENT_MEMBER]
            for entry in (doc.get("issuers") or [] if isinstance(doc, dict) else [])
            if isinstance(entry, dict) and isinstance(entry.get(offline.DID_DOCUMENT_MEMBER), str)
        ]
        parts = [raw] + [(path.parent / name).read_bytes() for name in named]
    except (InvalidInput, OSError):
        return digest(raw)
    return digest(b"\0".join(digest(part).encode() for part in parts))


class ImportStopped(Exception):
    """The node stops while its start-up import still reads the source file."""


@dataclass
class StartupImport:
    """The import of the issuer source file that a starting node runs after its port opened,
    and how far it got (for ``/readyz``)."""

    path: Path
    raw: bytes
    stamp: str
    phase: str = READING
    done: int = 0
    total: int = 0
    #: the mistake in the file that stopped the import (the node refuses to run on)
    error: ConfigError | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def report(self, phase: str, done: int, total: int) -> None:
        """The import's progress callback; also called from the thread that reads the file,
        where it stops the reading once the node stops."""
        if self._stop.is_set():
            raise ImportStopped
        self.phase, self.done, self.total = phase, done, total

    def describe(self) -> str:
        if self.error is not None:
            return f"the import of {self.path} failed: {self.error.detail}"
        if self.phase == READING:
            percent = 100 * self.done // self.total if self.total else 0
            return f"reading {self.path} ({percent}%)"
        if self.phase == VALIDATING:
            return f"checking {self.done} of {self.total} issuers of {self.path}"
        return f"importing {self.done} of {self.total} issuers from {self.path}"


async def _open_store(
    config: NodeConfig, *, read_only: bool = False, replica: str | None = None
) -> Store:
    """The node's database: the SQLite file in the data folder, or the PostgreSQL server that
    node.yaml names (``replica``: the name of the serving process, services/replicas.py). A
    new, empty database is refused when the data folder already holds signing keys."""
    if config.database is None:
        if not read_only:
            datafolder.refuse_lost_database(config.db_path, config.keys_dir)
        return await Store.open(config.db_path, read_only=read_only)
    where = postgres.display(config.database)
    return await postgres.open_store(
        config.database,
        postgres.password(config.database_password_file),
        read_only=read_only,
        replica=replica,
        on_empty=lambda: datafolder.refuse_new_database(where, "is empty", config.keys_dir),
    )


@dataclass
class Node:
    config: NodeConfig
    clock: Clock
    store: Store
    keystore: KeyStore
    publisher: Publisher
    issuers: IssuerService
    tokens: TokenService
    federation: Federation
    metrics: Metrics
    resolver: Resolver
    receipts: Receipts
    audit: AuditLog
    trqp: Trqp
    verifier: Verifier
    oidfed: OpenIdFederation
    retention: Retention
    recovery: Recovery
    #: the source file's import while ``serve`` runs it in the background (None: no import
    #: pending, or it is done)
    startup_import: StartupImport | None = None
    #: the data folder's lock, held while a serving node is open
    lock: datafolder.DataLock | None = None
    #: this process among the replicas of its database: a serving node on PostgreSQL shares
    #: the lease with the others (services/replicas.py); any other opening is the sole one
    replica: Replica = field(default_factory=Replica.sole)

    @classmethod
    async def open(
        cls,
        config: NodeConfig,
        clock: Clock = system_clock,
        *,
        import_source: bool = True,
        publish: bool = True,
        judge_peers: bool = True,
        read_only: bool = False,
        exclusive: bool = False,
        defer_import: bool = False,
    ) -> Node:
        """Open the node. ``judge_peers``: judge held lists again under peers.yaml as it is now
        (the serving node; a command-line tool leaves that to the node's reload, so that a file
        edited but not yet reloaded never changes what the running node holds). ``read_only``:
        open an existing database for reading only (no folder, file, key or row is created).
        ``exclusive``: take the data folder's lock (``serve``: one node per data folder), and
        join the replicas of the database: only the one that holds their lease publishes,
        recovers and judges peers' lists on opening (services/replicas.py).
        ``defer_import``: leave a pending import of the source file to
        :meth:`run_startup_import` (and hold publication until it is done)."""
        # The operator's contexts and DID documents are checked before anything is opened:
        # a broken entry refuses the start with one line (services/offline.py).
        jsonld_contexts = offline.load_contexts(config)
        did_documents = offline.load_did_documents(config)
        replica_name = config.replica_name or default_name()
        lock = None
        if read_only:
            import_source = publish = judge_peers = False
            store = await _open_store(config, read_only=True)
        else:
            try:
                config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.chmod(config.data_dir, 0o700)
            except OSError as exc:
                raise ConfigError(
                    f"data_dir: {config.data_dir}: {exc.strerror or exc}",
                    code="data_dir_unusable",
                    field="data_dir",
                ) from None
            if exclusive:
                lock = datafolder.DataLock.acquire(config.data_dir)
            try:
                store = await _open_store(config, replica=replica_name if exclusive else None)
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
        try:
            recorded = await store.read.meta(datafolder.NODE_ID)
            datafolder.check_identity(recorded, config.node_id, config.where)
            if recorded is None and not read_only:
                async with store.write() as tx:
                    await tx.set_meta(datafolder.NODE_ID, config.node_id)
        except BaseException:
            await store.close()
            if lock is not None:
                lock.release()
            raise
        session = new_session(config.federation)
        node: Node | None = None
        try:
            keystore = KeyStore(config.keys_dir)
            if not read_only:
                keystore.ensure_folder()
            metrics = Metrics(lambda: clock().timestamp())
            peers = PeerRegistry(
                config.peers_file, allow_http_loopback=config.federation.allow_http_loopback
            )
            federation = Federation(
                config, store, Fetcher(session, config.federation), clock, metrics, peers
            )
            federation.set_peers(*peers.read_file())
            resolver = Resolver(config, store, peers, clock)
            issuers = IssuerService(store, clock, config.jurisdiction)
            node = cls(
                config=config,
                clock=clock,
                store=store,
                keystore=keystore,
                publisher=Publisher(config, store, keystore, clock),
                issuers=issuers,
                tokens=TokenService(store, clock),
                federation=federation,
                metrics=metrics,
                resolver=resolver,
                receipts=Receipts(config, store, keystore, clock),
                audit=AuditLog(store),
                trqp=Trqp(config, resolver, peers),
                verifier=Verifier(
                    resolver,
                    config.federation.clock_skew,
                    DidWebResolver(config.federation) if config.resolve_did_web else None,
                    status_lists=StatusLists(
                        clock,
                        max_age=config.status_list_max_age,
                        fetch=config.fetch_status_lists,
                        federation=config.federation,
                    ),
                    jsonld_contexts=jsonld_contexts,
                    did_documents=did_documents,
                ),
                oidfed=OpenIdFederation(config, store, keystore, resolver, peers, clock),
                lock=lock,
                replica=(
                    Replica(replica_name, store.backend.coordinator(replica_name), shared=True)
                    if exclusive and config.database is not None
                    else Replica.sole(replica_name)
                ),
                retention=Retention(config, store, clock),
                recovery=Recovery(config, store, federation.fetcher, peers, issuers, clock),
            )
            if not read_only:
                await node.publisher.ensure_signing_key()
            # The replica that holds the lease does the work of a start; the others serve.
            await node.replica.refresh()
            if node.replica.shared:  # a start puts peers.yaml in force: the others follow
                await federation.announce_peers(node.replica.name)
            leading = node.replica.leading
            publish, judge_peers = publish and leading, judge_peers and leading
            if import_source and defer_import:
                await node._defer_source_import()
            elif import_source:
                await node.import_source_file()
            if publish:
                # A restored database publishes nothing until a peer confirms what the node
                # had published (services/recovery.py).
                await node.recovery.attempt()
            if publish and node.startup_import is None:
                await node.publisher.tick()
            if judge_peers:
                await federation.reconcile("start")  # peers.yaml may have changed while down
            await federation.load_metrics()
            await node.resolver.load()
        except BaseException:
            await session.close()
            if node is not None:
                await node.replica.close()
            await store.close()
            if lock is not None:
                lock.release()
            raise
        return node

    async def close(self) -> None:
        try:
            await self.verifier.close()
            await self.federation.close()
            await self.replica.close()
            await self.store.close()
        finally:
            if self.lock is not None:
                self.lock.release()

    async def _source_pending(self) -> tuple[Path, bytes, str] | None:
        """The source file's path, bytes and digest when it exists and changed since the last
        import."""
        path = self.config.trust_list_path
        if not path.exists():
            log.info("no issuer source file", extra={"path": str(path)})
            return None
        raw = path.read_bytes()
        stamp = digest(raw)
        if DID_DOCUMENT_MARK in raw:
            # The DID documents the file names are part of what is imported: a changed
            # document is a changed source (parsed twice only for a file that names one).
            stamp = await asyncio.to_thread(_stamp_with_documents, path, raw)
        if await self.store.read.meta(SOURCE_DIGEST) == stamp:
            return None
        return path, raw, stamp

    async def import_source_file(
        self, actor: str | None = None, progress: Progress = ignore
    ) -> ImportResult | None:
        """Import trust_lists/<state>.yaml when it exists and changed since the last import."""
        pending = await self._source_pending()
        if pending is None:
            return None
        return await self._import_source(*pending, actor, progress)

    async def _import_source(
        self, path: Path, raw: bytes, stamp: str, actor: str | None, progress: Progress
    ) -> ImportResult:
        def parse() -> list[dict[str, Any]]:
            def reading(done: int, total: int) -> None:
                progress(READING, done, total)

            doc = load_yaml(raw, str(path), reading)
            offline.attach_did_documents(doc, path.parent, str(path))
            return self.issuers.parse_source(doc, str(path), progress)

        try:
            # Reading and checking a large file takes a while: the event loop goes on serving.
            entries = await asyncio.to_thread(parse)
        except InvalidInput as exc:
            raise ConfigError(exc.detail, code=exc.code, field=exc.field) from exc
        result = await self.issuers.import_entries(
            entries, actor or f"import:{path.name}", progress
        )
        async with self.store.write() as tx:
            await tx.set_meta(SOURCE_DIGEST, stamp)
        log.info(
            "imported issuer source file", extra={"path": str(path), "result": result.as_json()}
        )
        return result

    async def backup(self, folder: Path) -> dict[str, Any]:
        """An online backup of the node into ``folder`` (services/backup.py)."""
        return await backup.backup(self.config, self.store, folder, self.clock)

    async def _defer_source_import(self) -> None:
        pending = await self._source_pending()
        if pending is None:
            return
        self.startup_import = StartupImport(*pending)
        self.publisher.hold(self.startup_import.describe)

    async def run_startup_import(self) -> ImportResult | None:
        """Run the import :meth:`open` deferred, then release and run publication. A mistake
        in the file is raised (as :class:`ConfigError`) and stays in ``startup_import.error``;
        publication stays held: the node must not go on as if the file had been imported."""
        job = self.startup_import
        if job is None:
            return None
        try:
            if await self.store.read.meta(SOURCE_DIGEST) == job.stamp:
                result = None  # another process imported the same file meanwhile
            else:
                log.info("importing issuer source file", extra={"path": str(job.path)})
                result = await self._import_source(job.path, job.raw, job.stamp, None, job.report)
        except ConfigError as exc:
            job.error = exc
            job.finished.set()
            raise
        except BaseException:
            job._stop.set()  # the reading thread stops at its next report
            raise
        self.publisher.release()
        try:
            if self.replica.leading:  # the holder of the lease publishes (services/replicas.py)
                await self.publisher.tick()  # /readyz reports the import until this is done
        finally:
            self.startup_import = None
            job.finished.set()
        return result

    def import_status(self) -> dict[str, Any] | None:
        """The start-up import's state for ``/readyz``; None once it is done (or when none)."""
        job = self.startup_import
        if job is None:
            return None
        doc: dict[str, Any] = {"ok": False, "detail": job.describe()}
        if job.error is not None:
            doc["code"] = job.error.code
        else:
            doc.update(phase=job.phase, done=job.done, total=job.total)
        return doc

    async def healthy(self) -> bool:
        """Is the database open and answering?"""
        return await self.store.ping()

    async def write_problem(self) -> str | None:
        """Why the database refuses writes, or None. After a refused write, one small write is
        tried each time this is asked, so readiness returns once the database takes writes."""
        if self.store.write_failure is not None:
            await self.store.probe_write(format_rfc3339(self.clock()))
        failure = self.store.write_failure
        return None if failure is None else failure.detail

    async def describe(self) -> dict[str, Any]:
        current = await self.publisher.keys("current")
        return {
            "node_id": self.config.node_id,
            "jurisdiction": self.config.jurisdiction,
            "kid": [k.kid for k in current],
            "url": self.config.base_url,
            "peers": self.federation.peers.ids(),
        }
