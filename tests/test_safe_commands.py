"""Commands that cannot go quietly wrong (docs/adr/0014).

- A command that works on a registry needs a configuration file: run in the wrong folder it
  refuses with one line naming where it looked, and creates nothing.
- A configuration names the node's identity: an empty or partial node.yaml is refused.
- A command that only reads never creates a database, a key or a folder.
- ``verify`` with nothing to check against says what it needs.
- A node never quietly takes a new identity: key files without a database, a database without
  its key files, a database of another node_id all stop a command as they stop ``serve``.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_node.cli import build_parser, main
from registry_node.cli._common import ACCESS
from registry_node.core import reasons
from registry_node.services.datafolder import DataLock

#: Every command that changes a registry, with arguments that would otherwise be valid.
WRITE_COMMANDS = [
    ["issuers", "add", "--id", "did:web:x.ohio.example", "--name", "X", "--org-type", "other"],
    ["issuers", "set-status", "did:web:x.ohio.example", "suspended", "--reason", "audit"],
    ["issuers", "import", "more.yaml"],
    ["publish"],
    ["keys", "rotate"],
    ["token", "create", "ops"],
    ["token", "revoke", "1"],
    ["peers", "sync"],
    ["peers", "invite"],
    ["peers", "add", "https://registry.indiana.example", "--thumbprint", "A" * 43, "--yes"],
    ["backup", "out"],
    ["restore", "out"],
    ["restore", "--confirm"],
    ["compact"],
    ["serve"],
]
#: Every command that only reads a registry.
READ_COMMANDS = [
    ["issuers", "list"],
    ["issuers", "show", "did:web:x.ohio.example"],
    ["keys", "list"],
    ["token", "list"],
    ["peers", "status"],
    ["audit"],
    ["bundle", "save", "out"],
]


def leaves(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command of the parser (``issuers add``, ...) and its own parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(words), parser
    for action in subs:
        for name, child in action.choices.items():
            yield from leaves(child, (*words, name))


def test_every_command_declares_what_it_needs() -> None:
    declared = {name: child.get_default("access") for name, child in leaves(build_parser())}
    assert all(access in ACCESS for access in declared.values()), declared
    listed = {
        " ".join(argv[:2]) if " ".join(argv[:2]) in declared else argv[0]
        for argv in WRITE_COMMANDS + READ_COMMANDS
    }
    needs_registry = {n for n, access in declared.items() if access in ("read", "write", "serve")}
    assert needs_registry == listed  # each one is tried without a configuration below
    nothing = {n for n, access in declared.items() if access == "none"}
    assert nothing == {"init", "demo", "peers check", "verify", "receipt verify", "contexts add"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("registry-node: ")]


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the digest of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def init(folder: Path, node_id: str = "https://registry.indiana.example") -> None:
    args = ["init", "--node-id", node_id, "--jurisdiction", "US-IN", "--name", "Indiana"]
    assert main([*args, "--output", str(folder / "node.yaml")]) == 0


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with no node.yaml: the wrong folder."""
    folder = tmp_path / "wrong-folder"
    folder.mkdir()
    (folder / "more.yaml").write_text("jurisdiction: US-OH\nissuers: []\n")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a node.yaml (from init), where the node has never run."""
    monkeypatch.chdir(tmp_path)
    init(tmp_path)
    return tmp_path


@pytest.fixture
def started(configured: Path) -> Path:
    """A node that has run: database, signing key, an issuer and a published list."""
    args = ["--id", "did:web:x.ohio.example", "--name", "X", "--org-type", "other"]
    assert main(["issuers", "add", *args]) == 0
    assert main(["publish"]) == 0
    return configured


@pytest.mark.parametrize("argv", WRITE_COMMANDS + READ_COMMANDS, ids=" ".join)
def test_without_a_configuration_a_registry_command_refuses_and_creates_nothing(
    nowhere: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    before = tree(nowhere)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = errors(err)
    assert lines[0].startswith(f"registry-node: error: no node.yaml in {nowhere}: `registry-node ")
    assert "works on a node's registry and needs its configuration" in lines[0]
    assert lines[1] == f"registry-node: hint: {reasons.hint('config_missing')}"
    assert "registry-node init" in lines[1]
    assert tree(nowhere) == before
    assert sorted(p.name for p in nowhere.iterdir()) == ["more.yaml"]


def test_the_refusal_names_the_whole_command(
    nowhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "token", "create", "ops")
    assert code == 2
    assert errors(err)[0] == (
        f"registry-node: error: no node.yaml in {nowhere}: `registry-node token create` works "
        "on a node's registry and needs its configuration"
    )


@pytest.mark.parametrize("argv", [["init", "--help"], ["peers", "check"]], ids=" ".join)
def test_commands_that_need_no_registry_still_run_without_one(
    nowhere: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    (nowhere / "peers.yaml").write_text("peers: []\n")
    try:
        code, out, _ = run(capsys, *argv)
    except SystemExit as exc:  # --help
        code, out = int(exc.code or 0), capsys.readouterr().out
    assert code == 0
    assert out
    assert not (nowhere / "data").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "node.yaml: is empty: a node's configuration names at least node_id, jurisdiction"),
        ("# nothing but a comment\n", "node.yaml: is empty"),
        ("{}\n", "node.yaml: is empty"),
        (
            "listen: {port: 9000}\n",
            "node.yaml: node_id: missing: a node's configuration names its identity",
        ),
        (
            "node_id: https://registry.indiana.example\nname: Indiana\n",
            "node.yaml: jurisdiction: missing",
        ),
        (
            "node_id: https://registry.indiana.example\njurisdiction: US-IN\n",
            "node.yaml: name: missing",
        ),
    ],
)
def test_an_empty_or_partial_configuration_is_refused(
    nowhere: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (nowhere / "node.yaml").write_text(text)
    code, _, err = run(capsys, "token", "create", "ops")
    assert code == 2
    assert errors(err)[0].startswith(f"registry-node: error: {message}")
    assert not (nowhere / "data").exists()


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=" ".join)
def test_a_read_command_on_a_node_that_never_ran_creates_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    before = tree(configured)
    code, out, err = run(capsys, *argv)
    assert out == ""
    assert code == 2
    database = configured / "data" / "registry.sqlite3"
    assert errors(err)[0] == (
        f"registry-node: error: {database}: no database here: this command reads a node's "
        "database and never creates one"
    )
    assert errors(err)[1] == f"registry-node: hint: {reasons.hint('database_missing')}"
    assert not (configured / "data").exists()
    assert not (configured / "out").exists()
    assert tree(configured) == before


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=" ".join)
def test_a_read_command_changes_nothing_in_the_data_folder(
    started: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    data = started / "data"
    before = tree(data)
    code, _, err = run(capsys, *argv)
    assert code in (0, 1), err  # "issuers show" of an issuer: 0; nothing fails for want of a db
    after = tree(data)
    # SQLite's shared-memory index of a WAL database (-shm, and an empty -wal) may appear
    # beside it while it is read; the database, its keys and every other file stay as they were.
    assert {k: v for k, v in after.items() if not k.endswith(("-shm", "-wal"))} == before
    assert all(after[k] == hashlib.sha256(b"").hexdigest() for k in after if k.endswith("-wal"))


def test_verify_with_nothing_to_check_against_says_what_it_needs(
    nowhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (nowhere / "badge.json").write_text('{"type": ["VerifiableCredential"]}')
    before = tree(nowhere)
    code, out, err = run(capsys, "verify", "badge.json")
    assert code == 2
    assert out == ""
    assert errors(err) == [
        f"registry-node: error: badge.json: nothing to check it against: no node.yaml in "
        f"{nowhere}, and neither --node nor --bundle given",
        f"registry-node: hint: {reasons.hint('verify_needs_lists')}",
    ]
    assert "--node URL" in errors(err)[1] and "--bundle DIR" in errors(err)[1]
    assert tree(nowhere) == before


def test_verify_on_a_node_that_never_ran_says_there_is_no_database(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (configured / "badge.json").write_text('{"type": ["VerifiableCredential"]}')
    code, _, err = run(capsys, "verify", "badge.json")
    assert code == 2
    assert "no database here" in errors(err)[0]
    assert not (configured / "data").exists()


def test_a_write_command_with_a_configuration_creates_the_registry(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first start may be a command (the compose set-up and the end-to-end harness create
    each node's key before it serves): with a configuration, that is allowed."""
    code, out, _ = run(capsys, "token", "create", "ops")
    assert code == 0
    assert out.startswith("rnt_")
    assert len(list((configured / "data" / "keys").glob("*.pem"))) == 1
    # With no node serving the folder, a change says so instead of promising a publication.
    args = ["--id", "did:web:x.ohio.example", "--name", "X", "--org-type", "other"]
    code, out, _ = run(capsys, "issuers", "add", *args)
    assert code == 0
    assert out.startswith("added did:web:x.ohio.example")
    assert out.strip().endswith(
        f"; change saved; no node is serving {configured / 'data'} now: it is published when "
        "the node starts, or now with `registry-node publish`"
    )


# -- never a quiet new identity --------------------------------------------------------------


def _refused(err: str, code: str) -> list[str]:
    lines = errors(err)
    assert lines[1] == f"registry-node: hint: {reasons.hint(code)}"
    return lines


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_key_files_without_a_database_stop_every_writer(
    started: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    data = started / "data"
    database = data / "registry.sqlite3"
    for extra in data.glob("registry.sqlite3-*"):
        extra.unlink()
    if how == "deleted":
        database.unlink()
    else:
        database.write_bytes(b"")
    keys = tree(data / "keys")
    for argv in (["token", "create", "ops"], ["publish"], ["keys", "rotate"]):
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        assert out == ""
        state = "is missing" if how == "deleted" else "is empty"
        lines = _refused(err, "database_lost")
        assert lines[0] == (
            f"registry-node: error: {database}: the database {state}, but {data / 'keys'} holds "
            "1 signing key file(s): this node has run before, and a new database would give it "
            "a new identity (a new key and seq 1) that every neighbour refuses"
        )
        assert "Restore the database from the backup" in lines[1]
        assert "move the data folder aside" in lines[1]
    assert tree(data / "keys") == keys
    assert database.exists() == (how == "emptied")
    assert not database.exists() or database.stat().st_size == 0


def test_a_database_without_its_key_files_stops_a_writer(
    started: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = started / "data" / "keys"
    for key in keys.glob("*.pem"):
        key.unlink()
    code, _, err = run(capsys, "publish")
    assert code == 2
    lines = _refused(err, "key_missing")
    assert lines[0].startswith(f"registry-node: error: {keys}/")
    assert lines[0].endswith("is missing")
    assert "keys/ from the backup taken with the database" in lines[1]
    assert list(keys.iterdir()) == []  # no new key


def test_a_database_of_another_node_id_is_refused(
    started: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (started / "other").mkdir()
    init(started / "other", node_id="https://registry.michigan.example")
    other = started / "other" / "node.yaml"
    other.write_text(other.read_text().replace("data_dir: data", f"data_dir: {started}/data"))
    database = started / "data" / "registry.sqlite3"
    for argv in (["publish"], ["keys", "list"]):
        code, _, err = run(capsys, "-c", str(other), *argv)
        assert code == 2
        lines = _refused(err, "identity_mismatch")
        assert lines[0] == (
            f"registry-node: error: {database}: the database belongs to node_id "
            "https://registry.indiana.example, but the configuration names "
            "https://registry.michigan.example"
        )


def test_receipt_verify_with_no_keys_to_check_with_says_what_it_needs(
    nowhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (nowhere / "receipt.jwt").write_text("eyJhbGciOiJFZERTQSJ9.e30.c2ln\n")
    before = tree(nowhere)
    code, out, err = run(capsys, "receipt", "verify", "receipt.jwt")
    assert code == 2
    assert out == ""
    assert errors(err) == [
        f"registry-node: error: receipt.jwt: no keys to check it with: no node.yaml in "
        f"{nowhere}, and neither --node nor --bundle given",
        f"registry-node: hint: {reasons.hint('verify_needs_lists')}",
    ]
    assert tree(nowhere) == before


def test_receipt_verify_on_a_node_that_never_ran_creates_nothing(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (configured / "receipt.jwt").write_text("eyJhbGciOiJFZERTQSJ9.e30.c2ln\n")
    code, _, err = run(capsys, "receipt", "verify", "receipt.jwt")
    assert code == 2
    assert "no database here" in errors(err)[0]
    assert not (configured / "data").exists()


def test_restore_refuses_while_a_node_serves_the_folder(
    started: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", str(started / "saved")]) == 0
    capsys.readouterr()
    before = tree(started / "data")
    lock = DataLock.acquire(started / "data")  # what a running serve holds
    try:
        code, _, err = run(capsys, "restore", str(started / "saved"))
    finally:
        lock.release()
    assert code == 2
    assert errors(err)[0] == (
        f"registry-node: error: data_dir: {started / 'data'}: a registry-node serve is running "
        "on this data folder: stop it before restoring"
    )
    after = tree(started / "data")
    assert {k: v for k, v in after.items() if k != "node.lock"} == before
