"""Data the credit pages' browser tests start from (tests/web/test_credit_pages.py), written
in process, through the services the API uses, before the server starts:

- the application model and policy in force (so applying for a line decides);
- ``applicants``: phones of verified customers without a line, born 1990, whom the
  server's (simulated) bureau reports as borrowing nowhere else (an application is
  approved);
- ``declined(n)``: verified identity, no line, born 1950 (75: outside the age range, so an
  application is declined with the reason KO_AGE);
- ``REFERRED``: a customer whose application was referred for review (applied here with a
  bureau report the policy refers: a lender in use and two recent delinquencies);
- ``borrower(n)``: a line, a funded wallet, a purchase on the line (billed: a current bill
  whose due date is still ahead) and a purchase in 6 installments (a plan in its 14-day
  withdrawal period).

The server runs on the wall clock; a bill needs a statement day in the past and a due date
ahead of today. So the purchases are made on a simulated clock a few days back, the
borrowers' lines get a statement day two days ago (the products' day is the 1st, which
would make the tests depend on the day of the month they run), and the close of business
runs day by day up to yesterday, cutting the bill as production would.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import Any

from sqlalchemy import update

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.parties.service import Principal
from creditpay.platform.keys import LocalMasterKey

PASSWORD = "seeded password 2"
DEVICE = "seed-credit-device"
LIMIT_MINOR = 2_000_000
LINE_PURCHASE_MINOR = 30_000
PLAN_PURCHASE_MINOR = 60_000
WALLET_MINOR = 500_000
APPLICANTS = 6
DECLINED = 3
BORROWERS = 13
DAYS_BACK = 6


def applicant(n: int) -> str:
    return f"1371000{n:04d}"


def declined(n: int) -> str:
    return f"1372000{n:04d}"


REFERRED = "13740000000"


def borrower(n: int) -> str:
    return f"1373000{n:04d}"


def statement_day(today: dt.date) -> int:
    """A day of the month two or three days before ``today`` (products allow 1..28)."""
    return min((today - dt.timedelta(days=2)).day, 28)


def seed_credit(url: str, master: bytes) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    clock = SimulatedClock(dt.datetime.combine(today - dt.timedelta(days=DAYS_BACK),
                                               dt.time(9, 0), tzinfo=dt.UTC))
    app = create_app(Settings.of(database_url=url), clock,
                     config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
    rt = app.state.runtime
    try:
        _policy_in_force(rt)
        admin = rt.uow.run(lambda tx: rt.parties.create_operator(tx, name="seed-credit",
                                                                 role="admin"))
        operator = Principal("operator", admin["id"], role="admin")
        merchant = rt.uow.run(lambda tx: rt.parties.onboard_merchant(
            tx, operator, name="Credit shop", mcc="5411", discount_rate="0.006"))
        shop = Principal("merchant", merchant["merchant"]["id"],
                         scopes=frozenset({"payments:write"}))
        from creditpay.parties.partners import onboard_partner

        partner = rt.uow.run(lambda tx: onboard_partner(
            tx, admin["id"], name="Example Bank", licence_type="bank",
            licence_number="B-0001", currency="CNY",
            terms={"funding_rate_bps": 600, "service_fee_bps": 400,
                   "exposure_cap_minor": 100_000_000, "per_borrower_cap_minor": 5_000_000}))
        password_hash = rt.parties.passwords.hash(PASSWORD)
        applicants = _clean_applicants(rt, password_hash)
        _referred_applicant(rt, password_hash)
        for n in range(DECLINED):
            _customer(rt, declined(n), password_hash, dt.date(1950, 1, 15))
        lines = []
        for n in range(BORROWERS):
            who = _customer(rt, borrower(n), password_hash, dt.date(1988, 3, 9))
            lines.append(_borrow(rt, operator, shop, who, n))
        from creditpay.credit.tables import credit_accounts

        with rt.uow.begin() as tx:
            tx.conn.execute(update(credit_accounts).where(
                credit_accounts.c.account_id.in_(lines)).values(
                statement_day=statement_day(today)))
        _close_until(rt, clock, today)
        return {"lines": lines, "applicants": applicants,
                "partner_id": partner["partner_id"]}
    finally:
        rt.close()


def _clean_applicants(rt: Any, password_hash: str) -> list[str]:
    """``APPLICANTS`` phones of verified customers the server's bureau (the simulator,
    deterministic per customer id, and ids are random) reports as borrowing nowhere else,
    so that the application policy approves them whatever ids this run drew."""
    phones: list[str] = []
    n = 0
    while len(phones) < APPLICANTS:
        who = _customer(rt, applicant(n), password_hash, dt.date(1990, 5, 17))
        report = rt.config.bureau.fetch(who.id, rt.clock.now())
        if (report.lenders_in_use, report.inquiries_6m, report.delinquencies_24m) == (0, 0, 0):
            phones.append(applicant(n))
        n += 1
    return phones


class _ThinBureau:
    """A lender in use and two recent delinquencies: with a modest income and no history on
    the platform, grade D, which the application policy refers (as in
    tests/api/test_consumer_credit_api.py)."""

    name = "tests:thin"

    def fetch(self, customer_id: str, as_of: dt.datetime) -> Any:
        from creditpay.risk.bureau import BureauReport

        return BureauReport(customer_id=customer_id, debt_minor=0, monthly_repayment_minor=0,
                            inquiries_6m=0, lenders_in_use=1, delinquencies_24m=2,
                            bureau=self.name)


def _referred_applicant(rt: Any, password_hash: str) -> None:
    """``REFERRED`` agrees to the two consents and applies; the decision is a referral."""
    from creditpay.api.routes_consumer_credit import DECISION_PRODUCT, LINE_PRODUCT
    from creditpay.payments.history import customer_activity
    from creditpay.protection.consent import consent_text, grant_consent
    from creditpay.risk.decisions.applications import ApplyForCreditLine, apply_for_credit_line

    who = _customer(rt, REFERRED, password_hash, dt.date(1990, 5, 17))
    for purpose in ("bureau_inquiry", "credit_assessment"):
        text = consent_text(purpose, "zh-CN")
        rt.uow.run(lambda tx, p=purpose, t=text: grant_consent(
            tx, customer_id=who.id, purpose=p, language="zh-CN", text_version=t.version,
            text_sha256=t.sha256, channel="app"))
    result = rt.uow.run(lambda tx: apply_for_credit_line(tx, ApplyForCreditLine(
        application_id="app_seed_referred", customer_id=who.id,
        monthly_income_minor=400_000, employment_type="salaried", housing="rent",
        declared_monthly_obligations_minor=0, line_product_code=LINE_PRODUCT,
        currency="CNY", decision_product_code=DECISION_PRODUCT),
        identities=rt.parties, bureau=_ThinBureau(), open_line=rt.origination.open_credit_line,
        activity=customer_activity))
    assert result.decision.outcome == "refer", result.decision.outcome


def _policy_in_force(rt: Any) -> None:
    from creditpay.risk.decisions import registry
    from creditpay.risk.decisions.policy import (
        activate_policy,
        bundled_policy_path,
        load_policy_file,
    )
    from creditpay.risk.features.synthetic import train_synthetic_models

    with tempfile.TemporaryDirectory(prefix="creditpay-web-model-") as folder:
        model = train_synthetic_models(folder, seed=11, n_customers=1500,
                                       created_at="2025-01-01T00:00:00+00:00",
                                       author="tests")["application"]
        with rt.uow.begin() as tx:
            registry.register_model(tx, model, name="application", registered_by="tests")
            registry.promote(tx, "application", 1, actor="tests", reason="initial")
            activate_policy(tx, load_policy_file(bundled_policy_path("application")),
                            actor="tests")


def _customer(rt: Any, phone: str, password_hash: str, born: dt.date) -> Principal:
    view = rt.uow.run(lambda tx: rt.parties.register(
        tx, phone=phone, email=None, password_hash=password_hash, device_id=DEVICE,
        locale="zh-CN"))
    who = Principal("customer", view["id"])
    rt.uow.run(lambda tx: rt.parties.verify_kyc(
        tx, who, legal_name="测试", id_number=f"E{phone[-8:]}", date_of_birth=born))
    return who


def _borrow(rt: Any, operator: Principal, shop: Principal, who: Principal, n: int) -> str:
    """A line, a funded wallet, a purchase on the line and one in 6 installments; the
    line's id."""
    from creditpay.api.routes_operators import deliver_rail_callbacks

    line = rt.uow.run(lambda tx: rt.origination.open_credit_line(
        tx, operator, who.id, limit_minor=LIMIT_MINOR, product_code="huabei"))
    service = rt.payments

    def add_card(tx: Any) -> dict[str, Any]:
        card = service.rail.tokenise(tx, "4242424242424242", 12, 2099)
        return rt.parties.add_card(tx, who, rail_token=card.token, brand=card.brand,
                                   last4=card.last4, expiry_month=12, expiry_year=2099)

    card = rt.uow.run(add_card)
    rt.uow.run(lambda tx: service.top_up(tx, who, card_id=card["id"],
                                         amount_minor=WALLET_MINOR))
    deliver_rail_callbacks(rt)
    for amount, funding, periods in ((LINE_PURCHASE_MINOR, "credit_line", None),
                                     (PLAN_PURCHASE_MINOR, "installment_plan", 6)):
        intent_id = rt.uow.run(lambda tx, a=amount, f=funding: service.create_intent(
            tx, shop, amount_minor=a, currency="CNY", order_id=f"seed-{n}-{f}"))["id"]
        offers = rt.uow.run(lambda tx, i=intent_id: service.quote_offers(tx, who, i))["offers"]
        offer = next(o for o in offers if o["funding"] == funding
                     and (periods is None or o.get("periods") == periods))
        rt.uow.run(lambda tx, i=intent_id, o=offer: service.confirm(
            tx, who, i, funding=o["funding"], offer_id=o["offer_id"],
            key_facts_sha256=o["key_facts_sha256"]))
        rt.uow.run(lambda tx, i=intent_id: service.capture(tx, shop, i))
    return str(line["line_id"]) if "line_id" in line else str(line["account_id"])


def _close_until(rt: Any, clock: SimulatedClock, today: dt.date) -> None:
    """Close every business day from the clock's up to yesterday (as the nightly job)."""
    from creditpay.credit.cob import run_close_of_business
    from creditpay.nightly import auto_debit_consents

    while clock.today() < today:
        day = clock.today()
        clock.set(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 30),
                                      tzinfo=dt.UTC))
        run_close_of_business(rt.uow, day, audit_checkpointer=None,
                              auto_debit_consents=auto_debit_consents(),
                              catalogue=rt.catalogue)
