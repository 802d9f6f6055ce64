"""Need help paying? (web/hardship_pages.py) in a real browser on a real ``creditpay serve``:
from My credit to the reason, the options with the figures the JSON API gives, the key
facts (the very bytes the API serves), accepting one (approved at once: the new schedule on
My credit), in zh-CN and en; axe on every page; a form without a choice changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from creditpay.platform.keys import generate_key_bytes
from tests.web.conftest import DESKTOP, PHONE, WebServer, axe_check, log_in, running_server
from tests.web.seed_credit import DEVICE, PASSWORD, _customer

pytestmark = pytest.mark.browser
PHONES = ("13750000001", "13750000002", "13750000003")
LINE_PHONE = "13750000004"  # a line with a purchase on it, and nothing else
STAFF_PASSWORD = "hardship staff password 7"


def _seed(url: str, master: bytes) -> dict[str, Any]:
    """Two customers, each with a line and a 6-month cash loan taken today."""
    from creditpay import ledger as L
    from creditpay.api.app import create_app
    from creditpay.api.runtime import ApiConfig
    from creditpay.clock import SimulatedClock
    from creditpay.config import Settings
    from creditpay.credit import service as S
    from creditpay.ledger.chart import party_key
    from creditpay.parties.service import Principal, wallet_spec
    from creditpay.platform.keys import LocalMasterKey

    today = dt.datetime.now(dt.UTC).date()
    clock = SimulatedClock(dt.datetime.combine(today, dt.time(0, 5), tzinfo=dt.UTC))
    app = create_app(Settings.of(database_url=url), clock,
                     config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
    rt = app.state.runtime
    try:
        admin = rt.uow.run(lambda tx: rt.parties.create_operator(tx, name="seed-hardship",
                                                                 role="admin"))
        operator = Principal("operator", admin["id"], role="admin")
        password_hash = rt.parties.passwords.hash(PASSWORD)
        loans, customers = {}, {}
        for n, phone in enumerate(PHONES):
            who = _customer(rt, phone, password_hash, dt.date(1988, 3, 9))
            rt.uow.run(lambda tx, w=who: rt.origination.open_credit_line(
                tx, operator, w.id, limit_minor=2_000_000, product_code="huabei"))
            with rt.uow.begin() as tx:
                wallet = L.open_account(tx, wallet_spec(who.id, "CNY"))
                S.disburse_cash_loan(tx, loan_id=f"web-loan-{n}", customer_id=who.id,
                                     currency="CNY", principal_minor=600_000,
                                     product_code="jiebei", periods=6,
                                     method="equal_installment", wallet_account_id=wallet.id,
                                     catalogue=rt.catalogue)
            loans[phone] = f"web-loan-{n}"
            customers[phone] = who.id
        # The third customer's request is referred (a reason outside the auto-approval list).
        from creditpay.protection.hardship import request_hardship, show_hardship_options

        third = PHONES[2]
        customer_id = customers[third]
        with rt.uow.connect() as conn:
            shown = show_hardship_options(conn, customer_id=customer_id,
                                          account_id=loans[third], reason="other",
                                          language="en", today=today,
                                          catalogue=rt.catalogue)
        option = shown.options[0]
        referred = rt.uow.run(lambda tx: request_hardship(
            tx, request_id="hr_web_referred", customer_id=customer_id,
            account_id=loans[third], reason="other",
            option_id=option.figures["option_id"], key_facts_hash=option.key_facts_sha256,
            catalogue=rt.catalogue))
        assert referred.status == "referred"
        # A fourth customer owes only on their line (docs/hardship.md, "A pay-later line").
        who = _customer(rt, LINE_PHONE, password_hash, dt.date(1990, 5, 2))
        line = rt.uow.run(lambda tx: rt.origination.open_credit_line(
            tx, operator, who.id, limit_minor=2_000_000, product_code="huabei"))
        with rt.uow.begin() as tx:
            merchant = L.open_account(tx, L.AccountSpec(
                party_key("merchant_payable", "m-web-line", "CNY"), "CNY", "merchant_payable", "merchant",
                "m-web-line", L.NormalSide.CREDIT))
            offer = next(o for o in S.quote_offers(
                tx, customer_id=who.id, amount_minor=120_000, currency="CNY",
                catalogue=rt.catalogue) if o.funding == "line" and o.periods == 1)
            S.authorise_purchase(tx, authorisation_id="auth-web-line", customer_id=who.id,
                                 amount_minor=120_000, currency="CNY",
                                 offer_id=offer.offer_id, reference="p-web-line",
                                 catalogue=rt.catalogue)
            S.capture_purchase(tx, authorisation_id="auth-web-line", capture_id="p-web-line",
                               amount_minor=120_000, merchant_payable_account_id=merchant.id,
                               catalogue=rt.catalogue)
        agent = rt.uow.run(lambda tx: rt.parties.create_operator(
            tx, name="hardship-agent", role="collections_agent",
            password_hash=rt.parties.passwords.hash(STAFF_PASSWORD)))
        return {"loans": loans, "agent": agent, "referred": referred.request_id,
                "line": line["line_id"]}
    finally:
        rt.close()


def _staff_log_in(context: Any, base: str, operator: dict[str, Any], next_path: str) -> Any:
    import base64
    import time

    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    page = context.new_page()
    page.goto(f"{base}/console/login?next={next_path}")
    page.locator("#operator").fill(operator["id"])
    page.locator("#password").fill(STAFF_PASSWORD)
    code = TOTP(base64.b32decode(operator["totp_secret"]), 6, SHA1(), 30).generate(
        time.time()).decode()
    page.locator("#totp_code").fill(code)
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(f"{base}{next_path}")
    return page


def test_a_collections_agent_approves_a_referred_request(hardship_server: WebServer,
                                                         new_context: Any) -> None:
    base, seeded = hardship_server.base, hardship_server.seeded
    page = _staff_log_in(new_context(DESKTOP, "en"), base, seeded["agent"],
                         "/console/hardship")
    card = page.locator(f'section[data-request="{seeded["referred"]}"]')
    assert card.locator('[data-field="reason"]').inner_text() == "Something else"
    axe_check(page)
    card.locator('button[name="decision"][value="approve"]').click()
    page.wait_for_selector(f'[data-done="{seeded["referred"]}"][data-status="approved"]')
    assert page.locator(f'section[data-request="{seeded["referred"]}"]').count() == 0
    axe_check(page)
    page.goto(f"{base}/console/hardship?status=approved")
    assert page.locator(f'section[data-request="{seeded["referred"]}"]').count() == 1


@pytest.fixture(scope="module")
def hardship_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-hardship-") as folder:
        url = f"sqlite:///{Path(folder) / 'hardship.db'}"
        master = generate_key_bytes()
        seeded = _seed(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, seeded)


def _api(base: str, phone: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    session = client.post("/v1/auth/login", json={
        "identifier": phone, "password": PASSWORD, "device_id": DEVICE},
        headers={"Idempotency-Key": uuid.uuid4().hex}).json()
    assert session["status"] == "authenticated", session
    client.headers["Authorization"] = f"Bearer {session['access_token']}"
    return client


@pytest.mark.parametrize(("n", "viewport", "language"), [(0, PHONE, "en"),
                                                          (1, DESKTOP, "zh-CN")])
def test_need_help_paying_from_my_credit_to_a_new_plan(hardship_server: WebServer,
                                                      new_context: Any, n: int,
                                                      viewport: dict[str, int],
                                                      language: str) -> None:
    base, phone = hardship_server.base, PHONES[n]
    loan = hardship_server.seeded["loans"][phone]
    context = new_context(viewport, language)
    page = log_in(context, base, phone, PASSWORD, language)
    page.goto(f"{base}/app/credit")
    page.locator(f'article.plan[data-account="{loan}"] a.hardship-link').click()
    page.wait_for_selector('input[name="reason"]')
    axe_check(page)
    page.locator('input[name="reason"][value="job_loss"]').check()
    page.locator("form.card button[type=submit]").click()
    page.wait_for_selector("article.offer")
    axe_check(page)
    api = _api(base, phone)
    try:
        shown = api.get(f"/v1/me/credit_accounts/{loan}/hardship_options",
                        params={"reason": "job_loss", "lang": language}).json()
        assert page.locator("article.offer").count() == len(shown["options"]) == 7
        for option in shown["options"]:
            figures = option["figures"]
            card = page.locator(f'article.offer[data-option="{figures["option_id"]}"]')
            for field in ("installment_minor", "new_total_minor", "extra_cost_minor"):
                assert int(card.locator(f'[data-field="{field}"]').get_attribute(
                    "data-minor")) == figures[field], field
            assert card.locator('[data-field="apr_percent"]').inner_text() == \
                f'{figures["apr_percent"]}%'
            assert card.locator('input[name="option"]').get_attribute("value") == \
                f'{figures["option_id"]}:{option["key_facts_sha256"]}'
        chosen = next(o for o in shown["options"] if o["figures"]["kind"] == "reamortisation")
        card = page.locator(f'article.offer[data-option="{chosen["figures"]["option_id"]}"]')
        with context.expect_page() as opened:
            card.locator("a.facts-link").click()
        facts = opened.value
        facts.wait_for_load_state()
        document = api.get(chosen["key_facts_url"]).content
        assert facts.request.get(facts.url).body() == document
        assert hashlib.sha256(document).hexdigest() == chosen["key_facts_sha256"]
        facts.close()
        # Sent without a choice: named, nothing requested.
        page.evaluate("document.querySelector('form[action$=\"/accept\"]').noValidate = true")
        page.locator('form[action$="/accept"] button[type=submit]').click()
        page.wait_for_selector("#hardship-error")
        assert api.get("/v1/me/hardship_requests").json()["data"] == []
        page.locator(f'article.offer[data-option="{chosen["figures"]["option_id"]}"] '
                     'input[name="option"]').check()
        page.locator("#statement").fill("lost my job")
        page.locator('form[action$="/accept"] button[type=submit]').click()
        page.wait_for_selector('[data-request][data-status="approved"]')
        axe_check(page)
        requests = api.get("/v1/me/hardship_requests").json()["data"]
        assert [r["option_id"] for r in requests] == [chosen["figures"]["option_id"]]
        assert requests[0]["language"] == language
        page.goto(f"{base}/app/credit")
        card = page.locator(f'article.plan[data-account="{loan}"]')
        due = [row.get_attribute("data-value")
               for row in card.locator("tbody tr td:nth-child(2)").all()]
        new_dates = [r["due_date"] for r in chosen["figures"]["schedule"]]
        assert due[-len(new_dates):] == new_dates
    finally:
        api.close()


def test_need_help_paying_with_a_pay_later_line(hardship_server: WebServer, new_context: Any,
                                               tmp_path: Path) -> None:
    """A consumer who owes only on their line: the link under the line's bill, the line's
    options (as the API gives them), one accepted: approved, the line frozen."""
    base, line_id = hardship_server.base, hardship_server.seeded["line"]
    context = new_context(PHONE, "en")
    page = log_in(context, base, LINE_PHONE, PASSWORD, "en")
    page.goto(f"{base}/app/credit")
    page.locator(f'a.hardship-link[href$="account={line_id}"]').click()
    page.locator('input[name="reason"][value="illness"]').check()
    page.locator("form.card button[type=submit]").click()
    page.wait_for_selector("article.offer")
    axe_check(page)
    page.screenshot(path=str(tmp_path / "line-options.png"), full_page=True)
    assert "frozen for new purchases" in page.locator("main").inner_text()
    api = _api(base, LINE_PHONE)
    try:
        shown = api.get(f"/v1/me/credit_accounts/{line_id}/hardship_options",
                        params={"reason": "illness", "lang": "en"}).json()
        kinds = [(o["figures"]["kind"], o["figures"]["cycles"]) for o in shown["options"]]
        assert kinds == [("payment_holiday", 1), ("reamortisation", 3), ("reamortisation", 6)]
        assert {o["figures"]["apr_percent"] for o in shown["options"]} == {"0.0000"}
        assert page.locator("article.offer").count() == 3
        chosen = shown["options"][2]["figures"]
        card = page.locator(f'article.offer[data-option="{chosen["option_id"]}"]')
        assert int(card.locator('[data-field="installment_minor"]').get_attribute(
            "data-minor")) == chosen["installment_minor"] == 20_000
        card.locator('input[name="option"]').check()
        page.locator('form[action$="/accept"] button[type=submit]').click()
        page.wait_for_selector('[data-request][data-status="approved"]')
        assert api.get("/v1/me/credit_line").json()["status"] == "frozen"
    finally:
        api.close()
