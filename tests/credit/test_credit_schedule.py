import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditpay.credit.schedule import (
    Method,
    ScheduleTerms,
    amortisation_schedule,
    build_schedule,
    level_payment_exact,
    round_fraction,
)
from creditpay.errors import ValidationError
from creditpay.money import Rounding

D = dt.date


def test_reference_example_100_at_7_percent_6_months():
    s = amortisation_schedule(10_000, "CNY", Decimal("0.07"), 6, "equal_installment",
                              D(2024, 1, 1), "monthly", "30/360")
    assert [i.total_minor for i in s.installments] == [1701] * 5 + [1700]
    assert [i.interest_minor for i in s.installments] == [58, 49, 39, 29, 20, 10]
    assert [i.due_date for i in s.installments] == [D(2024, m, 1) for m in range(2, 8)]
    assert [i.balance_after_minor for i in s.installments] == [8357, 6705, 5043, 3371, 1690, 0]
    assert s.level_payment_minor == 1701
    assert (s.totals.principal_minor, s.totals.interest_minor, s.totals.total_minor) == (
        10_000, 205, 10_205)


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        (Fraction(5, 2), Rounding.HALF_UP, 3), (Fraction(-5, 2), Rounding.HALF_UP, -3),
        (Fraction(5, 2), Rounding.HALF_EVEN, 2), (Fraction(7, 2), Rounding.HALF_EVEN, 4),
        (Fraction(5, 2), Rounding.HALF_DOWN, 2), (Fraction(-5, 2), Rounding.HALF_DOWN, -2),
        (Fraction(21, 10), Rounding.UP, 3), (Fraction(-21, 10), Rounding.UP, -3),
        (Fraction(29, 10), Rounding.DOWN, 2), (Fraction(-29, 10), Rounding.DOWN, -2),
        (Fraction(-21, 10), Rounding.FLOOR, -3), (Fraction(-29, 10), Rounding.CEILING, -2),
        (Fraction(4), Rounding.UP, 4),
    ],
)
def test_round_fraction_modes(value, mode, expected):
    assert round_fraction(value, mode) == expected


@settings(max_examples=300, deadline=None)
@given(st.fractions(min_value=-10**6, max_value=10**6, max_denominator=10**4),
       st.sampled_from(list(Rounding)))
def test_round_fraction_agrees_with_decimal(value, mode):
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    assert round_fraction(value, mode) == int(decimal.quantize(Decimal(1),
                                                               rounding=mode.decimal_mode))


@st.composite
def loan_terms(draw):
    start = draw(st.dates(D(2020, 1, 1), D(2030, 12, 31)))
    method = draw(st.sampled_from(list(Method)))
    broken = draw(st.none() | st.integers(1, 75))
    periods = draw(st.integers(1, 36))
    return ScheduleTerms(
        principal_minor=draw(st.integers(1, 10**9)),
        currency=draw(st.sampled_from(["CNY", "USD", "JPY", "KWD"])),
        annual_rate=draw(st.decimals(Decimal(0), Decimal("0.6"), places=4)),
        periods=periods,
        method=method,
        start_date=start,
        frequency=draw(st.sampled_from(["daily", "weekly", "biweekly", "semimonthly",
                                        "monthly", "quarterly", "annual"])),
        day_count=draw(st.sampled_from(["ACT/365", "ACT/360", "30/360", "ACT/ACT"])),
        fee_rate_per_period=draw(st.decimals(Decimal(0), Decimal("0.01"), places=4)),
        first_due_date=None if broken is None else start + dt.timedelta(days=broken),
        down_payment=method is not Method.BULLET and periods > 1 and draw(st.booleans()),
        rounding=draw(st.sampled_from(list(Rounding))),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loan_terms())
def test_schedule_invariants_for_every_method(terms):
    s = build_schedule(terms)
    rows = s.installments
    assert sum(i.principal_minor for i in rows) == terms.principal_minor
    assert s.totals.principal_minor == terms.principal_minor
    assert s.totals.interest_minor == sum(i.interest_minor for i in rows)
    assert s.totals.fee_minor == sum(i.fee_minor for i in rows)
    assert s.totals.total_minor == sum(i.total_minor for i in rows)
    assert s.totals.total_minor == (s.totals.principal_minor + s.totals.interest_minor
                                    + s.totals.fee_minor)
    assert rows[-1].balance_after_minor == 0
    balance = terms.principal_minor
    for expected_number, row in enumerate(rows, start=1):
        assert row.number == expected_number
        assert row.total_minor == row.principal_minor + row.interest_minor + row.fee_minor
        assert min(row.principal_minor, row.interest_minor, row.fee_minor) >= 0
        balance -= row.principal_minor
        assert row.balance_after_minor == balance >= 0
    dates = [row.due_date for row in rows]
    assert dates == sorted(dates)
    expected_count = 1 if terms.method is Method.BULLET else terms.periods
    assert len(rows) == expected_count
    if terms.down_payment:
        assert rows[0].due_date == terms.start_date and rows[0].interest_minor == 0
    if terms.first_due_date is not None and terms.method is not Method.BULLET:
        assert terms.first_due_date in dates


@settings(max_examples=200, deadline=None)
@given(st.integers(100, 10**9), st.decimals(Decimal(0), Decimal("0.36"), places=4),
       st.integers(1, 60), st.dates(D(2020, 1, 1), D(2030, 12, 31)))
def test_30_360_monthly_interest_is_balance_times_rate_over_12(principal, rate, n, start):
    # Independent path: Decimal arithmetic with a half-up quantize, not the Fraction code.
    s = amortisation_schedule(principal, "CNY", rate, n, "equal_installment", start)
    balance = Decimal(principal)
    for row in s.installments:
        expected = (balance * rate / 12).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert row.interest_minor == int(expected)
        balance -= row.principal_minor
    payment = level_payment_exact(principal, Fraction(rate) / 12, n)
    assert s.level_payment_minor == round_fraction(payment)
    assert all(r.principal_minor + r.interest_minor == s.level_payment_minor
               for r in s.installments[:-1] if r.balance_after_minor > 0)


def _compare_with_numpy_financial(principal, rate_bp, n):
    """pmt/ipmt/ppmt in float64 vs our exact, rounded schedule (docs/credit-math.md).

    Differences come only from rounding. Our payment is rounded once (|e| <= 1/2); our
    interest is rounded every period (|r_k| <= 1/2) and accrues on our balance, which drifts
    from the unrounded balance by D_k = D_{k-1} (1 + i) - e + r_k, so
    |D_k| <= ((1 + i)^k - 1) / i. Hence per period k (before the last):
    |d interest_k| <= 1/2 + (1 + i)^(k-1) - 1 and |d principal_k| <= (1 + i)^(k-1);
    the last installment absorbs |D_(n-1)|.
    """
    rate = Decimal(rate_bp) / 10_000
    s = amortisation_schedule(principal, "USD", rate, n, "equal_installment", D(2024, 1, 1))
    i = rate_bp / 10_000 / 12
    per = np.arange(1, n + 1)
    pmt = float(npf.pmt(i, n, -principal))
    ipmt = npf.ipmt(i, per, n, -principal)
    ppmt = npf.ppmt(i, per, n, -principal)
    eps = 1e-6
    assert abs(s.level_payment_minor - pmt) <= 0.5 + eps
    worst_interest = worst_principal = 0.0
    for k, row in enumerate(s.installments[:-1], start=1):
        growth = (1 + i) ** (k - 1)
        interest_gap = abs(row.interest_minor - ipmt[k - 1])
        principal_gap = abs(row.principal_minor - ppmt[k - 1])
        assert interest_gap <= 0.5 + growth - 1 + eps
        assert principal_gap <= growth + eps
        worst_interest = max(worst_interest, interest_gap)
        worst_principal = max(worst_principal, principal_gap)
    drift_bound = ((1 + i) ** (n - 1) - 1) / i if i else n - 1
    assert abs(s.installments[-1].principal_minor - ppmt[-1]) <= drift_bound + 0.5 + eps
    return worst_interest, worst_principal


@settings(max_examples=200, deadline=None)
@given(st.integers(10_000, 10**8), st.integers(1, 2400), st.integers(2, 12))
def test_matches_numpy_financial_within_one_minor_unit_for_typical_plans(principal, rate_bp,
                                                                         n):
    # Up to 24 % a year and 12 installments the bounds give interest within 1 minor unit.
    worst_interest, worst_principal = _compare_with_numpy_financial(principal, rate_bp, n)
    assert worst_interest < 1
    assert worst_principal < 1.25


@settings(max_examples=150, deadline=None)
@given(st.integers(10_000, 10**9), st.integers(0, 3600), st.integers(2, 36))
def test_matches_numpy_financial_within_the_derived_rounding_bound(principal, rate_bp, n):
    if rate_bp == 0:
        s = amortisation_schedule(principal, "USD", Decimal(0), n, "equal_installment",
                                  D(2024, 1, 1))
        assert all(abs(r.principal_minor - principal / n) <= n for r in s.installments)
        return
    _compare_with_numpy_financial(principal, rate_bp, n)


@pytest.mark.parametrize("method", list(Method))
def test_every_method_on_a_small_loan(method):
    s = amortisation_schedule(120_000, "CNY", Decimal("0.12"), 12, method, D(2024, 1, 15))
    interest = [i.interest_minor for i in s.installments]
    principal = [i.principal_minor for i in s.installments]
    if method is Method.EQUAL_INSTALLMENT:
        assert s.level_payment_minor == 10_662  # 1200.00 at 1 %/month over 12 months
    elif method is Method.EQUAL_PRINCIPAL:
        assert principal == [10_000] * 12
        assert interest == [1_200 - 100 * k for k in range(12)]
    elif method is Method.FLAT:
        assert principal == [10_000] * 12 and interest == [1_200] * 12
    elif method is Method.INTEREST_ONLY:
        assert principal == [0] * 11 + [120_000] and interest == [1_200] * 12
    else:
        assert len(s.installments) == 1
        assert s.installments[0].due_date == D(2025, 1, 15)
        assert interest == [14_400]  # simple interest over 12 months


def test_broken_first_period_charges_actual_odd_days():
    s = amortisation_schedule(1_000_000, "CNY", Decimal("0.0365"), 6, "equal_installment",
                              D(2024, 1, 10), "monthly", "30/360",
                              first_due_date=D(2024, 2, 25))
    first = s.installments[0]
    assert first.due_date == D(2024, 2, 25)
    assert first.interest_minor == 4_563  # 10,000.00 * 3.65 % * 45/360 = 45.625
    assert [i.due_date for i in s.installments[1:3]] == [D(2024, 3, 25), D(2024, 4, 25)]
    # The level payment prices the long first period (simple interest for 1.5 periods),
    # so every installment is level and the last differs by rounding residue only.
    totals = {i.principal_minor + i.interest_minor for i in s.installments[:-1]}
    assert totals == {s.level_payment_minor}
    assert abs(s.installments[-1].total_minor - s.level_payment_minor) <= 3
    regular = amortisation_schedule(1_000_000, "CNY", Decimal("0.0365"), 6,
                                    "equal_installment", D(2024, 1, 10))
    assert s.level_payment_minor > regular.level_payment_minor
    actual = amortisation_schedule(1_000_000, "CNY", Decimal("0.0365"), 6, "equal_installment",
                                   D(2024, 1, 10), "monthly", "ACT/365",
                                   first_due_date=D(2024, 2, 25))
    assert actual.installments[0].interest_minor == 4_600  # 46 actual days / 365


def test_act_365_monthly_interest_follows_month_lengths_and_last_absorbs():
    s = amortisation_schedule(3_650_000, "CNY", Decimal("0.10"), 3, "equal_principal",
                              D(2023, 1, 1), "monthly", "ACT/365")
    # Jan 31 days, Feb 28 days, Mar 31 days
    assert [i.interest_minor for i in s.installments] == [31_000, 18_667, 10_333]


def test_pay_in_4_down_payment():
    s = amortisation_schedule(10_000, "USD", Decimal(0), 4, "equal_installment",
                              D(2024, 5, 1), "biweekly", down_payment=True)
    assert [i.due_date for i in s.installments] == [
        D(2024, 5, 1), D(2024, 5, 15), D(2024, 5, 29), D(2024, 6, 12)]
    assert [i.total_minor for i in s.installments] == [2_500] * 4
    odd = amortisation_schedule(10_001, "USD", Decimal(0), 4, "equal_installment",
                                D(2024, 5, 1), "biweekly", down_payment=True)
    assert [i.total_minor for i in odd.installments] == [2_500, 2_500, 2_500, 2_501]


def test_down_payment_with_interest_is_an_annuity_due():
    s = amortisation_schedule(100_000, "CNY", Decimal("0.12"), 3, "equal_installment",
                              D(2024, 1, 1), down_payment=True)
    # P = pmt * (1 + 1/1.01 + 1/1.01^2) -> pmt = 100,000 / 2.970395 = 33,665.55 minor units
    assert s.level_payment_minor == 33_666
    assert s.installments[0].interest_minor == 0
    assert s.installments[0].principal_minor == 33_666
    assert s.installments[1].interest_minor == 663  # 66,334 * 1 %


def test_bullet_over_a_term_in_days():
    s = amortisation_schedule(500_000, "CNY", Decimal("0.1825"), 14, "bullet", D(2024, 2, 20),
                              "daily", "ACT/365")
    [only] = s.installments
    assert only.due_date == D(2024, 3, 5)
    assert only.interest_minor == 3_500  # 5,000.00 * 18.25 % * 14/365
    assert only.total_minor == 503_500 and only.balance_after_minor == 0


def test_fee_on_original_principal_each_period():
    s = amortisation_schedule(600_000, "CNY", Decimal(0), 6, "equal_principal", D(2024, 1, 1),
                              fee_rate_per_period=Decimal("0.006"))
    assert [i.fee_minor for i in s.installments] == [3_600] * 6
    assert [i.total_minor for i in s.installments] == [103_600] * 6


def test_rounding_mode_is_applied():
    up = amortisation_schedule(10_000, "CNY", Decimal("0.07"), 6, "equal_installment",
                               D(2024, 1, 1), rounding=Rounding.UP)
    down = amortisation_schedule(10_000, "CNY", Decimal("0.07"), 6, "equal_installment",
                                 D(2024, 1, 1), rounding=Rounding.DOWN)
    assert up.installments[0].interest_minor == 59 and down.installments[0].interest_minor == 58
    assert up.level_payment_minor == 1701 and down.level_payment_minor == 1700


def test_month_end_anchor_keeps_30_360_monthly_rate_exact():
    s = amortisation_schedule(1_200_000, "CNY", Decimal("0.12"), 3, "interest_only",
                              D(2024, 1, 31))
    assert [i.due_date for i in s.installments] == [D(2024, 2, 29), D(2024, 3, 31),
                                                    D(2024, 4, 30)]
    assert [i.interest_minor for i in s.installments] == [12_000] * 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"principal_minor": -1}, "principal_minor"),
        ({"principal_minor": 0}, "principal_minor"),
        ({"annual_rate": 0.07}, "annual_rate"),
        ({"annual_rate": Decimal("-0.01")}, "annual_rate"),
        ({"periods": 0}, "periods"),
        ({"method": "balloon"}, "method"),
        ({"currency": "XXQ"}, "currency"),
        ({"day_count": "ACT/366"}, "day_count"),
        ({"frequency": "hourly"}, "frequency"),
        ({"first_due_date": D(2023, 12, 1)}, "first_due_date"),
        ({"fee_rate_per_period": Decimal("2")}, "fee_rate_per_period"),
    ],
)
def test_bad_terms_name_the_field(changes, field):
    base = {"principal_minor": 10_000, "currency": "CNY", "annual_rate": Decimal("0.07"),
            "periods": 6, "method": "equal_installment", "start_date": D(2024, 1, 1)}
    with pytest.raises(ValidationError) as info:
        ScheduleTerms(**{**base, **changes})
    assert info.value.field == field
