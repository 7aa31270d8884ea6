"""parse_payload must read exactly what json.loads reads, and slice entries exactly."""

from __future__ import annotations

import json

import pytest

from registry_node.core.jsonspans import PayloadError, parse_payload

DOCS = [
    {"seq": 1, "issuers": [{"id": "a", "n": [1, 2, {"x": None}]}, {"id": "é\u2028", "s": '"}]'}]},
    {"issuers": []},
    {"a": {"issuers": [1]}, "issuers": [[], {}, "x", 1.5, True]},
    {"no_issuers": 1},
    {},
]


@pytest.mark.parametrize("doc", DOCS)
@pytest.mark.parametrize("indent", [None, 2])
def test_same_document_as_json_loads(doc: dict, indent: int | None) -> None:
    data = json.dumps(doc, indent=indent, ensure_ascii=False).encode()
    parsed, spans = parse_payload(data)
    assert parsed == json.loads(data)
    if isinstance(doc.get("issuers"), list):
        assert spans is not None
        assert [json.loads(s) for s in spans] == doc["issuers"]
        for span in spans:
            assert span in data.decode()


def test_spans_are_the_exact_source_text() -> None:
    data = b'{ "issuers" : [ {"b":1,  "a":2} ,{"id":"x"} ] , "seq":3 }'
    parsed, spans = parse_payload(data)
    assert spans == ['{"b":1,  "a":2}', '{"id":"x"}']
    assert parsed == {"issuers": [{"b": 1, "a": 2}, {"id": "x"}], "seq": 3}


def test_repeated_issuers_key_keeps_the_last_like_json_loads() -> None:
    data = b'{"issuers":[{"id":"first"}],"issuers":[{"id":"second"}]}'
    parsed, spans = parse_payload(data)
    assert parsed == json.loads(data)
    assert spans == ['{"id":"second"}']
    parsed, spans = parse_payload(b'{"issuers":[{"id":"a"}],"issuers":5}')
    assert parsed == {"issuers": 5}
    assert spans is None


@pytest.mark.parametrize(
    "data",
    [b'{"a":1', b'{"a":1}}', b'{"a" 1}', b'{"issuers":[1,]}', b"\xff", b"{1:2}", b"", b'{"a":1,}'],
)
def test_malformed_payloads_fail_like_json_loads(data: bytes) -> None:
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
        json.loads(data)
    with pytest.raises(PayloadError):
        parse_payload(data)
