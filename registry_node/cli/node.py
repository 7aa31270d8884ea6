"""serve, init, demo and publish: running a node and publishing its list."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from registry_node import config as configmod
from registry_node.cli._common import (
    _actor,
    _with_node,
    log,
)
from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.timeutil import format_rfc3339, from_numeric_date
from registry_node.core.yamlsafe import load_yaml
from registry_node.services.clock import clock_from_env
from registry_node.services.node import Node


def cmd_serve(args: argparse.Namespace, config: NodeConfig) -> int:
    from aiohttp import web

    from registry_node.http.app import create_app

    host = args.host or config.host
    port = args.port if args.port is not None else config.port

    def listening(message: object) -> None:
        log.info("listening", extra={"url": f"http://{host}:{port}", "node_id": config.node_id})

    fatal: list[BaseException] = []

    def stop(exc: BaseException) -> None:
        """The start-up import failed: the node stops, as when it cannot start at all."""
        fatal.append(exc)
        asyncio.get_running_loop().call_soon(_graceful_exit)

    try:
        web.run_app(
            create_app(config, clock_from_env(), import_in_background=True, on_fatal=stop),
            host=host,
            port=port,
            print=listening,
            access_log=None,
            handle_signals=True,
            shutdown_timeout=5,
        )
    except OSError as exc:  # the address is in use, or not ours to bind
        raise ConfigError(
            f"listen: cannot listen on {host}:{port}: {exc.strerror or exc}",
            code="listen_failed",
            field="listen",
            hint="stop what uses the port, or set listen.port in node.yaml (or --port)",
        ) from None
    if fatal:
        raise fatal[0]
    return 0


def _graceful_exit() -> None:
    from aiohttp import web

    raise web.GracefulExit


def cmd_init(args: argparse.Namespace, config: NodeConfig) -> int:
    target = Path(args.output)
    if target.exists() and not args.force:
        raise InvalidInput(f"{target}: already exists (use --force to overwrite)", field="output")
    jurisdiction = args.jurisdiction.upper()
    text = configmod.template(
        args.node_id,
        jurisdiction,
        args.name,
        args.host,
        args.port,
        public_url=args.public_url,
        data_dir=args.data_dir,
    )
    # Validate what we write, so that init can never produce a file serve would refuse.
    configmod.from_document(load_yaml(text, str(target)), target.resolve())
    target.write_text(text)
    print(f"wrote {target}")
    source = target.parent / "trust_lists" / f"{jurisdiction.lower()}.yaml"
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(
            f"# Issuers trusted by {args.name} (schema: /schemas/issuer-source-v1.json)\n"
            f"jurisdiction: {jurisdiction}\nname: {json.dumps(args.name)}\nissuers: []\n"
        )
        print(f"wrote {source}")
    return 0


def cmd_demo(args: argparse.Namespace, config: NodeConfig) -> int:
    from registry_node import demo

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(demo.run(Path(args.dir), Path(args.trust_lists)))
    return 0


def cmd_publish(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        version = await node.publisher.publish("requested from the command line", _actor())
        exp = format_rfc3339(from_numeric_date(version.exp))
        print(f"published seq {version.seq} digest {version.digest} valid until {exp}")
        return 0

    return asyncio.run(_with_node(config, work))


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the node")
    p.add_argument("--host", help="listen on this address (default: listen.host in node.yaml)")
    p.add_argument("--port", type=int, help="listen on this port (default: listen.port)")
    p.set_defaults(func=cmd_serve, access="serve")

    p = sub.add_parser("init", help="write a node.yaml for a new state")
    p.add_argument("--node-id", required=True, help="this registry's id, an https URL")
    p.add_argument("--jurisdiction", required=True, help="ISO 3166-2 code, e.g. US-OH")
    p.add_argument("--name", required=True, help="the registry's display name")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    p.add_argument(
        "--public-url", help="where verifiers and peers reach the node, e.g. behind a proxy"
    )
    p.add_argument("--data-dir", default="data", help="database and keys (relative: to node.yaml)")
    p.add_argument("--output", default="node.yaml", help="where to write (node.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init, access="none")

    p = sub.add_parser("demo", help="run Ohio, Indiana and Michigan nodes on loopback, federated")
    p.add_argument("--dir", default="demo-data", help="where the demo nodes keep their state")
    p.add_argument("--trust-lists", default="trust_lists", help="folder of example lists")
    p.set_defaults(func=cmd_demo, access="none")
    p = sub.add_parser("publish", help="sign and publish a new list version now")
    p.set_defaults(func=cmd_publish, access="write")
