"""APR tests against the worked examples of the regulations.

US: 12 CFR 1026 (Regulation Z) Appendix J, paragraph (c), "Examples for the actuarial
method" (single advance transactions (c)(1)-(c)(5)); published APRs to 2 decimals.
EU: the worked examples of the APRC equation in Annex III of Directive 98/7/EC (the
equation Directive 2008/48/EC Annex I carries forward).
"""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.apr import (
    UnitPeriod,
    all_in_annual_cost,
    appendix_j_time,
    apr_from_flows,
    apr_of_schedule,
    apr_us,
    aprc_eu,
    regular_payment_flows,
)
from creditpay.credit.calendar import add_months, due_dates
from creditpay.credit.schedule import amortisation_schedule
from creditpay.errors import ValidationError

D = dt.date


def _percent_2dp(rate: Decimal) -> Decimal:
    return (rate * 100).quantize(Decimal("0.01"))


def _regular(advance, advance_date, payment, count, frequency, first):
    return regular_payment_flows(advance, advance_date, payment, count, frequency, first)


APPENDIX_J_REGULAR = [
    # (c)(1)(i) monthly, regular first period
    ("c1i", 500_000, D(1978, 1, 10), 23_000, 24, "monthly", D(1978, 2, 10), "9.69"),
    # (c)(1)(ii) monthly, long first period (1 month 19 days)
    ("c1ii", 600_000, D(1978, 2, 10), 20_000, 36, "monthly", D(1978, 4, 1), "11.82"),
    # (c)(1)(iii) semimonthly, short first period (6 days of 15)
    ("c1iii", 500_000, D(1978, 2, 23), 21_917, 24, "semimonthly", D(1978, 3, 1), "10.34"),
    # (c)(1)(iv) quarterly, long first period (1 quarter + 1 month 9 days)
    ("c1iv", 1_000_000, D(1978, 5, 23), 38_500, 40, "quarterly", D(1978, 10, 1), "8.97"),
    # (c)(1)(v) weekly, long first period (4 weeks 4 days)
    ("c1v", 50_000, D(1978, 3, 20), 1_760, 30, "weekly", D(1978, 4, 21), "14.96"),
]


@pytest.mark.parametrize(("name", "advance", "advance_date", "payment", "count", "frequency",
                          "first", "published"), APPENDIX_J_REGULAR)
def test_appendix_j_single_advance_examples(name, advance, advance_date, payment, count,
                                            frequency, first, published):
    advances, payments = _regular(advance, advance_date, payment, count, frequency, first)
    assert _percent_2dp(apr_us(advances, payments, frequency)) == Decimal(published)
    # The unit period inferred from the payment dates is the same one.
    assert _percent_2dp(apr_us(advances, payments)) == Decimal(published)


def test_appendix_j_c1i_solved_value():
    advances, payments = _regular(500_000, D(1978, 1, 10), 23_000, 24, "monthly",
                                  D(1978, 2, 10))
    rate = apr_us(advances, payments, "monthly")
    assert abs(rate - Decimal("0.0968570806228")) < Decimal("1e-12")


def test_appendix_j_c2i_odd_first_payment():
    payments = [(D(1978, 2, 10), 25_000)] + [
        (when, 23_000) for when in due_dates(D(1978, 1, 10), 23, "monthly", D(1978, 3, 10))]
    assert _percent_2dp(apr_us([(D(1978, 1, 10), 500_000)], payments)) == Decimal("10.08")


def test_appendix_j_c2ii_every_four_weeks():
    payments = [(D(1978, 4, 20), 3_950)] + [
        (D(1978, 5, 18) + dt.timedelta(days=28 * k), 3_831) for k in range(11)]
    advances = [(D(1978, 3, 18), 40_000)]
    assert _percent_2dp(apr_us(advances, payments, UnitPeriod("week", 4))) == Decimal("28.50")
    assert _percent_2dp(apr_us(advances, payments)) == Decimal("28.50")  # inferred


def test_appendix_j_c3i_odd_final_payment():
    payments = [(when, 23_000) for when in due_dates(D(1978, 1, 10), 23, "monthly",
                                                     D(1978, 2, 10))]
    payments.append((D(1980, 1, 10), 28_000))
    assert _percent_2dp(apr_us([(D(1978, 1, 10), 500_000)], payments)) == Decimal("10.50")


def test_appendix_j_c3ii_biweekly_odd_final_payment():
    payments = [(D(1978, 4, 11) + dt.timedelta(days=14 * k), 950) for k in range(19)]
    payments.append((D(1978, 4, 11) + dt.timedelta(days=14 * 19), 3_000))
    assert _percent_2dp(apr_us([(D(1978, 4, 3), 20_000)], payments, "biweekly")) == \
        Decimal("12.22")


def test_appendix_j_c4i_odd_first_and_final_payments():
    payments = [(D(1978, 2, 10), 25_000)] + [
        (when, 23_000) for when in due_dates(D(1978, 1, 10), 22, "monthly", D(1978, 3, 10))]
    payments.append((D(1980, 1, 10), 28_000))
    assert _percent_2dp(apr_us([(D(1978, 1, 10), 500_000)], payments)) == Decimal("10.90")


def test_appendix_j_c4ii_every_two_months():
    payments = [(D(1978, 3, 1), 44_936)] + [
        (add_months(D(1978, 5, 1), 2 * k), 46_500) for k in range(18)]
    payments.append((add_months(D(1978, 5, 1), 36), 20_000))
    advances = [(D(1978, 1, 10), 800_000)]
    assert _percent_2dp(apr_us(advances, payments, UnitPeriod("month", 2))) == Decimal("7.30")
    # First period: 1 month and 22 days of a 2-month unit period, months counted as 30 days
    assert appendix_j_time(D(1978, 1, 10), D(1978, 3, 1), UnitPeriod("month", 2)) == \
        (0, Fraction(52, 60))


def test_appendix_j_c5i_single_advance_single_payment():
    # 255-day term is the unit period: APR = 8 % * 365/255
    rate = apr_us([(D(1978, 1, 3), 100_000)], [(D(1978, 9, 15), 108_000)])
    assert _percent_2dp(rate) == Decimal("11.45")
    assert abs(rate - Decimal("0.08") * 365 / 255) < Decimal("1e-20")


@pytest.mark.parametrize(
    ("start", "when", "unit", "expected"),
    [
        (D(1978, 2, 10), D(1978, 4, 1), UnitPeriod("month"), (1, Fraction(19, 30))),
        (D(1978, 2, 23), D(1978, 3, 16), UnitPeriod("semimonth"), (1, Fraction(6, 15))),
        (D(1978, 5, 23), D(1978, 10, 1), UnitPeriod("month", 3), (1, Fraction(39, 90))),
        (D(1978, 3, 20), D(1978, 4, 21), UnitPeriod("week"), (4, Fraction(4, 7))),
        # a lone 30 April payment counts back on the 30th...
        (D(2024, 1, 31), D(2024, 4, 30), UnitPeriod("month"), (2, Fraction(29, 30))),
    ],
)
def test_appendix_j_time_counts_back_from_the_payment(start, when, unit, expected):
    assert appendix_j_time(start, when, unit) == expected


def test_month_end_series_counts_month_end_to_month_end():
    # ...while in a series on the last day of each month it is three whole months
    assert appendix_j_time(D(2024, 1, 31), D(2024, 4, 30), UnitPeriod("month"), 31) == \
        (3, Fraction(0))
    assert appendix_j_time(D(2024, 1, 31), D(2024, 2, 29), UnitPeriod("month"), 31) == \
        (1, Fraction(0))


# Directive 98/7/EC Annex III worked examples (first advance 1 January 1994)
def test_eu_example_1_single_repayment_after_546_days():
    rate = aprc_eu([(D(1994, 1, 1), 100_000)], [(D(1995, 7, 1), 120_000)])
    assert _percent_2dp(rate) == Decimal("12.96")


def test_eu_example_2_fee_deducted_from_the_advance():
    rate = aprc_eu([(D(1994, 1, 1), 95_000)], [(D(1995, 7, 1), 120_000)])
    assert _percent_2dp(rate) == Decimal("16.90")


def test_eu_example_3_two_yearly_instalments():
    rate = aprc_eu([(D(1994, 1, 1), 100_000)], [(D(1995, 1, 1), 60_000), (D(1996, 1, 1), 60_000)])
    assert _percent_2dp(rate) == Decimal("13.07")


def test_eu_example_4_uneven_instalments():
    payments = [(D(1994, 4, 1), 27_200), (D(1994, 7, 1), 27_200), (D(1995, 1, 1), 54_400)]
    assert _percent_2dp(aprc_eu([(D(1994, 1, 1), 100_000)], payments)) == Decimal("13.23")
    # counted in equal months (3, 6, 12 months) instead of days
    assert _percent_2dp(aprc_eu([(D(1994, 1, 1), 100_000)], payments, "equal_months")) == \
        Decimal("13.19")


def test_eu_1000_repaid_1200_a_year_later_is_20_percent_and_leap_years():
    assert abs(aprc_eu([(D(2023, 1, 1), 100_000)], [(D(2024, 1, 1), 120_000)])
               - Decimal("0.2")) < Decimal("1e-30")
    # days/365 in every year: a year containing 29 February is 366/365 years long...
    leap = aprc_eu([(D(2024, 1, 1), 100_000)], [(D(2025, 1, 1), 120_000)])
    assert _percent_2dp(leap) == Decimal("19.94")
    # ...while the equal-months basis counts it as exactly one year
    assert abs(aprc_eu([(D(2024, 1, 1), 100_000)], [(D(2025, 1, 1), 120_000)],
                       "equal_months") - Decimal("0.2")) < Decimal("1e-30")


@settings(max_examples=40, deadline=None)
@given(st.integers(100_000, 10**9), st.integers(100, 3600), st.integers(3, 36),
       st.dates(D(2000, 1, 1), D(2040, 1, 1)))
def test_apr_of_a_fee_free_schedule_is_its_rate(principal, rate_bp, periods, start):
    rate = Decimal(rate_bp) / 10_000
    s = amortisation_schedule(principal, "CNY", rate, periods, "equal_installment", start)
    # Payments are rounded to the minor unit (|e| <= 1/2 each, the last absorbs the rest):
    # that moves the solved rate by at most about 12 * n * 1/2 / principal a year.
    rounding_tolerance = Decimal(12 * periods) / principal + Decimal("1e-9")
    # US: nominal, equal to the schedule's rate up to payment rounding
    assert abs(apr_of_schedule(s, "us") - rate) <= rounding_tolerance
    # EU on equal months: the effective annual rate (1 + r/12)^12 - 1
    effective = (1 + rate / 12) ** 12 - 1
    assert abs(apr_of_schedule(s, "eu", "equal_months") - effective) <= 2 * rounding_tolerance
    # EU on days/365: calendar months are 28-31 days, not 365/12, so the APRC is close to
    # the effective rate (within a few percent of it), not equal
    assert abs(apr_of_schedule(s, "eu") - effective) <= effective / 15 + 2 * rounding_tolerance


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 31), st.integers(2000, 2030), st.integers(1, 12))
def test_month_end_series_count_back_on_their_own_day(day, year, month):
    # A payment series on the 28th, 29th, 30th or 31st: every regular payment is a whole
    # number of months after the first, whatever February does.
    start = dt.date(year, month, min(day, 28))
    first = add_months(start, 1, day)
    advances, payments = regular_payment_flows(100_000, start, 8_885, 12, "monthly", first)
    anchor = max(when.day for when, _ in payments)
    times = [appendix_j_time(start, when, UnitPeriod("month"), anchor) for when, _ in payments]
    fractions = {f for _, f in times}
    assert len(fractions) == 1
    assert [t for t, _ in times] == list(range(times[0][0], times[0][0] + 12))


def test_all_in_annual_cost_includes_fees():
    # 12,000.00 over 12 months at 0 % interest with a 0.6 % monthly fee on the original
    # principal: the nominal "7.2 %" is an IRR-based ~13.0 % all-in cost.
    s = amortisation_schedule(1_200_000, "CNY", Decimal(0), 12, "equal_principal",
                              D(2024, 1, 1), fee_rate_per_period=Decimal("0.006"))
    cost = all_in_annual_cost(s)
    assert Decimal("0.129") < cost < Decimal("0.131")
    no_fee = amortisation_schedule(1_200_000, "CNY", Decimal(0), 12, "equal_principal",
                                   D(2024, 1, 1))
    assert abs(all_in_annual_cost(no_fee)) < Decimal("1e-20")


def test_apr_from_flows_and_errors():
    flows = ([(D(2024, 1, 1), 100_000)], [(D(2025, 1, 1), 120_000)])
    assert apr_from_flows(*flows, method="eu") == aprc_eu(*flows)
    with pytest.raises(ValidationError) as info:
        apr_from_flows(*flows, method="uk")
    assert info.value.field == "method"
    with pytest.raises(ValidationError) as info:
        apr_us([(D(2024, 1, 1), 100_000)], [(D(2023, 1, 1), 120_000)])
    assert info.value.field == "date"
    with pytest.raises(ValidationError) as info:
        apr_us([(D(2024, 1, 1), 100_000)], [(D(2024, 5, 1), -5)])
    assert info.value.field == "payments[0].amount"
    with pytest.raises(ValidationError):
        apr_us([(D(2024, 1, 1), 100_000)], [])
