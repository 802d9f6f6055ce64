"""Disputes in a real browser on a real ``creditpay serve`` (issue #20): the consumer opens
"Dispute this payment" from a plan on My credit, disputes it and sees it listed with its
status and the plan paused (zh-CN, phone); the merchant's user sees it on the dashboard's
Disputes page and contests it with evidence through the form (en, desktop); an operator
decides it from the console's queue and the consumer sees the outcome; every page passes
axe."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from creditpay.parties import merchant_users as MU
from creditpay.parties.service import Principal
from creditpay.platform.keys import generate_key_bytes
from tests.web.conftest import DESKTOP, PHONE, WebServer, axe_check, log_in, running_server
from tests.web.seed_credit import _borrow, _customer
from tests.web.test_merchant_dashboard import PASSWORD, STAFF_PASSWORD, _app, _code, _log_in

pytestmark = pytest.mark.browser

PHONE_NUMBER = "13700000009"
CUSTOMER_PASSWORD = "dispute test customer 1"
SHOTS = Path(tempfile.gettempdir()) / "creditpay-dispute-shots"


def _seed(url: str, master: bytes) -> dict[str, Any]:
    app = _app(url, master)
    rt = app.state.runtime
    try:
        rt.vault.ensure_active_key()
        staff = rt.uow.run(lambda tx: rt.parties.create_operator(
            tx, name="d-admin", role="admin",
            password_hash=rt.parties.passwords.hash(STAFF_PASSWORD)))
        admin = Principal("operator", staff["id"], role="admin")
        shop_id = rt.uow.run(lambda tx: rt.parties.onboard_merchant(
            tx, admin, name="Dispute shop", mcc="5411", discount_rate="0.006"))["merchant"]["id"]
        shop = Principal("merchant", shop_id, scopes=frozenset({"payments:write"}))
        user = rt.uow.run(lambda tx: MU.create_merchant_user(
            rt.parties, tx, merchant_id=shop_id, name="owner", role="owner",
            password_hash=rt.parties.passwords.hash(PASSWORD)))
        who = _customer(rt, PHONE_NUMBER, rt.parties.passwords.hash(CUSTOMER_PASSWORD),
                        dt.date(1988, 8, 8))
        _borrow(rt, admin, shop, who, 1)
        return {"user": user, "staff": staff}
    finally:
        rt.close()


@pytest.fixture(scope="module")
def dispute_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-disputes-") as folder:
        url = f"sqlite:///{Path(folder) / 'disputes.db'}"
        master = generate_key_bytes()
        seeded = _seed(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, seeded)


def test_the_consumer_disputes_a_plan_and_the_merchant_contests_it(
        dispute_server: WebServer, new_context: Any) -> None:
    base = dispute_server.base
    SHOTS.mkdir(exist_ok=True)
    page = log_in(new_context(PHONE, "zh-CN"), base, PHONE_NUMBER, CUSTOMER_PASSWORD)
    page.goto(f"{base}/app/credit")
    page.locator('article.plan [data-action="dispute"]').first.click()
    page.wait_for_url(f"{base}/app/disputes?account=*")
    # The plan's payment is the one chosen.
    assert page.locator("#payment_intent_id").input_value().startswith("pi_")
    axe_check(page)
    page.locator("#reason").select_option("not_received")
    page.locator("#description").fill("包裹一直没有送到")
    page.locator("form.card button.primary").click()
    card = page.locator("article.dispute").first
    card.wait_for()
    assert card.get_attribute("data-status") == "open"
    assert "等待商户答复" in card.inner_text() and "您的分期已暂停" in card.inner_text()
    page.screenshot(path=str(SHOTS / "consumer-disputes.png"), full_page=True)
    axe_check(page)
    dispute_id = card.get_attribute("data-dispute")
    # The merchant's user contests it with evidence.
    merchant = _log_in(new_context(DESKTOP, "en"), base, dispute_server.seeded["user"],
                       "?next=/merchant/disputes")
    merchant.wait_for_url(f"{base}/merchant/**")
    merchant.goto(f"{base}/merchant/disputes")
    section = merchant.locator(f'[data-dispute="{dispute_id}"]')
    assert section.get_attribute("data-status") == "open"
    assert "包裹一直没有送到" in section.inner_text()
    axe_check(merchant)
    merchant.screenshot(path=str(SHOTS / "merchant-open.png"), full_page=True)
    section.locator("textarea[name=evidence]").fill("Delivered and signed for")
    section.locator("textarea[name=evidence_documents]").fill("courier:SF1234567890")
    section.locator('button[value="contest"]').click()
    merchant.wait_for_selector(f'[data-answered="{dispute_id}"]')
    assert merchant.locator(f'[data-dispute="{dispute_id}"]').get_attribute(
        "data-status") == "under_review"
    merchant.screenshot(path=str(SHOTS / "merchant-disputes.png"), full_page=True)
    axe_check(merchant)
    # An operator decides it from the console's queue (below the four-eyes threshold).
    console = new_context(DESKTOP, "en").new_page()
    console.goto(f"{base}/console/login")
    staff = dispute_server.seeded["staff"]
    console.locator("#operator").fill(staff["id"])
    console.locator("#password").fill(STAFF_PASSWORD)
    console.locator("#totp_code").fill(_code(staff["totp_secret"]))
    console.locator("form.card button[type=submit]").click()
    console.wait_for_url(f"{base}/console/")
    console.goto(f"{base}/console/disputes")
    queued = console.locator(f'[data-dispute="{dispute_id}"]')
    assert "Delivered and signed for" in queued.inner_text()
    assert "courier:SF1234567890" in queued.inner_text()
    axe_check(console)
    queued.locator("select[name=outcome]").select_option("merchant")
    queued.locator("textarea[name=note]").fill("Proof of delivery matches the address")
    queued.locator("button[type=submit]").click()
    console.wait_for_selector(f'[data-done="{dispute_id}"]')
    console.goto(f"{base}/console/disputes?status=resolved_merchant")
    console.locator(f'[data-dispute="{dispute_id}"]').wait_for()
    console.screenshot(path=str(SHOTS / "console-disputes.png"), full_page=True)
    axe_check(console)
    # The consumer sees the outcome; the plan goes on.
    page.goto(f"{base}/app/disputes")
    card = page.locator(f'[data-dispute="{dispute_id}"]')
    assert card.get_attribute("data-status") == "resolved_merchant"
    assert "裁定商户胜诉" in card.inner_text()
