"""The pause arithmetic of a credit account while a purchase it financed is disputed
(issue #20): pure, no I/O, no clock.

While paused, the close of business leaves the account out (no interest or penalty accrues,
no installment is billed or aged, no late fee, no auto-debit) and collections do not contact
about it. When the pause ends after ``N`` days, every unpaid installment's due date and the
account's own dates (next due date, past-due dates, the date late fees were charged through)
move ``N`` days later: the consumer loses no day, and the close of business then sees
exactly what it would have seen ``N`` days earlier without the pause.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

__all__ = ["paused_days", "shift_date", "shift_dates", "ACCOUNT_DATES", "UNPAID_STATUSES"]

# The account's dates that move with its installments.
ACCOUNT_DATES = ("next_due_date", "oldest_past_due_date", "latest_past_due_date",
                 "late_fee_through_date")
UNPAID_STATUSES = ("scheduled", "billed", "past_due")


def paused_days(paused_on: dt.date, resumed_on: dt.date) -> int:
    """Whole days the close of business left the account out: the business dates from
    ``paused_on`` (its close already skips the account) to the day before ``resumed_on``."""
    if resumed_on < paused_on:
        raise ValueError("resumed_on is before paused_on")
    return (resumed_on - paused_on).days


def shift_date(day: dt.date | None, days: int) -> dt.date | None:
    """``day`` moved ``days`` later (None stays None)."""
    return None if day is None else day + dt.timedelta(days=days)


def shift_dates(items: Sequence[tuple[dt.date, str]], account: Mapping[str, dt.date | None],
                days: int) -> tuple[list[dt.date], dict[str, dt.date | None]]:
    """The installments' new due dates (``items``: (due date, status); paid and cancelled
    ones keep theirs) and the account's new dates (:data:`ACCOUNT_DATES`)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    due = [d + dt.timedelta(days=days) if status in UNPAID_STATUSES else d
           for d, status in items]
    return due, {name: shift_date(account.get(name), days) for name in ACCOUNT_DATES}
