"""audit: the audit log."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from registry_node.cli._common import _instant, _positive, _whole, _with_node
from registry_node.config import NodeConfig
from registry_node.services.node import Node


def cmd_audit(args: argparse.Namespace, config: NodeConfig) -> int:
    since = _instant(args.since, "--since") if args.since else None
    until = _instant(args.until, "--until") if args.until else None

    async def work(node: Node) -> int:
        page = await node.audit.search(
            after=args.after,
            limit=args.limit,
            since=since,
            until=until,
            actor=args.actor,
            target=args.target,
        )
        for record in page.records:
            print(json.dumps(record.as_json(), ensure_ascii=False))
        if page.more:
            print(
                f"stopped at --limit {args.limit}; more records follow: "
                f"continue with --after {page.next_after}",
                file=sys.stderr,
            )
        return 0

    return asyncio.run(_with_node(config, work, read_only=True))


def register(sub: Any) -> None:
    p = sub.add_parser(
        "audit",
        help="print the audit log, one JSON object a line",
        description="Print audit records oldest first, one JSON object a line. When more "
        "records match than --limit, a note on standard error says how to continue.",
    )
    p.add_argument(
        "--after", type=_whole, default=0, metavar="ID", help="only records after this id"
    )
    p.add_argument(
        "--limit", type=_positive, default=100, help="at most this many records (default 100)"
    )
    p.add_argument("--since", metavar="WHEN", help="only records at or after (date-time or date)")
    p.add_argument("--until", metavar="WHEN", help="only records before (date-time or date)")
    p.add_argument("--actor", help="only records by this actor, e.g. cli:alice or token:ops-team")
    p.add_argument(
        "--issuer",
        "--target",
        dest="target",
        metavar="ID",
        help="only records about this issuer (or peer, or token) id",
    )
    p.set_defaults(func=cmd_audit, access="read")
