"""Strict JSON: the one decoder for every JSON text the node reads from outside.

Signed bytes and request bodies must mean one thing to every parser, so the node reads them as
I-JSON (RFC 7493) with bounds (docs/protocol.md section 2.4):

- no member name twice in one object;
- no lone surrogate (an escape such as ``\\ud800`` that is not half of a pair) in any string;
- no ``NaN``, ``Infinity`` or ``-Infinity``; no number that overflows a double (``1e400``);
  no integer of more than :data:`MAX_INT_DIGITS` digits;
- no nesting deeper than :data:`MAX_DEPTH` arrays and objects;
- UTF-8 only (no UTF-16 or UTF-32 guess), no byte order mark.

Everything refused raises :class:`StrictJSONError`, a ``ValueError``; no input makes the decoder
raise anything else (a ``RecursionError`` or the interpreter's integer-length ``ValueError``).
The checks cost little: duplicate names are found while each object is built, and the walks for
depth and surrogates run only when a quick scan of the text shows they might find something.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

#: Arrays and objects nested deeper than this are refused (a scalar has depth 0, ``[]`` 1).
MAX_DEPTH = 64
#: Integers with more digits than this are refused (``-`` not counted).
MAX_INT_DIGITS = 64

#: An escape that may decode to a surrogate (paired or not).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class StrictJSONError(ValueError):
    """The text is not JSON, or not the strict JSON the node accepts."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJSONError(f"duplicate member name {key!r}")
            seen.add(key)
    return out


def _int(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        raise StrictJSONError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise StrictJSONError(f"the number {text[:40]} overflows a double")
    return value


def _constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not JSON")


#: The decoder's scanner (the C one where available): ``raw_decode`` without its extra frame.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_int=_int, parse_float=_float, parse_constant=_constant
).scan_once  # type: ignore[attr-defined]


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of a decoded value, counted up to ``limit + 1`` at most."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if not isinstance(node, dict | list):
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            break
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, level + 1))
    return deepest


def _too_deep() -> StrictJSONError:
    return StrictJSONError(f"arrays and objects nested deeper than {MAX_DEPTH}")


def raw_decode(text: str, idx: int, limit: int = MAX_DEPTH) -> tuple[Any, int]:
    """Decode one value at ``text[idx:]`` strictly, nested at most ``limit`` deep; return it
    and the offset after it. Strings are not checked for lone surrogates here: see
    :func:`check_surrogates`, which callers run once over the whole text."""
    try:
        value, end = _scan(text, idx)
    except StopIteration as stop:
        raise StrictJSONError(f"expecting a value at offset {stop.value}") from None
    except RecursionError:
        raise _too_deep() from None
    except StrictJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise StrictJSONError(str(exc)) from None
    except ValueError as exc:  # the interpreter's own integer limit, should it be lower
        raise StrictJSONError(str(exc)) from None
    # A value holds at most as many arrays and objects as the brackets that open in its text.
    if text.count("[", idx, end) + text.count("{", idx, end) > limit and depth(value) > limit:
        raise _too_deep()
    return value, end


def may_hold_surrogates(text: str) -> bool:
    """False when no string decoded from ``text`` can hold a lone surrogate (nearly always):
    ``text`` has no escape of one (and, from :func:`text_of`, no surrogate of its own)."""
    return "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None


def check_surrogates(value: Any) -> None:
    """Refuse a decoded value with a lone surrogate in any member name or string."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise StrictJSONError(f"a lone surrogate in the string {node[:40]!r}")
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def text_of(data: bytes | str) -> str:
    """``data`` as text: UTF-8 only (so without surrogates), without a byte order mark."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictJSONError(f"not UTF-8: {exc}") from None
    else:
        text = data
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise StrictJSONError("a lone surrogate in the text") from None
    if text.startswith("\ufeff"):
        raise StrictJSONError("a byte order mark before the JSON text")
    return text


_WS = re.compile(r"[ \t\n\r]*")


def loads(data: bytes | str) -> Any:
    """Decode one JSON text strictly (module docstring). Raises :class:`StrictJSONError`."""
    text = text_of(data)
    idx = _WS.match(text).end()  # type: ignore[union-attr]
    value, end = raw_decode(text, idx)
    if _WS.match(text, end).end() != len(text):  # type: ignore[union-attr]
        raise StrictJSONError(f"extra data after the JSON value at offset {end}")
    if may_hold_surrogates(text):
        check_surrogates(value)
    return value


__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "StrictJSONError",
    "check_surrogates",
    "depth",
    "loads",
    "may_hold_surrogates",
    "raw_decode",
    "text_of",
]
