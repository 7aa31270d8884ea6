"""The registry of pinned JSON-LD contexts (core/credentials/contexts.py): the operator's
contexts are handed in as data, checked, and used only by the verification they are given to."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from registry_node.core.credentials import PinnedKeys, verify_credential
from registry_node.core.credentials import contexts as ld
from registry_node.core.credentials.contexts import ContextRefused, PinnedContexts
from tests import credential_factory as cf

CTX_URL = "https://example.org/ctx/v1.json"
CONTEXT = {
    "@context": {
        "@version": 1.1,
        "@protected": True,
        "ex": "https://example.org/vocab#",
        "licenceClass": "ex:licenceClass",
    }
}
CONTEXT_BYTES = json.dumps(CONTEXT).encode()
SHA = hashlib.sha256(CONTEXT_BYTES).hexdigest()
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def operator() -> PinnedContexts:
    return PinnedContexts.packaged().with_operator({CTX_URL: (CONTEXT_BYTES, SHA)})


def credential_using_the_context(key: Any, did: str) -> dict[str, Any]:
    unsigned = cf.open_badge(did)
    unsigned["@context"] = [*unsigned["@context"], CTX_URL]
    unsigned["credentialSubject"]["licenceClass"] = "B"
    with ld.using(operator()):
        return cf.sign_data_integrity(unsigned, key, f"{did}#key-1")


def test_the_packaged_registry_is_what_the_package_ships() -> None:
    packaged = PinnedContexts.packaged()
    assert cf.VC_V2 in packaged and CTX_URL not in packaged
    assert packaged.operator == frozenset()
    assert ld.in_force() is packaged  # nothing set: the packaged contexts
    assert ld.pinned_contexts() is packaged.documents


def test_an_operator_context_is_added_and_named_as_the_operators() -> None:
    registry = operator()
    assert CTX_URL in registry and cf.VC_V2 in registry
    assert registry.operator == frozenset({CTX_URL})
    assert CTX_URL not in PinnedContexts.packaged()  # a new registry; the packaged one is kept
    with pytest.raises(TypeError):
        registry.documents[CTX_URL] = {}  # type: ignore[index]


@pytest.mark.parametrize(
    ("url", "data", "sha", "field"),
    [
        (CTX_URL, CONTEXT_BYTES, "0" * 64, "sha256"),
        (CTX_URL, b"not json", None, "file"),
        (CTX_URL, b'{"a": 1}', None, "file"),
        (CTX_URL, b'{"@context": 5}', None, "file"),
        (CTX_URL, b"[1, 2]", None, "file"),
        ("urn:example:ctx", CONTEXT_BYTES, None, "url"),
        ("https://example.org/a b", CONTEXT_BYTES, None, "url"),
        # a URL the node ships, with other content
        (cf.VC_V2, CONTEXT_BYTES, None, "url"),
    ],
    ids=[
        "wrong-hash",
        "not-json",
        "no-context",
        "context-not-object",
        "not-object",
        "not-http",
        "space",
        "clashes-packaged",
    ],
)
def test_a_context_that_cannot_be_pinned_is_refused(
    url: str, data: bytes, sha: str | None, field: str
) -> None:
    with pytest.raises(ContextRefused) as caught:
        PinnedContexts.packaged().with_operator({url: (data, sha)})
    assert caught.value.field == field


def test_a_packaged_url_with_the_same_content_is_no_operator_context() -> None:
    shipped = json.dumps(PinnedContexts.packaged().get(cf.VC_V2)).encode()
    registry = PinnedContexts.packaged().with_operator({cf.VC_V2: (shipped, None)})
    assert registry.operator == frozenset()


def test_using_sets_the_registry_for_the_block_only() -> None:
    registry = operator()
    with ld.using(registry) as active:
        assert active is registry and ld.unpinned([CTX_URL]) == []
        assert ld.operator_pinned([cf.VC_V2, CTX_URL]) == [CTX_URL]
        assert ld.load_pinned(CTX_URL)["document"] == CONTEXT
    assert ld.unpinned([CTX_URL]) == [CTX_URL]
    with pytest.raises(ld.ContextNotPinned):
        ld.load_pinned(CTX_URL)


def test_another_thread_does_not_see_the_registry_in_force() -> None:
    seen: list[list[str]] = []
    with ld.using(operator()):
        thread = threading.Thread(target=lambda: seen.append(ld.unpinned([CTX_URL])))
        thread.start()
        thread.join()
    assert seen == [[CTX_URL]]


def test_a_credential_verifies_with_the_operator_context_and_not_without() -> None:
    key = cf.ed25519()
    did = "did:web:board.example"
    credential = credential_using_the_context(key, did)
    pins = PinnedKeys({did: [cf.multikey_method(f"{did}#key-1", key)]})
    with_ctx = verify_credential(
        credential, keys=pins, now=NOW, clock_skew=timedelta(0), jsonld_contexts=operator()
    )
    by_name = {c.name: c for c in with_ctx.checks}
    assert by_name["signature"].passed, by_name["signature"]
    assert by_name["contexts"].code == "contexts_pinned"
    assert CTX_URL in by_name["contexts"].detail
    assert "pinned by this node's operator: " + CTX_URL in by_name["contexts"].detail
    without = verify_credential(credential, keys=pins, now=NOW, clock_skew=timedelta(0))
    refused = {c.name: c for c in without.checks}
    assert refused["contexts"].code == "context_not_pinned"
    assert CTX_URL in refused["contexts"].detail


def test_two_registries_never_share_a_urls_processed_context() -> None:
    """The same URL pinned with other content in another registry (two nodes in one process)
    is processed from that registry's own document, not from a cache the first one filled."""
    other = {"@context": {"licenceClass": "https://other.example/vocab#licenceClass"}}
    other_bytes = json.dumps(other).encode()
    second = PinnedContexts.packaged().with_operator({CTX_URL: (other_bytes, None)})
    document = {"@context": [cf.VC_V2, CTX_URL], "licenceClass": "B"}
    with ld.using(operator()):
        first = ld.expand(document).expanded
    with ld.using(second):
        again = ld.expand(document).expanded
    assert "https://example.org/vocab#licenceClass" in first[0]
    assert "https://other.example/vocab#licenceClass" in again[0]


def test_an_operator_context_cannot_be_replaced_by_another_with_other_content() -> None:
    other = json.dumps({"@context": {"licenceClass": "https://other.example/v#c"}}).encode()
    with pytest.raises(ContextRefused) as caught:
        operator().with_operator({CTX_URL: (other, None)})
    assert caught.value.field == "url"
    assert "(given before)" in caught.value.detail
    again = operator().with_operator({CTX_URL: (CONTEXT_BYTES, None)})  # the same: no change
    assert again.operator == frozenset({CTX_URL})


def test_two_registries_never_share_the_shapes_learnt_from_a_url() -> None:
    """Expansion learns a document's shape from the contexts in force (skeletons.py): what one
    registry learnt is never used for the same URL pinned with other content in another."""
    other = {"@context": {"vehicleClass": "https://other.example/vocab#vehicleClass"}}
    second = PinnedContexts.packaged().with_operator({CTX_URL: (json.dumps(other).encode(), None)})
    first = operator()
    documents = [{"@context": [cf.VC_V2, CTX_URL], "licenceClass": c} for c in "ABCD"]
    with ld.using(first):
        learnt = [ld.expand(d) for d in documents]  # seen twice and more: the shape is learnt
    assert all(e.clean for e in learnt)
    assert any(t is not None for t in first.shapes._templates.values())  # learnt
    with ld.using(second):
        found = [ld.expand(d) for d in documents]
    assert all(e.dropped_terms == ["licenceClass"] for e in found)
    assert all(e.expanded == [] for e in found)
