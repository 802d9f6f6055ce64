"""The console's records pages (web/console_records.py) in a real browser on a real
``creditpay serve``: the customer view masked, a reveal refused without a purpose and, with
one, shown once and written to the audit chain (read back here); the versions and "what
decided it" pages; the regulatory report of a past closed date, its CSV and JSON files,
provisions and the audit chain's status; role checks on every page (a collections agent
cannot open the compliance reports), the log-in page without a session; axe on every page,
at phone and desktop width."""

from __future__ import annotations

import base64
import datetime as dt
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import create_engine, select

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.parties.service import Principal
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from tests.web.conftest import DESKTOP, PHONE, WebServer, axe_check, running_server
from tests.web.seed_credit import _customer

pytestmark = pytest.mark.browser

PASSWORD = "records staff pw 42"
CUSTOMER_PASSWORD = "records customer pw 7"
PHONE_NUMBER = "13760000001"
ID_NUMBER = "E60000001"
DAYS_BACK = 4
STAFF = (("collections", "collections_agent"), ("compliance", "compliance_officer"),
         ("risk", "risk_analyst"), ("admin", "admin"), ("support", "support"),
         ("reporter", "compliance_officer"))
REPORT_PAGES = ("/console/reports", "/console/reports/provisions", "/console/reports/audit",
                "/console/reports/download?kind=daily&date=2025-01-01&section=summary")
VERSION_PAGES = ("/console/versions", "/console/decided",
                 "/console/versions/caps/CN")


def _seed(url: str, master: bytes) -> dict[str, Any]:
    """Staff of every role; a verified customer with a line, on a clock DAYS_BACK days
    back, the days closed up to yesterday (day-end positions stored), a credit policy in
    force, the audit chain sealed with a checkpoint."""
    from creditpay.credit.cob import run_close_of_business
    from creditpay.nightly import auto_debit_consents
    from creditpay.platform.audit import seal
    from creditpay.risk.decisions.policy import (
        activate_policy,
        bundled_policy_path,
        load_policy_file,
    )

    today = dt.datetime.now(dt.UTC).date()
    clock = SimulatedClock(dt.datetime.combine(today - dt.timedelta(days=DAYS_BACK),
                                               dt.time(9, 0), tzinfo=dt.UTC))
    app = create_app(Settings.of(database_url=url), clock,
                     config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
    rt = app.state.runtime
    try:
        rt.vault.ensure_active_key()
        staff_hash = rt.parties.passwords.hash(PASSWORD)
        staff = {key: rt.uow.run(lambda tx, k=key, r=role: rt.parties.create_operator(
            tx, name=f"{k}-records", role=r, password_hash=staff_hash)) for key, role in STAFF}
        customer = _customer(rt, PHONE_NUMBER, rt.parties.passwords.hash(CUSTOMER_PASSWORD),
                             dt.date(1985, 5, 5))
        admin = Principal("operator", staff["admin"]["id"], role="admin")
        rt.uow.run(lambda tx: rt.origination.open_credit_line(
            tx, admin, customer.id, limit_minor=1_500_000, product_code="huabei"))
        with rt.uow.begin() as tx:
            activate_policy(tx, load_policy_file(bundled_policy_path("application")),
                            actor="tests")
        while clock.today() < today:
            day = clock.today()
            clock.set(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 30),
                                          tzinfo=dt.UTC))
            run_close_of_business(rt.uow, day, audit_checkpointer=None,
                                  auto_debit_consents=auto_debit_consents(),
                                  catalogue=rt.catalogue)
        seal(rt.uow, rt.audit_checkpointer)
        return {"staff": staff, "customer": customer.id,
                "first_closed": today - dt.timedelta(days=DAYS_BACK),
                "last_closed": today - dt.timedelta(days=1)}
    finally:
        rt.close()


@pytest.fixture(scope="module")
def records_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-records-") as folder:
        url = f"sqlite:///{Path(folder) / 'records.db'}"
        master = generate_key_bytes()
        seeded = _seed(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, {**seeded, "url": url})


def _code(secret: str) -> str:
    return TOTP(base64.b32decode(secret), 6, SHA1(), 30).generate(time.time()).decode()


def _staff(context: Any, base: str, operator: dict[str, Any]) -> Any:
    page = context.new_page()
    page.goto(f"{base}/console/login")
    page.locator("#operator").fill(operator["id"])
    page.locator("#password").fill(PASSWORD)
    page.locator("#totp_code").fill(_code(operator["totp_secret"]))
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(f"{base}/console/")
    return page


def _status(page: Any, url: str) -> int:
    response = page.goto(url)
    assert response is not None
    return int(response.status)


def _refused(page: Any, base: str, paths: tuple[str, ...]) -> None:
    for path in paths:
        assert _status(page, f"{base}{path}") == 403, path
        assert page.locator("h1").inner_text() in ("Not for your role", "角色无权访问"), path


def _audit_reads(url: str, customer_id: str) -> list[dict[str, Any]]:
    from creditpay.platform.tables import audit_records

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(audit_records).where(
                audit_records.c.action == "personal_data.read",
                audit_records.c.subject_id == customer_id)).mappings().all()
        return [dict(r) for r in rows]
    finally:
        engine.dispose()


def _fits(page: Any) -> None:
    """Nothing widens the page past a phone's width (wide tables scroll inside)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=f"/tmp/records_{name}.png", full_page=True)


def test_a_collections_agent_sees_the_customer_masked_and_no_compliance_report(
        records_server: WebServer, new_context: Any) -> None:
    base, seeded = records_server.base, records_server.seeded
    page = _staff(new_context(PHONE, "en"), base, seeded["staff"]["collections"])
    nav = page.locator("nav.tabs").inner_text()
    assert "Customers" in nav and "Reports" not in nav and "Versions" not in nav
    page.goto(f"{base}/console/customers")
    axe_check(page)
    page.locator("#q").fill(PHONE_NUMBER)
    page.locator("form[role=search] button").click()
    page.wait_for_url(f"{base}/console/customers/{seeded['customer']}")
    assert page.locator('[data-field="phone"]').inner_text() != PHONE_NUMBER
    assert "*" in page.locator('[data-field="phone"]').inner_text()
    assert page.locator('[data-field="id_number"]').inner_text() != ID_NUMBER
    assert page.locator("form.reveal").count() == 0  # revealing is a compliance officer's
    assert page.locator("[data-line]").count() == 1
    axe_check(page)
    # The reveal itself, posted by hand with the session's CSRF token: 403, nothing read.
    token = page.locator('form[action="/console/logout"] input[type=hidden]')
    answer = page.context.request.post(
        f"{base}/console/customers/{seeded['customer']}/reveal",
        form={token.get_attribute("name") or "": token.get_attribute("value") or "",
              "field": "id_number", "purpose": "collections", "once": "web-by-hand-1"})
    assert answer.status == 403 and ID_NUMBER not in answer.text()
    assert _audit_reads(seeded["url"], seeded["customer"]) == []
    _refused(page, base, REPORT_PAGES + VERSION_PAGES)
    axe_check(page)


def test_a_reveal_needs_a_purpose_shows_once_and_is_audited(
        records_server: WebServer, new_context: Any) -> None:
    base, seeded = records_server.base, records_server.seeded
    customer = seeded["customer"]
    page = _staff(new_context(DESKTOP, "en"), base, seeded["staff"]["compliance"])
    page.goto(f"{base}/console/customers/{customer}")
    axe_check(page)
    _shot(page, "customer_desktop")
    # No purpose: the browser's own check is bypassed to see the server refuse it.
    page.locator("#purpose").evaluate("e => e.removeAttribute('required')")
    page.locator("#field").select_option("id_number")
    page.locator("form.reveal button").click()
    page.wait_for_load_state()
    assert "purpose" in page.locator("#reveal-error").inner_text()
    assert page.locator("[data-revealed]").count() == 0
    assert _audit_reads(seeded["url"], customer) == []

    page.locator("#field").select_option("id_number")
    page.locator("#purpose").select_option("complaint_handling")
    page.locator("#reason").fill("The customer disputes who opened the line")
    page.locator("form.reveal button").click()
    page.wait_for_load_state()
    assert page.locator('[data-field="revealed.value"]').inner_text() == ID_NUMBER
    assert page.locator('[data-field="id_number"]').inner_text() != ID_NUMBER  # still masked
    axe_check(page)
    reads = _audit_reads(seeded["url"], customer)
    assert len(reads) == 1
    payload = reads[0]["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["purpose"] == "complaint_handling"
    assert payload["fields"] == ["id_number"]
    assert payload["note_id"].startswith("note_")  # the words went to the vault
    assert reads[0]["actor_id"] == seeded["staff"]["compliance"]["id"]
    page.reload()  # the value is not kept anywhere: a reload is not a second reveal
    assert ID_NUMBER not in page.content()


def test_a_past_date_report_its_files_provisions_and_the_audit_chain(
        records_server: WebServer, new_context: Any) -> None:
    base, seeded = records_server.base, records_server.seeded
    context = new_context(PHONE, "zh-CN")
    # (a TOTP code is accepted once per 30 s step: each test logs in a staff member of its own)
    page = _staff(context, base, seeded["staff"]["reporter"])
    page.goto(f"{base}/console/reports")
    axe_check(page)
    day = seeded["first_closed"].isoformat()  # not the last closed date
    assert page.locator('[data-field="closed"]').inner_text() == \
        seeded["last_closed"].isoformat()
    page.locator("#date").fill(day)
    page.locator("form:has(#date) button").click()
    page.wait_for_url(f"{base}/console/reports?kind=daily&date={day}")
    assert page.locator(f'[data-report="creditpay_daily_{day}"]').count() == 1
    balances = page.locator('[data-section="balances"] tbody tr')
    assert balances.count() >= 1
    assert page.locator('[data-section="loan_level"] tbody tr').count() == 1
    axe_check(page)
    _shot(page, "reports_phone")
    csv_link = page.locator('[data-download="balances"]').get_attribute("href")
    json_link = page.locator('[data-download="json"]').get_attribute("href")
    assert csv_link and json_link
    got = context.request.get(f"{base}{csv_link}")
    assert got.status == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.text().splitlines()[0].startswith("currency,product_code,bucket,accounts")
    document = context.request.get(f"{base}{json_link}").json()
    assert document["period_end"] == day
    assert set(document["sections"]) >= {"summary", "balances", "npl", "loan_level"}
    future = (seeded["last_closed"] + dt.timedelta(days=1)).isoformat()
    page.goto(f"{base}/console/reports?kind=daily&date={future}")
    assert page.locator("#report-error").count() == 1  # not closed yet
    axe_check(page)

    page.goto(f"{base}/console/reports/provisions?date={day}")
    assert page.locator('[data-currency="CNY"] [data-field="allowance_minor"]').count() == 1
    axe_check(page)
    page.goto(f"{base}/console/reports/audit")
    assert page.locator('[data-field="verify.ok"]').get_attribute("data-value") == "ok"
    assert len(page.locator('[data-field="checkpoint.head_hash"]').inner_text()) == 64
    axe_check(page)
    _shot(page, "audit_phone")


def test_versions_and_what_decided_it_for_a_risk_analyst(
        records_server: WebServer, new_context: Any) -> None:
    base, seeded = records_server.base, records_server.seeded
    page = _staff(new_context(DESKTOP, "en"), base, seeded["staff"]["risk"])
    page.goto(f"{base}/console/versions")
    axe_check(page)
    _shot(page, "versions_desktop")
    assert page.locator('[data-table="policies"] [data-field="live"]').count() == 1
    assert page.locator('[data-table="products"] tr[data-product="huabei"]').count() >= 1
    page.locator('[data-table="policies"] a').first.click()
    page.wait_for_load_state()
    assert '"policy_id"' in page.locator("pre.document").inner_text()
    axe_check(page)
    page.goto(f"{base}/console/versions/products/huabei")
    assert '"code": "huabei"' in page.locator("pre.document").inner_text()
    page.goto(f"{base}/console/decided?id=no_such_decision")
    assert page.locator('[data-field="missing"]').count() == 1
    axe_check(page)
    _refused(page, base, REPORT_PAGES)


def test_roles_and_no_session(records_server: WebServer, new_context: Any) -> None:
    base, seeded = records_server.base, records_server.seeded
    anonymous = new_context(PHONE, "en").new_page()
    for path in ("/console/customers", f"/console/customers/{seeded['customer']}",
                 *REPORT_PAGES[:3], *VERSION_PAGES):
        anonymous.goto(f"{base}{path}")
        assert anonymous.url.startswith(f"{base}/console/login?next="), path
    support = _staff(new_context(PHONE, "en"), base, seeded["staff"]["support"])
    assert _status(support, f"{base}/console/customers/{seeded['customer']}") == 200
    _refused(support, base, REPORT_PAGES + VERSION_PAGES)
    admin = _staff(new_context(PHONE, "en"), base, seeded["staff"]["admin"])
    for path in (*REPORT_PAGES[:3], *VERSION_PAGES,
                 f"/console/reports?kind=daily&date={seeded['last_closed'].isoformat()}"):
        assert _status(admin, f"{base}{path}") == 200, path
        _fits(admin)
    admin.goto(f"{base}/console/versions")
    axe_check(admin)
    _shot(admin, "versions_phone")
    admin.goto(f"{base}/console/customers/{seeded['customer']}")
    assert admin.locator("form.reveal").count() == 0
    _fits(admin)
    _shot(admin, "customer_phone")
