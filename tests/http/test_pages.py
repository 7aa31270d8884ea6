"""The pages for people (docs/protocol.md section 15) as HTML, without a browser: what the
server renders, that it is escaped, that every page carries the policy that forbids anything
but the node's own files, and the two small endpoints the pages use (receipt check, versions).
tests/browser/ drives the same pages in Chromium."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from registry_node.config import NodeConfig
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http import pages
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from tests.helpers import FakeClock, issuer
from tests.sim import PeerSimulator

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class Inline(HTMLParser):
    """Everything in a page that a strict CSP would block, and the text shown."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.styles = 0
        self.style_attributes = 0
        self.handlers: list[str] = []
        self.external: list[str] = []
        self.script_tags: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self._in_script = True
            if "src" not in named:
                self.inline_scripts += 1
            self.script_tags.append(named.get("src") or "")
        if tag == "style":
            self.styles += 1
        if "style" in named:
            self.style_attributes += 1
        self.handlers += [name for name in named if name.startswith("on")]
        for name in ("src", "href", "action"):
            value = named.get(name) or ""
            if re.match(r"^(https?:)?//", value) and tag != "a":
                self.external.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1
        self.text.append(data)


def parsed(html: str) -> Inline:
    found = Inline()
    found.feed(html)
    return found


async def page(client: TestClient, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    body = await resp.text()
    assert resp.status == status, body[:500]
    assert resp.content_type == "text/html"
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    return body


async def publish(client: TestClient, *entries: dict[str, Any]) -> None:
    node = client.app[NODE]
    for entry in entries:
        await node.issuers.create(entry, "test")
    await node.publisher.publish("test")
    await node.resolver.catch_up()


def test_the_policy_is_the_one_the_pages_need() -> None:
    assert pages.CSP == CSP


async def test_every_page_uses_only_its_own_files(client: TestClient) -> None:
    for path in ("/", "/?q=board", "/console"):
        html = await page(client, path)
        found = parsed(html)
        assert found.inline_scripts == 0, path
        assert (found.styles, found.style_attributes, found.handlers) == (0, 0, []), path
        assert found.external == [], path
        assert '<html lang="en">' in html
        assert 'href="#main"' in html and 'id="main"' in html  # the skip link's target
        for src in found.script_tags:
            resp = await client.get(src)
            assert resp.status == 200 and resp.content_type == "text/javascript", src


async def test_static_files_are_served_with_their_types(client: TestClient) -> None:
    kinds = {
        "pages.css": "text/css",
        "common.js": "text/javascript",
        "verifier.js": "text/javascript",
        "console.js": "text/javascript",
    }
    for name, kind in kinds.items():
        resp = await client.get(f"/static/{name}")
        assert resp.status == 200, name
        assert resp.content_type == kind
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    missing = await client.get("/static/..%2Fpages.py")
    assert missing.status == 404
    assert (await missing.json())["code"] == "not_found"


async def test_a_search_finds_by_name_id_and_alias(client: TestClient) -> None:
    await publish(
        client,
        issuer(1, name="Ohio Board of Nursing", aka=["https://nursing.example"]),
        issuer(2, name="Ohio Board of Pharmacy"),
    )
    by_name = await page(client, "/?q=nursing")
    assert "Ohio Board of Nursing" in by_name and "Pharmacy" not in by_name
    assert "1 issuer found" in by_name
    by_id = await page(client, "/?q=did:web:board2")
    assert "Ohio Board of Pharmacy" in by_id and "Nursing" not in by_id
    by_alias = await page(client, "/?q=https://nursing.example")
    assert "Ohio Board of Nursing" in by_alias
    both = await page(client, "/?q=OHIO BOARD")
    assert "2 issuers found" in both
    none = await page(client, "/?q=kentucky")
    assert "No state whose list this registry holds names an issuer" in none


async def test_the_evidence_is_in_plain_words(client: TestClient) -> None:
    await publish(client, issuer(1, name="Ohio Board of Nursing"))
    node = client.app[NODE]
    change = {"status": "suspended", "reason": "board audit", "from": "2026-02-01T00:00:00Z"}
    await node.issuers.set_status(issuer(1)["id"], change, "test")
    await node.publisher.publish("test")
    await node.resolver.catch_up()
    html = await page(client, "/?q=nursing")
    text = " ".join(" ".join(parsed(html).text).split())
    assert "Not trusted" in text
    assert "Ohio (US-OH, this registry's own list): Ohio lists it as suspended since" in text
    assert "1 February 2026, because: board audit" in text
    assert "OpenBadgeCredential for achievements of type License in US-OH" in text
    assert "legal basis: Ohio Revised Code 4723" in text
    # As of a day before the suspension, the same issuer was trusted.
    before = await page(client, "/?q=nursing&at=2026-01-15")
    assert "Answers as of <strong>15 January 2026</strong>" in before
    assert "Trusted" in " ".join(parsed(before).text) and "active since" in before


async def test_a_name_with_markup_is_shown_as_text(client: TestClient) -> None:
    hostile = "<script>alert('x')</script> Academy"
    await publish(client, issuer(7, name=hostile))
    html = await page(client, "/?q=academy")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Academy" in html
    assert hostile in "".join(parsed(html).text)
    echoed = await page(client, "/?q=%3Cscript%3Ealert")
    assert "<script>alert" not in echoed and "&lt;script&gt;alert" in echoed


async def test_a_bad_date_is_explained_on_the_page(client: TestClient) -> None:
    html = await page(client, "/?q=board&at=yesterday", status=400)
    assert "is not a date" in html and 'role="alert"' in html
    long = await page(client, "/?q=" + "x" * 201, status=400)
    assert "longer than 200 characters" in long


async def _receipt(client: TestClient, issuer_id: str) -> str:
    resp = await client.get(f"/v1/issuers/{issuer_id}", headers={"Accept": "application/jwt"})
    assert resp.status == 200
    return await resp.text()


async def test_a_receipt_of_this_node_verifies_and_says_what_it_answered(
    client: TestClient,
) -> None:
    await publish(client, issuer(1))
    token = await _receipt(client, issuer(1)["id"])
    for body, headers in (
        (token, {"Content-Type": "text/plain"}),
        (token, {"Content-Type": "application/jwt"}),
        (f'"{token}"', {"Content-Type": "application/json"}),
    ):
        resp = await client.post("/v1/receipts/verify", data=body, headers=headers)
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        doc = await resp.json()
        assert doc["verified"] is True, doc
        assert (doc["iss"], doc["sub"]) == ("https://registry.ohio.example", issuer(1)["id"])
        assert doc["answer"]["outcome"] == "trusted" and doc["expired"] is False
        kids = {k["kid"] for k in (await (await client.get("/jwks.json")).json())["keys"]}
        assert doc["kid"] in kids


async def test_a_receipt_that_does_not_verify_says_why(client: TestClient) -> None:
    await publish(client, issuer(1))
    token = await _receipt(client, issuer(1)["id"])
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BA")
    cases = {
        f"{head}.{payload}.{flipped}": "signature_invalid",
        "not a receipt": "receipt_malformed",
        "a.b": "receipt_malformed",
        "\u00e9t\u00e9": "receipt_malformed",
    }
    for body, code in cases.items():
        resp = await client.post("/v1/receipts/verify", data=body.encode())
        doc = await resp.json()
        assert resp.status == 200 and doc["verified"] is False, (body, doc)
        assert doc["code"] == code, (body, doc)
        assert doc["detail"] and doc["hint"], doc
    empty = await client.post("/v1/receipts/verify", data=b"  ")
    assert empty.status == 400
    assert (await empty.json())["code"] == "receipt_malformed"


async def test_a_receipt_of_another_node_names_where_to_check_it(client: TestClient) -> None:
    from registry_node.core import receipts as corereceipts
    from registry_node.core.keys import generate
    from registry_node.core.model import canonical_json

    other = generate("Ed25519")
    claims = {"iss": "https://registry.indiana.example", "sub": "x", "iat": 1, "exp": 2}
    token = corereceipts.sign(canonical_json({**claims, "answer": {}}), other)
    doc = await (await client.post("/v1/receipts/verify", data=token)).json()
    assert doc["verified"] is False and doc["code"] == "unknown_key"
    assert "from https://registry.indiana.example, not this node" in doc["detail"]


async def test_the_versions_and_their_chain(client: TestClient, auth: dict[str, str]) -> None:
    await publish(client, issuer(1))
    await publish(client, issuer(2))
    refused = await client.get("/admin/v1/versions")
    assert refused.status == 401
    resp = await client.get("/admin/v1/versions?limit=2", headers=auth)
    assert resp.status == 200
    versions = (await resp.json())["versions"]
    assert [v["seq"] for v in versions] == [3, 2]
    assert versions[0]["prev"] == versions[1]["digest"]
    assert versions[0]["body_kept"] is True and versions[0]["signed_by"]
    first = (await (await client.get("/admin/v1/versions", headers=auth)).json())["versions"]
    assert first[-1]["seq"] == 1 and first[-1]["prev"] is None
    bad = await client.get("/admin/v1/versions?limit=x", headers=auth)
    assert bad.status == 400


@pytest.mark.parametrize("on_stale", ["warn", "reject"])
async def test_a_stale_state_list_is_shown_as_stale(
    aiohttp_client: Any, aiohttp_server: Any, config: NodeConfig, clock: FakeClock, on_stale: str
) -> None:
    sim = PeerSimulator(clock)
    sim.publish(seq=1)
    server = await aiohttp_server(sim.app())
    peer = {
        "id": sim.peer_id,
        "jurisdiction": sim.jurisdiction,
        "url": str(server.make_url("/trust-list")),
        "keys": sim.pins,
        "on_stale": on_stale,
    }
    config.peers_file.write_text(dump_yaml({"peers": [peer]}))
    client = await aiohttp_client(create_app(config, clock, run_scheduler=False))
    node = client.app[NODE]
    await node.federation.sync_all()
    fresh = await page(client, "/?q=did:web:issuer1.us-in.example")
    shown = " ".join(" ".join(parsed(fresh).text).split())
    assert "Indiana (US-IN): Indiana lists it as active since" in shown
    assert "has not been renewed" not in shown and "stale" not in shown
    clock.advance(hours=25)
    html = await page(client, "/?q=did:web:issuer1.us-in.example")
    text = " ".join(" ".join(parsed(html).text).split())
    assert "Indiana's list expired on 2 March 2026, 12:00 UTC and has not been renewed" in text
    assert "this is an old copy, and it may no longer be true" in text
    if on_stale == "reject":
        assert "Unknown" in text
        assert "Indiana (https://registry.indiana.example): its list is stale and not used" in text
    else:
        assert "Trusted" in text
