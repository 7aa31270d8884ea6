"""Disk sizing (run by hand, not part of the tests): how big the database grows, with and
without retention, for a number of issuers and a publishing cycle.

It opens a node in a temporary folder with a clock that only moves when told to, creates the
issuers (each with a short status history), then publishes ``--versions`` versions one
``--cycle`` apart, changing one issuer's status before each. It prints the size of a version's
body, the growth of the database per version with every body kept, and the size once
retention has pruned (the default settings, or ``--keep-versions`` and ``--keep-for``) and
``compact`` has run. The figures in docs/operations.md section 10 come from it:

    .venv/bin/python bench/storage.py --issuers 1000 --versions 300 --cycle 3s
    .venv/bin/python bench/storage.py --issuers 10000 --versions 120 --cycle 60s
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from registry_node.config import FederationConfig, NodeConfig, RetentionConfig
from registry_node.core.timeutil import parse_duration
from registry_node.services.node import Node


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def issuer(n: int) -> dict[str, Any]:
    return {
        "id": f"did:web:provider{n}.ohio.example",
        "name": f"Ohio Education Provider {n}",
        "org_type": "training_provider",
        "url": f"https://provider{n}.ohio.example",
        "identifiers": [{"scheme": "fein", "value": f"31-{n:07d}"}],
        "authorizations": [
            {
                "credential_types": ["OpenBadgeCredential", "ClrCredential"],
                "achievement_types": ["Certificate", "Diploma"],
                "jurisdiction": "US-OH",
                "legal_basis": "Ohio Revised Code 3332",
            }
        ],
        "status_history": [
            {"status": "active", "from": "2020-01-01T00:00:00Z", "reason": "chartered"},
            {"status": "suspended", "from": "2022-02-01T00:00:00Z", "reason": "audit"},
            {"status": "active", "from": "2022-05-01T00:00:00Z", "reason": "audit closed"},
        ],
    }


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


async def run(args: argparse.Namespace, folder: Path) -> None:
    clock = Clock()
    retention = RetentionConfig(
        keep_versions=args.keep_versions, keep_for=parse_duration(args.keep_for)
    )
    config = NodeConfig(
        data_dir=folder / "data",
        trust_list=folder / "none.yaml",
        peers_file=folder / "peers.yaml",
        federation=FederationConfig(judge_processes=0),
        retention=retention,
        log_format="text",
        log_level="WARNING",
    )
    node = await Node.open(config, clock)
    try:
        await node.issuers.import_entries([issuer(n) for n in range(args.issuers)], "bench")
        await node.publisher.publish("bench")
        start = await node.retention.report()
        cycle = parse_duration(args.cycle)
        for v in range(args.versions):
            clock.now += cycle
            change = {"status": "suspended" if v % 2 == 0 else "active", "reason": "bench"}
            await node.issuers.set_status(
                f"did:web:provider{v % args.issuers}.ohio.example", change, "bench"
            )
            await node.publisher.publish("bench")
        grown = await node.retention.report()
        body = (grown.body_bytes - start.body_bytes) // args.versions
        per_version = (grown.file_bytes - start.file_bytes) / args.versions
        per_hour = per_version * timedelta(hours=1) / cycle
        clock.now += retention.keep_for
        _, after = await node.retention.compact()
        kept = max(retention.keep_versions, int(retention.keep_for / cycle))
        print(f"issuers {args.issuers}, {args.versions} versions one {args.cycle} apart")
        print(f"  body of a version             {body / 1e3:.0f} KB")
        print(
            f"  growth per version, all kept  {per_version / 1e3:.0f} KB "
            f"({mb(int(per_hour))} an hour)"
        )
        print(
            f"  database, every body kept     {mb(grown.file_bytes)} ({grown.bodies_kept} bodies)"
        )
        print(
            f"  after prune + compact         {mb(after.file_bytes)} "
            f"({after.bodies_kept} bodies kept)"
        )
        print(
            f"  steady state with keep_versions {retention.keep_versions}, keep_for "
            f"{args.keep_for}: about {mb(after.file_bytes - after.body_bytes + kept * body)} "
            f"({kept} bodies)"
        )
        print(f"  chain problems: {await node.retention.check_chain() or 'none'}")
    finally:
        await node.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--issuers", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--cycle", default="3s", help="time between two publications")
    parser.add_argument("--keep-versions", type=int, default=RetentionConfig.keep_versions)
    parser.add_argument("--keep-for", default="2h")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
