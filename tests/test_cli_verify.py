"""`registry-node verify`: the verdict of POST /v1/verify for a credential on disk, from the
node's database, from a running node, or fully offline from a saved bundle of lists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from registry_node.cli import main
from registry_node.config import load
from registry_node.http.app import create_app
from tests import credential_factory as cf
from tests.helpers import college_source, init_node

COLLEGE = "did:web:college.indiana.example"
STATUS_URL = "https://status.college.indiana.example/lists/1"
#: the college's signing key, by the folder of the state that made it
KEYS: dict[Path, Any] = {}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An Indiana node whose published list pins the college's key; and a credential of it."""
    monkeypatch.chdir(tmp_path)
    init_node()
    key = cf.ed25519()
    source = college_source(COLLEGE, cf.multikey_method(f"{COLLEGE}#key-1", key))
    (tmp_path / "source.yaml").write_text(json.dumps(source))
    assert main(["issuers", "import", "source.yaml"]) == 0
    assert main(["publish"]) == 0
    KEYS[tmp_path] = key
    credential = cf.sign_data_integrity(cf.open_badge(COLLEGE), key, f"{COLLEGE}#key-1")
    path = tmp_path / "badge.json"
    path.write_text(json.dumps(credential))
    return tmp_path, path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_from_the_nodes_database(
    state: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, badge = state
    capsys.readouterr()
    code, out, _ = run(capsys, "verify", str(badge))
    assert code == 0, out
    assert out.startswith("verdict: valid")
    assert "ok   trusted_now" in out
    code, out, _ = run(capsys, "verify", str(badge), "--json")
    result = json.loads(out)
    assert result["credential"]["trust"]["now"]["decided_by"] == [
        "https://registry.indiana.example"
    ]


def test_verify_offline_from_a_bundle_elsewhere(
    state: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, badge = state
    bundle = tmp_path_factory.mktemp("bundle")
    code, out, _ = run(capsys, "bundle", "save", str(bundle))
    assert code == 0
    assert out.split("\t")[:3] == ["us-in.jws", "https://registry.indiana.example", "US-IN\n"]
    elsewhere = tmp_path_factory.mktemp("laptop")  # no node.yaml, no database
    monkeypatch.chdir(elsewhere)
    code, out, err = run(capsys, "verify", str(badge), "--bundle", str(bundle))
    assert (code, err) == (0, "")
    assert out.startswith("verdict: valid")
    assert not (elsewhere / "data").exists()

    # A list that does not verify against the bundle's keys is left out, and said so.
    jws = json.loads((bundle / "us-in.jws").read_bytes())
    signature = jws["signatures"][0]["signature"]
    jws["signatures"][0]["signature"] = ("A" if signature[0] != "A" else "B") + signature[1:]
    (bundle / "us-in.jws").write_text(json.dumps(jws))
    code, out, err = run(capsys, "verify", str(badge), "--bundle", str(bundle))
    assert code == 1
    assert "warning: list not used: us-in.jws:" in err
    # No key of the issuer is known any more: that is indeterminate, not proof of forgery.
    assert "verdict: indeterminate" in out
    assert "??   signature" in out and "unknown_key" in out
    assert "??   trusted_now" in out and "no_verified_key" in out


def test_verify_offline_with_the_bundles_status_lists(
    state: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A bundle's status/ folder carries status lists; without one, status is indeterminate."""
    from datetime import UTC, datetime, timedelta

    from registry_node.core.credentials.status import MIN_BITSTRING_BYTES, encode_bitstring
    from registry_node.core.timeutil import format_rfc3339

    folder, _ = state
    key = KEYS[folder]
    bundle = tmp_path_factory.mktemp("bundle")
    assert run(capsys, "bundle", "save", str(bundle))[0] == 0
    revoked = bytearray(MIN_BITSTRING_BYTES)
    revoked[0] = 0b0100_0000  # entry 1
    status_list = {
        "@context": [cf.VC_V2],
        "id": STATUS_URL,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": COLLEGE,
        "validFrom": format_rfc3339(datetime.now(UTC) - timedelta(hours=1)),
        "credentialSubject": {
            "id": f"{STATUS_URL}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_bitstring(bytes(revoked)),
        },
    }
    signed_list = cf.sign_data_integrity(status_list, key, f"{COLLEGE}#key-1")

    def badge(index: int) -> Path:
        entry = {
            "id": f"{STATUS_URL}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(index),
            "statusListCredential": STATUS_URL,
        }
        credential = cf.open_badge(COLLEGE, credentialStatus=entry)
        path = folder / f"badge-{index}.json"
        path.write_text(json.dumps(cf.sign_data_integrity(credential, key, f"{COLLEGE}#key-1")))
        return path

    code, out, _ = run(capsys, "verify", str(badge(1)), "--bundle", str(bundle))
    assert code == 1
    assert out.startswith("verdict: indeterminate")
    assert "status_list_unavailable" in out
    (bundle / "status").mkdir()
    (bundle / "status" / "college-1.json").write_text(json.dumps(signed_list))
    code, out, _ = run(capsys, "verify", str(badge(1)), "--bundle", str(bundle))
    assert code == 1
    assert out.startswith("verdict: invalid")
    assert "FAIL status" in out and "status_revoked" in out
    code, out, _ = run(capsys, "verify", str(badge(2)), "--bundle", str(bundle), "--json")
    result = json.loads(out)
    assert (code, result["verdict"]) == (0, "valid"), result["summary"]
    assert "not revoked" in result["summary"]


async def test_verify_through_a_running_node(
    state: tuple[Path, Path], capsys: pytest.CaptureFixture[str], aiohttp_server: Any
) -> None:
    home, badge = state
    config = load(home / "node.yaml")
    server = await aiohttp_server(create_app(config, run_scheduler=False, handle_sighup=False))
    url = str(server.make_url("/"))
    code = await asyncio.to_thread(main, ["verify", str(badge), "--node", url, "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["verdict"] == "valid"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "badge.json: No such file or directory"),
        ("{oops", "badge.json: not JSON"),
        ("[1, 2]", "badge.json: a credential is a JSON object or a JWS"),
        ('{"@context": "https://www.w3.org/ns/credentials/v2"}', "badge.json: "),
    ],
)
def test_bad_files_get_one_line_naming_the_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "badge.json").write_text(content)
    (tmp_path / "bundle.json").write_text('{"version": 1, "lists": []}')
    code, _, err = run(capsys, "verify", "badge.json", "--bundle", str(tmp_path))
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"registry-node: error: {message}"), err
    assert len(lines) <= 2  # the error, and at most a hint
