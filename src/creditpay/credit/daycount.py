"""Day-count conventions: how many years lie between two dates.

Every result is an exact :class:`fractions.Fraction` (never a float), so that
``rate_per_period = annual_rate * year_fraction(...)`` stays exact until the one explicit
rounding to the minor unit.

Conventions (ISDA 2006 Definitions, section 4.16):

* ``ACT/365`` (Actual/365 Fixed): actual days / 365, leap years included.
* ``ACT/360``: actual days / 360.
* ``30/360`` (30/360 US "bond basis", ISDA 4.16(f)): ``360*(Y2-Y1) + 30*(M2-M1) + (D2-D1)``
  over 360, with the two month-end rules of the bond basis: if ``D1`` is 31 it becomes 30;
  if ``D2`` is 31 and ``D1`` (after that change) is 30 or 31, ``D2`` becomes 30. There is
  no February rule in this variant (it is not the SIA "30/360 US" with end-of-February
  adjustment, nor 30E/360): 2024-01-31 to 2024-02-29 counts 29 days. Schedules treat a
  period that is a whole number of months by construction as ``30 * months`` days (see
  :func:`period_year_fraction`); the formula decides only broken periods.
* ``ACT/ACT`` (Actual/Actual ISDA): days falling in a leap year / 366 plus days falling in
  a non-leap year / 365.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from fractions import Fraction

from creditpay.errors import ValidationError

__all__ = [
    "DayCount",
    "day_count_days",
    "year_fraction",
    "period_year_fraction",
    "days_in_year_basis",
    "parse_day_count",
]


class DayCount(enum.StrEnum):
    """Day-count convention; the string values are what configuration and the CLI use."""

    ACT_365 = "ACT/365"
    ACT_360 = "ACT/360"
    THIRTY_360 = "30/360"
    ACT_ACT = "ACT/ACT"


def _check_dates(start: dt.date, end: dt.date) -> None:
    for name, value in (("start", start), ("end", end)):
        # datetime is a date subclass; a time of day has no place in a day count.
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise ValidationError(f"must be a date, got {type(value).__name__}", field=name)
    if end < start:
        raise ValidationError(f"{end} is before start {start}", field="end")


def parse_day_count(value: DayCount | str, field: str = "day_count") -> DayCount:
    """Return the :class:`DayCount` for ``value`` or raise ValidationError naming ``field``."""
    try:
        return DayCount(value)
    except ValueError:
        allowed = ", ".join(c.value for c in DayCount)
        raise ValidationError(f"unknown day count {value!r}; use one of {allowed}",
                              field=field) from None


def _thirty_360_days(start: dt.date, end: dt.date) -> int:
    d1, d2 = start.day, end.day
    if d1 == 31:
        d1 = 30
    if d2 == 31 and d1 == 30:
        d2 = 30
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def day_count_days(start: dt.date, end: dt.date, convention: DayCount | str) -> int:
    """Numerator days between ``start`` (inclusive) and ``end`` (exclusive) under the convention.

    For every convention but 30/360 this is the actual number of days.
    """
    _check_dates(start, end)
    convention = parse_day_count(convention)
    if convention is DayCount.THIRTY_360:
        return _thirty_360_days(start, end)
    return (end - start).days


def days_in_year_basis(convention: DayCount | str) -> int:
    """The nominal year length in days of a convention (365 or 360); ACT/ACT reports 365."""
    convention = parse_day_count(convention)
    return 360 if convention in (DayCount.ACT_360, DayCount.THIRTY_360) else 365


def year_fraction(start: dt.date, end: dt.date, convention: DayCount | str) -> Fraction:
    """Exact length in years of ``[start, end)`` under ``convention``."""
    _check_dates(start, end)
    convention = parse_day_count(convention)
    if convention is DayCount.ACT_365:
        return Fraction((end - start).days, 365)
    if convention is DayCount.ACT_360:
        return Fraction((end - start).days, 360)
    if convention is DayCount.THIRTY_360:
        return Fraction(_thirty_360_days(start, end), 360)
    # ACT/ACT ISDA: split the interval at each 1 January.
    total = Fraction(0)
    cursor = start
    while cursor < end:
        next_new_year = dt.date(cursor.year + 1, 1, 1)
        piece_end = min(end, next_new_year)
        year_days = 366 if calendar.isleap(cursor.year) else 365
        total += Fraction((piece_end - cursor).days, year_days)
        cursor = piece_end
    return total


def period_year_fraction(
    start: dt.date, end: dt.date, convention: DayCount | str, whole_months: int | None = None
) -> Fraction:
    """Year fraction of one schedule period.

    ``whole_months`` is set when the period is, by construction of the schedule, a whole
    number of calendar months (a regular monthly/quarterly/annual period, anchored on the
    original day). Under 30/360 such a period is exactly ``whole_months / 12`` years: every
    month counts 30 days, which is the point of the convention and what makes a 30/360
    monthly rate exactly ``annual_rate / 12`` even across month ends (Jan 31 -> Feb 29 ->
    Mar 31), where the bare bond-basis formula would give 29 or 31 days. The ACT
    conventions always count actual days.
    """
    convention = parse_day_count(convention)
    _check_dates(start, end)
    if convention is DayCount.THIRTY_360 and whole_months is not None:
        if whole_months < 0:
            raise ValidationError("must not be negative", field="whole_months")
        return Fraction(whole_months, 12)
    return year_fraction(start, end, convention)
