"""A peer's body that is not strict JSON (docs/protocol.md section 2.4), or holds an instant the
node cannot represent, is refused by the acceptance function with a reason code: it never
raises anything but ``Rejected``. A mirror or a CDN can serve such a body unsigned, so every
case here is judged before (or without) a valid signature as well as with one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from registry_node.core.acceptance import accept
from registry_node.core.errors import Rejected
from registry_node.core.model import b64url, canonical_json
from registry_node.core.peers import PeerConfig, parse_peers
from registry_node.core.signing import TYP, sign_list
from tests.helpers import FakeClock
from tests.sim import PeerSimulator

DEEP = "[" * 100_000 + "]" * 100_000
BIG = "1" * 4400

clock = FakeClock()
sim = PeerSimulator(clock)
PEER: PeerConfig = parse_peers(
    {
        "peers": [
            {
                "id": sim.peer_id,
                "jurisdiction": sim.jurisdiction,
                "url": "https://registry.indiana.example/trust-list",
                "keys": sim.pins,
            }
        ]
    },
    "peers.yaml",
)[0]
PAYLOAD = canonical_json(sim.payload(1)).decode()
ENTRY = canonical_json(sim.issuers[0]).decode()
assert ENTRY in PAYLOAD
SIGNATURE = json.loads(sim.publish(seq=1))["signatures"][0]


def judge(body: bytes) -> Rejected:
    with pytest.raises(Rejected) as caught:
        accept(body, PEER, None, clock(), max_bytes=1 << 24, clock_skew=timedelta(minutes=5))
    return caught.value


def signed(text: str) -> bytes:
    return sign_list(text.encode(), sim.signers)


def unsigned(text: str) -> bytes:
    """The payload under a signature made for other bytes: what a mirror could serve."""
    return canonical_json({"payload": b64url(text.encode()), "signatures": [SIGNATURE]})


def in_entry(member: str) -> str:
    return PAYLOAD.replace(ENTRY, ENTRY[:-1] + "," + member + "}", 1)


def in_history(when: str) -> str:
    return PAYLOAD.replace('"2020-01-01T00:00:00Z"', json.dumps(when), 1)


def test_the_baseline_is_accepted() -> None:
    decision = accept(
        signed(PAYLOAD), PEER, None, clock(), max_bytes=1 << 24, clock_skew=timedelta(minutes=5)
    )
    assert decision.kind == "new"


PAYLOADS = {
    "a repeated member of the list": (PAYLOAD[:-1] + ',"seq":2}', "duplicate member name 'seq'"),
    "a repeated issuers member": (
        PAYLOAD[:-1] + ',"issuers":[]}',
        "duplicate member name 'issuers'",
    ),
    "a repeated member of an entry": (in_entry('"name":"Other"'), "duplicate member name 'name'"),
    "a repeated member of a status history": (
        PAYLOAD.replace('"status":"active"', '"status":"revoked","status":"active"', 1),
        "duplicate member name 'status'",
    ),
    "the same name written as an escape": (
        in_entry('"\\u006eame":"Other"'),
        "duplicate member name 'name'",
    ),
    "a 4,300-digit integer": (PAYLOAD.replace('"seq":1', '"seq":' + BIG, 1), "more than 64"),
    "a long integer in an entry": (in_entry('"x":-' + BIG), "more than 64"),
    "a number that overflows": (in_entry('"x":1e400'), "overflows a double"),
    "NaN": (in_entry('"x":NaN'), "NaN is not JSON"),
    "Infinity": (PAYLOAD.replace('"seq":1', '"seq":Infinity', 1), "Infinity is not JSON"),
    "deep nesting in an entry": (in_entry('"x":' + DEEP), "nested deeper than 64"),
    "deep nesting in the list": (PAYLOAD[:-1] + ',"x":' + DEEP + "}", "nested deeper than 64"),
    "nesting just past the bound": (in_entry('"x":' + "[" * 63 + "]" * 63), "deeper than 64"),
    "a lone surrogate in an id": (
        PAYLOAD.replace("did:web:issuer0", "did:web:\\ud800issuer0", 1),
        "lone surrogate",
    ),
    "a lone low surrogate in a name": (
        PAYLOAD.replace('"Issuer 0"', '"Issuer \\udc00"', 1),
        "lone surrogate",
    ),
    "a lone surrogate in a member name": (in_entry('"\\ud800":1'), "lone surrogate"),
    "a byte order mark": ("\ufeff" + PAYLOAD, "byte order mark"),
}


@pytest.mark.parametrize("wrap", [signed, unsigned], ids=["signed", "unsigned"])
@pytest.mark.parametrize("case", list(PAYLOADS), ids=list(PAYLOADS))
def test_a_payload_that_is_not_strict_json_is_payload_not_json(
    case: str, wrap: Callable[[str], bytes]
) -> None:
    text, why = PAYLOADS[case]
    refusal = judge(wrap(text))
    assert refusal.code == "payload_not_json"
    assert why in refusal.detail


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00+01:00",  # the year 0 in UTC
        "0001-01-01T00:59:59+01:00",
        "9999-12-31T23:59:59-01:00",  # the year 10000 in UTC
        "9999-12-31T23:59:59.999999999Z",  # past the latest instant the node represents
        "9999-12-31T23:59:59.5Z",
        "2025-02-29T00:00:00Z",  # a date that does not exist
    ],
)
@pytest.mark.parametrize("wrap", [signed, unsigned], ids=["signed", "unsigned"])
def test_an_instant_out_of_range_is_schema_invalid(when: str, wrap: Callable[[str], bytes]) -> None:
    refusal = judge(wrap(in_history(when)))
    assert refusal.code == "schema_invalid"
    assert "status_history[0].from" in refusal.detail


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_the_first_and_last_instants_are_accepted(when: str) -> None:
    decision = accept(
        signed(in_history(when)),
        PEER,
        None,
        clock(),
        max_bytes=1 << 24,
        clock_skew=timedelta(minutes=5),
    )
    assert decision.kind == "new"


GOOD_PAYLOAD = b64url(PAYLOAD.encode())
ENVELOPES = {
    "a repeated payload member": '{"payload":"e30","payload":"%s","signatures":%s}',
    "a 4,300-digit integer": '{"payload":"%s","signatures":%s,"x":' + BIG + "}",
    "deep nesting": '{"payload":"%s","signatures":%s,"x":' + DEEP + "}",
    "a lone surrogate": '{"payload":"%s\\ud800","signatures":%s}',
    "NaN": '{"payload":"%s","signatures":%s,"x":NaN}',
}


@pytest.mark.parametrize("case", list(ENVELOPES), ids=list(ENVELOPES))
def test_an_envelope_that_is_not_strict_json_is_not_json(case: str) -> None:
    body = ENVELOPES[case] % (GOOD_PAYLOAD, json.dumps([SIGNATURE]))
    assert judge(body.encode()).code == "not_json"


HEADERS = {
    "a repeated alg": f'{{"alg":"none","alg":"Ed25519","kid":"{sim.pins[0]}","typ":"{TYP}"}}',
    "a 4,300-digit integer": '{"alg":"Ed25519","x":' + BIG + "}",
    "deep nesting": '{"alg":"Ed25519","x":' + DEEP + "}",
    "a lone surrogate": '{"alg":"Ed25519\\ud800"}',
}


@pytest.mark.parametrize("case", list(HEADERS), ids=list(HEADERS))
def test_a_protected_header_that_is_not_strict_json_is_jws_malformed(case: str) -> None:
    member = {"protected": b64url(HEADERS[case].encode()), "signature": SIGNATURE["signature"]}
    body = canonical_json({"payload": GOOD_PAYLOAD, "signatures": [member]})
    assert judge(body).code == "jws_malformed"


def test_a_utf16_protected_header_is_jws_malformed() -> None:
    header = json.dumps({"alg": "Ed25519", "kid": sim.pins[0], "typ": TYP}).encode("utf-16")
    member = {"protected": b64url(header), "signature": SIGNATURE["signature"]}
    body = canonical_json({"payload": GOOD_PAYLOAD, "signatures": [member]})
    assert judge(body).code == "jws_malformed"
