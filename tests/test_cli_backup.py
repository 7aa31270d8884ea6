"""The command line of backups, restores and compaction: output, exit status, one-line errors;
and the files node.yaml and the issuer source file name (operator's contexts, DID documents),
which a backup must hold for a rebuilt node to verify as the backed-up one did."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from registry_node.cli import main
from registry_node.config import load
from registry_node.core.errors import ConfigError
from registry_node.core.yamlsafe import dump_yaml, load_yaml
from registry_node.services import backup
from registry_node.services.node import Node
from tests import credential_factory as cf
from tests.helpers import FakeClock, init_node, issuer


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


# A node whose operator pinned two contexts (two files called v1.json), a DID document in
# node.yaml, and two issuer entries with DID documents beside the source file (two doc.json).
CONTEXTS = {
    "https://example.org/a/v1.json": (
        "contexts/a/v1.json",
        {"@context": {"@protected": True, "grade": "https://example.org/a#grade"}},
    ),
    "https://example.org/b/v1.json": (
        "contexts/b/v1.json",
        {"@context": {"@protected": True, "level": "https://example.org/b#level"}},
    ),
}
BOARD = "did:web:board.indiana.example"  # its DID document is in node.yaml
COLLEGE = "did:web:college.indiana.example"  # these two: beside the source file
UNIVERSITY = "did:web:university.indiana.example"
SOURCE = "trust_lists/us-in.yaml"
#: backup name -> the file it is a copy of, for the state below
COPIES = {
    "config/contexts/0/v1.json": "contexts/a/v1.json",
    "config/contexts/1/v1.json": "contexts/b/v1.json",
    "config/did_documents/0/board.json": "dids/board.json",
    "config/issuer_did_documents/1/doc.json": "trust_lists/college/doc.json",
    "config/issuer_did_documents/2/doc.json": "trust_lists/university/doc.json",
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _did_document(did: str) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": f"{did}#key-1",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": cf.multikey(cf.ed25519().public_key()),
            }
        ],
        "assertionMethod": [f"{did}#key-1"],
    }


def _listed(did: str, **extra: Any) -> dict[str, Any]:
    """An entry for ``did``, authorised in Indiana (the node's state)."""
    grant = {**issuer()["authorizations"][0], "jurisdiction": "US-IN"}
    return issuer(id=did, authorizations=[grant], **extra)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    init_node("Indiana LER Trust Registry")
    pins = []
    for url, (file, context) in CONTEXTS.items():
        data = json.dumps(context).encode()
        _write(tmp_path / file, data)
        pins.append({"url": url, "file": file, "sha256": hashlib.sha256(data).hexdigest()})
    _write(tmp_path / "dids/board.json", json.dumps(_did_document(BOARD)).encode())
    for did, file in ((COLLEGE, "college/doc.json"), (UNIVERSITY, "university/doc.json")):
        _write(tmp_path / "trust_lists" / file, json.dumps(_did_document(did)).encode())
    source = {
        "jurisdiction": "US-IN",
        "issuers": [
            _listed(BOARD),
            _listed(COLLEGE, did_document="college/doc.json"),
            _listed(UNIVERSITY, did_document="university/doc.json"),
        ],
    }
    (tmp_path / SOURCE).write_text(dump_yaml(source))
    doc = load_yaml((tmp_path / "node.yaml").read_bytes(), "node.yaml")
    doc["credentials"] = {"contexts": pins, "did_documents": {BOARD: "dids/board.json"}}
    (tmp_path / "node.yaml").write_text(dump_yaml(doc))
    assert main(["issuers", "import", SOURCE]) == 0
    assert main(["publish"]) == 0
    return tmp_path


def test_a_backup_holds_the_contexts_and_did_documents_the_configuration_names(
    offline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, out, _ = run(capsys, "backup", "b")
    assert code == 0, out
    folder = offline / "b"
    manifest = json.loads((folder / "backup.json").read_text())
    files = manifest["files"]
    assert f"and {len(files)} files" in out
    node_yaml, source = offline / "node.yaml", offline / SOURCE
    named_by = {
        "config/contexts/0/v1.json": f"{node_yaml}: credentials.contexts[0].file",
        "config/contexts/1/v1.json": f"{node_yaml}: credentials.contexts[1].file",
        "config/did_documents/0/board.json": f"{node_yaml}: credentials.did_documents.{BOARD}",
        "config/issuer_did_documents/1/doc.json": f"{source}: issuers[1].did_document",
        "config/issuer_did_documents/2/doc.json": f"{source}: issuers[2].did_document",
    }
    for name, original in COPIES.items():
        data = (offline / original).read_bytes()
        copy = folder / name
        assert copy.read_bytes() == data, name  # two files of one name: both kept
        assert files[name]["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert files[name]["bytes"] == len(data)
        assert files[name]["from"] == str(offline / original)
        assert files[name]["named_by"] == named_by[name]
        assert _mode(copy) == 0o600, name
        for parent in (copy.parent, copy.parent.parent):
            assert _mode(parent) == 0o700, parent
    first, second = folder / "config/contexts/0/v1.json", folder / "config/contexts/1/v1.json"
    assert first.read_bytes() != second.read_bytes()
    # Every file is listed, and every listed file is 0600.
    listed = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert listed == set(files) | {"backup.json"}
    assert all(_mode(folder / name) == 0o600 for name in listed)

    # The restore checks them and leaves the operator's files alone.
    before = {original: (offline / original).read_bytes() for original in COPIES.values()}
    code, out, _ = run(capsys, "restore", "b")
    assert code == 0 and "restored seq 1" in out
    configured = len([name for name in files if name.startswith("config/")])
    assert configured == len(COPIES) + 2  # node.yaml and the issuer file (no peers.yaml)
    assert (
        f"the {configured} configuration files in b/config were checked, not put in place: "
        "backup.json names where each came from"
    ) in out
    assert {original: (offline / original).read_bytes() for original in COPIES.values()} == before


@pytest.mark.parametrize("name", sorted(COPIES))
def test_a_tampered_copy_fails_the_restore(
    offline: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", "b"]) == 0
    (offline / "b" / name).write_text("{}")
    capsys.readouterr()
    code, _, err = run(capsys, "restore", "b")
    assert code == 2
    assert err.splitlines()[0] == (
        f"registry-node: error: b/{name}: does not match its digest in backup.json"
    )
    assert not (offline / "data" / "registry.sqlite3.restoring").exists()


@pytest.mark.parametrize(
    ("gone", "field"),
    [
        ("trust_lists/university/doc.json", "issuers[2].did_document"),
        ("trust_lists/college/doc.json", "issuers[1].did_document"),
    ],
)
def test_a_missing_did_document_of_the_source_file_fails_the_backup(
    offline: Path, gone: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (offline / gone).unlink()
    capsys.readouterr()
    code, _, err = run(capsys, "backup", "b")
    assert code == 2
    assert err.splitlines()[0] == (
        f"registry-node: error: {offline / SOURCE}: {field}: {offline / gone}: "
        "No such file or directory"
    )
    assert err.splitlines()[1].startswith("registry-node: hint: Correct the DID document file")
    assert not (offline / "b").exists()  # nothing written


async def _backup_after(offline: Path, change: Any) -> ConfigError:
    """Back up with a node opened while node.yaml's files were all there, then ``change``d."""
    config = load(offline / "node.yaml")
    node = await Node.open(config, FakeClock(), import_source=False, publish=False)
    try:
        change()
        with pytest.raises(ConfigError) as refused:
            await node.backup(offline / "b")
    finally:
        await node.close()
    assert not (offline / "b" / "backup.json").exists()
    return refused.value


@pytest.mark.parametrize(
    ("gone", "field", "code"),
    [
        ("contexts/b/v1.json", "credentials.contexts[1].file", "context_refused"),
        ("dids/board.json", f"credentials.did_documents.{BOARD}", "did_document_refused"),
    ],
)
async def test_a_missing_file_of_node_yaml_fails_the_backup_naming_the_field(
    offline: Path, gone: str, field: str, code: str
) -> None:
    refused = await _backup_after(offline, (offline / gone).unlink)
    assert (refused.code, refused.field) == (code, field)
    assert refused.detail == (
        f"{offline / 'node.yaml'}: {field}: {offline / gone}: No such file or directory"
    )
    assert not (offline / "b").exists()


async def test_a_context_that_no_longer_matches_its_pin_fails_the_backup(offline: Path) -> None:
    changed = offline / "contexts/a/v1.json"
    refused = await _backup_after(offline, lambda: changed.write_text('{"@context": {}}'))
    assert (refused.code, refused.field) == ("context_refused", "credentials.contexts[0].file")
    assert "its sha256 is" in refused.detail and "pinned" in refused.detail
    assert not (offline / "b").exists()


async def test_a_context_changed_after_its_check_is_not_backed_up_as_pinned(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pin is checked on the bytes copied, not only on the file before the copy: a file
    that changes in between fails the backup, and no manifest is written."""
    changed = offline / "contexts/a/v1.json"
    checked = backup._check

    def check_then_change(item: backup.Referenced) -> None:
        checked(item)
        if item.path == changed:
            changed.write_text('{"@context": {}}')

    monkeypatch.setattr(backup, "_check", check_then_change)
    refused = await _backup_after(offline, lambda: None)
    assert (refused.code, refused.field) == ("context_refused", "credentials.contexts[0].file")
    assert "its sha256 is" in refused.detail and "pinned" in refused.detail


async def test_the_manifest_records_the_bytes_copied(offline: Path) -> None:
    config = load(offline / "node.yaml")
    node = await Node.open(config, FakeClock(), import_source=False, publish=False)
    try:
        manifest = await node.backup(offline / "b")
    finally:
        await node.close()
    for name, entry in manifest["files"].items():
        data = (offline / "b" / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["bytes"] == len(data), name


def test_the_referenced_files_of_a_node_without_any(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert backup.referenced_files(load(state / "node.yaml")) == []
    assert main(["backup", "b"]) == 0
    files = json.loads((state / "b" / "backup.json").read_text())["files"]
    assert not [name for name in files if name.count("/") > 1]


def test_a_source_file_that_cannot_be_parsed_fails_the_backup(
    offline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (offline / SOURCE).write_text("issuers: [\n")
    capsys.readouterr()
    code, _, err = run(capsys, "backup", "b")
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith(f"registry-node: error: {offline / SOURCE}:2: not valid YAML")
    assert first.endswith("(the backup cannot tell which DID documents it names)")
    assert not (offline / "b").exists()


def test_a_did_document_that_is_a_folder_fails_the_backup(
    offline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = offline / "trust_lists/college/doc.json"
    document.unlink()
    document.mkdir()
    capsys.readouterr()
    code, _, err = run(capsys, "backup", "b")
    assert code == 2
    assert err.splitlines()[0] == (
        f"registry-node: error: {offline / SOURCE}: issuers[1].did_document: {document}: not a file"
    )
    assert not (offline / "b").exists()
