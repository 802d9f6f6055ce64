"""Hardship options of a pay-later line: pure functions from a line's balance and its
product's hardship policy to the options a consumer in difficulty may choose
(docs/hardship.md, "A pay-later line").

No I/O, no clock. A line has no schedule to move: every option takes the line's whole
unpaid principal (purchases not yet on a statement, and the principal of its open
statements, current or past due) off the line into a fixed **hardship installment plan** on
the line, built with the exact schedule math (:func:`creditpay.credit.schedule.build_schedule`,
what ``creditpay schedule`` prints) on the conventions the close of business accrues and
bills a plan by (actual days over the line's year basis, on the balance, from ``start_date``,
the first day servicing has not accrued; the line's revolving interest accrued before it and
not yet posted, an exact fraction of a minor unit, is carried into the first installment).
Interest and fees already posted on the line's statements stay owed there as they are.

* **payment holiday** of 1..N cycles: nothing is due for N monthly cycles (no minimum, so
  no late status and no late fee), then the balance is repaid over the longest term the
  product allows (``reamortisation_term_extension_max``, at least 1 installment). With
  ``holiday_interest: accrues`` interest runs on at the line's rate over the holiday (it is
  in the first installment after it); with ``waived`` none is charged until the holiday's
  end;
* **re-amortisation**: the balance over k monthly installments (k: 3, 6 and 12 up to the
  maximum, and the maximum), the first a month after ``start_date``, at the line's rate;
* **reduced-interest plan**: the balance over the longest term at the product's
  ``reduced_rate_floor`` (offered when the line's rate is above it).

A line that charges no interest (a no-revolve line: penalty only when late) gives plans
without interest. ``current_total_minor`` is what the line's principal costs to clear today
(the principal and the interest accrued on it, rounded as servicing posts it), so
``extra_cost_minor`` is the whole cost of spreading it.

Amounts are ``int`` minor units; rates ``Decimal`` fractions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from creditpay.credit.apr import all_in_annual_cost
from creditpay.credit.calendar import add_months
from creditpay.credit.daycount import DayCount
from creditpay.credit.hardship_core import (
    HardshipOption,
    OptionKind,
    check_common,
    reamortisation_extensions,
    refusal,
)
from creditpay.credit.products import HardshipPolicy
from creditpay.credit.schedule import (
    Method,
    Schedule,
    ScheduleTerms,
    build_schedule,
    round_fraction,
)

__all__ = ["LineHardshipAccount", "line_hardship_options", "check_line_eligible",
           "line_term_max", "line_option_id"]


@dataclass(frozen=True, slots=True)
class LineHardshipAccount:
    """What a line's options are a pure function of. ``principal_minor``: every unit of
    principal the line is owed (unbilled, billed, past due); ``charges_minor``: interest,
    fees and penalty posted and unpaid, which stay on the line. ``annual_rate``: the rate
    the line charges on a balance (0: a line without interest). ``accrued_interest_minor``:
    interest accrued before ``start_date`` and not posted (exact)."""

    account_id: str
    status: str
    currency: str
    dpd: int
    annual_rate: Decimal
    day_count: DayCount
    start_date: dt.date
    accrued_interest_minor: Fraction
    principal_minor: int
    charges_minor: int = 0
    arrangements_in_window: int = 0
    arrangement_active: bool = False
    product_code: str = ""
    product_version: int = 0

    @property
    def current_total_minor(self) -> int:
        """The principal and the interest accrued on it, as servicing would post it."""
        return self.principal_minor + round_fraction(self.accrued_interest_minor)


def check_line_eligible(account: LineHardshipAccount, policy: HardshipPolicy | None
                        ) -> HardshipPolicy:
    """The policy when the line may have hardship options, else StateError naming
    ``account_id`` with the rule (``hardship.*``) that refuses it."""
    policy = check_common(policy, status=account.status,
                          arrangement_active=account.arrangement_active,
                          arrangements_in_window=account.arrangements_in_window,
                          dpd=account.dpd, what="line")
    if account.principal_minor <= 0:
        raise refusal("nothing is left to reschedule", "nothing_scheduled")
    return policy


def line_term_max(policy: HardshipPolicy) -> int:
    """The longest hardship plan of a line: the product's term maximum, at least 1."""
    return max(1, policy.reamortisation_term_extension_max)


def line_option_id(account: LineHardshipAccount, kind: str, cycles: int, rate: Decimal
                   ) -> str:
    """A stable id of an option on the line's state today (``hs-`` + 24 hex of SHA-256):
    any change (a repayment, a day of accrual) gives other ids."""
    state = {
        "account": account.account_id, "kind": kind, "cycles": cycles, "rate": str(rate),
        "start": account.start_date.isoformat(), "line": True,
        "accrued": [account.accrued_interest_minor.numerator,
                    account.accrued_interest_minor.denominator],
        "principal": account.principal_minor, "charges": account.charges_minor,
        "product": [account.product_code, account.product_version],
    }
    text = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return "hs-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _terms(account: LineHardshipAccount, *, periods: int, rate: Decimal, start: dt.date,
           first_due: dt.date | None) -> ScheduleTerms:
    return ScheduleTerms(
        principal_minor=account.principal_minor, currency=account.currency,
        annual_rate=rate, periods=periods, method=Method.EQUAL_INSTALLMENT,
        start_date=start, day_count=account.day_count, first_due_date=first_due,
        anchor_day=account.start_date.day if first_due is not None else None,
        accrued_interest_minor=account.accrued_interest_minor)


def _option(account: LineHardshipAccount, kind: OptionKind, cycles: int, rate: Decimal,
            schedule: Schedule, **extra: object) -> HardshipOption:
    # A plan without interest or fees costs nothing: 0 (the IRR solve would give a
    # rounding residue such as -0.0000 %).
    costs = schedule.totals.interest_minor + schedule.totals.fee_minor
    return HardshipOption(
        option_id=line_option_id(account, kind, cycles, rate), kind=kind, cycles=cycles,
        annual_rate=rate, schedule=schedule, current_total_minor=account.current_total_minor,
        apr=all_in_annual_cost(schedule) if costs else Decimal(0),
        **extra)  # type: ignore[arg-type]


def line_holiday(account: LineHardshipAccount, policy: HardshipPolicy, cycles: int
                 ) -> HardshipOption:
    """Nothing due for ``cycles`` months, then the balance over :func:`line_term_max`."""
    start = account.start_date
    first_due = add_months(start, cycles + 1, start.day)
    periods = line_term_max(policy)
    rate = account.annual_rate
    if rate == 0 or policy.holiday_interest == "accrues":
        schedule = build_schedule(_terms(account, periods=periods, rate=rate, start=start,
                                         first_due=first_due))
        return _option(account, "payment_holiday", cycles, rate, schedule)
    # Waived: nothing accrues from the start to the holiday's end (the due date the first
    # installment would have had without it, ``cycles`` months on); the rate runs from there.
    holiday_end = add_months(start, cycles, start.day)
    schedule = build_schedule(_terms(account, periods=periods, rate=rate, start=holiday_end,
                                     first_due=first_due))
    return _option(account, "payment_holiday", cycles, rate, schedule,
                   rate_during_holiday=Decimal(0), rate_restored_on=holiday_end)


def line_reamortisation(account: LineHardshipAccount, periods: int,
                        rate: Decimal | None = None) -> HardshipOption:
    """The balance over ``periods`` installments from next month, at ``rate`` (the line's
    by default: a ``reduced_rate`` option when another)."""
    chosen = account.annual_rate if rate is None else rate
    schedule = build_schedule(_terms(account, periods=periods, rate=chosen,
                                     start=account.start_date, first_due=None))
    kind: OptionKind = "reamortisation" if rate is None else "reduced_rate"
    return _option(account, kind, periods if rate is None else 0, chosen, schedule)


def line_hardship_options(account: LineHardshipAccount, policy: HardshipPolicy | None
                          ) -> list[HardshipOption]:
    """Every option the product's policy allows for the line today, holidays first
    (StateError naming ``account_id`` when it is not eligible)."""
    policy = check_line_eligible(account, policy)
    options = [line_holiday(account, policy, cycles)
               for cycles in range(1, policy.payment_holiday_cycles_max + 1)]
    options += [line_reamortisation(account, k)
                for k in reamortisation_extensions(policy.reamortisation_term_extension_max)]
    floor = policy.reduced_rate_floor
    if floor is not None and floor < account.annual_rate:
        options.append(line_reamortisation(account, line_term_max(policy), floor))
    return options
