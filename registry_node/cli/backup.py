"""backup, restore and compact: the node's data kept safe, put back, and kept small."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from registry_node.cli._common import PROG, _actor, _print_json, _with_node
from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.services import backup, datafolder
from registry_node.services.clock import clock_from_env
from registry_node.services.node import Node


def cmd_backup(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        manifest = await node.backup(Path(args.dir))
        print(
            f"backed up seq {manifest['seq']} and {len(manifest['files'])} files to {args.dir} "
            "(it holds the signing keys: keep it as safe as they are)"
        )
        return 0

    return asyncio.run(_with_node(config, work))


def cmd_restore(args: argparse.Namespace, config: NodeConfig) -> int:
    if args.confirm:
        if args.dir is not None:
            raise InvalidInput("restore --confirm takes no DIR", field="DIR")

        async def confirm(node: Node) -> int:
            if await node.recovery.confirm(_actor()):
                print("restore confirmed: the node publishes again from the restored database")
            else:
                print("no restore is waiting for confirmation")
            return 0

        return asyncio.run(_with_node(config, confirm))
    if args.dir is None:
        raise InvalidInput("restore: give the backup folder DIR (or --confirm)", field="DIR")
    if datafolder.serving(config.data_dir):
        raise ConfigError(
            f"data_dir: {config.data_dir}: a registry-node serve is running on this data "
            "folder: stop it before restoring",
            code="data_dir_locked",
            field="data_dir",
        )
    done = backup.restore(config, Path(args.dir), clock_from_env(), _actor())
    mark = done["mark"]
    print(f"restored seq {mark['seq']} from {args.dir} into {config.data_dir}")
    if done["replaced"]:
        print(f"the database it replaced is kept as {done['replaced']}")
    if done["config_left"]:
        print(
            f"the {len(done['config_left'])} configuration files in {Path(args.dir) / 'config'} "
            "were checked, not put in place: backup.json names where each came from"
        )
    print(
        "on its next start the node asks its peers for the newest version of its list they "
        "hold and publishes nothing until they confirm it "
        f"(or until `{PROG} restore --confirm`)"
    )
    return 0


def cmd_compact(args: argparse.Namespace, config: NodeConfig) -> int:
    async def work(node: Node) -> int:
        before, after = await node.retention.compact()
        problems = await node.retention.check_chain()
        if args.json:
            _print_json({"before": before.as_json(), "after": after.as_json(), "chain": problems})
        else:
            print(
                f"{after.versions} versions, {after.bodies_kept} bodies kept; database "
                f"{before.file_bytes / 1e6:.1f} MB -> {after.file_bytes / 1e6:.1f} MB"
            )
            for problem in problems:
                print(f"chain: {problem}")
        return 1 if problems else 0

    return asyncio.run(_with_node(config, work))


def register(sub: Any) -> None:
    p = sub.add_parser("backup", help="copy the database, keys and configuration (online)")
    p.add_argument("dir", metavar="DIR", help="a new or empty folder")
    p.set_defaults(func=cmd_backup, access="write")

    p = sub.add_parser("restore", help="put a backup back into the stopped node's data folder")
    p.add_argument("dir", metavar="DIR", nargs="?", help="a folder written by `backup`")
    p.add_argument(
        "--confirm",
        action="store_true",
        help="publish again without a peer's confirmation of the newest version (decide!)",
    )
    p.set_defaults(func=cmd_restore, access="write")

    p = sub.add_parser("compact", help="prune old version bodies now and shrink the database")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=cmd_compact, access="write")
