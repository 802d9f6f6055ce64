"""Due dates: adding months with month-end anchoring, and payment frequencies.

Month arithmetic is anchored on the *original* day: the k-th monthly due date is computed
from the anchor date and ``k`` months in one step, never by chaining, so a loan due on the
31st is due on Jan 31, Feb 29 (or 28), Mar 31, Apr 30, ... and never drifts to the 28th.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from fractions import Fraction

from creditpay.errors import ValidationError

__all__ = [
    "Frequency",
    "add_months",
    "days_in_month",
    "is_month_end",
    "due_date",
    "due_dates",
    "term_due_date",
    "months_per_period",
    "days_per_period",
    "periods_per_year",
    "parse_frequency",
]

TERM_DAYS_MAX = 36_600  # a hundred years; anything longer is a typo, not a loan
PERIODS_MAX = 1_200


class Frequency(enum.StrEnum):
    """How often installments fall due."""

    DAILY = "daily"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    SEMIMONTHLY = "semimonthly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"


_MONTHS = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.ANNUAL: 12}
_DAYS = {Frequency.DAILY: 1, Frequency.WEEKLY: 7, Frequency.BIWEEKLY: 14}
_PER_YEAR = {
    Frequency.DAILY: Fraction(365),
    Frequency.WEEKLY: Fraction(52),
    Frequency.BIWEEKLY: Fraction(26),
    Frequency.SEMIMONTHLY: Fraction(24),
    Frequency.MONTHLY: Fraction(12),
    Frequency.QUARTERLY: Fraction(4),
    Frequency.ANNUAL: Fraction(1),
}


def parse_frequency(value: Frequency | str, field: str = "frequency") -> Frequency:
    try:
        return Frequency(value)
    except ValueError:
        allowed = ", ".join(f.value for f in Frequency)
        raise ValidationError(f"unknown frequency {value!r}; use one of {allowed}",
                              field=field) from None


def months_per_period(frequency: Frequency | str) -> int | None:
    """Whole calendar months in one period (1, 3, 12), or None for day-based frequencies."""
    return _MONTHS.get(parse_frequency(frequency))


def days_per_period(frequency: Frequency | str) -> int | None:
    """Days in one period for day-based frequencies (1, 7, 14), else None."""
    return _DAYS.get(parse_frequency(frequency))


def periods_per_year(frequency: Frequency | str) -> Fraction:
    """Nominal number of periods in a year (weekly 52, monthly 12, daily 365, ...)."""
    return _PER_YEAR[parse_frequency(frequency)]


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    """Days in ``month`` (1-12) of ``year``: ``calendar.monthrange(year, month)[1]``
    without the weekday of the first, which monthrange also computes (most of its cost;
    month ends are counted for every flow of every quote)."""
    if month == 2 and calendar.isleap(year):
        return 29
    return _MONTH_DAYS[month]


def is_month_end(day: dt.date) -> bool:
    return day.day == days_in_month(day.year, day.month)


def add_months(anchor: dt.date, months: int, anchor_day: int | None = None) -> dt.date:
    """``anchor`` moved by ``months`` calendar months, keeping the anchor's day of month.

    ``anchor_day`` (default ``anchor.day``) is the day the series is anchored on; when the
    target month is shorter, the last day of that month is used (Jan 31 + 1 month =
    Feb 29 in a leap year, + 2 months = Mar 31).
    """
    day = anchor.day if anchor_day is None else anchor_day
    if not 1 <= day <= 31:
        raise ValidationError("must be between 1 and 31", field="anchor_day")
    month_index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(month_index, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise ValidationError("date is out of range", field="months")
    if day <= 28:  # every month has it: no month length needed
        return dt.date(year, month + 1, day)
    return dt.date(year, month + 1, min(day, days_in_month(year, month + 1)))


def _semimonthly(anchor: dt.date, index: int) -> dt.date:
    # Two due days a month, 15 days apart: (D, D+15) when the anchor day D <= 15, else
    # (D-15, D); the later one is clamped to the month end (the 30th becomes Feb 28/29).
    day = anchor.day
    pair = (day, day + 15) if day <= 15 else (day - 15, day)
    half = index + (0 if day <= 15 else 1)
    month_offset, which = divmod(half, 2)
    moved = add_months(dt.date(anchor.year, anchor.month, 1), month_offset)
    last = days_in_month(moved.year, moved.month)
    return moved.replace(day=min(pair[which], last))


def due_date(
    anchor: dt.date, index: int, frequency: Frequency | str, anchor_day: int | None = None
) -> dt.date:
    """The date ``index`` periods after ``anchor`` (index 0 is the anchor itself).

    ``anchor_day`` (month-based frequencies) is the series' day of month when ``anchor``
    itself was clamped (a 31st series re-anchored on Feb 29 continues on Mar 31).
    """
    frequency = parse_frequency(frequency)
    if index < 0:
        raise ValidationError("must not be negative", field="index")
    months = _MONTHS.get(frequency)
    if months is not None:
        return add_months(anchor, index * months, anchor_day)
    days = _DAYS.get(frequency)
    if days is not None:
        return anchor + dt.timedelta(days=index * days)
    return _semimonthly(anchor, index)


def due_dates(
    start: dt.date,
    count: int,
    frequency: Frequency | str,
    first_due_date: dt.date | None = None,
    anchor_day: int | None = None,
) -> list[dt.date]:
    """``count`` due dates of a series starting at ``start``.

    Without ``first_due_date`` the first installment is due one period after ``start``;
    with it, the series is anchored on ``first_due_date`` (a broken first period).
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= PERIODS_MAX:
        raise ValidationError(f"must be an integer from 1 to {PERIODS_MAX}", field="periods")
    if first_due_date is None:
        return [due_date(start, k, frequency, anchor_day) for k in range(1, count + 1)]
    if first_due_date <= start:
        raise ValidationError("must be after the start date", field="first_due_date")
    return [due_date(first_due_date, k, frequency, anchor_day) for k in range(count)]


def term_due_date(start: dt.date, term_days: int) -> dt.date:
    """Due date of a term expressed in days (a 7-, 14- or 30-day cash loan)."""
    if isinstance(term_days, bool) or not isinstance(term_days, int) or \
            not 1 <= term_days <= TERM_DAYS_MAX:
        raise ValidationError(f"must be an integer from 1 to {TERM_DAYS_MAX}",
                              field="term_days")
    return start + dt.timedelta(days=term_days)
