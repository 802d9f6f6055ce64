"""Paying abroad (issue #21) in a real browser on a real ``creditpay serve``: a Japanese shop's
hosted checkout shows the consumer the CNY cost first (mid rate, our rate, markup, total in
CNY, locked until a time), every way to pay is priced in CNY, paying sends the quote shown,
and the receipt shows the same conversion; on a phone, in en and zh-CN, axe-clean."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.config import Settings
from creditpay.devtools.apiserver import running_api_server
from creditpay.formatting import money_text
from creditpay.parties.service import Principal
from creditpay.platform.keys import LocalMasterKey, encode_key, generate_key_bytes
from tests.web.conftest import PHONE, axe_check, switch_language
from tests.web.seed import CREDIT_PASSWORD, CREDIT_PHONE, seed

pytestmark = pytest.mark.browser

CURRENCIES = "CNY,JPY"
SHOTS = Path(tempfile.gettempdir()) / "creditpay-cross-border-shots"


@contextlib.contextmanager
def _japanese_shop() -> Iterator[tuple[str, str]]:
    """(server base URL, the JPY merchant's API key) on a seeded database."""
    with tempfile.TemporaryDirectory(prefix="creditpay-abroad-") as folder:
        url = f"sqlite:///{Path(folder) / 'web.db'}"
        master = generate_key_bytes()
        seed(url, master)
        app = create_app(Settings.of(database_url=url, currencies=CURRENCIES),
                         config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
        rt = app.state.runtime
        try:
            admin = rt.uow.run(lambda tx: rt.parties.create_operator(
                tx, name="abroad", role="admin"))
            made = rt.uow.run(lambda tx: rt.parties.onboard_merchant(
                tx, Principal("operator", admin["id"], role="admin"), name="Kyoto Tea Shop",
                mcc="5499", discount_rate="0.01", settlement_currency="JPY", country="JP"))
        finally:
            rt.close()
        with running_api_server(url, encode_key(master), env={
                "CREDITPAY_DEV_INBOX": "true", "CREDITPAY_CURRENCIES": CURRENCIES}) as base:
            yield base, str(made["api_key"]["key"])


@pytest.fixture(scope="module")
def japan() -> Iterator[tuple[str, str]]:
    with _japanese_shop() as shop:
        yield shop


def _intent(base: str, key: str, amount_minor: int) -> dict[str, Any]:
    import httpx

    with httpx.Client(base_url=base, timeout=30) as client:
        response = client.post("/v1/payment_intents", json={
            "amount_minor": amount_minor, "currency": "JPY",
            "order_id": f"jp-{uuid.uuid4().hex[:12]}", "description": "Matcha set"},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _log_in(page: Any, base: str, checkout_url: str) -> None:
    page.goto(checkout_url)
    axe_check(page)
    page.locator("a[href^='/app/login']").first.click()
    page.locator("#identifier").fill(CREDIT_PHONE)
    page.locator("#password").fill(CREDIT_PASSWORD)
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url("**/app/login/verify**")
    inbox = page.context.new_page()
    inbox.goto(f"{base}/app/dev/inbox?to={CREDIT_PHONE}")
    code = inbox.locator('.message[data-purpose="login"] .code').first.inner_text()
    inbox.close()
    page.locator("#code").fill(code)
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(checkout_url)


def test_the_cny_cost_is_shown_first_and_paid_as_shown(japan: tuple[str, str],
                                                       new_context: Any) -> None:
    base, key = japan
    intent = _intent(base, key, 20_000)  # JPY has no minor unit: ¥20,000
    page = new_context(PHONE, "en").new_page()
    _log_in(page, base, intent["checkout_url"])
    switch_language(page, "en")
    box = page.locator("section.co-fx")
    assert box.is_visible()
    quote_id = box.get_attribute("data-quote")
    sell = int(page.locator('[data-field="fx.sell_amount_minor"]').get_attribute("data-minor"))
    assert money_text(sell, "CNY", "en") in box.inner_text()
    assert page.locator('[data-field="fx.buy_amount_minor"]').inner_text() == money_text(
        20_000, "JPY", "en")
    for field in ("fx.mid_rate", "fx.client_rate"):
        assert page.locator(f'[data-field="{field}"]').get_attribute("data-value")
    assert "locked for you until" in box.inner_text()
    # Every way to pay is in CNY; the form sends back the quote shown.
    assert page.locator('input[name="quote_id"]').get_attribute("value") == quote_id
    pay = page.get_by_role("button", name=money_text(sell, "CNY", "en"))
    assert pay.is_visible()
    axe_check(page)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "checkout-phone-en.png"), full_page=True)
    switch_language(page, "zh-CN")
    assert "货币换算" in page.locator("section.co-fx").inner_text()
    axe_check(page)
    page.screenshot(path=str(SHOTS / "checkout-phone-zh-CN.png"), full_page=True)
    switch_language(page, "en")
    page.locator('input[name="choice"][value^="card:"]').first.check()
    page.get_by_role("button", name=money_text(sell, "CNY", "en")).click()
    page.wait_for_url(intent["checkout_url"])
    # The receipt: the same conversion, accepted.
    receipt = page.locator("section.co-fx")
    assert receipt.get_attribute("data-quote") == quote_id
    assert int(page.locator('[data-field="fx.total"]').get_attribute("data-minor")) == sell
    axe_check(page)
    page.screenshot(path=str(SHOTS / "receipt-phone-en.png"), full_page=True)
    # A payment that needs a one-time code: the code page's button names the same CNY
    # amount as the choice page (not the merchant's yen).
    large = _intent(base, key, 200_000)  # about 9,400 CNY: above the 5,000 CNY step-up
    page.goto(large["checkout_url"])
    big = int(page.locator('[data-field="fx.sell_amount_minor"]').get_attribute("data-minor"))
    page.locator('input[name="choice"][value^="card:"]').first.check()
    page.get_by_role("button", name=money_text(big, "CNY", "en")).click()
    page.locator("#code").wait_for()
    assert page.get_by_role("button", name=money_text(big, "CNY", "en")).is_visible()
    assert page.locator('input[name="quote_id"]').get_attribute("value")
    axe_check(page)
    page.screenshot(path=str(SHOTS / "code-phone-en.png"), full_page=True)
