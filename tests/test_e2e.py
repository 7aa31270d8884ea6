"""End to end: real node processes on loopback, spoken to over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from registry_node.core.signing import parse_jws

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running_node(
    workdir: Path, port: int
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """Start ``registry-node serve`` and wait for the lines that say it is listening and ready
    (its issuer source file imported: the port opens before that)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "registry_node",
        "serve",
        "--port",
        str(port),
        cwd=workdir,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    lines = []
    seen: set[str] = set()
    drain: asyncio.Task[bytes] | None = None
    try:
        async with asyncio.timeout(30):
            while True:
                line = await proc.stderr.readline()
                if not line:
                    raise AssertionError("node exited:\n" + b"".join(lines).decode())
                lines.append(line)
                seen.add(json.loads(line).get("msg"))
                if {"listening", "node ready"} <= seen:
                    break
        # Keep reading its log so that a full pipe can never block the node.
        drain = asyncio.create_task(proc.stderr.read())
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        if drain is not None:
            await drain


async def test_first_start_then_restart_reuses_key_and_database(tmp_path: Path) -> None:
    (tmp_path / "trust_lists").mkdir()
    (tmp_path / "trust_lists" / "us-oh.yaml").write_bytes(
        (ROOT / "trust_lists" / "us-oh.yaml").read_bytes()
    )
    port = free_port()
    cli(
        tmp_path,
        "init",
        *("--node-id", "https://registry.ohio.example", "--jurisdiction", "US-OH"),
        *("--name", "Ohio LER Trust Registry"),
    )
    async with running_node(tmp_path, port) as (url, _), aiohttp.ClientSession() as http:
        async with http.get(f"{url}/trust-list") as resp:
            assert resp.status == 200
            first = json.loads(parse_jws(await resp.read()).payload)
        async with http.get(f"{url}/readyz") as resp:
            assert resp.status == 200
    key_files = list((tmp_path / "data" / "keys").iterdir())
    assert len(key_files) == 1
    assert key_files[0].stat().st_mode & 0o777 == 0o600
    assert first["seq"] == 1
    assert len(first["issuers"]) >= 12

    async with running_node(tmp_path, port) as (url, _), aiohttp.ClientSession() as http:
        async with http.get(f"{url}/jwks.json") as resp:
            jwks = await resp.json()
        async with http.get(f"{url}/trust-list/1") as resp:
            again = json.loads(parse_jws(await resp.read()).payload)
    assert list((tmp_path / "data" / "keys").iterdir()) == key_files
    assert [k["kid"] for k in jwks["keys"]] == [k["kid"] for k in first["keys"]]
    assert again == first


async def test_a_mistake_in_the_issuer_file_stops_serve_with_one_line(tmp_path: Path) -> None:
    """The port opens before the import; a mistake found by the import still stops the node,
    with the line that names the file and the entry, and nothing published."""
    (tmp_path / "trust_lists").mkdir()
    text = (ROOT / "trust_lists" / "us-oh.yaml").read_text()
    broken = text.replace("org_type: licensing_board", "org_type: space_agency", 1)
    assert broken != text
    (tmp_path / "trust_lists" / "us-oh.yaml").write_text(broken)
    (tmp_path / "node.yaml").write_text(
        "node_id: https://registry.ohio.example\njurisdiction: US-OH\nname: Ohio\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "registry_node",
        "serve",
        "--port",
        str(free_port()),
        cwd=tmp_path,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 2
    lines = err.decode().splitlines()
    error = [line for line in lines if line.startswith("registry-node: error:")]
    assert len(error) == 1, lines
    assert "us-oh.yaml" in error[0]
    assert "issuers[0]" in error[0]
    assert not any('"published trust list"' in line for line in lines)


def cli(workdir: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "registry_node", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


async def test_two_states_federate_and_sighup_reloads_peers(tmp_path: Path) -> None:
    ohio, indiana = tmp_path / "oh", tmp_path / "in"
    ports = {"oh": free_port(), "in": free_port()}
    for folder, code, name in ((ohio, "US-OH", "ohio"), (indiana, "US-IN", "indiana")):
        folder.mkdir()
        port = ports[folder.name]
        cli(
            folder,
            "init",
            "--node-id",
            f"https://registry.{name}.example",
            "--jurisdiction",
            code,
            "--name",
            f"{name} registry",
            "--port",
            str(port),
        )
        source = ROOT / "trust_lists" / f"{code.lower()}.yaml"
        (folder / "trust_lists" / f"{code.lower()}.yaml").write_bytes(source.read_bytes())
    token = cli(indiana, "token", "create", "e2e").strip()
    auth = {"Authorization": f"Bearer {token}"}
    async with running_node(ohio, ports["oh"]) as (ohio_url, _), aiohttp.ClientSession() as http:
        async with http.get(f"{ohio_url}/jwks.json") as resp:
            kid = (await resp.json())["keys"][0]["kid"]
        (indiana / "peers.yaml").write_text(
            "peers:\n"
            "  - id: https://registry.ohio.example\n"
            "    jurisdiction: US-OH\n"
            f"    url: {ohio_url}/trust-list\n"
            f"    keys: ['{kid}']\n"
        )
        async with running_node(indiana, ports["in"]) as (indiana_url, indiana_proc):
            async with http.post(f"{indiana_url}/admin/v1/peers/sync", headers=auth) as resp:
                results = (await resp.json())["results"]
            # The node's own first sync (within its first seconds) may have come first.
            assert results[0]["outcome"] in ("accepted", "not_modified"), results
            assert results[0]["seq"] == 1, results
            async with http.get(f"{indiana_url}/v1/issuers/did:web:nursing.ohio.example") as resp:
                answer = await resp.json()
            assert answer["outcome"] == "trusted", answer
            assert answer["decided_by"] == ["https://registry.ohio.example"]

            (indiana / "peers.yaml").write_text("peers: []\n")
            indiana_proc.send_signal(signal.SIGHUP)
            async with asyncio.timeout(10):
                while True:  # the reload is asynchronous to the signal: poll its effect
                    async with http.get(f"{indiana_url}/v1/peers") as resp:
                        if (await resp.json())["peers"] == []:
                            break
                    await asyncio.sleep(0)
            async with http.get(f"{indiana_url}/v1/issuers/did:web:nursing.ohio.example") as resp:
                assert (await resp.json())["outcome"] == "unknown"
