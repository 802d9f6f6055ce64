"""The pure hardship options (credit.hardship_core) and the policy's validation on load."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.daycount import DayCount
from creditpay.credit.hardship_core import (
    HardshipAccount,
    ScheduledInstallment,
    auto_decision,
    check_eligible,
    hardship_options,
    reamortisation_extensions,
)
from creditpay.credit.products import HardshipPolicy, parse_product
from creditpay.credit.schedule import Method, ScheduleTerms, build_schedule
from creditpay.errors import StateError, ValidationError
from tests.catalogues import CATALOGUE


def _account(principal, rate_micro, periods, start, elapsed, *, interest=True,
             fee_rate=Decimal(0), dpd=0):
    """An account as opened ``elapsed`` days ago (< one period): its schedule as origination
    built it, the interest accrued since then carried exactly."""
    rate = Decimal(rate_micro) / 1_000_000 if interest else Decimal(0)
    schedule = build_schedule(ScheduleTerms(
        principal_minor=principal, currency="CNY", annual_rate=rate, periods=periods,
        method=Method.EQUAL_INSTALLMENT if interest else Method.FLAT, start_date=start,
        day_count=DayCount.ACT_365, fee_rate_per_period=fee_rate))
    rows = tuple(ScheduledInstallment(i.number, i.due_date, i.principal_minor,
                                      i.interest_minor, i.fee_minor)
                 for i in schedule.installments)
    accrued = Fraction(principal) * Fraction(rate) * Fraction(elapsed, 365)
    return HardshipAccount(
        account_id="a1", kind="loan" if interest else "plan", status="active",
        currency="CNY", dpd=dpd,
        method=Method.EQUAL_INSTALLMENT if interest else Method.FLAT,
        interest_bearing=interest, annual_rate=rate, day_count=DayCount.ACT_365,
        start_date=start + dt.timedelta(days=elapsed), accrued_interest_minor=accrued,
        anchor_day=start.day, scheduled=rows, product_code="p", product_version=1)


POLICY = HardshipPolicy(payment_holiday_cycles_max=3, reamortisation_term_extension_max=12,
                        reduced_rate_floor=Decimal("0.05"))
WAIVED = POLICY.model_copy(update={"holiday_interest": "waived"})


@settings(max_examples=60, deadline=None)
@given(principal=st.integers(10_000, 50_000_000), rate_micro=st.integers(60_000, 360_000),
       periods=st.integers(1, 24), start=st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 28)),
       elapsed=st.integers(0, 27))
def test_options_add_up_and_a_holiday_never_reduces_what_is_owed(principal, rate_micro,
                                                                 periods, start, elapsed):
    account = _account(principal, rate_micro, periods, start, elapsed)
    options = hardship_options(account, POLICY)
    assert len({o.option_id for o in options}) == len(options)
    for option in options:
        rows = option.schedule.installments
        totals = option.schedule.totals
        assert sum(r.principal_minor for r in rows) == principal == totals.principal_minor
        assert sum(r.total_minor for r in rows) == totals.total_minor == option.new_total_minor
        assert all(r.total_minor == r.principal_minor + r.interest_minor + r.fee_minor
                   for r in rows)
        assert rows[-1].balance_after_minor == 0
        assert rows[0].due_date > account.start_date
        assert option.extra_cost_minor == option.new_total_minor - account.current_total_minor
        if option.kind == "payment_holiday":
            # Interest runs on: deferring never lowers what is owed.
            assert option.new_total_minor >= account.current_total_minor
            assert len(rows) == periods
            assert rows[0].due_date > account.scheduled[0].due_date
        elif option.kind == "reamortisation":
            assert len(rows) == periods + option.cycles
            assert option.extra_cost_minor >= 0
        else:
            assert option.extra_cost_minor <= 0
    waived = [o for o in hardship_options(account, WAIVED) if o.kind == "payment_holiday"]
    # Waived: the product says the holiday costs no interest; the start's accrual still counts.
    assert all(o.rate_restored_on is not None and o.rate_during_holiday == 0 for o in waived)


@settings(max_examples=40, deadline=None)
@given(principal=st.integers(10_000, 5_000_000), periods=st.sampled_from([3, 6, 9, 12]),
       start=st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 28)))
def test_a_fee_priced_plan_keeps_its_fees(principal, periods, start):
    account = _account(principal, 0, periods, start, 0, interest=False,
                       fee_rate=Decimal("0.005"))
    for option in hardship_options(account, POLICY):
        assert option.schedule.totals.fee_minor == sum(i.fee_minor for i in account.scheduled)
        assert option.extra_cost_minor == 0
        assert option.kind != "reduced_rate"


def test_eligibility_and_auto_approval():
    account = _account(1_000_000, 182_500, 6, dt.date(2025, 1, 10), 3)
    assert check_eligible(account, POLICY) is POLICY
    refusals = {
        "not_offered": (account, None),
        "dpd": (_account(1_000_000, 182_500, 6, dt.date(2025, 1, 10), 3, dpd=91), POLICY),
        "too_many": (HardshipAccount(**{**_fields(account), "arrangements_in_window": 1}),
                     POLICY),
        "active": (HardshipAccount(**{**_fields(account), "arrangement_active": True}),
                   POLICY),
        "line": (HardshipAccount(**{**_fields(account), "kind": "line"}), POLICY),
        "billed": (HardshipAccount(**{**_fields(account), "billed_unpaid": True}), POLICY),
        "method": (HardshipAccount(**{**_fields(account), "method": Method.BULLET}), POLICY),
    }
    for rule, (candidate, policy) in refusals.items():
        with pytest.raises(StateError) as refused:
            check_eligible(candidate, policy)
        assert refused.value.field == "account_id"
        assert refused.value.extra["rule"] == f"hardship.{rule}"
    assert auto_decision(0, POLICY, "job_loss") == "approved"
    assert auto_decision(31, POLICY, "job_loss") == "referred"
    assert auto_decision(0, POLICY, "other") == "referred"
    assert reamortisation_extensions(12) == (3, 6, 12)
    assert reamortisation_extensions(4) == (3, 4)
    assert reamortisation_extensions(0) == ()


def _fields(account):
    return {name: getattr(account, name) for name in account.__slots__}


@pytest.mark.parametrize(("change", "field"), [
    ({"payment_holiday_cycles_max": 13}, "hardship.payment_holiday_cycles_max"),
    ({"reduced_rate_floor": 0.05}, "hardship.reduced_rate_floor"),
    ({"broken_after_days": 0}, "hardship.broken_after_days"),
    ({"holiday_interest": "sometimes"}, "hardship.holiday_interest"),
    ({"auto_approval": {"dpd_max": 120}}, "hardship"),
    ({"auto_approval": {"reasons": ["boredom"]}}, "hardship.auto_approval.reasons[0]"),
    ({"eligibility": {"dpd_max": 181}}, "hardship.eligibility.dpd_max"),
    ({"payment_holiday_cycles_max": 0, "reamortisation_term_extension_max": 0,
      "reduced_rate_floor": "omit"}, "hardship"),
    ({"surprise": 1}, "hardship.surprise"),
])
def test_a_bad_hardship_policy_is_refused_on_load_naming_the_field(change, field):
    document = CATALOGUE.get("jiebei").model_dump(mode="json")
    document["hardship"] = {k: v for k, v in {**document["hardship"], **change}.items()
                            if v != "omit" and v is not None}
    with pytest.raises(ValidationError) as refused:
        parse_product(document)
    assert refused.value.field == field


def test_the_packaged_products_carry_their_policies():
    assert CATALOGUE.get("jiebei").hardship.payment_holiday_cycles_max == 3
    assert CATALOGUE.get("apr_plan").hardship.holiday_interest == "waived"
    # Lines too (docs/hardship.md, "A pay-later line"); a product without a block has none.
    assert CATALOGUE.get("huabei").hardship.holiday_interest == "waived"
    assert CATALOGUE.get("revolver").hardship.reduced_rate_floor == Decimal("0.12")
    assert CATALOGUE.get("paylater_m3").hardship.eligibility.dpd_max == 60
    assert getattr(CATALOGUE.get("payin4"), "hardship", None) is None
