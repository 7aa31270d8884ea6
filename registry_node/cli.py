"""The ``registry-node`` command: run the node and administer it from the shell.

Commands open the same database as the running node, through the same services, so a state can
run the node without writing HTTP calls. Errors print one line naming the file and field, and
exit with status 2 (bad input or configuration) or 1 (anything else).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from registry_node import __version__
from registry_node import config as configmod
from registry_node.config import NodeConfig
from registry_node.core import strictjson
from registry_node.core.errors import ConfigError, InvalidInput, RegistryError
from registry_node.core.strictjson import StrictJSONError
from registry_node.core.timeutil import format_rfc3339, from_numeric_date
from registry_node.core.trust import listing
from registry_node.core.yamlsafe import load_yaml
from registry_node.services.clock import clock_from_env
from registry_node.services.node import Node

PROG = "registry-node"

log = logging.getLogger("registry_node.cli")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False))


async def _with_node(config: NodeConfig, work: Callable[[Node], Awaitable[int]]) -> int:
    node = await Node.open(
        config, clock_from_env(), import_source=False, publish=False, judge_peers=False
    )
    try:
        return await work(node)
    finally:
        await node.close()


def _pending_note(config: NodeConfig) -> str:
    return (
        "change saved; it is published by the running node within "
        f"{config.publish_debounce}, or now with `{PROG} publish`"
    )


# -- serve / init --------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, config: NodeConfig) -> int:
    from aiohttp import web

    from registry_node.http.app import create_app

    host = args.host or config.host
    port = args.port if args.port is not None else config.port

    def listening(message: object) -> None:
        log.info("listening", extra={"url": f"http://{host}:{port}", "node_id": config.node_id})

    try:
        web.run_app(
            create_app(config, clock_from_env()),
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
    return 0


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


# -- issuers -------------------------------------------------------------------------------


def _load_doc(path: str) -> Any:
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from exc
    return load_yaml(raw, path)


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
    doc = _load_doc(args.file)

    async def work(node: Node) -> int:
        entries = node.issuers.parse_source(doc, args.file)
        result = await node.issuers.import_entries(entries, _actor())
        print(
            f"{args.file}: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )
        return 0

    return asyncio.run(_with_node(config, work))


# -- publish / keys / tokens / audit -------------------------------------------------------


def cmd_publish(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        version = await node.publisher.publish("requested from the command line", _actor())
        exp = format_rfc3339(from_numeric_date(version.exp))
        print(f"published seq {version.seq} digest {version.digest} valid until {exp}")
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_keys_list(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        for record in await node.publisher.keys():
            ready = node.publisher.rotation_ready_at(record) if record.state == "next" else None
            extra = f"\tcan complete at {format_rfc3339(ready)}" if ready else ""
            print(f"{record.kid}\t{record.alg}\t{record.state}\tcreated {record.created_at}{extra}")
        return 0

    return asyncio.run(_with_node(config, work))


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

    return asyncio.run(_with_node(config, work))


def cmd_token_revoke(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        await node.tokens.revoke(args.token_id, _actor())
        print(f"token {args.token_id} revoked")
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_audit(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        for record in await node.audit.records(args.after, args.limit):
            print(json.dumps(record.as_json(), ensure_ascii=False))
        return 0

    return asyncio.run(_with_node(config, work))


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
            results = await node.federation.sync_all()
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


# -- parser --------------------------------------------------------------------------------


# -- credentials ---------------------------------------------------------------------------


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


def _print_report(node: dict[str, Any], indent: str = "") -> None:
    types = ", ".join(node["types"])
    print(f"{indent}{node['verdict'].upper()}  {node['issuer']}  [{types}]")
    for check in node["checks"]:
        mark = "ok  " if check["passed"] else "FAIL"
        print(f"{indent}  {mark} {check['name']:<20} {check['code']:<24} {check['detail']}")
    for i, child in enumerate(node["children"], 1):
        print(f"{indent}  inner credential {i}:")
        _print_report(child, indent + "    ")


def cmd_verify(args: argparse.Namespace, config: NodeConfig) -> int:
    from registry_node.core.errors import Malformed
    from registry_node.services import bundle
    from registry_node.services.verifier import Verifier

    credential = _read_credential(args.file)
    try:
        if args.node:
            result = asyncio.run(_verify_remote(args.node, credential, args.file))
        elif args.bundle:
            clock = clock_from_env()
            fed = config.federation
            loaded = bundle.load(Path(args.bundle), clock, fed.clock_skew, fed.max_list_bytes)
            for refusal in loaded.refused:
                print(f"{PROG}: warning: list not used: {refusal}", file=sys.stderr)
            verifier = Verifier(loaded.index, fed.clock_skew)
            try:
                result = verifier.verify_now(credential)
            finally:
                asyncio.run(verifier.close())
        else:

            async def work(node: Node) -> Any:
                return node.verifier.verify_now(credential)

            result = asyncio.run(_with_node(config, work))
    except Malformed as exc:
        raise InvalidInput(f"{args.file}: {exc.detail}", code=exc.code) from None
    if args.json:
        _print_json(result)
    else:
        print(f"verdict: {result['verdict']} (checked {result['verified_at']})")
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

    return asyncio.run(_with_node(config, work))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "-c", "--config", type=Path, help="node.yaml (default: ./node.yaml when present)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the node")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("init", help="write a node.yaml for a new state")
    p.add_argument("--node-id", required=True, help="this registry's id, an https URL")
    p.add_argument("--jurisdiction", required=True, help="ISO 3166-2 code, e.g. US-OH")
    p.add_argument("--name", required=True, help="the registry's display name")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--public-url", help="where verifiers and peers reach the node, e.g. behind a proxy"
    )
    p.add_argument("--data-dir", default="data", help="database and keys (relative: to node.yaml)")
    p.add_argument("--output", default="node.yaml")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("demo", help="run Ohio, Indiana and Michigan nodes on loopback, federated")
    p.add_argument("--dir", default="demo-data", help="where the demo nodes keep their state")
    p.add_argument("--trust-lists", default="trust_lists", help="folder of example lists")
    p.set_defaults(func=cmd_demo)

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

    p = sub.add_parser("publish", help="sign and publish a new list version now")
    p.set_defaults(func=cmd_publish)

    keys = sub.add_parser("keys", help="signing keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    p = keys.add_parser("list", help="list signing keys and their state")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("rotate", help="announce a successor key, or --complete the rotation")
    p.add_argument("--alg", choices=["Ed25519", "ES256"])
    p.add_argument("--complete", action="store_true")
    p.set_defaults(func=cmd_keys_rotate)

    token = sub.add_parser("token", help="admin API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    p = token.add_parser("create", help="create a token; it is printed once")
    p.add_argument("name")
    p.set_defaults(func=cmd_token_create)
    p = token.add_parser("list", help="list tokens")
    p.set_defaults(func=cmd_token_list)
    p = token.add_parser("revoke", help="revoke a token")
    p.add_argument("token_id", type=int)
    p.set_defaults(func=cmd_token_revoke)

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

    p = sub.add_parser("verify", help="check a credential: proof, issuer, dates and trust")
    p.add_argument("file", help="the credential (JSON, or a compact JWS); - for standard input")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--node", metavar="URL", help="ask a running node's POST /v1/verify")
    where.add_argument("--bundle", metavar="DIR", help="fully offline, from a saved bundle")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)

    bundle = sub.add_parser("bundle", help="signed lists for offline checks").add_subparsers(
        dest="bundle_command", required=True, metavar="ACTION"
    )
    p = bundle.add_parser("save", help="write this node's list and its peers' lists to DIR")
    p.add_argument("dir")
    p.set_defaults(func=cmd_bundle_save)

    p = sub.add_parser("audit", help="print the audit log, one JSON object a line")
    p.add_argument("--after", type=int, default=0)
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = configmod.load(args.config)
        from registry_node import logs

        # Administrative commands speak through their output; only serve logs at INFO.
        level = config.log_level if args.command in ("serve", "demo") else "WARNING"
        logs.setup(config.log_format, level)
        result: int = args.func(args, config)
        return result
    except (InvalidInput, ConfigError) as exc:
        print(f"{PROG}: error: {exc.detail}", file=sys.stderr)
        if exc.hint:
            print(f"{PROG}: hint: {exc.hint}", file=sys.stderr)
        return 2
    except RegistryError as exc:
        print(f"{PROG}: error: {exc.diagnostics()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
