"""Start-up benchmark (run by hand, not part of the tests): how long a first ``serve`` with a
large issuer source file takes to open its port (``/healthz`` answers) and to be ready
(``/readyz`` no longer ``not_ready``: the file imported and version 1 published), and the
longest that ``/readyz`` took to answer in between (the event loop serves during the import).

    python bench/startup.py                     # 10,000 issuers
    python bench/startup.py --issuers 20000
    python bench/startup.py --code /path/to/another/checkout   # the same for other code
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync import entry  # noqa: E402

from registry_node.core.yamlsafe import dump_yaml  # noqa: E402

POLL = 0.2  # seconds between two looks at the starting node
LIMIT = 1200  # seconds: give up


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readiness(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as resp:
            doc: dict[str, Any] = json.load(resp)
    except urllib.error.HTTPError as exc:
        doc = json.load(exc)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuers", type=int, default=10_000)
    parser.add_argument("--code", default=str(ROOT), help="the checkout whose serve is timed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="registry-startup-") as tmp:
        work = Path(tmp)
        source = work / "trust_lists" / "us-oh.yaml"
        source.parent.mkdir()
        issuers = [entry("US-OH", n) for n in range(args.issuers)]
        source.write_text(dump_yaml({"jurisdiction": "US-OH", "issuers": issuers}))
        size = source.stat().st_size
        port = free_port()
        (work / "node.yaml").write_text(f"listen: {{host: 127.0.0.1, port: {port}}}\n")
        env = {**os.environ, "PYTHONPATH": args.code}
        start = time.monotonic()
        with (work / "node.log").open("w") as log:
            node = subprocess.Popen(
                [sys.executable, "-m", "registry_node", "serve"], cwd=work, env=env, stderr=log
            )
        port_open = ready = None
        phases = []
        slowest = 0.0
        try:
            while time.monotonic() - start < LIMIT and node.poll() is None:
                asked = time.monotonic()
                try:
                    doc = readiness(port)
                except OSError:  # not listening yet
                    time.sleep(POLL)
                    continue
                if port_open is not None:
                    slowest = max(slowest, time.monotonic() - asked)
                if port_open is None:
                    port_open = time.monotonic() - start
                phase = doc["checks"].get("issuer_source", {}).get("phase")
                if phase and phase not in phases:
                    phases.append(phase)
                if doc["status"] != "not_ready":
                    ready = time.monotonic() - start
                    break
                time.sleep(POLL)
        finally:
            node.terminate()
            node.wait(60)
    print(
        json.dumps(
            {
                "issuers": args.issuers,
                "code": args.code,
                "port_open_s": None if port_open is None else round(port_open, 1),
                "ready_s": None if ready is None else round(ready, 1),
                "phases_seen": phases,
                "slowest_readyz_s": round(slowest, 3),
                "source_bytes": size,
            }
        )
    )


if __name__ == "__main__":
    main()
