"""The OpenID Federation 1.0 binding over HTTP (docs/protocol.md section 14): the Entity
Configuration, fetch (statements issued exactly when the node trusts the issuer now), list and
extended list, resolve with its chain checked hop by hop, historical keys, statements about
peers' nodes, and the exact media types and error bodies."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from joserfc import jws
from joserfc.jwk import JWKRegistry
from joserfc.jws import JWSRegistry
from yarl import URL

from registry_node.config import NodeConfig
from registry_node.core import keys as corekeys
from registry_node.core.model import b64url_decode
from registry_node.core.timeutil import to_numeric_date
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from tests.helpers import FakeClock, issuer
from tests.sim import PeerSimulator, sim_issuer

OH = "https://registry.ohio.example"
IN = "https://registry.indiana.example"
STATEMENT = "application/entity-statement+jwt"
CTID = "ce-5de320e1-370c-4bf3-acec-b1ef5e33d1aa"
KEY = "z6Mkfs9kc6aipuiGsQ3KZnPHLCUveRBsUyXyWWhPohLR5GcW"
ACTIVE = issuer(
    1,
    legal_name="State of Ohio, Board of Licensing 1",
    logo="https://board1.ohio.example/logo.png",
    identifiers=[
        {"scheme": "ctid", "value": CTID},
        {"scheme": "ror", "value": "042nb2s44"},
        {"scheme": "fein", "value": "31-0000001"},
    ],
    keys=[
        {"id": "did:web:board1.ohio.example#key-1", "type": "Multikey", "publicKeyMultibase": KEY}
    ],
    aka=["https://board1.ohio.example"],
)


def _status(n: int, status: str) -> dict[str, Any]:
    return issuer(
        n,
        status_history=[
            {"status": "active", "from": "2020-01-01T00:00:00Z"},
            {"status": status, "from": "2025-01-01T00:00:00Z", "reason": "audit"},
        ],
    )


SUSPENDED, REVOKED, RETIRED = _status(2, "suspended"), _status(3, "revoked"), _status(4, "retired")
PEER_ISSUER = sim_issuer(1)["id"]
PEER_WIDE = sim_issuer(9, types=["OpenBadgeCredential", "ClrCredential"])
#: the simulator's other issuers
PEER_OTHERS = [sim_issuer(0)["id"], sim_issuer(2)["id"], PEER_WIDE["id"]]
PEER_SUSPENDS_OURS = issuer(5)  # active here, suspended by Indiana
LATER = issuer(6, status_history=[{"status": "active", "from": "2030-01-01T00:00:00Z"}])
PORT_DID = "did:web:board7.ohio.example%3A8443"  # a did:web with a port, as its list has it


@pytest.fixture
async def sim(clock: FakeClock) -> PeerSimulator:
    peer = PeerSimulator(clock)
    veto = sim_issuer(8)
    veto["id"] = PEER_SUSPENDS_OURS["id"]
    veto["status_history"].append({"status": "suspended", "from": "2025-01-01T00:00:00Z"})
    peer.issuers += [veto, PEER_WIDE]
    peer.publish(seq=1)
    return peer


async def _peers_file(config: NodeConfig, sim: PeerSimulator, url: str, **more: Any) -> None:
    doc = {"id": sim.peer_id, "jurisdiction": sim.jurisdiction, "url": url, "keys": sim.pins}
    config.peers_file.write_text(dump_yaml({"peers": [{**doc, **more}]}))


@pytest.fixture
async def sim_url(aiohttp_client: Any, sim: PeerSimulator) -> str:
    server = await aiohttp_client(sim.app())
    return str(server.make_url("/trust-list"))


@pytest.fixture
async def fed(
    aiohttp_client: Any, config: NodeConfig, clock: FakeClock, sim: PeerSimulator, sim_url: str
) -> TestClient:
    await _peers_file(config, sim, sim_url)
    client: TestClient = await aiohttp_client(create_app(config, clock, run_scheduler=False))
    node = client.app[NODE]
    for entry in (
        ACTIVE,
        SUSPENDED,
        REVOKED,
        RETIRED,
        PEER_SUSPENDS_OURS,
        LATER,
        issuer(7, id=PORT_DID),
    ):
        await node.issuers.create(entry, "test")
    await node.publisher.publish("test")
    await node.federation.sync(IN)
    return client


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(body))


def verify(token: str, jwks: dict[str, Any], typ: str = "entity-statement+jwt") -> dict[str, Any]:
    """Check ``token``'s signature with the key its ``kid`` names in ``jwks``."""
    header, _ = parts(token)
    assert header["typ"] == typ
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    key = JWKRegistry.import_key(jwk)
    found = jws.deserialize_compact(token, key, registry=JWSRegistry(algorithms=[header["alg"]]))
    claims: dict[str, Any] = json.loads(found.payload)
    return claims


async def configuration(client: TestClient) -> tuple[str, dict[str, Any]]:
    resp = await client.get("/.well-known/openid-federation")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == STATEMENT
    token = await resp.text()
    _, claims = parts(token)
    return token, verify(token, claims["jwks"])


async def fetch(client: TestClient, sub: str) -> Any:
    return await client.get("/federation/fetch?sub=" + quote(sub, safe=""))


async def test_entity_configuration(fed: TestClient, clock: FakeClock) -> None:
    node = fed.app[NODE]
    _, claims = await configuration(fed)
    latest = await node.store.read.latest_version()
    assert latest is not None
    now = to_numeric_date(clock())
    assert claims["iss"] == claims["sub"] == OH
    assert claims["iat"] == now and now < claims["exp"] <= min(latest.exp, now + 3600)
    current = await node.publisher.keys("current")
    assert claims["jwks"]["keys"] == [k.public_jwk for k in current]
    entity = claims["metadata"]["federation_entity"]
    base = node.config.base_url
    assert entity["organization_name"] == node.config.name
    assert entity["federation_fetch_endpoint"] == base + "/federation/fetch"
    for name in ("list", "resolve", "historical_keys"):
        assert entity[f"federation_{name}_endpoint"].startswith(base + "/federation/")
    assert entity["homepage_uri"] == base
    assert claims["authority_hints"] == [IN]  # the peer whose list is in use
    meta = await (await fed.get("/.well-known/ler-trust-registry")).json()
    assert meta["endpoints"]["openid_federation"] == base + "/.well-known/openid-federation"


async def test_own_issuer_statement(fed: TestClient) -> None:
    _, anchor = await configuration(fed)
    resp = await fetch(fed, ACTIVE["id"])
    assert resp.status == 200 and resp.headers["Content-Type"] == STATEMENT
    claims = verify(await resp.text(), anchor["jwks"])
    assert (claims["iss"], claims["sub"]) == (OH, ACTIVE["id"])
    assert claims["jwks"] == {"keys": []}  # an issuer has no federation keys
    meta = claims["metadata"]
    assert meta["federation_entity"] == {
        "organization_name": ACTIVE["name"],
        "homepage_uri": ACTIVE["url"],
        "logo_uri": ACTIVE["logo"],
    }
    assert meta["institution_additional_information"] == {"legal_name": ACTIVE["legal_name"]}
    assert meta["credential_registry_entity"] == {
        "ctid": CTID,
        "ce_url": f"https://credentialengineregistry.org/resources/{CTID}",
    }
    assert meta["ror_entity"] == {"rorid": "042nb2s44", "ror_url": "https://ror.org/042nb2s44"}
    ler = meta["ler_issuer"]
    (jwk,) = ler["jwks"]["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["kid"]) == ("OKP", "Ed25519", ACTIVE["keys"][0]["id"])
    assert ler["verification_methods"] == ACTIVE["keys"]
    assert ler["listed_by"] == OH
    (vouch,) = ler["vouched_by"]
    latest = await fed.app[NODE].store.read.latest_version()
    assert latest is not None
    assert (vouch["source"], vouch["list"]["seq"], vouch["list"]["digest"]) == (
        OH,
        latest.seq,
        latest.digest,
    )
    assert claims["exp"] <= latest.exp
    # The same issuer by its aka: a statement about the name asked.
    aka = await fetch(fed, "https://board1.ohio.example")
    assert aka.status == 200
    assert verify(await aka.text(), anchor["jwks"])["sub"] == "https://board1.ohio.example"


async def test_peer_issuer_statement_rests_on_the_peer_list(
    fed: TestClient, sim: PeerSimulator
) -> None:
    _, anchor = await configuration(fed)
    resp = await fetch(fed, PEER_ISSUER)
    assert resp.status == 200
    claims = verify(await resp.text(), anchor["jwks"])
    assert claims["iss"] == OH
    assert claims["metadata"]["federation_entity"]["organization_name"] == "Issuer 1"
    (vouch,) = claims["metadata"]["ler_issuer"]["vouched_by"]
    held = await fed.app[NODE].store.read.peer_list(IN)
    assert held is not None
    assert (vouch["source"], vouch["jurisdiction"], vouch["list"]["digest"]) == (
        IN,
        "US-IN",
        held.digest,
    )
    assert claims["exp"] <= held.exp


async def _trusted_now(client: TestClient, sub: str) -> bool:
    answer = await (await client.get("/v1/issuers/" + quote(sub, safe=""))).json()
    return bool(answer["outcome"] == "trusted" and not answer["stale"])


async def _statement_issued(client: TestClient, sub: str) -> bool:
    resp = await fetch(client, sub)
    if resp.status == 404:
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["error"] == "not_found"
        return False
    assert resp.status == 200, await resp.text()
    return True


async def test_a_statement_is_issued_exactly_when_the_node_trusts_now(
    fed: TestClient, config: NodeConfig, sim: PeerSimulator, clock: FakeClock, sim_url: str
) -> None:
    names = [
        ACTIVE["id"],
        "https://board1.ohio.example",
        SUSPENDED["id"],
        REVOKED["id"],
        RETIRED["id"],
        PEER_SUSPENDS_OURS["id"],
        LATER["id"],
        PEER_ISSUER,
        "did:web:nobody.example",
    ]
    expected = {ACTIVE["id"], "https://board1.ohio.example", PEER_ISSUER, PORT_DID}

    async def check(trusted: set[str]) -> None:
        for name in names:
            assert await _trusted_now(fed, name) == (name in trusted), name
            assert await _statement_issued(fed, name) == (name in trusted), name
        listed = await (await fed.get("/federation/list?entity_type=ler_issuer")).json()
        peers = set(PEER_OTHERS) if PEER_ISSUER in trusted else set()
        assert set(listed) == {n for n in trusted if not n.startswith("https://")} | peers

    await check(expected)
    node = fed.app[NODE]
    # A peer list past its exp under on_stale: warn is still used, and marked stale: no
    # statement rests on an expired list.
    await _peers_file(config, sim, sim_url, on_stale="warn")
    await node.federation.reload("test")
    clock.advance(hours=25)
    await node.publisher.publish("keep the own list fresh")
    answer = await (await fed.get("/v1/issuers/" + quote(PEER_ISSUER, safe=""))).json()
    assert (answer["outcome"], answer["stale"]) == ("trusted", True)
    await check({ACTIVE["id"], "https://board1.ohio.example", PORT_DID})
    # Fresh again, then withdrawn: re-pinned to a key that did not sign the held list.
    sim.publish()
    await node.federation.sync(IN)
    await check(expected)
    await _peers_file(config, sim, sim_url)
    config.peers_file.write_text(
        config.peers_file.read_text().replace(sim.pins[0], corekeys.generate().kid)
    )
    await node.federation.reload("test")
    status = {p.id: p for p in await node.federation.status()}
    assert status[IN].state == "withdrawn"
    # Indiana's suspension no longer counts either: board 5 is trusted on Ohio's list alone.
    await check({ACTIVE["id"], "https://board1.ohio.example", PORT_DID, PEER_SUSPENDS_OURS["id"]})
    # Nor is Indiana's node vouched for while its list is withdrawn.
    assert (await fetch(fed, IN)).status == 404
    assert IN not in await (await fed.get("/federation/list")).json()
    _, claims = await configuration(fed)
    assert "authority_hints" not in claims


async def test_statements_expire_with_the_lists_they_rest_on(
    fed: TestClient, clock: FakeClock
) -> None:
    node = fed.app[NODE]
    own = await node.store.read.latest_version()
    held = await node.store.read.peer_list(IN)
    assert own is not None and held is not None
    clock.advance(seconds=own.exp - to_numeric_date(clock()) - 600)  # ten minutes left
    _, anchor = await configuration(fed)
    assert anchor["exp"] == own.exp
    _, claims = parts(await (await fetch(fed, ACTIVE["id"])).text())
    assert claims["exp"] == own.exp
    _, claims = parts(await (await fetch(fed, PEER_ISSUER)).text())
    assert claims["exp"] == min(held.exp, own.exp)
    _, claims = parts(await (await fetch(fed, IN)).text())
    assert claims["exp"] == min(held.exp, own.exp)
    await node.publisher.publish("fresh again")  # the own list renewed; Indiana's is not
    for sub in (PEER_ISSUER, IN):
        _, claims = parts(await (await fetch(fed, sub)).text())
        assert claims["exp"] == held.exp < to_numeric_date(clock()) + 3600


async def test_a_peers_issuer_is_stated_within_the_peers_scope(
    fed: TestClient, config: NodeConfig, sim: PeerSimulator, sim_url: str
) -> None:
    def types(claims: dict[str, Any]) -> list[list[str]]:
        auths = claims["metadata"]["ler_issuer"]["authorizations"]
        return [a["credential_types"] for a in auths]

    _, claims = parts(await (await fetch(fed, PEER_WIDE["id"])).text())
    assert types(claims) == [["OpenBadgeCredential", "ClrCredential"]]
    await _peers_file(config, sim, sim_url, scope={"credential_types": ["OpenBadgeCredential"]})
    await fed.app[NODE].federation.reload("test")
    _, claims = parts(await (await fetch(fed, PEER_WIDE["id"])).text())
    assert types(claims) == [["OpenBadgeCredential"]]


async def test_an_own_list_past_its_exp_stops_every_answer(
    fed: TestClient, clock: FakeClock
) -> None:
    clock.advance(hours=25)  # the node did not republish
    for sub in (ACTIVE["id"], PEER_ISSUER):
        resp = await fetch(fed, sub)
        assert resp.status == 503
        assert (await resp.json())["error"] == "temporarily_unavailable"
    conf = await fed.get("/.well-known/openid-federation")
    assert conf.status == 503
    assert (await conf.json())["error"] == "temporarily_unavailable"


async def test_statement_expires_at_the_next_status_change(
    fed: TestClient, clock: FakeClock
) -> None:
    node = fed.app[NODE]
    later = (clock() + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await node.issuers.set_status(
        ACTIVE["id"], {"status": "suspended", "from": later, "reason": "audit"}, "test"
    )
    await node.publisher.publish("test")
    _, claims = parts(await (await fetch(fed, ACTIVE["id"])).text())
    assert claims["exp"] == to_numeric_date(clock()) + 600


async def test_sub_is_read_percent_decoded_and_https_ids_work(fed: TestClient) -> None:
    raw = await fed.get("/federation/fetch?sub=" + ACTIVE["id"])
    assert raw.status == 200
    encoded = await fed.get("/federation/fetch?sub=" + quote(ACTIVE["id"], safe=""))
    assert encoded.status == 200
    assert parts(await raw.text())[1]["sub"] == parts(await encoded.text())[1]["sub"]
    https = await fed.get("/federation/fetch?sub=https%3A%2F%2Fboard1.ohio.example")
    assert https.status == 200
    # A did:web with a port: encoded once, it decodes to the id; sent as the list has it (as
    # a client that does not encode sends it), the id as sent is found.
    for sent in (quote(PORT_DID, safe=""), PORT_DID):
        url = URL(f"{fed.make_url('/federation/fetch')}?sub={sent}", encoded=True)
        resp = await fed.session.get(url)
        assert resp.status == 200, sent
        assert parts(await resp.text())[1]["sub"] == PORT_DID
    # Decoding still comes first: a name that decodes to nothing known stays unknown.
    assert (await fed.get("/federation/fetch?sub=did:web:nobody.example%3A1")).status == 404


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("", 400, "invalid_request"),
        ("?sub=", 400, "invalid_request"),
        ("?sub=a&sub=b", 400, "invalid_request"),
        ("?sub=x&iss=y", 400, "unsupported_parameter"),
        ("?sub=" + quote(OH, safe=""), 400, "invalid_request"),
    ],
)
async def test_fetch_errors_are_federation_error_bodies(
    fed: TestClient, query: str, status: int, error: str
) -> None:
    resp = await fed.get("/federation/fetch" + query)
    assert resp.status == status
    assert resp.headers["Content-Type"] == "application/json"
    body = await resp.json()
    assert body["error"] == error and body["error_description"]


async def test_peer_node_statement_carries_its_pinned_keys(
    fed: TestClient, sim: PeerSimulator
) -> None:
    _, anchor = await configuration(fed)
    resp = await fetch(fed, IN)
    assert resp.status == 200
    claims = verify(await resp.text(), anchor["jwks"])
    assert (claims["iss"], claims["sub"]) == (OH, IN)
    assert [k["kid"] for k in claims["jwks"]["keys"]] == sim.pins
    assert claims["constraints"] == {"max_path_length": 0}
    policy = claims["metadata_policy"]["ler_issuer"]
    assert policy["listed_by"] == {"one_of": [IN], "essential": True}
    assert policy["jurisdictions"] == {"subset_of": ["US-IN"], "essential": True}
    assert claims["metadata"]["ler_trust_registry"]["jurisdiction"] == "US-IN"
    held = await fed.app[NODE].store.read.peer_list(IN)
    assert held is not None and claims["exp"] <= held.exp


async def test_list_filters(fed: TestClient) -> None:
    everything = await (await fed.get("/federation/list")).json()
    assert everything == sorted([ACTIVE["id"], PORT_DID, PEER_ISSUER, *PEER_OTHERS, IN])
    issuers = await (await fed.get("/federation/list?entity_type=ler_issuer")).json()
    assert issuers == sorted([ACTIVE["id"], PORT_DID, PEER_ISSUER, *PEER_OTHERS])
    registries = await (await fed.get("/federation/list?entity_type=ler_trust_registry")).json()
    assert registries == [IN]
    assert await (await fed.get("/federation/list?intermediate=true")).json() == [IN]
    assert await (await fed.get("/federation/list?entity_type=openid_provider")).json() == []
    assert await (await fed.get("/federation/list?trust_marked=true")).json() == []
    bad = await fed.get("/federation/list?intermediate=maybe")
    assert bad.status == 400 and (await bad.json())["error"] == "invalid_request"


async def test_extended_list_pages(fed: TestClient) -> None:
    _, anchor = await configuration(fed)
    seen: list[str] = []
    url = "/federation/list-extended?limit=1"
    while True:
        page = await (await fed.get(url)).json()
        for item in page["immediate_subordinate_entities"]:
            assert verify(item["entity_statement"], anchor["jwks"])["sub"] == item["id"]
            seen.append(item["id"])
        if "next_entity_id" not in page:
            break
        url = "/federation/list-extended?limit=1&from_entity_id=" + quote(
            page["next_entity_id"], safe=""
        )
    assert seen == await (await fed.get("/federation/list")).json()
    missing = await fed.get("/federation/list-extended?from_entity_id=" + REVOKED["id"])
    assert missing.status == 400
    assert (await missing.json())["error"] == "entity_id_not_found"


async def test_resolve_chain_validates_hop_by_hop(fed: TestClient) -> None:
    _, anchor = await configuration(fed)
    for sub in (ACTIVE["id"], PEER_ISSUER, IN):
        resp = await fed.get(
            f"/federation/resolve?sub={quote(sub, safe='')}&trust_anchor={quote(OH, safe='')}"
        )
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/resolve-response+jwt"
        answer = verify(await resp.text(), anchor["jwks"], "resolve-response+jwt")
        chain = answer["trust_chain"]
        # The last hop is the anchor's own configuration, verified with its own keys.
        _, last = parts(chain[-1])
        top = verify(chain[-1], last["jwks"])
        assert top["iss"] == top["sub"] == OH and top["jwks"] == anchor["jwks"]
        # Each statement is signed by a key the one above it gives its issuer.
        verified = [top]
        for lower in reversed(chain[:-1]):
            above = verified[0]
            claims = verify(lower, above["jwks"])
            assert claims["iss"] == above["sub"]
            verified.insert(0, claims)
        first = parts(chain[0])[1]
        assert first["sub"] == sub and answer["sub"] == sub
        assert answer["metadata"] == first["metadata"]
        assert answer["exp"] == min(parts(s)[1]["exp"] for s in chain)
    wrong = await fed.get(
        f"/federation/resolve?sub={quote(ACTIVE['id'])}&trust_anchor=https://other.example"
    )
    assert wrong.status == 404 and (await wrong.json())["error"] == "invalid_trust_anchor"
    gone = await fed.get(f"/federation/resolve?sub={REVOKED['id']}&trust_anchor={OH}")
    assert gone.status == 404 and (await gone.json())["error"] == "not_found"


async def test_federation_keys_rotate_with_the_list_keys(fed: TestClient, clock: FakeClock) -> None:
    node = fed.app[NODE]
    (old,) = await node.publisher.keys("current")
    successor, _ = await node.publisher.rotate(None, "test")
    _, claims = await configuration(fed)
    # The announced key is published before it signs.
    assert [k["kid"] for k in claims["jwks"]["keys"]] == [old.kid, successor.kid]
    clock.advance(node.config.list_validity)
    await node.publisher.complete_rotation("test")
    await node.publisher.publish("the old key retires")
    token, claims = await configuration(fed)
    assert parts(token)[0]["kid"] == successor.kid
    assert [k["kid"] for k in claims["jwks"]["keys"]] == [successor.kid]
    resp = await fed.get("/federation/historical-keys")
    assert resp.headers["Content-Type"] == "application/jwk-set+jwt"
    history = verify(await resp.text(), claims["jwks"], "jwk-set+jwt")
    (retired,) = history["keys"]
    (record,) = await node.publisher.keys("retired")
    assert retired["kid"] == old.kid
    assert retired["exp"] == to_numeric_date(clock())  # when it stopped signing
    assert record.retired_at is not None and retired["iat"] < retired["exp"]
