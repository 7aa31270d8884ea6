"""Credential verification benchmark (run by hand, not part of the tests).

Starts a real node process whose published list pins an issuer's Ed25519 key, signs an Open
Badges 3.0 credential with each cryptosuite, and POSTs it to /v1/verify from an aiohttp client
with a few concurrent connections for a fixed time per suite. Prints credentials verified per
second over HTTP for eddsa-jcs-2022 and eddsa-rdfc-2022, beside the raw Ed25519 signature
verification rate of this machine (the cryptography library, in a loop), which bounds what any
verifier could reach.

    python bench/verify.py                 # 10 s per suite, 4 connections
    python bench/verify.py --duration 5 --connections 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
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


def raw_ed25519_rate(seconds: float = 3.0) -> float:
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


async def drive(url: str, body: bytes, connections: int, seconds: float) -> tuple[float, str]:
    done = 0
    verdicts: set[str] = set()
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json"}

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with http.post(url, data=body, headers=headers) as resp:
                verdicts.add((await resp.json())["verdict"])
            done += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(connections)))
    return done / (time.perf_counter() - started), ",".join(sorted(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per suite")
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()

    key = cf.ed25519()
    method = f"{ISSUER}#key-1"
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
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        port = free_port()
        (out / "us-oh.yaml").write_text(json.dumps({"jurisdiction": "US-OH", "issuers": [entry]}))
        config = {
            "node_id": "https://registry.bench.example",
            "jurisdiction": "US-OH",
            "name": "Bench registry",
            "listen": {"host": "127.0.0.1", "port": port},
            "data_dir": str(out / "data"),
            "trust_list": str(out / "us-oh.yaml"),
            "peers_file": str(out / "peers.yaml"),
            "log_level": "WARNING",
        }
        (out / "node.yaml").write_text(json.dumps(config))
        log = (out / "node.log").open("wb")
        node = subprocess.Popen(
            [sys.executable, "-m", "registry_node", "-c", str(out / "node.yaml"), "serve"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            results = asyncio.run(run(port, key, method, args))
        finally:
            node.terminate()
            node.wait()
    raw = raw_ed25519_rate()
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {args.connections} connections, "
        f"{args.duration:.0f} s per suite; the node verifies in one worker thread\n"
    )
    print(f"{'what':40} {'per second':>12} {'verdict':>8}")
    for suite, (rate, verdict) in results.items():
        print(f"{'POST /v1/verify, ' + suite:40} {rate:12.0f} {verdict:>8}")
    print(f"{'raw Ed25519 signature verification':40} {raw:12.0f}")


async def run(port: int, key: Any, method: str, args: argparse.Namespace) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"{base}/readyz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise SystemExit("the node did not become ready")
    results = {}
    for suite in SUITES:
        credential = cf.sign_data_integrity(cf.open_badge(ISSUER), key, method, cryptosuite=suite)
        body = json.dumps(credential).encode()
        await drive(f"{base}/v1/verify", body, args.connections, 1.0)  # warm up
        results[suite] = await drive(f"{base}/v1/verify", body, args.connections, args.duration)
    return results


if __name__ == "__main__":
    main()
