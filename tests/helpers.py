"""Shared test helpers: an injectable clock, configs and issuer entries built in code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from registry_node.config import FederationConfig, NodeConfig

INDIANA = "https://registry.indiana.example"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kw: float) -> datetime:
        self.now += delta if delta is not None else timedelta(**kw)
        return self.now


def make_config(tmp: Path, **changes: Any) -> NodeConfig:
    base = NodeConfig(
        node_id="https://registry.ohio.example",
        jurisdiction="US-OH",
        name="Ohio LER Trust Registry",
        data_dir=tmp / "data",
        trust_list=tmp / "trust_lists" / "us-oh.yaml",
        peers_file=tmp / "peers.yaml",
        publish_debounce=timedelta(seconds=2),
        log_format="text",
        # Lists are judged in a thread here; test_federation covers the process pool too.
        federation=FederationConfig(judge_processes=0),
    )
    return replace(base, **changes)


def issuer(n: int = 1, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": f"did:web:board{n}.ohio.example",
        "name": f"Ohio Licensing Board {n}",
        "org_type": "licensing_board",
        "url": f"https://board{n}.ohio.example",
        "identifiers": [{"scheme": "fein", "value": f"31-{n:07d}"}],
        "authorizations": [
            {
                "credential_types": ["OpenBadgeCredential"],
                "achievement_types": ["License"],
                "jurisdiction": "US-OH",
                "legal_basis": "Ohio Revised Code 4723",
            }
        ],
        "status_history": [
            {"status": "active", "from": "2020-01-01T00:00:00Z", "reason": "chartered"}
        ],
    }
    doc.update(changes)
    return doc


def init_node(name: str = "Indiana", node_id: str = INDIANA, jurisdiction: str = "US-IN") -> None:
    """``registry-node init`` in the current folder, as an operator runs it."""
    from registry_node.cli import main

    assert main(["init", "--node-id", node_id, "--jurisdiction", jurisdiction, "--name", name]) == 0


def college_source(
    issuer_id: str, method: dict[str, Any], jurisdiction: str = "US-IN"
) -> dict[str, Any]:
    """An issuer source file of one active college whose signing key is pinned (``method``),
    authorised for Open Badges of achievement type Certificate."""
    entry = {
        "id": issuer_id,
        "name": "Indiana College",
        "org_type": "higher_education",
        "keys": [method],
        "authorizations": [
            {
                "credential_types": ["OpenBadgeCredential"],
                "achievement_types": ["Certificate"],
                "jurisdiction": jurisdiction,
            }
        ],
        "status_history": [{"status": "active", "from": "2020-01-01T00:00:00Z"}],
    }
    return {"jurisdiction": jurisdiction, "issuers": [entry]}
