"""The node's services wired together, with one lifecycle shared by ``serve``, the CLI and tests.

Opening a node: data folder (0700), database (migrated), signing key (generated on first start),
the state's issuer source file (imported when it changed), and a first publication if none is
current. Closing it closes the database.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.model import digest
from registry_node.core.timeutil import Clock, system_clock
from registry_node.core.yamlsafe import load_yaml
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
from registry_node.services.resolver import Resolver
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

    @classmethod
    async def open(
        cls,
        config: NodeConfig,
        clock: Clock = system_clock,
        *,
        import_source: bool = True,
        publish: bool = True,
        judge_peers: bool = True,
    ) -> Node:
        """Open the node. ``judge_peers``: judge held lists again under peers.yaml as it is now
        (the serving node; a command-line tool leaves that to the node's reload, so that a file
        edited but not yet reloaded never changes what the running node holds)."""
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(config.data_dir, 0o700)
        except OSError as exc:
            raise ConfigError(
                f"data_dir: {config.data_dir}: {exc.strerror or exc}",
                code="data_dir_unusable",
                field="data_dir",
                hint="point data_dir at a folder the node's user can create and write",
            ) from None
        store = await Store.open(config.db_path)
        session = new_session(config.federation)
        try:
            keystore = KeyStore(config.keys_dir)
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
            node = cls(
                config=config,
                clock=clock,
                store=store,
                keystore=keystore,
                publisher=Publisher(config, store, keystore, clock),
                issuers=IssuerService(store, clock, config.jurisdiction),
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
            )
            await node.publisher.ensure_signing_key()
            if import_source:
                await node.import_source_file()
            if publish:
                await node.publisher.tick()
            if judge_peers:
                await federation.reconcile("start")  # peers.yaml may have changed while down
            await federation.load_metrics()
            await node.resolver.load()
        except BaseException:
            await session.close()
            await store.close()
            raise
        return node

    async def close(self) -> None:
        await self.verifier.close()
        await self.federation.close()
        await self.store.close()

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

    async def healthy(self) -> bool:
        """Is the database open and answering?"""
        return await self.store.ping()

    async def describe(self) -> dict[str, Any]:
        current = await self.publisher.keys("current")
        return {
            "node_id": self.config.node_id,
            "jurisdiction": self.config.jurisdiction,
            "kid": [k.kid for k in current],
            "url": self.config.base_url,
            "peers": self.federation.peers.ids(),
        }
