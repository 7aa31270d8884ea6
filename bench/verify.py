"""Credential verification benchmark (run by hand, not part of the tests).

Signs an Open Badges 3.0 credential with each cryptosuite for an issuer whose Ed25519 key the
node's published list pins, and measures, in one run:

  1. raw Ed25519: signature verifications per second of the cryptography library in a loop,
     which bounds what any verifier could reach;
  2. in process: the node's whole answer to ``POST /v1/verify`` without HTTP (a real node
     opened in this process; http/verify.py's ``answer``, as the handler calls it: the body
     parsed, the credential verified in the verifier's worker thread, the trust decision, the
     metrics and the JSON rendered), credentials per second and their share of raw Ed25519.
     Rounds alternate raw Ed25519 and each suite, so that a drift of the machine's speed hits
     both alike; each figure is the median of its rounds;
  3. over HTTP: a node process driven by an aiohttp client with a few concurrent
     connections, beside the ceiling of that client and stack on this machine: a bare aiohttp
     process that reads the same body as JSON and returns the node's answer bytes.

Every answer must say ``valid``; anything else stops the run.

    python bench/verify.py                     # 3 rounds of 3 s in process, 10 s over HTTP
    python bench/verify.py --duration 5 --connections 8
    python bench/verify.py --only inprocess --rounds 5
    python bench/verify.py --profile eddsa-rdfc-2022 --count 200   # under a profiler
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import aiohttp  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from sync import free_port  # noqa: E402

from tests import credential_factory as cf  # noqa: E402  (the tests' signing helpers)

ISSUER = "did:web:college.bench.example"
SUITES = ("eddsa-jcs-2022", "eddsa-rdfc-2022")
MODES = ("raw", "inprocess", "http")


# -- raw Ed25519 ---------------------------------------------------------------------------


def raw_ed25519_rate(seconds: float) -> float:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    message = os.urandom(64)
    signature = key.sign(message)
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(200):
            public.verify(signature, message)
        count += 200
    return count / elapsed


# -- the setting: a list pinning the issuer's key, and its credentials ----------------------


def write_node(out: Path, key: Any, method: str, port: int, data: str) -> Path:
    """node.yaml and the issuer file of a node whose list pins ``key`` for the issuer."""
    entry = {
        "id": ISSUER,
        "name": "Bench College",
        "org_type": "higher_education",
        "keys": [cf.multikey_method(method, key)],
        "authorizations": [
            {
                "credential_types": ["OpenBadgeCredential"],
                "achievement_types": ["Certificate"],
                "jurisdiction": "US-OH",
            }
        ],
        "status_history": [{"status": "active", "from": "2020-01-01T00:00:00Z"}],
    }
    (out / "us-oh.yaml").write_text(json.dumps({"jurisdiction": "US-OH", "issuers": [entry]}))
    config = {
        "node_id": "https://registry.bench.example",
        "jurisdiction": "US-OH",
        "name": "Bench registry",
        "listen": {"host": "127.0.0.1", "port": port},
        "data_dir": str(out / data),
        "trust_list": str(out / "us-oh.yaml"),
        "peers_file": str(out / "peers.yaml"),
        "log_level": "WARNING",
    }
    path = out / f"{data}.yaml"
    path.write_text(json.dumps(config))
    return path


def bodies(key: Any, method: str) -> dict[str, bytes]:
    return {
        suite: json.dumps(
            cf.sign_data_integrity(cf.open_badge(ISSUER), key, method, cryptosuite=suite)
        ).encode()
        for suite in SUITES
    }


def verdict_of(body: bytes) -> str:
    """``valid``, or the run stops. The verdict is the answer's first member, so the check
    reads the start of the body (parsing the whole answer would be the benchmark's own cost
    inside the figures)."""
    if not body.startswith(b'{"verdict":"valid",'):
        raise SystemExit(f"the node did not answer 'valid': {body[:400]!r}")
    return "valid"


# -- in process ----------------------------------------------------------------------------


async def open_node(config_path: Path) -> Any:
    import logging

    from registry_node.config import load
    from registry_node.services.node import Node

    logging.getLogger("registry_node").setLevel(logging.WARNING)
    return await Node.open(load(config_path))


async def in_process(
    config_path: Path, payloads: dict[str, bytes], rounds: int, seconds: float
) -> dict[str, list[tuple[float, float]]]:
    """Per suite, (credentials per second, raw Ed25519 per second) of each round."""
    from registry_node.http.verify import answer

    node = await open_node(config_path)
    results: dict[str, list[tuple[float, float]]] = {suite: [] for suite in SUITES}
    try:

        async def rate(body: bytes, duration: float) -> float:
            count, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < duration:
                for _ in range(20):
                    response = await answer(node, body, "application/json")
                    assert isinstance(response.body, bytes)
                    verdict_of(response.body)
                count += 20
            return count / elapsed

        for body in payloads.values():
            await rate(body, 0.5)  # warm up: the shapes are learnt on their second sighting
        for _ in range(rounds):
            for suite, body in payloads.items():
                raw = raw_ed25519_rate(seconds)
                results[suite].append((await rate(body, seconds), raw))
    finally:
        await node.close()
    return results


async def profile(config_path: Path, body: bytes, count: int) -> None:
    """``count`` answers one after the other, nothing else: for callgrind or cProfile (the
    node is opened and warmed up first; divide by ``count``)."""
    from registry_node.http.verify import answer

    node = await open_node(config_path)
    try:
        for _ in range(3):
            await answer(node, body, "application/json")
        started = time.perf_counter()
        for _ in range(count):
            response = await answer(node, body, "application/json")
        assert isinstance(response.body, bytes)
        verdict_of(response.body)
        elapsed = time.perf_counter() - started
        print(f"{count} answers, {elapsed / count * 1e6:.0f} µs each")
    finally:
        await node.close()


# -- over HTTP -----------------------------------------------------------------------------


def ceiling(answer_file: Path, port: int) -> None:
    """A bare aiohttp process: reads the body as JSON, returns the node's answer bytes."""
    from aiohttp import web

    body = answer_file.read_bytes()

    async def post(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.Response(
            body=body, content_type="application/json", headers={"Cache-Control": "no-store"}
        )

    app = web.Application()
    app.router.add_post("/v1/verify", post)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def drive(url: str, body: bytes, connections: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json"}

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with http.post(url, data=body, headers=headers) as resp:
                verdict_of(await resp.read())
            done += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(connections)))
    return done / (time.perf_counter() - started)


async def ready(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(url) as resp:
                    if resp.status in (200, 404, 405):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def over_http(
    node_url: str, ceiling_url: str, payloads: dict[str, bytes], args: argparse.Namespace
) -> dict[str, float]:
    await ready(f"{node_url}/readyz")
    await ready(ceiling_url)
    results = {}
    for suite, body in payloads.items():
        await drive(f"{node_url}/v1/verify", body, args.connections, 1.0)  # warm up
        results[suite] = await drive(f"{node_url}/v1/verify", body, args.connections, args.duration)
    body = payloads[SUITES[0]]
    await drive(f"{ceiling_url}/v1/verify", body, args.connections, 1.0)
    results["ceiling"] = await drive(
        f"{ceiling_url}/v1/verify", body, args.connections, args.duration
    )
    return results


# -- the run -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per HTTP run")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="in-process rounds")
    parser.add_argument("--round", type=float, default=3.0, help="seconds per in-process run")
    parser.add_argument("--only", choices=("inprocess", "http"), help="one measurement only")
    parser.add_argument("--profile", choices=SUITES, help="answer one suite --count times")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--ceiling", nargs=2, metavar=("FILE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling:
        ceiling(Path(args.ceiling[0]), int(args.ceiling[1]))
        return

    key = cf.ed25519()
    method = f"{ISSUER}#key-1"
    payloads = bodies(key, method)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if args.profile:
            config_path = write_node(out, key, method, free_port(), "profiled")
            asyncio.run(profile(config_path, payloads[args.profile], args.count))
            return
        inproc: dict[str, list[tuple[float, float]]] = {}
        http: dict[str, float] = {}
        if args.only != "http":
            config_path = write_node(out, key, method, free_port(), "inprocess")
            inproc = asyncio.run(in_process(config_path, payloads, args.rounds, args.round))
        if args.only != "inprocess":
            http = run_http(out, key, method, payloads, args)
    report(args, inproc, http)


def run_http(
    out: Path, key: Any, method: str, payloads: dict[str, bytes], args: argparse.Namespace
) -> dict[str, float]:
    node_port, ceiling_port = free_port(), free_port()
    config_path = write_node(out, key, method, node_port, "node")
    procs: list[subprocess.Popen[bytes]] = []
    log = (out / "node.log").open("wb")
    try:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "registry_node", "-c", str(config_path), "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        # The ceiling answers with the node's own answer to the first suite's credential.
        node_url = f"http://127.0.0.1:{node_port}"
        asyncio.run(ready(f"{node_url}/readyz"))
        answer_file = out / "answer.json"
        answer_file.write_bytes(asyncio.run(fetch_answer(node_url, payloads[SUITES[0]])))
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--ceiling", str(answer_file), str(ceiling_port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        return asyncio.run(over_http(node_url, f"http://127.0.0.1:{ceiling_port}", payloads, args))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


async def fetch_answer(node_url: str, body: bytes) -> bytes:
    async with aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/json"}
        async with http.post(f"{node_url}/v1/verify", data=body, headers=headers) as resp:
            answer = await resp.read()
    verdict_of(answer)
    return answer


def report(
    args: argparse.Namespace,
    inproc: dict[str, list[tuple[float, float]]],
    http: dict[str, float],
) -> None:
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; every answer checked 'valid'\n"
    )
    if inproc:
        print(
            f"In process: {args.rounds} rounds of {args.round:.0f} s, raw Ed25519 and the "
            "suite alternating; medians (share: the median of each round's share)\n"
        )
        print(f"{'what':44} {'per second':>11} {'raw Ed25519':>12} {'share of raw':>13}")
        for suite, runs in inproc.items():
            rate = statistics.median(r for r, _ in runs)
            raw = statistics.median(w for _, w in runs)
            share = statistics.median(r / w for r, w in runs)
            print(
                f"{'answer to POST /v1/verify, ' + suite:44} {rate:11.0f} {raw:12.0f} {share:13.3f}"
            )
        print()
    if http:
        print(
            f"Over HTTP: {args.connections} connections of one aiohttp client, "
            f"{args.duration:.0f} s per target\n"
        )
        print(f"{'what':44} {'per second':>11} {'share of ceiling':>17}")
        ceil = http["ceiling"]
        for suite in SUITES:
            print(
                f"{'POST /v1/verify, ' + suite:44} {http[suite]:11.0f} {http[suite] / ceil:17.3f}"
            )
        print(f"{'ceiling: bare aiohttp POST, same client':44} {ceil:11.0f}")


if __name__ == "__main__":
    main()
