"""`registry-node contexts add` prints the node.yaml entry that pins an operator's JSON-LD
context; `verify --bundle` checks with the operator's contexts of node.yaml, or `--context`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from registry_node.cli import main
from registry_node.config import load
from registry_node.core.credentials import contexts as ld
from registry_node.core.credentials.contexts import PinnedContexts
from registry_node.core.yamlsafe import dump_yaml, load_yaml
from registry_node.services.offline import load_contexts
from tests import credential_factory as cf
from tests.helpers import college_source, init_node

CTX_URL = "https://example.org/ctx/v1.json"
CONTEXT = {
    "@context": {"@protected": True, "licenceClass": "https://example.org/vocab#licenceClass"}
}
COLLEGE = "did:web:college.indiana.example"
BOARD = "did:web:board.indiana.example"  # its DID document is in node.yaml


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_contexts_add_prints_the_entry_to_paste(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    init_node()
    (tmp_path / "contexts").mkdir()
    data = json.dumps(CONTEXT).encode()
    (tmp_path / "contexts" / "example-v1.json").write_bytes(data)
    before = (tmp_path / "node.yaml").read_bytes()
    capsys.readouterr()
    code, out, err = run(capsys, "contexts", "add", CTX_URL, "contexts/example-v1.json")
    assert (code, err) == (0, "")
    entry = {
        "url": CTX_URL,
        "file": "contexts/example-v1.json",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert load_yaml(out.encode(), "output") == [entry]
    assert (tmp_path / "node.yaml").read_bytes() == before  # node.yaml is not edited

    # Pasted under credentials.contexts, the node loads it.
    doc = load_yaml(before, "node.yaml")
    doc["credentials"] = {"contexts": load_yaml(out.encode(), "output")}
    (tmp_path / "node.yaml").write_text(dump_yaml(doc))
    registry = load_contexts(load(tmp_path / "node.yaml"))
    assert registry.operator == frozenset({CTX_URL})


def test_contexts_add_names_the_file_relative_to_node_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "node"
    home.mkdir()
    monkeypatch.chdir(home)
    init_node()
    (home / "ctx.json").write_text(json.dumps(CONTEXT))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code, out, _ = run(capsys, "-c", "node/node.yaml", "contexts", "add", CTX_URL, "node/ctx.json")
    assert code == 0
    assert load_yaml(out.encode(), "output")[0]["file"] == "ctx.json"


@pytest.mark.parametrize(
    ("url", "content", "message"),
    [
        (CTX_URL, None, "ctx.json: No such file or directory"),
        (CTX_URL, "{oops", "ctx.json: not JSON"),
        (CTX_URL, '{"name": "not a context"}', "ctx.json: not a JSON-LD context document"),
        ("urn:x:ctx", json.dumps(CONTEXT), "urn:x:ctx: 'urn:x:ctx' is not an http(s) URL"),
        (cf.VC_V2, json.dumps(CONTEXT), f"{cf.VC_V2}: {cf.VC_V2} is pinned already with other"),
    ],
    ids=["missing", "not-json", "not-a-context", "not-http", "clashes-packaged"],
)
def test_contexts_add_refuses_a_bad_file_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    content: str | None,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no node.yaml: the command needs none
    if content is not None:
        (tmp_path / "ctx.json").write_text(content)
    code, out, err = run(capsys, "contexts", "add", url, "ctx.json")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"registry-node: error: {message}"), err
    assert len(lines) == 2 and lines[1].startswith("registry-node: hint: ")


def test_contexts_add_of_a_shipped_context_needs_no_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = PinnedContexts.packaged().get(cf.VC_V2)
    (tmp_path / "v2.json").write_text(json.dumps(shipped))
    code, out, err = run(capsys, "contexts", "add", cf.VC_V2, "v2.json")
    assert code == 2 and out == ""
    assert "ships this context already" in err


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """An Indiana node whose node.yaml pins an operator context, a saved bundle of its list,
    and a credential that uses the context."""
    monkeypatch.chdir(tmp_path)
    init_node()
    data = json.dumps(CONTEXT).encode()
    (tmp_path / "ctx.json").write_bytes(data)
    doc = load_yaml((tmp_path / "node.yaml").read_bytes(), "node.yaml")
    board_key = cf.ed25519()
    board_doc = {
        "id": BOARD,
        "verificationMethod": [
            {
                "id": "#key-1",
                "type": "Multikey",
                "controller": BOARD,
                "publicKeyMultibase": cf.multikey(board_key.public_key()),
            }
        ],
        "assertionMethod": ["#key-1"],
    }
    (tmp_path / "board-did.json").write_text(json.dumps(board_doc))
    doc["credentials"] = {
        "contexts": [
            {"url": CTX_URL, "file": "ctx.json", "sha256": hashlib.sha256(data).hexdigest()}
        ],
        "did_documents": {BOARD: "board-did.json"},
    }
    (tmp_path / "node.yaml").write_text(dump_yaml(doc))
    key = cf.ed25519()
    source = college_source(COLLEGE, cf.multikey_method(f"{COLLEGE}#key-1", key))
    board_entry = {**source["issuers"][0], "id": BOARD, "name": "Indiana Board"}
    del board_entry["keys"]
    source["issuers"].append(board_entry)
    (tmp_path / "source.yaml").write_text(json.dumps(source))
    assert main(["issuers", "import", "source.yaml"]) == 0
    assert main(["publish"]) == 0
    bundle = tmp_path / "bundle"
    assert main(["bundle", "save", str(bundle)]) == 0
    credential = cf.open_badge(COLLEGE)
    credential["@context"] = [*credential["@context"], CTX_URL]
    credential["credentialSubject"]["licenceClass"] = "B"
    with ld.using(PinnedContexts.packaged().with_operator({CTX_URL: (data, None)})):
        signed = cf.sign_data_integrity(credential, key, f"{COLLEGE}#key-1")
    badge = tmp_path / "badge.json"
    badge.write_text(json.dumps(signed))
    board_badge = cf.sign_data_integrity(cf.open_badge(BOARD), board_key, f"{BOARD}#key-1")
    (tmp_path / "board-badge.json").write_text(json.dumps(board_badge))
    return tmp_path / "node.yaml", bundle, badge


def test_verify_from_the_database_uses_the_operator_contexts(
    state: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, badge = state
    capsys.readouterr()
    code, out, _ = run(capsys, "verify", str(badge))
    assert code == 0, out
    assert "ok   contexts" in out and CTX_URL in out


def test_verify_a_bundle_with_the_operator_contexts_of_node_yaml_or_context(
    state: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node_yaml, bundle, badge = state
    elsewhere = tmp_path_factory.mktemp("laptop")
    monkeypatch.chdir(elsewhere)  # no node.yaml here
    capsys.readouterr()
    code, out, _ = run(capsys, "verify", str(badge), "--bundle", str(bundle))
    assert code == 1
    assert out.startswith("verdict: indeterminate")  # a context it does not hold proves nothing
    assert "??   contexts" in out and "context_not_pinned" in out and CTX_URL in out
    assert "??   signature" in out and "FAIL" not in out

    code, out, err = run(
        capsys, "-c", str(node_yaml), "verify", str(badge), "--bundle", str(bundle)
    )
    assert (code, err) == (0, ""), out
    assert out.startswith("verdict: valid")

    context_file = node_yaml.parent / "ctx.json"
    code, out, err = run(
        capsys,
        "verify",
        str(badge),
        "--bundle",
        str(bundle),
        "--context",
        f"{CTX_URL}={context_file}",
    )
    assert (code, err) == (0, ""), out
    assert not (elsewhere / "data").exists()

    (elsewhere / "bad.json").write_text("[]")
    code, out, err = run(
        capsys, "verify", str(badge), "--bundle", str(bundle), "--context", f"{CTX_URL}=bad.json"
    )
    assert code == 2 and out == ""
    assert err.startswith(
        f"registry-node: error: --context {CTX_URL}=bad.json: file: not a JSON-LD"
    )


def test_verify_a_bundle_with_the_did_documents_of_node_yaml(
    state: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node_yaml, bundle, _ = state
    board_badge = node_yaml.parent / "board-badge.json"
    monkeypatch.chdir(tmp_path_factory.mktemp("laptop"))
    capsys.readouterr()
    code, out, _ = run(capsys, "verify", str(board_badge), "--bundle", str(bundle), "--json")
    assert code == 1
    assert json.loads(out)["credential"]["key"] is None  # no key without the document
    argv = ["-c", str(node_yaml), "verify", str(board_badge), "--bundle", str(bundle), "--json"]
    code, out, _ = run(capsys, *argv)
    result = json.loads(out)
    assert code == 0, out
    assert result["credential"]["key"]["sources"] == ["local_did_document"]


def test_issuers_import_reads_the_did_document_beside_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["init", "--node-id", "https://registry.indiana.example", "--jurisdiction", "US-IN"]
    assert main([*args, "--name", "Indiana"]) == 0
    key = cf.ed25519()
    folder = tmp_path / "incoming"
    folder.mkdir()
    did_doc = {
        "id": COLLEGE,
        "verificationMethod": [
            {
                "id": "#key-1",
                "type": "Multikey",
                "controller": COLLEGE,
                "publicKeyMultibase": cf.multikey(key.public_key()),
            }
        ],
        "assertionMethod": ["#key-1"],
    }
    (folder / "college.json").write_text(json.dumps(did_doc))
    entry = {
        "id": COLLEGE,
        "name": "Indiana College",
        "org_type": "higher_education",
        "did_document": "college.json",
        "status_history": [{"status": "active", "from": "2020-01-01T00:00:00Z"}],
    }
    (folder / "more.yaml").write_text(json.dumps({"jurisdiction": "US-IN", "issuers": [entry]}))
    capsys.readouterr()
    code, out, err = run(capsys, "issuers", "import", "incoming/more.yaml")
    assert code == 0, err
    code, out, _ = run(capsys, "issuers", "show", COLLEGE)
    assert code == 0, out
    shown = json.loads(out)
    assert shown["keys"] == [
        {
            "id": f"{COLLEGE}#key-1",
            "type": "Multikey",
            "publicKeyMultibase": cf.multikey(key.public_key()),
        }
    ]
    assert "did_document" not in shown

    did_doc["id"] = "did:web:someone.else.example"
    (folder / "college.json").write_text(json.dumps(did_doc))
    code, out, err = run(capsys, "issuers", "import", "incoming/more.yaml")
    assert code == 2
    assert err.startswith("registry-node: error: incoming/more.yaml: issuers[0].did_document: "), (
        err
    )
    assert "college.json: id: 'did:web:someone.else.example' is not" in err
