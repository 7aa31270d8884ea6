"""receipt verify: check a signed receipt (docs/protocol.md section 11.3) with the keys of the
local node, of a node's /jwks.json, or of the signer's list in a saved bundle."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from registry_node.cli._common import PROG, _print_json, _with_node
from registry_node.config import DEFAULT_CONFIG_FILE, NodeConfig
from registry_node.core import receipts, strictjson
from registry_node.core.errors import ConfigError, InvalidInput, Rejected
from registry_node.core.strictjson import StrictJSONError
from registry_node.core.timeutil import format_rfc3339, from_numeric_date, to_numeric_date
from registry_node.services.clock import clock_from_env
from registry_node.services.node import Node

#: /jwks.json is small; refuse anything much larger.
MAX_JWKS_BYTES = 1 << 20


def _read_token(name: str) -> str:
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        return raw.decode("ascii").strip()
    except OSError as exc:
        raise InvalidInput(f"{name}: {exc.strerror or exc}", field="file") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: not a compact JWS (ASCII text)", field="file") from None


async def _fetch_jwks(url: str) -> Any:
    """GET <url>/jwks.json: the only request the command makes."""
    import aiohttp

    where = url.rstrip("/") + "/jwks.json"
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            async with http.get(where, headers={"Accept": "application/json"}) as resp:
                body = await resp.content.read(MAX_JWKS_BYTES + 1)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InvalidInput(f"{where}: no answer from the node: {exc}", field="node") from None
    if status != 200:
        raise InvalidInput(f"{where}: answered {status}", field="node")
    if len(body) > MAX_JWKS_BYTES:
        raise InvalidInput(f"{where}: larger than {MAX_JWKS_BYTES} bytes", field="node")
    try:
        return strictjson.loads(body)
    except StrictJSONError as exc:
        raise InvalidInput(f"{where}: not JSON: {exc}", field="node") from None


def _issuer_of(token: str, name: str) -> str:
    """The unverified ``iss`` of a token: which list of a bundle holds its keys."""
    from registry_node.core.model import b64url_decode

    try:
        claims = strictjson.loads(b64url_decode(token.split(".")[1]))
    except (IndexError, ValueError, StrictJSONError):
        raise InvalidInput(f"{name}: not a compact JWS with a JSON payload", field="file") from None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(iss, str):
        raise InvalidInput(f"{name}: iss: missing or not a string", field="iss")
    return iss


def _keys(args: argparse.Namespace, config: NodeConfig, token: str) -> tuple[Any, str]:
    """The JWK Set to check with, and where it came from."""
    if args.node:
        return asyncio.run(_fetch_jwks(args.node)), f"{args.node.rstrip('/')}/jwks.json"
    if args.bundle:
        from registry_node.services import bundle

        iss = _issuer_of(token, args.file)
        jwks = bundle.keys_of(
            Path(args.bundle), iss, clock_from_env(), config.federation.max_list_bytes
        )
        return {"keys": jwks}, f"the list of {iss} in {args.bundle}"

    if config.source is None:
        raise ConfigError(
            f"{args.file}: no keys to check it with: no {DEFAULT_CONFIG_FILE} in {Path.cwd()}, "
            "and neither --node nor --bundle given",
            code="verify_needs_lists",
        )

    async def work(node: Node) -> Any:
        return await node.publisher.jwks()

    return (
        asyncio.run(_with_node(config, work, read_only=True)),
        f"the keys of {config.node_id}",
    )


def cmd_receipt_verify(args: argparse.Namespace, config: NodeConfig) -> int:
    token = _read_token(args.file)
    jwks, source = _keys(args, config, token)
    trusted = receipts.trusted_keys(jwks, source)
    try:
        receipt = receipts.check(token, trusted)
    except Rejected as exc:
        print(f"{PROG}: {args.file}: not verified: {exc.code}: {exc.detail}", file=sys.stderr)
        return 1
    claims = receipt.claims
    if args.json:
        _print_json({"header": receipt.header, "claims": claims})
        return 0
    now = to_numeric_date(clock_from_env()())
    answer = claims["answer"] if isinstance(claims["answer"], dict) else {}

    def when(value: Any) -> str:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return format_rfc3339(from_numeric_date(value)) if ok else repr(value)

    print(f"verified: signed by {receipt.header['kid']} ({receipt.header['alg']}), from {source}")
    print(f"  iss      {claims['iss']}")
    print(f"  sub      {claims['sub']}")
    print(f"  iat      {when(claims['iat'])}")
    print(f"  exp      {when(claims['exp'])}")
    print(f"  outcome  {answer.get('outcome')} ({answer.get('reason')}): {answer.get('detail')}")
    if isinstance(claims["exp"], int) and claims["exp"] <= now:
        print(
            f"note: the answer expired at {when(claims['exp'])}: the receipt shows what the node "
            "answered at iat, not what holds now"
        )
    return 0


def register(sub: Any) -> None:
    group = sub.add_parser("receipt", help="signed receipts of answers").add_subparsers(
        dest="receipt_command", required=True, metavar="ACTION"
    )
    p = group.add_parser(
        "verify",
        help="check a receipt (a node's answer as a JWS) with the signing node's keys",
        description="Without --node or --bundle, the keys of the node node.yaml configures.",
    )
    p.add_argument("file", help="the receipt (a compact JWS); - for standard input")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--node", metavar="URL", help="with the /jwks.json of the node at URL")
    where.add_argument(
        "--bundle", metavar="DIR", help="offline, with the signer's list in a saved bundle"
    )
    p.add_argument("--json", action="store_true", help="print the header and claims as JSON")
    p.set_defaults(func=cmd_receipt_verify, access="none")  # the node's keys: read-only
