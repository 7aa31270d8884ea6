"""What every command shares: the program name, the actor, output, and opening the node."""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.errors import InvalidInput
from registry_node.core.yamlsafe import load_yaml
from registry_node.services import datafolder
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


#: What a command needs (``set_defaults(access=...)``; docs/adr/0014): ``none`` (init, demo,
#: peers check, verify with --node or --bundle), ``read`` (opens an existing database read-only
#: and never creates a file), ``write`` (changes the registry: may create it on a first start)
#: and ``serve``. Every command but ``none`` needs a configuration file; a command that
#: declares nothing is treated as ``write``.
ACCESS = ("none", "read", "write", "serve")


async def _with_node(
    config: NodeConfig, work: Callable[[Node], Awaitable[int]], *, read_only: bool = False
) -> int:
    node = await Node.open(
        config,
        clock_from_env(),
        import_source=False,
        publish=False,
        judge_peers=False,
        read_only=read_only,
    )
    try:
        return await work(node)
    finally:
        await node.close()


def _pending_note(config: NodeConfig) -> str:
    if not datafolder.serving(config.data_dir):
        return (
            f"change saved; no node is serving {config.data_dir} now: it is published when "
            f"the node starts, or now with `{PROG} publish`"
        )
    return (
        "change saved; it is published by the running node within "
        f"{config.publish_debounce}, or now with `{PROG} publish`"
    )


def _load_doc(path: str) -> Any:
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from exc
    return load_yaml(raw, path)
