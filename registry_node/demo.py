"""The three-state demo: Ohio, Indiana and Michigan nodes on loopback, each pinning the
others' keys, in one process. ``make run`` starts it.

First start: each state gets a folder under ``demo-data/`` with a node.yaml, a signing key, a
database (its issuers imported from trust_lists/), an admin token (in ``admin-token``, mode
0600), and a peers.yaml that pins the other two states' current keys. Later starts reuse them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from registry_node import config as configmod
from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http.app import create_app
from registry_node.services.node import Node

log = logging.getLogger("registry_node.demo")


@dataclass(frozen=True)
class DemoState:
    code: str
    node_id: str
    name: str
    port: int


STATES = (
    DemoState("US-OH", "https://registry.ohio.example", "Ohio LER Trust Registry", 8081),
    DemoState("US-IN", "https://registry.indiana.example", "Indiana LER Trust Registry", 8082),
    DemoState("US-MI", "https://registry.michigan.example", "Michigan LER Trust Registry", 8083),
)


def _url(state: DemoState) -> str:
    return f"http://127.0.0.1:{state.port}"


async def prepare(root: Path, trust_lists: Path) -> list[NodeConfig]:
    """Create (or reuse) the three nodes' folders, keys, databases, tokens and peers files."""
    configs: dict[str, NodeConfig] = {}
    kids: dict[str, list[str]] = {}
    for state in STATES:
        source = trust_lists / f"{state.code.lower()}.yaml"
        if not source.exists():
            raise ConfigError(f"{source}: missing; run the demo from the project folder")
        folder = root / state.code.lower()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        node_yaml = folder / "node.yaml"
        if not node_yaml.exists():
            node_yaml.write_text(
                configmod.template(
                    state.node_id,
                    state.code,
                    state.name,
                    port=state.port,
                    trust_list=str(source.resolve()),
                )
            )
        config = configmod.load(node_yaml)
        node = await Node.open(config)
        try:
            kids[state.code] = [k.kid for k in await node.store.read.keys("current")]
            token_file = folder / "admin-token"
            if not token_file.exists():
                _, token = await node.tokens.create("demo", "demo")
                fd = os.open(token_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(token + "\n")
        finally:
            await node.close()
        configs[state.code] = config
    for state in STATES:
        peers = [
            {
                "id": other.node_id,
                "jurisdiction": other.code,
                "url": f"{_url(other)}/trust-list",
                "keys": kids[other.code],
                "refresh": "1m",
                "on_stale": "reject",
            }
            for other in STATES
            if other is not state
        ]
        header = "# Written by `registry-node demo`: the other two demo states, keys pinned.\n"
        (root / state.code.lower() / "peers.yaml").write_text(header + dump_yaml({"peers": peers}))
    return [configs[s.code] for s in STATES]


async def run(root: Path, trust_lists: Path) -> None:
    configs = await prepare(root, trust_lists)
    runners = []
    try:
        for config in configs:
            runner = web.AppRunner(create_app(config, handle_sighup=False), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, config.host, config.port).start()
            runners.append(runner)
        for state, config in zip(STATES, configs, strict=True):
            log.info(
                "demo node listening",
                extra={
                    "jurisdiction": state.code,
                    "url": _url(state),
                    "admin_token_file": str(config.data_dir.parent / "admin-token"),
                },
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()  # until interrupted; then every node shuts down cleanly
        log.info("demo stopping")
    finally:
        for runner in reversed(runners):
            with contextlib.suppress(Exception):
                await runner.cleanup()
