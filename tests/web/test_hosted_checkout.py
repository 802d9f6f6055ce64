"""The hosted checkout in a real browser on a real ``creditpay serve`` (issue #15 item 3).

A merchant creates an intent over the JSON API with a loopback ``return_url`` served by a
tiny HTTP server in this test; the seeded consumer opens ``checkout_url``, logs in (new
device: the code from the dev inbox), sees every way to pay with its cost (the figures of
``POST .../credit_offers``), opens the key facts of the 6-installment plan, pays with it,
lands on the return page with the intent id, the merchant's outbox has the outcome, the
plan is under My credit once captured; in en at the phone size and in zh-CN at the desktop
size. The used link pays no second time; a large amount asks for the one-time code; every
checkout page passes axe.

The server is this module's own (a seeded database and CREDITPAY_WEBHOOKS_ALLOW_PRIVATE, the
development switch that allows an http return URL on loopback).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from creditpay.formatting import money_text
from tests.web.conftest import DESKTOP, PHONE, axe_check, switch_language
from tests.web.seed import CREDIT_PASSWORD, CREDIT_PHONE, SEED_DEVICE
from tests.web.shop import Shop, running_shop

pytestmark = pytest.mark.browser

TEXT = {
    "en": {"login": "Log in to pay", "choose": "Choose how to pay",
           "paid": "This payment is complete.", "none": "Choose how to pay: pick one"},
    "zh-CN": {"login": "登录后付款", "choose": "选择付款方式",
              "paid": "这笔付款已完成。", "none": "请选择付款方式"},
}


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with running_shop() as running:
        yield running


def _log_in_at_checkout(page: Any, shop: Shop, checkout_url: str, language: str) -> None:
    """From the checkout page: log in (new device: the code from the dev inbox), back."""
    page.goto(checkout_url)
    axe_check(page)
    page.get_by_role("link", name=TEXT[language]["login"]).click()
    page.locator("#identifier").fill(CREDIT_PHONE)
    page.locator("#password").fill(CREDIT_PASSWORD)
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url("**/app/login/verify**")
    page.locator("#code").fill(_code(page, shop, "login"))
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(checkout_url)
    # The seeded customer's locale is zh-CN: the switch decides the page's language.
    switch_language(page, language)
    assert page.url == checkout_url


def _code(page: Any, shop: Shop, purpose: str) -> str:
    inbox = page.context.new_page()
    inbox.goto(f"{shop.base}/app/dev/inbox?to={CREDIT_PHONE}")
    code = inbox.locator(f'.message[data-purpose="{purpose}"] .code').first.inner_text()
    inbox.close()
    return code


def _consumer_offers(shop: Shop, intent_id: str, language: str) -> list[dict[str, Any]]:
    with shop.api() as client:
        session = client.post("/v1/auth/login", json={
            "identifier": CREDIT_PHONE, "password": CREDIT_PASSWORD,
            "device_id": SEED_DEVICE}, headers={"Idempotency-Key": uuid.uuid4().hex}).json()
        auth = {"Authorization": f"Bearer {session['access_token']}"}
        offers = client.post(f"/v1/payment_intents/{intent_id}/credit_offers",
                             json={"language": language},
                             headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
        wallet = client.get("/v1/me/wallet", headers=auth).json()
    assert offers.status_code == 200, offers.text
    return [*offers.json()["offers"], {"wallet": wallet}]


@pytest.mark.parametrize(("viewport", "language", "amount"),
                         [(PHONE, "en", 120_000), (DESKTOP, "zh-CN", 130_000)],
                         ids=["phone-en", "desktop-zh-CN"])
def test_pay_in_six_installments_and_back_to_the_shop(shop: Shop, new_context: Any,
                                                      viewport: dict[str, int],
                                                      language: str, amount: int) -> None:
    intent = shop.intent(amount)
    checkout_url = intent["checkout_url"]
    assert checkout_url.startswith(f"{shop.base}/app/checkout/")
    context = new_context(viewport, language)
    page = context.new_page()
    _log_in_at_checkout(page, shop, checkout_url, language)
    assert page.get_by_role("heading", name=TEXT[language]["choose"]).is_visible()
    axe_check(page)
    # Every way to pay, nothing chosen for the shopper.
    radios = page.locator('input[name="choice"]')
    assert radios.count() >= 4
    assert page.locator('input[name="choice"]:checked').count() == 0
    # The figures are the API's for the same customer, intent and language.
    *api_offers, extra = _consumer_offers(shop, intent["id"], language)
    wallet = extra["wallet"]
    shown_wallet = page.locator('[data-field="wallet.available_minor"]')
    assert int(shown_wallet.get_attribute("data-minor")) == wallet["available_minor"]
    assert shown_wallet.inner_text() == money_text(wallet["available_minor"], "CNY", language)
    assert page.locator("#opt-balance").is_disabled() == (
        wallet["available_minor"] < intent["amount_minor"])
    shown = page.locator(".co-credit")
    assert shown.count() == len(api_offers) >= 2
    assert {o["funding"] for o in api_offers} == {"credit_line", "installment_plan"}
    # The same pricing in the same order (each quote has offer ids of its own).
    for i, offer in enumerate(api_offers):
        box = shown.nth(i)
        assert (box.get_attribute("data-funding"), box.get_attribute("data-periods")) == (
            offer["funding"], str(offer["periods"]))
        for field in ("per_period_amount_minor", "total_fee_minor", "total_interest_minor"):
            cell = box.locator(f'[data-field="{field}"]')
            assert int(cell.get_attribute("data-minor")) == offer[field]
            assert cell.inner_text() == money_text(offer[field], "CNY", language)
        assert box.locator('[data-field="apr_percent"]').get_attribute(
            "data-value") == offer["apr_percent"]
        total = offer.get("total_payable_minor") or offer["total_repayable_minor"]
        assert int(box.locator('[data-field="total_payable_minor"]').get_attribute(
            "data-minor")) == total
    # Submitting with nothing picked is refused, naming the choice.
    page.get_by_role("button", name=money_text(amount, "CNY", language)).click()
    assert TEXT[language]["none"] in page.locator("#form-error").inner_text()
    assert page.locator('input[name="choice"]:checked').count() == 0
    axe_check(page)
    # The 6-installment plan's key facts, one tap away, styled under the CSP.
    at6, offer6 = next((i, o) for i, o in enumerate(api_offers)
                       if o["funding"] == "installment_plan" and o["periods"] == 6)
    sent_sha = shown.nth(at6).locator("input[type=radio]").get_attribute("value").rsplit(
        ":", 1)[1]
    shown.nth(at6).locator("a.co-kf").click()
    page.wait_for_url("**/key_facts/**")
    # Exactly the document whose SHA-256 the pay form sends back (as the API's confirm).
    document = page.request.get(page.url).body()
    assert hashlib.sha256(document).hexdigest() == sent_sha
    assert page.locator("html").get_attribute("lang") == language
    # The document's own style applies (its <style> allowed by hash): headings bold.
    assert page.evaluate("getComputedStyle(document.querySelector('th')).borderTopStyle"
                         ) == "solid"
    axe_check(page)
    page.goto(checkout_url)
    # A second tab holds the same form: after paying in the first, it must not pay again.
    stale = context.new_page()
    stale.goto(checkout_url)
    shown.nth(at6).locator("input[type=radio]").check()
    page.get_by_role("button", name=money_text(amount, "CNY", language)).click()
    page.wait_for_load_state()
    assert page.url.startswith(f"{shop.return_base}/return"), page.locator("main").inner_text()
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"shop": ["tea"], "intent_id": [intent["id"]],
                     "status": ["requires_capture"]}
    assert any(intent["id"] in seen for seen in shop.returns)
    assert "payment_intent.authorised" in shop.events(intent["id"])
    # The used link: "already paid", with the receipt; no form to pay again.
    page.goto(checkout_url)
    assert page.locator("[data-status]").inner_text() == TEXT[language]["paid"]
    assert page.locator('input[name="choice"]').count() == 0
    assert page.locator('[data-field="funding"]').get_attribute("data-value") == \
        "installment_plan"
    axe_check(page)
    # The stale form pays nothing: the page says it is paid, no second authorisation.
    stale.locator('input[name="choice"]:not([disabled])').first.check()
    stale.get_by_role("button", name=money_text(amount, "CNY", language)).click()
    stale.wait_for_load_state()
    assert stale.locator("[data-status]").inner_text() == TEXT[language]["paid"]
    assert shop.events(intent["id"]).count("payment_intent.authorised") == 1
    # The merchant captures (as on the webhook): the plan is under My credit.
    page.goto(f"{shop.base}/app/credit")
    before = set(page.locator("article.plan").evaluate_all(
        "nodes => nodes.map(n => n.dataset.account)"))
    shop.capture(intent["id"])
    page.goto(f"{shop.base}/app/credit")
    after = page.locator("article.plan").evaluate_all(
        "nodes => nodes.map(n => n.dataset.account)")
    new = [a for a in after if a not in before]
    assert len(new) == 1
    rows = page.locator(f'article.plan[data-account="{new[0]}"] tbody tr')
    assert rows.count() == offer6.get("installment_count") or 6


def test_a_large_amount_asks_for_the_code_then_pays(shop: Shop, new_context: Any) -> None:
    """At or above the step-up amount the one-time code (from the dev inbox) is asked for,
    then the payment goes through and the shopper is back at the shop."""
    intent = shop.intent(600_000)  # >= PaymentsPolicy.step_up_amount_minor (5 000.00)
    page = new_context(PHONE, "en").new_page()
    _log_in_at_checkout(page, shop, intent["checkout_url"], "en")
    page.locator('input[name="choice"][value^="card:"]').first.check()
    page.get_by_role("button", name=money_text(600_000, "CNY", "en")).click()
    page.wait_for_selector("#code")
    axe_check(page)
    page.locator("#code").fill("000000" if _code(page, shop, "payment") != "000000"
                               else "111111")
    page.locator("form.card button[type=submit]").click()
    assert page.locator("#form-error").is_visible()  # a wrong code: asked again
    page.locator("#code").fill(_code(page, shop, "payment"))
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(f"{shop.return_base}/return**")
    assert parse_qs(urlsplit(page.url).query)["intent_id"] == [intent["id"]]
    assert shop.events(intent["id"]).count("payment_intent.authorised") == 1


def test_no_return_url_shows_a_receipt_and_a_bad_link_is_404(shop: Shop,
                                                             new_context: Any) -> None:
    intent = shop.intent(5_000, return_url=False)
    page = new_context(DESKTOP, "en").new_page()
    _log_in_at_checkout(page, shop, intent["checkout_url"], "en")
    page.locator('input[name="choice"][value^="card:"]').first.check()
    page.get_by_role("button", name=money_text(5_000, "CNY", "en")).click()
    page.wait_for_url(intent["checkout_url"])
    assert page.locator("[data-status]").inner_text() == TEXT["en"]["paid"]
    assert page.locator('[data-field="funding"]').get_attribute("data-value") == "card"
    axe_check(page)
    response = page.goto(f"{shop.base}/app/checkout/{'0' * 64}")
    assert response is not None and response.status == 404
    axe_check(page)
