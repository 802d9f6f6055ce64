"""Annual percentage rates: US Regulation Z Appendix J, EU APRC, and the all-in annual cost.

All three solve one equation of value between the money advanced and the money repaid;
they differ in how time is measured and how a period rate becomes a yearly one.

* **US APR** (12 CFR 1026 Appendix J, actuarial method). Time is counted in *unit
  periods* (the most common period: month, semimonth, week(s), day, year). For each
  advance or payment, full unit periods ``t`` are counted back from its date toward the
  start of the term and what remains is a fraction ``f`` of a unit period, as (b)(5) says
  for each unit (:func:`appendix_j_time`: months and days / 30; 30 x months + days over 15
  or 30 x months per unit; days over 7 x weeks; whole years and months / 12 or days /
  365). The general equation (b)(8) is
  ``sum A_k / ((1 + f_k i)(1 + i)^t_k) = sum P_j / ((1 + f_j i)(1 + i)^t_j)`` and
  ``APR = i * unit periods per year`` (a nominal rate).
* **EU APRC** (Directive 2008/48/EC, Annex I): ``sum A_k (1 + X)^-t_k = sum P_j (1 +
  X)^-t_j`` with ``t`` in years from the first advance, ``X`` an effective annual rate.
  Time follows Annex I remark (c) as Directive 2011/90/EU worded it (and Directive (EU)
  2023/2225 Annex III keeps it): whole months (1/12 year each, leap year or not) counted
  back from each flow to the first advance, then the days left over 365, or 366 when the
  year counted back from the last of them holds a 29 February (:func:`_eu_years`).
  ``DAYS_365`` (actual days / 365 in every year) is kept for the worked examples of
  Directive 98/7/EC, which use it.
* **All-in annual cost** (综合年化成本, the figure China's 24 %/36 % caps apply to): the
  internal rate of return per installment period of every cash flow the borrower pays
  (principal, interest, every fee) times the periods in a year, per the IRR method the
  People's Bank of China requires for annualised financing cost disclosure.

Solving uses ``Decimal`` with 50 significant digits and a safeguarded Newton iteration
(a Newton step outside the current sign-change bracket is replaced by bisection) until the
step is below ``1e-24`` in the period rate; money never becomes a float.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, getcontext, localcontext
from fractions import Fraction
from typing import TypeVar

import gmpy2

from creditpay.credit.calendar import (
    Frequency,
    add_months,
    days_in_month,
    due_dates,
    parse_frequency,
)
from creditpay.credit.schedule import Schedule
from creditpay.errors import ValidationError

__all__ = [
    "AprMethod",
    "EuTimeBasis",
    "UnitPeriod",
    "Flow",
    "unit_period_for",
    "appendix_j_time",
    "apr_us",
    "aprc_eu",
    "apr_from_flows",
    "regular_payment_flows",
    "schedule_flows",
    "apr_of_schedule",
    "all_in_annual_cost",
    "SOLVER_TOLERANCE",
]

Flow = tuple[dt.date, int]  # (date, amount_minor)
SOLVER_TOLERANCE = Decimal("1e-24")  # on the rate per unit period (or per year for the EU)
_MAX_ITERATIONS = 400
_MAX_FLOWS = 10_000
_PRECISION = 50


class AprMethod(enum.StrEnum):
    US = "us"  # Regulation Z Appendix J, nominal
    EU = "eu"  # Directive 2008/48/EC Annex I, effective


class EuTimeBasis(enum.StrEnum):
    """How the EU APRC measures time (see :func:`aprc_eu`)."""

    EQUAL_MONTHS = "equal_months"  # the default: Annex I (c), months and days
    EQUAL_WEEKS = "equal_weeks"  # Annex I (c), weeks and days
    EQUAL_YEARS = "equal_years"  # Annex I (c), years and days
    DAYS_365 = "days_365"  # actual days / 365 in every year (Directive 98/7/EC's examples)


@dataclass(frozen=True, slots=True)
class UnitPeriod:
    """An Appendix J unit period: ``count`` months, weeks, semimonths or days, or the
    whole term (``"term"``, single advance and single payment shorter than a year)."""

    unit: str  # "month" | "semimonth" | "week" | "day" | "term"
    count: int = 1

    def __post_init__(self) -> None:
        if self.unit not in ("month", "semimonth", "week", "day", "term"):
            raise ValidationError(f"unknown unit {self.unit!r}", field="unit_period")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValidationError("count must be a positive integer", field="unit_period")
        if self.unit == "month" and self.count > 12:
            raise ValidationError("a unit period is at most a year", field="unit_period")
        if self.unit == "semimonth" and self.count != 1:
            raise ValidationError("semimonth unit periods have count 1", field="unit_period")

    def per_year(self, term_days: int | None = None) -> Fraction:
        """Unit periods in a year (monthly 12, semimonthly 24, weekly 52, daily 365)."""
        if self.unit == "month":
            return Fraction(12, self.count)
        if self.unit == "semimonth":
            return Fraction(24)
        if self.unit == "week":
            return Fraction(52, self.count)
        if self.unit == "day":
            return Fraction(365, self.count)
        if not term_days:
            raise ValidationError("a term unit period needs the term in days",
                                  field="unit_period")
        return Fraction(365, term_days)


_FREQUENCY_UNIT = {
    Frequency.DAILY: UnitPeriod("day"),
    Frequency.WEEKLY: UnitPeriod("week"),
    Frequency.BIWEEKLY: UnitPeriod("week", 2),
    Frequency.SEMIMONTHLY: UnitPeriod("semimonth"),
    Frequency.MONTHLY: UnitPeriod("month"),
    Frequency.QUARTERLY: UnitPeriod("month", 3),
    Frequency.ANNUAL: UnitPeriod("month", 12),
}


def unit_period_for(frequency: Frequency | str) -> UnitPeriod:
    """The Appendix J unit period of a payment frequency."""
    return _FREQUENCY_UNIT[parse_frequency(frequency)]


# -- Appendix J time measurement --------------------------------------------------------
def _month_back(day: dt.date, months: int, anchor_day: int | None = None) -> dt.date:
    # (b)(3)(iv): months run from a date to the same date of another month; a series on
    # the 29th, 30th or 31st uses the last day of shorter months. ``anchor_day`` is that
    # series day when known (a Feb 28 payment of a 31st series counts back to Jan 31).
    anchor = day.day
    if anchor_day is not None and anchor_day > day.day and \
            day.day == days_in_month(day.year, day.month):
        anchor = anchor_day
    return add_months(day, -months, anchor)


def _months_apart(earlier: dt.date, later: dt.date, months: int) -> bool:
    """Whether ``later`` is ``months`` calendar months after ``earlier`` on one series."""
    last = days_in_month(earlier.year, earlier.month)
    anchors = range(earlier.day, 32) if earlier.day == last else (earlier.day,)
    return any(add_months(earlier, months, anchor) == later for anchor in anchors)


def _series_anchor_day(payments: Sequence[Flow]) -> int | None:
    """The day of month of a monthly payment series (31 for month ends), or None."""
    days = {when.day for when, _ in payments}
    anchor = max(days)
    for when, _ in payments:
        last = days_in_month(when.year, when.month)
        if when.day != anchor and not (when.day == last and when.day < anchor):
            return None
    return anchor


def _semimonth_back(day: dt.date, steps: int) -> dt.date:
    # Semimonths pair day D with D+15 (D <= 15) in the same month, as 1st/16th.
    pair = (day.day, day.day + 15) if day.day <= 15 else (day.day - 15, day.day)
    half = (0 if day.day <= 15 else 1) - steps
    month_offset, which = divmod(half, 2)
    moved = add_months(dt.date(day.year, day.month, 1), month_offset)
    last = days_in_month(moved.year, moved.month)
    return moved.replace(day=min(pair[which], last))


def _full_months_back(start: dt.date, when: dt.date, anchor_day: int | None) -> tuple[int, int]:
    """``(months, days)``: whole months counted back from ``when`` (each one step from
    ``when``, never chained, so a month-end series does not drift), and the days left from
    ``start`` to the date reached."""
    months, reached = _months_back_to(start, when, anchor_day)
    return months, (reached - start).days


def _months_back_to(start: dt.date, when: dt.date, anchor_day: int | None
                    ) -> tuple[int, dt.date]:
    """``(months, date reached)`` of :func:`_full_months_back`."""
    months = (when.year - start.year) * 12 + when.month - start.month
    if months >= 0:
        reached = _month_back(when, months, anchor_day)
        if reached == start:
            # A flow on the series of the start (most flows): ``months`` back lands on the
            # start itself, and one month more lands in the month before the start's, so
            # it is the count the search below finds, without its two extra steps.
            return months, reached
    months = max(0, months - 1)
    while _month_back(when, months + 1, anchor_day) >= start:
        months += 1
    return months, _month_back(when, months, anchor_day)


def appendix_j_time(
    start: dt.date, when: dt.date, unit_period: UnitPeriod, anchor_day: int | None = None
) -> tuple[int, Fraction]:
    """``(t, f)``: full unit periods and the fraction of one from ``start`` to ``when``,
    as Appendix J (b)(5) measures them. ``anchor_day`` is the day of month of the payment
    series (month-based unit periods), see :func:`_month_back`.

    * (ii) month: ``t`` = whole months counted back from ``when``; ``f`` = the days left
      (from ``start`` forward to the first full month) / 30;
    * (iii) semimonth, or 2 to 11 months: days = 30 x whole months counted back + the days
      left; ``t`` and ``f`` divide them by 15, or by 30 x months;
    * (iv) day, week(s): days / days per unit period;
    * (v) year (12 months): ``t`` = whole years counted back; ``f`` = the months left / 12
      when what is left is a whole number of months, else its actual days / 365;
    * the term (single advance, single payment shorter than a year, (b)(5)(vi)-(vii)):
      one unit period.
    """
    t, numerator, denominator = _appendix_j_parts(start, when, unit_period, anchor_day)
    return t, Fraction(numerator, denominator)


def _appendix_j_parts(
    start: dt.date, when: dt.date, unit_period: UnitPeriod, anchor_day: int | None = None
) -> tuple[int, int, int]:
    """:func:`appendix_j_time` as ``(t, numerator, denominator)`` of ``f``, not reduced:
    the solver divides them as Decimals (the same quotient, digit for digit, as of the
    reduced fraction), so no Fraction is built for each flow of each solve."""
    if when < start:
        raise ValidationError(f"{when} is before the start of the term {start}", field="date")
    days = (when - start).days
    unit = unit_period.unit
    if unit == "term":
        return (1, 0, 1) if days else (0, 0, 1)
    if unit in ("day", "week"):
        length = unit_period.count * (7 if unit == "week" else 1)
        t, remainder = divmod(days, length)
        return t, remainder, length
    months, left = _full_months_back(start, when, anchor_day)
    if unit == "semimonth":
        t, remainder = divmod(30 * months + left, 15)
        return t, remainder, 15
    per_unit = unit_period.count
    if per_unit == 1:
        return months, left, 30
    if per_unit < 12:
        t, remainder = divmod(30 * months + left, 30 * per_unit)
        return t, remainder, 30 * per_unit
    years, months_left = divmod(months, 12)
    if left == 0:
        return years, months_left, 12
    rest_start = _month_back(when, 12 * years, anchor_day)
    return years, (rest_start - start).days, 365


# -- solver -----------------------------------------------------------------------------
Number = TypeVar("Number", float, Decimal)


def _newton(
    value_and_slope: Callable[[Number], tuple[Number, Number]],
    low: Number,
    high: Number,
    f_low: Number,
    close: Callable[[Number, Number], bool],
    iterations: int,
) -> Number | None:
    """Safeguarded Newton on a bracket ``[low, high]`` whose ends have opposite signs
    (``f_low`` the value at ``low``): a Newton step that leaves the bracket is replaced by
    bisection. The root once ``close(candidate, rate)``; None if ``iterations`` ran out.
    The same steps for floats (the seed) and Decimals (the exact solve)."""
    rate = (low + high) / 2
    for _ in range(iterations):
        value, slope = value_and_slope(rate)
        if value == 0:
            return rate
        if (value > 0) == (f_low > 0):
            low, f_low = rate, value
        else:
            high = rate
        candidate = rate - value / slope if slope != 0 else low - 1
        if not low < candidate < high:
            candidate = (low + high) / 2
        if close(candidate, rate):
            return candidate
        rate = candidate
    return None


def _float_root(
    value_and_slope: Callable[[float], tuple[float, float]],
    low: float,
    high: float,
) -> float | None:
    """The root in ``[low, high]`` in binary floating point, or None when floats cannot
    find it (no sign change, overflow). A starting point only: the exact solve in
    :func:`_solve` checks it and finishes in Decimal."""
    try:
        f_low, _ = value_and_slope(low)
        f_high, _ = value_and_slope(high)
        if f_low * f_high > 0:
            return None
        return _newton(value_and_slope, low, high, f_low,
                       lambda candidate, rate: abs(candidate - rate) <= 1e-15 * (1 + abs(rate)),
                       200)
    except (OverflowError, ZeroDivisionError, ValueError):
        return None


# A float estimate of an equation's value and a bound on its error: see :func:`_sign_at`.
Estimate = Callable[[Decimal], tuple[float, float] | None]
_UNIT_ROUNDOFF = 2.0 ** -53
_ONE, _MINUS_ONE = Decimal(1), Decimal(-1)


def _sign_at(x: Decimal, estimate: Estimate | None,
             value: Callable[[Decimal], Decimal]) -> Decimal:
    """The value at ``x`` where only its sign is used (bracket ends): ``+1`` or ``-1`` when
    the float ``estimate`` is farther from zero than its error bound (then the exact value,
    within 1e-45 of the true one, has that sign too), else the exact Decimal ``value``
    itself. A bracket end costs a Decimal evaluation only when floats cannot tell."""
    if estimate is not None:
        try:
            found = estimate(x)
        except (OverflowError, ZeroDivisionError, ValueError):
            found = None
        if found is not None:
            approximate, bound = found
            if math.isfinite(approximate) and math.isfinite(bound) and \
                    abs(approximate) > bound:
                return _ONE if approximate > 0 else _MINUS_ONE
    return value(x)


def _solve(
    value_and_slope: Callable[[Decimal], tuple[Decimal, Decimal]],
    low: Decimal,
    high: Decimal,
    guess: float | None = None,
    estimate: Estimate | None = None,
) -> Decimal:
    """Root of a function with a sign change in ``[low, high]``, safeguarded Newton.

    ``guess`` (a root found in floats, see :func:`_float_root`) narrows the bracket to a
    billionth around it when the function changes sign there, so the Decimal iterations
    (the cost of a solve: each evaluates every flow at 50 digits) start next to the root
    and finish in two steps; the result meets the same tolerance either way.

    Only the signs of the values at the bracket's ends are used (to pick the bracket and,
    in :func:`_newton`, the side to keep), so ``estimate`` (a float value with an error
    bound) decides them when it can (:func:`_sign_at`); the iterates, each a Decimal
    evaluation, are the same either way, and so is the root, digit for digit.
    """
    def sign(x: Decimal) -> Decimal:
        return _sign_at(x, estimate, lambda at: value_and_slope(at)[0])

    bracket = None
    if guess is not None and float(low) < guess < float(high):
        near = Decimal(repr(guess))
        width = Decimal("1e-9") * (1 + abs(near))
        near_low, near_high = max(low, near - width), min(high, near + width)
        f_near_low = sign(near_low)
        f_near_high = sign(near_high)
        if f_near_low * f_near_high <= 0:
            bracket = near_low, near_high, f_near_low, f_near_high
    if bracket is None:
        bracket = low, high, sign(low), sign(high)
    low, high, f_low, f_high = bracket
    expansions = 0
    while f_low * f_high > 0:
        expansions += 1
        if expansions > 60:
            raise ValidationError("the flows have no rate of return: payments never "
                                  "balance the advances", field="payments")
        high = high * 2 + 1
        f_high = sign(high)
    root = _newton(value_and_slope, low, high, f_low,
                   lambda candidate, rate: abs(candidate - rate) < SOLVER_TOLERANCE,
                   _MAX_ITERATIONS)
    if root is None:  # pragma: no cover - a bracketed root always converges
        raise ValidationError("the rate did not converge", field="payments")
    return root


def _bound(size: float, flows: int, worst: float) -> float:
    """Error bound of a float sum of ``flows`` present values whose absolute values add up
    to ``size``, each with a relative error below ``worst`` unit roundoffs: the terms'
    errors, the summation's, and a factor of 1024 of margin over that analysis."""
    return size * _UNIT_ROUNDOFF * (worst + flows + 8) * 1024


def _check_flows(flows: Sequence[Flow], field: str) -> list[Flow]:
    if not flows:
        raise ValidationError("needs at least one flow", field=field)
    if len(flows) > _MAX_FLOWS:
        raise ValidationError(f"at most {_MAX_FLOWS} flows", field=field)
    checked = []
    for index, flow in enumerate(flows):
        try:
            when, amount = flow
        except (TypeError, ValueError):
            raise ValidationError("each flow is (date, amount_minor)",
                                  field=f"{field}[{index}]") from None
        if not isinstance(when, dt.date) or isinstance(when, dt.datetime):
            raise ValidationError("date must be a date", field=f"{field}[{index}].date")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValidationError("amount must be a non-negative integer of minor units",
                                  field=f"{field}[{index}].amount")
        checked.append((when, amount))
    if sum(amount for _, amount in checked) == 0:
        raise ValidationError("amounts must not all be zero", field=field)
    return checked


def _standard_period(earlier: dt.date, later: dt.date) -> UnitPeriod | None:
    """The standard unit of time an interval is a whole number of (Appendix J (b)(4)):
    1 to 12 months on one monthly series, a semimonth, 1 to 52 weeks, or a day; None for
    an interval that is none of them (33 days)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    days = (later - earlier).days
    if 1 <= months <= 12 and _months_apart(earlier, later, months):
        return UnitPeriod("month", months)
    if days % 7 == 0 and 7 <= days <= 364:
        return UnitPeriod("week", days // 7)
    if days and _semimonth_back(later, 1) == earlier:
        return UnitPeriod("semimonth")
    if days == 1:
        return UnitPeriod("day")
    return None


# Standard units for the average rule (b)(4)(i)(B), in days
_STANDARD_UNITS = ((UnitPeriod("day"), 1), (UnitPeriod("week"), 7),
                   (UnitPeriod("semimonth"), 15), (UnitPeriod("month"), 30),
                   (UnitPeriod("month", 12), 365))


def _infer_unit_period(advances: list[Flow], payments: list[Flow]) -> UnitPeriod:
    """Appendix J (b)(4): the common period that occurs most often, the smaller one on a
    tie; with no common period, the average of all periods rounded to the nearest standard
    unit of time (the smaller at a midpoint). Periods (b)(3): between advances, between
    payments, and from the start of the term to the first advance or payment after it."""
    dates = sorted({when for when, amount in payments if amount})
    start = min(when for when, _ in advances)
    if len(advances) == 1 and len(dates) == 1:
        term_days = (dates[0] - start).days
        # (b)(4)(ii): single advance, single payment: the term is the unit period, but
        # never more than a year.
        return UnitPeriod("term") if 0 < term_days <= 365 else UnitPeriod("month", 12)
    later_advances = sorted({when for when, _ in advances if when > start})
    intervals = list(zip(dates, dates[1:], strict=False))
    intervals += list(zip([start, *later_advances], later_advances, strict=False))
    if dates and dates[0] > start:
        intervals.append((start, dates[0]))
    periods: Counter[UnitPeriod] = Counter()
    for earlier, later in intervals:
        period = _standard_period(earlier, later)
        if period is not None:
            periods[period] += 1
    if not periods:
        lengths = [(later - earlier).days for earlier, later in intervals]
        if not lengths:
            return UnitPeriod("month")
        average = Fraction(sum(lengths), len(lengths))
        return min(_STANDARD_UNITS, key=lambda unit: (abs(unit[1] - average), unit[1]))[0]
    top = max(periods.values())
    # (b)(4)(i)(A): among equally common periods the smaller one is the unit period.
    candidates = [unit for unit, count in periods.items() if count == top]
    return min(candidates, key=lambda unit: Fraction(1) / unit.per_year(1))


def _us_value_and_slope(terms: list[tuple[Decimal, int, Decimal]]
                        ) -> Callable[[Decimal], tuple[Decimal, Decimal]]:
    """The Appendix J equation of ``terms`` ``(amount, t, f)`` (advances positive, payments
    negative) and its derivative at a unit-period rate ``i``, in the caller's context.

    A flow a whole number of unit periods from the start (``f`` = 0: most flows) skips the
    simple-interest factor: ``1 + 0 i`` is exactly 1, so ``amount / (1 x growth)`` and
    ``present x (0 / 1 + t / (1 + i))`` are the very quotients and products of ``amount /
    growth`` and ``present x (t / (1 + i))``; every value is the same, digit for digit
    (tests/credit/test_apr_exact_paths.py checks it against the full formula), with five
    Decimal operations of the eleven."""
    def value_and_slope(i: Decimal) -> tuple[Decimal, Decimal]:
        value = Decimal(0)
        slope = Decimal(0)
        one_plus = 1 + i  # the same Decimal each flow formed, formed once
        for amount, t, f in terms:
            growth = one_plus ** t
            if f:
                simple = 1 + f * i
                present = amount / (simple * growth)
                value += present
                slope -= present * (f / simple + t / one_plus)
            else:
                present = amount / growth
                value += present
                slope -= present * (t / one_plus)
        return value, slope

    return value_and_slope


def apr_us(
    advances: Sequence[Flow],
    payments: Sequence[Flow],
    unit_period: UnitPeriod | Frequency | str | None = None,
) -> Decimal:
    """Regulation Z Appendix J actuarial APR (a fraction: 0.0969 = 9.69 %).

    The term starts at the earliest advance. ``unit_period`` defaults to the most common
    payment interval.
    """
    advances = _check_flows(advances, "advances")
    payments = _check_flows(payments, "payments")
    start = min(when for when, _ in advances)
    if isinstance(unit_period, Frequency | str):
        unit_period = unit_period_for(unit_period)
    if unit_period is None:
        unit_period = _infer_unit_period(advances, payments)
    term_days = (max(when for when, _ in payments) - start).days
    anchor = _series_anchor_day(payments)
    if unit_period.unit == "semimonth":
        # Two days a month: a month-end payment belongs to the later day's series (a
        # 15th/30th series pays on 28 February, which counts back to 30 January).
        late = [flow for flow in payments if flow[0].day > 15]
        anchor = _series_anchor_day(late) if late else None
    weighted = [
        (Decimal(amount), _appendix_j_parts(start, when, unit_period))
        for when, amount in advances
    ] + [
        (-Decimal(amount), _appendix_j_parts(start, when, unit_period, anchor))
        for when, amount in payments
    ]
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        terms = [(amount, t, Decimal(numerator) / Decimal(denominator))
                 for amount, (t, numerator, denominator) in weighted]
        value_and_slope = _us_value_and_slope(terms)

        float_terms = [(float(amount), t, float(f)) for amount, t, f in terms]

        def estimate(i: Decimal) -> tuple[float, float] | None:
            # (1 + i) is formed in Decimal (exact here) so that a rate near -1 loses no
            # relative precision; each present value is then within (t + 4 / simple + 8)
            # roundoffs of the exact one.
            growth = float(1 + i)
            rate = float(i)
            if not growth > 0:
                return None
            total = size = worst = 0.0
            for amount, t, f in float_terms:
                simple = 1.0 + f * rate
                if simple < 1e-3:
                    return None
                present = amount / (simple * growth ** t)
                total += present
                size += abs(present)
                worst = max(worst, 2 * t + 4 / simple)
            return total, _bound(size, len(float_terms), worst)

        # No float seed here: from the wide bracket this solve takes about five steps (a
        # seed costs as much as it saves); the EU solve below needs one.
        rate = _solve(value_and_slope, Decimal("-0.999999"), Decimal(1), estimate=estimate)
        per_year = unit_period.per_year(term_days)
        return +(rate * per_year.numerator / per_year.denominator)


def _eu_years(start: dt.date, when: dt.date, basis: EuTimeBasis,
              anchor_day: int | None = None) -> Fraction:
    """Years from the first advance ``start`` to ``when`` (Annex I, remark (c), as
    Directive 2011/90/EU worded it and Directive (EU) 2023/2225 Annex III keeps it).

    Whole periods (months of 1/12 year, weeks of 1/52, or years) are counted back from
    ``when`` toward the drawdown; the days left (first day excluded, last included) are
    divided by the days of the complete year counted back from the last of them to the
    same day of the previous year: 366 when that year holds a 29 February, else 365.
    ``DAYS_365`` is actual days / 365 throughout. A month-end flow of a month-end series
    (``anchor_day``), or a month end after a month-end drawdown, counts month end to month
    end.
    """
    if when < start:
        raise ValidationError(f"{when} is before the first advance {start}", field="date")
    days = (when - start).days
    if basis is EuTimeBasis.DAYS_365:
        return Fraction(days, 365)
    if basis is EuTimeBasis.EQUAL_WEEKS:
        weeks = days // 7
        whole, cursor = Fraction(weeks, 52), when - dt.timedelta(days=7 * weeks)
    else:
        if _is_month_end(start) and _is_month_end(when):
            anchor_day = 31
        months, cursor = _months_back_to(start, when, anchor_day)
        if basis is EuTimeBasis.EQUAL_YEARS and months % 12:
            months -= months % 12
            cursor = _month_back(when, months, anchor_day)
        whole = Fraction(months, 12)
    left = (cursor - start).days
    if left == 0:
        return whole
    year_days = (cursor - add_months(cursor, -12)).days  # 365, or 366 over a 29 February
    return whole + Fraction(left, year_days)


def _eu_years_and_months(start: dt.date, when: dt.date, basis: EuTimeBasis,
                         anchor_day: int | None, start_month_end: bool
                         ) -> tuple[int, int, int | None]:
    """(numerator, denominator of :func:`_eu_years`, the whole months it is or None): a
    flow a whole number of months from the start (no day left over: most flows) is
    counted as months / 12 (not reduced: the solver divides them as Decimals, the same
    quotient as of the reduced fraction) without the Fraction arithmetic of the general
    case. ``start_month_end``: whether ``start`` is a month end (known once per solve)."""
    if basis is EuTimeBasis.EQUAL_MONTHS and when >= start:
        month_end = start_month_end and _is_month_end(when)
        months, cursor = _months_back_to(start, when, 31 if month_end else anchor_day)
        if cursor == start:
            return months, 12, months
    years = _eu_years(start, when, basis, anchor_day)
    whole = years * 12
    return (years.numerator, years.denominator,
            int(whole) if whole.denominator == 1 else None)


# MPFR at 256 bits (~77 digits): see :func:`_ln`.
_MPFR = gmpy2.context(precision=256)
_LN_FLOOR = Decimal("0.000001")  # below it, the condition of log1p is not bounded here
_LN_WIDE = Context(prec=200)  # exact for the interval: 65 digits and a margin 60 below them
_LN_ROUNDING = Context(prec=_PRECISION, rounding=ROUND_HALF_EVEN)  # as Decimal.ln rounds
_DEFAULT_LIMITS = (Context().Emin, Context().Emax)


def _ln(operand: Decimal) -> Decimal:
    """``operand.ln()`` in the current context, digit for digit (same value, same digits,
    same 50-digit coefficient), computed with MPFR (gmpy2).

    Why not Decimal.ln: at 50 digits it costs ~36 µs (libmpdec), two of them in every EU
    solve, a fifth of a quote's exact rates; MPFR's log1p at 256 bits costs ~6 µs. The
    decimal module documents ``ln`` as correctly rounded (half even), so any correctly
    rounded logarithm has its digits. MPFR's log1p of the exact ``operand - 1`` (a rational
    converted at 256 bits) is within 2^-237 of the true value relative to it (conversion,
    rounding, and a condition number below 2^17 for operands above 10^-6), written with
    65 significant digits (5e-65 more); the true logarithm then lies within 10^-60 of it,
    relative. When both ends of that interval round to the same digits in the context,
    those are the correctly rounded logarithm; otherwise (an operand whose logarithm lies
    next to a rounding boundary, about one in 10^10), and for every case outside the bounds
    above (the exact ln(1) = 0, operands at or below 10^-6, a context other than the
    solvers' 50 digits), Decimal.ln itself answers. tests/credit/test_apr_exact_paths.py checks it against
    Decimal.ln with Hypothesis."""
    context = getcontext()
    if (context.prec != _PRECISION or (context.Emin, context.Emax) != _DEFAULT_LIMITS
            or not operand.is_finite() or operand <= _LN_FLOOR or operand == _ONE):
        return operand.ln()
    numerator, denominator = operand.as_integer_ratio()
    logarithm = _MPFR.log1p(gmpy2.mpq(numerator - denominator, denominator))
    approximate = Decimal(format(logarithm, ".64e"))
    margin = abs(approximate).scaleb(-60, _LN_WIDE)
    low = _LN_ROUNDING.plus(_LN_WIDE.subtract(approximate, margin))
    if low == _LN_ROUNDING.plus(_LN_WIDE.add(approximate, margin)):
        return low
    return operand.ln()  # pragma: no cover - a logarithm next to a rounding boundary


def _is_month_end(day: dt.date) -> bool:
    return day.day == days_in_month(day.year, day.month)


def aprc_eu(
    advances: Sequence[Flow],
    payments: Sequence[Flow],
    time_basis: EuTimeBasis | str = EuTimeBasis.EQUAL_MONTHS,
) -> Decimal:
    """EU annual percentage rate of charge, Directive 2008/48/EC Annex I (a fraction).

    Time is measured as :func:`_eu_years` says: by default whole months counted back from
    each flow to the first advance and the days left over 365, or 366 when the year
    before the last of those days holds a 29 February.
    """
    advances = _check_flows(advances, "advances")
    payments = _check_flows(payments, "payments")
    try:
        basis = EuTimeBasis(time_basis)
    except ValueError:
        allowed = ", ".join(b.value for b in EuTimeBasis)
        raise ValidationError(f"unknown time basis {time_basis!r}; use one of {allowed}",
                              field="time_basis") from None
    start = min(when for when, _ in advances)
    anchor = _series_anchor_day(payments)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        terms = []
        # A flow a whole number of months from the start (most of them: a monthly plan's
        # every payment) is discounted by a power of the monthly factor (1 + x)^(-1/12),
        # one exp per evaluation shared by all of them; the others by their own exp. Both
        # are exact to the context's 50 digits, far below the solver's tolerance.
        months: list[int | None] = []
        start_month_end = _is_month_end(start)
        for sign, flows in ((1, advances), (-1, payments)):
            for when, amount in flows:
                numerator, denominator, count = _eu_years_and_months(
                    start, when, basis, anchor, start_month_end)
                terms.append((sign * Decimal(amount),
                              Decimal(numerator) / Decimal(denominator)))
                months.append(count)

        def value_and_slope(x: Decimal) -> tuple[Decimal, Decimal]:
            one_plus = 1 + x  # the same Decimal each flow formed, formed once
            log_growth = _ln(one_plus)
            monthly = (-log_growth / 12).exp()
            value = Decimal(0)
            slope = Decimal(0)
            for (amount, years), month_count in zip(terms, months, strict=True):
                factor = monthly ** month_count if month_count is not None \
                    else (-years * log_growth).exp()
                present = amount * factor
                value += present
                slope -= present * years / one_plus
            return value, slope

        float_terms = [(float(amount), float(years)) for amount, years in terms]

        def float_value_and_slope(x: float) -> tuple[float, float]:
            log_growth = math.log1p(x)
            value = slope = 0.0
            one_plus = 1 + x  # the same float each flow formed, formed once
            exp = math.exp
            for amount, years in float_terms:
                present = amount * exp(-years * log_growth)
                value += present
                slope -= present * years / one_plus
            return value, slope

        def estimate(x: Decimal) -> tuple[float, float] | None:
            # log(1 + x) of (1 + x) formed in Decimal: each present value is within
            # 4 (1 + years (1 + |log|)) roundoffs of the exact one.
            growth = float(1 + x)
            if not growth > 0:
                return None
            log_growth = math.log(growth)
            total = size = worst = 0.0
            for amount, years in float_terms:
                present = amount * math.exp(-years * log_growth)
                total += present
                size += abs(present)
                worst = max(worst, 4 * (1 + abs(years) * (1 + abs(log_growth))))
            return total, _bound(size, len(float_terms), worst)

        return +_solve(value_and_slope, Decimal("-0.999999"), Decimal(1),
                       _float_root(float_value_and_slope, -0.999999, 1.0), estimate)


def apr_from_flows(
    advances: Sequence[Flow],
    payments: Sequence[Flow],
    method: AprMethod | str = AprMethod.US,
    unit_period: UnitPeriod | Frequency | str | None = None,
    time_basis: EuTimeBasis | str = EuTimeBasis.EQUAL_MONTHS,
) -> Decimal:
    """APR (``us``) or APRC (``eu``) of irregular flows ``[(date, amount_minor), ...]``."""
    try:
        method = AprMethod(method)
    except ValueError:
        raise ValidationError(f"unknown APR method {method!r}; use us or eu",
                              field="method") from None
    if method is AprMethod.US:
        return apr_us(advances, payments, unit_period)
    return aprc_eu(advances, payments, time_basis)


def regular_payment_flows(
    advance_minor: int,
    advance_date: dt.date,
    payment_minor: int,
    count: int,
    frequency: Frequency | str,
    first_payment_date: dt.date | None = None,
) -> tuple[list[Flow], list[Flow]]:
    """One advance and ``count`` equal payments at ``frequency`` (anchored on the first)."""
    dates = due_dates(advance_date, count, frequency, first_payment_date)
    return [(advance_date, advance_minor)], [(when, payment_minor) for when in dates]


def schedule_flows(schedule: Schedule) -> tuple[list[Flow], list[Flow]]:
    """The borrower's flows of a schedule: the principal advanced at the start, and every
    installment total (principal + interest + fees) on its due date."""
    advances = [(schedule.terms.start_date, schedule.terms.principal_minor)]
    payments = [(i.due_date, i.total_minor) for i in schedule.installments]
    return advances, payments


def apr_of_schedule(
    schedule: Schedule,
    method: AprMethod | str = AprMethod.US,
    time_basis: EuTimeBasis | str = EuTimeBasis.EQUAL_MONTHS,
) -> Decimal:
    """APR (US, unit period = the schedule's frequency) or APRC (EU) of a schedule."""
    advances, payments = schedule_flows(schedule)
    unit: UnitPeriod | None = unit_period_for(schedule.terms.frequency)
    if len(payments) == 1:
        unit = None  # single advance, single payment: Appendix J (b)(4)(ii)
    return apr_from_flows(advances, payments, method, unit, time_basis)


def all_in_annual_cost(schedule: Schedule) -> Decimal:
    """IRR-based all-in annual cost: IRR per installment period of every flow the borrower
    pays, fees included, times the periods in a year (nominal). A monthly schedule with a
    0.6 % monthly fee on the original principal therefore shows the fee's full cost on the
    declining balance, which is what a 24 % cap is checked against."""
    return apr_of_schedule(schedule, AprMethod.US)
