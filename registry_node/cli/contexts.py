"""contexts add: the node.yaml entry that pins an operator's JSON-LD context (docs/adr/0020).

The command reads the file, checks that it is a JSON-LD context document the node may pin for
the URL, computes its sha256 and prints the entry to paste under ``credentials.contexts``. It
never edits node.yaml: the operator decides what the node trusts, and the node checks the file
against the hash at every start.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.credentials.contexts import ContextRefused, PinnedContexts, sha256_hex
from registry_node.core.yamlsafe import dump_yaml
from registry_node.services import offline


def _file_entry(path: Path, config: NodeConfig) -> str:
    """``path`` as node.yaml names it: relative to node.yaml's folder where it lies below it
    (the working directory without a node.yaml), else absolute."""
    base = config.source.parent if config.source else Path.cwd()
    full = path.resolve()
    try:
        return full.relative_to(base.resolve()).as_posix()
    except ValueError:
        return full.as_posix()


def cmd_contexts_add(args: argparse.Namespace, config: NodeConfig) -> int:
    path = Path(args.file)
    try:
        data = offline.read_file(path)
    except OSError as exc:
        raise offline.refused_context(f"{args.file}: {exc.strerror or exc}", "file") from None
    packaged = PinnedContexts.packaged()
    try:
        packaged.with_operator({args.url: (data, None)})
    except ContextRefused as exc:
        where = args.file if exc.field == "file" else args.url
        raise offline.refused_context(f"{where}: {exc.detail}", exc.field) from None
    if args.url in packaged:
        raise offline.refused_context(
            f"{args.url}: the node ships this context already; no entry is needed", "url"
        )
    entry = {"url": args.url, "file": _file_entry(path, config), "sha256": sha256_hex(data)}
    print("# paste under credentials.contexts in node.yaml (then restart the node):")
    print(dump_yaml([entry]), end="")
    return 0


def register(sub: Any) -> None:
    group = sub.add_parser(
        "contexts", help="JSON-LD contexts the node pins for checking credentials"
    ).add_subparsers(dest="contexts_command", required=True, metavar="ACTION")
    p = group.add_parser(
        "add",
        help="print the node.yaml entry that pins the context in FILE for URL",
        description="Checks FILE and prints the entry; node.yaml is not changed.",
    )
    p.add_argument("url", help="the context's URL, exactly as credentials name it")
    p.add_argument("file", help="the context document (JSON); keep it beside node.yaml")
    p.set_defaults(func=cmd_contexts_add, access="none")


__all__ = ["register"]
