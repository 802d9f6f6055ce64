"""Equal-installment, equal-principal and flat schedules for many loans at once (numpy).

The same math as :mod:`creditpay.credit.schedule`, exact to the minor unit:

* Money is ``int64`` minor units. Rates enter as integers of millionths
  (``annual_rate_micro = annual_rate * 10**6``; a rate with more than 6 decimals is
  refused), so ``interest = round(balance * annual_rate * period_fraction)`` is computed as
  an exact integer division with explicit rounding, never a float.
* The level installment of an annuity is irrational in general: it is estimated in
  float64 and rounded, and every loan whose float estimate lies within a guard band of a
  rounding boundary (where float error could flip the rounded result) is recomputed with
  the exact rational formula of the scalar path. The guard band (``1e-9 + 1e-11 * x`` minor
  units) is three orders of magnitude above the float64 error of the formula for terms up
  to 1,200 periods, so the result is identical to :func:`schedule.build_schedule`; the
  equality is tested on random loans.

Scope: schedules whose regular periods all carry the same rate, with no broken first
period and no down payment: 30/360 with monthly, quarterly, annual or semimonthly
frequency, or ACT/365 / ACT/360 with daily, weekly or biweekly frequency. Anything else
goes through the scalar :func:`schedule.build_schedule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from creditpay.credit.calendar import Frequency, days_per_period, parse_frequency
from creditpay.credit.daycount import DayCount, parse_day_count
from creditpay.credit.schedule import (
    PERIODS_MAX,
    Method,
    level_payment_exact,
    nominal_period_fraction,
    round_fraction,
)
from creditpay.errors import ValidationError
from creditpay.money import Rounding

__all__ = [
    "VectorisedSchedules",
    "vectorised_schedules",
    "rates_to_micro",
    "RATE_SCALE",
    "PRINCIPAL_MINOR_MAX",
]

RATE_SCALE = 1_000_000  # rates are integers of millionths
# Keeps balance * rate_micro * period_days below 2**62 (no int64 overflow, with room for
# the doubling in half-way rounding): 1e10 * 1e7 * 14 = 1.4e18 < 4.6e18.
PRINCIPAL_MINOR_MAX = 10**10
ANNUAL_RATE_MICRO_MAX = 10 * RATE_SCALE
FEE_RATE_MICRO_MAX = RATE_SCALE
_SUPPORTED_METHODS = (Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.FLAT)


@dataclass(frozen=True, slots=True)
class VectorisedSchedules:
    """Schedules of ``L`` loans padded to ``P = max(periods)`` columns (zeros past the term).

    Row ``r``, column ``k`` is installment ``k + 1`` of loan ``r``.
    """

    periods: np.ndarray  # (L,) int64
    level_payment_minor: np.ndarray  # (L,) int64; equal principal/flat: level principal part
    principal_minor: np.ndarray  # (L, P) int64
    interest_minor: np.ndarray  # (L, P) int64
    fee_minor: np.ndarray  # (L, P) int64
    total_minor: np.ndarray  # (L, P) int64
    balance_after_minor: np.ndarray  # (L, P) int64
    exact_fallbacks: int  # loans whose level payment needed the exact rational formula


def rates_to_micro(rates: list[Decimal], field: str = "annual_rate") -> np.ndarray:
    """Decimal rates -> int64 millionths, refusing rates with more than 6 decimals."""
    out = np.empty(len(rates), dtype=np.int64)
    for index, rate in enumerate(rates):
        if not isinstance(rate, Decimal) or not rate.is_finite():
            raise ValidationError("must be a finite Decimal", field=f"{field}[{index}]")
        scaled = rate * RATE_SCALE
        if scaled != scaled.to_integral_value():
            raise ValidationError("has more than 6 decimals", field=f"{field}[{index}]")
        out[index] = int(scaled)
    return out


def _round_div(numerator: np.ndarray, denominator: int | np.ndarray,
               rounding: Rounding) -> np.ndarray:
    """Exact ``round(numerator / denominator)`` for non-negative int64 numerators."""
    quotient, remainder = np.divmod(numerator, denominator)
    if rounding in (Rounding.DOWN, Rounding.FLOOR):
        return quotient
    if rounding in (Rounding.UP, Rounding.CEILING):
        return quotient + (remainder > 0)
    twice = 2 * remainder
    if rounding is Rounding.HALF_UP:
        return quotient + (twice >= denominator)
    if rounding is Rounding.HALF_DOWN:
        return quotient + (twice > denominator)
    # HALF_EVEN
    rounded: np.ndarray = quotient + ((twice > denominator)
                                      | ((twice == denominator) & (quotient % 2 == 1)))
    return rounded


def _check_scope(frequency: Frequency, day_count: DayCount) -> None:
    day_based = days_per_period(frequency) is not None
    if day_count is DayCount.THIRTY_360 and not day_based:
        return
    if day_count in (DayCount.ACT_365, DayCount.ACT_360) and day_based:
        return
    raise ValidationError(
        f"{frequency.value} under {day_count.value} has periods of unequal length; "
        "use schedule.build_schedule", field="day_count")


def _as_int64(values: np.ndarray, name: str, low: int, high: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValidationError("must be a 1-D integer array", field=name)
    array = array.astype(np.int64, copy=False)
    if array.size and (array.min() < low or array.max() > high):
        raise ValidationError(f"must be between {low} and {high}", field=name)
    return array


def _level_payments(
    principal: np.ndarray,
    rate_numerator: np.ndarray,
    rate_denominator: int,
    periods: np.ndarray,
    rounding: Rounding,
) -> tuple[np.ndarray, int]:
    """Rounded level installments; float estimate, exact rational where it is ambiguous."""
    payments = np.empty_like(principal)
    zero = rate_numerator == 0
    payments[zero] = _round_div(principal[zero], periods[zero], rounding)
    live = ~zero
    rate = rate_numerator[live].astype(np.float64) / rate_denominator
    # 1 - (1+i)^-n computed as -expm1(-n * log1p(i)): accurate for small i.
    discount = -np.expm1(-periods[live] * np.log1p(rate))
    estimate = principal[live].astype(np.float64) * rate / discount
    floor = np.floor(estimate)
    fraction = estimate - floor
    guard = 1e-9 + 1e-11 * estimate
    if rounding in (Rounding.HALF_UP, Rounding.HALF_DOWN, Rounding.HALF_EVEN):
        rounded = floor + (fraction > 0.5)
        ambiguous = np.abs(fraction - 0.5) < guard
    elif rounding in (Rounding.DOWN, Rounding.FLOOR):
        rounded = floor
        ambiguous = (fraction < guard) | (fraction > 1 - guard)
    else:
        rounded = floor + (fraction > 0)
        ambiguous = (fraction < guard) | (fraction > 1 - guard)
    live_payments = rounded.astype(np.int64)
    fallback_rows = np.flatnonzero(ambiguous)
    live_principal = principal[live]
    live_rate = rate_numerator[live]
    live_periods = periods[live]
    for row in fallback_rows:
        exact = level_payment_exact(
            int(live_principal[row]),
            Fraction(int(live_rate[row]), rate_denominator),
            int(live_periods[row]),
        )
        live_payments[row] = round_fraction(exact, rounding)
    payments[live] = live_payments
    return payments, int(fallback_rows.size)


def vectorised_schedules(
    principal_minor: np.ndarray,
    annual_rate_micro: np.ndarray,
    periods: np.ndarray,
    method: Method | str = Method.EQUAL_INSTALLMENT,
    frequency: Frequency | str = Frequency.MONTHLY,
    day_count: DayCount | str = DayCount.THIRTY_360,
    fee_rate_per_period_micro: np.ndarray | None = None,
    rounding: Rounding = Rounding.HALF_UP,
) -> VectorisedSchedules:
    """Build ``len(principal_minor)`` schedules at once; see the module docstring.

    ``annual_rate_micro`` is the annual rate in millionths (7 % -> 70_000), and
    ``fee_rate_per_period_micro`` the per-period fee rate on the principal in millionths.
    """
    method = Method(method)
    if method not in _SUPPORTED_METHODS:
        raise ValidationError("the vectorised engine builds equal_installment, "
                              "equal_principal and flat schedules", field="method")
    frequency = parse_frequency(frequency)
    day_count = parse_day_count(day_count)
    rounding = Rounding(rounding)
    _check_scope(frequency, day_count)
    principal = _as_int64(principal_minor, "principal_minor", 1, PRINCIPAL_MINOR_MAX)
    rate_micro = _as_int64(annual_rate_micro, "annual_rate_micro", 0, ANNUAL_RATE_MICRO_MAX)
    terms = _as_int64(periods, "periods", 1, PERIODS_MAX)
    loans = principal.size
    if rate_micro.size != loans or terms.size != loans:
        raise ValidationError("arrays must have the same length", field="periods")
    if fee_rate_per_period_micro is None:
        fee_micro = np.zeros(loans, dtype=np.int64)
    else:
        fee_micro = _as_int64(fee_rate_per_period_micro, "fee_rate_per_period_micro", 0,
                              FEE_RATE_MICRO_MAX)
        if fee_micro.size != loans:
            raise ValidationError("arrays must have the same length",
                                  field="fee_rate_per_period_micro")

    # rate_per_period = rate_micro / 1e6 * nominal = rate_micro * nominal.num / denominator
    nominal = nominal_period_fraction(frequency, day_count)
    rate_numerator = rate_micro * nominal.numerator
    rate_denominator = RATE_SCALE * nominal.denominator

    fallbacks = 0
    if method is Method.EQUAL_INSTALLMENT:
        level, fallbacks = _level_payments(principal, rate_numerator, rate_denominator,
                                           terms, rounding)
    else:
        level = _round_div(principal, terms, rounding)
    fee = _round_div(principal * fee_micro, RATE_SCALE, rounding)

    width = int(terms.max()) if loans else 0
    shape = (loans, width)
    principal_parts = np.zeros(shape, dtype=np.int64)
    interest_parts = np.zeros(shape, dtype=np.int64)
    fee_parts = np.zeros(shape, dtype=np.int64)
    balances = np.zeros(shape, dtype=np.int64)
    balance = principal.copy()
    flat_interest = _round_div(principal * rate_numerator, rate_denominator, rounding)
    for column in range(width):
        active = column < terms
        last = column == terms - 1
        if method is Method.FLAT:
            # on the original principal while any is outstanding, as the scalar schedule
            interest = np.where(balance > 0, flat_interest, 0)
        else:
            interest = _round_div(balance * rate_numerator, rate_denominator, rounding)
        if method is Method.EQUAL_INSTALLMENT:
            part = level - interest
        else:
            part = level
        part = np.where(last, balance, np.clip(part, 0, balance))
        part = np.where(active, part, 0)
        balance = balance - part
        principal_parts[:, column] = part
        interest_parts[:, column] = np.where(active, interest, 0)
        fee_parts[:, column] = np.where(active, fee, 0)
        balances[:, column] = balance
    total = principal_parts + interest_parts + fee_parts
    assert not balance.any(), "every loan is fully amortised"
    return VectorisedSchedules(terms, level, principal_parts, interest_parts, fee_parts,
                               total, balances, fallbacks)
