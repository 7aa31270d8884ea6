"""What every command shares: the program name, the actor, output, and opening the node."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.errors import InvalidInput
from registry_node.core.timeutil import describe_duration, parse_rfc3339
from registry_node.core.yamlsafe import load_yaml
from registry_node.services import datafolder
from registry_node.services.clock import clock_from_env
from registry_node.services.node import Node
from registry_node.services.progress import READING, Progress, ignore

PROG = "registry-node"
#: A date alone, where a command also takes one for its midnight UTC
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

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
        f"{describe_duration(config.publish_debounce)}, or now with `{PROG} publish`"
    )


def _load_doc(path: str, progress: Progress = ignore) -> Any:
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from exc
    return load_yaml(raw, path, lambda done, total: progress(READING, done, total))


def _instant(text: str, flag: str) -> datetime:
    """An RFC 3339 date-time, or a date (``2022-05-01``: its midnight UTC), given as ``flag``."""
    value = f"{text}T00:00:00Z" if _DATE.fullmatch(text) else text
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise InvalidInput(
            f"{flag}: {exc}",
            field=flag.lstrip("-"),
            hint="give an RFC 3339 date-time such as 2022-05-01T00:00:00Z, or a date (2022-05-01)",
        ) from None


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _whole(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)
