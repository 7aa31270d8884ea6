"""docs/protocol.md describes every endpoint the node serves, every problem code it can
return from the core, and every schema it publishes."""

from __future__ import annotations

import re
from pathlib import Path

from registry_node.config import NodeConfig
from registry_node.core import schema
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


def test_every_acceptance_reason_code_is_in_the_protocol_document() -> None:
    source = "\n".join(
        (ROOT / "registry_node" / part).read_text()
        for part in (
            "core/acceptance.py",
            "core/signing.py",
            "services/fetcher.py",
            "services/federation.py",
        )
    )
    codes = set(re.findall(r'code="([a-z_]+)"', source)) | set(
        re.findall(r'append\(\("([a-z_]+)"', source)
    )
    missing = sorted(c for c in codes if f"`{c}`" not in PROTOCOL)
    assert not missing, f"reason codes missing from docs/protocol.md: {missing}"


def test_every_answer_reason_and_query_problem_code_is_in_the_protocol_document() -> None:
    from registry_node.core import trust

    reasons = {*trust.VETOES, *trust.REFUSALS, "active", "not_listed", "sources_stale"}
    source = "\n".join(
        (ROOT / "registry_node" / part).read_text()
        for part in ("http/queries.py", "services/trqp.py")
    )
    codes = set(
        re.findall(r'"(bad_[a-z_]+|[a-z_]+_not_found|unknown_parameter|batch_too_large)"', source)
    )
    assert {"bad_issuer_id", "entity_not_found", "batch_too_large"} <= codes
    missing = sorted(c for c in reasons | codes if f"`{c}`" not in PROTOCOL)
    assert not missing, f"missing from docs/protocol.md: {missing}"
