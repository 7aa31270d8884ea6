"""The typed wire values name exactly what the JSON Schemas define: the schema stays the one
truth of the format, and a member added to one and not the other fails here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from registry_node.core import schema, wire


def trust_list() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(schema.schema_bytes("trust-list-v1.json"))
    return doc


@pytest.mark.parametrize(
    ("typed", "where"),
    [
        (wire.ListPayload, None),
        (wire.IssuerEntry, "issuer"),
        (wire.Authorization, "authorization"),
        (wire.StatusRecord, "status_entry"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_typed_values_match_the_schema(typed: Any, where: str | None) -> None:
    doc = trust_list()
    node = doc if where is None else doc["$defs"][where]
    assert set(typed.__annotations__) == set(node["properties"])
    assert set(typed.__required_keys__) == set(node["required"])
