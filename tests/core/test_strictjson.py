"""The strict decoder (docs/protocol.md section 2.4), and agreement between the node's parsers of
signed bytes: the span parser of a list payload and the strict decoder accept exactly the same
texts and read the same values from them, over generated documents."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_node.core import strictjson
from registry_node.core.jsonspans import PayloadError, parse_payload
from registry_node.core.strictjson import MAX_DEPTH, MAX_INT_DIGITS, StrictJSONError


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a":1,"b":[true,false,null],"c":"x"}', {"a": 1, "b": [True, False, None], "c": "x"}),
        ('"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate pair is one character
        ('"\\\\ud800"', "\\ud800"),  # an escaped backslash, then text
        ('"é\u2028"', "é\u2028"),
        (" [1.5e3, -0, 1E-400] ", [1500.0, 0, 0.0]),
        ("9" * MAX_INT_DIGITS, int("9" * MAX_INT_DIGITS)),
        ("-" + "9" * MAX_INT_DIGITS, -int("9" * MAX_INT_DIGITS)),
        (nested(MAX_DEPTH), json.loads(nested(MAX_DEPTH))),
        ('{"a":{"a":1}}', {"a": {"a": 1}}),  # the same name in different objects
    ],
)
def test_accepts_strict_json(text: str, value: Any) -> None:
    assert strictjson.loads(text.encode()) == value
    assert strictjson.loads(text) == value


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"a":1,"a":1}', "duplicate member name 'a'"),
        ('{"a":1,"\\u0061":2}', "duplicate member name 'a'"),  # the same name, escaped
        ('[{"x":{"id":1,"id":2}}]', "duplicate member name 'id'"),
        ('"\\ud800"', "lone surrogate"),
        ('"\\udc00\\ud800"', "lone surrogate"),  # a low then a high surrogate: not a pair
        ('{"\\udbff":1}', "lone surrogate"),  # in a member name
        ("NaN", "NaN is not JSON"),
        ("[-Infinity]", "-Infinity is not JSON"),
        ("1e400", "overflows a double"),
        ("-1" + "0" * 400 + ".0", "overflows a double"),
        ("1" * (MAX_INT_DIGITS + 1), f"more than {MAX_INT_DIGITS} digits"),
        ("1" * 4400, f"more than {MAX_INT_DIGITS} digits"),
        (nested(MAX_DEPTH + 1), f"deeper than {MAX_DEPTH}"),
        (nested(100_000), f"deeper than {MAX_DEPTH}"),
        ('{"a":' * 100_000, f"deeper than {MAX_DEPTH}"),
        ("\ufeff{}", "byte order mark"),
        ('{"a":1} x', "extra data"),
        ("", "expecting a value"),
        ("{'a':1}", "Expecting property name"),
    ],
)
def test_refuses_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(StrictJSONError, match=why.replace("(", r"\(")) as caught:
        strictjson.loads(text.encode())
    assert isinstance(caught.value, ValueError)
    with pytest.raises(PayloadError):
        parse_payload(text.encode())


@pytest.mark.parametrize(
    "data",
    [b"\xff{}", '{"a":1}'.encode("utf-16"), '{"a":1}'.encode("utf-32"), b'"\xed\xa0\x80"'],
)
def test_utf8_only(data: bytes) -> None:
    with pytest.raises(StrictJSONError, match="not UTF-8"):
        strictjson.loads(data)


def test_a_text_with_a_surrogate_of_its_own_is_refused() -> None:
    with pytest.raises(StrictJSONError, match="lone surrogate"):
        strictjson.loads('"\ud800"')


def test_depth_counts_arrays_and_objects() -> None:
    assert strictjson.depth(1) == 0
    assert strictjson.depth([]) == 1
    assert strictjson.depth({"a": [{"b": []}, 2]}) == 4
    assert strictjson.depth(json.loads(nested(500)), limit=10) == 11  # stops past the limit


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '["' + "[{" * 200 + '"]'
    assert strictjson.loads(text) == ["[{" * 200]
    assert parse_payload(('{"issuers":[' + text + "]}").encode())[0]["issuers"] == [["[{" * 200]]


@pytest.mark.parametrize(
    ("members", "ok"),
    [
        # the issuers array and each entry count towards the document's depth
        (f'"issuers":[{nested(MAX_DEPTH - 2)}]', True),
        (f'"issuers":[{nested(MAX_DEPTH - 1)}]', False),
        (f'"other":{nested(MAX_DEPTH - 1)}', True),
        (f'"other":{nested(MAX_DEPTH)}', False),
    ],
)
def test_the_span_parser_bounds_depth_like_the_decoder(members: str, ok: bool) -> None:
    data = ("{" + members + "}").encode()
    if ok:
        assert parse_payload(data)[0] == strictjson.loads(data)
    else:
        with pytest.raises(StrictJSONError):
            strictjson.loads(data)
        with pytest.raises(PayloadError, match="deeper than"):
            parse_payload(data)


# -- generated documents ---------------------------------------------------------------------

WS = st.sampled_from(["", "", "", " ", "\n  ", "\t", "\r\n"])
#: pieces of string contents as written in JSON: escapes, pairs, look-alikes, lone halves
PIECES = st.sampled_from(
    [
        "a",
        "Z9",
        " ",
        "é",
        "\U0001f600",
        "\u2028",
        "[",
        "]{",
        "}",
        '\\"',
        '\\":',
        "\\\\",
        "\\/",
        "\\n\\t",
        "\\u00e9",
        "\\u0041",
        "\\ud83d\\ude00",
        "\\uD83D\\uDE00",
        "\\\\ud800",
    ]
    * 3
    + ["\\ud800", "\\udc00", "\\uDBFF"]
)
STRINGS = st.lists(PIECES, max_size=4).map(lambda ps: '"' + "".join(ps) + '"')
#: few names, so that objects often repeat one (also as an escape: "\u0061" is "a")
KEYS = st.sampled_from(
    ['"a"', '"b"', '"c"', '"d"', '"id"', '"name"', '"n"', '"\\u0061"', '"issuers"', '""']
)
DIGITS = st.one_of(
    st.text("0123456789", min_size=1, max_size=20).map(lambda d: d.lstrip("0") or "0"),
    st.sampled_from(["9" * MAX_INT_DIGITS, "1" * (MAX_INT_DIGITS + 1), "7" * 4400]),
)
INTS = st.builds(lambda sign, digits: sign + digits, st.sampled_from(["", "-"]), DIGITS)
FLOATS = st.builds(
    lambda whole, frac, exp: whole + frac + exp,
    st.sampled_from(["0", "-0", "1", "-12", "9" * 30]),
    st.sampled_from(["", ".5", ".000001", ".25"]),
    st.sampled_from(["", "e5", "E-7", "e+10", "e308", "e-400"] * 2 + ["e309", "e400"]),
).filter(lambda f: not f.lstrip("-").isdigit())
CONSTANTS = st.sampled_from(["null", "true", "false"] * 5 + ["NaN", "Infinity", "-Infinity"])
SCALARS = st.one_of(CONSTANTS, INTS, FLOATS, STRINGS, STRINGS)


def _array(items: list[tuple[str, str, str]]) -> str:
    return "[" + ",".join(a + item + b for a, item, b in items) + "]"


def _object(members: list[tuple[str, str, str]]) -> str:
    return "{" + ",".join(f"{key}{ws}:{ws}{value}" for key, ws, value in members) + "}"


def _deep(depth: int, inner: str, kind: str) -> str:
    if kind == "[":
        return "[" * depth + inner + "]" * depth
    return '{"d":' * depth + inner + "}" * depth


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    arrays = st.lists(st.tuples(WS, children, WS), max_size=4).map(_array)
    objects = st.lists(st.tuples(KEYS, WS, children), max_size=4).map(_object)
    return st.one_of(
        arrays,
        objects,
        arrays,
        objects,
        arrays,
        objects,
        st.builds(
            _deep,
            st.sampled_from(
                [2, 3, 10, MAX_DEPTH - 3, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, 5000]
            ),
            children,
            st.sampled_from(["[", "{"]),
        ),
    )


VALUES = st.recursive(SCALARS, _extend, max_leaves=12)


@st.composite
def payloads(draw: st.DrawFn) -> str:
    """Mostly a top-level object with an ``issuers`` array (sometimes two), as lists are; then
    sometimes one defect of the structure that the span parser walks itself."""
    if draw(st.integers(0, 9)) == 0:
        text = draw(VALUES)
    else:
        entries = draw(st.lists(st.tuples(WS, VALUES, WS), max_size=5))
        members = draw(st.lists(st.tuples(KEYS, WS, VALUES), max_size=3))
        at = draw(st.integers(0, len(members)))
        members.insert(at, ('"issuers"', draw(WS), _array(entries)))
        text = draw(WS) + _object(members) + draw(WS)
    defect = draw(
        st.sampled_from([None] * 12 + ["trailing comma", "extra", "no colon", "bom", "cut"])
    )
    if defect == "trailing comma":
        text = text.rstrip()[:-1] + ",}"
    elif defect == "extra":
        text += " 1"
    elif defect == "no colon":
        text = text.replace(":", " ", 1)
    elif defect == "bom":
        text = "\ufeff" + text
    elif defect == "cut":
        text = text[:-1]
    return text


def reference(text: str) -> tuple[bool, Any]:
    """The rules of section 2.4, written out on top of the standard library's decoder."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in items]
        if len(set(names)) != len(names):
            raise ValueError("duplicate")
        return dict(items)

    def number(text: str) -> int:
        if len(text.lstrip("-")) > MAX_INT_DIGITS:
            raise ValueError("long")
        return int(text)

    def constant(name: str) -> None:
        raise ValueError(name)

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_int=number, parse_constant=constant)
    except (ValueError, RecursionError):
        return False, None

    def fine(node: Any, level: int) -> bool:
        if isinstance(node, float):
            return math.isfinite(node)
        if isinstance(node, str):
            return not any(0xD800 <= ord(c) <= 0xDFFF for c in node)
        if isinstance(node, list | dict):
            if level > MAX_DEPTH:
                return False
            children = [*node, *node.values()] if isinstance(node, dict) else node
            return all(fine(child, level + 1) for child in children)
        return True

    return fine(value, 1), value


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (``1`` is not ``1.0``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a.hex() == b.hex()
    return bool(a == b)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payloads())
def test_span_parser_and_strict_decoder_agree(text: str) -> None:
    data = text.encode()
    expected_ok, expected = reference(text)
    try:
        strict: Any = strictjson.loads(data)
        strict_ok = True
    except StrictJSONError:
        strict_ok = False
    try:
        document, spans = parse_payload(data)
        spans_ok = True
    except PayloadError:
        spans_ok = False
    assert strict_ok == spans_ok == expected_ok
    if not strict_ok:
        return
    assert same(strict, document)
    assert same(strict, expected)
    issuers = strict.get("issuers") if isinstance(strict, dict) else None
    if isinstance(issuers, list):
        assert spans is not None
        assert len(spans) == len(issuers)
        for span, element in zip(spans, issuers, strict=True):
            assert span in text
            assert same(strictjson.loads(span), element)
    else:
        assert spans is None
