"""peers: neighbouring states' lists."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from registry_node.cli._common import (
    PROG,
    _load_doc,
    _print_json,
    _with_node,
)
from registry_node.cli._progress import progress_line
from registry_node.config import NodeConfig
from registry_node.core.errors import InvalidInput
from registry_node.services.node import Node


def peer_line(peer: dict[str, Any]) -> str:
    """One tab-separated line of ``peers status`` for a peer's status document: id,
    jurisdiction, state, the held list's seq and expiry ("never synced" before the first),
    its entries, and why it is not used or failing."""
    error = peer["last_error"]
    why = f"\t{error['code']}: {error['detail']}" if error else ""
    withdrawn = peer["withdrawn"]
    if withdrawn:
        epoch = " (new trust epoch)" if withdrawn["new_epoch"] else ""
        why = f"\tnot used{epoch}: {withdrawn['code']}: {withdrawn['detail']}{why}"
    counts = peer["entries"]
    if peer["seq"] is None:
        held = "never synced\tno list held"
    else:
        held = f"seq {peer['seq']}\texpires {peer['exp']}"
    return (
        f"{peer['id']}\t{peer['jurisdiction']}\t{peer['state']}\t{held}"
        f"\t{counts['accepted']} entries"
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

    return asyncio.run(_with_node(config, work, read_only=True))


def cmd_peers_sync(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        if args.peer:
            results = [await node.federation.sync(args.peer)]
        else:
            with progress_line(config.peers_file.name) as progress:  # at a terminal only
                results = await node.federation.sync_all(progress)
        for result in results:
            detail = f"\t{result.code}: {result.detail}" if result.code else ""
            seq = "no list accepted" if result.seq is None else f"seq {result.seq}"
            print(f"{result.peer_id}\t{result.outcome}\t{seq}{detail}")
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


def cmd_peers_invite(args: argparse.Namespace, config: NodeConfig) -> int:
    from registry_node.core.keys import thumbprint
    from registry_node.core.neighbours import invite_entry, render_entry
    from registry_node.core.peers import url_allowed

    async def work(node: Node) -> int:
        current = await node.publisher.keys("current")
        pins = [thumbprint(record.public_jwk) for record in current]
        entry = invite_entry(config.node_id, config.jurisdiction, config.base_url, pins)
        if args.json:
            _print_json(entry)
            return 0
        prints = ", ".join(pins)
        print(
            f"# {config.name} ({config.jurisdiction}): the entry for a neighbour's peers.yaml.\n"
            "# Send it to the neighbour's operator, and give them the thumbprint by a second\n"
            f"# channel (a call, a signed letter) so that they can check it: {prints}\n"
            "# They add it with:\n"
            f"#   {PROG} peers add {config.base_url} --thumbprint={pins[0]}\n"
            "# or paste the lines below under `peers:` in their peers.yaml and reload their node."
        )
        print(render_entry(entry), end="")
        if not url_allowed(entry["url"], allow_http_loopback=False):
            print(
                f"{PROG}: warning: {entry['url']} is plain http: neighbours fetch only https "
                "(except from a loopback address); set public_url in node.yaml",
                file=sys.stderr,
            )
        return 0

    return asyncio.run(_with_node(config, work))


def _confirm(question: str) -> bool:
    print(question, end=" ", flush=True)
    try:
        answer = input()
    except EOFError:
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_peers_add(args: argparse.Namespace, config: NodeConfig) -> int:
    from registry_node.core.neighbours import check_thumbprints, entry_for, render_entry
    from registry_node.core.timeutil import format_rfc3339
    from registry_node.services.clock import clock_from_env
    from registry_node.services.neighbours import (
        fetch_metadata,
        plan_addition,
        write_atomically,
    )

    check_thumbprints(args.thumbprint)
    if args.refresh is not None:
        from registry_node.core.timeutil import parse_duration

        try:
            parse_duration(args.refresh)
        except ValueError as exc:
            raise InvalidInput(f"--refresh: {exc}", field="refresh") from None
    meta = asyncio.run(fetch_metadata(config, args.url))
    entry = entry_for(meta, args.thumbprint, refresh=args.refresh)
    day = format_rfc3339(clock_from_env()())[:10]
    comment = f"{meta.name}: added with `{PROG} peers add` on {day}"
    edit = plan_addition(
        config.peers_file,
        entry,
        comment,
        allow_http_loopback=config.federation.allow_http_loopback,
    )
    print(f"neighbour     {meta.name} ({meta.jurisdiction})")
    print(f"node id       {meta.id}")
    print(f"list          {meta.list_url}")
    for key in meta.keys:
        mark = (
            "pinned (the thumbprint you gave)" if key.thumbprint in entry["keys"] else "not pinned"
        )
        print(f"key           {key.thumbprint}  {key.alg}, {key.state}: {mark}")
    print(f"entry for {config.peers_file}:")
    print(render_entry(entry), end="")
    if not edit.kept:
        print(
            f"{PROG}: note: {config.peers_file} is written afresh from its peers: only its "
            "leading comments are kept",
            file=sys.stderr,
        )
    if not args.yes and not _confirm(f"Add it to {config.peers_file}? [y/N]"):
        print(f"nothing written to {config.peers_file}", file=sys.stderr)
        return 1
    write_atomically(config.peers_file, edit.text)
    print(
        f"wrote {config.peers_file} ({edit.peers} peers). The running node uses it once "
        "reloaded: send it SIGHUP, or POST /admin/v1/peers/reload with an admin token; it then "
        f"fetches {meta.jurisdiction}'s list at once (check with `{PROG} peers status`)"
    )
    return 0


def register(sub: Any) -> None:
    peers = sub.add_parser("peers", help="neighbouring states' lists").add_subparsers(
        dest="peers_command", required=True, metavar="ACTION"
    )
    p = peers.add_parser("status", help="each peer's last sync, list and state")
    p.add_argument(
        "--json", action="store_true", help="the status documents, as GET /v1/peers gives them"
    )
    p.set_defaults(func=cmd_peers_status, access="read")
    p = peers.add_parser("sync", help="fetch and verify peers' lists now")
    p.add_argument("--peer", help="only this peer (its id)")
    p.set_defaults(func=cmd_peers_sync, access="write")
    p = peers.add_parser("check", help="validate peers.yaml without starting the node")
    p.set_defaults(func=cmd_peers_check, access="none")
    p = peers.add_parser(
        "invite",
        help="print the entry a neighbour pastes into its peers.yaml",
        description="Print this node's entry for a neighbour's peers.yaml: its id, "
        "jurisdiction, list URL (from public_url) and the thumbprint of its signing key.",
    )
    p.add_argument("--json", action="store_true", help="the entry as a JSON object")
    p.set_defaults(func=cmd_peers_invite, access="write")
    p = peers.add_parser(
        "add",
        help="add a neighbour to peers.yaml, pinning the key thumbprint it gave you",
        description="Fetch the neighbour's /.well-known/ler-trust-registry, check that it "
        "offers a key with the thumbprint you obtained out of band (from the neighbour's "
        "`peers invite`), show what would be pinned, and after confirmation write the entry "
        "into peers.yaml (atomically, keeping its comments). Reload the node afterwards.",
    )
    p.add_argument("url", help="the neighbour's public URL, e.g. https://registry.indiana.gov")
    p.add_argument(
        "--thumbprint",
        action="append",
        required=True,
        metavar="PIN",
        help="the RFC 7638 thumbprint of the neighbour's signing key, as its operator gave it "
        "(repeat for several keys); write --thumbprint=PIN, since a pin may begin with '-'",
    )
    p.add_argument(
        "--refresh", metavar="DURATION", help="how often to fetch its list, e.g. 5m (default 15m)"
    )
    p.add_argument("--yes", action="store_true", help="write without asking (for scripts)")
    p.set_defaults(func=cmd_peers_add, access="write")
