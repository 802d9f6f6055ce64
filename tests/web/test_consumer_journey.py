"""Issue #15's journey, end to end in a real browser, one person, at a phone viewport in en
and at a desktop viewport in zh-CN: register (code from the dev inbox) -> KYC -> link a
card -> top up -> a merchant's hosted checkout paid in 6 installments with the key facts
opened -> back at the merchant -> the plan under My credit -> repay its first installment.

The credit line is granted by an operator over the JSON API (the journey does not apply:
applying, its consents and a declined application's reasons are
tests/web/test_credit_pages.py; the step-up at checkout is tests/web/test_hosted_checkout.py).
Every page is scanned by axe; the figures are compared with the JSON API's for the same
customer.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from creditpay.formatting import money_text
from tests.api.helpers import GOOD_PAN
from tests.web.conftest import DESKTOP, PHONE, axe_check, switch_language
from tests.web.shop import Shop, running_shop

pytestmark = pytest.mark.browser

PASSWORD = "journey password 1"
AMOUNT_MINOR = 240_000
_serial = itertools.count(1)


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with running_shop() as running:
        yield running


def _code(page: Any, base: str, phone: str) -> str:
    inbox = page.context.new_page()
    inbox.goto(f"{base}/app/dev/inbox?to={phone}")
    code = inbox.locator(".message .code").first.inner_text()
    inbox.close()
    assert re.fullmatch(r"\d{6}", code), code
    return code


def _submit(page: Any) -> None:
    page.locator("main form.card button[type=submit]").last.click()
    page.wait_for_load_state()


def _minor(page: Any, field: str) -> int:
    return int(page.locator(f'[data-field="{field}"]').first.get_attribute("data-minor"))


class _Api:
    """The JSON API as the same customer sees it (its own session, its own device)."""

    def __init__(self, shop: Shop, phone: str) -> None:
        self.client = httpx.Client(base_url=shop.base, timeout=30)
        device = f"journey-api-{uuid.uuid4().hex[:8]}"
        login = self.client.post("/v1/auth/login", headers=self._key(), json={
            "identifier": phone, "password": PASSWORD, "device_id": device}).json()
        if login.get("status") == "step_up_required":
            code = self.client.get("/v1/dev/inbox", params={"to": phone}).json()["data"][0]
            login = self.client.post("/v1/auth/login/verify", headers=self._key(), json={
                "challenge_id": login["challenge_id"], "code": code["code"],
                "device_id": device}).json()
        self.auth = {"Authorization": f"Bearer {login['access_token']}"}

    @staticmethod
    def _key() -> dict[str, str]:
        return {"Idempotency-Key": uuid.uuid4().hex}

    def get(self, path: str) -> Any:
        response = self.client.get(path, headers=self.auth)
        assert response.status_code == 200, response.text
        return response.json()


def _grant_line(shop: Shop, customer_id: str) -> None:
    with shop.api() as client:
        response = client.post(
            f"/v1/operator/customers/{customer_id}/credit_line",
            json={"limit_minor": 1_000_000, "product_code": "huabei"},
            headers={"Authorization": f"Bearer {shop.admin_token}",
                     "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text


def _deliver_card_callbacks(shop: Shop) -> None:
    """What the card network does a moment later (the server runs without its job loop)."""
    with shop.api() as client:
        response = client.post("/v1/operator/jobs/card_rail", json={}, headers={
            "Authorization": f"Bearer {shop.admin_token}", "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("viewport", "language"), [(PHONE, "en"), (DESKTOP, "zh-CN")],
                         ids=["phone-en", "desktop-zh-CN"])
def test_register_kyc_card_top_up_pay_in_six_installments_and_repay(
        shop: Shop, new_context: Any, viewport: dict[str, int], language: str) -> None:
    base, n = shop.base, next(_serial)
    phone = f"1398765{n:04d}"
    context = new_context(viewport, language)
    page = context.new_page()

    # Register, with the code the notifier sent (the dev inbox in development).
    page.goto(f"{base}/app/register")
    switch_language(page, language)
    axe_check(page)
    page.locator("#identifier").fill(phone)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password_again").fill(PASSWORD)
    _submit(page)
    page.wait_for_url(f"{base}/app/register/verify")
    page.locator("#code").fill(_code(page, base, phone))
    _submit(page)
    page.wait_for_url(re.compile(r"/app/login\?registered=1$"))
    page.locator("#identifier").fill(phone)
    page.locator("#password").fill(PASSWORD)
    _submit(page)
    if "/app/login/verify" in page.url:  # a browser the account has not seen
        page.locator("#code").fill(_code(page, base, phone))
        _submit(page)
    page.wait_for_url(f"{base}/app/home")
    axe_check(page)
    api = _Api(shop, phone)

    # KYC: verified, shown masked as the API shows it.
    page.goto(f"{base}/app/kyc")
    page.locator("#legal_name").fill("Li Lei")
    page.locator("#id_number").fill(f"E{70_000_000 + n:08d}")
    page.locator("#date_of_birth").fill("1990-05-06")
    _submit(page)
    page.wait_for_url(re.compile(r"/app/kyc\?verified=1$"))
    me = api.get("/v1/me")
    assert me["kyc_status"] == "verified"
    assert page.locator('[data-field="id_number"]').first.inner_text().strip() == \
        me["id_number"]
    axe_check(page)

    # A card, then a top-up of 500.00 settled by the card network.
    page.goto(f"{base}/app/cards")
    page.locator("#pan").fill(GOOD_PAN)
    page.locator("#expiry_month").fill("12")
    page.locator("#expiry_year").fill("2099")
    _submit(page)
    page.wait_for_url(re.compile(r"/app/cards\?done=linked$"))
    axe_check(page)
    page.goto(f"{base}/app/wallet/top-up")
    page.locator("#amount_minor").fill("500.00")
    _submit(page)
    _deliver_card_callbacks(shop)
    page.goto(f"{base}/app/wallet")
    wallet = api.get("/v1/me/wallet")
    assert wallet["balance_minor"] == 50_000 == _minor(page, "wallet.balance_minor")
    axe_check(page)

    # The line is granted (by an operator); the merchant sends the shopper to pay.
    _grant_line(shop, me["id"])
    intent = shop.intent(AMOUNT_MINOR + n)
    page.goto(intent["checkout_url"])
    axe_check(page)
    assert page.locator('input[name="choice"]:checked').count() == 0  # nothing preselected
    sixes = page.locator('.co-credit[data-funding="installment_plan"][data-periods="6"]')
    # The plan without a down payment: six installments, the whole amount on credit.
    plan = next(box for box in sixes.all()
                if box.locator('[data-field="down_payment_minor"]').count() == 0
                or box.locator('[data-field="down_payment_minor"]').get_attribute(
                    "data-minor") == "0")
    sent_sha = plan.locator("input[type=radio]").get_attribute("value").rsplit(":", 1)[1]
    plan.locator("a.co-kf").click()
    page.wait_for_url("**/key_facts/**")
    assert hashlib.sha256(page.request.get(page.url).body()).hexdigest() == sent_sha
    axe_check(page)
    page.goto(intent["checkout_url"])
    plan.locator("input[type=radio]").check()
    page.get_by_role("button", name=money_text(AMOUNT_MINOR + n, "CNY", language)).click()
    page.wait_for_url(f"{shop.return_base}/return**")
    assert parse_qs(urlsplit(page.url).query)["intent_id"] == [intent["id"]]
    shop.capture(intent["id"])

    # My credit shows the plan, with the API's schedule.
    page.goto(f"{base}/app/credit")
    accounts = [a for a in api.get("/v1/me/credit_accounts")["data"] if a["kind"] == "plan"]
    assert len(accounts) == 1
    account = accounts[0]["account_id"]
    schedule = api.get(f"/v1/me/credit_accounts/{account}/installments")["data"]
    rows = page.locator(f'article.plan[data-account="{account}"] tbody tr')
    assert rows.count() == len(schedule) == 6
    assert [int(rows.nth(i).locator("td").nth(1).get_attribute("data-minor"))
            for i in range(rows.count())] == [r["total_minor"] for r in schedule]
    axe_check(page)

    # Repay its first installment from the wallet.
    first = schedule[0]
    page.goto(f"{base}/app/credit/repay")
    section = page.locator(f'section[data-account="{account}"]')
    assert int(section.locator("label strong").first.get_attribute("data-minor")) == \
        first["total_minor"] - first["paid_minor"]
    section.locator("button[type=submit]").click()
    page.wait_for_selector("[data-repayment]")
    axe_check(page)
    after = api.get("/v1/me/wallet")
    assert wallet["available_minor"] - after["available_minor"] == \
        first["total_minor"] - first["paid_minor"]
