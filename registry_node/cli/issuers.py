"""issuers: the state's own issuers."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from registry_node.cli._common import (
    _actor,
    _load_doc,
    _pending_note,
    _print_json,
    _with_node,
)
from registry_node.cli._progress import progress_line
from registry_node.config import NodeConfig
from registry_node.core.errors import InvalidInput
from registry_node.core.trust import listing
from registry_node.services.issuers import ImportResult
from registry_node.services.node import Node


def cmd_issuers_add(args: argparse.Namespace, config: NodeConfig) -> int:
    if args.file:
        doc = _load_doc(args.file)
        if not isinstance(doc, dict):
            raise InvalidInput(f"{args.file}: must hold one issuer entry (a mapping)")
    else:
        missing = [
            f"--{n.replace('_', '-')}" for n in ("id", "name", "org_type") if not getattr(args, n)
        ]
        if missing:
            raise InvalidInput(f"issuers add: give --file or {', '.join(missing)}")
        doc = {"id": args.id, "name": args.name, "org_type": args.org_type}
        if args.url:
            doc["url"] = args.url
        if args.aka:
            doc["aka"] = args.aka

    async def work(node: Node) -> int:
        created = await node.issuers.create(doc, _actor())
        print(f"added {created['id']}; {_pending_note(config)}")
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_issuers_list(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        issuers = await node.issuers.all()
        if args.json:
            _print_json(issuers)
            return 0
        now = node.clock().timestamp()
        for entry in issuers:
            status = listing(entry).status_at(now)  # the one rule: core/trust.py
            label = status.status if status else "not yet in force"
            print(f"{entry['id']}\t{label}\t{entry['org_type']}\t{entry['name']}")
        print(f"{len(issuers)} issuers", file=sys.stderr)
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_issuers_show(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        _print_json(await node.issuers.get(args.issuer_id))
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_issuers_set_status(args: argparse.Namespace, config: NodeConfig) -> int:
    change: dict[str, Any] = {"status": args.status, "reason": args.reason}
    if args.effective:
        change["from"] = args.effective

    async def work(node: Node) -> int:
        await node.issuers.set_status(args.issuer_id, change, _actor())
        print(f"{args.issuer_id}: {args.status}; {_pending_note(config)}")
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_issuers_import(args: argparse.Namespace, config: NodeConfig) -> int:
    results: list[ImportResult] = []
    with progress_line(args.file) as progress:  # drawn at a terminal only
        doc = _load_doc(args.file, progress)  # before the database is opened

        async def work(node: Node) -> int:
            entries = node.issuers.parse_source(doc, args.file, progress)
            results.append(await node.issuers.import_entries(entries, _actor(), progress))
            return 0

        asyncio.run(_with_node(config, work))
    [result] = results
    print(
        f"{args.file}: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged"
    )
    return 0


def register(sub: Any) -> None:
    issuers = sub.add_parser("issuers", help="manage the state's issuers").add_subparsers(
        dest="issuers_command", required=True, metavar="ACTION"
    )
    p = issuers.add_parser("add", help="add an issuer")
    p.add_argument("--file", help="YAML or JSON file holding one issuer entry")
    p.add_argument("--id")
    p.add_argument("--name")
    p.add_argument("--org-type", dest="org_type")
    p.add_argument("--url")
    p.add_argument("--aka", action="append")
    p.set_defaults(func=cmd_issuers_add)
    p = issuers.add_parser("list", help="list issuers with their status now")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_issuers_list)
    p = issuers.add_parser("show", help="show one issuer")
    p.add_argument("issuer_id")
    p.set_defaults(func=cmd_issuers_show)
    p = issuers.add_parser("set-status", help="change an issuer's status")
    p.add_argument("issuer_id")
    p.add_argument("status", choices=["active", "suspended", "revoked", "retired"])
    p.add_argument("--reason", required=True)
    p.add_argument("--from", dest="effective", help="RFC 3339 time it takes effect (default now)")
    p.set_defaults(func=cmd_issuers_set_status)
    p = issuers.add_parser("import", help="import a YAML file of issuers")
    p.add_argument("file")
    p.set_defaults(func=cmd_issuers_import)
