"""Schedules built the cheaper way are the schedules built the direct way, field for field:
the interest of each installment rounded in integers (``round_ratio``) as the exact
Fraction rounding did, and a merchant-paid plan's consumer schedule (``without_fees``)
equal to building its terms with no fee."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.schedule import (
    Method,
    ScheduleTerms,
    build_schedule,
    round_fraction,
    round_ratio,
    with_terms,
    without_fees,
)
from creditpay.money import Rounding


def _reference_round(value: Fraction, rounding: Rounding) -> int:
    """round_fraction as it was, on Fractions throughout."""
    floor = value.numerator // value.denominator
    remainder = value - floor
    if remainder == 0:
        return floor
    ceiling = floor + 1
    negative = value < 0
    if rounding is Rounding.FLOOR:
        return floor
    if rounding is Rounding.CEILING:
        return ceiling
    if rounding is Rounding.DOWN:
        return ceiling if negative else floor
    if rounding is Rounding.UP:
        return floor if negative else ceiling
    half = Fraction(1, 2)
    if remainder != half:
        return ceiling if remainder > half else floor
    if rounding is Rounding.HALF_UP:
        return floor if negative else ceiling
    if rounding is Rounding.HALF_DOWN:
        return ceiling if negative else floor
    return floor if floor % 2 == 0 else ceiling


@settings(max_examples=500, deadline=None)
@given(numerator=st.integers(-10**12, 10**12), denominator=st.integers(1, 10**6),
       rounding=st.sampled_from(list(Rounding)))
def test_rounding_in_integers_is_the_fraction_rounding(numerator: int, denominator: int,
                                                       rounding: Rounding) -> None:
    expected = _reference_round(Fraction(numerator, denominator), rounding)
    assert round_ratio(numerator, denominator, rounding) == expected
    assert round_fraction(Fraction(numerator, denominator), rounding) == expected
    # Halves exactly, both signs (the cases the modes differ on).
    half = Fraction(2 * numerator + 1, 2)
    assert round_ratio(half.numerator, half.denominator, rounding) == \
        _reference_round(half, rounding)


_days = st.integers(0, 2_000).map(lambda n: dt.date(2022, 1, 1) + dt.timedelta(days=n))


@st.composite
def _terms(draw: st.DrawFn) -> ScheduleTerms:
    method = draw(st.sampled_from(list(Method)))
    start = draw(_days)
    periods = 1 if method is Method.BULLET else draw(st.integers(1, 36))
    down_payment = method is not Method.BULLET and periods >= 2 and draw(st.booleans())
    first_due = None
    if not down_payment and draw(st.booleans()):
        first_due = start + dt.timedelta(days=draw(st.integers(1, 70)))
    return ScheduleTerms(
        principal_minor=draw(st.integers(1, 10**8)), currency="CNY",
        annual_rate=draw(st.sampled_from([Decimal(0), Decimal("0.0001"), Decimal("0.07"),
                                          Decimal("0.1825"), Decimal("2.5")])),
        periods=periods, method=method, start_date=start,
        frequency=draw(st.sampled_from(["monthly", "weekly", "biweekly", "semimonthly",
                                        "quarterly", "daily", "annual"])),  # type: ignore[arg-type]
        day_count=draw(st.sampled_from(["30/360", "ACT/365", "ACT/360", "ACT/ACT"])),  # type: ignore[arg-type]
        fee_rate_per_period=draw(st.sampled_from([Decimal(0), Decimal("0.003"),
                                                  Decimal("0.006"), Decimal("0.01")])),
        first_due_date=first_due, down_payment=down_payment,
        rounding=draw(st.sampled_from(list(Rounding))),
        accrued_interest_minor=draw(st.sampled_from([Fraction(0), Fraction(7, 3),
                                                     Fraction(12_345, 17)])))


def _reference_interest(terms: ScheduleTerms, base: int, fraction: Fraction, first: bool
                        ) -> int:
    carried = terms.accrued_interest_minor if first else Fraction(0)
    return _reference_round(base * Fraction(terms.annual_rate) * fraction + carried,
                            terms.rounding)


@settings(max_examples=300, deadline=None)
@given(terms=_terms())
def test_each_installment_interest_is_the_exact_rounding(terms: ScheduleTerms) -> None:
    schedule = build_schedule(terms)
    if terms.method is Method.BULLET:
        return  # one amount, rounded by round_fraction itself (checked above)
    flat = terms.method is Method.FLAT
    balance = terms.principal_minor
    for number, (row, fraction) in enumerate(
            zip(schedule.installments, schedule.period_year_fractions, strict=True), start=1):
        base = (terms.principal_minor if balance else 0) if flat else balance
        assert row.interest_minor == _reference_interest(terms, base, fraction, number == 1)
        balance = row.balance_after_minor


@settings(max_examples=300, deadline=None)
@given(terms=_terms())
def test_the_fee_free_schedule_is_the_one_built_without_the_fee(terms: ScheduleTerms) -> None:
    built = build_schedule(with_terms(terms, fee_rate_per_period=Decimal(0)))
    assert without_fees(build_schedule(terms)) == built


def test_given_installment_fees_are_built_again() -> None:
    terms = ScheduleTerms(principal_minor=90_000, currency="CNY", annual_rate=Decimal("0.1"),
                          periods=3, method=Method.EQUAL_PRINCIPAL,
                          start_date=dt.date(2025, 1, 31),
                          due_dates=(dt.date(2025, 2, 28), dt.date(2025, 3, 31),
                                     dt.date(2025, 4, 30)),
                          installment_fees_minor=(100, 100, 100),
                          fee_rate_per_period=Decimal("0.01"))
    built = build_schedule(with_terms(terms, fee_rate_per_period=Decimal(0)))
    assert without_fees(build_schedule(terms)) == built
    assert built.totals.fee_minor == 300  # given fees stay: a rate does not clear them
