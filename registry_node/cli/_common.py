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
from registry_node.services.clock import clock_from_env
from registry_node.services.node import Node
from registry_node.services.progress import READING, Progress, ignore

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


def _load_doc(path: str, progress: Progress = ignore) -> Any:
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from exc
    return load_yaml(raw, path, lambda done, total: progress(READING, done, total))
