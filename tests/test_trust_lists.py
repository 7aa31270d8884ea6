"""The example lists in trust_lists/ are valid and cover the kinds of issuers a state has."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_node.core.yamlsafe import load_yaml
from registry_node.services.issuers import IssuerService

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "trust_lists").glob("*.yaml"))


def test_three_states_ship() -> None:
    assert [f.name for f in FILES] == ["us-in.yaml", "us-mi.yaml", "us-oh.yaml"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_list_is_valid_and_varied(path: Path) -> None:
    doc = load_yaml(path.read_bytes(), str(path))
    jurisdiction = path.stem.upper()
    entries = IssuerService(None, None, jurisdiction).parse_source(doc, str(path))  # type: ignore[arg-type]
    kinds = {e["org_type"] for e in entries}
    assert {
        "licensing_board",
        "higher_education",
        "k12",
        "apprenticeship_sponsor",
        "workforce_agency",
        "military",
    } <= kinds
    statuses = {h["status"] for e in entries for h in e["status_history"]}
    assert {"active", "suspended", "revoked", "retired"} <= statuses
    for entry in entries:
        for name in (entry["id"], *entry.get("aka", ())):
            if not name.startswith("did:key:"):
                host = name.split("//")[-1].split(":")[-1].split("/")[0]
                assert host.endswith(".example"), name
