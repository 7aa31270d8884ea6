"""The command line: init, issuers, publish, keys, tokens, audit, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_node.cli import main
from registry_node.core import reasons
from tests.helpers import issuer


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "init",
            "--node-id",
            "https://registry.indiana.example",
            "--jurisdiction",
            "us-in",
            "--name",
            "Indiana LER Trust Registry",
            "--port",
            "8181",
        ]
    )
    assert code == 0
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_writes_a_config_that_serve_accepts(state: Path) -> None:
    text = (state / "node.yaml").read_text()
    assert "node_id: https://registry.indiana.example" in text
    assert "jurisdiction: US-IN" in text
    assert "port: 8181" in text
    assert (state / "trust_lists" / "us-in.yaml").exists()
    from registry_node import config

    loaded = config.load(state / "node.yaml")
    assert loaded.port == 8181
    assert loaded.trust_list_path == state / "trust_lists" / "us-in.yaml"


def test_init_refuses_to_overwrite(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "init", "--node-id", "https://x.example", "--jurisdiction", "US-IN", "--name", "X"
    )
    assert code == 2
    assert (
        err.strip().splitlines()[0]
        == "registry-node: error: node.yaml: already exists (use --force to overwrite)"
    )


def test_issuer_workflow(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "issuers",
        "add",
        "--id",
        "did:web:nursing.indiana.example",
        "--name",
        "Indiana Board of Nursing",
        "--org-type",
        "licensing_board",
    )
    assert code == 0, out
    assert "added did:web:nursing.indiana.example" in out

    code, out, _ = run(
        capsys,
        "issuers",
        "set-status",
        "did:web:nursing.indiana.example",
        "suspended",
        "--reason",
        "audit",
        "--from",
        "2020-01-01T00:00:00Z",
    )
    assert code == 0

    code, out, _ = run(capsys, "issuers", "list")
    assert (
        out.splitlines()
        == ["did:web:nursing.indiana.example\tactive\tlicensing_board\tIndiana Board of Nursing"]
        or "suspended" not in out
    )  # the suspension predates creation, so the later active holds

    code, out, _ = run(capsys, "publish")
    assert code == 0
    assert out.startswith("published seq 1 ")

    code, out, _ = run(capsys, "audit")
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    assert actions[:1] == ["key.create"]
    assert "issuer.create" in actions
    assert "issuer.status" in actions
    assert actions[-1] == "publish"
    assert all(json.loads(line)["actor"].startswith(("cli", "system")) for line in out.splitlines())


def test_import_reports_counts(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = state / "more.yaml"
    entries = [issuer(1, authorizations=[]), issuer(2, authorizations=[])]
    source.write_text(json.dumps({"jurisdiction": "US-IN", "issuers": entries}))
    code, out, _ = run(capsys, "issuers", "import", str(source))
    assert code == 0
    assert out.strip() == f"{source}: 2 created, 0 updated, 0 unchanged"
    code, out, _ = run(capsys, "issuers", "import", str(source))
    assert out.strip() == f"{source}: 0 created, 0 updated, 2 unchanged"


def test_a_bad_source_file_gets_one_line_naming_file_entry_and_field(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = state / "bad.yaml"
    source.write_text(
        "jurisdiction: US-IN\n"
        "issuers:\n"
        "  - id: did:web:ok.indiana.example\n"
        "    name: OK\n"
        "    org_type: k12\n"
        "    status_history: [{status: active, from: '2020-01-01T00:00:00Z'}]\n"
        "  - id: did:web:bad.indiana.example\n"
        "    name: Bad\n"
        "    org_type: k12\n"
        "    status_history: [{status: actve, from: '2020-01-01T00:00:00Z'}]\n"
    )
    code, out, err = run(capsys, "issuers", "import", str(source))
    assert code == 2
    error, hint = err.strip().splitlines()  # one line for the error, one for what to do
    assert error.startswith(
        f"registry-node: error: {source}: issuers[1] (did:web:bad.indiana.example): "
        "status_history[0].status: 'actve' is not one of"
    )
    assert hint == f"registry-node: hint: {reasons.hint('schema_invalid')}"
    code, out, _ = run(capsys, "issuers", "list")
    assert out == ""  # nothing from the file was written


def test_yaml_syntax_error_names_the_line(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = state / "broken.yaml"
    source.write_text("jurisdiction: US-IN\nissuers: [\n")
    code, _, err = run(capsys, "issuers", "import", str(source))
    assert code == 2
    assert err.startswith(f"registry-node: error: {source}:3: not valid YAML")


def test_bad_config_names_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "node.yaml"
    bad.write_text("node_id: http://insecure.example\nlisten: {port: 99999}\n")
    code, _, err = run(capsys, "--config", str(bad), "keys", "list")
    assert code == 2
    assert err.startswith(f"registry-node: error: {bad}: listen.port: 99999 is greater than")


def test_keys_rotate_and_tokens(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "rotate", "--alg", "ES256")
    assert code == 0
    assert "announced next key" in out
    code, out, _ = run(capsys, "keys", "list")
    states = sorted(line.split("\t")[2] for line in out.splitlines())
    assert states == ["current", "next"]
    code, _, err = run(capsys, "keys", "rotate", "--complete")
    assert code == 1
    assert "rotation_too_early" in err

    code, out, _ = run(capsys, "token", "create", "ops")
    token = out.strip()
    assert token.startswith("rnt_")
    code, out, _ = run(capsys, "token", "list")
    assert "\tops\t" in out
    assert token not in out
    code, out, _ = run(capsys, "token", "revoke", "1")
    assert code == 0
    code, out, _ = run(capsys, "token", "list")
    assert "revoked" in out


def test_peers_check_status_and_sync(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (state / "peers.yaml").write_text(
        "peers:\n"
        "  - id: https://registry.ohio.example\n"
        "    jurisdiction: US-OH\n"
        "    url: http://127.0.0.1:9/trust-list\n"
        f"    keys: ['{'A' * 43}']\n"
    )
    code, out, _ = run(capsys, "peers", "check")
    assert code == 0
    assert out.strip().endswith("peers.yaml: 1 peers, valid")
    code, out, _ = run(capsys, "publish")
    assert code == 0, out
    code, out, _ = run(capsys, "peers", "status")
    assert out.split("\t")[:3] == ["https://registry.ohio.example", "US-OH", "never_synced"]
    code, out, _ = run(capsys, "peers", "sync")  # port 9 on loopback: connection refused
    assert code == 1
    assert out.split("\t")[:2] == ["https://registry.ohio.example", "failed"]
    assert "connection_failed" in out
    code, out, _ = run(capsys, "peers", "status")
    assert "\tnever_synced\t" in out
    assert "connection_failed" in out


def test_peers_check_names_the_peer_and_field(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (state / "peers.yaml").write_text(
        "peers:\n  - id: https://registry.ohio.example\n    jurisdiction: Ohio\n"
        f"    url: https://registry.ohio.example/trust-list\n    keys: ['{'A' * 43}']\n"
    )
    code, _, err = run(capsys, "peers", "check")
    assert code == 2
    assert err.startswith(
        f"registry-node: error: {state / 'peers.yaml'}: peers[0] (https://registry.ohio.example): "
        "jurisdiction: 'Ohio' is not of the expected form"
    )


def test_zero_federation_timeouts_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "node.yaml"
    bad.write_text("federation: {deadline: 0}\n")
    code, _, err = run(capsys, "--config", str(bad), "keys", "list")
    assert code == 2
    assert err.startswith(f"registry-node: error: {bad}: federation.deadline: must be at least 1s")


def test_json_logs_carry_extra_fields() -> None:
    import logging

    from registry_node.logs import JsonFormatter

    record = logging.makeLogRecord(
        {"name": "registry_node.test", "levelname": "INFO", "msg": "published", "seq": 7}
    )
    doc = json.loads(JsonFormatter().format(record))
    assert doc["msg"] == "published"
    assert doc["seq"] == 7
    assert doc["level"] == "info"
    assert doc["logger"] == "registry_node.test"


def test_an_unusable_data_dir_and_a_newer_database_get_one_line(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    (state / "blocked").write_text("a file, not a folder")
    config = (state / "node.yaml").read_text()
    (state / "node.yaml").write_text(config.replace("data_dir: data", "data_dir: blocked/data"))
    code, _, err = run(capsys, "publish")
    assert code == 2
    assert err.splitlines()[0].startswith("registry-node: error: data_dir: ")
    (state / "node.yaml").write_text(config)
    assert run(capsys, "publish")[0] == 0
    with sqlite3.connect(state / "data" / "registry.sqlite3") as db:
        db.execute("PRAGMA user_version = 99")
    code, _, err = run(capsys, "keys", "list")
    assert code == 2
    assert "database schema version 99 is newer than this software" in err.splitlines()[0]


def test_keys_rotate_says_when_it_can_complete(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "keys", "rotate")
    assert code == 0
    assert "after ?" not in out
    assert out.rstrip().endswith("Z")


def test_serve_on_a_port_in_use_gets_one_line(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port))
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("registry-node: ")]
    assert errors[0].startswith(f"registry-node: error: listen: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in err


def test_init_for_a_node_behind_a_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(
        capsys,
        "init",
        "--node-id",
        "https://registry.ohio.gov",
        "--jurisdiction",
        "US-OH",
        "--name",
        "Ohio",
        "--host",
        "0.0.0.0",  # noqa: S104 (a container listens on every interface)
        "--public-url",
        "https://registry.ohio.gov",
        "--data-dir",
        "/var/lib/registry-node",
    )
    assert code == 0, err
    from registry_node import config

    loaded = config.load(tmp_path / "node.yaml")
    assert loaded.public_url == "https://registry.ohio.gov"
    assert loaded.base_url == "https://registry.ohio.gov"
    assert loaded.data_dir == Path("/var/lib/registry-node")
    code, _, err = run(
        capsys,
        "init",
        "--force",
        "--node-id",
        "https://x.example",
        "--jurisdiction",
        "US-OH",
        "--name",
        "X",
        "--public-url",
        "ftp://x",
    )
    assert code == 2
    assert "public_url" in err
