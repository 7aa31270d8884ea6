"""resolve_method keeps what a read-only pins view gives a method id (core/credentials/keys.py):
the same view answers from memory, any other view (the index's sources changed) is read
afresh, and pins handed out as a plain mapping are read every time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pytest

from registry_node.core.credentials import keys
from registry_node.core.credentials.keys import KeyProblem, key_bytes, resolve_method
from tests import credential_factory as cf

ISSUER = "did:web:college.example"
METHOD = ISSUER + "#key-1"


class Views:
    """A resolver that hands out whatever ``current`` is, and counts the calls."""

    def __init__(self, current: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self.current = current

    def pins(self, issuer: str) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        return self.current


def _view(**by_source: Any) -> MappingProxyType[str, tuple[dict[str, Any], ...]]:
    return MappingProxyType({source: tuple(methods) for source, methods in by_source.items()})


def test_a_view_is_resolved_once_and_a_new_view_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = cf.ed25519(), cf.ed25519()
    reads: list[int] = []
    real = keys._pinned_keys
    monkeypatch.setattr(keys, "_pinned_keys", lambda pins: reads.append(1) or real(pins))
    view = _view(ohio=[cf.multikey_method(METHOD, first)])
    resolver = Views(view)
    one = resolve_method(METHOD, ISSUER, resolver)
    two = resolve_method(METHOD, ISSUER, resolver)
    assert one == two and len(reads) == 1
    assert [key_bytes(k.key) for k in one] == [key_bytes(first.public_key())]
    assert one[0].sources == ("ohio",)
    # the sources changed: the index hands out a new view, read afresh
    resolver.current = _view(indiana=[cf.multikey_method(METHOD, second)])
    three = resolve_method(METHOD, ISSUER, resolver)
    assert len(reads) == 2
    assert [key_bytes(k.key) for k in three] == [key_bytes(second.public_key())]
    assert three[0].sources == ("indiana",)
    # and a view without the method: unknown, however often it was known before
    resolver.current = _view(indiana=[])
    with pytest.raises(KeyProblem) as caught:
        resolve_method(METHOD, ISSUER, resolver)
    assert caught.value.code == "unknown_key"


def test_pins_in_a_plain_mapping_are_read_every_time() -> None:
    key = cf.ed25519()
    pins: dict[str, list[dict[str, Any]]] = {"ohio": [cf.multikey_method(METHOD, key)]}
    resolver = Views(pins)
    assert resolve_method(METHOD, ISSUER, resolver)[0].sources == ("ohio",)
    pins["ohio"] = []  # a mapping the resolver may change in place
    with pytest.raises(KeyProblem):
        resolve_method(METHOD, ISSUER, resolver)


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "RESOLVED_CACHE_SIZE", 3)
    monkeypatch.setattr(keys, "_resolved", {})
    key = cf.ed25519()
    held = [_view(ohio=[cf.multikey_method(METHOD, key)]) for _ in range(10)]
    for view in held:
        resolve_method(METHOD, ISSUER, Views(view))
        assert len(keys._resolved) <= 3
