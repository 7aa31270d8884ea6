"""Lookup benchmark (run by hand, not part of the tests).

Starts a real node process loaded with 10,000 issuers of its own and five peers of 10,000 each
(served by a separate process and synced through the admin API), then drives, with wrk at many
concurrent connections:

  - GET /v1/issuers/{id} (half of the questions also name a credential type)
  - POST /trqp/authorization

and, in the same run, the ceiling for this stack on this machine: a bare aiohttp process whose
handlers look the same answers up in a dict and return them as JSON (GET by path, POST by the
TRQP body's entity_id). Node and ceiling runs alternate, round after round. It prints requests
per second and p50/p99 latency for each (medians of the rounds), and the node's share of the
ceiling: the median of each round's share, with every round's share beside it. Both servers are one
process; wrk gets the other core.

    python bench/lookup.py                     # 64 connections, 5 rounds of 5 s per target
    python bench/lookup.py --connections 16 --duration 5 --own 1000 --issuers 1000

Needs wrk (Debian: apt install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from sync import build, entry, free_port  # noqa: E402

NODE_ID = "https://registry.bench.example"
#: With two CPUs or more, wrk runs on one and the server under test on another.
PINNED = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
LOAD_CPU, SERVER_CPU = (0, 1) if PINNED else (None, None)
PINNING = " on its own CPU, wrk on another" if PINNED else ""
SAMPLE = 2000

WRK_SCRIPT = r"""
local items = {}
local method = os.getenv("BENCH_METHOD")
for line in io.lines(os.getenv("BENCH_ITEMS")) do items[#items + 1] = line end
local i = math.random(#items)
request = function()
  i = i % #items + 1
  if method == "POST" then
    return wrk.format("POST", "/trqp/authorization",
                      {["Content-Type"] = "application/json"}, items[i])
  end
  return wrk.format("GET", items[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.stderr:write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"socket_errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


# -- the ceiling: a bare aiohttp process answering from a dict ----------------------------


def ceiling(answers_file: Path, port: int) -> None:
    from aiohttp import web

    answers: dict[str, Any] = json.loads(answers_file.read_text())

    def dumps(doc: Any) -> bytes:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    async def get(request: web.Request) -> web.Response:
        answer = answers.get(request.path_qs)
        return web.Response(body=dumps(answer), content_type="application/json")

    async def post(request: web.Request) -> web.Response:
        doc = await request.json()
        answer = answers.get(doc["entity_id"])
        return web.Response(body=dumps(answer), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/issuers/{name:.*}", get)
    app.router.add_post("/trqp/authorization", post)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- helpers -------------------------------------------------------------------------------


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def call(url: str, body: Any = None, token: str | None = None, timeout: float = 600) -> Any:
    data = None if body is None else json.dumps(body).encode()
    method = "POST" if data is not None else "GET"
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
        return json.loads(resp.read())


def _pin(cpu: int | None) -> Any:
    """A preexec_fn that keeps a child process on one CPU (None: anywhere)."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def wrk(base: str, method: str, items: Path, connections: int, duration: int) -> dict[str, Any]:
    script = items.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    env = {**os.environ, "BENCH_METHOD": method, "BENCH_ITEMS": str(items)}
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script), base]
    pin = _pin(LOAD_CPU)
    warm = [*command[:3], "-d2s", *command[4:]]
    subprocess.run(warm, env=env, capture_output=True, check=True, preexec_fn=pin)
    run = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, preexec_fn=pin
    )
    line = next(x for x in run.stderr.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def start(args: list[str], log: Path, cpu: int | None = None) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, *args], stdout=handle, stderr=subprocess.STDOUT, preexec_fn=_pin(cpu)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--own", type=int, default=10_000, help="issuers of the node's state")
    parser.add_argument("--peers", type=int, default=5)
    parser.add_argument("--issuers", type=int, default=10_000, help="issuers per peer")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs per target")
    parser.add_argument("--ceiling", nargs=2, metavar=("FILE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling:
        ceiling(Path(args.ceiling[0]), int(args.ceiling[1]))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed to drive the load (Debian: apt install wrk)")

    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        try:
            results = run(args, out, procs)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait()
    report(args, results)


def run(
    args: argparse.Namespace,
    out: Path,
    procs: list[subprocess.Popen[bytes]],
    database: tuple[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Load a node (on SQLite, or on the PostgreSQL ``database``: URL and password file),
    then measure it and the ceiling, round after round."""
    started = time.perf_counter()
    docs = build(out, args.peers, args.issuers)
    peer_port, node_port, ceiling_port = free_port(), free_port(), free_port()
    for doc in docs:
        doc["url"] = f"http://127.0.0.1:{peer_port}{doc['url']}"
    (out / "peers.yaml").write_text(json.dumps({"peers": docs}))
    config = {
        "node_id": NODE_ID,
        "jurisdiction": "US-OH",
        "name": "Benchmark state",
        "listen": {"host": "127.0.0.1", "port": node_port},
        "data_dir": str(out / "data"),
        "peers_file": str(out / "peers.yaml"),
        "max_body_bytes": 64 * 1024 * 1024,
        "log_level": "WARNING",
    }
    if database is not None:
        config["database"], config["database_password_file"] = database
    (out / "node.yaml").write_text(json.dumps(config))
    cli = ["-m", "registry_node", "-c", str(out / "node.yaml")]
    token = subprocess.run(
        [sys.executable, *cli, "token", "create", "bench"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    procs.append(
        start([str(BENCH / "sync.py"), "--serve", str(out), str(peer_port)], out / "p.log")
    )
    procs.append(start([*cli, "serve"], out / "node.log", SERVER_CPU))
    node = f"http://127.0.0.1:{node_port}"
    wait_for(f"{node}/healthz")
    own = [entry("US-OH", n) for n in range(args.own)]
    call(f"{node}/admin/v1/import", {"jurisdiction": "US-OH", "issuers": own}, token)
    call(f"{node}/admin/v1/publish", {}, token)
    synced = call(f"{node}/admin/v1/peers/sync", {}, token)["results"]
    if any(r["outcome"] not in ("accepted", "not_modified", "unchanged") for r in synced):
        raise SystemExit(f"peer sync failed: {synced}")
    states = {p["id"]: p["state"] for p in call(f"{node}/v1/peers")["peers"]}
    if set(states.values()) != {"fresh"}:
        raise SystemExit(f"peers not fresh: {states}")
    print(
        f"node loaded: {args.own} own issuers, {args.peers} peers x {args.issuers} "
        f"({time.perf_counter() - started:.0f}s to build, import, publish and sync)"
    )

    # The questions: own and peers' issuers, by id and by aka, half with a credential type.
    rand = random.Random(7)
    states = ["US-OH"] + [d["jurisdiction"] for d in docs]
    paths, bodies, answers = [], [], {}
    for k in range(SAMPLE):
        state = states[k % len(states)]
        n = rand.randrange(args.own if state == "US-OH" else args.issuers)
        doc = entry(state, n)
        name = doc["id"] if k % 3 else doc["aka"][0]
        path = "/v1/issuers/" + quote(name, safe="")
        if k % 2:
            path += "?credential_type=OpenBadgeCredential"
        paths.append(path)
        answers[path] = call(node + path)
        if answers[path]["outcome"] != "trusted":
            raise SystemExit(f"unexpected answer for {path}: {answers[path]['outcome']}")
        trqp = {
            "entity_id": name,
            "authority_id": NODE_ID,
            "action": "issue",
            "resource": "OpenBadgeCredential",
        }
        bodies.append(json.dumps(trqp))
        answers[name] = call(f"{node}/trqp/authorization", trqp)
    (out / "paths.txt").write_text("\n".join(paths) + "\n")
    (out / "bodies.txt").write_text("\n".join(bodies) + "\n")
    (out / "answers.json").write_text(json.dumps(answers))
    procs.append(
        start(
            [__file__, "--ceiling", str(out / "answers.json"), str(ceiling_port)],
            out / "c.log",
            SERVER_CPU,
        )
    )
    ceiling_url = f"http://127.0.0.1:{ceiling_port}"
    wait_for(ceiling_url + paths[0])

    # Node and ceiling runs alternate, round after round, so that a drift of the machine's
    # speed hits both alike; each figure is the median of its rounds, and the node's share of
    # the ceiling is the median of each round's share (its node run over the ceiling run just
    # before it), so that a round the machine ran slow in counts once, for both.
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for label, base, method, items in [
            ("ceiling GET", ceiling_url, "GET", out / "paths.txt"),
            ("node GET /v1/issuers/{id}", node, "GET", out / "paths.txt"),
            ("ceiling POST", ceiling_url, "POST", out / "bodies.txt"),
            ("node POST /trqp/authorization", node, "POST", out / "bodies.txt"),
        ]:
            result = wrk(base, method, items, args.connections, args.duration)
            failed = result["socket_errors"] + result["non_2xx"]
            if failed:
                raise SystemExit(f"{label}: {failed} failed requests")
            runs.setdefault(label, []).append(result)
    results: dict[str, dict[str, Any]] = {
        label: {k: statistics.median(r[k] for r in rounds) for k in ("rps", "p50_us", "p99_us")}
        for label, rounds in runs.items()
    }
    for label, rounds in runs.items():
        if not label.startswith("ceiling"):
            ceiling_rounds = runs[CEILING_OF["POST" if "POST" in label else "GET"]]
            shares = [n["rps"] / c["rps"] for n, c in zip(rounds, ceiling_rounds, strict=True)]
            results[label]["shares"] = shares
            results[label]["share"] = statistics.median(shares)
    return results


#: Which ceiling a node target is measured against.
CEILING_OF = {"GET": "ceiling GET", "POST": "ceiling POST"}


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; wrk -t1 -c{args.connections} "
        f"-d{args.duration}s, median of {args.rounds} alternating rounds; every server is one "
        f"process{PINNING}\n"
    )
    print(
        f"{'target':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs ceiling':>11}"
        "  (each round's share)"
    )
    for label, r in results.items():
        ratio, rounds = "", ""
        if "share" in r:
            ratio = f"{r['share']:.2f}"
            rounds = "  (" + ", ".join(f"{share:.2f}" for share in r["shares"]) + ")"
        print(
            f"{label:34} {r['rps']:8.0f} {r['p50_us'] / 1000:8.2f} "
            f"{r['p99_us'] / 1000:8.2f} {ratio:>11}{rounds}"
        )


if __name__ == "__main__":
    main()
