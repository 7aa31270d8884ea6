"""The admin API: authentication, changes, audit, and refusing bad input without side effects."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from registry_node.core.signing import parse_jws
from registry_node.http.appkeys import NODE
from tests.helpers import FakeClock, issuer

MULTIKEY = "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
TABLES = ("meta", "issuers", "issuer_names", "versions", "signing_keys", "tokens", "audit")


async def snapshot(client: TestClient) -> dict[str, list[Any]]:
    """Every row of every table, to prove that a refused request changed nothing."""
    conn = client.app[NODE].store.read.conn
    out = {}
    for table in TABLES:
        out[table] = [tuple(r) for r in await conn.all(f"SELECT * FROM {table} ORDER BY 1")]
    return out


def path_of(issuer_id: str) -> str:
    return "/admin/v1/issuers/" + quote(issuer_id, safe="")


MUTATIONS = [
    ("POST", "/admin/v1/issuers", issuer(1)),
    ("PUT", path_of(issuer(1)["id"]), issuer(1)),
    ("POST", path_of(issuer(1)["id"]) + "/status", {"status": "revoked", "reason": "x"}),
    ("POST", "/admin/v1/import", {"jurisdiction": "US-OH", "issuers": [issuer(2)]}),
    ("POST", "/admin/v1/publish", None),
]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer rnt_wrong"}, id="wrong-token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="wrong-scheme"),
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), MUTATIONS)
async def test_admin_calls_without_a_valid_token_change_nothing(
    client: TestClient,
    admin_token: str,
    headers: dict[str, str],
    method: str,
    path: str,
    body: Any,
) -> None:
    before = await snapshot(client)
    resp = await client.request(method, path, json=body, headers=headers)
    assert resp.status == 401
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await resp.json())["code"] == "unauthorized"
    assert await snapshot(client) == before


async def test_revoked_token_is_refused(client: TestClient) -> None:
    node = client.app[NODE]
    token_id, token = await node.tokens.create("temp", "test")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/admin/v1/issuers", headers=headers)).status == 200
    await node.tokens.revoke(token_id, "test")
    assert (await client.get("/admin/v1/issuers", headers=headers)).status == 401


async def test_tokens_are_stored_hashed(client: TestClient, admin_token: str) -> None:
    rows = (await snapshot(client))["tokens"]
    assert rows
    assert all(admin_token not in json.dumps(row) for row in rows)


async def test_issuer_lifecycle_is_audited(
    client: TestClient, auth: dict[str, str], clock: FakeClock
) -> None:
    entry = issuer(1, id="https://nursing.ohio.example/issuer")
    created = await client.post("/admin/v1/issuers", json=entry, headers=auth)
    assert created.status == 201, await created.text()
    path = path_of(entry["id"])

    fetched = await client.get(path, headers=auth)
    assert (await fetched.json()) == entry

    renamed = dict(entry, name="Ohio Board of Nursing")
    updated = await client.put(path, json=renamed, headers=auth)
    assert updated.status == 200
    assert (await updated.json())["name"] == "Ohio Board of Nursing"

    status = await client.post(
        path + "/status",
        json={"status": "suspended", "reason": "audit", "from": "2027-01-01T00:00:00Z"},
        headers=auth,
    )
    assert status.status == 200
    history = (await status.json())["status_history"]
    assert history[-1] == {"status": "suspended", "from": "2027-01-01T00:00:00Z", "reason": "audit"}

    audit = await (await client.get("/admin/v1/audit", headers=auth)).json()
    mine = [r for r in audit["records"] if r["target"] == entry["id"]]
    assert [r["action"] for r in mine] == ["issuer.create", "issuer.update", "issuer.status"]
    assert all(r["actor"] == "token:tests" for r in mine)
    assert mine[0]["before"] is None
    assert mine[0]["after"] == entry
    assert mine[1]["before"]["name"] == entry["name"]
    assert mine[1]["after"]["name"] == "Ohio Board of Nursing"
    assert len(mine[2]["after"]["status_history"]) == 2

    published = await client.post("/admin/v1/publish", headers=auth)
    assert published.status == 201
    seq = (await published.json())["seq"]
    body = await (await client.get(f"/trust-list/{seq}")).read()
    payload = json.loads(parse_jws(body).payload)
    assert payload["issuers"][0]["status_history"] == history


async def test_history_cannot_be_rewritten_through_update(
    client: TestClient, auth: dict[str, str]
) -> None:
    await client.post("/admin/v1/issuers", json=issuer(1), headers=auth)
    before = await snapshot(client)
    rewritten = issuer(1, status_history=[{"status": "active", "from": "2024-01-01T00:00:00Z"}])
    resp = await client.put(path_of(issuer(1)["id"]), json=rewritten, headers=auth)
    assert resp.status == 422
    assert (await resp.json())["code"] == "history_immutable"
    assert await snapshot(client) == before


BAD_BODIES = [
    pytest.param(
        "/admin/v1/issuers",
        {**issuer(1), "org_type": "school"},
        422,
        "schema_invalid",
        "org_type",
        id="create-bad-org-type",
    ),
    pytest.param(
        "/admin/v1/issuers",
        {"id": "did:web:x.example"},
        422,
        "schema_invalid",
        "(document)",
        id="create-missing-fields",
    ),
    pytest.param(
        "/admin/v1/issuers",
        issuer(1, status_history=[{"status": "gone", "from": "2020-01-01T00:00:00Z"}]),
        422,
        "schema_invalid",
        "status_history[0].status",
        id="create-bad-status",
    ),
    pytest.param(
        "/admin/v1/import",
        {"jurisdiction": "US-OH", "issuers": [issuer(5), issuer(6, url="ftp://x")]},
        422,
        "schema_invalid",
        "issuers[1].url",
        id="import-one-bad-entry-writes-none",
    ),
    pytest.param(
        "/admin/v1/import",
        {"jurisdiction": "US-IN", "issuers": [issuer(5)]},
        422,
        "jurisdiction_mismatch",
        "jurisdiction",
        id="import-wrong-state",
    ),
    pytest.param("/admin/v1/issuers", [issuer(1)], 400, "malformed_body", None, id="array-body"),
    pytest.param(
        "/admin/v1/issuers",
        issuer(
            1,
            keys=[
                {
                    "id": "did:web:board1.ohio.example#key-1",
                    "type": "Multikey",
                    "controller": "did:web:evil.example",
                    "publicKeyMultibase": MULTIKEY,
                }
            ],
        ),
        422,
        "key_controller_not_issuer",
        "keys[0].controller",
        id="create-key-of-another-controller",
    ),
    pytest.param(
        "/admin/v1/import",
        {
            "jurisdiction": "US-OH",
            "issuers": [
                issuer(5),
                issuer(
                    6,
                    keys=[
                        {
                            "type": "Multikey",
                            "publicKeyMultibase": MULTIKEY,
                            "secretKeyMultibase": "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8X",
                        }
                    ],
                ),
            ],
        },
        422,
        "private_key_refused",
        "issuers[1].keys[0].secretKeyMultibase",
        id="import-a-private-key-writes-none",
    ),
]


@pytest.mark.parametrize(("path", "body", "status", "code", "field"), BAD_BODIES)
async def test_invalid_bodies_get_problem_details_and_change_nothing(
    client: TestClient,
    auth: dict[str, str],
    path: str,
    body: Any,
    status: int,
    code: str,
    field: str | None,
) -> None:
    before = await snapshot(client)
    resp = await client.post(path, json=body, headers=auth)
    assert resp.status == status
    assert resp.headers["Content-Type"] == "application/problem+json"
    doc = await resp.json()
    assert doc["code"] == code
    assert doc["status"] == status
    assert doc["type"].endswith(code)
    if field:
        assert doc["field"] == field
    assert await snapshot(client) == before


async def test_malformed_json_is_400(client: TestClient, auth: dict[str, str]) -> None:
    before = await snapshot(client)
    resp = await client.post(
        "/admin/v1/issuers",
        data=b'{"id": "did:web:x.example",',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert (await resp.json())["code"] == "malformed_body"
    assert await snapshot(client) == before


async def test_oversized_body_is_413(client: TestClient, auth: dict[str, str]) -> None:
    before = await snapshot(client)
    huge = issuer(1, name="x" * 200, aka=[f"did:web:{'a' * 1000}{n}.example" for n in range(1100)])
    resp = await client.post("/admin/v1/issuers", json=huge, headers=auth)
    assert resp.status == 413
    doc = await resp.json()
    assert doc["code"] == "body_too_large"
    assert "1048576" in doc["detail"]
    assert await snapshot(client) == before


async def test_import_yaml_upserts_and_keeps_history(
    client: TestClient, auth: dict[str, str]
) -> None:
    node = client.app[NODE]
    first = await client.post(
        "/admin/v1/import",
        json={"jurisdiction": "US-OH", "issuers": [issuer(1), issuer(2)]},
        headers=auth,
    )
    assert await first.json() == {"created": 2, "updated": 0, "unchanged": 0}
    await client.post(
        path_of(issuer(1)["id"]) + "/status",
        json={"status": "revoked", "reason": "fraud"},
        headers=auth,
    )
    yaml_body = (
        "jurisdiction: US-OH\n"
        "issuers:\n"
        f"  - id: {issuer(1)['id']}\n"
        "    name: Renamed Board\n"
        "    org_type: licensing_board\n"
        "    status_history:\n"
        "      - {status: active, from: '2020-01-01T00:00:00Z', reason: chartered}\n"
    )
    second = await client.post(
        "/admin/v1/import",
        data=yaml_body.encode(),
        headers={**auth, "Content-Type": "application/yaml"},
    )
    assert await second.json() == {"created": 0, "updated": 1, "unchanged": 0}
    stored = await node.issuers.get(issuer(1)["id"])
    assert stored["name"] == "Renamed Board"
    assert [e["status"] for e in stored["status_history"]] == ["active", "revoked"]


async def test_duplicate_create_and_taken_aka_conflict(
    client: TestClient, auth: dict[str, str]
) -> None:
    await client.post(
        "/admin/v1/issuers", json=issuer(1, aka=["did:web:alias.example"]), headers=auth
    )
    again = await client.post("/admin/v1/issuers", json=issuer(1), headers=auth)
    assert again.status == 409
    assert (await again.json())["code"] == "issuer_exists"
    taken = await client.post(
        "/admin/v1/issuers", json=issuer(2, aka=["did:web:alias.example"]), headers=auth
    )
    assert taken.status == 409
    assert (await taken.json())["code"] == "issuer_name_taken"


async def test_unknown_issuer_is_404(client: TestClient, auth: dict[str, str]) -> None:
    resp = await client.get(path_of("did:web:nobody.example"), headers=auth)
    assert resp.status == 404
    assert (await resp.json())["code"] == "issuer_not_found"


async def test_admin_changes_are_published_after_the_debounce(
    client: TestClient, auth: dict[str, str], clock: FakeClock
) -> None:
    node = client.app[NODE]
    await client.post("/admin/v1/issuers", json=issuer(1), headers=auth)
    await client.post("/admin/v1/issuers", json=issuer(2), headers=auth)
    clock.advance(seconds=3)
    version = await node.publisher.tick()
    assert version is not None
    assert version.seq == 2
    payload = json.loads(parse_jws(version.body).payload)
    assert len(payload["issuers"]) == 2


async def test_ids_containing_percent_escapes_round_trip(
    client: TestClient, auth: dict[str, str]
) -> None:
    entry = issuer(1, id="did:web:localhost%3A8443")
    assert (await client.post("/admin/v1/issuers", json=entry, headers=auth)).status == 201
    fetched = await client.get(path_of(entry["id"]), headers=auth)
    assert fetched.status == 200
    assert (await fetched.json())["id"] == "did:web:localhost%3A8443"


async def test_import_without_content_type_is_read_as_json(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = json.dumps({"jurisdiction": "US-OH", "issuers": [issuer(1)]}).encode()
    resp = await client.post("/admin/v1/import", data=body, headers=auth)
    assert resp.status == 200, await resp.text()


async def test_reimport_with_other_offsets_is_unchanged(
    client: TestClient, auth: dict[str, str]
) -> None:
    utc = issuer(1)
    shifted = issuer(
        1,
        status_history=[
            {"status": "active", "from": "2020-01-01T01:00:00+01:00", "reason": "chartered"}
        ],
    )
    first = await client.post(
        "/admin/v1/import", json={"jurisdiction": "US-OH", "issuers": [utc]}, headers=auth
    )
    assert (await first.json())["created"] == 1
    again = await client.post(
        "/admin/v1/import", json={"jurisdiction": "US-OH", "issuers": [shifted]}, headers=auth
    )
    assert await again.json() == {"created": 0, "updated": 0, "unchanged": 1}


async def test_bad_audit_query_is_400(client: TestClient, auth: dict[str, str]) -> None:
    resp = await client.get("/admin/v1/audit?after=x", headers=auth)
    assert resp.status == 400
    assert (await resp.json())["code"] == "bad_query"
