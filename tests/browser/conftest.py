"""Headless Chromium on the node's pages, against a real three-state federation.

One Chromium (Debian's /usr/bin/chromium, driven by Playwright; never a browser Playwright
downloads) and one federation of three node processes (tests/e2e_harness.py: Ohio, Indiana and
Michigan on free loopback ports) serve every test of this package. They are package-scoped,
not session-scoped: Playwright's synchronous API runs an event loop on the main thread while
it is open, which the asyncio tests of the rest of the suite must not find there. The
federation's asyncio loop runs in a thread of its own, so that the tests use Playwright's
synchronous API while the harness keeps its asynchronous one. Each test gets a fresh browser
context (its own storage).

axe-core (tests/browser/package.json, installed by ``make install-test``) is added to every
page as an init script, which the pages' Content-Security-Policy does not apply to, so the
policy stays in force for everything else. With ``PAGES_SHOTS=DIR`` the tests also save
screenshots of the pages there.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    sync_playwright,
)

from tests.e2e_harness import Federation, federation

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
#: Without the background-networking flags Chromium tries to reach the internet at start.
#: Playwright gives every launch a fresh, temporary profile (its --user-data-dir).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: axe-core's rule sets for WCAG 2.0 and 2.1, levels A and AA, and its best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a thread: ``run`` waits for a coroutine to finish there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Running:
    """The federation and the loop it runs on."""

    def __init__(self, fed: Federation, loop: LoopThread) -> None:
        self.fed = fed
        self.loop = loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return self.loop.run(coro, timeout)


@pytest.fixture(scope="package")
def states(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    loop = LoopThread()
    manager = federation(tmp_path_factory.mktemp("pages-federation"))
    try:
        fed = loop.run(manager.__aenter__())
        try:
            loop.run(fed.settle())
            yield Running(fed, loop)
        finally:
            loop.run(manager.__aexit__(None, None, None))
    finally:
        loop.close()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run make install-test"
    assert AXE.exists(), f"{AXE} is missing: run make install-test"
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    yield launched
    launched.close()


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, **options)
    context.add_init_script(path=str(AXE))
    context.set_default_timeout(15_000)
    return context


class Tab:
    """A page, and what its console reported (Content-Security-Policy violations show here)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.messages: list[str] = []
        page.on("console", lambda m: self.messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))

    def problems(self) -> list[str]:
        return [m for m in self.messages if m.startswith(("error", "pageerror"))]


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = new_context(browser)
    yield made
    made.close()


@pytest.fixture
def tab(context: BrowserContext) -> Iterator[Tab]:
    opened = Tab(context.new_page())
    yield opened
    assert opened.problems() == [], "the page reported errors"


@pytest.fixture
def no_js_tab(browser: Browser) -> Iterator[Tab]:
    made = new_context(browser, java_script_enabled=False)
    opened = Tab(made.new_page())
    yield opened
    made.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical accessibility violations axe-core finds on the page now."""
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        AXE_TAGS,
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:200] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def shot(what: Page | Locator, name: str) -> None:
    """A screenshot of the whole page, or of one part, into $PAGES_SHOTS when it is set."""
    folder = os.environ.get("PAGES_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = str(Path(folder) / f"{name}.png")
        if isinstance(what, Page):
            what.screenshot(path=path, full_page=True)
        else:
            what.screenshot(path=path)
