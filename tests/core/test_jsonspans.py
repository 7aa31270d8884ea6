"""parse_payload must read what json.loads reads (tests/core/test_strictjson.py shows it reads
exactly what the strict decoder reads), and slice entries exactly."""

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


@pytest.mark.parametrize(
    "data",
    [
        b'{"issuers":[{"id":"first"}],"issuers":[{"id":"second"}]}',
        b'{"issuers":[{"id":"a"}],"issuers":5}',
        b'{"seq":1,"issuers":[],"seq":2}',
        b'{"issuers":[{"id":"a","id":"b"}]}',
    ],
)
def test_a_repeated_member_name_is_refused(data: bytes) -> None:
    with pytest.raises(PayloadError, match="duplicate member name"):
        parse_payload(data)


@pytest.mark.parametrize(
    "data",
    [b'{"a":1', b'{"a":1}}', b'{"a" 1}', b'{"issuers":[1,]}', b"\xff", b"{1:2}", b"", b'{"a":1,}'],
)
def test_malformed_payloads_fail_like_json_loads(data: bytes) -> None:
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
        json.loads(data)
    with pytest.raises(PayloadError):
        parse_payload(data)
