"""keys and token: the node's signing keys and admin API tokens."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from registry_node.cli._common import (
    PROG,
    _actor,
    _with_node,
)
from registry_node.config import NodeConfig
from registry_node.core.timeutil import format_rfc3339
from registry_node.services.node import Node


def cmd_keys_list(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        for record in await node.publisher.keys():
            ready = node.publisher.rotation_ready_at(record) if record.state == "next" else None
            extra = f"\tcan complete at {format_rfc3339(ready)}" if ready else ""
            print(f"{record.kid}\t{record.alg}\t{record.state}\tcreated {record.created_at}{extra}")
        return 0

    return asyncio.run(_with_node(config, work, read_only=True))


def cmd_keys_rotate(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        if args.complete:
            record, version = await node.publisher.complete_rotation(_actor())
            print(f"key {record.kid} now signs; seq {version.seq} is signed by old and new keys")
        else:
            record, version = await node.publisher.rotate(args.alg, _actor())
            ready = node.publisher.rotation_ready_at(record)
            when = format_rfc3339(ready) if ready else "?"
            print(
                f"announced next key {record.kid} ({record.alg}) in seq {version.seq}; "
                f"complete with `{PROG} keys rotate --complete` after {when}"
            )
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_token_create(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        token_id, token = await node.tokens.create(args.name, _actor())
        print(token)
        print(f"token {token_id} ({args.name}): shown once, only its hash is kept", file=sys.stderr)
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_token_list(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        for tok in await node.tokens.list():
            state = f"revoked {tok['revoked_at']}" if tok["revoked_at"] else "active"
            print(f"{tok['id']}\t{tok['name']}\tcreated {tok['created_at']}\t{state}")
        return 0

    return asyncio.run(_with_node(config, work, read_only=True))


def cmd_token_revoke(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        await node.tokens.revoke(args.token_id, _actor())
        print(f"token {args.token_id} revoked")
        return 0

    return asyncio.run(_with_node(config, work))


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="signing keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    p = keys.add_parser("list", help="list signing keys and their state")
    p.set_defaults(func=cmd_keys_list, access="read")
    p = keys.add_parser("rotate", help="announce a successor key, or --complete the rotation")
    p.add_argument(
        "--alg", choices=["Ed25519", "ES256"], help="the new key's algorithm (default: signing_alg)"
    )
    p.add_argument(
        "--complete",
        action="store_true",
        help="make the announced key the signing key (after one list validity)",
    )
    p.set_defaults(func=cmd_keys_rotate, access="write")

    token = sub.add_parser("token", help="admin API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    p = token.add_parser("create", help="create a token; it is printed once")
    p.add_argument("name", help="who or what the token is for, e.g. ops-team")
    p.set_defaults(func=cmd_token_create, access="write")
    p = token.add_parser("list", help="list tokens")
    p.set_defaults(func=cmd_token_list, access="read")
    p = token.add_parser("revoke", help="revoke a token")
    p.add_argument("token_id", type=int, help="the token's number, as `token list` shows")
    p.set_defaults(func=cmd_token_revoke, access="write")
