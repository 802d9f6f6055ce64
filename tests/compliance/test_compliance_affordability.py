"""Affordability and over-indebtedness rules: every rule reported, refusals name their rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from creditpay.credit import affordability as A
from creditpay.credit.schedule import amortisation_schedule
from creditpay.credit.tables import affordability_checks
from creditpay.errors import LimitExceededError, ValidationError
from creditpay.platform.tables import audit_records

NOW = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)


def _snapshot(**changes):
    base = dict(currency="CNY", monthly_income_minor=1_000_000,  # 10,000.00 a month
                monthly_debt_payments_minor=200_000, exposure_minor=500_000, open_plans=1,
                credit_limit_minor=1_000_000, used_minor=300_000)
    base.update(changes)
    return A.BorrowerSnapshot(**base)


def _rule(result, name):
    (outcome,) = [r for r in result.rules if r.rule == name]
    return outcome


def test_affordable_purchase_passes_every_rule():
    result = A.assess_new_credit(_snapshot(), 600_000, 105_329, is_installment_plan=True)
    assert result.passed and result.failed_rules == [] and result.nudges == []
    assert [r.rule for r in result.rules] == ["income_verified", "debt_to_income",
                                              "exposure_cap", "concurrent_plans",
                                              "high_utilisation"]
    dti = _rule(result, "debt_to_income")
    assert dti.figures["debt_to_income"] == "0.3053"  # (200,000 + 105,329) / 1,000,000
    result.refuse()  # passing: nothing raised


def test_debt_to_income_boundary_is_inclusive():
    at_cap = A.assess_new_credit(_snapshot(), 1_000, 300_000, is_installment_plan=False)
    assert _rule(at_cap, "debt_to_income").passed  # exactly 50 %
    above = A.assess_new_credit(_snapshot(), 1_000, 300_001, is_installment_plan=False)
    assert above.failed_rules == ["debt_to_income"]
    with pytest.raises(LimitExceededError) as exc:
        above.refuse()
    error = exc.value
    assert error.extra["rule"] == "debt_to_income" and error.field == "debt_to_income"
    assert "50.0%" in error.extra["message_zh_cn"] and "over-indebtedness" in \
        error.extra["message_en"]


def test_unknown_income_refuses_both_income_rules():
    result = A.assess_new_credit(_snapshot(monthly_income_minor=0), 1_000, 100,
                                 is_installment_plan=False)
    assert result.failed_rules == ["income_verified", "debt_to_income"]
    assert _rule(result, "debt_to_income").figures["debt_to_income"] is None


def test_exposure_and_plan_caps_name_their_rules():
    result = A.assess_new_credit(_snapshot(exposure_minor=19_950_000, open_plans=5),
                                 60_000, 1_000, is_installment_plan=True)
    assert result.failed_rules == ["exposure_cap", "concurrent_plans"]
    with pytest.raises(LimitExceededError) as exc:
        result.refuse()
    assert exc.value.extra["rules"] == ["exposure_cap", "concurrent_plans"]
    assert _rule(result, "exposure_cap").figures["exposure_after_minor"] == 20_010_000
    # A purchase on the line is not a new plan: the plan cap does not apply.
    line = A.assess_new_credit(_snapshot(open_plans=5), 1_000, 1_000,
                               is_installment_plan=False)
    assert "concurrent_plans" not in [r.rule for r in line.rules] and line.passed


def test_high_utilisation_nudges_but_never_refuses():
    result = A.assess_new_credit(_snapshot(used_minor=800_000), 1_000, 1_000,
                                 is_installment_plan=False)
    assert result.passed and [n.rule for n in result.nudges] == ["high_utilisation"]
    nudge = A.spending_nudge(_snapshot(used_minor=950_000))
    assert nudge is not None and "95.0%" in nudge.message_en and "理性消费" in nudge.message_zh_cn
    assert A.spending_nudge(_snapshot(used_minor=799_999)) is None


def test_limit_increase_cooling_off():
    recent = _snapshot(limit_increase_times=(NOW - dt.timedelta(days=30),))
    result = A.assess_limit_increase(recent, 1_500_000, NOW)
    assert result.failed_rules == ["limit_increase_cooling_off"]
    figures = _rule(result, "limit_increase_cooling_off").figures
    assert figures["increases_in_window"] == 1
    assert figures["next_allowed_at"] == (NOW + dt.timedelta(days=60)).isoformat()
    old = _snapshot(limit_increase_times=(NOW - dt.timedelta(days=90),))
    assert A.assess_limit_increase(old, 1_500_000, NOW).passed


def test_limit_increase_counts_the_new_limit_as_exposure():
    snapshot = _snapshot(exposure_minor=19_000_000, used_minor=300_000)
    result = A.assess_limit_increase(snapshot, 1_400_000, NOW)
    # 19,000,000 - 300,000 drawn + 1,400,000 new limit fully drawn = 20,100,000 > cap
    assert result.failed_rules == ["exposure_cap"]
    with pytest.raises(ValidationError) as exc:
        A.assess_limit_increase(snapshot, 1_000_000, NOW)
    assert exc.value.field == "new_limit_minor"


def test_monthly_payment_of_schedules():
    monthly = amortisation_schedule(600_000, "CNY", Decimal("0.12"), 6, "equal_installment",
                                    dt.date(2025, 3, 1))
    assert A.monthly_payment_of(monthly) == max(i.total_minor for i in monthly.installments)
    weekly = amortisation_schedule(52_000, "CNY", Decimal(0), 4, "equal_principal",
                                   dt.date(2025, 3, 1), frequency="weekly", day_count="ACT/365")
    assert A.monthly_payment_of(weekly) == 56_334  # 13,000 x 52 / 12 = 56,333.3 -> up


@pytest.mark.parametrize(("changes", "field"), [
    ({"currency": "USD"}, "currency"),
    ({"monthly_income_minor": -1}, "monthly_income_minor"),
    ({"open_plans": -1}, "open_plans"),
    ({"limit_increase_times": (dt.datetime(2025, 1, 1),)}, "limit_increase_times[0]"),
])
def test_bad_input_names_the_field(changes, field):
    with pytest.raises(ValidationError) as exc:
        A.assess_new_credit(_snapshot(**changes), 1_000, 100, is_installment_plan=False)
    assert exc.value.field == field


@settings(max_examples=200, deadline=None)
@given(income=st.integers(0, 10**8), debts=st.integers(0, 10**8),
       new=st.integers(0, 10**8), exposure=st.integers(0, 3 * 10**7),
       amount=st.integers(1, 10**7), plans=st.integers(0, 8))
def test_refusal_iff_some_rule_fails(income, debts, new, exposure, amount, plans):
    snapshot = _snapshot(monthly_income_minor=income, monthly_debt_payments_minor=debts,
                         exposure_minor=exposure, open_plans=plans)
    result = A.assess_new_credit(snapshot, amount, new, is_installment_plan=True)
    expected_fail = (income == 0 or 2 * (debts + new) > income
                     or exposure + amount > 20_000_000 or plans + 1 > 5)
    assert result.passed is not expected_fail
    assert set(result.failed_rules) <= {r.rule for r in result.rules if not r.passed}


def test_record_check_stores_every_rule_and_audits(uow, engine):
    result = A.assess_new_credit(_snapshot(monthly_income_minor=0), 1_000, 100,
                                 is_installment_plan=False)
    with uow.begin() as tx:
        check_id = A.record_check(tx, customer_id="cus_1", reference="off_1", result=result)
    with engine.connect() as conn:
        row = conn.execute(select(affordability_checks)).one()
        audit_row = conn.execute(select(audit_records)).one()
    assert row.id == check_id and row.passed is False and row.kind == "new_credit"
    assert row.failed_rules == ["income_verified", "debt_to_income"]
    assert [o["rule"] for o in row.outcomes] == [r.rule for r in result.rules]
    assert audit_row.action == "affordability.new_credit"
    assert audit_row.payload["failed_rules"] == row.failed_rules
