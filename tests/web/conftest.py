"""Browser test fixtures: a real ``creditpay serve`` on loopback and Debian's Chromium.

- ``web_server`` (session): the CLI's server in a subprocess on a free loopback port, on a
  temporary SQLite database seeded by :mod:`tests.web.seed`, with a generated master key
  and the development inbox on (CREDITPAY_DEV_INBOX) — as benchmarks/checkout.py starts one;
- ``browser`` (session): one Chromium (``/usr/bin/chromium``, never a downloaded one;
  scripts/ensure-system-deps.sh installs it), headless, without network side traffic;
- ``phone`` / ``desktop``: a fresh browser context per test at 390x844 / 1280x800;
- :func:`axe_check`: runs the vendored axe-core on a page and fails on any serious or
  critical violation, naming them.

Every wait is for an element or a navigation (30 s), never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from creditpay.devtools.apiserver import running_api_server
from creditpay.platform.keys import encode_key, generate_key_bytes
from tests.web.seed import seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 30_000
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


@dataclass(frozen=True)
class WebServer:
    base: str
    seeded: dict[str, Any]


@contextlib.contextmanager
def running_server(url: str, master: bytes) -> Iterator[str]:
    """``creditpay serve`` on ``url`` with the dev inbox on; yields its base URL."""
    with running_api_server(url, encode_key(master),
                            env={"CREDITPAY_DEV_INBOX": "true"}) as base:
        yield base


@pytest.fixture(scope="session")
def web_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-") as folder:
        url = f"sqlite:///{Path(folder) / 'web.db'}"
        master = generate_key_bytes()
        seeded = seed(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, seeded)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not per session: while Playwright's sync API is open
    it keeps an event loop running on the main thread, and a later test of another
    module in the same xdist worker that calls ``asyncio.run`` would fail."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: run scripts/ensure-system-deps.sh (installs Debian's chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _context(browser: Any, viewport: dict[str, int], locale: str = "zh-CN") -> Any:
    context = browser.new_context(viewport=viewport, locale=locale,
                                  is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """``new_context(viewport, locale)``: fresh contexts (a new device each), closed after."""
    made: list[Any] = []

    def make(viewport: dict[str, int] = PHONE, locale: str = "zh-CN") -> Any:
        made.append(_context(browser, viewport, locale))
        return made[-1]

    yield make
    for context in made:
        context.close()


@pytest.fixture
def phone(new_context: Any) -> Any:
    return new_context(PHONE).new_page()


@pytest.fixture
def desktop(new_context: Any) -> Any:
    return new_context(DESKTOP).new_page()


def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_check(page: Any) -> None:
    """Fail on any serious or critical axe-core violation of ``page``, naming each."""
    # Evaluated through the DevTools protocol: the page's CSP (rightly) refuses an injected
    # script tag, and the scan must run under the CSP the app really sends.
    page.evaluate(_axe_source())
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"accessibility violations on {page.url}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in bad)


def switch_language(page: Any, language: str) -> None:
    """Use the page's language switch and wait until the page is in ``language``.

    Waits with a locator assertion, not ``page.wait_for_function("…")``: a string predicate
    that is not true at its first check is polled with ``new Function`` inside the page,
    which the app's CSP (no 'unsafe-eval') refuses, so the old wait failed whenever the
    switch's navigation was slower than that first check."""
    from playwright.sync_api import expect

    page.locator(f'.langs button[value="{language}"]').click()
    expect(page.locator("html")).to_have_attribute("lang", language)


def log_in(context: Any, base: str, phone: str, password: str,
           language: str | None = None) -> Any:
    """Log ``phone`` in from this (new) browser: the page's form, then the new-device code
    read from the dev inbox; in ``language`` when given (the switch on the login page).
    Returns the page, at /app/home."""
    page = context.new_page()
    page.goto(f"{base}/app/login")
    if language is not None:
        switch_language(page, language)
    page.locator("#identifier").fill(phone)
    page.locator("#password").fill(password)
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(f"{base}/app/login/verify")
    inbox = context.new_page()
    inbox.goto(f"{base}/app/dev/inbox?to={phone}")
    code = inbox.locator('.message[data-purpose="login"] .code').first.inner_text()
    inbox.close()
    page.locator("#code").fill(code)
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(f"{base}/app/home")
    return page
