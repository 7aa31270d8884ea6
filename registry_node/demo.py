"""The three-state demo: Ohio, Indiana and Michigan nodes on loopback, each pinning the
others' keys, in one process. ``make run`` starts it.

First start: each state gets a folder under ``demo-data/`` with a node.yaml, a signing key, a
database (its issuers imported from trust_lists/), an admin token (in ``admin-token``, mode
0600), and a peers.yaml that pins the other two states' current keys. Later starts reuse them;
each node listens where its node.yaml says (8081, 8082 and 8083 unless edited).

Once the three nodes listen, each syncs with the other two at once, and the demo waits until
every node holds a fresh, verified list from both others before it prints, on standard output,
where the nodes are and what to try first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from registry_node import config as configmod
from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError, RegistryError
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.services.node import Node

log = logging.getLogger("registry_node.demo")

#: How long the nodes may take to hold fresh lists from each other before the demo gives up.
FEDERATE_TIMEOUT = 30.0
#: Pause between two rounds of syncing while some node is not yet federated.
FEDERATE_RETRY = 0.5
#: The cross-state question the banner suggests: Indiana asked about an Ohio licensing board.
EXAMPLE_ISSUER = "did:web:nursing.ohio.example"
EXAMPLE_ACHIEVEMENT_TYPE = "License"
#: The line that ends the banner, once the demo is ready to be tried.
READY_LINE = "Ctrl-C stops all three nodes."


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


def _url(config: NodeConfig) -> str:
    return config.base_url


def _token_file(config: NodeConfig) -> Path:
    return config.data_dir.parent / "admin-token"


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
                    access_log=False,  # three nodes' requests would bury the banner
                )
            )
        config = configmod.load(node_yaml)
        node = await Node.open(config)
        try:
            kids[state.code] = [k.kid for k in await node.store.read.keys("current")]
            token_file = _token_file(config)
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
                "url": f"{_url(configs[other.code])}/trust-list",
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


async def _not_federated(nodes: Sequence[Node]) -> list[str]:
    """What keeps the nodes from being federated: each peer list that is not ``fresh``."""
    problems = []
    for node in nodes:
        for status in await node.federation.status():
            peer = status.as_json()
            if peer["state"] == "fresh":
                continue
            error = peer["last_error"]
            why = f": {error['code']}: {error['detail']}" if error else ""
            problems.append(
                f"{node.config.jurisdiction} holds no fresh list from {peer['jurisdiction']} "
                f"({peer['state']}{why})"
            )
    return problems


async def federate(nodes: Sequence[Node]) -> None:
    """Have every node sync with its peers now, and again until each holds a fresh, verified
    list from every peer. Raises RegistryError after ``FEDERATE_TIMEOUT`` seconds."""
    problems: list[str] = []
    try:
        async with asyncio.timeout(FEDERATE_TIMEOUT):
            while True:
                await asyncio.gather(*(node.federation.sync_all() for node in nodes))
                problems = await _not_federated(nodes)
                if not problems:
                    return
                await asyncio.sleep(FEDERATE_RETRY)
    except TimeoutError:
        raise RegistryError(
            f"the demo nodes did not federate within {FEDERATE_TIMEOUT:g}s: "
            + ("; ".join(problems) or "their syncs did not finish"),
            code="demo_not_federated",
            hint="if a node's folder was deleted or restored from a copy, its peers refuse its "
            "lists as older than the ones they hold: delete the whole demo folder and start again",
        ) from None


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies inside it, for shorter lines."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def banner(configs: Sequence[NodeConfig]) -> str:
    """What a newcomer should know and try once the three nodes are federated."""
    width = max(len(f"{c.name} ({c.jurisdiction})") for c in configs)
    lines = ["", "Three federated LER trust registries are running:", ""]
    for config in configs:
        label = f"{config.name} ({config.jurisdiction})".ljust(width)
        lines.append(f"  {label}  {_url(config)}  admin token: {_shown(_token_file(config))}")
    by_code = {c.jurisdiction: c for c in configs}
    ohio, indiana = by_code["US-OH"], by_code["US-IN"]
    lookup = (
        f"{_url(indiana)}/v1/issuers/{EXAMPLE_ISSUER}?achievement_type={EXAMPLE_ACHIEVEMENT_TYPE}"
    )
    trqp = json.dumps(
        {
            "entity_id": EXAMPLE_ISSUER,
            "authority_id": indiana.node_id,
            "action": "issue",
            "resource": EXAMPLE_ACHIEVEMENT_TYPE,
        }
    )
    lines += [
        "",
        "Each node holds a fresh, verified copy of the other two states' signed lists.",
        "",
        "In a browser: search issuers and check a credential or a receipt on a verifier's page,",
        f"  {_url(indiana)}/",
        "and see peers, versions, issuers and the audit log in the operator's console (it asks",
        "for the node's admin token):",
        f"  {_url(indiana)}/console",
        "",
        f"Ask the {indiana.jurisdiction} node about an issuer that {ohio.jurisdiction} lists: "
        f'it answers "trusted", with evidence from {ohio.jurisdiction}\'s signed list:',
        f"  curl -s '{lookup}'",
        "",
        "The same question through the Trust over IP TRQP binding:",
        f"  curl -s -X POST {_url(indiana)}/trqp/authorization "
        "-H 'Content-Type: application/json' \\",
        f"       -d '{trqp}'",
        "",
        "The answer as a signed receipt (a JWS a verifier can keep as proof):",
        f"  curl -s -H 'Accept: application/jwt' '{lookup}'",
        "",
        "More to try: README.md, section Quick start.",
        READY_LINE,
        "",
    ]
    return "\n".join(lines)


async def run(root: Path, trust_lists: Path) -> None:
    configs = await prepare(root, trust_lists)
    runners = []
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        for config in configs:
            app = create_app(config, handle_sighup=False)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            runners.append(runner)
            try:
                await web.TCPSite(runner, config.host, config.port).start()
            except OSError as exc:
                raise ConfigError(
                    f"{_url(config)}: cannot listen: {exc.strerror or exc}",
                    code="listen_failed",
                    hint=f"stop what uses port {config.port}, or change listen.port and "
                    f"public_url in {config.source}",
                ) from None
        for config in configs:
            log.info(
                "demo node listening",
                extra={
                    "jurisdiction": config.jurisdiction,
                    "url": _url(config),
                    "admin_token_file": str(_token_file(config)),
                },
            )
        federating = asyncio.ensure_future(federate([runner.app[NODE] for runner in runners]))
        interrupted = asyncio.ensure_future(stop.wait())
        await asyncio.wait((federating, interrupted), return_when=asyncio.FIRST_COMPLETED)
        if federating.done():
            interrupted.cancel()
            federating.result()  # raises if the nodes did not federate
            log.info("demo nodes federated")
            print(banner(configs), flush=True)
            await stop.wait()  # until interrupted; then every node shuts down cleanly
        else:
            federating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await federating
        log.info("demo stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(sig)
        for runner in reversed(runners):
            with contextlib.suppress(Exception):
                await runner.cleanup()
