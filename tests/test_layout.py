"""The layering, checked on the source: the core is pure, services do not reach for the
composition root, and the edges call services, never the store (docs/adr/0011)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "registry_node"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_core_imports_no_service_edge_or_io_library() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        bad = {
            m
            for m in imports(path)
            if m.startswith(("registry_node.services", "registry_node.http", "registry_node.cli"))
            or m.split(".")[0] in {"aiohttp", "aiosqlite", "sqlite3", "apscheduler", "socket"}
        }
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_no_service_imports_the_composition_root() -> None:
    for path in (PACKAGE / "services").glob("*.py"):
        if path.name == "node.py":
            continue
        assert "registry_node.services.node" not in imports(path), path.name


def test_the_edges_never_read_the_store() -> None:
    edges = [*(PACKAGE / "http").glob("*.py"), *(PACKAGE / "cli").glob("*.py")]
    for path in edges:
        tree = ast.parse(path.read_text())
        uses = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "store"
        ]
        assert not uses, f"{path.relative_to(PACKAGE)} reads the store at lines {uses}"
        assert "registry_node.services.store" not in imports(path) or path.name == "cache.py"
