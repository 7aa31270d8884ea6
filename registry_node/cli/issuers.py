"""issuers: the state's own issuers."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from registry_node.cli._common import (
    PROG,
    _actor,
    _instant,
    _load_doc,
    _pending_note,
    _positive,
    _print_json,
    _with_node,
)
from registry_node.cli._progress import progress_line
from registry_node.config import NodeConfig
from registry_node.core import schema
from registry_node.core.errors import InvalidInput
from registry_node.core.timeutil import format_rfc3339
from registry_node.services import offline
from registry_node.services.issuers import ImportResult
from registry_node.services.node import Node

STATUSES = ("active", "suspended", "revoked", "retired")
ORG_TYPES = tuple(
    json.loads(schema.schema_bytes("trust-list-v1.json"))["$defs"]["org_type"]["enum"]
)


#: the flags that describe the one authorization ``issuers add`` can give without --file
_AUTH_FLAGS = ("credential_types", "achievement_types", "ctids", "legal_basis", "authorized_in")


def _authorization(args: argparse.Namespace, jurisdiction: str) -> dict[str, Any] | None:
    """The authorization the flags describe, or None when they give none."""
    if not any(getattr(args, name) for name in _AUTH_FLAGS):
        return None
    if not args.credential_types:
        raise InvalidInput(
            "issuers add: --credential-type is needed with --achievement-type, --ctid, "
            "--legal-basis or --authorized-in",
            field="credential_types",
        )
    auth: dict[str, Any] = {
        "credential_types": args.credential_types,
        "jurisdiction": (args.authorized_in or jurisdiction).upper(),
    }
    if args.achievement_types:
        auth["achievement_types"] = args.achievement_types
    if args.ctids:
        auth["ctids"] = args.ctids
    if args.legal_basis:
        auth["legal_basis"] = args.legal_basis
    return auth


def cmd_issuers_add(args: argparse.Namespace, config: NodeConfig) -> int:
    auth = _authorization(args, config.jurisdiction)
    if args.file:
        doc = _load_doc(args.file)
        if not isinstance(doc, dict):
            raise InvalidInput(f"{args.file}: must hold one issuer entry (a mapping)")
        given = [
            f"--{n.replace('_', '-')}"
            for n in ("id", "name", "org_type", "url")
            if getattr(args, n)
        ]
        if given or auth or args.aka or args.keys:
            raise InvalidInput(
                f"issuers add: --file holds the whole entry; describe the issuer there, "
                f"not with {', '.join(given) or 'authorization or key flags'}",
                field="file",
            )
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
        if args.keys:
            doc["keys"] = [
                {"id": f"{args.id}#key-{n}", "type": "Multikey", "publicKeyMultibase": key}
                for n, key in enumerate(args.keys, 1)
            ]
        if auth:
            doc["authorizations"] = [auth]
    if args.active_from:
        if "status_history" in doc:
            raise InvalidInput(
                f"{args.file}: status_history is given: leave out --active-from",
                field="active_from",
            )
        since = _instant(args.active_from, "--active-from")
        doc["status_history"] = [
            {"status": "active", "from": format_rfc3339(since), "reason": "active since"}
        ]

    async def work(node: Node) -> int:
        created = await node.issuers.create(doc, _actor())
        since = created["status_history"][0]["from"]
        print(f"added {created['id']}, active from {since}; {_pending_note(config)}")
        if not created.get("authorizations"):
            print(
                f"{PROG}: warning: {created['id']} has no authorizations, so it is trusted to "
                "issue nothing; give --credential-type (and --achievement-type, "
                "--legal-basis) or an entry with authorizations in --file",
                file=sys.stderr,
            )
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_issuers_list(args: argparse.Namespace, config: NodeConfig) -> int:
    at = _instant(args.at, "--at") if args.at else None

    async def work(node: Node) -> int:
        page = await node.issuers.browse(
            at=at,
            status=args.status,
            org_type=args.org_type,
            text=args.match,
            after=args.after,
            limit=args.limit,
        )
        if args.json:
            _print_json([entry for entry, _ in page.issuers])
        else:
            for entry, status in page.issuers:
                label = status or "not yet in force"
                print(f"{entry['id']}\t{label}\t{entry['org_type']}\t{entry['name']}")
        count = len(page.issuers)
        print(f"{count} issuer{'' if count == 1 else 's'}", file=sys.stderr)
        if page.more:
            last = page.issuers[-1][0]["id"]
            print(
                f"stopped at --limit {args.limit}; more follow: continue with --after {last}",
                file=sys.stderr,
            )
        return 0

    return asyncio.run(_with_node(config, work, read_only=True))


def cmd_issuers_show(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        _print_json(await node.issuers.get(args.issuer_id))
        return 0

    return asyncio.run(_with_node(config, work, read_only=True))


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
        offline.attach_did_documents(doc, Path(args.file).parent, args.file)

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
    p = issuers.add_parser(
        "add",
        help="add an issuer",
        description="Add one issuer, described by flags or by --file. By default it is active "
        "from now; --active-from gives the date it became active, so that credentials it "
        "issued before today check out. The flags give one authorization; several need --file.",
    )
    p.add_argument("--file", help="YAML or JSON file holding one whole issuer entry")
    p.add_argument("--id", help="the issuer's DID or URL, e.g. did:web:nursing.ohio.gov")
    p.add_argument("--name", help="the issuer's display name")
    p.add_argument(
        "--org-type",
        dest="org_type",
        choices=ORG_TYPES,
        metavar="TYPE",
        help=f"kind of organisation: {', '.join(ORG_TYPES)}",
    )
    p.add_argument("--url", help="the issuer's web site (https)")
    p.add_argument("--aka", action="append", help="another id the issuer uses (repeat for several)")
    p.add_argument(
        "--key",
        dest="keys",
        action="append",
        metavar="MULTIBASE",
        help="a public key the issuer signs credentials with, as publicKeyMultibase (z6Mk...); "
        "repeat for several",
    )
    p.add_argument(
        "--credential-type",
        dest="credential_types",
        action="append",
        metavar="TYPE",
        help="a credential type it may issue, e.g. OpenBadgeCredential (repeat for several)",
    )
    p.add_argument(
        "--achievement-type",
        dest="achievement_types",
        action="append",
        metavar="TYPE",
        help="an achievement type it may issue, e.g. License (repeat; default: any)",
    )
    p.add_argument(
        "--ctid",
        dest="ctids",
        action="append",
        metavar="CTID",
        help="a Credential Engine CTID it may issue (repeat for several)",
    )
    p.add_argument("--legal-basis", metavar="TEXT", help="the law or rule that authorises it")
    p.add_argument(
        "--authorized-in",
        metavar="JURISDICTION",
        help="where the authorization holds, an ISO 3166-2 code (default: this node's)",
    )
    p.add_argument(
        "--active-from",
        metavar="WHEN",
        help="when the issuer became active: an RFC 3339 date-time or a date, e.g. "
        "2021-03-01 (default: now)",
    )
    p.set_defaults(func=cmd_issuers_add, access="write")
    p = issuers.add_parser("list", help="list issuers with their status now (or --at)")
    p.add_argument("--json", action="store_true", help="the entries as one JSON array")
    p.add_argument("--at", metavar="WHEN", help="statuses at this instant (date-time or date)")
    p.add_argument(
        "--status", choices=STATUSES, help="only issuers with this status at that instant"
    )
    p.add_argument(
        "--org-type", dest="org_type", choices=ORG_TYPES, metavar="TYPE", help="only this kind"
    )
    p.add_argument("--match", metavar="TEXT", help="only issuers whose id, name or aka has TEXT")
    p.add_argument("--limit", type=_positive, help="at most this many (default: all)")
    p.add_argument("--after", metavar="ID", help="start after this issuer id (the next page)")
    p.set_defaults(func=cmd_issuers_list, access="read")
    p = issuers.add_parser("show", help="show one issuer")
    p.add_argument("issuer_id", help="the issuer's id")
    p.set_defaults(func=cmd_issuers_show, access="read")
    p = issuers.add_parser("set-status", help="change an issuer's status")
    p.add_argument("issuer_id", help="the issuer's id")
    p.add_argument("status", choices=STATUSES, help="the new status")
    p.add_argument("--reason", required=True, help="why, recorded in the status history")
    p.add_argument("--from", dest="effective", help="RFC 3339 time it takes effect (default: now)")
    p.set_defaults(func=cmd_issuers_set_status, access="write")
    p = issuers.add_parser("import", help="import a YAML file of issuers")
    p.add_argument("file", help="an issuer source file, like trust_lists/us-oh.yaml")
    p.set_defaults(func=cmd_issuers_import, access="write")
