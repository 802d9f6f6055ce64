"""Right of withdrawal: principal + interest for the days used at the contract rate, no fees."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.errors import StateError, ValidationError
from creditpay.protection.withdrawal import (
    contract_interest_to_date,
    withdrawal_amount,
    withdrawal_deadline,
)

START = dt.date(2025, 3, 1)


def test_worked_example():
    # 10,000.00 at 18 % a year, withdrawn after 10 days (ACT/365):
    # 1,000,000 x 0.18 x 10/365 = 4,931.506... -> 4,932 fen = 49.32
    quote = withdrawal_amount(1_000_000, Decimal("0.18"), START, dt.date(2025, 3, 11))
    assert quote.interest_minor == 4_932 and quote.fees_minor == 0
    assert quote.amount_due_minor == 1_004_932 and quote.refund_due_minor == 0
    assert quote.days_used == 10 and quote.deadline == dt.date(2025, 3, 15)


def test_same_day_withdrawal_costs_only_the_principal():
    quote = withdrawal_amount(50_000, Decimal("0.24"), START, START)
    assert quote.interest_minor == 0 and quote.amount_due_minor == 50_000


def test_fees_already_paid_are_refunded():
    quote = withdrawal_amount(100_000, Decimal("0"), START, dt.date(2025, 3, 5),
                              fees_paid_minor=1_800)
    assert quote.amount_due_minor == 98_200 and quote.refund_due_minor == 0
    overpaid = withdrawal_amount(100_000, Decimal("0.1"), START, dt.date(2025, 3, 5),
                                 repayments=[(dt.date(2025, 3, 2), 100_000)],
                                 fees_paid_minor=500)
    # Repaid in full on day 1: 1 day of interest on 1,000.00 at 10 % = 27.4 fen -> 0.27.
    assert overpaid.interest_minor == 27
    assert overpaid.refund_due_minor == 500 - 27 and overpaid.amount_due_minor == 0


def test_window_is_inclusive_and_configurable():
    assert withdrawal_deadline(START) == dt.date(2025, 3, 15)
    withdrawal_amount(100_000, Decimal("0.1"), START, dt.date(2025, 3, 15))
    with pytest.raises(StateError) as exc:
        withdrawal_amount(100_000, Decimal("0.1"), START, dt.date(2025, 3, 16))
    assert exc.value.extra["rule"] == "withdrawal.window_closed"
    assert exc.value.field == "withdrawal_date"
    quote = withdrawal_amount(100_000, Decimal("0.1"), START, dt.date(2025, 3, 31),
                              withdrawal_days=30)
    assert quote.deadline == dt.date(2025, 3, 31)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"principal_minor": 0}, "principal_minor"),
    ({"annual_rate": 0.1}, "annual_rate"),
    ({"withdrawal_date": dt.date(2025, 2, 28)}, "withdrawal_date"),
    ({"withdrawal_days": 0}, "withdrawal_days"),
    ({"fees_paid_minor": -1}, "fees_paid_minor"),
    ({"repayments": [(dt.date(2025, 4, 1), 10)]}, "repayments[0].date"),
    ({"repayments": [(dt.date(2025, 3, 2), -1)]}, "repayments[0].amount_minor"),
    ({"day_count": "ACT/999"}, "day_count"),
])
def test_bad_input_names_the_field(kwargs, field):
    args = {"principal_minor": 100_000, "annual_rate": Decimal("0.1"),
            "origination_date": START, "withdrawal_date": dt.date(2025, 3, 5), **kwargs}
    with pytest.raises(ValidationError) as exc:
        withdrawal_amount(**args)
    assert exc.value.field == field


def test_thirty_360_split_never_charges_a_day_twice():
    # Jan 31 -> Feb 28 -> Mar 31 counts 61 days under 30/360, Jan 31 -> Mar 31 only 60.
    start = dt.date(2025, 1, 31)
    quote = withdrawal_amount(1_000_000, Decimal("0.36"), start, dt.date(2025, 3, 31),
                              withdrawal_days=60, day_count="30/360",
                              repayments=[(dt.date(2025, 2, 28), 0)])
    assert quote.interest_minor == contract_interest_to_date(
        1_000_000, Decimal("0.36"), start, dt.date(2025, 3, 31), "30/360")


@st.composite
def withdrawals(draw):
    principal = draw(st.integers(1, 10**10))
    rate = Decimal(draw(st.integers(0, 100_000))) / Decimal(100_000)  # 0 .. 100 %
    start = draw(st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)))
    window = draw(st.integers(1, 30))
    used = draw(st.integers(0, window))
    end = start + dt.timedelta(days=used)
    repayments = draw(st.lists(st.tuples(
        st.integers(0, used).map(lambda d: start + dt.timedelta(days=d)),
        st.integers(0, principal)), max_size=4))
    fees = draw(st.integers(0, 10**6))
    day_count = draw(st.sampled_from(["ACT/365", "ACT/360", "30/360", "ACT/ACT"]))
    return principal, rate, start, end, window, repayments, fees, day_count


@settings(max_examples=300, deadline=None)
@given(withdrawals())
def test_never_more_than_principal_plus_contract_interest_and_no_fees(case):
    principal, rate, start, end, window, repayments, fees, day_count = case
    quote = withdrawal_amount(principal, rate, start, end, withdrawal_days=window,
                              repayments=repayments, fees_paid_minor=fees,
                              day_count=day_count)
    bound = contract_interest_to_date(principal, rate, start, end, day_count)
    assert quote.fees_minor == 0
    assert 0 <= quote.interest_minor <= bound
    assert quote.amount_due_minor + quote.paid_minor - quote.refund_due_minor == \
        principal + quote.interest_minor
    assert quote.amount_due_minor <= principal + bound
    assert min(quote.amount_due_minor, quote.refund_due_minor) == 0
    assert quote.paid_minor == sum(amount for _, amount in repayments) + fees
    if not repayments:
        assert quote.interest_minor == bound  # nothing repaid: the full contract interest


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 10**9), st.integers(0, 36_000), st.integers(0, 13))
def test_cost_grows_with_the_days_used(principal, rate_bp, days):
    rate = Decimal(rate_bp) / 100_000
    today = withdrawal_amount(principal, rate, START, START + dt.timedelta(days=days))
    tomorrow = withdrawal_amount(principal, rate, START, START + dt.timedelta(days=days + 1))
    assert today.amount_due_minor <= tomorrow.amount_due_minor
