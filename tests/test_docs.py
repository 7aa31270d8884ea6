"""docs/protocol.md describes every endpoint the node serves, every reason code of the node
(core/reasons.py), and every schema it publishes."""

from __future__ import annotations

import re
from pathlib import Path

from registry_node.config import NodeConfig
from registry_node.core import reasons, schema
from registry_node.http.app import create_app

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()


def _documented(path: str) -> bool:
    """Is the route (with any {placeholder}) written in the document?"""
    pattern = re.escape(path)
    pattern = re.sub(r"\\\{[^}]*\\\}", r"\\{[^}]+\\}", pattern)
    return re.search(pattern, PROTOCOL) is not None


def test_every_route_is_in_the_protocol_document() -> None:
    app = create_app(NodeConfig(), run_scheduler=False)
    routes = set()
    for resource in app.router.resources():
        canonical = resource.canonical
        routes.add(re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", canonical))
    missing = sorted(r for r in routes if not _documented(r))
    assert not missing, f"undocumented routes: {missing}"
    assert len(routes) >= 18


def test_every_schema_is_in_the_protocol_document() -> None:
    for name in schema.SCHEMA_FILES:
        assert name in PROTOCOL


def test_every_reason_code_is_in_the_protocol_document() -> None:
    """Every code of core/reasons.py (which tests/core/test_reasons.py holds to exactly the
    codes the source uses) is written in docs/protocol.md."""
    codes = list(reasons.codes())
    assert len(codes) >= 100
    missing = sorted(c for c in codes if f"`{c}`" not in PROTOCOL)
    assert not missing, f"reason codes missing from docs/protocol.md: {missing}"
