"""The operator console (web/console.py) in a real browser on a real ``creditpay serve``:
staff log in with password and a TOTP code; the four-eyes queue: the proposer sees their
proposal and cannot decide it, a second operator approves one (the line is granted) and
rejects another with a reason; a role without the queue gets 403; a customer's session
opens no console page; a form without the CSRF token is refused; axe on every page."""

from __future__ import annotations

import base64
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import func, select

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.credit.tables import credit_lines
from creditpay.platform import approvals as A
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from tests.web.conftest import DESKTOP, PHONE, WebServer, axe_check, log_in, running_server
from tests.web.seed_credit import _customer

pytestmark = pytest.mark.browser

PASSWORD = "staff password 42"
CUSTOMER_PASSWORD = "console customer pw 7"
# (key, role): each logs in once per module (a TOTP code is accepted once per 30 s step).
STAFF = (("risk_analyst", "risk_analyst"), ("admin", "admin"), ("support", "support"),
         ("admin2", "admin"), ("compliance", "compliance_officer"))


def _seed(url: str, master: bytes) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    app = create_app(Settings.of(database_url=url), SimulatedClock(now),
                     config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
    rt = app.state.runtime
    try:
        rt.vault.ensure_active_key()
        staff_hash = rt.parties.passwords.hash(PASSWORD)
        staff = {key: rt.uow.run(lambda tx, k=key, r=role: rt.parties.create_operator(
            tx, name=f"{k}-console", role=r, password_hash=staff_hash)) for key, role in STAFF}
        customer_hash = rt.parties.passwords.hash(CUSTOMER_PASSWORD)
        customers = [_customer(rt, f"1375000{n:04d}", customer_hash, dt.date(1985, 5, 5))
                     for n in range(2)]
        maker = A.Actor(staff["risk_analyst"]["id"], "risk_analyst")
        proposals = [rt.uow.run(lambda tx, c=c: A.propose(
            tx, rt.controlled_actions["credit_line.grant"],
            {"customer_id": c.id, "limit_minor": 8_000_000, "product_code": "huabei",
             "currency": "CNY"}, maker, policy=rt.four_eyes)).approval_id for c in customers]
        return {"staff": staff, "customers": [c.id for c in customers],
                "phones": [f"1375000{n:04d}" for n in range(2)], "proposals": proposals}
    finally:
        rt.close()


@pytest.fixture(scope="module")
def console_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-console-") as folder:
        url = f"sqlite:///{Path(folder) / 'console.db'}"
        master = generate_key_bytes()
        seeded = _seed(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, {**seeded, "url": url})


def _code(secret: str) -> str:
    return TOTP(base64.b32decode(secret), 6, SHA1(), 30).generate(time.time()).decode()


def _staff_log_in(context: Any, base: str, operator: dict[str, Any], next_path: str = ""
                  ) -> Any:
    page = context.new_page()
    page.goto(f"{base}/console/login{next_path}")
    page.locator("#operator").fill(operator["id"])
    page.locator("#password").fill(PASSWORD)
    page.locator("#totp_code").fill(_code(operator["totp_secret"]))
    page.locator("form.card button[type=submit]").click()
    return page


def _lines(url: str, customer_id: str) -> int:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(credit_lines).where(
                credit_lines.c.customer_id == customer_id)).scalar_one())
    finally:
        engine.dispose()


def test_a_wrong_code_is_refused_and_a_role_without_the_queue_gets_403(
        console_server: WebServer, new_context: Any) -> None:
    base, seeded = console_server.base, console_server.seeded
    context = new_context(PHONE, "en")
    page = context.new_page()
    page.goto(f"{base}/console/approvals")
    page.wait_for_url(f"{base}/console/login?next=/console/approvals")
    axe_check(page)
    support = seeded["staff"]["support"]
    page.locator("#operator").fill(support["id"])
    page.locator("#password").fill(PASSWORD)
    page.locator("#totp_code").fill("000000" if _code(support["totp_secret"]) != "000000"
                                    else "111111")
    page.locator("form.card button[type=submit]").click()
    assert page.locator("#login-error").inner_text() == "Wrong name, password or code."
    page = _staff_log_in(context, base, support)
    page.wait_for_url(f"{base}/console/")
    assert page.locator('[data-field="operator.role"]').inner_text() == "Support"
    axe_check(page)
    for path in ("/console/approvals", "/console/dashboard", "/console/dashboard/fraud.csv"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
        assert page.locator("h1").inner_text() == "Not for your role"
    axe_check(page)


def test_the_proposer_waits_and_a_second_operator_approves_and_rejects(
        console_server: WebServer, new_context: Any) -> None:
    base, seeded = console_server.base, console_server.seeded
    first, second = seeded["proposals"]
    maker = _staff_log_in(new_context(DESKTOP, "en"), base, seeded["staff"]["risk_analyst"],
                          "?next=/console/approvals")
    maker.wait_for_url(f"{base}/console/approvals")
    mine = maker.locator(f'[data-approval="{first}"]')
    assert "You proposed this" in mine.inner_text()
    assert mine.locator("form").count() == 0  # no decision for the proposer
    axe_check(maker)

    checker = _staff_log_in(new_context(PHONE, "zh-CN"), base, seeded["staff"]["admin"])
    checker.wait_for_url(f"{base}/console/")
    assert checker.locator('[data-field="pending"]').inner_text() == "2"
    checker.locator('a[href="/console/approvals"]').first.click()
    checker.wait_for_url(f"{base}/console/approvals")
    axe_check(checker)
    card = checker.locator(f'[data-approval="{first}"]')
    limit = card.locator('[data-field="payload.limit_minor"]')
    assert limit.get_attribute("data-minor") == "8000000"
    assert limit.inner_text() == "¥80,000.00"
    # Nothing wider than a phone: long ids wrap.
    assert checker.evaluate("document.documentElement.scrollWidth") <= 390
    card.locator("form.decide button.primary").click()
    checker.wait_for_selector(f'[data-done="{first}"]')
    assert _lines(seeded["url"], seeded["customers"][0]) == 1
    axe_check(checker)

    card = checker.locator(f'[data-approval="{second}"]')
    card.locator("textarea").fill("收入证明过旧")
    card.locator("form.decide button:not(.primary)").click()
    checker.wait_for_selector(f'[data-done="{second}"]')
    assert _lines(seeded["url"], seeded["customers"][1]) == 0
    checker.goto(f"{base}/console/approvals?status=rejected")
    rejected = checker.locator(f'[data-approval="{second}"]')
    assert "收入证明过旧" in rejected.inner_text()
    axe_check(checker)

    # The proposer's page, reloaded, offers nothing to decide any more.
    maker.goto(f"{base}/console/approvals")
    assert maker.locator(f'[data-approval="{first}"]').count() == 0


def test_a_customer_session_opens_no_console_page_and_forms_need_the_token(
        console_server: WebServer, new_context: Any) -> None:
    base, seeded = console_server.base, console_server.seeded
    context = new_context(PHONE, "en")
    page = log_in(context, base, seeded["phones"][0], CUSTOMER_PASSWORD)
    page.goto(f"{base}/console/approvals")
    page.wait_for_url(f"{base}/console/login?next=/console/approvals")
    page.goto(f"{base}/console/")
    page.wait_for_url(f"{base}/console/login")  # the customer's session is not a staff one
    staff = _staff_log_in(new_context(PHONE, "en"), base, seeded["staff"]["admin2"])
    staff.wait_for_url(f"{base}/console/")
    cookie = next(c for c in staff.context.cookies() if c["name"] == "__Host-cp_staff")
    assert cookie["httpOnly"] and cookie["secure"]
    assert staff.evaluate("document.cookie").find("cp_staff") == -1
    # A decision posted without the form's CSRF token is refused and changes nothing.
    refused = httpx.post(f"{base}/console/approvals/{seeded['proposals'][0]}/approve",
                         data={"once": "web-replayed-key-0001"},
                         cookies={"__Host-cp_staff": cookie["value"]})
    assert refused.status_code == 403


def test_the_portfolio_views_and_their_csv(console_server: WebServer, new_context: Any
                                           ) -> None:
    base, seeded = console_server.base, console_server.seeded
    page = _staff_log_in(new_context(DESKTOP, "zh-CN"), base, seeded["staff"]["compliance"],
                         "?next=/console/dashboard")
    page.wait_for_url(f"{base}/console/dashboard")
    axe_check(page)
    page.locator('a[href="/console/dashboard?view=buckets"]').click()
    page.wait_for_url(f"{base}/console/dashboard?view=buckets")
    page.locator("#from").fill("2025-01-01")
    page.locator(".filters-form button[type=submit]").click()
    page.wait_for_url(f"{base}/console/dashboard?view=buckets&from=2025-01-01&to=&product=")
    axe_check(page)
    href = page.locator("[data-csv]").get_attribute("href")
    assert href == "/console/dashboard/buckets.csv?from=2025-01-01"
    csv = page.context.request.get(f"{base}{href}")
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text().splitlines()[0] == \
        "bucket,accounts,receivable_minor,receivable_share,accounts_share"
    # The fraud view has no product filter: said on the page, as the API says it (422).
    page.goto(f"{base}/console/dashboard?view=fraud&product=huabei")
    assert "product" in page.locator(".error").inner_text()
