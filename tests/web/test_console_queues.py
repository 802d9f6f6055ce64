"""The console's work queues (web/console_queues.py) in a real browser on a real ``creditpay
serve``, seeded through the services: an analyst approves a referral (the line opens); a
fraud case is resolved and the payment it held released; an alert's playbook is
previewed, proposed, refused to its proposer and approved by a second operator, and the
limits change as previewed; collections with their contact rules and complaints with
their clocks; each page's roles (a collections agent opens collections, gets 403 on
referrals and fraud); axe on every page; nothing wider than a phone."""

from __future__ import annotations

import base64
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import create_engine, select
from starlette.testclient import TestClient

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.credit.collections_tables import collection_cases, collection_promises
from creditpay.credit.tables import credit_lines
from creditpay.parties.service import Principal
from creditpay.payments.fraud import FraudScreeningConfig
from creditpay.payments.tables import payment_intents
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from tests.api.helpers import Api
from tests.web.conftest import DESKTOP, PHONE, WebServer, axe_check, running_server
from tests.web.seed_credit import _customer, _policy_in_force, _referred_applicant

pytestmark = pytest.mark.browser

PASSWORD = "queues staff password 9"
# (key, role): each logs in once in this module (a TOTP code is accepted once per step).
STAFF = (("referrals", "risk_analyst"), ("fraud", "risk_analyst"),
         ("maker", "risk_analyst"), ("checker", "admin"), ("collector", "collections_agent"),
         ("compliance", "compliance_officer"), ("support", "support"))
# A screening rule that holds a payment of exactly 43.21 for review.
RULES = {"version": "queues-test-1", "blocklists": {"device": []},
         "rules": [{"name": "odd_amount_review", "action": "review",
                    "when": {"field": "amount_minor", "op": "==", "value": 4_321}}]}
HELD_MINOR = 4_321
LIMIT_MINOR = 1_000_000


def _seed(url: str, master: bytes) -> dict[str, Any]:
    from creditpay.protection.collections_rules import ContactAttempt, attempt_contact
    from creditpay.protection.complaints import open_complaint
    from creditpay.risk.early_warning.job import _alert_row
    from creditpay.risk.early_warning.monitors import Alert
    from creditpay.risk.early_warning.tables import ew_alerts

    now = dt.datetime.now(dt.UTC)
    app = create_app(Settings.of(database_url=url), SimulatedClock(now), config=ApiConfig(
        master_key=LocalMasterKey(master), pool_size=2, fraud_screening=True,
        fraud=FraudScreeningConfig(rules=RULES)))
    rt = app.state.runtime
    api = Api(TestClient(app), app)
    try:
        rt.vault.ensure_active_key()
        staff_hash = rt.parties.passwords.hash(PASSWORD)
        staff = {key: rt.uow.run(lambda tx, k=key, r=role: rt.parties.create_operator(
            tx, name=f"{k}-queues", role=r, password_hash=staff_hash)) for key, role in STAFF}
        # A referred application (the application policy refers a thin file, grade D).
        _policy_in_force(rt)
        _referred_applicant(rt, rt.parties.passwords.hash("referred customer pw 1"))
        # A payment held by screening for review: its fraud case is opened with it.
        admin = api.operator("admin")
        shop = api.merchant(admin, name="Queue shop")["api_key"]["key"]
        payer = api.customer("13760000001")
        api.fund(payer, 20_000)
        intent = api.post("/v1/payment_intents", {"amount_minor": HELD_MINOR, "currency": "CNY",
                                                  "order_id": "held-1"}, shop,
                          expect=201).json()
        held = api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                        payer, expect=200).json()
        assert held["status"] == "in_review"
        # Two lines of 10,000.00 and an alert whose playbook lowers limits.
        granter = Principal("operator", staff["checker"]["id"], role="admin")
        borrowers = []
        for n in range(2):
            who = _customer(rt, f"1376000010{n}", staff_hash, dt.date(1987, 4, 4))
            rt.uow.run(lambda tx, c=who.id: rt.origination.open_credit_line(
                tx, granter, c, limit_minor=LIMIT_MINOR, product_code="huabei"))
            borrowers.append(who.id)
        alert = _alert_row(Alert(
            monitor="utilisation", metric="utilisation", segment="all", day=now.date(),
            severity="critical", value=0.6, statistic=0.6, centre=0.3, lower=0.24, upper=0.36,
            sigmas=15.0, method="rolling", playbook="lower_limits",
            evidence={"k": 3.0, "window": 28, "recent_values": [0.3, 0.6]}), now)
        with rt.uow.begin() as tx:
            tx.conn.execute(ew_alerts.insert().values(**alert))
            line = tx.conn.execute(select(credit_lines).where(
                credit_lines.c.customer_id == borrowers[0])).mappings().one()
            # A collection case as the daily run opens one (test shortcut: the run needs
            # weeks of closes to find a past-due account; its own tests cover it).
            case_id = "cc_queues_seed_1"
            tx.conn.execute(collection_cases.insert().values(
                case_id=case_id, account_id=line["line_id"], customer_id=borrowers[0],
                currency="CNY", status="open", opened_on=now.date() - dt.timedelta(days=9),
                dpd_at_open=3, dpd=12, bucket="M1", strategy_code="standard",
                strategy_version=1, created_at=now, updated_at=now))
            tx.conn.execute(collection_promises.insert().values(
                promise_id="pp_queues_seed_1", case_id=case_id, account_id=line["line_id"],
                amount_minor=50_000, promised_date=now.date() + dt.timedelta(days=3),
                owed_at_promise_minor=50_000, staff_id=staff["collector"]["id"],
                status="open", created_on=now.date(), created_at=now))
        contact = rt.uow.run(lambda tx: attempt_contact(tx, ContactAttempt(
            customer_id=borrowers[0], account_id=line["line_id"],
            collector_id=staff["collector"]["id"], channel="phone", channel_ref="bi_phone_1",
            recipient="debtor", time_zone="Asia/Shanghai"),
            verified_channel_refs={"bi_phone_1"}))
        complaint = rt.uow.run(lambda tx: open_complaint(
            tx, customer_id=borrowers[1], subject_type="credit_line",
            subject_id="line_of_the_customer", category="fees_and_charges", channel="phone"))
        return {"staff": staff, "intent_id": intent["id"], "case_id": case_id,
                "alert_id": alert["id"], "contact_rule": contact.rule,
                "complaint_id": complaint.id, "borrowers": borrowers}
    finally:
        api.client.close()
        rt.close()


@pytest.fixture(scope="module")
def queues_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-queues-") as folder:
        url = f"sqlite:///{Path(folder) / 'queues.db'}"
        master = generate_key_bytes()
        seeded = _seed(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, {**seeded, "url": url})


def _code(secret: str) -> str:
    return TOTP(base64.b32decode(secret), 6, SHA1(), 30).generate(time.time()).decode()


def _log_in(context: Any, base: str, operator: dict[str, Any], next_path: str) -> Any:
    page = context.new_page()
    page.goto(f"{base}/console/login?next={next_path}")
    page.locator("#operator").fill(operator["id"])
    page.locator("#password").fill(PASSWORD)
    page.locator("#totp_code").fill(_code(operator["totp_secret"]))
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(f"{base}{next_path}")
    return page


def _fits_a_phone(page: Any) -> None:
    """Axe-clean, and nothing wider than a phone at phone width."""
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url
    axe_check(page)
    page.set_viewport_size(size)


def _query(url: str, statement: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(statement).all())
    finally:
        engine.dispose()


def test_an_analyst_approves_a_referral_and_the_line_opens(queues_server: WebServer,
                                                           new_context: Any) -> None:
    base, seeded = queues_server.base, queues_server.seeded
    page = _log_in(new_context(DESKTOP, "en"), base, seeded["staff"]["referrals"],
                   "/console/referrals")
    axe_check(page)
    _fits_a_phone(page)
    row = page.locator("tr[data-referral]").first
    decision_id = row.get_attribute("data-referral")
    assert row.locator('[data-field="grade"]').inner_text() == "D"
    row.locator("a").click()
    page.wait_for_url(f"{base}/console/referrals/{decision_id}")
    axe_check(page)
    _fits_a_phone(page)
    offered = int(page.locator('[data-field="offered_limit_minor"]').get_attribute("data-minor"))
    assert page.locator("[data-reason]").count() >= 1
    assert page.locator("[data-feature]").count() >= 1
    page.locator("#approve-form button[type=submit]").click()
    page.wait_for_selector(f'[data-done="{decision_id}"][data-verdict="approve"]')
    axe_check(page)
    assert page.locator('[data-field="limit_minor"]').get_attribute("data-minor") == \
        str(offered)
    assert page.locator("#approve-form").count() == 0  # decided: no more forms
    [customer] = _query(seeded["url"], select(credit_lines.c.limit_minor).where(
        credit_lines.c.limit_minor == offered))
    assert customer.limit_minor == offered
    page.goto(f"{base}/console/referrals?status=resolved")
    assert page.locator(f'tr[data-referral="{decision_id}"]').count() == 1


def test_a_fraud_case_is_resolved_and_the_held_payment_released(queues_server: WebServer,
                                                                 new_context: Any) -> None:
    base, seeded = queues_server.base, queues_server.seeded
    page = _log_in(new_context(DESKTOP, "zh-CN"), base, seeded["staff"]["fraud"],
                   "/console/fraud")
    axe_check(page)
    _fits_a_phone(page)
    row = page.locator("tr[data-case]").first
    assert row.locator('[data-field="amount_minor"]').get_attribute("data-minor") == \
        str(HELD_MINOR)
    case_id = row.get_attribute("data-case")
    row.locator("a").click()
    page.wait_for_url(f"{base}/console/fraud/{case_id}")
    axe_check(page)
    _fits_a_phone(page)
    assert page.locator('[data-field="payment.status"]').inner_text() == "in_review"
    assert page.locator('[data-field="screening.rules_hit"]').first.inner_text() == \
        "odd_amount_review"
    assert page.locator('[data-field="screening.decision"]').first.inner_text() == "review"
    page.locator("#verdict-legitimate").check()
    page.locator("#note").fill("客户电话确认")
    page.locator("#resolve-form button[type=submit]").click()
    page.wait_for_selector(f'[data-done="{case_id}"][data-payment-action="approved"]')
    axe_check(page)
    [intent] = _query(seeded["url"], select(payment_intents.c.status).where(
        payment_intents.c.id == seeded["intent_id"]))
    assert intent.status != "in_review"  # released to the customer to confirm again
    assert page.locator('[data-field="payment.status"]').inner_text() == intent.status


def test_a_playbook_is_previewed_proposed_refused_to_its_proposer_and_approved(
        queues_server: WebServer, new_context: Any) -> None:
    base, seeded = queues_server.base, queues_server.seeded
    alert_id = seeded["alert_id"]
    maker = _log_in(new_context(DESKTOP, "en"), base, seeded["staff"]["maker"],
                    "/console/alerts")
    axe_check(maker)
    _fits_a_phone(maker)
    maker.locator(f'tr[data-alert="{alert_id}"] a').click()
    maker.wait_for_url(f"{base}/console/alerts/{alert_id}")
    axe_check(maker)
    maker.locator("#p-share").fill("0.9")  # above the playbook's 0.5: refused, named
    maker.locator("#preview-form button[type=submit]").click()
    assert "parameters.share" in maker.locator("#preview-error").inner_text()
    maker.locator("#p-share").fill("0.25")
    maker.locator("#preview-form button[type=submit]").click()
    maker.wait_for_selector("[data-preview=lower_limits]")
    axe_check(maker)
    _fits_a_phone(maker)
    rows = maker.locator("tr[data-line]")
    previewed = {}
    for n in range(rows.count()):
        row = rows.nth(n)
        limit = int(row.locator('[data-field="limit_minor"]').get_attribute("data-minor"))
        new = int(row.locator('[data-field="new_limit_minor"]').get_attribute("data-minor"))
        cut = int(row.locator('[data-field="change_minor"]').get_attribute("data-minor"))
        assert cut == limit - new
        previewed[row.get_attribute("data-line")] = (limit, new)
    assert len(previewed) >= 2
    for line_id, (limit, new) in previewed.items():
        if limit == LIMIT_MINOR:
            assert new == 750_000, line_id
    total_cut = int(maker.locator('[data-field="totals.change_minor"]').get_attribute(
        "data-minor"))
    assert total_cut == sum(limit - new for limit, new in previewed.values())
    # The preview changed nothing.
    before = dict(_query(seeded["url"], select(credit_lines.c.line_id,
                                               credit_lines.c.limit_minor)))
    assert {k: v[0] for k, v in previewed.items()} == {k: before[k] for k in previewed}

    maker.locator("#propose-form button[type=submit]").click()
    maker.wait_for_selector("[data-proposed]")
    approval_id = maker.locator("[data-proposed]").get_attribute("data-proposed")
    axe_check(maker)
    # The proposer is offered no decision, and one posted anyway is refused (403).
    maker.goto(f"{base}/console/approvals")
    mine = maker.locator(f'[data-approval="{approval_id}"]')
    assert "You proposed this" in mine.inner_text() and mine.locator("form").count() == 0
    csrf = maker.locator('form[action="/console/logout"] input[type=hidden]').first
    refused = maker.context.request.post(
        f"{base}/console/approvals/{approval_id}/approve",
        form={csrf.get_attribute("name"): csrf.get_attribute("value"),
              "once": "web-proposer-tries-to-approve-0001"})
    assert refused.status == 403
    assert dict(_query(seeded["url"], select(credit_lines.c.line_id,
                                             credit_lines.c.limit_minor))) == before

    checker = _log_in(new_context(PHONE, "zh-CN"), base, seeded["staff"]["checker"],
                      "/console/approvals")
    card = checker.locator(f'[data-approval="{approval_id}"]')
    card.locator("form.decide button.primary").click()
    checker.wait_for_selector(f'[data-done="{approval_id}"]')
    axe_check(checker)
    after = dict(_query(seeded["url"], select(credit_lines.c.line_id,
                                              credit_lines.c.limit_minor)))
    assert {line: after[line] for line in previewed} == \
        {line: new for line, (_, new) in previewed.items()}
    maker.goto(f"{base}/console/alerts/{alert_id}")
    assert maker.locator('[data-field="status"]').inner_text() == "Actioned"


def test_a_collections_agent_opens_collections_and_nothing_of_risk(
        queues_server: WebServer, new_context: Any) -> None:
    base, seeded = queues_server.base, queues_server.seeded
    page = _log_in(new_context(PHONE, "zh-CN"), base, seeded["staff"]["collector"],
                   "/console/collections")
    axe_check(page)
    _fits_a_phone(page)
    assert page.locator('[data-field="rules.contacts_per_day_max"]').inner_text() == "3"
    assert page.locator('[data-field="rules.quiet_hours"]').inner_text() == "21:00–08:00"
    row = page.locator(f'tr[data-case="{seeded["case_id"]}"]')
    assert row.locator('[data-field="dpd"]').inner_text() == "12"
    assert row.locator('[data-field="owed_minor"]').get_attribute("data-minor") is not None
    assert "¥500.00" in row.locator('[data-field="promise"]').inner_text()
    row.locator("a").click()
    page.wait_for_url(f"{base}/console/collections/{seeded['case_id']}")
    axe_check(page)
    _fits_a_phone(page)
    assert page.locator(f'[data-contact-rule="{seeded["contact_rule"]}"]').count() == 1
    assert page.locator("[data-promise]").count() == 1
    for path in ("/console/referrals", f"/console/fraud/{seeded['case_id']}",
                 "/console/alerts", "/console/complaints"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
    axe_check(page)
    # The tabs shown are the ones the role opens.
    tabs = {a.get_attribute("href") for a in page.locator("nav.tabs a").all()}
    assert "/console/collections" in tabs and "/console/referrals" not in tabs


def test_complaints_with_their_clocks_and_the_roles_of_each_queue(
        queues_server: WebServer, new_context: Any) -> None:
    base, seeded = queues_server.base, queues_server.seeded
    page = _log_in(new_context(DESKTOP, "en"), base, seeded["staff"]["compliance"],
                   "/console/complaints")
    axe_check(page)
    _fits_a_phone(page)
    card = page.locator(f'[data-complaint="{seeded["complaint_id"]}"]')
    acknowledge = int(card.locator('[data-clock="acknowledge"]').get_attribute("data-seconds"))
    resolve = int(card.locator('[data-clock="resolve"]').get_attribute("data-seconds"))
    # Opened just now: about 24 hours to acknowledge, 15 days to resolve, neither late.
    assert 23 * 3600 < acknowledge <= 24 * 3600 and 14 * 86400 < resolve <= 15 * 86400
    card.locator("form[action$='/acknowledge'] button").click()
    page.wait_for_selector(f'[data-done="{seeded["complaint_id"]}"][data-status="acknowledged"]')
    axe_check(page)
    card = page.locator(f'[data-complaint="{seeded["complaint_id"]}"]')
    assert "done in time" in card.locator('[data-clock="acknowledge"]').inner_text()
    card.locator("select").select_option("not_upheld")
    card.locator("form[action$='/resolve'] button").click()
    page.wait_for_selector(f'[data-done="{seeded["complaint_id"]}"][data-status="resolved"]')
    page.goto(f"{base}/console/complaints?status=resolved")
    assert page.locator(f'[data-complaint="{seeded["complaint_id"]}"]').count() == 1
    axe_check(page)
    # Compliance reads referrals, alerts and collections; the fraud queue is not theirs.
    for path, status in (("/console/referrals", 200), ("/console/alerts", 200),
                         (f"/console/alerts/{seeded['alert_id']}", 200),
                         ("/console/collections", 200), ("/console/fraud", 403)):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == status, path
        axe_check(page)
    # Support works complaints only.
    support = _log_in(new_context(PHONE, "en"), base, seeded["staff"]["support"],
                      "/console/complaints")
    for path in ("/console/referrals", "/console/fraud", "/console/alerts",
                 "/console/collections"):
        response = support.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path


def test_no_session_is_sent_to_log_in(queues_server: WebServer, new_context: Any) -> None:
    base = queues_server.base
    page = new_context(PHONE, "en").new_page()
    for path in ("/console/referrals", "/console/fraud", "/console/alerts",
                 "/console/collections", "/console/complaints"):
        page.goto(f"{base}{path}")
        page.wait_for_url(f"{base}/console/login?next={path}")
