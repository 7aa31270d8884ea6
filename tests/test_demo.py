"""The three-state demo: nodes that pin each other's keys and are reused; started for real, it
federates, prints what to try, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import aiohttp

from registry_node import config as configmod
from registry_node.core.peers import parse_peers
from registry_node.core.yamlsafe import load_yaml
from registry_node.demo import READY_LINE, STATES, prepare
from registry_node.services.node import Node
from tests.e2e_harness import free_port

ROOT = Path(__file__).resolve().parents[1]


async def test_demo_nodes_pin_each_other(tmp_path: Path) -> None:
    configs = await prepare(tmp_path, ROOT / "trust_lists")
    assert [c.jurisdiction for c in configs] == [s.code for s in STATES]
    kids = {}
    for config in configs:
        node = await Node.open(config, import_source=False, publish=False)
        kids[config.node_id] = {k.kid for k in await node.store.read.keys("current")}
        assert len(await node.issuers.all()) >= 12
        await node.close()
    for config in configs:
        folder = config.data_dir.parent
        assert (folder / "admin-token").stat().st_mode & 0o777 == 0o600
        peers = parse_peers(load_yaml((folder / "peers.yaml").read_bytes(), "peers.yaml"), "p")
        assert {p.id for p in peers} == set(kids) - {config.node_id}
        for peer in peers:
            assert peer.pinned_thumbprints == kids[peer.id]
    again = await prepare(tmp_path, ROOT / "trust_lists")
    assert [c.node_id for c in again] == [c.node_id for c in configs]
    for config in again:
        node = await Node.open(config, import_source=False, publish=False)
        assert {k.kid for k in await node.store.read.keys("current")} == kids[config.node_id]
        await node.close()


def _write_node_yamls(root: Path) -> dict[str, int]:
    """The demo's node.yaml files, on free ports, so that the demo never needs 8081-8083."""
    ports = {}
    for state in STATES:
        folder = root / state.code.lower()
        folder.mkdir(parents=True)
        ports[state.code] = free_port()
        source = ROOT / "trust_lists" / f"{state.code.lower()}.yaml"
        (folder / "node.yaml").write_text(
            configmod.template(
                state.node_id,
                state.code,
                state.name,
                port=ports[state.code],
                trust_list=str(source),
            )
        )
    return ports


def _quoted(line: str) -> str:
    """The last single-quoted part of a printed shell command."""
    return line.rsplit("'", 2)[1]


async def test_demo_federates_then_prints_commands_that_work(tmp_path: Path) -> None:
    ports = _write_node_yamls(tmp_path / "demo-data")
    log = tmp_path / "demo.log"
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "registry_node",
            "demo",
            "--dir",
            "demo-data",
            "--trust-lists",
            str(ROOT / "trust_lists"),
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,  # a process group of its own, as in a terminal
        )
    try:
        assert proc.stdout is not None
        printed: list[str] = []
        async with asyncio.timeout(60):
            while READY_LINE not in printed:
                line = await proc.stdout.readline()
                assert line, f"the demo exited early:\n{log.read_text()}"
                printed.append(line.decode().rstrip("\n"))
        text = "\n".join(printed)
        for state in STATES:
            assert f"http://127.0.0.1:{ports[state.code]}" in text
            assert f"demo-data/{state.code.lower()}/admin-token" in text
        commands = [line.strip() for line in printed if line.strip().startswith("curl ")]
        lookup, trqp, receipt = commands
        indiana = f"http://127.0.0.1:{ports['US-IN']}"

        async with aiohttp.ClientSession() as http:
            url = _quoted(lookup)
            assert url.startswith(f"{indiana}/v1/issuers/did:web:nursing.ohio.example?")
            async with http.get(url) as resp:
                answer = await resp.json()
            assert (answer["outcome"], answer["reason"]) == ("trusted", "active"), answer
            assert answer["decided_by"] == ["https://registry.ohio.example"]
            assert [e["jurisdiction"] for e in answer["evidence"]] == ["US-OH"]

            assert f"{indiana}/trqp/authorization" in trqp and trqp.endswith("\\")
            data = printed[printed.index(next(p for p in printed if p.strip() == trqp)) + 1]
            assert data.strip().startswith("-d '")
            async with http.post(f"{indiana}/trqp/authorization", data=_quoted(data)) as resp:
                authorization = await resp.json()
            assert authorization["authorized"] is True, authorization

            assert _quoted(receipt) == url and "'Accept: application/jwt'" in receipt
            async with http.get(url, headers={"Accept": "application/jwt"}) as resp:
                assert resp.content_type == "application/jwt"
                assert len((await resp.text()).split(".")) == 3

            # The banner points at the pages for people, and they answer.
            for page in (f"{indiana}/", f"{indiana}/console"):
                assert f"  {page}" in printed, page
                async with http.get(page) as resp:
                    assert resp.status == 200 and resp.content_type == "text/html", page
            async with http.get(f"{indiana}/?q=nursing") as resp:
                assert "Ohio Board of Nursing Licensure" in await resp.text()

            # README, "Asking the registry": the sample credential checks out at Indiana.
            badge = (ROOT / "examples" / "badge.json").read_bytes()
            async with http.post(f"{indiana}/v1/verify", data=badge) as resp:
                result = await resp.json()
            assert result["verdict"] == "valid", result

            # README, quick start: suspend an Ohio issuer, publish, sync Indiana: it follows.
            ohio = f"http://127.0.0.1:{ports['US-OH']}"
            tokens = {
                code: (tmp_path / "demo-data" / code.lower() / "admin-token").read_text().strip()
                for code in ("US-OH", "US-IN")
            }
            board = "did%3Aweb%3Anursing.ohio.example"
            steps = [
                (f"{ohio}/admin/v1/issuers/{board}/status", "US-OH", 200),
                (f"{ohio}/admin/v1/publish", "US-OH", 201),
                (f"{indiana}/admin/v1/peers/sync", "US-IN", 200),
            ]
            change = {"status": "suspended", "reason": "board audit"}
            for step, (target, code, status) in enumerate(steps):
                headers = {"Authorization": f"Bearer {tokens[code]}"}
                body = change if step == 0 else None
                async with http.post(target, json=body, headers=headers) as resp:
                    assert resp.status == status, await resp.text()
            async with http.get(f"{indiana}/v1/issuers/did:web:nursing.ohio.example") as resp:
                answer = await resp.json()
            assert (answer["outcome"], answer["reason"]) == ("not_trusted", "suspended"), answer

        # Ctrl-C in a terminal signals the whole process group.
        os.killpg(proc.pid, signal.SIGINT)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
        stopped = log.read_text()
        assert "demo stopping" in stopped
        assert "Traceback" not in stopped, stopped
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # any worker process left behind
