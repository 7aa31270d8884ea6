"""The node's receipts and lists check with the JOSE libraries verifiers have, using only
/jwks.json: PyJWT, jwcrypto, and `jose` for JavaScript (run with the machine's Node.js;
installed by `make install-test` from tests/interop/package-lock.json). docs/protocol.md
sections 7 and 11.3, docs/adr/0013."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from aiohttp.test_utils import TestClient
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws
from jwcrypto import jwt as cjwt

from registry_node.core.timeutil import to_numeric_date
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from tests.helpers import FakeClock, issuer, make_config

HERE = Path(__file__).parent
TYP = "ler-trust-answer+jwt"
ISSUER = issuer(1)["id"]


def _node_js(request: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "Node.js is needed for the jose (npm) checks"
    assert (HERE / "node_modules" / "jose").is_dir(), "run `make install-test` (npm ci)"
    done = subprocess.run(
        [node, str(HERE / "verify.mjs")],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture
def now() -> FakeClock:
    """The libraries judge iat and exp by the real time: start the node's clock there."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def past() -> FakeClock:
    """For a rotation and the years after it: a clock that stays behind the real time, so
    that the libraries find every receipt already signed (and long expired)."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=3 * 365 + 30))


async def _web(aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> TestClient:
    app = create_app(make_config(tmp_path), clock, run_scheduler=False)
    client: TestClient = await aiohttp_client(app)
    await client.app[NODE].issuers.create(issuer(1), "test")
    await client.app[NODE].publisher.publish("test")
    return client


@pytest.fixture
async def web(aiohttp_client: Any, tmp_path: Path, now: FakeClock) -> TestClient:
    return await _web(aiohttp_client, tmp_path, now)


@pytest.fixture
async def old_web(aiohttp_client: Any, tmp_path: Path, past: FakeClock) -> TestClient:
    return await _web(aiohttp_client, tmp_path, past)


async def _receipt(web: TestClient) -> str:
    resp = await web.get(f"/v1/issuers/{ISSUER}", headers={"Accept": "application/jwt"})
    assert resp.status == 200 and resp.content_type == "application/jwt"
    return await resp.text()


async def _jwks(web: TestClient) -> dict[str, Any]:
    doc: dict[str, Any] = await (await web.get("/jwks.json")).json()
    return doc


# -- the three libraries, each as its documentation shows ---------------------------------


def pyjwt_fresh(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    key = pyjwt.PyJWKSet.from_dict(jwks)[pyjwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = pyjwt.decode(token, key, algorithms=["EdDSA", "ES256"])
    return claims


def pyjwt_kept(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """A kept receipt: its signature, not whether its answer still holds."""
    key = pyjwt.PyJWKSet.from_dict(jwks)[pyjwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = pyjwt.decode(
        token, key, algorithms=["EdDSA", "ES256"], options={"verify_exp": False}
    )
    return claims


def jwcrypto_fresh(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    keyset = cjwk.JWKSet.from_json(json.dumps(jwks))
    checked = cjwt.JWT(jwt=token, key=keyset, algs=["EdDSA", "ES256"], expected_type="JWS")
    claims: dict[str, Any] = json.loads(checked.claims)
    return claims


def jwcrypto_kept(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    keyset = cjwk.JWKSet.from_json(json.dumps(jwks))
    token_jws = cjws.JWS()
    token_jws.allowed_algs = ["EdDSA", "ES256"]
    token_jws.deserialize(token)
    token_jws.verify(keyset)
    claims: dict[str, Any] = json.loads(token_jws.payload)
    return claims


def jose_fresh(token: str, jwks: dict[str, Any], at: int) -> dict[str, Any]:
    result = _node_js({"op": "jwt", "token": token, "jwks": jwks, "typ": TYP, "now": at})
    assert result["ok"], result
    assert result["header"]["typ"] == TYP
    payload: dict[str, Any] = result["payload"]
    return payload


def jose_kept(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    result = _node_js({"op": "compact", "token": token, "jwks": jwks})
    assert result["ok"], result
    payload: dict[str, Any] = result["payload"]
    return payload


def every_library_kept(token: str, jwks: dict[str, Any]) -> list[dict[str, Any]]:
    return [pyjwt_kept(token, jwks), jwcrypto_kept(token, jwks), jose_kept(token, jwks)]


def _refused(check: Callable[[], Any]) -> bool:
    try:
        check()
    except Exception:
        return True
    return False


# -- receipts -----------------------------------------------------------------------------


async def test_a_fresh_receipt_verifies_with_every_library(web: TestClient, now: FakeClock) -> None:
    token = await _receipt(web)
    jwks = await _jwks(web)
    at = to_numeric_date(now())
    for claims in (
        pyjwt_fresh(token, jwks),
        jwcrypto_fresh(token, jwks),
        jose_fresh(token, jwks, at),
    ):
        assert claims["iss"] == "https://registry.ohio.example"
        assert claims["sub"] == ISSUER and claims["iat"] == at
        assert claims["answer"]["outcome"] == "trusted"
    assert pyjwt.get_unverified_header(token)["alg"] == "EdDSA"


async def test_pyjwt_uses_the_published_keys_as_a_jwks_client_does(
    web: TestClient, now: FakeClock
) -> None:
    """PyJWKClient fetches /jwks.json itself (over loopback): nothing but the URL is given."""
    token = await _receipt(web)
    client = pyjwt.PyJWKClient(str(web.make_url("/jwks.json")), cache_keys=False)
    key = await asyncio.to_thread(client.get_signing_key_from_jwt, token)
    claims = pyjwt.decode(token, key, algorithms=["EdDSA"])
    assert claims["sub"] == ISSUER


async def test_a_tampered_receipt_is_refused_by_every_library(web: TestClient) -> None:
    token = await _receipt(web)
    jwks = await _jwks(web)
    head, body, sig = token.split(".")
    forged = f"{head}.{body[:-4]}AAAA.{sig}"
    assert _refused(lambda: pyjwt_kept(forged, jwks))
    assert _refused(lambda: jwcrypto_kept(forged, jwks))
    assert not _node_js({"op": "compact", "token": forged, "jwks": jwks})["ok"]


async def test_an_es256_node_s_receipts_verify_with_every_library(
    aiohttp_client: Any, tmp_path: Path, now: FakeClock
) -> None:
    app = create_app(make_config(tmp_path, signing_alg="ES256"), now, run_scheduler=False)
    web = await aiohttp_client(app)
    await web.app[NODE].publisher.publish("test")
    token = await _receipt(web)
    jwks = await _jwks(web)
    assert jwks["keys"][0]["alg"] == "ES256"
    assert pyjwt.get_unverified_header(token)["alg"] == "ES256"
    at = to_numeric_date(now())
    for claims in (pyjwt_fresh(token, jwks), jwcrypto_fresh(token, jwks)):
        assert claims["sub"] == ISSUER
    assert jose_fresh(token, jwks, at)["sub"] == ISSUER


# -- a key rotation -----------------------------------------------------------------------


async def test_receipts_and_the_transition_version_verify_across_a_rotation(
    old_web: TestClient, past: FakeClock
) -> None:
    web, now = old_web, past
    node = web.app[NODE]
    publisher = node.publisher
    old_kid = (await publisher.keys("current"))[0].kid
    before = await _receipt(web)  # signed by the key about to retire

    await publisher.rotate(None, "test")
    now.advance(hours=24)
    successor, transition = await publisher.complete_rotation("test")
    jwks = await _jwks(web)
    retired_at = to_numeric_date(now())
    by_kid = {k["kid"]: k for k in jwks["keys"]}
    assert list(by_kid) == [successor.kid, old_kid]
    assert by_kid[old_kid]["status"] == "retired" and by_kid[old_kid]["exp"] == retired_at

    # The version that completes the rotation, as /trust-list serves it: every signature,
    # the retiring key's too, verifies against /jwks.json.
    resp = await web.get("/trust-list", headers={"Accept-Encoding": "identity"})
    served = json.loads(await resp.read())
    assert resp.headers["Trust-List-Seq"] == str(transition.seq)
    each = _node_js({"op": "each", "jws": served, "jwks": jwks})
    assert each["ok"], each
    assert [h["kid"] for h in each["headers"]] == [successor.kid, old_kid]
    assert _node_js({"op": "general", "jws": served, "jwks": jwks})["ok"]
    keyset = cjwk.JWKSet.from_json(json.dumps(jwks))
    for signature in served["signatures"]:
        flat = cjws.JWS()
        flat.allowed_algs = ["Ed25519"]
        flat.deserialize(json.dumps({"payload": served["payload"], **signature}))
        flat.verify(keyset)
        assert json.loads(flat.payload)["seq"] == transition.seq

    # A receipt signed before the rotation, and one after, verify with every library.
    after = await _receipt(web)
    assert pyjwt.get_unverified_header(after)["kid"] == successor.kid
    for token in (before, after):
        assert all(c["sub"] == ISSUER for c in every_library_kept(token, jwks))

    # Long after: while the receipt retention lasts, the kept receipt still verifies ...
    await publisher.publish("later")
    now.advance(timedelta(days=365) - timedelta(hours=1))
    jwks = await _jwks(web)
    assert [k["kid"] for k in jwks["keys"]] == [successor.kid, old_kid]
    assert all(c["sub"] == ISSUER for c in every_library_kept(before, jwks))

    # ... and once it is over, the retired key is no longer published.
    now.advance(hours=1)
    jwks = await _jwks(web)
    assert [k["kid"] for k in jwks["keys"]] == [successor.kid]
    assert _refused(lambda: pyjwt_kept(before, jwks))
    assert _refused(lambda: jwcrypto_kept(before, jwks))
    assert not _node_js({"op": "compact", "token": before, "jwks": jwks})["ok"]


async def test_the_retiring_key_stays_while_its_version_is_the_newest(
    old_web: TestClient, past: FakeClock
) -> None:
    """A node that stops publishing serves the completing version as the newest for ever;
    the key that signed it stays in /jwks.json for as long, receipt retention or not."""
    web, now = old_web, past
    publisher = web.app[NODE].publisher
    old_kid = (await publisher.keys("current"))[0].kid
    await publisher.rotate(None, "test")
    now.advance(hours=24)
    await publisher.complete_rotation("test")
    now.advance(days=3 * 365)
    resp = await web.get("/trust-list", headers={"Accept-Encoding": "identity"})
    served = json.loads(await resp.read())
    jwks = await _jwks(web)
    assert old_kid in [k["kid"] for k in jwks["keys"]]
    each = _node_js({"op": "each", "jws": served, "jwks": jwks})
    assert each["ok"], each
    await publisher.publish("at last")
    assert old_kid not in [k["kid"] for k in (await _jwks(web))["keys"]]


# -- the examples of docs/protocol.md section 11.3 run as written --------------------------

PROTOCOL = (HERE.parents[1] / "docs" / "protocol.md").read_text()
DOC_URL = "https://registry.ohio.example/jwks.json"


def _example(language: str) -> str:
    section = PROTOCOL.split("Checking a fresh receipt in a few lines", 1)[1]
    code = section.split(f"```{language}\n", 1)[1].split("```", 1)[0]
    assert DOC_URL in code
    return code


async def test_the_protocol_s_python_example_checks_a_receipt(
    web: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "receipt.jwt").write_text(await _receipt(web) + "\n")
    monkeypatch.chdir(tmp_path)
    code = _example("python").replace(DOC_URL, str(web.make_url("/jwks.json")))
    printed: list[str] = []
    scope = {"print": lambda *args: printed.append(" ".join(map(str, args)))}
    await asyncio.to_thread(exec, compile(code, "protocol.md", "exec"), scope)
    assert printed == [f"https://registry.ohio.example {ISSUER} trusted"]


async def test_the_protocol_s_javascript_example_checks_a_receipt(
    web: TestClient, tmp_path: Path
) -> None:
    token = await _receipt(web)
    code = _example("js").replace(DOC_URL, str(web.make_url("/jwks.json")))
    script = HERE / f"example-{tmp_path.name}.mjs"  # beside node_modules, to find `jose`
    script.write_text(f"const token = {json.dumps(token)};\n{code}")
    try:
        node = shutil.which("node")
        assert node
        proc = await asyncio.create_subprocess_exec(
            node, str(script), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        script.unlink()
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == f"https://registry.ohio.example {ISSUER} trusted"
