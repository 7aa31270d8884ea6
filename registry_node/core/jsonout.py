"""JSON the node writes: compact UTF-8 bytes, exactly as the standard library writes them with
``ensure_ascii=False`` and ``separators=(",", ":")``, only about ten times faster (orjson).

A verification answer or a lookup is mostly the writing of its JSON, so the hot paths write
with this module; what the node writes rarely (files, logs) keeps the standard library. The two
agree byte for byte on everything the node writes: strings (every code point but the
surrogates, escaped the same way), integers within 64 bits, booleans, null, lists and objects.
They differ only where orjson refuses a value (an integer beyond 64 bits, which a client may
send inside a credential the answer reports on): then the standard library writes it, so
the bytes stay the same. What neither can write (a lone surrogate, an object of no JSON type)
is a :class:`TypeError`; orjson also writes a few such types (a ``datetime``, a dataclass),
which the node never hands it. Floats are written alike in value, not always in digits (``1e16``
against ``1e+16``); the node signs no float it writes here (JCS sends floats to ``rfc8785``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: raised for what cannot be written
EncodeError = TypeError


def _standard(value: Any, sort_keys: bool) -> bytes:
    """The standard library's bytes, for what orjson refuses."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    try:
        return text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise TypeError(f"not writable as UTF-8 JSON: {exc.reason}") from None


def compact(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, members in their order. Names that are not strings
    cost orjson a slower path for every object, so it is asked for only when one is there."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return _standard(value, sort_keys=False)


def compact_sorted(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON with every object's members sorted by name (code point
    order, which is RFC 8785's UTF-16 order for names within the Basic Multilingual Plane)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _standard(value, sort_keys=True)


__all__ = ["EncodeError", "compact", "compact_sorted"]
