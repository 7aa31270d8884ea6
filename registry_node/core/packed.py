"""Entry texts held compactly: each compressed on its own, against a dictionary of a few of
its list's own entries.

The entries of one list share their keys and much of their shape, so a text compressed
against a handful of its neighbours takes a fraction of its size (a tenth for the benchmark's
entries, which are more alike than real ones), and comes back, exactly, in microseconds. A
:class:`PackedTexts` is a read-only ``Mapping[str, str]``: the judging worker hands a list's
kept entries back in this form (a fraction of the bytes to cross the process boundary), and the
lookup index keeps them so until a question needs one (services/index.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from registry_node.core.acceptance import Decision, accept

#: texts of the list sampled into the dictionary
SAMPLES = 4
# Raw deflate (no header or checksum: the texts never leave the process) with a 4 KiB window
# and a small state: a compressor primed with the dictionary is copied for each text, which
# costs less than priming a new one.
_WBITS = -12
_MEM_LEVEL = 4
_LEVEL = 6
#: what of the dictionary the window reaches (zlib keeps 262 bytes of lookahead)
DICTIONARY_BYTES = (1 << -_WBITS) - 262


def _dictionary(texts: list[str]) -> bytes:
    if not texts:
        return b""
    step = max(1, len(texts) // SAMPLES)
    sample = b"".join(texts[i].encode() for i in range(0, len(texts), step)[:SAMPLES])
    return sample[-DICTIONARY_BYTES:]


class PackedTexts(Mapping[str, str]):
    """Key -> text, each text deflated on its own against the same dictionary."""

    __slots__ = ("_dictionary", "_packed")

    def __init__(self, dictionary: bytes, packed: dict[str, bytes]) -> None:
        self._dictionary = dictionary
        self._packed = packed

    @classmethod
    def pack(cls, texts: Mapping[str, str]) -> PackedTexts:
        if isinstance(texts, PackedTexts):
            return texts
        dictionary = _dictionary(list(texts.values()))
        if dictionary:
            primed = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zdict=dictionary)
        else:
            primed = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL)
        packed = {}
        for key, text in texts.items():
            packer = primed.copy()
            packed[key] = packer.compress(text.encode()) + packer.flush()
        return cls(dictionary, packed)

    def __getitem__(self, key: str) -> str:
        data = self._packed[key]
        if self._dictionary:
            unpacker = zlib.decompressobj(_WBITS, zdict=self._dictionary)
        else:
            unpacker = zlib.decompressobj(_WBITS)
        return (unpacker.decompress(data) + unpacker.flush()).decode()

    def __contains__(self, key: object) -> bool:
        return key in self._packed

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

    def __repr__(self) -> str:
        return f"PackedTexts({len(self._packed)} texts)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (PackedTexts, (self._dictionary, self._packed))


def accept_packed(*args: Any, **kwargs: Any) -> Decision:
    """:func:`~registry_node.core.acceptance.accept`, its kept entries packed."""
    decision = accept(*args, **kwargs)
    if decision.kind != "new":
        return decision
    return replace(decision, entries=PackedTexts.pack(decision.entries))
