"""A small seeded portfolio for the early-warning tests (both stores).

Test shortcuts, as in the limit-review tests: decisions, screened payment intents, buckets
and first installments are written straight into their tables (months of servicing would
take hundreds of closes of business); the job only reads them through the owning domains'
public functions.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import update
from tests.credit.servicing_helpers import buy, new_customer
from tests.risk.decisions.conftest import model_dirs, risk_store  # noqa: F401 - fixtures

from creditpay.credit.tables import credit_accounts, credit_installments
from creditpay.payments.tables import payment_intents
from creditpay.risk.decisions.policy import active_policy
from creditpay.risk.decisions.tables import credit_decisions

DAY = dt.date(2025, 3, 1)  # the clock fixture's business date
AT = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def add_decision(tx, customer_id: str, outcome: str, *, grade: str | None = "A",
                 product_code: str = "credit_line", at: dt.datetime = AT,
                 score: float | None = 600.0, features: dict | None = None,
                 model_version: int = 1) -> None:
    policy = active_policy(tx.conn, "application")
    tx.conn.execute(credit_decisions.insert().values(
        id=uuid.uuid4().hex, application_id=uuid.uuid4().hex, customer_id=customer_id,
        product_code=product_code, decided_at=at, outcome=outcome, grade=grade, score=score,
        pd=0.05, limit_minor=100_000 if outcome == "approve" else None, apr_bps=1800,
        currency="CNY", model_name="application", model_version=model_version,
        model_role="champion", policy_id=policy.policy_id, policy_version=policy.version,
        policy_hash=policy.content_hash, request_sha256="0" * 64, inputs={},
        features=features or {}, model_output={}, policy_output={}, reasons=[]))


def add_intent(tx, outcome: str | None, *, scenario: str = "online",
               at: dt.datetime = AT) -> None:
    n = uuid.uuid4().hex[:20]
    tx.conn.execute(payment_intents.insert().values(
        id=f"pi_{n}", merchant_id="mer_test", order_id=n, amount_minor=1_000, currency="CNY",
        scenario=scenario, line_items=[], status="succeeded", risk_outcome=outcome,
        expires_at=at + dt.timedelta(days=1), created_at=at))


def set_account(uow, account_id: str, **values) -> None:
    with uow.begin() as tx:
        tx.conn.execute(update(credit_accounts).where(
            credit_accounts.c.account_id == account_id).values(**values))


def set_first_installment(uow, account_id: str, due: dt.date, status: str) -> None:
    with uow.begin() as tx:
        seq = tx.conn.execute(credit_accounts.select().where(
            credit_accounts.c.account_id == account_id)).one().seq
        tx.conn.execute(credit_installments.insert().values(
            account_seq=seq, number=1, due_date=due, status=status, principal_minor=10_000,
            interest_minor=0, fee_minor=0,
            principal_paid_minor=10_000 if status == "paid" else 0, interest_paid_minor=0,
            fee_paid_minor=0, minimum_minor=10_000))


@pytest.fixture
def book(risk_store):  # noqa: F811 - the imported fixture
    """Ten customers c0..c9 on huabei lines of 1,000,000; c<i> drew (i+1) x 50,000; c0-c4
    are grade A, c5-c9 grade B (their approved decisions, a day earlier); every line
    account was opened on 2024-12-20 with its first installment due 2025-01-25, unpaid for
    c0, c1, c2 and paid for the others."""
    uow = risk_store
    customers = []
    for i in range(10):
        who = new_customer(uow, f"c{i}", limit_minor=1_000_000)
        buy(uow, who, f"p{i}", (i + 1) * 50_000)
        customers.append(who)
        set_account(uow, who.line_id, opened_on=dt.date(2024, 12, 20))
        set_first_installment(uow, who.line_id, dt.date(2025, 1, 25),
                              "past_due" if i < 3 else "paid")
    with uow.begin() as tx:
        for i in range(10):
            add_decision(tx, f"c{i}", "approve", grade="A" if i < 5 else "B",
                         at=AT - dt.timedelta(days=1), score=None)
    return uow, customers


def add_alert(uow, playbook: str, *, segment: str = "all", metric: str = "utilisation",
              monitor: str | None = None, day: dt.date = DAY) -> str:
    """An open alert as the job stores it (the job's own alerts are tested in test_job)."""
    from creditpay.risk.early_warning.job import _alert_row
    from creditpay.risk.early_warning.monitors import Alert
    from creditpay.risk.early_warning.tables import ew_alerts

    alert = Alert(monitor=monitor or f"{metric}_{playbook}", metric=metric, segment=segment,
                  day=day, severity="critical", value=0.6, statistic=0.6, centre=0.3,
                  lower=0.24, upper=0.36, sigmas=15.0, method="rolling", playbook=playbook,
                  evidence={"k": 3.0, "window": 28, "recent_values": [0.3, 0.6]})
    row = _alert_row(alert, AT)
    with uow.begin() as tx:
        tx.conn.execute(ew_alerts.insert().values(**row))
    return row["id"]
