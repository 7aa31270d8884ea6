"""verify and bundle: checking credentials, online or from a saved bundle."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from registry_node.cli._common import (
    PROG,
    _print_json,
    _with_node,
)
from registry_node.config import DEFAULT_CONFIG_FILE, NodeConfig
from registry_node.core import strictjson
from registry_node.core.credentials.contexts import PinnedContexts
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.strictjson import StrictJSONError
from registry_node.services import offline
from registry_node.services.clock import clock_from_env
from registry_node.services.node import Node


def _read_credential(name: str) -> dict[str, Any] | str:
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        text = raw.decode("utf-8").strip()
    except OSError as exc:
        raise InvalidInput(f"{name}: {exc.strerror or exc}", field="file") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: not UTF-8 text", field="file") from None
    if not text.startswith(("{", '"', "[")):
        return text  # a compact JWS
    try:
        doc = strictjson.loads(text)
    except StrictJSONError as exc:
        raise InvalidInput(f"{name}: not JSON: {exc}", field="file") from None
    if not isinstance(doc, dict | str):
        raise InvalidInput(f"{name}: a credential is a JSON object or a JWS", field="file")
    return doc


async def _verify_remote(url: str, credential: dict[str, Any] | str, name: str) -> Any:
    import aiohttp

    body = json.dumps(credential).encode()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            async with http.post(
                url.rstrip("/") + "/v1/verify",
                data=body,
                headers={"Content-Type": "application/json"},
            ) as resp:
                doc = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise InvalidInput(f"{url}: no answer from the node: {exc}", field="node") from None
    if resp.status != 200:
        raise InvalidInput(f"{name}: {doc.get('detail', resp.status)}", code=doc.get("code"))
    return doc


MARKS = {"passed": "ok  ", "failed": "FAIL", "indeterminate": "??  "}


def _print_report(node: dict[str, Any], indent: str = "") -> None:
    types = ", ".join(node["types"])
    print(f"{indent}{node['verdict'].upper()}  {node['issuer']}  [{types}]")
    for check in node["checks"]:
        mark = MARKS.get(check.get("outcome", ""), "ok  " if check["passed"] else "FAIL")
        print(f"{indent}  {mark} {check['name']:<20} {check['code']:<24} {check['detail']}")
    for i, child in enumerate(node["children"], 1):
        print(f"{indent}  {child.get('role', 'inner')} credential {i}:")
        _print_report(child, indent + "    ")


def _context_pairs(values: list[str]) -> dict[str, Path]:
    """``--context URL=FILE`` values, URL -> file (split at the last ``=``: URLs may hold one)."""
    pairs: dict[str, Path] = {}
    for value in values:
        url, sep, file = value.rpartition("=")
        if not sep or not url or not file:
            raise offline.refused_context(f"--context {value}: give URL=FILE", "context")
        pairs[url] = Path(file)
    return pairs


def cmd_verify(args: argparse.Namespace, config: NodeConfig) -> int:
    from registry_node.core.errors import Malformed
    from registry_node.services import bundle
    from registry_node.services.statuslists import StatusLists
    from registry_node.services.verifier import Verifier

    credential = _read_credential(args.file)
    added = _context_pairs(args.context or [])
    if added and args.node:
        raise InvalidInput(
            "--context: the node at --node uses its own contexts; give --context with "
            "--bundle or against this node's database",
            field="context",
        )
    try:
        if args.node:
            result = asyncio.run(_verify_remote(args.node, credential, args.file))
        elif args.bundle:
            clock = clock_from_env()
            fed = config.federation
            # The operator's contexts and DID documents of node.yaml (when there is one), as
            # the node itself checks with them, plus those given with --context.
            jsonld_contexts = offline.contexts_from_files(offline.load_contexts(config), added)
            did_documents = offline.load_did_documents(config)
            loaded = bundle.load(Path(args.bundle), clock, fed.clock_skew, fed.max_list_bytes)
            for refusal in loaded.refused:
                print(f"{PROG}: warning: list not used: {refusal}", file=sys.stderr)
            status = StatusLists(
                clock, max_age=config.status_list_max_age, bundled=loaded.status_lists
            )
            verifier = Verifier(
                loaded.index,
                fed.clock_skew,
                status_lists=status,
                jsonld_contexts=jsonld_contexts,
                did_documents=did_documents,
            )
            try:
                result = verifier.verify_now(credential)
            finally:
                asyncio.run(verifier.close())
        else:
            if config.source is None:
                raise ConfigError(
                    f"{args.file}: nothing to check it against: no {DEFAULT_CONFIG_FILE} in "
                    f"{Path.cwd()}, and neither --node nor --bundle given",
                    code="verify_needs_lists",
                )

            async def work(node: Node) -> Any:
                if added:
                    node.verifier.jsonld_contexts = offline.contexts_from_files(
                        node.verifier.jsonld_contexts or PinnedContexts.packaged(), added
                    )
                return node.verifier.verify_now(credential)

            result = asyncio.run(_with_node(config, work, read_only=True))
    except Malformed as exc:
        raise InvalidInput(f"{args.file}: {exc.detail}", code=exc.code) from None
    if args.json:
        _print_json(result)
    else:
        print(f"verdict: {result['verdict']} (checked {result['verified_at']})")
        if result.get("summary"):
            print(result["summary"])
        _print_report(result["credential"])
    return 0 if result["verdict"] == "valid" else 1


def cmd_bundle_save(args: argparse.Namespace, config: NodeConfig) -> int:
    from registry_node.services import bundle

    async def work(node: Node) -> int:
        doc = await bundle.save(node, Path(args.dir))
        for item in doc["lists"]:
            print(f"{item['file']}\t{item['id']}\t{item['jurisdiction']}")
        print(f"{len(doc['lists'])} lists written to {args.dir}", file=sys.stderr)
        return 0

    return asyncio.run(_with_node(config, work, read_only=True))


def register(sub: Any) -> None:
    p = sub.add_parser("verify", help="check a credential: proof, issuer, dates and trust")
    p.add_argument("file", help="the credential (JSON, or a compact JWS); - for standard input")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--node", metavar="URL", help="ask a running node's POST /v1/verify")
    where.add_argument("--bundle", metavar="DIR", help="fully offline, from a saved bundle")
    p.add_argument(
        "--context",
        action="append",
        metavar="URL=FILE",
        help="also pin the JSON-LD context in FILE for URL (offline checks; repeatable)",
    )
    p.add_argument("--json", action="store_true", help="the whole verification result as JSON")
    p.set_defaults(func=cmd_verify, access="none")

    bundle = sub.add_parser("bundle", help="signed lists for offline checks").add_subparsers(
        dest="bundle_command", required=True, metavar="ACTION"
    )
    p = bundle.add_parser("save", help="write this node's list and its peers' lists to DIR")
    p.add_argument("dir", help="folder to write the lists and their index to")
    p.set_defaults(func=cmd_bundle_save, access="read")
