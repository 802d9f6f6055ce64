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
from dataclasses import dataclass

__all__ = ["paused_days", "shift_date", "shift_dates", "ACCOUNT_DATES", "UNPAID_STATUSES",
           "LineItem", "LineHold", "hold_on_line"]

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


# ----------------------------------------------------------------------------- the line
# A purchase on the revolving line is not paused as a plan is (the line goes on): its
# disputed amount is *held* out of the line's balances into a disputed bucket while the
# dispute is open (creditpay.credit.pauses). What is held no longer bears interest, is in no
# statement's minimum and cannot make the line late; when the dispute ends it is released as
# new principal (due on the next statement's due date at the earliest) or refunded.
MICRO = 1_000_000


@dataclass(frozen=True)
class LineItem:
    """An open due item of the line (a statement's balance), as the hold needs it. Amounts
    in minor units."""

    number: int
    principal_due_minor: int
    minimum_minor: int
    paid_total_minor: int
    charges_due_minor: int  # interest and fees billed on it and unpaid


@dataclass(frozen=True)
class LineHold:
    """Where a hold takes the disputed amount from: ``from_unbilled_minor`` of the line's
    purchases not yet on a statement, then ``cuts`` (item number, principal cut, new
    minimum) from its statements' unpaid principal, newest first. ``held_minor`` is the sum:
    at most the amount disputed, and at most what the line owes in principal."""

    held_minor: int
    from_unbilled_minor: int
    cuts: tuple[tuple[int, int, int], ...]

    def lowered_by(self, items: Sequence[LineItem]) -> dict[int, int]:
        """How much each cut statement's minimum went down (by item number)."""
        before = {i.number: i.minimum_minor for i in items}
        return {number: before[number] - minimum for number, _, minimum in self.cuts}


def _half_up_share(amount_minor: int, rate_micro: int) -> int:
    return (2 * amount_minor * rate_micro + MICRO) // (2 * MICRO)


def hold_on_line(amount_minor: int, unbilled_minor: int, items: Sequence[LineItem], *,
                 revolve: bool, minimum_rate_micro: int) -> LineHold:
    """Hold ``amount_minor`` of a line purchase out of the line's balances (pure).

    The order is the line refund's (credit.service.refund_purchase): principal not yet on a
    statement first, then the statements' unpaid principal, newest first; a line's principal
    is one pool, so the hold takes what a refund of that amount would take. Each statement
    cut lowers that statement's minimum by the cut's part of it: on a revolving line the
    product's minimum rate of the cut (half up), at most the minimum's principal part still
    unpaid; on a line without revolving credit (its minimum is its balance) by the cut itself.
    No minimum exceeds what its statement still owes after the cut."""
    if amount_minor < 0 or unbilled_minor < 0 or not 0 <= minimum_rate_micro <= MICRO:
        raise ValueError("amounts and the rate must not be negative")
    from_unbilled = min(amount_minor, unbilled_minor)
    left = amount_minor - from_unbilled
    cuts: list[tuple[int, int, int]] = []
    for item in sorted(items, key=lambda i: i.number, reverse=True):
        if left == 0:
            break
        cut = min(left, item.principal_due_minor)
        if cut <= 0:
            continue
        left -= cut
        if revolve:
            principal_part = max(0, item.minimum_minor - item.paid_total_minor
                                 - item.charges_due_minor)
            lowered = item.minimum_minor - min(_half_up_share(cut, minimum_rate_micro),
                                               principal_part)
        else:
            lowered = max(0, item.minimum_minor - cut)
        owes = item.paid_total_minor + item.principal_due_minor - cut + item.charges_due_minor
        cuts.append((item.number, cut, max(0, min(lowered, owes))))
    return LineHold(amount_minor - left, from_unbilled, tuple(cuts))
