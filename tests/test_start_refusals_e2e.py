"""``serve`` refuses to start, in a real process, rather than run as something it is not.

Each case starts ``python -m registry_node -c node.yaml serve`` on a node's folder and expects
it to exit non-zero within a bound, with one error line (and its hint) and no traceback, never
to stay up without listening, and to leave the data folder as it found it: no new database, no
new key. The data folder's lock is shown with two real ``serve`` processes (docs/adr/0014).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from registry_node.core import reasons
from tests.e2e_harness import OHIO, ROOT, NodeProcess, SharedClock, free_port

#: How long a refused start may take (imports, then the checks): far below any test timeout.
EXIT_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data folder as Ohio's first command leaves it (database and signing key), made once
    for the module, and the key's kid."""
    folder = tmp_path_factory.mktemp("made")
    (folder / "node.yaml").write_text(
        f"node_id: {OHIO.node_id}\njurisdiction: {OHIO.code}\nname: {OHIO.name}\n"
        "data_dir: data\nlog_format: json\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "registry_node", "-c", str(folder / "node.yaml")]
    subprocess.run([*command, "token", "create", "e2e"], env=env, check=True, capture_output=True)
    listing = subprocess.run(
        [*command, "keys", "list"], env=env, check=True, capture_output=True, text=True
    ).stdout
    return folder / "data", listing.split("\t")[0]


@pytest.fixture
async def node(tmp_path: Path, made: tuple[Path, str]) -> AsyncIterator[NodeProcess]:
    """Ohio's folder with that data folder: it has run, and is not serving."""
    async with aiohttp.ClientSession() as http:
        ohio = NodeProcess(OHIO, tmp_path, SharedClock(tmp_path / "clock"), http)
        ohio.write_config()
        shutil.copytree(made[0], ohio.folder / "data")
        ohio.kid = made[1]
        try:
            yield ohio
        finally:
            await ohio.stop()


async def serve(node: NodeProcess, *args: str, port: int | None = None) -> tuple[int, str]:
    """Run ``serve`` and wait for it to exit; its status and standard error."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "registry_node",
        *args,
        "serve",
        "--port",
        str(port or free_port()),
        cwd=node.folder,
        env=node.env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(EXIT_TIMEOUT):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("serve stayed up instead of refusing to start") from None
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")


def refusal(status: int, err: str, code: str, hint: str | None = None) -> str:
    """The error line of a refused start, checked for its shape and hint (the registry's hint
    of ``code`` unless the refusal gives its own)."""
    assert status == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("registry-node: ")]
    assert len(lines) == 2, err
    assert lines[0].startswith("registry-node: error: ")
    assert lines[1] == f"registry-node: hint: {hint or reasons.hint(code)}"
    return lines[0].removeprefix("registry-node: error: ")


def tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "node.lock"
    }


def database(node: NodeProcess) -> Path:
    return node.folder / "data" / "registry.sqlite3"


def keys(node: NodeProcess) -> Path:
    return node.folder / "data" / "keys"


async def test_a_corrupt_database_stops_serve_with_one_line(node: NodeProcess) -> None:
    database(node).write_bytes(b"this is not a database\n" * 200)
    before = tree(node.folder / "data")
    status, err = await serve(node, "-c", "node.yaml")
    line = refusal(status, err, "database_unusable")
    assert line == f"{database(node)}: cannot open the database: file is not a database"
    assert tree(node.folder / "data") == before


async def test_an_unusable_data_dir_stops_serve_with_one_line(node: NodeProcess) -> None:
    (node.folder / "blocked").write_text("a file, not a folder")
    text = node.node_yaml.read_text().replace("data_dir: data", "data_dir: blocked/data")
    node.node_yaml.write_text(text)
    status, err = await serve(node, "-c", "node.yaml")
    line = refusal(status, err, "data_dir_unusable")
    assert line.startswith(f"data_dir: {node.folder / 'blocked' / 'data'}: ")


@pytest.mark.parametrize("how", ["deleted", "emptied"])
async def test_keys_without_a_database_stop_serve(node: NodeProcess, how: str) -> None:
    kid_files = tree(keys(node))
    assert len(kid_files) == 1
    if how == "deleted":
        database(node).unlink()
    else:
        database(node).write_bytes(b"")
    status, err = await serve(node, "-c", "node.yaml")
    line = refusal(status, err, "database_lost")
    state = "is missing" if how == "deleted" else "is empty"
    assert line.startswith(f"{database(node)}: the database {state}, but {keys(node)} holds 1")
    assert "a new database would give it a new identity" in line
    assert tree(keys(node)) == kid_files
    assert database(node).exists() == (how == "emptied")
    assert not database(node).exists() or database(node).stat().st_size == 0


async def test_a_database_without_its_keys_stops_serve(node: NodeProcess) -> None:
    for key in keys(node).iterdir():
        key.unlink()
    status, err = await serve(node, "-c", "node.yaml")
    line = refusal(status, err, "key_missing")
    assert line == f"{keys(node) / (node.kid + '.pem')}: signing key {node.kid} is missing"
    assert list(keys(node).iterdir()) == []


async def test_an_empty_configuration_stops_serve(node: NodeProcess) -> None:
    node.node_yaml.write_text("")
    status, err = await serve(node, "-c", "node.yaml")
    hint = "Write one with registry-node init, or restore node.yaml from your backup."
    line = refusal(status, err, "config_invalid", hint)
    assert line.startswith("node.yaml: is empty")


async def test_no_configuration_stops_serve(node: NodeProcess) -> None:
    node.node_yaml.unlink()
    status, err = await serve(node)
    line = refusal(status, err, "config_missing")
    assert line.startswith(f"no node.yaml in {node.folder}: `registry-node serve` works")


async def test_one_serve_per_data_folder(node: NodeProcess) -> None:
    await node.start()
    status, err = await serve(node, "-c", "node.yaml")
    line = refusal(status, err, "data_dir_locked")
    assert node.proc is not None
    assert line == (
        f"data_dir: {node.folder / 'data'}: another registry-node serve (pid {node.proc.pid}) "
        "is running on this data folder"
    )
    ready, body = await node.readyz()
    assert (ready, body["status"]) == (200, "ready")
    # Admin commands still work alongside the running node, and know that it runs.
    assert "\tcurrent\t" in await node.cli("keys", "list")
    add = ["issuers", "add", "--id", "did:web:x.ohio.example", "--name", "X", "--org-type", "other"]
    assert "it is published by the running node within" in await node.cli(*add)
    # The kernel drops the lock with the process, however it ends.
    await node.stop(signal.SIGKILL)
    await node.start()
    ready, _ = await node.readyz()
    assert ready == 200
