"""A node started with what its operator handed it for offline checks (docs/adr/0020): a JSON-LD
context pinned in node.yaml, a DID document in node.yaml (this node only) and a DID document
beside an issuer in the source file (published with the list). Nothing is fetched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry_node.config import NodeConfig, load
from registry_node.core.credentials import contexts as ld
from registry_node.core.credentials.contexts import PinnedContexts
from registry_node.core.errors import ConfigError, FetchFailed
from registry_node.core.signing import parse_jws
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.services import offline
from registry_node.services.node import Node
from registry_node.services.verifier import LOCAL_DID_DOCUMENT
from tests import credential_factory as cf
from tests.helpers import FakeClock

NODE_ID = "https://registry.ohio.example"
COLLEGE = "did:web:college.ohio.example"  # its DID document is beside the source file
BOARD = "did:web:board.ohio.example"  # its DID document is in node.yaml
EVIL = "did:web:evil.example"
CTX_URL = "https://example.org/ctx/v1.json"
UNPINNED = "https://example.org/ctx/unpinned.json"
CONTEXT = {
    "@context": {
        "@version": 1.1,
        "@protected": True,
        "licenceClass": "https://example.org/vocab#licenceClass",
    }
}


def did_document(did: str, key: Ed25519PrivateKey, foreign: Ed25519PrivateKey) -> dict[str, Any]:
    """key-1 is the DID's; key-2 is listed for assertion but controlled by another DID."""
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": "#key-1",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": cf.multikey(key.public_key()),
            },
            {
                "id": f"{did}#key-2",
                "type": "Multikey",
                "controller": EVIL,
                "publicKeyMultibase": cf.multikey(foreign.public_key()),
            },
        ],
        "assertionMethod": ["#key-1", "#key-2"],
    }


def listed(did: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": did,
        "name": f"Issuer {did}",
        "org_type": "higher_education",
        "authorizations": [
            {
                "credential_types": ["OpenBadgeCredential"],
                "achievement_types": ["Certificate"],
                "jurisdiction": "US-OH",
            }
        ],
        "status_history": [{"status": "active", "from": "2020-01-01T00:00:00Z"}],
        **extra,
    }


class Keys:
    def __init__(self) -> None:
        self.college = cf.ed25519()
        self.board = cf.ed25519()
        self.foreign = cf.ed25519()


def write_state(folder: Path, keys: Keys, **credentials: Any) -> Path:
    """A node.yaml with the operator's context and the board's DID document, and a source file
    whose college entry names its DID document."""
    (folder / "contexts").mkdir(parents=True)
    context_bytes = json.dumps(CONTEXT).encode()
    (folder / "contexts" / "example-v1.json").write_bytes(context_bytes)
    (folder / "dids").mkdir()
    board_doc = did_document(BOARD, keys.board, keys.foreign)
    (folder / "dids" / "board.json").write_text(json.dumps(board_doc))
    (folder / "trust_lists").mkdir()
    college_doc = did_document(COLLEGE, keys.college, keys.foreign)
    (folder / "trust_lists" / "college.json").write_text(json.dumps(college_doc))
    source = {
        "jurisdiction": "US-OH",
        "issuers": [listed(COLLEGE, did_document="college.json"), listed(BOARD)],
    }
    (folder / "trust_lists" / "us-oh.yaml").write_text(json.dumps(source))
    doc = {
        "node_id": NODE_ID,
        "jurisdiction": "US-OH",
        "name": "Ohio LER Trust Registry",
        "log_format": "text",
        "federation": {"judge_processes": 0},
        "credentials": {
            "contexts": [
                {
                    "url": CTX_URL,
                    "file": "contexts/example-v1.json",
                    "sha256": hashlib.sha256(context_bytes).hexdigest(),
                }
            ],
            "did_documents": {BOARD: "dids/board.json"},
            **credentials,
        },
    }
    path = folder / "node.yaml"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture
def node_yaml(tmp_path: Path, keys: Keys) -> Path:
    return write_state(tmp_path, keys)


class NoNetwork:
    """Stands in for did:web resolution and records every DID it is asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def methods(self, did: str) -> list[dict[str, Any]]:
        self.asked.append(did)
        raise FetchFailed("no network in this test", code="connection_failed")

    async def close(self) -> None:
        pass


@pytest.fixture
async def vclient(aiohttp_client: Any, node_yaml: Path) -> TestClient:
    config = load(node_yaml)
    app = create_app(config, FakeClock(), run_scheduler=False)
    client: TestClient = await aiohttp_client(app)
    return client


def operator_contexts() -> PinnedContexts:
    data = json.dumps(CONTEXT).encode()
    return PinnedContexts.packaged().with_operator({CTX_URL: (data, None)})


def badge(did: str, key: Ed25519PrivateKey, method: str, *extra_contexts: str) -> dict[str, Any]:
    credential = cf.open_badge(did)
    if extra_contexts:
        credential["@context"] = [*credential["@context"], *extra_contexts]
        credential["credentialSubject"]["licenceClass"] = "B"
    with ld.using(operator_contexts()):
        return cf.sign_data_integrity(credential, key, method)


async def verify(client: TestClient, credential: Any) -> dict[str, Any]:
    resp = await client.post("/v1/verify", json=credential)
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


def checks(result: dict[str, Any]) -> dict[str, tuple[bool, str, str]]:
    return {
        c["name"]: (c["passed"], c["code"], c["detail"]) for c in result["credential"]["checks"]
    }


async def test_a_credential_using_an_operator_context_verifies(
    vclient: TestClient, keys: Keys
) -> None:
    credential = badge(COLLEGE, keys.college, f"{COLLEGE}#key-1", CTX_URL)
    result = await verify(vclient, credential)
    found = checks(result)
    assert result["verdict"] == "valid", found
    passed, code, detail = found["contexts"]
    assert passed and code == "contexts_pinned"
    assert detail.endswith(f"(pinned by this node's operator: {CTX_URL})")
    assert found["undefined_terms"][:2] == (True, "all_terms_defined")


async def test_a_context_nobody_pinned_fails_naming_its_url(
    vclient: TestClient, keys: Keys
) -> None:
    credential = badge(COLLEGE, keys.college, f"{COLLEGE}#key-1")
    credential["@context"] = [*credential["@context"], UNPINNED]
    result = await verify(vclient, credential)
    passed, code, detail = checks(result)["contexts"]
    assert result["verdict"] == "indeterminate"
    assert (passed, code) == (False, "context_not_pinned")
    assert UNPINNED in detail and CTX_URL not in detail


async def test_a_did_document_beside_the_source_file_is_published_and_pins_the_key(
    vclient: TestClient, keys: Keys
) -> None:
    result = await verify(vclient, badge(COLLEGE, keys.college, f"{COLLEGE}#key-1"))
    assert result["verdict"] == "valid", checks(result)
    assert result["credential"]["key"] == {
        "id": f"{COLLEGE}#key-1",
        "did_key": False,
        "sources": [NODE_ID],  # the node's own signed list pins it
    }
    resp = await vclient.get("/trust-list")
    payload = json.loads(parse_jws(await resp.read()).payload)
    [entry] = [e for e in payload["issuers"] if e["id"] == COLLEGE]
    assert entry["keys"] == [
        {
            "id": f"{COLLEGE}#key-1",
            "type": "Multikey",
            "publicKeyMultibase": cf.multikey(keys.college.public_key()),
        }
    ]  # key-2's controller is another DID: not pinned; no did_document member is published
    [board] = [e for e in payload["issuers"] if e["id"] == BOARD]
    assert "keys" not in board  # node.yaml's document is this node's alone


async def test_a_did_document_in_node_yaml_verifies_with_no_network(
    vclient: TestClient, keys: Keys
) -> None:
    node = vclient.app[NODE]
    spy = NoNetwork()
    node.verifier.did_web = spy  # resolution on: still not asked
    result = await verify(vclient, badge(BOARD, keys.board, f"{BOARD}#key-1"))
    found = checks(result)
    assert result["verdict"] == "valid", found
    assert result["credential"]["key"]["sources"] == [LOCAL_DID_DOCUMENT]
    assert found["signature"][2].endswith(f"(key from {LOCAL_DID_DOCUMENT})")
    assert found["trusted_now"][:2] == (True, "active")
    assert spy.asked == []


@pytest.mark.parametrize(("did", "which"), [(BOARD, "board"), (COLLEGE, "college")])
async def test_a_method_controlled_by_another_did_is_not_used(
    vclient: TestClient, keys: Keys, did: str, which: str
) -> None:
    result = await verify(vclient, badge(did, keys.foreign, f"{did}#key-2"))
    found = checks(result)
    assert result["verdict"] == "indeterminate"  # no key of the issuer's is known: not valid
    assert found["signature"][:2] == (False, "unknown_key")
    assert result["credential"]["key"] is None


# -- start refused: one line naming the file and the field ------------------------------------


def _break(folder: Path, change: str) -> None:
    doc = json.loads((folder / "node.yaml").read_text())
    creds = doc["credentials"]
    if change == "wrong-hash":
        creds["contexts"][0]["sha256"] = "0" * 64
    elif change == "missing-file":
        creds["contexts"][0]["file"] = "contexts/gone.json"
    elif change == "not-json":
        (folder / "contexts" / "example-v1.json").write_text("{not json")
    elif change == "clashes-packaged":
        creds["contexts"][0]["url"] = cf.VC_V2
    elif change == "twice":
        creds["contexts"].append(dict(creds["contexts"][0]))
    elif change == "did-document-of-another-did":
        creds["did_documents"] = {"did:web:other.example": "dids/board.json"}
    elif change == "did-document-missing":
        creds["did_documents"] = {BOARD: "dids/gone.json"}
    elif change == "did-document-with-private-key":
        path = folder / "dids" / "board.json"
        board = json.loads(path.read_text())
        board["verificationMethod"][0]["secretKeyMultibase"] = "z3u2"
        path.write_text(json.dumps(board))
    (folder / "node.yaml").write_text(json.dumps(doc))


REFUSALS = {
    "wrong-hash": ("credentials.contexts[0].sha256", "contexts/example-v1.json", "context_refused"),
    "missing-file": ("credentials.contexts[0].file", "contexts/gone.json", "context_refused"),
    # the file changed, so its hash is wrong too: the hash is checked first (and not-JSON
    # with a matching hash is the test below)
    "not-json": ("credentials.contexts[0].sha256", "contexts/example-v1.json", "context_refused"),
    "clashes-packaged": (
        "credentials.contexts[0].url",
        "contexts/example-v1.json",
        "context_refused",
    ),
    "twice": ("credentials.contexts[1].url", "node.yaml", "context_refused"),
    "did-document-of-another-did": (
        "credentials.did_documents.did:web:other.example",
        "dids/board.json",
        "did_document_refused",
    ),
    "did-document-missing": (
        f"credentials.did_documents.{BOARD}",
        "dids/gone.json",
        "did_document_refused",
    ),
    "did-document-with-private-key": (
        f"credentials.did_documents.{BOARD}",
        "dids/board.json",
        "did_document_refused",
    ),
}


@pytest.mark.parametrize(("change", "expected"), REFUSALS.items(), ids=REFUSALS.keys())
async def test_a_broken_entry_refuses_the_start(
    tmp_path: Path, keys: Keys, change: str, expected: tuple[str, str, str]
) -> None:
    field, file, code = expected
    path = write_state(tmp_path, keys)
    _break(tmp_path, change)
    config = load(path)
    with pytest.raises(ConfigError) as caught:
        await Node.open(config, FakeClock())
    assert caught.value.code == code
    assert caught.value.field == field
    assert f"{field}:" in caught.value.detail and file in caught.value.detail
    assert "\n" not in caught.value.detail
    assert not config.data_dir.exists()  # refused before anything was created


def test_a_context_file_that_is_not_json_with_its_true_hash(tmp_path: Path, keys: Keys) -> None:
    path = write_state(tmp_path, keys)
    bad = b"{not json"
    (tmp_path / "contexts" / "example-v1.json").write_bytes(bad)
    doc = json.loads(path.read_text())
    doc["credentials"]["contexts"][0]["sha256"] = hashlib.sha256(bad).hexdigest()
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as caught:
        offline.load_contexts(load(path))
    assert caught.value.field == "credentials.contexts[0].file"
    assert "not JSON" in caught.value.detail


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("another-did", "id: 'did:web:other.example' is not"),
        ("private-key", "private key material"),
        ("no-usable-key", "no usable key"),
        ("missing", "No such file"),
    ],
)
async def test_a_source_file_did_document_that_cannot_be_used_refuses_the_import(
    tmp_path: Path, keys: Keys, change: str, says: str
) -> None:
    path = write_state(tmp_path, keys)
    doc_path = tmp_path / "trust_lists" / "college.json"
    college = json.loads(doc_path.read_text())
    if change == "another-did":
        college["id"] = "did:web:other.example"
    elif change == "private-key":
        college["verificationMethod"][0]["publicKeyJwk"] = {"kty": "OKP", "d": "A" * 43}
    elif change == "no-usable-key":
        college["assertionMethod"] = []
    if change == "missing":
        doc_path.unlink()
    else:
        doc_path.write_text(json.dumps(college))
    config: NodeConfig = load(path)
    with pytest.raises(ConfigError) as caught:
        await Node.open(config, FakeClock())
    assert caught.value.code == "did_document_refused"
    assert caught.value.field == "issuers[0].did_document"
    assert "us-oh.yaml: issuers[0].did_document: " in caught.value.detail
    assert "college.json" in caught.value.detail and says in caught.value.detail


async def test_a_changed_did_document_is_imported_again(tmp_path: Path, keys: Keys) -> None:
    path = write_state(tmp_path, keys)
    config = load(path)
    node = await Node.open(config, FakeClock())
    await node.close()
    doc_path = tmp_path / "trust_lists" / "college.json"
    newer = cf.ed25519()
    doc_path.write_text(json.dumps(did_document(COLLEGE, newer, keys.foreign)))
    node = await Node.open(config, FakeClock())
    try:
        entry = await node.issuers.get(COLLEGE)
        assert entry["keys"][-1]["publicKeyMultibase"] == cf.multikey(newer.public_key())
    finally:
        await node.close()
