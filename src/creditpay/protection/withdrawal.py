"""Right of withdrawal (pure): within N days (default 14) of origination a consumer may
withdraw from a credit agreement by repaying the principal plus interest for the days used
at the contract rate, and nothing else: no fee, no penalty; fees already paid come back.

Formula (minor units, one rounding at the end, half-up unless told otherwise)::

    interest  = round( sum_k  outstanding_k * annual_rate * yf(d_k, d_{k+1}) )
    owed      = principal + interest            (fees: 0)
    paid      = sum(repayments) + fees_paid
    amount_due = max(owed - paid, 0);  refund_due = max(paid - owed, 0)

where the outstanding principal starts at the principal on the origination date and each
repayment made before the withdrawal reduces it from its date (applied to principal first,
the order most favourable to the consumer), and ``yf`` is the contract's day count
(ACT/365 by default); the interest is capped at the interest on the whole principal for the
whole period (:func:`contract_interest_to_date`). Days used = withdrawal date - origination date; a withdrawal on the
origination day costs no interest. The window includes the deadline day
(origination + N days).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from creditpay.credit.daycount import DayCount, parse_day_count, year_fraction
from creditpay.credit.schedule import round_fraction
from creditpay.errors import StateError, ValidationError
from creditpay.money import Rounding
from creditpay.platform.validators import check_count, check_date, check_minor, check_rate

__all__ = ["WITHDRAWAL_DAYS_DEFAULT", "WITHDRAWAL_DAYS_MAX", "WithdrawalQuote",
           "withdrawal_deadline", "withdrawal_amount", "contract_interest_to_date"]

WITHDRAWAL_DAYS_DEFAULT = 14
WITHDRAWAL_DAYS_MAX = 90
REPAYMENTS_MAX = 1_000


@dataclass(frozen=True, slots=True)
class WithdrawalQuote:
    principal_minor: int
    interest_minor: int  # for the days used, at the contract rate
    fees_minor: int  # always 0: withdrawal costs no fee
    paid_minor: int  # repayments and fees the consumer already paid
    amount_due_minor: int  # what the consumer pays to withdraw
    refund_due_minor: int  # what the lender pays back (e.g. fees already charged)
    days_used: int
    deadline: dt.date  # last day to withdraw (inclusive)


def withdrawal_deadline(origination_date: dt.date,
                        withdrawal_days: int = WITHDRAWAL_DAYS_DEFAULT) -> dt.date:
    """Last day (inclusive) on which the consumer may withdraw."""
    check_date(origination_date, "origination_date")
    check_count(withdrawal_days, "withdrawal_days", 1, WITHDRAWAL_DAYS_MAX)
    return origination_date + dt.timedelta(days=withdrawal_days)


def contract_interest_to_date(principal_minor: int, annual_rate: Decimal,
                              origination_date: dt.date, as_of: dt.date,
                              day_count: DayCount | str = DayCount.ACT_365,
                              rounding: Rounding = Rounding.HALF_UP) -> int:
    """Interest on the whole principal from origination to ``as_of`` at the contract rate:
    the upper bound of the interest part of any withdrawal."""
    fraction = year_fraction(origination_date, as_of, parse_day_count(day_count))
    return round_fraction(principal_minor * Fraction(annual_rate) * fraction, rounding)


def withdrawal_amount(
    principal_minor: int,
    annual_rate: Decimal,
    origination_date: dt.date,
    withdrawal_date: dt.date,
    *,
    withdrawal_days: int = WITHDRAWAL_DAYS_DEFAULT,
    day_count: DayCount | str = DayCount.ACT_365,
    repayments: Sequence[tuple[dt.date, int]] = (),
    fees_paid_minor: int = 0,
    rounding: Rounding = Rounding.HALF_UP,
) -> WithdrawalQuote:
    """What withdrawing on ``withdrawal_date`` costs (see the module docstring).

    Raises ValidationError naming the field for bad input and StateError with
    ``rule="withdrawal.window_closed"`` after the deadline.
    """
    check_minor(principal_minor, "principal_minor", minimum=1)
    rate = check_rate(annual_rate, "annual_rate")
    check_date(origination_date, "origination_date")
    check_date(withdrawal_date, "withdrawal_date")
    check_minor(fees_paid_minor, "fees_paid_minor")
    convention = parse_day_count(day_count)
    try:
        rounding = Rounding(rounding)
    except ValueError:
        raise ValidationError(f"unknown rounding {rounding!r}", field="rounding") from None
    deadline = withdrawal_deadline(origination_date, withdrawal_days)
    if withdrawal_date < origination_date:
        raise ValidationError("is before the origination date", field="withdrawal_date")
    if withdrawal_date > deadline:
        raise StateError(f"the {withdrawal_days}-day withdrawal period ended on {deadline}",
                         field="withdrawal_date", rule="withdrawal.window_closed")
    if len(repayments) > REPAYMENTS_MAX:
        raise ValidationError(f"at most {REPAYMENTS_MAX} repayments", field="repayments")
    events: list[tuple[dt.date, int]] = []
    for index, item in enumerate(repayments):
        try:
            when, amount = item
        except (TypeError, ValueError):
            raise ValidationError("each repayment is (date, amount_minor)",
                                  field=f"repayments[{index}]") from None
        check_date(when, f"repayments[{index}].date")
        check_minor(amount, f"repayments[{index}].amount_minor")
        if not origination_date <= when <= withdrawal_date:
            raise ValidationError("must lie between origination and withdrawal",
                                  field=f"repayments[{index}].date")
        events.append((when, amount))
    events.sort(key=lambda event: event[0])

    outstanding = principal_minor
    accrued = Fraction(0)
    cursor = origination_date
    for when, amount in events:
        accrued += outstanding * Fraction(rate) * year_fraction(cursor, when, convention)
        outstanding = max(0, outstanding - amount)
        cursor = when
    accrued += outstanding * Fraction(rate) * year_fraction(cursor, withdrawal_date, convention)
    # Splitting a 30/360 period at a repayment date can count a month-end day twice
    # (Jan 31 -> Feb 28 -> Mar 31 is 61 days, Jan 31 -> Mar 31 is 60); the consumer never
    # pays more than the interest on the whole principal for the whole period.
    interest = min(round_fraction(accrued, rounding), contract_interest_to_date(
        principal_minor, rate, origination_date, withdrawal_date, convention, rounding))
    owed = principal_minor + interest
    paid = sum(amount for _, amount in events) + fees_paid_minor
    quote = WithdrawalQuote(
        principal_minor=principal_minor, interest_minor=interest, fees_minor=0,
        paid_minor=paid, amount_due_minor=max(owed - paid, 0),
        refund_due_minor=max(paid - owed, 0),
        days_used=(withdrawal_date - origination_date).days, deadline=deadline)
    assert quote.amount_due_minor - quote.refund_due_minor == owed - paid
    assert interest >= 0
    return quote
