"""Federation benchmark (run by hand, not part of the tests).

Measures, in one run, a node syncing N simulated peers of M issuers each:
  - initial sync wall time
  - re-sync when nothing changed (conditional GETs answered 304)
  - re-sync when 1% of every peer's entries changed
  - re-sync when every entry of every peer changed (its ceiling: the initial sync, which writes
    as many rows into an empty database)
  - the longest time one transaction held the database's single writer, per phase
  - an admin write's latency (an issuer update through IssuerService, one after another)
    while the 100% re-sync commits, beside the same write's latency on the idle node
  - the syncing process's peak memory (its own maximum RSS) and that of its judging worker
and prints them next to the floor: the time for this machine to only parse and verify the
signatures of the same bodies, one after another, with the node's own core functions.

The peers are served by a separate process (an aiohttp app serving pre-signed bodies with
ETags), the node syncs in another, so neither steals the other's interpreter.

    python bench/sync.py                    # 50 peers x 10,000 issuers
    python bench/sync.py --peers 5 --issuers 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from registry_node.core import keys  # noqa: E402
from registry_node.core.model import canonical_json, digest  # noqa: E402
from registry_node.core.signing import parse_jws, sign_list, verify_signatures  # noqa: E402


def entry(state: str, n: int, revision: int = 0) -> dict[str, Any]:
    host = f"issuer{n}.{state.lower()}.example"
    return {
        "id": f"did:web:{host}",
        "aka": [f"https://{host}"],
        "name": f"{state} Training Provider {n}" + (f" (rev {revision})" if revision else ""),
        "org_type": "training_provider",
        "url": f"https://{host}",
        "identifiers": [
            {"scheme": "fein", "value": f"{n % 90 + 10}-{n:07d}"},
            {"scheme": "ctid", "value": f"ce-{n:08x}-0000-4000-8000-{n:012x}"},
        ],
        "keys": [
            {
                "id": f"did:web:{host}#key-1",
                "type": "JsonWebKey",
                "publicKeyJwk": {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                },
            }
        ],
        "authorizations": [
            {
                "credential_types": ["OpenBadgeCredential"],
                "achievement_types": ["Certificate", "Certification"],
                "jurisdiction": state,
                "legal_basis": "State workforce training statute",
            }
        ],
        "status_history": [
            {"status": "active", "from": "2021-07-01T00:00:00Z", "reason": "approved provider"}
        ],
    }


def build(out: Path, peers: int, issuers: int) -> list[dict[str, Any]]:
    """Write v1, v2 (1% changed) and v3 (every entry changed) bodies of every peer; return
    their peers.yaml entries."""
    now = int(time.time())
    docs = []
    for p in range(peers):
        state = f"US-X{p:02d}"[:6] if p < 100 else "US-ZZ"
        state = f"US-{chr(65 + p // 26)}{chr(65 + p % 26)}"
        key = keys.generate()
        entries = [entry(state, n) for n in range(issuers)]
        base = {
            "version": 1,
            "iss": f"https://registry.peer{p}.example",
            "jurisdiction": state,
            "name": f"Peer {p}",
            "iat": now,
            "exp": now + 86400,
            "keys": [key.public_jwk()],
            "next_keys": [],
        }
        v1 = sign_list(canonical_json({**base, "seq": 1, "prev": None, "issuers": entries}), [key])
        for n in range(0, issuers, 100):  # 1% of entries change
            entries[n] = entry(state, n, revision=2)
        v2_payload = {**base, "seq": 2, "prev": digest(v1), "issuers": entries}
        v2 = sign_list(canonical_json(v2_payload), [key])
        entries = [entry(state, n, revision=3) for n in range(issuers)]  # 100% change
        v3_payload = {**base, "seq": 3, "prev": digest(v2), "issuers": entries}
        v3 = sign_list(canonical_json(v3_payload), [key])
        (out / f"peer{p}-1.jws").write_bytes(v1)
        (out / f"peer{p}-2.jws").write_bytes(v2)
        (out / f"peer{p}-3.jws").write_bytes(v3)
        docs.append(
            {
                "id": base["iss"],
                "jurisdiction": state,
                "url": f"/peer{p}/trust-list",
                "keys": [key.kid],
                "refresh": "1h",
            }
        )
    return docs


def floor(out: Path, peers: int) -> float:
    """Parse and verify every v1 body with the core functions, nothing else."""
    bodies = [(out / f"peer{p}-1.jws").read_bytes() for p in range(peers)]
    trusted = []
    for body in bodies:
        parsed = parse_jws(body)
        jwk = json.loads(parsed.payload)["keys"][0]
        trusted.append({jwk["kid"]: keys.import_public_jwk(jwk)})
    started = time.perf_counter()
    for body, keyring in zip(bodies, trusted, strict=True):
        parsed = parse_jws(body)
        json.loads(parsed.payload)
        assert verify_signatures(parsed, keyring).verified
    return time.perf_counter() - started


# -- the peers' server (a separate process) ------------------------------------------------


def serve(out: Path, port: int) -> None:
    from aiohttp import web

    version = {"n": 1}
    cache: dict[tuple[int, int], tuple[bytes, str]] = {}

    def body(p: int) -> tuple[bytes, str]:
        k = (p, version["n"])
        if k not in cache:
            data = (out / f"peer{p}-{version['n']}.jws").read_bytes()
            cache[k] = (data, f'"{digest(data)}"')
        return cache[k]

    async def handle(request: web.Request) -> web.Response:
        data, etag = body(int(request.match_info["p"]))
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=data, headers={"ETag": etag}, content_type="application/jose+json")

    async def control(request: web.Request) -> web.Response:
        version["n"] = int(request.query["version"])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/peer{p:[0-9]+}/trust-list", handle)
    app.router.add_post("/control", control)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- the node (a separate process, so that its peak memory is its own) ---------------------


class WriterTimer(asyncio.Lock):
    """Stands in for the store's writer lock: the longest time one holder kept it (its
    transaction, and whatever the store does before handing the writer on), since the last
    ``take``."""

    def __init__(self, store: Any) -> None:
        super().__init__()
        self.longest = self._since = 0.0
        store._lock = self

    async def acquire(self) -> bool:
        await super().acquire()
        self._since = time.perf_counter()
        return True

    def release(self) -> None:
        self.longest = max(self.longest, time.perf_counter() - self._since)
        super().release()

    def take(self) -> float:
        longest, self.longest = self.longest, 0.0
        return longest


async def admin_writes(node: Any, stop: asyncio.Event, latencies: list[float]) -> None:
    """Update the node's own bench issuer, one write after another, until ``stop``."""
    n = 0
    while not stop.is_set():
        n += 1
        doc = {**BENCH_ISSUER, "name": f"Bench Provider, edit {n}"}
        started = time.perf_counter()
        await node.issuers.update(BENCH_ISSUER["id"], doc, "bench")
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)


BENCH_ISSUER = {**entry("US-BN", 1), "authorizations": []}


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def node_phases(
    workdir: Path, port: int, database: str | None = None, password_file: str | None = None
) -> dict[str, Any]:
    import aiohttp

    from registry_node.config import FederationConfig, NodeConfig
    from registry_node.services.node import Node

    config = NodeConfig(
        data_dir=workdir / ("data-pg" if database else "data"),
        trust_list=workdir / "none.yaml",
        peers_file=workdir / "peers.yaml",
        federation=FederationConfig(deadline=__import__("datetime").timedelta(seconds=120)),
        database=database,
        database_password_file=Path(password_file) if password_file else None,
    )
    node = await Node.open(config)
    timer = WriterTimer(node.store)
    results: dict[str, Any] = {}
    try:
        await node.issuers.create(BENCH_ISSUER, "bench")
        idle: list[float] = []
        for _ in range(20):  # the ceiling: the same write with nothing else to do
            started = time.perf_counter()
            await node.issuers.update(BENCH_ISSUER["id"], {**BENCH_ISSUER, "name": "x"}, "b")
            await node.issuers.update(BENCH_ISSUER["id"], BENCH_ISSUER, "bench")
            idle.append((time.perf_counter() - started) / 2)
        results["admin_idle_ms"] = sorted(idle)[len(idle) // 2] * 1000
        timer.take()
        phases = (
            ("initial", 1),
            ("unchanged", 1),
            ("changed_1pct", 2),
            ("changed_100pct", 3),
        )
        for phase, version in phases:
            if version > 1 and phase != "unchanged":
                async with aiohttp.ClientSession() as http:
                    await http.post(f"http://127.0.0.1:{port}/control?version={version}")
            stop, latencies = asyncio.Event(), []
            writer = None
            if phase == "changed_100pct":
                writer = asyncio.create_task(admin_writes(node, stop, latencies))
            started = time.perf_counter()
            outcome = await node.federation.sync_all()
            results[phase] = time.perf_counter() - started
            if writer is not None:
                stop.set()
                await writer
                latencies.sort()
                results["admin_during_sync_ms"] = {
                    "writes": len(latencies),
                    "p50": latencies[len(latencies) // 2] * 1000,
                    "max": latencies[-1] * 1000,
                }
            results[f"{phase}_writer_held"] = timer.take()
            results[f"{phase}_rss_after_mib"] = rss_mib()
            kinds = sorted({r.outcome for r in outcome})
            results[f"{phase}_outcomes"] = kinds
            failed = [r for r in outcome if r.outcome in ("failed", "rejected")]
            if failed:
                raise SystemExit(f"{phase}: {failed[0]}")
        executor = node.federation.executor
        if executor is not None:  # ask the judging worker for its own peak
            usage = executor.submit(resource.getrusage, resource.RUSAGE_SELF).result()
            results["worker_peak_rss_mib"] = usage.ru_maxrss / 1024
    finally:
        await node.close()
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(
    peers: int, issuers: int, databases: list[tuple[str, str] | None]
) -> tuple[float, list[dict[str, Any]]]:
    """Build the peers' lists, serve them, and sync them into a node on each of ``databases``
    in turn (None: SQLite; else a PostgreSQL URL and password file). Returns the floor and
    each node's figures."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        docs = build(out, peers, issuers)
        size = sum((out / f"peer{p}-1.jws").stat().st_size for p in range(peers))
        print(
            f"built {peers} peers x {issuers} issuers "
            f"({size / 2**20:.0f} MiB of signed lists) in {time.perf_counter() - started:.1f}s"
        )
        port = free_port()
        for doc in docs:
            doc["url"] = f"http://127.0.0.1:{port}{doc['url']}"
        (out / "peers.yaml").write_text(json.dumps({"peers": docs}))
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(out), str(port)])
        results = []
        try:
            for _ in range(100):
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
            # The machine's speed drifts: the floor is the median of three runs.
            floor_s = sorted(floor(out, peers) for _ in range(3))[1]
            for database in databases:
                extra = ["--database", *database] if database else []
                node = subprocess.run(
                    [sys.executable, __file__, "--node", str(out), str(port), *extra],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if node.returncode != 0:
                    raise SystemExit(node.stderr[-2000:])
                results.append(json.loads(node.stdout.strip().splitlines()[-1]))
                # the server back to the first version for the next node
                with urllib.request.urlopen(
                    urllib.request.Request(
                        f"http://127.0.0.1:{port}/control?version=1", method="POST"
                    )
                ):
                    pass
        finally:
            server.terminate()
            server.wait()
    return floor_s, results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", type=int, default=50)
    parser.add_argument("--issuers", type=int, default=10_000)
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--node", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--database", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    if args.node:
        from registry_node import process

        process.limit_malloc_arenas()  # as the registry-node command does
        url, password_file = args.database or (None, None)
        phases = node_phases(Path(args.node[0]), int(args.node[1]), url, password_file)
        print(json.dumps(asyncio.run(phases)))
        return
    floor_s, [result] = measure(args.peers, args.issuers, [None])
    report(floor_s, result)


def report(floor_s: float, result: dict[str, Any]) -> None:
    cpu = platform.processor() or platform.machine()
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    print(f"floor (parse + verify signatures only): {floor_s:8.2f} s")
    print(
        f"initial sync:                           {result['initial']:8.2f} s"
        f"  ({result['initial'] / floor_s:.1f}x floor)  {result['initial_outcomes']}"
    )
    print(
        f"re-sync, nothing changed:               {result['unchanged']:8.2f} s"
        f"  {result['unchanged_outcomes']}"
    )
    print(
        f"re-sync, 1% of entries changed:         {result['changed_1pct']:8.2f} s"
        f"  ({result['changed_1pct'] / floor_s:.1f}x floor)  {result['changed_1pct_outcomes']}"
    )
    print(
        f"re-sync, 100% of entries changed:       {result['changed_100pct']:8.2f} s"
        f"  ({result['changed_100pct'] / result['initial']:.2f}x the initial sync, target 1.5x)"
        f"  {result['changed_100pct_outcomes']}"
    )
    held = ", ".join(
        f"{phase} {result[f'{phase}_writer_held'] * 1000:.0f} ms"
        for phase in ("initial", "unchanged", "changed_1pct", "changed_100pct")
    )
    print(f"longest hold of the database writer:    {held}")
    admin = result["admin_during_sync_ms"]
    print(
        f"admin write during the 100% re-sync:    {admin['max']:8.0f} ms max,"
        f" {admin['p50']:.0f} ms median of {admin['writes']} (idle node:"
        f" {result['admin_idle_ms']:.1f} ms; target max < 1000 ms)"
    )
    after = ", ".join(
        f"{phase} {result[f'{phase}_rss_after_mib']:.0f}"
        for phase in ("initial", "unchanged", "changed_1pct", "changed_100pct")
    )
    print(f"resident memory after each phase (MiB): {after}")
    node_peak, worker_peak = result["peak_rss_mib"], result.get("worker_peak_rss_mib", 0)
    print(
        f"peak memory of the syncing process:     {node_peak:8.0f} MiB"
        f"  (+ {worker_peak:.0f} MiB in its list-judging worker"
        f" = {node_peak + worker_peak:.0f} MiB; target < 600 MiB)"
    )


if __name__ == "__main__":
    main()
