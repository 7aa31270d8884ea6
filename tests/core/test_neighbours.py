"""The neighbour's metadata read back, the entry for peers.yaml, and that entry written into
the file's text with its comments kept (core/neighbours.py, services/neighbours.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from registry_node.core import keys
from registry_node.core.errors import ConfigError
from registry_node.core.neighbours import (
    append_entry,
    entry_for,
    metadata_url,
    parse_metadata,
    render_entry,
)
from registry_node.core.yamlsafe import load_yaml
from registry_node.services.neighbours import plan_addition, write_atomically

CURRENT = keys.generate()
NEXT = keys.generate()
OTHER = keys.generate()
ENTRY = {
    "id": "https://registry.ohio.example",
    "jurisdiction": "US-OH",
    "url": "https://registry.ohio.example/trust-list",
    "keys": [CURRENT.kid],
}
OLD = {
    "id": "https://registry.michigan.example",
    "jurisdiction": "US-MI",
    "url": "https://registry.michigan.example/trust-list",
    "keys": [OTHER.kid],
}


def metadata(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "https://registry.ohio.example",
        "jurisdiction": "US-OH",
        "name": "Ohio LER Trust Registry",
        "endpoints": {"trust_list": "https://registry.ohio.example/trust-list"},
        "jwks": {"keys": [CURRENT.public_jwk()]},
        "next_keys": [NEXT.public_jwk()],
    }
    doc.update(changes)
    return doc


def test_the_metadata_url_is_found_from_the_base_url() -> None:
    well_known = "https://r.example/.well-known/ler-trust-registry"
    assert metadata_url("https://r.example/") == well_known
    assert metadata_url(well_known) == well_known


def test_the_entry_pins_only_the_thumbprints_given() -> None:
    meta = parse_metadata(metadata(), "meta")
    assert [(k.thumbprint, k.state) for k in meta.keys] == [
        (CURRENT.kid, "current"),
        (NEXT.kid, "next"),
    ]
    assert entry_for(meta, [CURRENT.kid]) == ENTRY
    assert entry_for(meta, [CURRENT.kid, NEXT.kid], refresh="5m")["keys"] == [
        CURRENT.kid,
        NEXT.kid,
    ]
    with pytest.raises(ConfigError) as refused:
        entry_for(meta, [CURRENT.kid, OTHER.kid])
    assert refused.value.code == "pin_not_offered"
    assert OTHER.kid in refused.value.detail


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"id": 7}, "id: missing or not a string"),
        ({"endpoints": {}}, "endpoints.trust_list"),
        ({"jwks": {"keys": []}}, "jwks.keys: missing, empty"),
        ({"jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "short"}]}}, "jwks.keys[0]"),
        ({"next_keys": ["x"]}, "next_keys[0]: not a JWK"),
    ],
)
def test_metadata_that_is_not_a_nodes_is_refused(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_metadata(metadata(**changes), "meta")
    assert refused.value.code == "metadata_invalid"
    assert why in refused.value.detail


def test_a_hostile_name_cannot_break_out_of_its_comment() -> None:
    meta = parse_metadata(metadata(name="Ohio\npeers: []\n#"), "meta")
    text = append_entry("peers: []\n", entry_for(meta, [CURRENT.kid]), meta.name)
    assert text is not None
    assert load_yaml(text, "t") == {"peers": [ENTRY]}


BLOCK = (
    "# Our neighbours\n"
    "peers:\n"
    "  # Michigan, since 2025\n"
    f"  - id: {OLD['id']}\n"
    "    jurisdiction: US-MI   # the state\n"
    f"    url: {OLD['url']}\n"
    f"    keys: ['{OTHER.kid}']\n"
    "# end of file\n"
)


@pytest.mark.parametrize(
    ("text", "peers"),
    [
        ("", []),
        ("# no peers yet\n", []),
        ("# no peers yet\npeers: []   # none\n# more comments\n", []),
        ("peers: []", []),
        (BLOCK, [OLD]),
        (BLOCK.replace("\n  ", "\n"), [OLD]),  # items at the key's own indentation
    ],
)
def test_an_entry_is_added_and_every_other_line_kept(
    text: str, peers: list[dict[str, Any]]
) -> None:
    edited = append_entry(text, ENTRY, "Ohio: added")
    assert edited is not None
    assert load_yaml(edited, "t") == {"peers": [*peers, ENTRY]}
    kept = [line for line in edited.splitlines() if line.lstrip().startswith("#")]
    assert [c for c in text.splitlines() if c.lstrip().startswith("#")] == [
        c for c in kept if "Ohio: added" not in c
    ]


def test_a_file_with_no_safe_place_is_written_afresh(tmp_path: Path) -> None:
    path = tmp_path / "peers.yaml"
    path.write_text(
        f"# header kept\npeers: [{{id: {OLD['id']}, jurisdiction: US-MI, "
        f"url: '{OLD['url']}', keys: ['{OTHER.kid}']}}]  # flow\n"
    )
    assert append_entry(path.read_text(), ENTRY) is None
    edit = plan_addition(path, ENTRY, "Ohio")
    assert not edit.kept
    assert edit.text.startswith("# header kept\n")
    assert load_yaml(edit.text, "t") == {"peers": [OLD, ENTRY]}


def test_the_file_must_be_valid_and_without_the_peer(tmp_path: Path) -> None:
    path = tmp_path / "peers.yaml"
    path.write_text(BLOCK)
    with pytest.raises(ConfigError) as refused:
        plan_addition(path, dict(ENTRY, id=OLD["id"]), "again")
    assert refused.value.code == "peer_exists"
    path.write_text("peers: [oops\n")
    with pytest.raises(ConfigError):
        plan_addition(path, ENTRY, "")
    path.write_text(BLOCK)
    with pytest.raises(ConfigError):  # the new entry itself must be valid
        plan_addition(path, dict(ENTRY, url="http://registry.ohio.example/trust-list"), "")


def test_the_file_is_replaced_whole_with_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "peers.yaml"
    path.write_text(BLOCK)
    os.chmod(path, 0o640)
    edit = plan_addition(path, ENTRY, "Ohio")
    assert edit.kept
    write_atomically(path, edit.text)
    assert path.read_text() == edit.text
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peers.yaml"]  # no temporary left


def test_render_quotes_what_plain_yaml_would_misread() -> None:
    text = render_entry({"id": "x", "keys": ["-abc", "a,b"], "url": "https://a.example/x #y"})
    assert load_yaml("peers:\n" + text, "t") == {
        "peers": [{"id": "x", "keys": ["-abc", "a,b"], "url": "https://a.example/x #y"}]
    }
