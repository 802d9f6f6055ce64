"""The schedule's integer forms equal the Fraction forms they replace: the level
installment (``schedule._level_payment_rounded`` against ``round_fraction`` of
``level_payment_exact``) and each period's year fraction (``schedule._period_fractions``
against the day count's ``year_fraction`` and the 30/360 rules, as written before)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit import schedule as S
from creditpay.credit.calendar import Frequency, months_per_period
from creditpay.credit.daycount import DayCount, year_fraction
from creditpay.money import Rounding


@settings(max_examples=400, deadline=None)
@given(principal=st.integers(1, 10**15),
       rate=st.fractions(min_value=Fraction(-1, 10), max_value=10, max_denominator=10**7),
       nominal=st.sampled_from([Fraction(1, 12), Fraction(7, 365), Fraction(14, 360),
                                Fraction(1, 24), Fraction(1, 4), Fraction(1), Fraction(1, 365)]),
       periods=st.integers(1, 120),
       factor=st.fractions(min_value=0, max_value=5, max_denominator=400),
       down_payment=st.booleans(), rounding=st.sampled_from(list(Rounding)))
def test_the_level_payment_in_integers_is_the_fraction_one_rounded(
        principal: int, rate: Fraction, nominal: Fraction, periods: int, factor: Fraction,
        down_payment: bool, rounding: Rounding) -> None:
    if down_payment and periods < 2:
        periods = 2
    expected = S.round_fraction(S.level_payment_exact(principal, rate * nominal, periods,
                                                      factor, down_payment), rounding)
    assert S._level_payment_rounded(principal, rate, nominal, periods, factor,
                                    down_payment, rounding) == expected


def _old_period_fractions(terms: S.ScheduleTerms, dates: list[dt.date]) -> list[Fraction]:
    """``_period_fractions`` as it was: a new Fraction per period, ACT via year_fraction."""
    fractions: list[Fraction] = []
    previous = terms.start_date
    months = months_per_period(terms.frequency)
    thirty = terms.day_count is DayCount.THIRTY_360
    for current in dates:
        if current == previous:
            fractions.append(Fraction(0))
            continue
        starts_at_start = previous == terms.start_date
        chosen = terms.first_due_date is not None or terms.due_dates is not None
        regular = not (starts_at_start and chosen)
        fraction: Fraction | None = None
        if thirty:
            if regular and months is not None:
                fraction = Fraction(months, 12)
            elif regular and terms.frequency is Frequency.SEMIMONTHLY:
                fraction = Fraction(1, 24)
            else:
                whole = S._whole_months_between(previous, current)
                if whole is not None:
                    fraction = Fraction(whole, 12)
        if fraction is None:
            fraction = year_fraction(previous, current, terms.day_count)
        fractions.append(fraction)
        previous = current
    return fractions


@settings(max_examples=300, deadline=None)
@given(start=st.dates(dt.date(2023, 1, 1), dt.date(2030, 12, 31)),
       periods=st.integers(2, 36), frequency=st.sampled_from(list(Frequency)),
       day_count=st.sampled_from(list(DayCount)), first_due_days=st.none() | st.integers(1, 60),
       down_payment=st.booleans(), rate=st.integers(0, 3600))
def test_period_fractions_and_schedules_are_unchanged(
        start: dt.date, periods: int, frequency: Frequency, day_count: DayCount,
        first_due_days: int | None, down_payment: bool, rate: int) -> None:
    terms = S.ScheduleTerms(
        principal_minor=1_234_567, currency="CNY", annual_rate=Decimal(rate) / 10_000,
        periods=periods, method=S.Method.EQUAL_INSTALLMENT, start_date=start,
        frequency=frequency, day_count=day_count,
        first_due_date=None if first_due_days is None else start + dt.timedelta(
            days=first_due_days), down_payment=down_payment and first_due_days is None)
    dates = S._due_dates(terms)
    assert S._period_fractions(terms, dates) == _old_period_fractions(terms, dates)
    schedule = S.build_schedule(terms)
    assert schedule.period_year_fractions == tuple(_old_period_fractions(terms, dates))
