"""The APR and APRC solvers give, digit for digit, what the solver before the quoting-cost
work gave (kept here as the reference): same rate string, same refusal.

Two things changed for speed only: the bracket ends' values, of which only the signs are
used, are decided by a float estimate with an error bound when it is conclusive
(``apr._sign_at``), and the whole months counted back from a flow on the start's series
are found in one step (``apr._months_back_to``). Every figure must be unchanged: the rates
are stored as full strings with each quote (``exact_rates``), and a zero-cost plan's
key-facts document prints the solver's residue ("-0.00%"), whose sign depends on the path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

import creditpay.credit.apr as A
from creditpay.credit.schedule import Method, ScheduleTerms, build_schedule
from creditpay.errors import ValidationError


# -- the reference: the solver and the month count as they were ----------------------------
def _reference_solve(
    value_and_slope: Callable[[Decimal], tuple[Decimal, Decimal]],
    low: Decimal,
    high: Decimal,
    guess: float | None = None,
    estimate: object = None,
) -> Decimal:
    bracket = None
    if guess is not None and float(low) < guess < float(high):
        near = Decimal(repr(guess))
        width = Decimal("1e-9") * (1 + abs(near))
        near_low, near_high = max(low, near - width), min(high, near + width)
        f_near_low, _ = value_and_slope(near_low)
        f_near_high, _ = value_and_slope(near_high)
        if f_near_low * f_near_high <= 0:
            bracket = near_low, near_high, f_near_low, f_near_high
    if bracket is None:
        bracket = low, high, value_and_slope(low)[0], value_and_slope(high)[0]
    low, high, f_low, f_high = bracket
    expansions = 0
    while f_low * f_high > 0:
        expansions += 1
        if expansions > 60:
            raise ValidationError("the flows have no rate of return: payments never "
                                  "balance the advances", field="payments")
        high = high * 2 + 1
        f_high, _ = value_and_slope(high)
    root = A._newton(value_and_slope, low, high, f_low,
                     lambda candidate, rate: abs(candidate - rate) < A.SOLVER_TOLERANCE,
                     A._MAX_ITERATIONS)
    if root is None:
        raise ValidationError("the rate did not converge", field="payments")
    return root


def _reference_months_back_to(start: dt.date, when: dt.date, anchor_day: int | None
                              ) -> tuple[int, dt.date]:
    months = max(0, (when.year - start.year) * 12 + when.month - start.month - 1)
    while A._month_back(when, months + 1, anchor_day) >= start:
        months += 1
    return months, A._month_back(when, months, anchor_day)


@contextmanager
def _reference() -> Iterator[None]:
    solve, months_back_to = A._solve, A._months_back_to
    A._solve, A._months_back_to = _reference_solve, _reference_months_back_to  # type: ignore[assignment]
    try:
        yield
    finally:
        A._solve, A._months_back_to = solve, months_back_to


def _outcome(compute: Callable[[], Decimal]) -> str:
    try:
        return str(compute())
    except ValidationError as exc:
        return f"refused: {exc.field}: {exc}"


def _both(compute: Callable[[], Decimal]) -> tuple[str, str]:
    current = _outcome(compute)
    with _reference():
        reference = _outcome(compute)
    return current, reference


# -- flows ----------------------------------------------------------------------------------
_days = st.integers(1, 2_000).map(lambda n: dt.date(2022, 1, 1) + dt.timedelta(days=n))
_gaps = st.one_of(st.sampled_from([1, 7, 14, 15, 28, 29, 30, 31, 61, 91, 92, 365]),
                  st.integers(1, 400))


@st.composite
def _flows(draw: st.DrawFn) -> tuple[list[A.Flow], list[A.Flow]]:
    start = draw(_days)
    advances = [(start, draw(st.integers(1, 10**8)))]
    if draw(st.booleans()):
        advances.append((start + dt.timedelta(days=draw(st.integers(0, 120))),
                         draw(st.integers(0, 10**6))))
    payments = []
    when = start
    regular = draw(st.booleans())
    gap = draw(_gaps)
    for _ in range(draw(st.integers(1, 30))):
        when += dt.timedelta(days=gap if regular else draw(_gaps))
        payments.append((when, draw(st.integers(0, 10**7))))
    return advances, payments


@settings(max_examples=300, deadline=None)
@given(flows=_flows(), unit=st.sampled_from([None, "monthly", "weekly", "biweekly",
                                             "semimonthly", "daily", "quarterly", "annual"]))
def test_us_apr_of_any_flows_is_the_reference_digit_for_digit(
        flows: tuple[list[A.Flow], list[A.Flow]], unit: str | None) -> None:
    advances, payments = flows
    current, reference = _both(lambda: A.apr_us(advances, payments, unit))
    assert current == reference


@settings(max_examples=300, deadline=None)
@given(flows=_flows(), basis=st.sampled_from(list(A.EuTimeBasis)))
def test_eu_aprc_of_any_flows_is_the_reference_digit_for_digit(
        flows: tuple[list[A.Flow], list[A.Flow]], basis: A.EuTimeBasis) -> None:
    advances, payments = flows
    current, reference = _both(lambda: A.aprc_eu(advances, payments, basis))
    assert current == reference


# -- schedules (what quoting solves): every method, frequency, day count, fee, down payment --
@st.composite
def _schedules(draw: st.DrawFn) -> ScheduleTerms:
    method = draw(st.sampled_from(list(Method)))
    return ScheduleTerms(
        principal_minor=draw(st.one_of(st.integers(1, 10**8),
                                       st.sampled_from([1, 99, 10_000, 600_000]))),
        currency="CNY",
        annual_rate=draw(st.sampled_from([Decimal(0), Decimal("0.0001"), Decimal("0.07"),
                                          Decimal("0.15"), Decimal("0.1825"),
                                          Decimal("0.36"), Decimal("2.5")])),
        periods=1 if method is Method.BULLET else draw(st.integers(2, 36)),
        method=method, start_date=draw(_days),
        frequency=draw(st.sampled_from(["monthly", "weekly", "biweekly", "semimonthly",
                                        "quarterly", "daily", "annual"])),  # type: ignore[arg-type]
        day_count=draw(st.sampled_from(["30/360", "ACT/365", "ACT/360", "ACT/ACT"])),  # type: ignore[arg-type]
        fee_rate_per_period=draw(st.sampled_from([Decimal(0), Decimal("0.003"),
                                                  Decimal("0.006"), Decimal("0.01")])),
        down_payment=method is not Method.BULLET and draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(terms=_schedules(), method=st.sampled_from(["us", "eu"]))
def test_apr_of_any_schedule_is_the_reference_digit_for_digit(terms: ScheduleTerms,
                                                              method: str) -> None:
    schedule = build_schedule(terms)
    current, reference = _both(lambda: A.apr_of_schedule(schedule, method))
    assert current == reference


def test_a_zero_cost_plan_keeps_the_reference_residue() -> None:
    """The case where the path shows: the root is 0 and the solver's figure is a residue
    whose sign the key-facts document prints ("-0.00%")."""
    schedule = build_schedule(ScheduleTerms(
        principal_minor=7_501, currency="CNY", annual_rate=Decimal(0), periods=3,
        method=Method.FLAT, start_date=dt.date(2025, 3, 2),
        frequency="biweekly", day_count="ACT/365"))  # type: ignore[arg-type]
    for method in ("us", "eu"):
        current, reference = _both(lambda m=method: A.apr_of_schedule(schedule, m))  # type: ignore[misc]
        assert current == reference


def test_a_conclusive_float_estimate_decides_the_sign_and_an_inconclusive_one_does_not(
        ) -> None:
    def exact(at: Decimal) -> Decimal:
        return at - Decimal("0.5")

    assert A._sign_at(Decimal(1), lambda at: (0.5, 1e-12), exact) == 1
    assert A._sign_at(Decimal(0), lambda at: (-0.5, 1e-12), exact) == -1
    # Too close to zero for its bound, overflowing, or no estimate: the exact value.
    assert A._sign_at(Decimal("0.5"), lambda at: (1e-13, 1e-12), exact) == 0
    assert A._sign_at(Decimal(2), lambda at: (float("inf"), 1.0), exact) == Decimal("1.5")
    assert A._sign_at(Decimal(2), None, exact) == Decimal("1.5")
