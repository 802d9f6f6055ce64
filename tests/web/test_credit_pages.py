"""The credit pages (web/credit_pages.py) in a real browser on a real ``creditpay serve``:
repay (the bill's minimum and whole amount, a plan's next installment, a double submit
that repays once), the auto-debit switch with its consent, applying (approved with limit
and product, declined with the API's reasons), the credit score and consents. Every
figure is checked against the JSON API for the same customer; axe on every page."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from creditpay.formatting import money_text
from creditpay.platform.keys import generate_key_bytes
from tests.web.conftest import (
    DESKTOP,
    PHONE,
    WebServer,
    axe_check,
    log_in,
    running_server,
)
from tests.web.seed_credit import (
    DEVICE,
    PASSWORD,
    REFERRED,
    borrower,
    declined,
    seed_credit,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def credit_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-credit-") as folder:
        url = f"sqlite:///{Path(folder) / 'credit.db'}"
        master = generate_key_bytes()
        seeded = seed_credit(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, seeded)


class Api:
    """The JSON API as the same customer (logged in from the seeded device)."""

    def __init__(self, base: str, phone: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=30)
        session = self.client.post("/v1/auth/login", json={
            "identifier": phone, "password": PASSWORD, "device_id": DEVICE},
            headers={"Idempotency-Key": uuid.uuid4().hex}).json()
        assert session["status"] == "authenticated", session
        self.auth = {"Authorization": f"Bearer {session['access_token']}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, headers=self.auth, params=params).raise_for_status().json()

    def post(self, path: str, body: dict[str, Any], key: str) -> httpx.Response:
        return self.client.post(path, json=body, headers={**self.auth, "Idempotency-Key": key})

    def bill(self) -> dict[str, Any]:
        line = self.get("/v1/me/credit_line")
        return self.get(f"/v1/me/credit_accounts/{line['line_id']}/statements")["data"][-1]

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def api_for(credit_server: WebServer) -> Iterator[Any]:
    made: list[Api] = []

    def make(phone: str) -> Api:
        made.append(Api(credit_server.base, phone))
        return made[-1]

    yield make
    for api in made:
        api.close()


def _minor(page: Any, selector: str) -> int:
    return int(page.locator(selector).first.get_attribute("data-minor"))


def _check_allocation(page: Any, replay: dict[str, Any], language: str) -> None:
    """The result page shows the API's allocation, value and formatting."""
    for field in ("amount_minor", "principal_minor", "interest_minor", "fee_minor",
                  "penalty_minor", "prepayment_minor", "wallet_available_minor"):
        cell = page.locator(f'[data-field="{field}"]')
        assert int(cell.get_attribute("data-minor")) == replay[field], field
        assert cell.inner_text().strip() == money_text(replay[field], "CNY", language), field
    rows = page.locator("tbody tr")
    assert rows.count() == len(replay["accounts"])
    for account in replay["accounts"]:
        row = page.locator(f'tbody tr[data-account="{account["account_id"]}"] td')
        assert [int(row.nth(i).get_attribute("data-minor")) for i in range(4)] == \
            [account[k] for k in ("principal", "interest", "fee", "penalty")]


@pytest.mark.parametrize(("n", "viewport", "language", "choice"), [
    (0, PHONE, "en", "minimum"), (1, DESKTOP, "zh-CN", "whole"), (11, PHONE, "zh-CN", "bill")])
def test_repay_the_bill_minimum_or_the_line_in_full_shows_the_api_s_allocation(
        credit_server: WebServer, new_context: Any, api_for: Any, n: int,
        viewport: dict[str, int], language: str, choice: str) -> None:
    base, phone = credit_server.base, borrower(n)
    api = api_for(phone)
    bill = api.bill()
    wallet_before = api.get("/v1/me/wallet")["available_minor"]
    page = log_in(new_context(viewport, language), base, phone, PASSWORD, language)
    page.goto(f"{base}/app/credit")
    axe_check(page)
    page.locator('a[href="/app/credit/repay"]').click()
    page.wait_for_url(f"{base}/app/credit/repay")
    assert _minor(page, '[data-field="wallet.available_minor"]') == wallet_before
    # The options are the API's figures: the bill's minimum, the line's payoff.
    payoff = api.get(f"/v1/me/credit_accounts/{bill['account_id']}/payoff")["payoff_minor"]
    assert _minor(page, '[data-field="bill.closing_balance_minor"]') == \
        bill["closing_balance_minor"]
    assert _minor(page, "label[for=repay-bill-1] strong") == bill["minimum_payment_minor"]
    # The bill in full: the line's own bill and the plan installment it shows.
    in_full = api.get("/v1/me/credit_line")["bill_in_full_minor"]
    assert in_full > bill["minimum_payment_minor"]
    assert _minor(page, "label[for=repay-bill-2] strong") == in_full
    assert _minor(page, "label[for=repay-line-1] strong") == payoff
    axe_check(page)
    if choice == "minimum":
        form, amount, body = page.locator("form#repay-bill"), bill["minimum_payment_minor"], {}
    elif choice == "bill":
        form, amount, body = page.locator("form#repay-bill"), in_full, {}
        form.locator("#repay-bill-2").check()
    else:
        form, amount = page.locator("form#repay-line"), payoff
        body = {"account_id": bill["account_id"]}
    key = form.locator('input[name="once"]').input_value()
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-repayment]")
    axe_check(page)
    # The same key through the JSON API replays the very repayment the page made.
    replayed = api.post("/v1/me/credit_repayments", {"amount_minor": amount,
                                                     "currency": "CNY", **body}, key)
    assert replayed.status_code == 201 and replayed.headers["idempotent-replayed"] == "true"
    _check_allocation(page, replayed.json(), language)
    assert replayed.json()["amount_minor"] == amount
    assert api.get("/v1/me/wallet")["available_minor"] == wallet_before - amount
    if choice == "whole":
        assert api.get(f"/v1/me/credit_accounts/{bill['account_id']}/payoff")[
            "payoff_minor"] == 0
    if choice == "bill":
        assert api.get("/v1/me/credit_line")["bill_in_full_minor"] == 0
        shown = [line for line in bill["lines"] if line["kind"] == "installment"]
        assert shown
        for line in shown:
            rows = api.get(f"/v1/me/credit_accounts/{line['account_id']}/installments")["data"]
            assert next(r for r in rows if r["due_date"] == line["due_date"])[
                "status"] == "paid"


def test_a_double_submit_repays_once(credit_server: WebServer, new_context: Any,
                                     api_for: Any) -> None:
    base, phone = credit_server.base, borrower(2)
    api = api_for(phone)
    wallet_before = api.get("/v1/me/wallet")["available_minor"]
    context = new_context(PHONE, "en")
    page = log_in(context, base, phone, PASSWORD, "en")
    page.goto(f"{base}/app/credit/repay")
    form = page.locator("form#repay-bill")
    fields = {name: form.locator(f'input[name="{name}"]').input_value()
              for name in ("csrf_token", "once")}
    posted = {**fields, "choice": "other", "amount": "123.45"}
    first = page.request.post(f"{base}/app/credit/repay", form=posted)
    second = page.request.post(f"{base}/app/credit/repay", form=posted)
    assert first.status == second.status == 200
    assert 'data-minor="12345"' in first.text() and 'data-minor="12345"' in second.text()
    assert api.get("/v1/me/wallet")["available_minor"] == wallet_before - 12_345
    # The form itself, sent twice by a double click: the second POST carries the same key.
    page.goto(f"{base}/app/credit/repay")
    form = page.locator("form#repay-bill")
    form.locator("#repay-bill-other").check()
    form.locator("#amount-bill").fill("1.00")
    with page.expect_navigation():
        form.evaluate("f => { f.requestSubmit(); f.requestSubmit(); }")
    page.wait_for_selector("[data-repayment]")
    assert api.get("/v1/me/wallet")["available_minor"] == wallet_before - 12_345 - 100


@pytest.mark.parametrize("typed", ["abc", "0", "-5", "1.234"])
def test_a_bad_amount_is_named_and_changes_nothing(credit_server: WebServer, new_context: Any,
                                                   api_for: Any, typed: str) -> None:
    base, phone = credit_server.base, borrower(3)
    api = api_for(phone)
    wallet_before = api.get("/v1/me/wallet")["available_minor"]
    page = log_in(new_context(PHONE, "zh-CN"), base, phone, PASSWORD, "zh-CN")
    page.goto(f"{base}/app/credit/repay")
    form = page.locator("form#repay-bill")
    form.locator("#repay-bill-other").check()
    form.locator("#amount-bill").fill(typed)
    form.locator("button[type=submit]").click()
    error = page.locator("#amount-bill-error")
    assert error.inner_text() == "请输入大于零的金额（元），例如 12.34。"
    assert page.locator("#amount-bill").get_attribute("aria-describedby") == "amount-bill-error"
    axe_check(page)
    assert api.get("/v1/me/wallet")["available_minor"] == wallet_before


def test_repay_the_next_installment_of_a_plan(credit_server: WebServer, new_context: Any,
                                               api_for: Any) -> None:
    base, phone = credit_server.base, borrower(4)
    api = api_for(phone)
    plan = next(a for a in api.get("/v1/me/credit_accounts")["data"] if a["kind"] == "plan")
    schedule = api.get(f"/v1/me/credit_accounts/{plan['account_id']}/installments")["data"]
    # The first installment still to pay (a plan's down payment is paid at the purchase).
    first = next(r for r in schedule if r["status"] != "paid")
    payoff = api.get(f"/v1/me/credit_accounts/{plan['account_id']}/payoff")["payoff_minor"]
    page = log_in(new_context(DESKTOP, "en"), base, phone, PASSWORD, "en")
    page.goto(f"{base}/app/credit/repay")
    section = page.locator(f'section[data-account="{plan["account_id"]}"]')
    assert _minor(section, "label strong") == first["total_minor"] - first["paid_minor"]
    assert _minor(section, "label >> nth=1 >> strong") == payoff
    key = section.locator('input[name="once"]').input_value()
    section.locator("button[type=submit]").click()
    page.wait_for_selector("[data-repayment]")
    replayed = api.post("/v1/me/credit_repayments", {
        "amount_minor": first["total_minor"] - first["paid_minor"], "currency": "CNY",
        "account_id": plan["account_id"]}, key).json()
    _check_allocation(page, replayed, "en")
    # Nothing is due on the plan yet, so the API takes this as a prepayment: interest to
    # date, then principal, and the installments left are recomputed (lower).
    assert replayed["amount_minor"] == first["total_minor"] - first["paid_minor"]
    left = api.get(f"/v1/me/credit_accounts/{plan['account_id']}/installments")["data"]

    def principal_left(rows: list[dict[str, Any]]) -> int:
        return sum(r["principal_minor"] for r in rows if r["status"] != "paid")

    assert principal_left(schedule) - principal_left(left) == replayed["principal_minor"] > 0
    page.goto(f"{base}/app/credit")
    rows = page.locator(f'article.plan[data-account="{plan["account_id"]}"] tbody tr')
    assert [int(rows.nth(i).locator("td").nth(1).get_attribute("data-minor"))
            for i in range(rows.count())] == [r["total_minor"] for r in left]


def test_auto_debit_asks_for_the_consent_then_switches(credit_server: WebServer,
                                                       new_context: Any, api_for: Any) -> None:
    base, phone = credit_server.base, borrower(5)
    api = api_for(phone)
    page = log_in(new_context(PHONE, "zh-CN"), base, phone, PASSWORD, "zh-CN")
    page.goto(f"{base}/app/credit")
    line_id = api.get("/v1/me/credit_line")["line_id"]
    switch = page.locator(f'form.switch[data-account="{line_id}"]')
    assert switch.locator('[data-field="auto_debit"]').get_attribute("data-value") == "false"
    switch.locator("button").click()
    # No consent yet: the text of the current version, in the person's language.
    text = api.get("/v1/me/consent_texts/auto_debit", language="zh-CN")
    assert page.locator("#text-auto_debit").inner_text().strip() == text["text"].strip()
    axe_check(page)
    page.locator('button[name="agree"]').click()
    assert page.locator('[data-field="auto_debit_enabled"]').get_attribute("data-value") == \
        "true"
    consents = api.get("/v1/me/consents")["data"]
    assert [(c["purpose"], c["granted"], c["text_sha256"]) for c in consents] == \
        [("auto_debit", True, text["text_sha256"])]
    page.goto(f"{base}/app/credit")
    switch = page.locator(f'form.switch[data-account="{line_id}"]')
    assert switch.locator('[data-field="auto_debit"]').get_attribute("data-value") == "true"
    switch.locator("button").click()
    assert page.locator('[data-field="auto_debit_enabled"]').get_attribute("data-value") == \
        "false"


@pytest.mark.parametrize(("n", "viewport", "language"), [(0, PHONE, "en"),
                                                         (1, DESKTOP, "zh-CN")])
def test_apply_approved_shows_limit_and_product_then_the_score(
        credit_server: WebServer, new_context: Any, api_for: Any, n: int,
        viewport: dict[str, int], language: str) -> None:
    base, phone = credit_server.base, credit_server.seeded["applicants"][n]
    page = log_in(new_context(viewport, language), base, phone, PASSWORD, language)
    page.goto(f"{base}/app/credit")
    page.locator('a[href="/app/credit/apply"]').click()
    page.wait_for_url(f"{base}/app/credit/apply")
    api = api_for(phone)
    for purpose in ("bureau_inquiry", "credit_assessment"):
        text = api.get(f"/v1/me/consent_texts/{purpose}", language=language)
        assert page.locator(f"#text-{purpose}").inner_text().strip() == text["text"].strip()
    axe_check(page)
    page.locator("#income").fill("25000")
    page.locator("#employment").select_option("salaried")
    page.locator("#housing").select_option("rent")
    page.locator("#obligations").fill("1000.00")
    # Without ticking the consents, nothing is applied for: the box is named.
    page.locator("form.card button[type=submit]").click()
    assert page.locator("#agree-bureau_inquiry-error").is_visible()
    assert api.get("/v1/me/credit_applications")["data"] == []
    axe_check(page)
    page.locator("#income").fill("25000")
    page.locator("#employment").select_option("salaried")
    page.locator("#agree-bureau_inquiry").check()
    page.locator("#agree-credit_assessment").check()
    page.locator("form.card button[type=submit]").click()
    decision = page.locator("section.decision")
    assert decision.get_attribute("data-outcome") == "approve", decision.inner_text()
    shown = api.get("/v1/me/credit_applications", lang=language)["data"]
    assert len(shown) == 1 and shown[0]["outcome"] == "approve"
    assert _minor(decision, '[data-field="limit_minor"]') == shown[0]["limit_minor"]
    assert decision.locator('[data-field="limit_minor"]').inner_text() == money_text(
        shown[0]["limit_minor"], "CNY", language)
    assert decision.locator('[data-field="line_product_code"]').get_attribute(
        "data-value") == shown[0]["line_product_code"]
    assert api.get("/v1/me/credit_line")["limit_minor"] == shown[0]["limit_minor"]
    axe_check(page)
    page.goto(f"{base}/app/credit/score")
    score = api.get("/v1/me/credit_score", lang=language)
    assert int(page.locator('[data-field="score"]').get_attribute("data-value")) == \
        score["score"]
    assert page.locator('[data-field="band"]').inner_text() == score["band"]
    assert page.locator(".factors").first.locator("li").all_inner_texts() == \
        [f["text"] for f in score["factors"]]
    axe_check(page)


@pytest.mark.parametrize(("n", "language"), [(0, "en"), (1, "zh-CN")])
def test_apply_declined_shows_the_api_s_reasons(credit_server: WebServer, new_context: Any,
                                                api_for: Any, n: int, language: str) -> None:
    base, phone = credit_server.base, declined(n)
    page = log_in(new_context(PHONE, language), base, phone, PASSWORD, language)
    page.goto(f"{base}/app/credit/apply")
    page.locator("#agree-bureau_inquiry").check()
    page.locator("#agree-credit_assessment").check()
    page.locator("#income").fill("25000")
    page.locator("#employment").select_option("salaried")
    page.locator("form.card button[type=submit]").click()
    decision = page.locator("section.decision")
    assert decision.get_attribute("data-outcome") == "decline"
    api = api_for(phone)
    shown = api.get("/v1/me/credit_applications", lang=language)["data"][0]
    reasons = decision.locator(".reasons li")
    assert reasons.all_inner_texts() == [r["text"] for r in shown["reasons"]]
    assert reasons.first.get_attribute("data-code") == "KO_AGE"
    axe_check(page)
    # A later visit shows the decision again.
    page.goto(f"{base}/app/credit/apply")
    assert page.locator("section.decision").get_attribute("data-outcome") == "decline"


def test_consents_withdraw(credit_server: WebServer, new_context: Any, api_for: Any) -> None:
    base, phone = credit_server.base, credit_server.seeded["applicants"][2]
    page = log_in(new_context(DESKTOP, "en"), base, phone, PASSWORD, "en")
    page.goto(f"{base}/app/consents")
    axe_check(page)
    page.locator('form[action="/app/consents/grant"]:has(input[value="marketing"]) '
                 "button").click()
    api = api_for(phone)
    granted = {c["purpose"]: c for c in api.get("/v1/me/consents")["data"]}
    assert granted["marketing"]["granted"] is True
    row = page.locator('article.consent-row[data-purpose="marketing"]')
    assert row.get_attribute("data-granted") == "true"
    axe_check(page)
    row.locator("button").click()
    assert page.locator('article.consent-row[data-purpose="marketing"]').get_attribute(
        "data-granted") == "false"
    after = {c["purpose"]: c for c in api.get("/v1/me/consents")["data"]}
    assert after["marketing"]["granted"] is False and after["marketing"]["revoked_at"]


def test_consent_to_share_with_a_partner_lender(credit_server: WebServer, new_context: Any,
                                                api_for: Any) -> None:
    """Issue #17: the consumer agrees, partner by partner, to share payment data; the text
    names the partner by its registered name, and withdrawing works as for any consent."""
    base, phone = credit_server.base, credit_server.seeded["applicants"][3]
    partner_id = credit_server.seeded["partner_id"]
    api = api_for(phone)
    text = api.get("/v1/me/consent_texts/share_payment_data_with_partner", language="zh-CN",
                   partner_id=partner_id)
    page = log_in(new_context(PHONE, "zh-CN"), base, phone, PASSWORD, "zh-CN")
    page.goto(f"{base}/app/consents")
    form = page.locator(f'form[data-partner="{partner_id}"]')
    assert form.locator("h3").inner_text() == "Example Bank"
    assert form.locator(f"#text-partner-{partner_id}").inner_text().strip() == \
        text["text"].strip()
    axe_check(page)
    page.screenshot(path="/tmp/partner-consents.png", full_page=True)
    form.locator("button").click()
    shared = [c for c in api.get("/v1/me/consents")["data"]
              if c["purpose"] == "share_payment_data_with_partner"]
    assert [(c["partner_id"], c["partner_name"], c["granted"], c["text_sha256"])
            for c in shared] == [(partner_id, "Example Bank", True, text["text_sha256"])]
    assert page.locator(f'form[data-partner="{partner_id}"]').count() == 0
    row = page.locator('article.consent-row[data-purpose="share_payment_data_with_partner"]')
    assert row.get_attribute("data-granted") == "true"
    axe_check(page)
    row.locator("button").click()
    shared = [c for c in api.get("/v1/me/consents")["data"]
              if c["purpose"] == "share_payment_data_with_partner"]
    assert shared[0]["granted"] is False


def test_withdraw_from_a_plan_within_14_days(credit_server: WebServer, new_context: Any,
                                             api_for: Any) -> None:
    base, phone = credit_server.base, borrower(6)
    api = api_for(phone)
    plan = next(a for a in api.get("/v1/me/credit_accounts")["data"] if a["kind"] == "plan")
    wallet_before = api.get("/v1/me/wallet")["available_minor"]
    page = log_in(new_context(PHONE, "zh-CN"), base, phone, PASSWORD, "zh-CN")
    page.goto(f"{base}/app/credit")
    page.locator(f'article.plan[data-account="{plan["account_id"]}"] '
                 'a[href^="/app/credit/withdraw"]').click()
    axe_check(page)
    key = page.locator('input[name="once"]').input_value()
    page.locator("form.card button[type=submit]").click()
    page.wait_for_selector("[data-withdrawal]")
    axe_check(page)
    replayed = api.client.post(f"/v1/me/credit_accounts/{plan['account_id']}/withdraw",
                               headers={**api.auth, "Idempotency-Key": key})
    assert replayed.status_code == 200 and replayed.headers["idempotent-replayed"] == "true"
    result = replayed.json()
    for field in ("amount_due_minor", "refund_minor", "principal_minor", "interest_minor",
                  "paid_before_minor", "limit_restored_minor"):
        cell = page.locator(f'[data-field="{field}"]')
        assert int(cell.get_attribute("data-minor")) == result[field], field
        assert cell.inner_text() == money_text(result[field], "CNY", "zh-CN"), field
    assert api.get("/v1/me/wallet")["available_minor"] == \
        wallet_before - result["amount_due_minor"] + result["refund_minor"]
    accounts = {a["account_id"]: a for a in api.get("/v1/me/credit_accounts")["data"]}
    assert accounts[plan["account_id"]]["status"] == "closed"


def test_file_a_complaint_and_see_its_status(credit_server: WebServer, new_context: Any,
                                             api_for: Any) -> None:
    base, phone = credit_server.base, borrower(7)
    api = api_for(phone)
    line_id = api.get("/v1/me/credit_line")["line_id"]
    page = log_in(new_context(DESKTOP, "en"), base, phone, PASSWORD, "en")
    page.goto(f"{base}/app/credit")
    page.locator('a[href="/app/complaints"]').click()
    axe_check(page)
    # Without a category nothing is filed, and the error says what to choose.
    page.locator("form.card button[type=submit]").click()
    assert page.locator("#form-error").inner_text() == "Choose what your complaint is about."
    assert api.get("/v1/me/complaints")["data"] == []
    page.locator("#category").select_option("repayment_and_billing")
    page.locator("#about").select_option(f"credit_account:{line_id}")
    page.locator("form.card button[type=submit]").click()
    filed = api.get("/v1/me/complaints")["data"]
    assert [(c["category"], c["subject_type"], c["subject_id"], c["channel"], c["status"])
            for c in filed] == [("repayment_and_billing", "credit_account", line_id, "app",
                                 "open")]
    shown = page.locator(f'article.complaint[data-id="{filed[0]["id"]}"]')
    assert shown.get_attribute("data-status") == "open"
    assert "received" in shown.inner_text()
    axe_check(page)
    # No credit decision yet (the line was granted by an operator): no score, as the API.
    assert api.client.get("/v1/me/credit_score", headers=api.auth).status_code == 404
    page.goto(f"{base}/app/credit/score")
    assert page.locator('[data-field="score"]').count() == 0
    assert "no credit score yet" in page.locator("main").inner_text()
    axe_check(page)


@pytest.mark.parametrize(("n", "viewport", "language"), [(8, PHONE, "zh-CN"),
                                                         (9, DESKTOP, "en")])
def test_convert_the_bill_shows_the_api_s_offers_and_converts(
        credit_server: WebServer, new_context: Any, api_for: Any, n: int,
        viewport: dict[str, int], language: str) -> None:
    base, phone = credit_server.base, borrower(n)
    api = api_for(phone)
    bill = api.bill()
    quote = api.get(f"/v1/me/statements/{bill['statement_id']}/installment_offers")
    page = log_in(new_context(viewport, language), base, phone, PASSWORD, language)
    page.goto(f"{base}/app/credit")
    page.locator('a[href="/app/credit/convert"]').click()
    page.wait_for_url(f"{base}/app/credit/convert")
    assert _minor(page, '[data-field="convertible_minor"]') == quote["convertible_minor"]
    offers = page.locator("article.offer")
    assert offers.count() == len(quote["offers"]) > 0
    for offer in quote["offers"]:
        card = page.locator(f'article.offer[data-periods="{offer["periods"]}"]')
        for field in ("per_period_amount_minor", "fee_per_period_minor", "total_fee_minor",
                      "total_repayable_minor"):
            cell = card.locator(f'[data-field="{field}"]')
            assert int(cell.get_attribute("data-minor")) == offer[field], field
            assert cell.inner_text() == money_text(offer[field], "CNY", language), field
        assert card.locator('[data-field="apr_percent"]').inner_text() == \
            f'{offer["apr_percent"]}%'
    axe_check(page)
    chosen = quote["offers"][0]
    card = page.locator(f'article.offer[data-periods="{chosen["periods"]}"]')
    card.locator("summary").click()  # the key facts, one tap away
    assert card.locator("tbody tr").count() == len(chosen["schedule"])
    axe_check(page)
    key = card.locator('input[name="once"]').input_value()
    card.locator("button[type=submit]").click()
    page.wait_for_selector("[data-conversion]")
    axe_check(page)
    replayed = api.post(f"/v1/me/statements/{bill['statement_id']}/installments",
                        {"amount_minor": quote["amount_minor"],
                         "periods": chosen["periods"]}, key)
    assert replayed.status_code == 201 and replayed.headers["idempotent-replayed"] == "true"
    converted = replayed.json()
    assert _minor(page, '[data-field="total_fee_minor"]') == converted["total_fee_minor"] == \
        chosen["total_fee_minor"]
    assert converted["plan_account_id"] in {
        a["account_id"] for a in api.get("/v1/me/credit_accounts")["data"]}


def test_cash_loan_from_its_key_facts(credit_server: WebServer, new_context: Any,
                                      api_for: Any) -> None:
    base, phone = credit_server.base, borrower(10)
    api = api_for(phone)
    wallet_before = api.get("/v1/me/wallet")["available_minor"]
    context = new_context(PHONE, "en")
    page = log_in(context, base, phone, PASSWORD, "en")
    page.goto(f"{base}/app/credit")
    page.locator('a[href="/app/credit/loans"]').click()
    axe_check(page)
    page.locator("#amount").fill("12.345")
    page.locator("form.card button[type=submit]").click()
    assert page.locator("#amount-error").inner_text() == \
        "Enter an amount in yuan above zero, like 12.34."
    page.locator("#amount").fill("3000")
    key = page.locator('input[name="once"]').input_value()
    page.locator("form.card button[type=submit]").click()
    page.wait_for_selector("article.offer")
    axe_check(page)
    shown = api.post("/v1/me/cash_loans/offers", {"amount_minor": 300_000, "currency": "CNY",
                                                  "language": "en"}, key)
    assert shown.headers["idempotent-replayed"] == "true"
    offers = shown.json()["offers"]
    assert page.locator("article.offer").count() == len(offers) > 0
    for offer in offers:
        card = page.locator(f'article.offer[data-offer="{offer["offer_id"]}"]')
        for field in ("per_period_amount_minor", "total_interest_minor", "total_fee_minor",
                      "total_repayable_minor"):
            assert int(card.locator(f'[data-field="{field}"]').get_attribute(
                "data-minor")) == offer[field], field
        # (each offer's figures are folded under its summary line until opened)
        assert card.locator('[data-field="apr_percent"]').text_content() == \
            f'{offer["apr_percent"]}%'
    offer = offers[0]
    card = page.locator(f'article.offer[data-offer="{offer["offer_id"]}"]')
    card.locator("summary").click()
    # The key facts open in a new tab: the very document the API serves, styled under a
    # CSP that allows its own stylesheet by hash and nothing inline else.
    with context.expect_page() as opened:
        card.locator("a.facts-link").click()
    facts = opened.value
    facts.wait_for_load_state()
    document = api.client.get(offer["key_facts_url"], headers=api.auth).content
    response = facts.request.get(facts.url)
    assert response.body() == document
    import hashlib

    assert hashlib.sha256(document).hexdigest() == offer["key_facts_sha256"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert "style-src 'sha256-" in response.headers["content-security-policy"]
    # Styled: the stylesheet applied (its table borders), not blocked by the CSP.
    assert facts.evaluate("getComputedStyle(document.querySelector('td')).borderTopStyle") \
        == "solid"
    facts.close()
    card.locator("button[type=submit]").click()
    page.wait_for_selector("[data-loan]")
    axe_check(page)
    assert _minor(page, '[data-field="principal_minor"]') == offer["amount_minor"]
    loans = [a for a in api.get("/v1/me/credit_accounts")["data"] if a["kind"] == "loan"]
    assert len(loans) == 1 and loans[0]["principal_minor"] == offer["amount_minor"]
    assert api.get("/v1/me/wallet")["available_minor"] == \
        wallet_before + offer["amount_minor"] == \
        _minor(page, '[data-field="wallet_available_minor"]')


def test_a_referred_application_shows_under_review_on_later_visits(
        credit_server: WebServer, new_context: Any, api_for: Any) -> None:
    base = credit_server.base
    page = log_in(new_context(PHONE, "zh-CN"), base, REFERRED, PASSWORD, "zh-CN")
    page.goto(f"{base}/app/credit")
    page.locator('a[href="/app/credit/apply"]').click()
    decision = page.locator("section.decision")
    shown = api_for(REFERRED).get("/v1/me/credit_applications", lang="zh-CN")["data"]
    assert [(d["outcome"], d["referred"], d["limit_minor"]) for d in shown] == \
        [("refer", True, None)]
    assert decision.get_attribute("data-outcome") == "refer"
    assert decision.get_attribute("data-application") == shown[0]["application_id"]
    assert decision.locator('[data-field="referred"]').is_visible()
    # Under review: no second application can be started from the page.
    assert page.locator('form[action="/app/credit/apply"]').count() == 0
    axe_check(page)


def test_report_fraud_freezes_credit_and_a_code_lifts_it(credit_server: WebServer,
                                                         new_context: Any,
                                                         api_for: Any) -> None:
    """The security page (issue #20): a report freezes the consumer's credit as
    POST /v1/me/fraud_reports does; lifting it takes the one-time code sent to them."""
    base, phone = credit_server.base, borrower(12)
    api = api_for(phone)
    context = new_context(PHONE, "zh-CN")
    page = log_in(context, base, phone, PASSWORD)
    page.locator('footer a[href="/app/security"]').click()
    axe_check(page)
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "creditpay-security.png"),
                    full_page=True)
    # Without a description nothing is reported.
    page.locator('form[action="/app/security/report"] button[type=submit]').click()
    assert page.locator("#form-error").count() == 1
    assert api.get("/v1/me/credit_line")["status"] == "active"
    page.locator("#description").fill("手机丢了，有人用我的账户付款")
    page.locator('form[action="/app/security/report"] button[type=submit]').click()
    assert page.locator("[data-report]").count() == 1
    assert api.get("/v1/me/credit_line")["status"] == "frozen"
    assert [c["category"] for c in api.get("/v1/me/complaints")["data"]] == ["fraud_dispute"]
    axe_check(page)
    # Lifting it: first a code is sent, then the code lifts it.
    page.locator('form[action="/app/security/unfreeze"] button[type=submit]').click()
    inbox = context.new_page()
    inbox.goto(f"{base}/app/dev/inbox?to={phone}")
    code = inbox.locator('.message[data-purpose="unfreeze"] .code').first.inner_text()
    inbox.close()
    page.locator("#step_up_code").fill(code)
    page.locator('form[action="/app/security/unfreeze"] button[type=submit]').click()
    assert page.locator('[data-status="active"]').count() == 1
    assert api.get("/v1/me/credit_line")["status"] == "active"
