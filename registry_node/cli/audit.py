"""audit: the audit log."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from registry_node.cli._common import (
    _with_node,
)
from registry_node.config import NodeConfig
from registry_node.services.node import Node


def cmd_audit(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        for record in await node.audit.records(args.after, args.limit):
            print(json.dumps(record.as_json(), ensure_ascii=False))
        return 0

    return asyncio.run(_with_node(config, work, read_only=True))


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="print the audit log, one JSON object a line")
    p.add_argument("--after", type=int, default=0)
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_audit, access="read")
