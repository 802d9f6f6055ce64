"""Annual percentage rates: US Regulation Z Appendix J, EU APRC, and the all-in annual cost.

All three solve one equation of value between the money advanced and the money repaid;
they differ in how time is measured and how a period rate becomes a yearly one.

* **US APR** (12 CFR 1026 Appendix J, actuarial method). Time is counted in *unit
  periods* (the most common payment interval: month, semimonth, week(s), day). For each
  advance or payment, full unit periods ``t`` are counted back from its date toward the
  start of the term; what remains is a fraction ``f`` of a unit period (remaining days / 30
  for months, / 15 for semimonths, / 7 for weeks; whole months left inside a multi-month
  unit period count 30 days each). The general equation (b)(8) is
  ``sum A_k / ((1 + f_k i)(1 + i)^t_k) = sum P_j / ((1 + f_j i)(1 + i)^t_j)`` and
  ``APR = i * unit periods per year`` (a nominal rate).
* **EU APRC** (Directive 2008/48/EC, Annex I): ``sum A_k (1 + X)^-t_k = sum P_j (1 +
  X)^-t_j`` with ``t`` in years from the first advance, ``X`` an effective annual rate.
  Default time basis: actual days / 365 for every year, leap years included (so a span that
  contains 29 February is 366/365 of a year); ``EQUAL_MONTHS`` counts whole months as 1/12
  year and the remaining days / 365, the Annex's "12 equal months" reading.
* **All-in annual cost** (综合年化成本, the figure China's 24 %/36 % caps apply to): the
  internal rate of return per installment period of every cash flow the borrower pays
  (principal, interest, every fee) times the periods in a year, per the IRR method the
  People's Bank of China requires for annualised financing cost disclosure.

Solving uses ``Decimal`` with 50 significant digits and a safeguarded Newton iteration
(a Newton step outside the current sign-change bracket is replaced by bisection) until the
step is below ``1e-24`` in the period rate; money never becomes a float.
"""

from __future__ import annotations

import calendar as std_calendar
import datetime as dt
import enum
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

from creditpay.credit.calendar import Frequency, add_months, due_dates, parse_frequency
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
    DAYS_365 = "days_365"
    EQUAL_MONTHS = "equal_months"


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
            day.day == std_calendar.monthrange(day.year, day.month)[1]:
        anchor = anchor_day
    return add_months(day, -months, anchor)


def _months_apart(earlier: dt.date, later: dt.date, months: int) -> bool:
    """Whether ``later`` is ``months`` calendar months after ``earlier`` on one series."""
    last = std_calendar.monthrange(earlier.year, earlier.month)[1]
    anchors = range(earlier.day, 32) if earlier.day == last else (earlier.day,)
    return any(add_months(earlier, months, anchor) == later for anchor in anchors)


def _series_anchor_day(payments: Sequence[Flow]) -> int | None:
    """The day of month of a monthly payment series (31 for month ends), or None."""
    days = {when.day for when, _ in payments}
    anchor = max(days)
    for when, _ in payments:
        last = std_calendar.monthrange(when.year, when.month)[1]
        if when.day != anchor and not (when.day == last and when.day < anchor):
            return None
    return anchor


def _semimonth_back(day: dt.date, steps: int) -> dt.date:
    # Semimonths pair day D with D+15 (D <= 15) in the same month, as 1st/16th.
    pair = (day.day, day.day + 15) if day.day <= 15 else (day.day - 15, day.day)
    half = (0 if day.day <= 15 else 1) - steps
    month_offset, which = divmod(half, 2)
    moved = add_months(dt.date(day.year, day.month, 1), month_offset)
    last = std_calendar.monthrange(moved.year, moved.month)[1]
    return moved.replace(day=min(pair[which], last))


def appendix_j_time(
    start: dt.date, when: dt.date, unit_period: UnitPeriod, anchor_day: int | None = None
) -> tuple[int, Fraction]:
    """``(t, f)``: full unit periods and the fraction of one from ``start`` to ``when``.

    Full unit periods are counted back from ``when``; the remainder, at the start of the
    term, is the fraction (Appendix J (b)(5)). ``anchor_day`` is the day of month of the
    payment series (month-based unit periods), see :func:`_month_back`.
    """
    if when < start:
        raise ValidationError(f"{when} is before the start of the term {start}", field="date")
    days = (when - start).days
    unit = unit_period.unit
    if unit == "term":
        return (1, Fraction(0)) if days else (0, Fraction(0))
    if unit == "day":
        t, remainder = divmod(days, unit_period.count)
        return t, Fraction(remainder, unit_period.count)
    if unit == "week":
        length = 7 * unit_period.count
        t, remainder = divmod(days, length)
        return t, Fraction(remainder, length)
    if unit == "semimonth":
        t = max(0, days // 15 - 2)
        while _semimonth_back(when, t + 1) >= start:
            t += 1
        return t, Fraction((_semimonth_back(when, t) - start).days, 15)
    months = unit_period.count
    month_gap = (when.year - start.year) * 12 + when.month - start.month
    t = max(0, month_gap // months - 1)
    while _month_back(when, (t + 1) * months, anchor_day) >= start:
        t += 1
    cursor = _month_back(when, t * months, anchor_day)
    whole_months = 0
    while whole_months + 1 < months and \
            _month_back(cursor, whole_months + 1, anchor_day) >= start:
        whole_months += 1
    remaining_days = (_month_back(cursor, whole_months, anchor_day) - start).days
    return t, Fraction(30 * whole_months + remaining_days, 30 * months)


# -- solver -----------------------------------------------------------------------------
def _solve(
    value_and_slope: Callable[[Decimal], tuple[Decimal, Decimal]],
    low: Decimal,
    high: Decimal,
) -> Decimal:
    """Root of a function with a sign change in ``[low, high]``, safeguarded Newton."""
    f_low, _ = value_and_slope(low)
    f_high, _ = value_and_slope(high)
    expansions = 0
    while f_low * f_high > 0:
        expansions += 1
        if expansions > 60:
            raise ValidationError("the flows have no rate of return: payments never "
                                  "balance the advances", field="payments")
        high = high * 2 + 1
        f_high, _ = value_and_slope(high)
    rate = (low + high) / 2
    for _ in range(_MAX_ITERATIONS):
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
        if abs(candidate - rate) < SOLVER_TOLERANCE:
            return candidate
        rate = candidate
    raise ValidationError("the rate did not converge", field="payments")  # pragma: no cover


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


def _infer_unit_period(advances: list[Flow], payments: list[Flow]) -> UnitPeriod:
    dates = sorted({when for when, amount in payments if amount})
    start = min(when for when, _ in advances)
    if len(advances) == 1 and len(dates) == 1:
        term_days = (dates[0] - start).days
        # (b)(4)(ii): single advance, single payment: the term is the unit period, but
        # never more than a year.
        return UnitPeriod("term") if 0 < term_days <= 365 else UnitPeriod("month", 12)
    gaps: Counter[UnitPeriod] = Counter()
    for earlier, later in zip(dates, dates[1:], strict=False):
        months = (later.year - earlier.year) * 12 + later.month - earlier.month
        days = (later - earlier).days
        if 1 <= months <= 12 and _months_apart(earlier, later, months):
            gaps[UnitPeriod("month", months)] += 1
        elif days % 7 == 0 and days <= 364:
            gaps[UnitPeriod("week", days // 7)] += 1
        elif _semimonth_back(later, 1) == earlier:
            gaps[UnitPeriod("semimonth")] += 1
        else:
            gaps[UnitPeriod("day", days)] += 1
    if not gaps:
        return UnitPeriod("month")
    top = max(gaps.values())
    # (b)(4)(i)(A): among equally common periods the smaller one is the unit period.
    candidates = [unit for unit, count in gaps.items() if count == top]
    return min(candidates, key=lambda unit: Fraction(1) / unit.per_year(1))


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
    weighted = [
        (Decimal(amount), appendix_j_time(start, when, unit_period)) for when, amount in advances
    ] + [
        (-Decimal(amount), appendix_j_time(start, when, unit_period, anchor))
        for when, amount in payments
    ]
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        terms = [(amount, t, Decimal(f.numerator) / Decimal(f.denominator))
                 for amount, (t, f) in weighted]

        def value_and_slope(i: Decimal) -> tuple[Decimal, Decimal]:
            value = Decimal(0)
            slope = Decimal(0)
            for amount, t, f in terms:
                simple = 1 + f * i
                growth = (1 + i) ** t
                present = amount / (simple * growth)
                value += present
                slope -= present * (f / simple + t / (1 + i))
            return value, slope

        rate = _solve(value_and_slope, Decimal("-0.999999"), Decimal(1))
        per_year = unit_period.per_year(term_days)
        return +(rate * per_year.numerator / per_year.denominator)


def _eu_years(start: dt.date, when: dt.date, basis: EuTimeBasis) -> Fraction:
    if when < start:
        raise ValidationError(f"{when} is before the first advance {start}", field="date")
    if basis is EuTimeBasis.DAYS_365:
        return Fraction((when - start).days, 365)
    # Whole months counted forward from the first advance (month ends anchored on its
    # day), then the remaining days over 365.
    months = max(0, (when.year - start.year) * 12 + when.month - start.month - 1)
    while add_months(start, months + 1) <= when:
        months += 1
    return Fraction(months, 12) + Fraction((when - add_months(start, months)).days, 365)


def aprc_eu(
    advances: Sequence[Flow],
    payments: Sequence[Flow],
    time_basis: EuTimeBasis | str = EuTimeBasis.DAYS_365,
) -> Decimal:
    """EU annual percentage rate of charge, Directive 2008/48/EC Annex I (a fraction)."""
    advances = _check_flows(advances, "advances")
    payments = _check_flows(payments, "payments")
    basis = EuTimeBasis(time_basis)
    start = min(when for when, _ in advances)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        terms = []
        for sign, flows in ((1, advances), (-1, payments)):
            for when, amount in flows:
                years = _eu_years(start, when, basis)
                terms.append((sign * Decimal(amount),
                              Decimal(years.numerator) / Decimal(years.denominator)))

        def value_and_slope(x: Decimal) -> tuple[Decimal, Decimal]:
            log_growth = (1 + x).ln()
            value = Decimal(0)
            slope = Decimal(0)
            for amount, years in terms:
                present = amount * (-years * log_growth).exp()
                value += present
                slope -= present * years / (1 + x)
            return value, slope

        return +_solve(value_and_slope, Decimal("-0.999999"), Decimal(1))


def apr_from_flows(
    advances: Sequence[Flow],
    payments: Sequence[Flow],
    method: AprMethod | str = AprMethod.US,
    unit_period: UnitPeriod | Frequency | str | None = None,
    time_basis: EuTimeBasis | str = EuTimeBasis.DAYS_365,
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
    time_basis: EuTimeBasis | str = EuTimeBasis.DAYS_365,
) -> Decimal:
    """APR (US, unit period = the schedule's frequency) or APRC (EU) of a schedule."""
    advances, payments = schedule_flows(schedule)
    unit = unit_period_for(schedule.terms.frequency)
    if len(payments) == 1:
        unit = None  # single advance, single payment: Appendix J (b)(4)(ii)
    return apr_from_flows(advances, payments, method, unit, time_basis)


def all_in_annual_cost(schedule: Schedule) -> Decimal:
    """IRR-based all-in annual cost: IRR per installment period of every flow the borrower
    pays, fees included, times the periods in a year (nominal). A monthly schedule with a
    0.6 % monthly fee on the original principal therefore shows the fee's full cost on the
    declining balance, which is what a 24 % cap is checked against."""
    return apr_of_schedule(schedule, AprMethod.US)
