"""`registry-node receipt verify`: a kept receipt checked with the local node's keys, with a
node's /jwks.json, or offline with the signer's list in a saved bundle (docs/protocol.md 11.3)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from registry_node.cli import main
from registry_node.config import load
from registry_node.core.model import b64url, b64url_decode
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from tests.helpers import FakeClock, issuer

NODE_ID = "https://registry.indiana.example"
ISSUER = issuer(1)["id"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    args = ["init", "--node-id", NODE_ID, "--jurisdiction", "US-IN", "--name", "Indiana"]
    assert main(args) == 0
    return tmp_path


@pytest.fixture
def clock() -> FakeClock:
    """Near the real time: the command judges a retired key's retention by the system clock."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def server(home: Path, clock: FakeClock, aiohttp_server: Any) -> TestServer:
    config = load(home / "node.yaml")
    app = create_app(config, clock, run_scheduler=False, handle_sighup=False)
    started: TestServer = await aiohttp_server(app)
    node = app[NODE]
    await node.issuers.create(issuer(1), "test")
    await node.publisher.publish("test")
    return started


async def _receipt(server: TestServer, home: Path, name: str = "receipt.jwt") -> Path:
    url = server.make_url(f"/v1/issuers/{ISSUER}")
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Accept": "application/jwt"}) as resp,
    ):
        assert resp.status == 200
        token = await resp.text()
    path = home / name
    path.write_text(token + "\n")
    return path


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_a_receipt_verifies_with_the_local_node_and_with_its_jwks(
    server: TestServer, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt = await _receipt(server, home)
    capsys.readouterr()
    code, out, err = await run(capsys, "receipt", "verify", str(receipt))
    assert (code, err) == (0, "")
    assert out.startswith("verified: signed by ") and "(EdDSA)" in out
    assert f"iss      {NODE_ID}" in out and f"sub      {ISSUER}" in out
    assert "outcome  trusted (active)" in out

    url = str(server.make_url("/"))
    code, out, err = await run(capsys, "receipt", "verify", str(receipt), "--node", url, "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["header"]["typ"] == "ler-trust-answer+jwt"
    assert doc["claims"]["answer"]["outcome"] == "trusted"


async def test_a_changed_receipt_is_refused_with_its_reason(
    server: TestServer, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt = await _receipt(server, home)
    head, body, sig = receipt.read_text().strip().split(".")
    claims = json.loads(b64url_decode(body))
    claims["answer"]["outcome"] = "not_trusted"
    receipt.write_text(f"{head}.{b64url(json.dumps(claims).encode())}.{sig}")
    capsys.readouterr()
    code, out, err = await run(capsys, "receipt", "verify", str(receipt))
    assert (code, out) == (1, "")
    assert err.startswith(f"registry-node: {receipt}: not verified: signature_invalid:")
    receipt.write_text("garbage")
    code, _, err = await run(capsys, "receipt", "verify", str(receipt))
    assert code == 1 and "receipt_malformed" in err


async def test_across_a_rotation_the_jwks_keeps_the_old_key_and_a_bundle_does_not(
    server: TestServer,
    home: Path,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    before = await _receipt(server, home, "before.jwt")
    publisher = server.app[NODE].publisher
    await publisher.rotate(None, "test")
    clock.advance(hours=24)
    successor, _ = await publisher.complete_rotation("test")
    after = await _receipt(server, home, "after.jwt")
    url = str(server.make_url("/"))
    capsys.readouterr()
    for receipt in (before, after):
        for where in ((), ("--node", url)):
            code, out, err = await run(capsys, "receipt", "verify", str(receipt), *where)
            assert (code, err) == (0, ""), (receipt, where)

    bundle = tmp_path_factory.mktemp("bundle")
    assert (await run(capsys, "bundle", "save", str(bundle)))[0] == 0
    code, out, err = await run(capsys, "receipt", "verify", str(after), "--bundle", str(bundle))
    assert (code, err) == (0, "") and successor.kid in out
    # The bundle holds the list's keys: the retired key is not among them.
    code, out, err = await run(capsys, "receipt", "verify", str(before), "--bundle", str(bundle))
    assert code == 1 and "unknown_key" in err


async def test_a_bundle_without_the_signer_s_list_names_what_is_missing(
    server: TestServer,
    home: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    receipt = await _receipt(server, home)
    empty = tmp_path_factory.mktemp("empty")
    (empty / "bundle.json").write_text('{"version": 1, "lists": []}')
    capsys.readouterr()
    code, _, err = await run(capsys, "receipt", "verify", str(receipt), "--bundle", str(empty))
    assert code == 2
    assert err.splitlines()[0] == (
        f"registry-node: error: {empty / 'bundle.json'}: lists: no list of '{NODE_ID}' "
        "in this bundle"
    )
    code, _, err = await run(capsys, "receipt", "verify", str(home / "missing.jwt"))
    assert code == 2 and "missing.jwt: No such file or directory" in err
