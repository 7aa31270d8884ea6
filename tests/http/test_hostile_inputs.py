"""No input makes the node answer 500 or succeed silently (docs/protocol.md sections 2.4, 8.3,
11.6 and 12): bodies that are not strict JSON, instants at the edges of the calendar, integers
out of range and empty TRQP questions get a 4xx Problem Details; a peer that serves such a body
fails its sync with a reason code, recorded in /v1/peers and the metrics."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from registry_node.core.model import b64url, canonical_json
from registry_node.core.signing import sign_list
from registry_node.http.appkeys import NODE
from tests.helpers import issuer
from tests.http.test_queries import qclient, sim  # noqa: F401 - fixtures
from tests.sim import PeerSimulator

OH = "https://registry.ohio.example"
IN = "https://registry.indiana.example"
LISTED = "did:web:issuer0.us-in.example"
DEEP = "[" * 100_000 + "]" * 100_000
BIG = "1" * 4400

EDGES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999999999Z",
    "9999-12-31T23:59:59.5Z",
    "9999-12-31T23:59:59-01:00",
]
EDGES_Z = [e for e in EDGES if e.endswith("Z")]


async def problem_of(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json()
    assert body["code"] == code
    return body


# -- ?at= and the instants of request bodies --------------------------------------------------


@pytest.mark.parametrize("at", EDGES)
async def test_at_outside_the_calendar_is_bad_query(qclient: TestClient, at: str) -> None:  # noqa: F811
    lookup = await qclient.get(f"/v1/issuers/{quote(LISTED, safe='')}?at={quote(at)}")
    assert (await problem_of(lookup, 400, "bad_query"))["field"] == "at"
    browse = await qclient.get(f"/v1/issuers?at={quote(at)}")
    assert (await problem_of(browse, 400, "bad_query"))["field"] == "at"
    batch = await qclient.post("/v1/issuers/lookup", json={"questions": [{"id": LISTED, "at": at}]})
    assert (await problem_of(batch, 400, "schema_invalid"))["field"] == "questions[0].at"


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
async def test_the_first_and_last_instants_are_answered(qclient: TestClient, at: str) -> None:  # noqa: F811
    lookup = await qclient.get(f"/v1/issuers/{quote(LISTED, safe='')}?at={quote(at)}")
    assert lookup.status == 200
    assert (await lookup.json())["question"]["at"] == at


@pytest.mark.parametrize("time", EDGES_Z)
@pytest.mark.parametrize("kind", ["authorization", "recognition"])
async def test_trqp_context_time_outside_the_calendar_is_400(
    qclient: TestClient,  # noqa: F811
    kind: str,
    time: str,
) -> None:
    entity = LISTED if kind == "authorization" else IN
    action = "issue" if kind == "authorization" else "recognize"
    body = {
        "entity_id": entity,
        "authority_id": OH,
        "action": action,
        "resource": "OpenBadgeCredential",
        "context": {"time": time},
    }
    resp = await qclient.post(f"/trqp/{kind}", json=body)
    assert resp.status == 400
    assert (await resp.json())["code"] in ("bad_query", "schema_invalid")


# -- bodies that are not strict JSON ----------------------------------------------------------

BODIES = {
    "deep nesting": DEEP,
    "a 4,300-digit integer": '{"questions":[],"x":' + BIG + "}",
    "a 4,300-digit integer alone": BIG,
    "a number that overflows": '{"questions":[],"x":1e400}',
    "NaN": '{"questions":[{"id":"x","at":NaN}]}',
    "a repeated member": '{"questions":[],"questions":[{"id":"x"}]}',
    "a lone surrogate": '{"entity_id":"\\ud800","questions":[{"id":"\\ud800"}]}',
    "a byte order mark": '\ufeff{"questions":[]}',
}
ENDPOINTS = ["/v1/issuers/lookup", "/trqp/authorization", "/trqp/recognition", "/v1/verify"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", list(BODIES), ids=list(BODIES))
async def test_a_body_that_is_not_strict_json_is_malformed_body(
    qclient: TestClient,  # noqa: F811
    endpoint: str,
    case: str,
) -> None:
    resp = await qclient.post(
        endpoint, data=BODIES[case].encode(), headers={"Content-Type": "application/json"}
    )
    await problem_of(resp, 400, "malformed_body")


@pytest.mark.parametrize(
    "member",
    ['"resource":"\\ud800"', '"entity_id":"did:web:\\udc00"', '"authority_id":"\\ud800"'],
)
@pytest.mark.parametrize("kind", ["authorization", "recognition"])
async def test_a_lone_surrogate_in_a_trqp_member_is_malformed_body(
    qclient: TestClient,  # noqa: F811
    kind: str,
    member: str,
) -> None:
    names = {"entity_id": LISTED if kind == "authorization" else IN, "authority_id": OH}
    names.update(action="issue" if kind == "authorization" else "recognize")
    names.update(resource="OpenBadgeCredential")
    body = "{" + ",".join(f'"{k}":"{v}"' for k, v in names.items() if f'"{k}"' not in member)
    resp = await qclient.post(f"/trqp/{kind}", data=body + "," + member + "}")
    await problem_of(resp, 400, "malformed_body")


async def test_a_jws_credential_whose_parts_are_not_strict_json_is_bad_jws(
    qclient: TestClient,  # noqa: F811
) -> None:
    for header in ('{"alg":"ES256","alg":"none"}', '{"alg":' + DEEP[:2000] + "}"):
        token = f"{b64url(header.encode())}.{b64url(b'{}')}.AAAA"
        resp = await qclient.post(
            "/v1/verify", data=token, headers={"Content-Type": "application/jwt"}
        )
        await problem_of(resp, 400, "credential_bad_jws")


# -- TRQP answers only what was asked -------------------------------------------------------


def trqp(kind: str, **changes: str) -> dict[str, str]:
    if kind == "authorization":
        body = {"entity_id": LISTED, "authority_id": OH, "action": "issue"}
    else:
        body = {"entity_id": IN, "authority_id": OH, "action": "recognize"}
    return {**body, "resource": "OpenBadgeCredential", **changes}


@pytest.mark.parametrize("kind", ["authorization", "recognition"])
async def test_trqp_baseline_is_answered(qclient: TestClient, kind: str) -> None:  # noqa: F811
    resp = await qclient.post(f"/trqp/{kind}", json=trqp(kind))
    assert resp.status == 200
    assert (await resp.json())["authorized" if kind == "authorization" else "recognized"] is True


@pytest.mark.parametrize("value", ["", " ", "\t\n"])
@pytest.mark.parametrize("field", ["resource", "action", "authority_id", "entity_id"])
@pytest.mark.parametrize("kind", ["authorization", "recognition"])
async def test_an_empty_trqp_member_is_400(
    qclient: TestClient,  # noqa: F811
    kind: str,
    field: str,
    value: str,
) -> None:
    resp = await qclient.post(f"/trqp/{kind}", json=trqp(kind, **{field: value}))
    code = "bad_issuer_id" if field == "entity_id" and kind == "authorization" else "bad_request"
    body = await problem_of(resp, 400, code)
    assert body["field"] == field
    assert "authorized" not in body and "recognized" not in body


# -- a peer that serves such a body ----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ('{"seq":1,"seq":2}', "payload_not_json"),
        ('{"x":' + DEEP + "}", "payload_not_json"),
        ('{"x":' + BIG + "}", "payload_not_json"),
        ('{"id":"\\ud800"}', "payload_not_json"),
    ],
)
async def test_a_peer_serving_a_hostile_body_fails_its_sync_and_is_reported(
    qclient: TestClient,  # noqa: F811
    sim: PeerSimulator,  # noqa: F811
    payload: str,
    code: str,
) -> None:
    node = qclient.app[NODE]
    _, secret = await node.tokens.create("ops", "test")
    token = {"Authorization": f"Bearer {secret}"}
    sim.body_override = sign_list(payload.encode(), sim.signers)
    resp = await qclient.post("/admin/v1/peers/sync", headers=token)
    assert resp.status == 200
    results = (await resp.json())["results"]
    assert results[0]["peer_id"] == IN
    assert results[0]["outcome"] == "rejected"
    peer = (await (await qclient.get("/v1/peers")).json())["peers"][0]
    assert peer["last_outcome"] == "rejected"
    assert peer["last_error"]["code"] == code
    assert peer["state"] == "failing"
    assert peer["seq"] == 1  # the last good list is kept
    metrics = await (await qclient.get("/metrics")).text()
    assert f'registry_peer_rejections_total{{peer="{IN}",reason="{code}"}} 1.0' in metrics


# -- the admin API --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "after=9223372036854775808",
        "after=-1",
        "after=" + "9" * 5000,
        "after=00000000000000000009999999999999999999",
        "after=1.5",
        "after=%D9%A1",  # an Arabic-Indic digit one
        "limit=-5",
        "limit=" + "9" * 5000,
    ],
)
async def test_audit_query_out_of_range_is_bad_query(
    client: TestClient, auth: dict[str, str], query: str
) -> None:
    resp = await client.get(f"/admin/v1/audit?{query}", headers=auth)
    await problem_of(resp, 400, "bad_query")


async def test_audit_query_at_the_largest_integer_is_answered(
    client: TestClient, auth: dict[str, str]
) -> None:
    resp = await client.get("/admin/v1/audit?after=9223372036854775807&limit=1000", headers=auth)
    assert resp.status == 200
    assert (await resp.json())["records"] == []


@pytest.mark.parametrize("when", EDGES)
async def test_status_change_from_outside_the_calendar_is_schema_invalid(
    client: TestClient, auth: dict[str, str], when: str
) -> None:
    await client.app[NODE].issuers.create(issuer(1), "test")
    change = {"status": "suspended", "from": when, "reason": "audit"}
    path = f"/admin/v1/issuers/{quote(issuer(1)['id'], safe='')}/status"
    body = await problem_of(
        await client.post(path, json=change, headers=auth), 422, "schema_invalid"
    )
    assert body["field"] == "from"


@pytest.mark.parametrize("case", list(BODIES), ids=list(BODIES))
async def test_admin_bodies_that_are_not_strict_json_are_malformed_body(
    client: TestClient, auth: dict[str, str], case: str
) -> None:
    for method, path in (("POST", "/admin/v1/issuers"), ("POST", "/admin/v1/import")):
        resp = await client.request(
            method,
            path,
            data=BODIES[case].encode(),
            headers={**auth, "Content-Type": "application/json"},
        )
        await problem_of(resp, 400, "malformed_body")


async def test_an_issuer_with_a_repeated_member_is_refused_not_merged(
    client: TestClient, auth: dict[str, str]
) -> None:
    doc = canonical_json(issuer(1)).decode()
    body = doc[:-1] + ',"name":"Someone else"}'
    resp = await client.post(
        "/admin/v1/issuers", data=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert (
        "duplicate member name 'name'" in (await problem_of(resp, 400, "malformed_body"))["detail"]
    )
    assert await client.app[NODE].issuers.all() == []
