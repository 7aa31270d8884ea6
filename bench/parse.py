"""Parsing benchmark (run by hand, not part of the tests): the CPU time to parse a list payload
of N issuer entries with the span parser (the sync path) and with the strict decoder, next to
the standard library's ``json.loads`` of the same bytes, and to judge the signed list whole
(``acceptance.accept``: JWS, payload, schema, signature, entries). CPU time, best of several
runs, so that other work on the machine disturbs the figures less.

    python bench/parse.py                  # 10,000 entries, best of 7
    python bench/parse.py --issuers 1000 --repeat 20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync import entry  # noqa: E402

from registry_node.core import keys, strictjson  # noqa: E402
from registry_node.core.acceptance import accept  # noqa: E402
from registry_node.core.jsonspans import parse_payload  # noqa: E402
from registry_node.core.model import canonical_json  # noqa: E402
from registry_node.core.peers import parse_peers  # noqa: E402
from registry_node.core.signing import sign_list  # noqa: E402


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    key = keys.generate()
    now = datetime.now(UTC)
    iat = int(now.timestamp())
    payload = {
        "version": 1,
        "iss": "https://registry.indiana.example",
        "jurisdiction": "US-IN",
        "name": "Indiana",
        "seq": 1,
        "iat": iat,
        "exp": iat + 86400,
        "prev": None,
        "keys": [key.public_jwk()],
        "next_keys": [],
        "issuers": [entry("US-IN", n) for n in range(args.issuers)],
    }
    data = canonical_json(payload)
    body = sign_list(data, [key])
    peer = {"id": payload["iss"], "jurisdiction": "US-IN", "url": "https://x.example/", "keys": []}
    peer["keys"] = [key.kid]
    config = parse_peers({"peers": [peer]}, "peers.yaml")[0]

    def judge() -> None:
        accept(body, config, None, now, max_bytes=len(body), clock_skew=timedelta(minutes=5))

    print(f"{args.issuers} entries, {len(data) / 1e6:.1f} MB, best of {args.repeat}")
    for name, fn in (
        ("json.loads", lambda: json.loads(data)),
        ("strictjson.loads", lambda: getattr(strictjson, "loads", json.loads)(data)),
        ("parse_payload", lambda: parse_payload(data)),
        ("accept", judge),
    ):
        print(f"  {name:18} {best(fn, args.repeat) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
