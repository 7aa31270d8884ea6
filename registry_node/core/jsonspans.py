"""Parse a list payload and keep each issuer entry's exact source text.

``parse_payload(data)`` returns what ``json.loads`` returns, plus the text of every element of
the top-level ``issuers`` array exactly as the peer wrote (and signed) it. Storing that text
spares re-encoding ten thousand entries per sync, which would cost as much as decoding them,
and keeps the stored entries byte-identical to the signed ones. Every value is decoded by the
node's strict decoder (:mod:`registry_node.core.strictjson`); this module only walks the
top-level object, and accepts exactly the texts that ``strictjson.loads`` accepts.
"""

from __future__ import annotations

import re
from typing import Any

from registry_node.core import strictjson
from registry_node.core.strictjson import MAX_DEPTH, StrictJSONError

_WS = re.compile(r"[ \t\n\r]*")


class PayloadError(StrictJSONError):
    pass


def _skip(text: str, idx: int) -> int:
    return _WS.match(text, idx).end()  # type: ignore[union-attr]


def _expect(text: str, idx: int, char: str) -> int:
    if idx >= len(text) or text[idx] != char:
        raise PayloadError(f"expected {char!r} at offset {idx}")
    return idx + 1


_value = strictjson.raw_decode  # (text, offset, depth limit) -> (value, end offset)


def _array_with_spans(text: str, idx: int) -> tuple[list[Any], list[str], int]:
    idx = _skip(text, _expect(text, idx, "["))
    values: list[Any] = []
    spans: list[str] = []
    if idx < len(text) and text[idx] == "]":
        return values, spans, idx + 1
    while True:
        value, end = _value(text, idx, MAX_DEPTH - 2)  # inside the document and the array
        values.append(value)
        spans.append(text[idx:end])
        idx = _skip(text, end)
        if idx < len(text) and text[idx] == ",":
            idx = _skip(text, idx + 1)
            continue
        return values, spans, _expect(text, idx, "]")


def parse_payload(data: bytes) -> tuple[Any, list[str] | None]:
    """(document, issuer entry texts). The texts are None when ``issuers`` is not an array
    of the top-level object (the schema then rejects the document anyway)."""
    try:
        text = strictjson.text_of(data)
        document, spans = _document(text)
        if strictjson.may_hold_surrogates(text):
            strictjson.check_surrogates(document)
    except PayloadError:
        raise
    except StrictJSONError as exc:
        raise PayloadError(str(exc)) from exc
    return document, spans


def _document(text: str) -> tuple[Any, list[str] | None]:
    idx = _skip(text, 0)
    if not text.startswith("{", idx):
        other, end = _value(text, idx, MAX_DEPTH)
        if _skip(text, end) != len(text):
            raise PayloadError("extra data after the document")
        return other, None
    document: dict[str, Any] = {}
    spans: list[str] | None = None
    idx = _skip(text, idx + 1)
    if text.startswith("}", idx):
        idx += 1
    else:
        while True:
            if not text.startswith('"', idx):
                raise PayloadError(f"object key expected at offset {idx}")
            key, idx = _value(text, idx, 0)
            idx = _skip(text, _expect(text, _skip(text, idx), ":"))
            if key == "issuers" and text.startswith("[", idx):
                value, spans, idx = _array_with_spans(text, idx)
            else:
                value, idx = _value(text, idx, MAX_DEPTH - 1)
                if key == "issuers":
                    spans = None
            if key in document:
                raise PayloadError(f"duplicate member name {key!r}")
            document[key] = value
            idx = _skip(text, idx)
            if text.startswith(",", idx):
                idx = _skip(text, idx + 1)
                continue
            idx = _expect(text, idx, "}")
            break
    if _skip(text, idx) != len(text):
        raise PayloadError("extra data after the document")
    return document, spans
