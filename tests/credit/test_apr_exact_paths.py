"""The APR solvers' cheaper arithmetic gives, digit for digit, what the full formulas gave
(branch h14-price): the rates are stored as full strings with each quote
(``offers.exact_rates``) and printed in key-facts documents, so every digit must stay.

Three things changed for speed only: a US flow a whole number of unit periods from the start
skips its simple-interest factor (exactly 1), and the time of each flow reaches the
Decimal solve as an unreduced numerator and denominator instead of a Fraction (the same
Decimal quotient), and the EU solve's logarithm is MPFR's, rounded as Decimal.ln rounds
(``apr._ln``). The reference below is the code as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, localcontext
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

import creditpay.credit.apr as A
from creditpay.errors import ValidationError
from tests.credit.test_apr_reference import _flows


def _reference_us_value_and_slope(terms: list[tuple[Decimal, int, Decimal]]
                                  ) -> Callable[[Decimal], tuple[Decimal, Decimal]]:
    def value_and_slope(i: Decimal) -> tuple[Decimal, Decimal]:
        value = Decimal(0)
        slope = Decimal(0)
        one_plus = 1 + i
        for amount, t, f in terms:
            simple = 1 + f * i
            growth = one_plus ** t
            present = amount / (simple * growth)
            value += present
            slope -= present * (f / simple + t / one_plus)
        return value, slope

    return value_and_slope


_PARTS = A._appendix_j_parts


def _reference_parts(start: dt.date, when: dt.date, unit_period: A.UnitPeriod,
                     anchor_day: int | None = None) -> tuple[int, int, int]:
    # The integer counts themselves did not change (moved into _appendix_j_parts); what
    # the solve used was the reduced Fraction appendix_j_time returns.
    t, numerator, denominator = _PARTS(start, when, unit_period, anchor_day)
    f = Fraction(numerator, denominator)
    return t, f.numerator, f.denominator


def _reference_eu_years_and_months(start: dt.date, when: dt.date, basis: A.EuTimeBasis,
                                   anchor_day: int | None, start_month_end: bool
                                   ) -> tuple[int, int, int | None]:
    years = A._eu_years(start, when, basis, anchor_day)
    whole = years * 12
    return (years.numerator, years.denominator,
            int(whole) if whole.denominator == 1 else None)


@contextmanager
def _reference() -> Iterator[None]:
    saved = A._us_value_and_slope, A._appendix_j_parts, A._eu_years_and_months, A._ln
    A._ln = Decimal.ln  # type: ignore[assignment]
    A._us_value_and_slope = _reference_us_value_and_slope
    A._appendix_j_parts = _reference_parts
    A._eu_years_and_months = _reference_eu_years_and_months  # type: ignore[assignment]
    try:
        yield
    finally:
        A._us_value_and_slope, A._appendix_j_parts, A._eu_years_and_months, A._ln = saved


def _outcome(compute: Callable[[], Decimal]) -> str:
    try:
        return str(compute())
    except ValidationError as exc:
        return f"refused: {exc.field}: {exc}"


@settings(max_examples=250, deadline=None)
@given(flows=_flows(), unit=st.sampled_from([None, "monthly", "weekly", "biweekly",
                                             "semimonthly", "daily", "quarterly", "annual"]),
       basis=st.sampled_from(list(A.EuTimeBasis)))
def test_the_rates_are_the_full_formulas_digit_for_digit(flows, unit, basis) -> None:
    advances, payments = flows
    us = _outcome(lambda: A.apr_us(advances, payments, unit))
    eu = _outcome(lambda: A.aprc_eu(advances, payments, basis))
    with _reference():
        assert _outcome(lambda: A.apr_us(advances, payments, unit)) == us
        assert _outcome(lambda: A.aprc_eu(advances, payments, basis)) == eu


@settings(max_examples=200, deadline=None)
@given(terms=st.lists(st.tuples(st.integers(-10**8, 10**8), st.integers(0, 60),
                                st.sampled_from([0, 0, 0, 1, 7, 14, 29]),
                                st.sampled_from([30, 15, 365, 7, 12])), min_size=1,
                      max_size=30),
       rate=st.decimals(Decimal("-0.999999"), Decimal(3), places=12))
def test_the_us_equation_is_the_full_formula_digit_for_digit(terms, rate) -> None:
    # Every value and slope, trailing zeros and all, at any rate: the solver's iterates are
    # a function of these alone.
    with localcontext() as ctx:
        ctx.prec = A._PRECISION
        flows = [(Decimal(amount), t, Decimal(numerator) / Decimal(denominator))
                 for amount, t, numerator, denominator in terms]
        got = A._us_value_and_slope(flows)(rate)
        expected = _reference_us_value_and_slope(flows)(rate)
    assert [str(x) for x in got] == [str(x) for x in expected]


_operands = st.one_of(
    st.decimals(Decimal("0.000001"), Decimal(3), places=49, allow_nan=False,
                allow_infinity=False),
    st.integers(1, 10**49).map(lambda n: Decimal(n).scaleb(-48)),  # 1 + x around 1..10
    st.integers(-10**30, 10**30).map(lambda n: 1 + Decimal(n).scaleb(-49)),  # next to 1
    st.integers(1, 10**12).map(lambda n: Decimal("0.000001") + Decimal(n).scaleb(-40)),
    st.decimals(Decimal(3), Decimal(10**9), allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal(1), Decimal("1.0000"), Decimal("0.000001"), Decimal(2),
                     Decimal("0.5"), Decimal("1E-7"), Decimal(0)]))


@settings(max_examples=1500, deadline=None)
@given(operand=_operands)
def test_the_logarithm_is_decimal_ln_digit_for_digit(operand) -> None:
    # The EU solve's log(1 + x) through MPFR (apr._ln): the same value, coefficient and
    # exponent as Decimal.ln in the solvers' 50-digit context, or Decimal.ln's own error.
    with localcontext() as ctx:
        ctx.prec = A._PRECISION
        operand = +operand
        try:
            expected = str(operand.ln())
        except ArithmeticError as exc:
            expected = type(exc).__name__
        try:
            got = str(A._ln(operand))
        except ArithmeticError as exc:
            got = type(exc).__name__
    assert got == expected
