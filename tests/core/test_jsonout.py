"""The JSON the node writes (core/jsonout.py) is, byte for byte, what the standard library
writes with ``ensure_ascii=False`` and no spaces, for every value the node writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_node.core import jsonout

#: every code point but the surrogates, which neither writer can put into UTF-8
TEXT = st.text(st.characters(blacklist_categories=("Cs",)))
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30,
)


def _standard(value: Any, sort_keys: bool = False) -> bytes:
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys
    ).encode()


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_compact_writes_what_the_standard_library_writes(value: Any) -> None:
    assert jsonout.compact(value) == _standard(value)


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_compact_sorted_writes_what_the_standard_library_writes_sorted(value: Any) -> None:
    assert jsonout.compact_sorted(value) == _standard(value, sort_keys=True)


def test_every_code_point_is_written_alike() -> None:
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert jsonout.compact({"all": text, "\x00\x1f\x7f\u2028": 1}) == _standard(
        {"all": text, "\x00\x1f\x7f\u2028": 1}
    )


@pytest.mark.parametrize("value", [2**64, [-(2**70)], {"n": 10**63}])
def test_what_orjson_refuses_is_written_as_the_standard_library_writes_it(value: Any) -> None:
    assert jsonout.compact(value) == _standard(value)
    assert jsonout.compact_sorted(value) == _standard(value, sort_keys=True)


@pytest.mark.parametrize("value", ["\ud800", {"a": object()}])
def test_what_cannot_be_written_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        jsonout.compact(value)
    with pytest.raises(TypeError):
        jsonout.compact_sorted(value)


class _Name(str):
    pass


@pytest.mark.parametrize(
    "value", [{1: "one", "two": 2}, [{None: 1}, {True: 2}], {_Name("named"): [1]}]
)
def test_names_that_are_not_plain_strings_are_written_as_the_standard_library_writes_them(
    value: Any,
) -> None:
    assert jsonout.compact(value) == _standard(value)
