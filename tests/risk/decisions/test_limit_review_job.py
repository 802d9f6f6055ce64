"""The periodic limit review job on both stores: features from the credit domain, scored,
applied through set_credit_limit, the consumer notified, exactly once per review date."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from tests.credit.servicing_helpers import buy, new_customer

from creditpay.credit import service as S
from creditpay.credit.tables import credit_accounts
from creditpay.db.tables import outbox_events
from creditpay.errors import ValidationError
from creditpay.risk.decisions.limit_review_job import (
    NOTIFIED_TOPIC,
    review_due,
    run_limit_review,
)
from creditpay.risk.decisions.tables import limit_review_actions

DAY = dt.date(2025, 3, 1)


def _season(uow, line_id, *, opened_on=dt.date(2024, 1, 5), dpd=0):
    # Test shortcut: a year of servicing (and a delinquency) would take hundreds of closes
    # of business; the job only reads these through credit.service.portfolio.
    with uow.begin() as tx:
        tx.conn.execute(update(credit_accounts).where(
            credit_accounts.c.account_id == line_id).values(
            opened_on=opened_on, dpd=dpd, bucket="M2" if dpd >= 30 else "M0"))


def _payments(conn, customer_id, business_date):
    return 40  # what the payments domain would report for an active wallet user


def _book(uow):
    good = new_customer(uow, "good")
    buy(uow, good, "p-good", 800_000)
    late = new_customer(uow, "late")
    buy(uow, late, "p-late", 300_000)
    _season(uow, good.line_id)
    _season(uow, late.line_id, dpd=45)
    return good, late


def _line(uow, line_id):
    with uow.connect() as conn:
        return S.line_of(conn, line_id)


def _notices(uow):
    with uow.connect() as conn:
        return [r.payload | {"customer": r.aggregate_id} for r in conn.execute(
            select(outbox_events).where(outbox_events.c.topic == NOTIFIED_TOPIC)
            .order_by(outbox_events.c.id))]


def test_good_payer_raised_delinquent_frozen_at_use_notified_once(risk_store):
    uow = risk_store
    good, late = _book(uow)
    report = run_limit_review(uow, DAY, payments_count_90d=_payments)
    assert report.due and report.accounts == 2 and report.applied == 2
    assert _line(uow, good.line_id).limit_minor == 1_300_000
    frozen = _line(uow, late.line_id)
    assert frozen.limit_minor == 300_000 and frozen.available_minor == 0
    notices = {n["customer"]: n for n in _notices(uow)}
    assert notices["good"]["action"] == "increase"
    assert notices["good"]["reasons"][0]["code"] == "LR_GOOD_HISTORY"
    assert notices["late"]["action"] == "freeze"
    assert notices["late"]["new_limit_minor"] == 300_000
    assert notices["late"]["reasons"][0]["code"] == "LR_DELINQUENT"
    for notice in notices.values():
        assert notice["message"]["zh-CN"] and notice["message"]["en"]
        assert notice["reasons"][0]["zh-CN"] and notice["reasons"][0]["en"]
    with uow.connect() as conn:
        stored = {r.account_id: r for r in conn.execute(select(limit_review_actions))}
    assert stored[late.line_id].new_limit_minor == 300_000  # what was done, not 0
    assert stored[good.line_id].applied_at is not None

    again = run_limit_review(uow, DAY, payments_count_90d=_payments)
    assert again.applied == 0
    assert _line(uow, good.line_id).limit_minor == 1_300_000
    assert _line(uow, late.line_id).limit_minor == 300_000
    assert len(_notices(uow)) == 2


def test_a_late_payer_is_lowered_but_never_below_what_is_in_use(risk_store):
    uow = risk_store
    who = new_customer(uow, "late")
    buy(uow, who, "p1", 700_000)
    _season(uow, who.line_id, dpd=10)  # currently late: policy halves the limit to 500,000
    run_limit_review(uow, DAY, payments_count_90d=_payments)
    assert _line(uow, who.line_id).limit_minor == 700_000
    (notice,) = _notices(uow)
    assert notice["action"] == "decrease" and notice["reasons"][0]["code"] == \
        "LR_RECENT_DELINQUENCY"


def test_cooling_off_and_cadence(risk_store, clock):
    uow = risk_store
    good = new_customer(uow, "good")
    buy(uow, good, "p-good", 800_000)
    _season(uow, good.line_id)
    run_limit_review(uow, DAY, payments_count_90d=_payments)
    assert _line(uow, good.line_id).limit_minor == 1_300_000
    with uow.connect() as conn:
        assert not review_due(conn, DAY + dt.timedelta(days=10), 30)
    clock.set("2025-04-05T09:00:00+00:00")
    buy(uow, good, "p-more", 400_000)  # utilisation back above 50 %
    skipped = run_limit_review(uow, dt.date(2025, 4, 5), payments_count_90d=_payments)
    assert skipped.due
    assert _line(uow, good.line_id).limit_minor == 1_300_000  # raised < 90 days ago
    with uow.connect() as conn:
        row = conn.execute(select(limit_review_actions).where(
            limit_review_actions.c.review_date == dt.date(2025, 4, 5))).one()
    assert row.action == "keep" and row.reasons[0]["code"] == "LR_COOLING_OFF"
    assert len(_notices(uow)) == 1


def test_not_due_does_nothing_and_bad_arguments_are_named(risk_store):
    with pytest.raises(ValidationError) as error:
        run_limit_review(risk_store, DAY, every_days=0)
    assert error.value.field == "every_days"
    with pytest.raises(ValidationError) as error:
        run_limit_review(risk_store, "2025-03-01")  # type: ignore[arg-type]
    assert error.value.field == "business_date"
    report = run_limit_review(risk_store, DAY)  # an empty book: due, nothing to review
    assert report.accounts == 0 and report.applied == 0


def test_cli_limit_review(tmp_path):
    import json

    from typer.testing import CliRunner

    from creditpay.cli import app

    runner = CliRunner()
    db = str(tmp_path / "review.db")
    result = runner.invoke(app, ["risk", "limit-review", "--date", "2025-01-01", "--db", db,
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"business_date": "2025-01-01", "due": True,
                                         "accounts": 0, "actions": {}, "applied": 0}
    result = runner.invoke(app, ["risk", "limit-review", "--date", "01/01/2025", "--db", db])
    assert result.exit_code == 2 and "--date" in result.output
