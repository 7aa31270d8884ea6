"""PostgreSQL beside SQLite (run by hand, not part of the tests).

In one run, on a PostgreSQL 15 server this script starts for itself (a throwaway cluster on a
loopback port, with fsync and synchronous commits on, as a real server has them; as root it
runs as the ``postgres`` user), and on SQLite:

  - the sync of bench/sync.py: a node syncing N simulated peers of M issuers each (initial,
    unchanged, 1% changed, 100% changed), once on each database, from the same signed lists;
  - the lookups of bench/lookup.py: GET /v1/issuers/{id} and POST /trqp/authorization with wrk,
    against a node on each database loaded the same way, beside the bare aiohttp ceiling.

It prints each figure for both databases and PostgreSQL's ratio to SQLite (for lookups, the
ratio of their shares of the ceiling measured in the same rounds, since the two nodes run one
after the other). The goals (docs/adr/0024): lookups on PostgreSQL at 0.9 or more of SQLite's,
each sync phase at most 1.5 times SQLite's time.

    python bench/postgres.py                        # 50 peers x 10,000 issuers
    python bench/postgres.py --peers 5 --issuers 1000 --lookup-peers 2

Needs PostgreSQL 15's server programs (Debian: postgresql-15) and wrk (Debian: wrk).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import lookup  # noqa: E402
import sync  # noqa: E402

from tests.pg import Cluster  # noqa: E402  (the tests' throwaway server)

PHASES = ("initial", "unchanged", "changed_1pct", "changed_100pct")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", type=int, default=50, help="peers of the sync")
    parser.add_argument("--issuers", type=int, default=10_000, help="issuers per peer")
    parser.add_argument("--lookup-peers", type=int, default=5, help="peers of the lookup node")
    parser.add_argument("--own", type=int, default=10_000, help="own issuers of the lookup node")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed to drive the load (Debian: apt install wrk)")

    cluster = Cluster(durable=True)
    cluster.start()
    try:
        password = str(cluster.password_file)
        floor_s, (on_sqlite, on_pg) = sync.measure(
            args.peers, args.issuers, [None, (cluster.empty_database(), password)]
        )
        lookups: dict[str, dict[str, dict[str, Any]]] = {}
        for name, database in (
            ("SQLite", None),
            ("PostgreSQL", (cluster.empty_database(), password)),
        ):
            largs = argparse.Namespace(
                own=args.own,
                peers=args.lookup_peers,
                issuers=args.issuers,
                connections=args.connections,
                duration=args.duration,
                rounds=args.rounds,
            )
            procs: list[subprocess.Popen[bytes]] = []
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    lookups[name] = lookup.run(largs, Path(tmp), procs, database)
                finally:
                    for proc in procs:
                        proc.terminate()
                        proc.wait()
    finally:
        cluster.stop()
    report(args, floor_s, on_sqlite, on_pg, lookups)


def report(
    args: argparse.Namespace,
    floor_s: float,
    on_sqlite: dict[str, Any],
    on_pg: dict[str, Any],
    lookups: dict[str, dict[str, dict[str, Any]]],
) -> None:
    cpu = platform.processor() or platform.machine()
    print(f"\nmachine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    print(f"sync of {args.peers} peers x {args.issuers} issuers (floor {floor_s:.2f} s):")
    print(f"  {'phase':24} {'SQLite s':>9} {'PostgreSQL s':>13} {'ratio':>6}  (target <= 1.5)")
    for phase in PHASES:
        a, b = on_sqlite[phase], on_pg[phase]
        print(f"  {phase:24} {a:9.2f} {b:13.2f} {b / a:6.2f}")
    for label, key in (("longest writer hold, 100%", "changed_100pct_writer_held"),):
        a, b = on_sqlite[key] * 1000, on_pg[key] * 1000
        print(f"  {label:24} {a:7.0f}ms {b:11.0f}ms")
    print(
        f"\nlookups: {args.own} own issuers, {args.lookup_peers} peers x {args.issuers}; wrk "
        f"-c{args.connections} -d{args.duration}s, median of {args.rounds} rounds"
    )
    print(
        "  Each node is measured in rounds alternating with the bare aiohttp ceiling, so its "
        "share of the\n  ceiling is what compares across the two runs (the machine's speed "
        "drifts between them)."
    )
    print(
        f"  {'target':32} {'SQLite r/s':>11} {'share':>6} {'PostgreSQL r/s':>15} {'share':>6}"
        f" {'PG/SQLite':>10}  (target >= 0.9)"
    )
    for label in lookups["SQLite"]:
        if label.startswith("ceiling"):
            continue
        ceiling = "ceiling POST" if "POST" in label else "ceiling GET"
        shares = []
        for name in ("SQLite", "PostgreSQL"):
            shares.append(lookups[name][label]["rps"] / lookups[name][ceiling]["rps"])
        a, b = lookups["SQLite"][label]["rps"], lookups["PostgreSQL"][label]["rps"]
        print(
            f"  {label:32} {a:11.0f} {shares[0]:6.2f} {b:15.0f} {shares[1]:6.2f}"
            f" {shares[1] / shares[0]:10.2f}"
        )


if __name__ == "__main__":
    main()
