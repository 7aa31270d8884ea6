"""The ``registry-node`` command: run the node and administer it from the shell.

Commands open the same database as the running node, through the same services, so a state can
run the node without writing HTTP calls. Errors print one line naming the file and field, and
exit with status 2 (bad input or configuration) or 1 (anything else).

Each module of this package owns one group of commands and registers its own arguments.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from registry_node import __version__, process
from registry_node import config as configmod
from registry_node.cli import (
    audit,
    backup,
    contexts,
    issuers,
    keys,
    node,
    peers,
    receipt,
    verify,
)
from registry_node.cli._common import PROG
from registry_node.core.errors import ConfigError, InvalidInput, RegistryError

__all__ = ["PROG", "build_parser", "main"]

GROUPS = (node, issuers, keys, peers, verify, contexts, receipt, audit, backup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "-c", "--config", type=Path, help="node.yaml (default: ./node.yaml when present)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    process.limit_malloc_arenas()  # before the first thread
    args = build_parser().parse_args(argv)
    try:
        access = getattr(args, "access", "write")  # undeclared: the strictest rule
        if access != "none" and configmod.locate(args.config) is None:
            words = [args.command] + [
                value
                for name, value in vars(args).items()
                if name.endswith("_command") and isinstance(value, str)
            ]
            raise ConfigError(
                f"no {configmod.DEFAULT_CONFIG_FILE} in {Path.cwd()}: `{PROG} {' '.join(words)}` "
                "works on a node's registry and needs its configuration",
                code="config_missing",
            )
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
    # the database or a file failed under the command
    except (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
