"""APR tests against the worked examples of the regulations.

US: 12 CFR 1026 (Regulation Z) Appendix J, paragraph (c), "Examples for the actuarial
method" (single advance transactions (c)(1)-(c)(5)); published APRs to 2 decimals.
EU: the worked examples of the APRC equation in Annex III of Directive 98/7/EC (the
equation Directive 2008/48/EC Annex I carries forward).
"""

import datetime as dt
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.apr import (
    EuTimeBasis,
    UnitPeriod,
    _eu_years,
    _infer_unit_period,
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


# Directive 98/7/EC Annex III worked examples (first advance 1 January 1994). That Directive
# measured time in days / 365 ("546/365"), so they are checked on the days_365 basis; the
# default basis (Annex I (c) as amended) counts 18 whole months as 1.5 years instead.
def test_eu_example_1_single_repayment_after_546_days():
    rate = aprc_eu([(D(1994, 1, 1), 100_000)], [(D(1995, 7, 1), 120_000)], "days_365")
    assert _percent_2dp(rate) == Decimal("12.96")
    assert _percent_2dp(aprc_eu([(D(1994, 1, 1), 100_000)], [(D(1995, 7, 1), 120_000)])) == \
        Decimal("12.92")  # 1.2 ** (1 / 1.5) - 1


def test_eu_example_2_fee_deducted_from_the_advance():
    rate = aprc_eu([(D(1994, 1, 1), 95_000)], [(D(1995, 7, 1), 120_000)], "days_365")
    assert _percent_2dp(rate) == Decimal("16.90")


def test_eu_example_3_two_yearly_instalments():
    payments = [(D(1995, 1, 1), 60_000), (D(1996, 1, 1), 60_000)]
    for basis in ("days_365", "equal_months", "equal_years"):
        assert _percent_2dp(aprc_eu([(D(1994, 1, 1), 100_000)], payments, basis)) == \
            Decimal("13.07")


def test_eu_example_4_uneven_instalments():
    payments = [(D(1994, 4, 1), 27_200), (D(1994, 7, 1), 27_200), (D(1995, 1, 1), 54_400)]
    assert _percent_2dp(aprc_eu([(D(1994, 1, 1), 100_000)], payments, "days_365")) == \
        Decimal("13.23")
    # counted in equal months (3, 6, 12 months) instead of days: the default
    assert _percent_2dp(aprc_eu([(D(1994, 1, 1), 100_000)], payments)) == Decimal("13.19")


def test_eu_1000_repaid_1200_a_year_later_is_20_percent_and_leap_years():
    for start in (D(2023, 1, 1), D(2024, 1, 1)):  # 2024 is a leap year: still one year
        assert abs(aprc_eu([(start, 100_000)], [(add_months(start, 12), 120_000)])
                   - Decimal("0.2")) < Decimal("1e-30")
    # days/365 in every year: a year containing 29 February is 366/365 years long
    leap = aprc_eu([(D(2024, 1, 1), 100_000)], [(D(2025, 1, 1), 120_000)], "days_365")
    assert _percent_2dp(leap) == Decimal("19.94")


def test_eu_leap_year_reading_of_annex_i_c():
    """Issue 13 item 11. Annex I (c) (Directive 2011/90/EU's wording, kept by Directive
    (EU) 2023/2225): days are divided by the days (365 or 366) of the complete year
    counted back from the last day to the same day of the previous year. 1,000.00 lent on
    1 March 2024 and 1,010.00 repaid on 21 March 2024: 20 days; 21 March 2023 - 21 March
    2024 holds 29 February, so t = 20/366 and the APRC is 1.01^(366/20) - 1 = 19.97 %, where
    365 days in every year would give 1.01^(365/20) - 1 = 19.91 %."""
    flows = ([(D(2024, 3, 1), 100_000)], [(D(2024, 3, 21), 101_000)])
    with localcontext() as ctx:
        ctx.prec = 50
        leap = Decimal("1.01") ** (Decimal(366) / 20) - 1
        common = Decimal("1.01") ** (Decimal(365) / 20) - 1
    assert abs(aprc_eu(*flows) - leap) < Decimal("1e-30")
    assert abs(aprc_eu(*flows, "days_365") - common) < Decimal("1e-30")
    assert (_percent_2dp(leap), _percent_2dp(common)) == (Decimal("19.97"), Decimal("19.91"))
    # The same 20 days a year earlier: 21 March 2022 - 2023 has no 29 February
    assert abs(aprc_eu([(D(2023, 3, 1), 100_000)], [(D(2023, 3, 21), 101_000)]) - common) \
        < Decimal("1e-30")


@pytest.mark.parametrize(
    ("start", "when", "basis", "years"),
    [
        # 4 months back from 20 July 2024 reach 20 March; 15 days in the year back from it
        # (20 March 2023 - 2024, with 29 February): 366
        (D(2024, 3, 5), D(2024, 7, 20), "equal_months", Fraction(4, 12) + Fraction(15, 366)),
        # 3 months back from 1 April 2024 reach 1 January; 17 days, the year 2023: 365
        (D(2023, 12, 15), D(2024, 4, 1), "equal_months", Fraction(3, 12) + Fraction(17, 365)),
        # month end to month end: 31 January to 29 February is a month
        (D(2024, 1, 31), D(2024, 2, 29), "equal_months", Fraction(1, 12)),
        (D(2024, 1, 31), D(2024, 4, 30), "equal_months", Fraction(3, 12)),
        # whole years, then days over the year back from where they end: 10 June 2023 to
        # 20 March 2024 is 284 days, in a year (from 20 March 2023) with 29 February...
        (D(2023, 6, 10), D(2025, 3, 20), "equal_years", 1 + Fraction(284, 366)),
        # ...10 January to 20 March 2023 is 69 days, in a year without one
        (D(2023, 1, 10), D(2024, 3, 20), "equal_years", 1 + Fraction(69, 365)),
        # whole weeks (1/52 year each), then days
        (D(2024, 3, 1), D(2024, 3, 20), "equal_weeks", Fraction(2, 52) + Fraction(5, 366)),
        (D(2024, 3, 1), D(2024, 3, 20), "days_365", Fraction(19, 365)),
    ],
)
def test_eu_time_counts_back_whole_periods_then_days(start, when, basis, years):
    assert _eu_years(start, when, EuTimeBasis(basis)) == years


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
    assert abs(apr_of_schedule(s, "eu") - effective) <= 2 * rounding_tolerance  # the default
    # EU on days/365: calendar months are 28-31 days, not 365/12, so the APRC is close to
    # the effective rate (within a few percent of it), not equal
    assert abs(apr_of_schedule(s, "eu", "days_365") - effective) <= \
        effective / 15 + 2 * rounding_tolerance


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


def _hand_apr(advance: int, payments: list[tuple[int, int, Fraction]], per_year: int) -> float:
    """Solve Appendix J (b)(8) for (amount, t, f) worked out by hand: a plain bisection in
    floats, independent of the module's solver."""
    def value(i: float) -> float:
        return sum(a / ((1 + float(f) * i) * (1 + i) ** t) for a, t, f in payments) - advance
    low, high = 1e-12, 1.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if value(middle) > 0 else (low, middle)
    return low * per_year


EIGHTH_POINT = 0.00125  # § 1026.22(a)(2): accurate within 1/8 of 1 percentage point


@pytest.mark.parametrize(
    ("start", "when", "expected"),
    [
        # (b)(5)(v): no whole year back from 7 March 2020 to 11 January 2020; what is left
        # (56 days) is not a whole number of months, so days / 365
        (D(2020, 1, 11), D(2020, 3, 7), (0, Fraction(56, 365))),
        (D(2020, 1, 11), D(2021, 3, 7), (1, Fraction(56, 365))),
        (D(2023, 10, 26), D(2024, 11, 30), (1, Fraction(35, 365))),
        # what is left is 3 whole months: months / 12
        (D(2024, 1, 15), D(2025, 4, 15), (1, Fraction(3, 12))),
        (D(2024, 1, 15), D(2026, 1, 15), (2, Fraction(0))),
    ],
)
def test_appendix_j_yearly_unit_period(start, when, expected):
    """Issue 13 item 11: whole years counted back, the rest months/12 or days/365 (the
    yearly unit used to count 30-day months and days over 360: 57/360 for 56/365)."""
    assert appendix_j_time(start, when, UnitPeriod("month", 12)) == expected


def test_appendix_j_yearly_apr_is_within_an_eighth_of_the_hand_figure():
    # 10,000.00 on 11 January 2020; 5,928.13 on 7 March 2020 and 7 March 2021:
    # 1,000,000 = 592,813 / (1 + 56/365 i) x (1 + 1 / (1 + i)), i per year
    expected = _hand_apr(1_000_000, [(592_813, 0, Fraction(56, 365)),
                                     (592_813, 1, Fraction(56, 365))], 1)
    advances = [(D(2020, 1, 11), 1_000_000)]
    payments = [(D(2020, 3, 7), 592_813), (D(2021, 3, 7), 592_813)]
    rate = float(apr_us(advances, payments, "annual"))
    assert abs(rate - expected) < 1e-9  # the same equation
    assert abs(rate - expected) <= EIGHTH_POINT  # the regulation's tolerance (was 0.30 pt)
    # 1,000.00 on 26 October 2023, 5 x 500.00 yearly from 30 November 2023: t = k, f = 35/365
    expected = _hand_apr(100_000, [(50_000, k, Fraction(35, 365)) for k in range(5)], 1)
    payments = [(add_months(D(2023, 11, 30), 12 * k), 50_000) for k in range(5)]
    rate = float(apr_us([(D(2023, 10, 26), 100_000)], payments, "annual"))
    assert abs(rate - expected) < 1e-9 and round(rate * 100, 2) == 78.34


SEMIMONTHLY_FROM_23_FEB_2023 = [
    # (b)(5)(iii): 30 x whole months counted back + the days left, over 15
    (D(2023, 3, 10), (1, Fraction(0))),  # 0 months, 15 days (23 Feb - 10 Mar)
    (D(2023, 3, 25), (2, Fraction(2, 15))),  # 1 month (to 25 Feb) + 2 days = 32
    (D(2023, 4, 10), (3, Fraction(0))),  # 1 month (to 10 Mar) + 15 days = 45
    (D(2023, 4, 25), (4, Fraction(2, 15))),  # 62
    (D(2023, 5, 10), (5, Fraction(0))),  # 75
    (D(2023, 5, 25), (6, Fraction(2, 15))),  # 92
    (D(2023, 6, 10), (7, Fraction(0))),  # 105
]


def test_appendix_j_semimonthly_counts_thirty_day_months_and_days():
    """Issue 13 item 11: semimonths are not calendar half-months counted back (which gave
    (1, 2/15) for 10 March: 25 February is a semimonth before it, then 2 days)."""
    start = D(2023, 2, 23)
    for when, expected in SEMIMONTHLY_FROM_23_FEB_2023:
        assert appendix_j_time(start, when, UnitPeriod("semimonth")) == expected
    # 20 January to 5 March: 1 month back (5 February) and 16 days = 46 days = 3 and 1/15
    assert appendix_j_time(D(2023, 1, 20), D(2023, 3, 5), UnitPeriod("semimonth")) == \
        (3, Fraction(1, 15))
    # 10,000.00, 7 x 1,505.65 semimonthly from 10 March 2023
    expected = _hand_apr(1_000_000, [(150_565, t, f) for _, (t, f) in
                                     SEMIMONTHLY_FROM_23_FEB_2023], 24)
    payments = [(when, 150_565) for when, _ in SEMIMONTHLY_FROM_23_FEB_2023]
    rate = float(apr_us([(start, 1_000_000)], payments, "semimonthly"))
    assert abs(rate - expected) < 1e-9
    assert abs(rate - expected) <= EIGHTH_POINT  # was 0.59 point off


@pytest.mark.parametrize(
    ("start", "when", "unit", "expected"),
    [
        # (b)(5)(iii) quarterly: 31 May back 4 whole months is 31 January: 120 days = one
        # quarter and 30/90 (the months used to be chained from 29 February: 29/90)
        (D(2024, 1, 31), D(2024, 5, 31), UnitPeriod("month", 3), (1, Fraction(1, 3))),
        # semiannual: 13 months back (1 Feb 2024) and 17 days = 407 days = 2 x 180 + 47
        (D(2024, 1, 15), D(2025, 3, 1), UnitPeriod("month", 6), (2, Fraction(47, 180))),
        # (b)(5)(ii) monthly: 4 months back from 31 May is 31 January
        (D(2024, 1, 31), D(2024, 5, 31), UnitPeriod("month"), (4, Fraction(0))),
        # (b)(5)(iv) days / days per unit period
        (D(2024, 1, 1), D(2024, 3, 1), UnitPeriod("week", 2), (4, Fraction(4, 14))),
        (D(2024, 1, 1), D(2024, 3, 1), UnitPeriod("week"), (8, Fraction(4, 7))),
        (D(2024, 1, 1), D(2024, 3, 1), UnitPeriod("day"), (60, Fraction(0))),
        # the term as the unit period (single advance, single payment under a year)
        (D(2024, 1, 1), D(2024, 3, 1), UnitPeriod("term"), (1, Fraction(0))),
    ],
)
def test_appendix_j_other_unit_periods(start, when, unit, expected):
    assert appendix_j_time(start, when, unit) == expected


def test_unit_period_without_a_common_period_is_the_average_rounded():
    """(b)(4)(i)(B): 33, 34 and 33 days are no standard unit; their average (33.3 days)
    rounds to a month (a '33-day' unit period used to be inferred)."""
    advances = [(D(2024, 1, 1), 100_000)]
    payments = [(D(2024, 2, 3), 34_000), (D(2024, 3, 8), 34_000), (D(2024, 4, 10), 34_000)]
    assert _infer_unit_period(advances, payments) == UnitPeriod("month")
    # the period from the start of the term counts too ((b)(3)): one month, then a
    # 2-week and a 1-month interval: the month occurs most often
    payments = [(D(2024, 2, 1), 50_000), (D(2024, 2, 15), 30_000), (D(2024, 3, 15), 30_000)]
    assert _infer_unit_period(advances, payments) == UnitPeriod("month")


@settings(max_examples=150, deadline=None)
@given(principal=st.integers(1, 10_000_000), periods=st.integers(1, 36),
       markup_bps=st.integers(-9_900, 40_000), day=st.integers(1, 31),
       month=st.integers(1, 12), basis=st.sampled_from(["equal_months", "days_365",
                                                        "equal_weeks"]))
def test_eu_solve_seeded_in_floats_finds_the_same_root(principal, periods, markup_bps, day,
                                                       month, basis):
    """The EU solve starts from a root found in floats (a billionth-wide bracket checked in
    Decimal); its result is the root the unseeded solve finds, to the solver's tolerance,
    for cheap, dear, zero-cost and loss-making flows alike."""
    import creditpay.credit.apr as A

    start = dt.date(2024, month, min(day, 28))
    total = principal + principal * markup_bps // 10_000
    if total <= 0:
        total = 1
    per, rest = divmod(total, periods)
    dates = due_dates(start, periods, "monthly")
    payments = [(when, per + (rest if n == periods - 1 else 0))
                for n, when in enumerate(dates)]
    advances = [(start, principal)]

    def solve() -> Decimal | str:
        try:
            return A.aprc_eu(advances, payments, basis)
        except ValidationError as exc:
            return str(exc.field)

    seeded = solve()
    original = A._float_root
    A._float_root = lambda *args: None
    try:
        unseeded = solve()
    finally:
        A._float_root = original
    if isinstance(unseeded, str):  # no root in the bracket: both refuse alike
        assert seeded == unseeded
    else:
        assert isinstance(seeded, Decimal) and abs(seeded - unseeded) < Decimal("1e-20")


@settings(max_examples=300, deadline=None)
@given(start=st.dates(D(2020, 1, 1), D(2030, 12, 31)), months=st.integers(0, 40),
       days=st.integers(-3, 3), anchor=st.sampled_from([None, 28, 29, 30, 31]),
       basis=st.sampled_from(list(EuTimeBasis)))
def test_eu_whole_months_shortcut_is_eu_years(start, months, days, anchor, basis):
    """The EU solve counts a flow whole months from the start as months / 12 without
    _eu_years' Fraction arithmetic (branch h14-quote): the same years, and the whole months
    exactly when they are whole, for flows on, near and off the series (month ends too)."""
    from creditpay.credit.apr import _eu_years_and_months, _is_month_end

    when = add_months(start, months, anchor) + dt.timedelta(days=days)
    if when < start:
        return
    numerator, denominator, count = _eu_years_and_months(start, when, basis, anchor,
                                                         _is_month_end(start))
    expected = _eu_years(start, when, basis, anchor)
    assert Fraction(numerator, denominator) == expected
    assert count == (int(expected * 12) if (expected * 12).denominator == 1 else None)
