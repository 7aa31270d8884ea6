"""The fast and the reference validator agree on the list schema (docs/adr/0004)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from registry_node.core import keys, schema
from registry_node.core.errors import SchemaInvalid
from registry_node.core.model import NodeIdentity, build_payload
from tests.helpers import issuer


def payload() -> dict[str, Any]:
    key = keys.generate()
    return build_payload(
        NodeIdentity("https://registry.ohio.example", "US-OH", "Ohio"),
        seq=3,
        iat=1_700_000_000,
        exp=1_700_086_400,
        prev="A" * 43,
        keys=[key.public_jwk()],
        next_keys=[],
        issuers=[issuer(1), issuer(2, aka=["https://two.ohio.example"])],
    )


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _drop(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


MUTATIONS = {
    "version-2": _set(["version"], 2),
    "seq-zero": _set(["seq"], 0),
    "iss-http": _set(["iss"], "http://registry.ohio.example"),
    "jurisdiction-name": _set(["jurisdiction"], "Ohio"),
    "prev-short": _set(["prev"], "abc"),
    "no-keys": _set(["keys"], []),
    "private-key": _set(["keys", 0, "d"], "A" * 43),
    "alg-mismatch": _set(["keys", 0, "alg"], "ES256"),
    "extra-member": _set(["extra"], 1),
    "missing-exp": _drop(["exp"]),
    "org-type": _set(["issuers", 0, "org_type"], "school"),
    "status": _set(["issuers", 0, "status_history", 0, "status"], "gone"),
    "from-no-offset": _set(["issuers", 0, "status_history", 0, "from"], "2020-01-01T00:00:00"),
    "from-impossible-date": _set(
        ["issuers", 0, "status_history", 0, "from"], "2020-02-31T00:00:00Z"
    ),
    "empty-history": _set(["issuers", 0, "status_history"], []),
    "bad-ctid": _set(["issuers", 0, "authorizations", 0, "ctids"], ["ce-xyz"]),
    "issuer-id-ftp": _set(["issuers", 1, "id"], "ftp://x.example"),
}


def test_a_valid_payload_passes_both() -> None:
    doc = payload()
    schema.check_trust_list(doc)
    assert schema.errors_of(schema.TRUST_LIST, doc) == []


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_both_validators_refuse(name: str) -> None:
    doc = copy.deepcopy(payload())
    MUTATIONS[name](doc)
    assert schema.errors_of(schema.TRUST_LIST, doc), "reference validator accepted it"
    assert not schema._fast_trust_list().is_valid(doc), "fast validator accepted it"
    with pytest.raises(SchemaInvalid):
        schema.check_trust_list(doc)
