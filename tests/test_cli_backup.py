"""The command line of backups, restores and compaction: output, exit status, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_node.cli import main
from tests.helpers import init_node


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    init_node("Indiana LER Trust Registry")
    assert main(["publish"]) == 0
    return tmp_path


def test_backup_restore_confirm(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, _ = run(capsys, "backup", "b1")
    assert code == 0 and "backed up seq 1" in out
    code, _, err = run(capsys, "backup", "b1")  # not empty any more
    assert code == 2
    assert err.splitlines()[0] == "registry-node: error: b1: exists and is not an empty folder"
    code, out, _ = run(capsys, "restore", "b1")
    assert code == 0 and "restored seq 1" in out and "kept as" in out
    # Until confirmed, nothing is published, also from the command line.
    code, _, err = run(capsys, "publish")
    assert code == 1 and "restore_unconfirmed" in err
    code, out, _ = run(capsys, "restore", "--confirm")
    assert code == 0 and "restore confirmed" in out
    code, out, _ = run(capsys, "restore", "--confirm")
    assert code == 0 and "no restore is waiting" in out
    code, out, _ = run(capsys, "publish")
    assert code == 0 and "published seq 2" in out


def test_a_damaged_backup_is_refused_in_one_line(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", "b2"]) == 0
    (state / "b2" / "config" / "node.yaml").write_text("tampered\n")
    capsys.readouterr()
    code, _, err = run(capsys, "restore", "b2")
    assert code == 2
    assert err.splitlines()[0] == (
        "registry-node: error: b2/config/node.yaml: does not match its digest in backup.json"
    )
    code, _, err = run(capsys, "restore")
    assert code == 2 and "DIR" in err


def test_compact_prints_what_it_kept(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, _ = run(capsys, "compact", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["chain"] == []
    assert report["after"]["versions"] == report["after"]["bodies_kept"] == 1
