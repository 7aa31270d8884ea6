"""The verifier's page and the operator's console in Chromium, against three real nodes
(docs/protocol.md section 15): what a person sees and can do, with the keyboard only, with
JavaScript off, and under the pages' Content-Security-Policy; every page state checked by
axe-core for WCAG 2.1 AA."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Running, Tab, axe_violations, new_context, shot
from tests.e2e_harness import ROOT, NodeProcess, free_port

BADGE = ROOT / "examples" / "badge.json"
NURSING = "did:web:nursing.ohio.example"
CILB = "did:web:cilb.commerce.ohio.example"
PHARMACY = "did:web:pharmacy.ohio.example"


def accessible(page: Page, what: str) -> None:
    found = axe_violations(page)
    assert found == [], f"{what}: {json.dumps(found, indent=1)}"


def search(page: Page, node: NodeProcess, text: str) -> None:
    page.goto(f"{node.url}/")
    page.get_by_label("Name, id or alias of the issuer").fill(text)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"\?q="))


def issuer_card(page: Page, name: str) -> str:
    card = page.get_by_role("article", name=name)
    expect(card).to_be_visible()
    return " ".join(card.inner_text().split())


def sign_in(page: Page, node: NodeProcess) -> None:
    page.goto(f"{node.url}/console")
    page.get_by_label("Admin token").fill(node.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Peers")).to_be_visible()
    expect(page.locator("#versions table")).to_be_visible()


def confirm(page: Page, button: str) -> str:
    """Click ``button``, read the confirmation dialog, and send."""
    page.get_by_role("button", name=button).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    text = dialog.inner_text()
    dialog.get_by_role("button", name="Send").click()
    expect(dialog).to_be_hidden()
    return text


# -- the verifier's page ---------------------------------------------------------------------


def test_a_search_on_indiana_finds_an_ohio_board_without_javascript(
    states: Running, no_js_tab: Tab
) -> None:
    page = no_js_tab.page
    indiana = states.fed.in_
    search(page, indiana, "board of nursing")
    text = issuer_card(page, "Ohio Board of Nursing Licensure (fictional)")
    assert "Trusted" in text
    assert "Ohio (US-OH): Ohio lists it as active since 1 March 2021" in text
    assert "OpenBadgeCredential, AchievementCredential for achievements of type License" in text
    assert NURSING in text
    # Indiana's own board is in its own list, marked so.
    search(page, indiana, "did:web:nursing.pla.indiana.example")
    own = issuer_card(page, page.locator("article h3").first.inner_text())
    assert "Indiana (US-IN, this registry's own list)" in own
    shot(page, "verifier-search-no-javascript")


def test_javascript_is_really_off_in_that_context(browser: Browser, states: Running) -> None:
    context = new_context(browser, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{states.fed.in_.url}/")
        page.get_by_label("Credential", exact=True).fill("{}")
        page.get_by_role("button", name="Check credential").click()
        # Without the script the form is not intercepted: nothing is checked on the page.
        expect(page.locator("#credential-result")).to_be_empty()
    finally:
        context.close()


def test_a_search_by_alias_and_as_of_a_date(states: Running, tab: Tab) -> None:
    page = tab.page
    search(page, states.fed.in_, "https://nursing.ohio.example")
    issuer_card(page, "Ohio Board of Nursing Licensure (fictional)")
    page.get_by_label("As of (optional)").fill("2020-06-01")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Answers as of 1 June 2020")).to_be_visible()
    text = issuer_card(page, "Ohio Board of Nursing Licensure (fictional)")
    assert "Not trusted" in text and "not yet listed" in text.lower()
    accessible(page, "verifier page with results")


def test_a_suspended_issuer_shows_who_suspended_it_and_since(states: Running, tab: Tab) -> None:
    fed = states.fed
    changed = states.run(fed.oh.set_status(CILB, "suspended", "licence audit by the board"))
    since = changed["status_history"][-1]["from"]
    states.run(fed.oh.publish())
    states.run(fed.in_.sync(fed.oh))
    page = tab.page
    search(page, fed.in_, "construction industry")
    text = issuer_card(page, "Ohio Construction Industry Licensing Board (fictional)")
    assert "Not trusted" in text
    assert "suspended by US-OH" in text
    day = int(since[8:10])
    assert re.search(
        rf"Ohio \(US-OH\): Ohio lists it as suspended since {day} \w+ 20\d\d, \d\d:\d\d UTC, "
        r"because: licence audit by the board",
        text,
    ), text
    page.get_by_text("History and source of Ohio's entry").click()
    history = page.get_by_role("table", name="Status history in Ohio's list")
    expect(history).to_contain_text("licence audit by the board")
    expect(history).to_contain_text("listed when the Ohio registry node launched")
    accessible(page, "verifier page with a suspended issuer and its history open")
    shot(page, "verifier-suspended-issuer")


def _report(page: Page) -> str:
    result = page.locator("#credential-result")
    expect(result.get_by_role("heading", name=re.compile("^Verdict"))).to_be_visible()
    return " ".join(result.inner_text().split())


def test_a_credential_dropped_on_the_page_shows_its_verdict_and_checks(
    states: Running, tab: Tab
) -> None:
    page = tab.page
    page.goto(f"{states.fed.in_.url}/")
    badge = BADGE.read_text()
    transfer = page.evaluate_handle(
        """(text) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], "badge.json", {type: "application/json"}));
            return dt;
        }""",
        badge,
    )
    page.dispatch_event("#credential", "drop", {"dataTransfer": transfer})
    text = _report(page)
    assert "Verdict: Valid" in text
    assert "Passed Signature" in text and "Failed" not in text
    assert "Trust when issued" in text and "Trust now" in text
    assert "did:key:z6MkptQ5dz29VgDjfQsykio8L6pKoAyutkSbjuyPWq9m7udS" in text
    checks = page.locator("#credential-result .check")
    assert checks.count() >= 4
    accessible(page, "verifier page with a credential's report")
    shot(page, "verifier-credential-valid")
    shot(page.locator("#credential-result"), "verifier-credential-valid-report")


def test_a_chosen_or_pasted_credential_and_a_forged_one(states: Running, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{states.fed.in_.url}/")
    page.get_by_label("Credential file").set_input_files(str(BADGE))
    assert "Verdict: Valid" in _report(page)

    forged = json.loads(BADGE.read_text())
    forged["credentialSubject"]["name"] = "Someone Else"
    page.get_by_label("Credential", exact=True).fill(json.dumps(forged))
    page.get_by_role("button", name="Check credential").click()
    expect(page.locator("#credential-result")).to_contain_text("Not valid")
    text = _report(page)
    assert "Verdict: Not valid" in text
    assert "Failed Signature" in text
    shot(page, "verifier-credential-forged")

    page.get_by_label("Credential", exact=True).fill("[1, 2]")
    page.get_by_role("button", name="Check credential").click()
    alert = page.locator("#credential-result [role=alert]")
    expect(alert).to_contain_text("Bad Request (400)")
    expect(page.locator("#credential-result")).to_contain_text("could not check this")
    tab.messages.clear()  # the browser logs the 400 it was answered


def test_an_indeterminate_verdict_is_told_apart_from_an_invalid_one(
    states: Running, tab: Tab
) -> None:
    """The page renders what the answer carries: here an answer in the form with a top-level
    ``summary`` and a per-check ``outcome`` (valid / invalid / indeterminate), served to the
    page in place of the node's, since whether a credential is undecidable is the node's
    business, and how the page shows it is this test's."""
    answer = {
        "verdict": "indeterminate",
        "summary": "The issuer's standing could not be established: check again later.",
        "verified_at": "2026-03-01T12:00:00Z",
        "credential": {
            "verdict": "indeterminate",
            "format": "vc-di",
            "issuer": "did:web:college.ohio.example",
            "types": ["VerifiableCredential", "OpenBadgeCredential"],
            "checks": [
                {
                    "name": "signature",
                    "passed": True,
                    "outcome": "passed",
                    "code": "signature_valid",
                    "detail": "eddsa-rdfc-2022 proof by did:web:college.ohio.example#key-1",
                },
                {
                    "name": "trust_now",
                    "passed": False,
                    "outcome": "indeterminate",
                    "code": "source_stale",
                    "detail": "the only list naming the issuer is stale",
                },
                {
                    "name": "expiry",
                    "passed": False,
                    "outcome": "failed",
                    "code": "expired",
                    "detail": "the credential expired on 2026-01-01T00:00:00Z",
                },
            ],
            "trust": {},
            "children": [],
        },
    }
    page = tab.page
    page.route(
        "**/v1/verify",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(answer)
        ),
    )
    page.goto(f"{states.fed.in_.url}/")
    page.get_by_label("Credential", exact=True).fill('{"any": "credential"}')
    page.get_by_role("button", name="Check credential").click()
    text = _report(page)
    assert "Verdict: Could not be decided" in text
    assert answer["summary"] in text
    undecided = page.locator(".check-indeterminate")
    failed = page.locator(".check-failed")
    expect(undecided).to_contain_text("Could not be decided Trust now: the only list naming")
    expect(failed).to_contain_text("Failed Expiry: the credential expired")
    style = "(el) => [getComputedStyle(el).color, getComputedStyle(el).borderStyle]"
    undecided_look = undecided.locator(".check-outcome").evaluate(style)
    failed_look = failed.locator(".check-outcome").evaluate(style)
    assert undecided_look != failed_look
    verdict = page.locator("#credential-result .verdict")
    assert "verdict-indeterminate" in (verdict.get_attribute("class") or "")
    accessible(page, "verifier page with an indeterminate verdict")
    shot(page.locator("#credential-result"), "verifier-credential-indeterminate")


def test_a_receipt_pasted_on_the_page_verifies_and_says_what_it_answered(
    states: Running, tab: Tab
) -> None:
    fed = states.fed

    async def receipt() -> str:
        url = f"{fed.in_.url}/v1/issuers/{NURSING}"
        async with fed.in_.http.get(url, headers={"Accept": "application/jwt"}) as resp:
            return await resp.text()

    token = states.run(receipt())
    page = tab.page
    page.goto(f"{fed.in_.url}/")
    page.get_by_label("Receipt", exact=True).fill(token)
    page.get_by_role("button", name="Check receipt").click()
    result = page.locator("#receipt-result")
    expect(result).to_contain_text("Verified")
    text = " ".join(result.inner_text().split())
    assert "This registry (https://registry.indiana.example) signed this answer" in text
    assert f"about {NURSING}" in text and "“Trusted”" in text
    shot(page, "verifier-receipt-verified")

    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{signature[::-1]}"
    page.get_by_label("Receipt", exact=True).fill(forged)
    page.get_by_role("button", name="Check receipt").click()
    expect(result).to_contain_text("Not verified")
    expect(result).to_contain_text("signature_invalid")
    accessible(page, "verifier page with a refused receipt")

    # Ohio's node did not sign Indiana's receipt: it says where to check it.
    page.goto(f"{fed.oh.url}/")
    page.get_by_label("Receipt", exact=True).fill(token)
    page.get_by_role("button", name="Check receipt").click()
    expect(result).to_contain_text("from https://registry.indiana.example, not this node")


def test_markup_in_what_a_list_says_is_shown_as_text(states: Running, tab: Tab) -> None:
    fed = states.fed
    hostile = "Academy <img src=x onerror=alert(1)><script>window.owned=1</script>"
    entry = {
        "id": "did:web:hostile.ohio.example",
        "name": hostile,
        "org_type": "training_provider",
        "authorizations": [{"credential_types": ["OpenBadgeCredential"], "jurisdiction": "US-OH"}],
    }
    status, doc = states.run(fed.oh.admin("POST", "/issuers", entry))
    assert status == 201, doc
    states.run(fed.oh.publish())
    page = tab.page
    search(page, fed.oh, "academy <img")
    expect(page.get_by_role("heading", name=hostile)).to_be_visible()
    assert page.evaluate("window.owned") is None
    assert page.locator("article img").count() == 0


def test_the_policy_blocks_inline_script_and_the_keyboard_reaches_everything(
    states: Running, tab: Tab
) -> None:
    page = tab.page
    page.goto(f"{states.fed.mi.url}/")
    blocked = page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.injected = 1";
            document.head.append(s);
            return window.injected === undefined;
        }"""
    )
    assert blocked, "an inline script ran despite the Content-Security-Policy"
    tab.messages.clear()  # the refusal is reported on the console, as it should be
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Name, id or alias of the issuer")).to_be_focused()
    page.keyboard.type("great lakes")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q=great"))
    expect(page.get_by_role("heading", name="Results for “great lakes”")).to_be_visible()
    accessible(page, "Michigan's verifier page")
    page.goto(f"{states.fed.mi.url}/")
    accessible(page, "the verifier page before a search")
    shot(page, "verifier-empty")


# -- the operator's console ------------------------------------------------------------------


def test_the_console_keeps_the_token_only_for_the_session(states: Running, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{states.fed.mi.url}/console")
    accessible(page, "the console before sign-in")
    shot(page, "console-sign-in")
    page.get_by_label("Admin token").fill("rnt_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The node refused the token")
    tab.messages.clear()  # the browser logs the 401 it was answered
    sign_in(page, states.fed.mi)
    stored = page.evaluate(
        "() => [sessionStorage.getItem('registry-node-admin-token'), localStorage.length,"
        " document.cookie, location.href]"
    )
    assert stored == [states.fed.mi.token, 0, "", f"{states.fed.mi.url}/console"]
    page.reload()  # the same tab keeps it
    expect(page.locator("#versions table")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_the_console_shows_a_failing_peer_with_its_reason_and_remedy(
    states: Running, tab: Tab
) -> None:
    from registry_node.core.keys import generate

    fed = states.fed
    indiana = fed.in_
    dead = f"http://127.0.0.1:{free_port()}/trust-list"  # nothing listens there
    kentucky = "https://registry.kentucky.example"
    indiana.peers_file.write_text(
        indiana.baseline_peers
        + f"  - id: {kentucky}\n    jurisdiction: US-KY\n    url: {dead}\n"
        + f"    keys: ['{generate().kid}']\n"
    )
    try:
        page = tab.page
        sign_in(page, indiana)
        asked = confirm(page, "Reload peers.yaml")
        assert "Read peers.yaml again" in asked
        expect(page.get_by_role("status")).to_contain_text("1 added")
        peer = page.get_by_role("article", name="Peer US-KY")
        expect(peer).to_contain_text("never synced")
        tab.messages.clear()
        confirm(page, "Sync US-KY now")
        expect(peer).to_contain_text("Last error:")
        held = states.run(indiana.peers())[kentucky]
        assert held["state"] in ("never_synced", "failing"), held
        expect(peer).to_contain_text(held["state"].replace("_", " "))
        api = held["last_error"]
        assert api["hint"], api
        text = " ".join(peer.inner_text().split())
        assert f"Last error: {api['code']}" in text
        assert f"What to do: {api['hint']}" in text
        ohio = page.get_by_role("article", name="Peer US-OH")
        expect(ohio).to_contain_text("fresh")
        accessible(page, "the console with a failing peer")
        shot(page, "console-failing-peer")
        shot(
            page.locator("section", has=page.get_by_role("heading", name="Peers")), "console-peers"
        )
    finally:
        indiana.peers_file.write_text(indiana.baseline_peers)
        states.run(indiana.reload_peers())


def test_a_status_change_in_the_console_is_answered_by_the_neighbour_after_a_sync(
    states: Running, context: BrowserContext
) -> None:
    fed = states.fed
    ohio_tab = Tab(context.new_page())
    page = ohio_tab.page
    sign_in(page, fed.oh)
    form = page.locator("#status-form")
    form.get_by_label("Issuer").select_option(PHARMACY)
    form.get_by_label("New status").select_option("suspended")
    form.get_by_label("Reason (shown to verifiers)").fill("inspection found lapsed licences")

    # Cancel first: nothing is sent.
    page.get_by_role("button", name="Change status…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Record that {PHARMACY} is suspended from now?")
    accessible(page, "the console's confirmation dialog")
    shot(page, "console-confirm-status-change")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status")).to_contain_text("Nothing was sent.")
    code, entry = states.run(fed.oh.admin("GET", f"/issuers/{PHARMACY}"))
    assert code == 200, entry
    assert entry["status_history"][-1]["status"] == "active"

    asked = confirm(page, "Change status…")
    assert '"reason": "inspection found lapsed licences"' in asked
    expect(page.get_by_role("status")).to_contain_text("is now recorded as suspended")
    confirm(page, "Publish a new version now")
    expect(page.get_by_role("status")).to_contain_text("Published version")
    audit = page.locator("#audit table")
    expect(audit).to_contain_text("issuer.status")
    page.locator("#audit-action").select_option("issuer.status")
    page.get_by_role("button", name="Filter").click()
    expect(audit.locator("tbody tr").first).to_contain_text(PHARMACY)
    expect(audit.locator("tbody tr").first).to_contain_text("token:e2e")
    versions = page.locator("#versions tbody tr")
    expect(versions.first).to_contain_text("links to version")
    pharmacy = page.locator("#issuers tbody tr", has_text=PHARMACY)
    expect(pharmacy).to_contain_text("suspended since")
    pharmacy.get_by_text("History (2)").click()
    expect(pharmacy).to_contain_text("suspended from")
    expect(pharmacy).to_contain_text("inspection found lapsed licences")
    accessible(page, "the console signed in, after a change")
    shot(page, "console-after-status-change")
    assert ohio_tab.problems() == []

    indiana_tab = Tab(context.new_page())
    page = indiana_tab.page
    sign_in(page, fed.in_)
    confirm(page, "Sync US-OH now")
    # accepted now, or already by the node's own schedule a moment before
    expect(page.get_by_role("status")).to_contain_text(
        re.compile(r"https://registry\.ohio\.example: (accepted|not modified|unchanged)")
    )
    search(page, fed.in_, "pharmacy practice")
    text = issuer_card(page, "Ohio Board of Pharmacy Practice (fictional)")
    assert "Not trusted" in text and "suspended by US-OH" in text
    assert "because: inspection found lapsed licences" in text
    assert indiana_tab.problems() == []


def test_a_refused_change_shows_the_problem_in_words(states: Running, tab: Tab) -> None:
    page = tab.page
    sign_in(page, states.fed.mi)
    page.get_by_label("Issuer entry (JSON, as in the list's schema)").fill(
        json.dumps({"id": "did:web:x.example", "name": "X", "org_type": "spaceport"})
    )
    tab.messages.clear()
    confirm(page, "Add issuer…")
    alert = page.locator("#notice [role=alert]")
    expect(alert).to_contain_text("Unprocessable")
    expect(alert).to_contain_text("org_type")
    accessible(page, "the console showing a refused change")
    shot(page, "console-refused-change")
    tab.messages.clear()  # the browser logs the 422 it was answered
