"""The OpenID Federation statements' pure rules (core/oidfed.py): lifetimes, paging, chains
through a graph with loops, issuer metadata and keys, and the entry members they come from."""

from __future__ import annotations

from typing import Any

import pytest

from registry_node.core import oidfed
from registry_node.core.errors import SchemaInvalid
from registry_node.core.schema import validate
from tests.helpers import issuer

KEY = "z6Mkfs9kc6aipuiGsQ3KZnPHLCUveRBsUyXyWWhPohLR5GcW"


def test_statement_exp_never_outlives_what_it_rests_on() -> None:
    assert oidfed.statement_exp(1000, []) == 1000 + 3600
    assert oidfed.statement_exp(1000, [2000.9, 5000]) == 2000
    assert oidfed.statement_exp(1000, [float("inf"), 9000]) == 4600


def test_page_walks_only_kept_ids() -> None:
    ids = ["a", "b", "c", "d", "e"]
    keep = {"a", "c", "d", "e"}.__contains__
    assert oidfed.page(ids, keep, None, 2) == (["a", "c"], "d")
    assert oidfed.page(ids, keep, "d", 2) == (["d", "e"], None)
    assert oidfed.page(ids, keep, "b", 2) is None  # listed, but not kept
    assert oidfed.page(ids, keep, "zz", 2) is None


def test_chains_end_on_a_graph_with_loops() -> None:
    # OH and IN recognise each other, and both MI; IN's issuer hints at IN.
    hints = {
        "leaf": ["IN"],
        "IN": ["OH", "MI"],
        "OH": ["IN", "MI"],
        "MI": ["OH", "IN"],
    }
    found = oidfed.chains("leaf", "OH", lambda e: hints.get(e, []))
    assert found[0] == ["leaf", "IN", "OH"]
    assert ["leaf", "IN", "MI", "OH"] in found
    assert all(len(set(path)) == len(path) for path in found)
    assert oidfed.chains("leaf", "nowhere", lambda e: hints.get(e, [])) == []
    # A bound on the length, whatever the graph.
    assert oidfed.chains("leaf", "OH", lambda e: hints.get(e, []), max_length=2) == []


def test_max_path_length_stops_chains_of_more_than_one_state() -> None:
    limits = {("OH", "IN"): 0, ("OH", "MI"): 0, ("MI", "IN"): 0, ("IN", "MI"): 0}

    def limit(superior: str, subject: str) -> int | None:
        return limits.get((superior, subject))

    assert oidfed.within_constraints(["leaf", "OH"], limit)
    assert oidfed.within_constraints(["leaf", "IN", "OH"], limit)
    assert not oidfed.within_constraints(["leaf", "IN", "MI", "OH"], limit)
    assert oidfed.within_constraints(["leaf", "IN", "MI", "OH"], lambda a, b: None)


def test_a_peer_policy_admits_only_what_the_peers_own_list_says_within_scope() -> None:
    policy = oidfed.peer_policy("MI", ["US-MI"], ["OpenBadgeCredential"])

    def stated(listed_by: str, jurisdictions: list[str], types: list[str]) -> dict[str, Any]:
        issuer = {"listed_by": listed_by, "jurisdictions": jurisdictions}
        return {"ler_issuer": {**issuer, "credential_types": types}}

    ok = oidfed.apply_policy(stated("MI", ["US-MI", "US-IN"], ["OpenBadgeCredential"]), policy)
    assert ok is not None and ok["ler_issuer"]["jurisdictions"] == ["US-MI"]
    # Michigan's answer from Indiana's list, out of Michigan's scope: refused.
    assert oidfed.apply_policy(stated("IN", ["US-MI"], ["OpenBadgeCredential"]), policy) is None
    assert oidfed.apply_policy(stated("MI", ["US-IN"], ["OpenBadgeCredential"]), policy) is None
    assert oidfed.apply_policy(stated("MI", ["US-MI"], ["ClrCredential"]), policy) is None
    assert oidfed.apply_policy({"federation_entity": {}}, policy) is None  # essential
    unknown = {"ler_issuer": {"listed_by": {"regexp": ".*"}}}
    assert oidfed.apply_policy(stated("MI", ["US-MI"], []), unknown) is None
    # Without credential types in scope, any type passes.
    wide = oidfed.peer_policy("MI", ["US-MI"], None)
    assert oidfed.apply_policy(stated("MI", ["US-MI"], ["ClrCredential"]), wide) is not None


def test_issuer_metadata_from_an_entry() -> None:
    entry: dict[str, Any] = issuer(
        1,
        legal_name="Legal",
        logo="https://board1.ohio.example/logo.png",
        identifiers=[
            {"scheme": "ctid", "value": "ce-5de320e1-370c-4bf3-acec-b1ef5e33d1aa"},
            {"scheme": "ror", "value": "042nb2s44"},
        ],
        keys=[
            {"id": "did:web:board1.ohio.example#k", "type": "Multikey", "publicKeyMultibase": KEY}
        ],
    )
    meta = oidfed.issuer_metadata(
        entry, evidence=[{"source": "x"}], authorizations=entry["authorizations"], listed_by="x"
    )
    assert meta["ler_issuer"]["listed_by"] == "x"
    assert meta["ler_issuer"]["jurisdictions"] == ["US-OH"]
    assert meta["ler_issuer"]["credential_types"] == ["OpenBadgeCredential"]
    assert meta["federation_entity"]["logo_uri"] == entry["logo"]
    assert meta["institution_additional_information"] == {"legal_name": "Legal"}
    assert meta["credential_registry_entity"]["ce_url"].endswith(entry["identifiers"][0]["value"])
    (jwk,) = meta["ler_issuer"]["jwks"]["keys"]
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": jwk["x"],
        "kid": "did:web:board1.ohio.example#k",
        "use": "sig",
    }
    bare = oidfed.issuer_metadata(issuer(2), evidence=[], authorizations=[], listed_by="x")
    assert set(bare) == {"federation_entity", "ler_issuer"}
    assert "jwks" not in bare["ler_issuer"]


def test_jwks_of_jwk_methods_keep_only_public_members() -> None:
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }  # RFC 7515 appendix A.3
    (out,) = oidfed.credential_jwks([{"type": "JsonWebKey", "publicKeyJwk": jwk}])
    assert out == {**jwk, "use": "sig"}


@pytest.mark.parametrize(
    ("scheme", "good", "bad"),
    [
        ("ctid", "ce-5de320e1-370c-4bf3-acec-b1ef5e33d1aa", "ce-NOT-A-UUID"),
        ("ror", "042nb2s44", "42nb2s44"),
        ("lei", "5493001KJTIIGC8Y1R12", "5493001KJTIIGC8Y1R1"),
        ("nces", "3904490", "39044"),
        ("uei", "KQ7HN2LMBX41", "KQ7HN2LMBXO1"),
    ],
)
def test_identifier_schemes_have_their_registrys_form(scheme: str, good: str, bad: str) -> None:
    uri = "urn:ler-trust-registry:schema:trust-list:v1#/$defs/issuer"
    validate(uri, issuer(1, identifiers=[{"scheme": scheme, "value": good}]))
    with pytest.raises(SchemaInvalid):
        validate(uri, issuer(1, identifiers=[{"scheme": scheme, "value": bad}]))


def test_logo_is_https_or_a_small_data_uri() -> None:
    uri = "urn:ler-trust-registry:schema:trust-list:v1#/$defs/issuer"
    validate(uri, issuer(1, logo="data:image/png;base64,iVBORw0KGgo="))
    for bad in ("http://x.example/logo.png", "data:text/html;base64,PGI+", "javascript:x"):
        with pytest.raises(SchemaInvalid):
            validate(uri, issuer(1, logo=bad))
