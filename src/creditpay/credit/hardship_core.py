"""Hardship options: pure functions from an account's remaining schedule and its product's
hardship policy to the options a consumer in difficulty may choose (docs/hardship.md).

No I/O, no clock. Every option is a new schedule of the account's unbilled principal, built
with the exact schedule math (:func:`creditpay.credit.schedule.build_schedule`) on the same
conventions the close of business accrues and bills by, so what an option discloses is what
servicing will charge, to the minor unit, when each new installment is paid on its due date:

* the schedule starts on ``start_date``, the first day servicing has not accrued yet; the
  interest accrued before it and not posted (an exact fraction of a minor unit) is carried
  into the first new installment, as servicing bills it;
* interest is actual days over the account's year basis (ACT/365 or ACT/360), at the
  account's rate, on the balance.

The three options:

* **payment holiday** of 1..N cycles: the next N installments are deferred and every later
  one moves N periods; the count of installments is unchanged. With ``holiday_interest:
  accrues`` interest runs on over the holiday (it is in the first installment after it);
  with ``waived`` none is charged from ``start_date`` to the end of the holiday;
* **re-amortisation**: the unbilled principal over the remaining installments plus ``k``
  periods (the first due date unchanged);
* **reduced-interest plan**: the unbilled principal over the remaining installments at the
  product's ``reduced_rate_floor`` from ``start_date`` on.

A fee-priced plan (no interest accrues; a fee per installment) keeps each remaining
installment's fee: a holiday moves them with their installments, a re-amortisation adds
installments without a fee; it has no reduced-rate option.

Amounts are ``int`` minor units; rates ``Decimal`` fractions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from creditpay.credit.apr import all_in_annual_cost
from creditpay.credit.calendar import add_months
from creditpay.credit.daycount import DayCount
from creditpay.credit.products import HARDSHIP_REASONS, HardshipPolicy
from creditpay.credit.schedule import Method, Schedule, ScheduleTerms, build_schedule
from creditpay.errors import StateError, ValidationError

__all__ = ["ScheduledInstallment", "HardshipAccount", "HardshipOption", "OptionKind",
           "OPTION_KINDS", "hardship_options", "check_eligible", "auto_decision",
           "check_reason", "reamortisation_extensions", "option_id_for", "BUREAU_CODES"]

OptionKind = Literal["payment_holiday", "reamortisation", "reduced_rate"]
OPTION_KINDS: tuple[OptionKind, ...] = ("payment_holiday", "reamortisation", "reduced_rate")
# What bureau reporting says about an account under an arrangement, by option kind: Metro 2
# Special Comment Codes, "CP" account in forbearance, "CO" loan modified
# (docs/bureau-reporting.md, "Hardship arrangements").
BUREAU_CODES = {"payment_holiday": "CP", "reamortisation": "CO", "reduced_rate": "CO"}
# Methods whose remaining principal the options re-amortise (interest-bearing accounts).
_METHODS = (Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL)


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    """An installment not yet billed, as stored (minor units)."""

    number: int
    due_date: dt.date
    principal_minor: int
    interest_minor: int
    fee_minor: int

    @property
    def total_minor(self) -> int:
        return self.principal_minor + self.interest_minor + self.fee_minor


@dataclass(frozen=True, slots=True)
class HardshipAccount:
    """What the options of an account are a pure function of.

    ``interest_bearing``: servicing accrues interest daily on the principal not past due at
    ``annual_rate`` (False: a fee-priced plan, nothing accrues). ``start_date``: the first
    day whose interest servicing has not accrued yet; ``accrued_interest_minor`` the exact
    interest accrued before it and not yet posted. ``billed_unpaid``: an installment is
    billed and awaits its due date (the options wait until it is paid or past due).
    ``arrangements_in_window``: arrangements started in the policy's window;
    ``arrangement_active``: one runs now."""

    account_id: str
    kind: str  # plan | loan | line
    status: str  # active | closed | written_off
    currency: str
    dpd: int
    method: Method
    interest_bearing: bool
    annual_rate: Decimal
    day_count: DayCount
    start_date: dt.date
    accrued_interest_minor: Fraction
    anchor_day: int | None
    scheduled: tuple[ScheduledInstallment, ...]
    billed_unpaid: bool = False
    arrangements_in_window: int = 0
    arrangement_active: bool = False
    product_code: str = ""
    product_version: int = 0

    @property
    def principal_minor(self) -> int:
        """The unbilled principal the options reschedule."""
        return sum(i.principal_minor for i in self.scheduled)

    @property
    def current_total_minor(self) -> int:
        """What the unbilled installments cost as they stand (principal, interest, fees)."""
        return sum(i.total_minor for i in self.scheduled)


@dataclass(frozen=True, slots=True)
class HardshipOption:
    """One option: its new schedule and the figures disclosed before acceptance.

    ``extra_cost_minor``: the new schedule's total less the current installments' total
    (interest and fees only, the principal being the same; negative when it costs less).
    ``apr``: the all-in annual cost of the new schedule (IRR, fees included).
    ``rate_during_holiday``: the rate servicing accrues at until ``rate_restored_on`` (a
    holiday with its interest waived: 0), else None. ``annual_rate``: the rate from
    ``start_date`` on (after the holiday, for a waived holiday)."""

    option_id: str
    kind: OptionKind
    cycles: int  # holiday: installments deferred; re-amortisation: periods added; else 0
    annual_rate: Decimal
    schedule: Schedule
    current_total_minor: int
    apr: Decimal
    rate_during_holiday: Decimal | None = None
    rate_restored_on: dt.date | None = None
    deferred_numbers: tuple[int, ...] = field(default=())

    @property
    def new_total_minor(self) -> int:
        return self.schedule.totals.total_minor

    @property
    def extra_cost_minor(self) -> int:
        return self.new_total_minor - self.current_total_minor

    @property
    def installments(self) -> int:
        return len(self.schedule.installments)

    @property
    def installment_minor(self) -> int:
        """The regular installment: the largest one but the last (which absorbs residues);
        the only one for a single installment."""
        totals = [i.total_minor for i in self.schedule.installments]
        return max(totals[:-1]) if len(totals) > 1 else totals[0]

    @property
    def first_due_date(self) -> dt.date:
        return self.schedule.installments[0].due_date

    @property
    def last_due_date(self) -> dt.date:
        return self.schedule.installments[-1].due_date


def check_reason(reason: object) -> str:
    """``reason`` if it is one of :data:`HARDSHIP_REASONS`, else ValidationError naming
    ``reason``."""
    if not isinstance(reason, str) or reason not in HARDSHIP_REASONS:
        raise ValidationError(f"must be one of {', '.join(HARDSHIP_REASONS)}", field="reason")
    return reason


def refusal(message: str, rule: str) -> StateError:
    """A hardship refusal: StateError naming ``account_id`` with its rule ``hardship.*``."""
    return StateError(message, field="account_id", rule=f"hardship.{rule}")


def check_common(policy: HardshipPolicy | None, *, status: str, arrangement_active: bool,
                 arrangements_in_window: int, dpd: int, what: str) -> HardshipPolicy:
    """The rules every account kind shares (``what``: "account" or "line"): the product
    offers hardship, the account is active, no arrangement runs on it, the window's maximum
    is not reached, it is not later than the product allows. The policy, else a
    :func:`refusal`."""
    if policy is None:
        raise refusal("this product offers no hardship options", "not_offered")
    if status != "active":
        raise refusal(f"the account is {status}", "not_active")
    if arrangement_active:
        raise refusal(f"a hardship arrangement already runs on this {what}", "active")
    if arrangements_in_window >= policy.eligibility.arrangements_max:
        raise refusal(f"at most {policy.eligibility.arrangements_max} arrangement(s) in "
                      f"{policy.eligibility.window_months} months", "too_many")
    if dpd > policy.eligibility.dpd_max:
        raise refusal(f"{dpd} days past due is beyond the {policy.eligibility.dpd_max}"
                      " the product allows; an operator can help", "dpd")
    return policy


def check_eligible(account: HardshipAccount, policy: HardshipPolicy | None) -> HardshipPolicy:
    """The policy when ``account`` may have hardship options, else StateError naming
    ``account_id`` with the rule (``hardship.*``) that refuses it."""
    if account.kind == "line":
        raise refusal("a pay-later line has no hardship plan; convert a statement into "
                      "installments instead, then ask for help with that plan", "line")
    policy = check_common(policy, status=account.status,
                          arrangement_active=account.arrangement_active,
                          arrangements_in_window=account.arrangements_in_window,
                          dpd=account.dpd, what="account")
    if account.interest_bearing and account.method not in _METHODS:
        raise refusal(f"not offered for the {account.method.value} method", "method")
    if account.billed_unpaid:
        raise refusal("an installment is billed and due now: ask again once it is paid or "
                      "its due date has passed", "billed")
    if not account.scheduled:
        raise refusal("nothing is left to reschedule", "nothing_scheduled")
    return policy


def auto_decision(dpd: int, policy: HardshipPolicy, reason: str
                  ) -> Literal["approved", "referred"]:
    """``approved`` within the product's auto-approval policy (at most its dpd, for one of
    its reasons), else ``referred`` to an operator."""
    auto = policy.auto_approval
    return "approved" if dpd <= auto.dpd_max and reason in auto.reasons else "referred"


def reamortisation_extensions(extension_max: int) -> tuple[int, ...]:
    """The term extensions offered: 3, 6 and 12 periods up to the maximum, and the maximum
    (a short list a consumer can compare, rather than every count)."""
    if extension_max <= 0:
        return ()
    return tuple(sorted({k for k in (3, 6, 12) if k < extension_max} | {extension_max}))


def option_id_for(account: HardshipAccount, kind: str, cycles: int, rate: Decimal) -> str:
    """A stable id of an option on the account's state today (``hs-`` + 24 hex of
    SHA-256): any change to what it reschedules (a repayment, a day of accrual) gives
    other ids, so an accepted id always names the figures shown."""
    state = {
        "account": account.account_id, "kind": kind, "cycles": cycles, "rate": str(rate),
        "start": account.start_date.isoformat(),
        "accrued": [account.accrued_interest_minor.numerator,
                    account.accrued_interest_minor.denominator],
        "scheduled": [[i.number, i.due_date.isoformat(), i.principal_minor, i.interest_minor,
                       i.fee_minor] for i in account.scheduled],
        "product": [account.product_code, account.product_version],
    }
    text = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return "hs-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _option(account: HardshipAccount, kind: OptionKind, cycles: int, rate: Decimal,
            schedule: Schedule, **extra: object) -> HardshipOption:
    return HardshipOption(
        option_id=option_id_for(account, kind, cycles, rate), kind=kind, cycles=cycles,
        annual_rate=rate, schedule=schedule, current_total_minor=account.current_total_minor,
        apr=all_in_annual_cost(schedule), **extra)  # type: ignore[arg-type]


def _interest_terms(account: HardshipAccount, *, periods: int, rate: Decimal,
                    start: dt.date, first_due: dt.date) -> ScheduleTerms:
    return ScheduleTerms(
        principal_minor=account.principal_minor, currency=account.currency,
        annual_rate=rate, periods=periods, method=account.method, start_date=start,
        day_count=account.day_count, first_due_date=first_due,
        anchor_day=account.anchor_day,
        accrued_interest_minor=account.accrued_interest_minor)


def _fee_terms(account: HardshipAccount, due_dates: Sequence[dt.date],
               fees: Sequence[int]) -> ScheduleTerms:
    # Nothing accrues: the principal in equal parts on the given dates, each installment's
    # own fee carried (fees were priced once, on the principal lent).
    return ScheduleTerms(
        principal_minor=account.principal_minor, currency=account.currency,
        annual_rate=Decimal(0), periods=len(due_dates), method=Method.EQUAL_PRINCIPAL,
        start_date=account.start_date, day_count=account.day_count,
        due_dates=tuple(due_dates), installment_fees_minor=tuple(fees))


def _shift(day: dt.date, months: int, anchor_day: int | None) -> dt.date:
    return add_months(day, months, anchor_day)


def holiday(account: HardshipAccount, policy: HardshipPolicy, cycles: int) -> HardshipOption:
    """The payment holiday deferring the next ``cycles`` installments (see the module)."""
    scheduled = account.scheduled
    first_due = scheduled[0].due_date
    new_first = _shift(first_due, cycles, account.anchor_day)
    deferred = tuple(i.number for i in scheduled[:cycles])
    if not account.interest_bearing:
        dates = [_shift(i.due_date, cycles, account.anchor_day) for i in scheduled]
        schedule = build_schedule(_fee_terms(account, dates, [i.fee_minor for i in scheduled]))
        return _option(account, "payment_holiday", cycles, Decimal(0), schedule,
                       deferred_numbers=deferred)
    if policy.holiday_interest == "accrues":
        schedule = build_schedule(_interest_terms(
            account, periods=len(scheduled), rate=account.annual_rate,
            start=account.start_date, first_due=new_first))
        return _option(account, "payment_holiday", cycles, account.annual_rate, schedule,
                       deferred_numbers=deferred)
    # Waived: nothing accrues from the start to the holiday's end (the last deferred
    # installment's old due date); the contract rate runs again from there.
    holiday_end = _shift(first_due, cycles - 1, account.anchor_day)
    schedule = build_schedule(_interest_terms(
        account, periods=len(scheduled), rate=account.annual_rate,
        start=max(holiday_end, account.start_date), first_due=new_first))
    return _option(account, "payment_holiday", cycles, account.annual_rate, schedule,
                   rate_during_holiday=Decimal(0), rate_restored_on=holiday_end,
                   deferred_numbers=deferred)


def reamortisation(account: HardshipAccount, extra_periods: int) -> HardshipOption:
    """The unbilled principal over the remaining installments plus ``extra_periods``."""
    scheduled = account.scheduled
    if not account.interest_bearing:
        last = scheduled[-1].due_date
        dates = [i.due_date for i in scheduled] + [
            _shift(last, j, account.anchor_day) for j in range(1, extra_periods + 1)]
        fees = [i.fee_minor for i in scheduled] + [0] * extra_periods
        schedule = build_schedule(_fee_terms(account, dates, fees))
        return _option(account, "reamortisation", extra_periods, Decimal(0), schedule)
    schedule = build_schedule(_interest_terms(
        account, periods=len(scheduled) + extra_periods, rate=account.annual_rate,
        start=account.start_date, first_due=scheduled[0].due_date))
    return _option(account, "reamortisation", extra_periods, account.annual_rate, schedule)


def reduced_rate(account: HardshipAccount, rate: Decimal) -> HardshipOption:
    """The unbilled principal over the remaining installments at ``rate`` from the start."""
    schedule = build_schedule(_interest_terms(
        account, periods=len(account.scheduled), rate=rate, start=account.start_date,
        first_due=account.scheduled[0].due_date))
    return _option(account, "reduced_rate", 0, rate, schedule)


def hardship_options(account: HardshipAccount, policy: HardshipPolicy | None
                     ) -> list[HardshipOption]:
    """Every option the product's policy allows for ``account`` today, holidays first
    (StateError naming ``account_id`` when the account is not eligible)."""
    policy = check_eligible(account, policy)
    options: list[HardshipOption] = []
    for cycles in range(1, min(policy.payment_holiday_cycles_max,
                               len(account.scheduled)) + 1):
        options.append(holiday(account, policy, cycles))
    for extra in reamortisation_extensions(policy.reamortisation_term_extension_max):
        options.append(reamortisation(account, extra))
    floor = policy.reduced_rate_floor
    if floor is not None and account.interest_bearing and floor < account.annual_rate:
        options.append(reduced_rate(account, floor))
    return options
