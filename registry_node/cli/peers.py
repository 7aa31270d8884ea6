"""peers: neighbouring states' lists."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from registry_node.cli._common import (
    _load_doc,
    _print_json,
    _with_node,
)
from registry_node.cli._progress import progress_line
from registry_node.config import NodeConfig
from registry_node.services.node import Node


def peer_line(peer: dict[str, Any]) -> str:
    """One tab-separated line of ``peers status`` for a peer's status document."""
    error = peer["last_error"]
    why = f"\t{error['code']}: {error['detail']}" if error else ""
    withdrawn = peer["withdrawn"]
    if withdrawn:
        epoch = " (new trust epoch)" if withdrawn["new_epoch"] else ""
        why = f"\tnot used{epoch}: {withdrawn['code']}: {withdrawn['detail']}{why}"
    counts = peer["entries"]
    return (
        f"{peer['id']}\t{peer['jurisdiction']}\t{peer['state']}\tseq {peer['seq']}"
        f"\texp {peer['exp']}\t{counts['accepted']} entries"
        f" ({counts['dropped_scope']} dropped for scope){why}"
    )


def cmd_peers_status(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        peers = [p.as_json() for p in await node.federation.status()]
        if args.json:
            _print_json(peers)
            return 0
        for peer in peers:
            print(peer_line(peer))
        if not peers:
            print(f"no peers configured in {config.peers_file}", file=sys.stderr)
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_peers_sync(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        if args.peer:
            results = [await node.federation.sync(args.peer)]
        else:
            with progress_line(config.peers_file.name) as progress:  # at a terminal only
                results = await node.federation.sync_all(progress)
        for result in results:
            detail = f"\t{result.code}: {result.detail}" if result.code else ""
            print(f"{result.peer_id}\t{result.outcome}\tseq {result.seq}{detail}")
        return 0 if all(r.outcome not in ("failed", "rejected") for r in results) else 1

    return asyncio.run(_with_node(config, work))


def cmd_peers_check(args: argparse.Namespace, config: NodeConfig) -> int:
    from registry_node.core.peers import parse_peers

    path = config.peers_file
    if not path.exists():
        print(f"{path}: no such file; the node runs with no peers")
        return 0
    doc = _load_doc(str(path))
    peers = parse_peers(doc, str(path), allow_http_loopback=config.federation.allow_http_loopback)
    print(f"{path}: {len(peers)} peers, valid")
    return 0


def register(sub: Any) -> None:
    peers = sub.add_parser("peers", help="neighbouring states' lists").add_subparsers(
        dest="peers_command", required=True, metavar="ACTION"
    )
    p = peers.add_parser("status", help="each peer's last sync, list and state")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_peers_status)
    p = peers.add_parser("sync", help="fetch and verify peers' lists now")
    p.add_argument("--peer", help="only this peer (its id)")
    p.set_defaults(func=cmd_peers_sync)
    p = peers.add_parser("check", help="validate peers.yaml without starting the node")
    p.set_defaults(func=cmd_peers_check)
