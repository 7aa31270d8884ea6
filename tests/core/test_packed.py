"""Packed entry texts: exactly the texts they were made from, in a fraction of the bytes."""

from __future__ import annotations

import json
import pickle

from registry_node.core.packed import PackedTexts


def _texts(count: int) -> dict[str, str]:
    return {
        f"did:web:issuer{n}.example": json.dumps(
            {
                "id": f"did:web:issuer{n}.example",
                "name": f"Provider {n}, Zürich ✓",  # non-ASCII survives unchanged
                "url": f"https://issuer{n}.example",
                "authorizations": [{"credential_types": ["OpenBadgeCredential"]}],
            },
            ensure_ascii=False,
        )
        for n in range(count)
    }


def test_packed_texts_are_the_texts_exactly() -> None:
    texts = _texts(50)
    packed = PackedTexts.pack(texts)
    assert len(packed) == 50
    assert list(packed) == list(texts)
    assert all(packed[key] == text for key, text in texts.items())
    assert packed == texts and dict(packed.items()) == texts
    assert "did:web:issuer3.example" in packed and "did:web:nobody" not in packed
    assert packed.get("did:web:nobody") is None


def test_packed_texts_are_smaller() -> None:
    texts = _texts(200)
    packed = PackedTexts.pack(texts)
    assert len(pickle.dumps(packed)) < len(pickle.dumps(texts)) / 2


def test_packed_texts_cross_a_process_boundary() -> None:
    packed = PackedTexts.pack(_texts(5))
    again = pickle.loads(pickle.dumps(packed))  # noqa: S301 (its own bytes)
    assert isinstance(again, PackedTexts) and again == _texts(5)


def test_packing_packed_texts_keeps_them() -> None:
    packed = PackedTexts.pack(_texts(3))
    assert PackedTexts.pack(packed) is packed


def test_no_texts_and_empty_texts() -> None:
    assert len(PackedTexts.pack({})) == 0
    assert PackedTexts.pack({"a": ""})["a"] == ""
    one = PackedTexts.pack({"a": "x" * 10_000})  # longer than the dictionary's window
    assert one["a"] == "x" * 10_000
