"""The node's services wired together, with one lifecycle shared by ``serve``, the CLI and tests.

Opening a node: data folder (0700; the serving node holds its lock), database (migrated),
signing key (generated on first start), the state's issuer source file (imported when it
changed), and a first publication if none is current. A folder with key files but no database,
or a database of another node_id, stops the opening (services/datafolder.py, docs/adr/0014).
A read-only opening (the commands that only read) creates nothing and writes nothing. Closing
the node closes the database and drops the lock.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.model import digest
from registry_node.core.timeutil import Clock, format_rfc3339, system_clock
from registry_node.core.yamlsafe import load_yaml
from registry_node.services import backup, datafolder
from registry_node.services.audit import AuditLog
from registry_node.services.didweb import DidWebResolver
from registry_node.services.federation import Federation
from registry_node.services.fetcher import Fetcher, new_session
from registry_node.services.issuers import ImportResult, IssuerService
from registry_node.services.keystore import KeyStore
from registry_node.services.metrics import Metrics
from registry_node.services.oidfed import OpenIdFederation
from registry_node.services.peers import PeerRegistry
from registry_node.services.publisher import Publisher
from registry_node.services.receipts import Receipts
from registry_node.services.recovery import Recovery
from registry_node.services.resolver import Resolver
from registry_node.services.retention import Retention
from registry_node.services.store import Store
from registry_node.services.tokens import TokenService
from registry_node.services.trqp import Trqp
from registry_node.services.verifier import Verifier

log = logging.getLogger("registry_node.node")

SOURCE_DIGEST = "source_digest"


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
    #: the data folder's lock, held while a serving node is open
    lock: datafolder.DataLock | None = None

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
    ) -> Node:
        """Open the node. ``judge_peers``: judge held lists again under peers.yaml as it is now
        (the serving node; a command-line tool leaves that to the node's reload, so that a file
        edited but not yet reloaded never changes what the running node holds). ``read_only``:
        open an existing database for reading only (no folder, file, key or row is created).
        ``exclusive``: take the data folder's lock (``serve``: one node per data folder)."""
        lock = None
        if read_only:
            import_source = publish = judge_peers = False
            store = await Store.open(config.db_path, read_only=True)
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
                datafolder.refuse_lost_database(config.db_path, config.keys_dir)
                store = await Store.open(config.db_path)
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
        try:
            recorded = await store.read.meta(datafolder.NODE_ID)
            datafolder.check_identity(recorded, config.node_id, config.db_path)
            if recorded is None and not read_only:
                async with store.write() as tx:
                    await tx.set_meta(datafolder.NODE_ID, config.node_id)
        except BaseException:
            await store.close()
            if lock is not None:
                lock.release()
            raise
        session = new_session(config.federation)
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
            federation.set_peers(peers.read_file())
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
                ),
                oidfed=OpenIdFederation(config, store, keystore, resolver, peers, clock),
                lock=lock,
                retention=Retention(config, store, clock),
                recovery=Recovery(config, store, federation.fetcher, peers, issuers, clock),
            )
            if not read_only:
                await node.publisher.ensure_signing_key()
            if import_source:
                await node.import_source_file()
            if publish:
                # A restored database publishes nothing until a peer confirms what the node
                # had published (services/recovery.py).
                await node.recovery.attempt()
                await node.publisher.tick()
            if judge_peers:
                await federation.reconcile("start")  # peers.yaml may have changed while down
            await federation.load_metrics()
            await node.resolver.load()
        except BaseException:
            await session.close()
            await store.close()
            if lock is not None:
                lock.release()
            raise
        return node

    async def close(self) -> None:
        try:
            await self.verifier.close()
            await self.federation.close()
            await self.store.close()
        finally:
            if self.lock is not None:
                self.lock.release()

    async def import_source_file(self, actor: str | None = None) -> ImportResult | None:
        """Import trust_lists/<state>.yaml when it exists and changed since the last import."""
        path = self.config.trust_list_path
        if not path.exists():
            log.info("no issuer source file", extra={"path": str(path)})
            return None
        raw = path.read_bytes()
        stamp = digest(raw)
        if await self.store.read.meta(SOURCE_DIGEST) == stamp:
            return None
        try:
            entries = self.issuers.parse_source(load_yaml(raw, str(path)), str(path))
        except InvalidInput as exc:
            raise ConfigError(exc.detail, code=exc.code, field=exc.field) from exc
        result = await self.issuers.import_entries(entries, actor or f"import:{path.name}")
        async with self.store.write() as tx:
            await tx.set_meta(SOURCE_DIGEST, stamp)
        log.info(
            "imported issuer source file", extra={"path": str(path), "result": result.as_json()}
        )
        return result

    async def backup(self, folder: Path) -> dict[str, Any]:
        """An online backup of the node into ``folder`` (services/backup.py)."""
        return await backup.backup(self.config, self.store, folder, self.clock)

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
