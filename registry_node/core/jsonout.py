"""JSON the node writes: compact UTF-8 bytes, exactly as the standard library writes them with
``ensure_ascii=False`` and ``separators=(",", ":")``, only about ten times faster (orjson).

A verification answer or a lookup is mostly the writing of its JSON, so the hot paths write
with this module; what the node writes rarely (files, logs) keeps the standard library. The two
agree byte for byte on everything the node writes: strings (every code point but the
surrogates, escaped the same way), integers within 64 bits, booleans, null, lists and objects.
They differ only where the node never goes: a float's digits (``1e16`` against ``1e+16``), an
integer beyond 64 bits or a lone surrogate (refused here with :class:`TypeError`), and types
that are not JSON (a ``datetime``, a dataclass: written here, refused there).
"""

from __future__ import annotations

from typing import Any

import orjson

#: raised for what cannot be written (a TypeError, as the standard library raises)
EncodeError = orjson.JSONEncodeError


def compact(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, members in their order."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def compact_sorted(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON with every object's members sorted by name (code point
    order, which is RFC 8785's UTF-16 order for names within the Basic Multilingual Plane)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


__all__ = ["EncodeError", "compact", "compact_sorted"]
