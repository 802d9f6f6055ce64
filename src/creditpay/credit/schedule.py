"""Amortisation schedules: pure functions from loan terms to installments.

Money is ``int`` minor units, rates are ``Decimal`` converted to exact ``Fraction`` for the
arithmetic, and there is exactly one rounding per amount (the terms' :class:`Rounding`,
half-up by default) when a value becomes minor units. The principal parts add up to the
principal exactly: the last installment absorbs every residue.

Interest of installment ``k`` accrues on the balance after installment ``k-1`` over the
period ``(due_{k-1}, due_k]`` (``due_0`` = start):
``interest_k = round(balance_{k-1} * annual_rate * year_fraction_k)`` with the year fraction
under the day count (see :func:`creditpay.credit.daycount.period_year_fraction`; a regular
30/360 monthly period is exactly 1/12 year).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from creditpay.credit.calendar import (
    Frequency,
    add_months,
    days_per_period,
    due_dates,
    is_month_end,
    months_per_period,
    parse_frequency,
    periods_per_year,
)
from creditpay.credit.daycount import DayCount, days_in_year_basis, parse_day_count, year_fraction
from creditpay.errors import ValidationError
from creditpay.money import AMOUNT_MINOR_MAX, Rounding, validate_currency
from creditpay.platform.validators import check_date, check_minor, check_rate

__all__ = [
    "Method",
    "ScheduleTerms",
    "Installment",
    "ScheduleTotals",
    "Schedule",
    "build_schedule",
    "amortisation_schedule",
    "round_fraction",
    "round_ratio",
    "without_fees",
    "nominal_period_fraction",
    "level_payment_exact",
    "ANNUAL_RATE_MAX",
    "with_terms",
]

ANNUAL_RATE_MAX = Decimal(10)  # 1000 % a year: a sanity bound, far above any legal cap
FEE_RATE_PER_PERIOD_MAX = Decimal(1)
PERIODS_MAX = 1_200


class Method(enum.StrEnum):
    """Repayment method (see the glossary in DESIGN.md)."""

    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息, annuity
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    FLAT = "flat"  # 等本等息: interest on the original principal every period
    INTEREST_ONLY = "interest_only"  # 先息后本
    BULLET = "bullet"  # 到期一次还本付息


def round_fraction(value: Fraction, rounding: Rounding = Rounding.HALF_UP) -> int:
    """Round an exact rational to an integer with the named mode (no float, no Decimal)."""
    value = Fraction(value)
    return round_ratio(value.numerator, value.denominator, rounding)


def round_ratio(numerator: int, denominator: int,
                rounding: Rounding = Rounding.HALF_UP) -> int:
    """:func:`round_fraction` of ``numerator / denominator`` (``denominator`` > 0), in
    integers: a schedule rounds one amount per installment, and building a Fraction (a gcd)
    for each product and sum on the way cost more than the rounding itself."""
    floor, remainder = divmod(numerator, denominator)  # remainder in [0, denominator)
    if remainder == 0:
        return floor
    ceiling = floor + 1
    negative = numerator < 0
    mode = rounding if type(rounding) is Rounding else Rounding(rounding)
    if mode is Rounding.FLOOR:
        return floor
    if mode is Rounding.CEILING:
        return ceiling
    if mode is Rounding.DOWN:
        return ceiling if negative else floor
    if mode is Rounding.UP:
        return floor if negative else ceiling
    twice = 2 * remainder  # the remainder against half a unit, in integers
    if twice != denominator:
        return ceiling if twice > denominator else floor
    if mode is Rounding.HALF_UP:  # half away from zero
        return floor if negative else ceiling
    if mode is Rounding.HALF_DOWN:  # half toward zero
        return ceiling if negative else floor
    return floor if floor % 2 == 0 else ceiling  # HALF_EVEN


def _parse_method(value: Method | str) -> Method:
    try:
        return Method(value)
    except ValueError:
        allowed = ", ".join(m.value for m in Method)
        raise ValidationError(f"unknown method {value!r}; use one of {allowed}",
                              field="method") from None


@dataclass(frozen=True, slots=True)
class ScheduleTerms:
    """Everything a schedule is a pure function of.

    ``annual_rate`` is a nominal yearly rate as a fraction (``Decimal("0.07")`` = 7 %).
    ``fee_rate_per_period`` is charged on ``fee_base_minor`` (default: the principal) every
    installment, as Chinese installment plans charge 手续费 on the original principal.
    ``first_due_date`` makes the first period broken (interest for the actual odd days).
    ``down_payment``: the first installment is due on ``start_date`` (pay-in-4 style).
    ``level_payment_minor`` / ``level_principal_minor`` fix the level installment (equal
    installment) or the level principal part (equal principal / flat) instead of
    computing it; rescheduling after a prepayment with ``reduce_term`` uses them.
    ``anchor_day`` keeps a monthly series on its day when the series is re-anchored on a
    clamped date (a 31st loan rescheduled from Feb 29 stays on the 31st).

    Rescheduling what remains of a loan (:mod:`creditpay.credit.allocation`,
    :func:`creditpay.credit.plans.reschedule_unbilled`) also uses:

    * ``due_dates``: the installments' due dates, given (the stored series is kept as it is,
      not regenerated); the first period runs from ``start_date`` to the first of them;
    * ``installment_fees_minor``: each installment's fee, given (fees are priced once, on
      the principal lent, and carried over);
    * ``charge_base_minor``: the principal lent less the principal prepaid (default: the
      principal). A ``flat`` loan's interest is on it; rescheduling scales the fees to it;
    * ``accrued_interest_minor``: interest accrued before ``start_date`` and not yet paid,
      exact (a ``Fraction`` of a minor unit); it is billed with the first installment, so it
      is added before that installment's interest is rounded, as servicing posts it.

    A schedule with given ``due_dates`` ends when its principal is repaid: no installment
    follows the one that clears the balance.
    """

    principal_minor: int
    currency: str
    annual_rate: Decimal
    periods: int
    method: Method
    start_date: dt.date
    frequency: Frequency = Frequency.MONTHLY
    day_count: DayCount = DayCount.THIRTY_360
    fee_rate_per_period: Decimal = Decimal(0)
    first_due_date: dt.date | None = None
    down_payment: bool = False
    rounding: Rounding = Rounding.HALF_UP
    level_payment_minor: int | None = None
    level_principal_minor: int | None = None
    fee_base_minor: int | None = None
    anchor_day: int | None = None
    due_dates: tuple[dt.date, ...] | None = None
    installment_fees_minor: tuple[int, ...] | None = None
    charge_base_minor: int | None = None
    accrued_interest_minor: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        check_minor(self.principal_minor, "principal_minor", minimum=1)
        set_(self, "currency", validate_currency(self.currency))
        set_(self, "annual_rate", check_rate(self.annual_rate, "annual_rate", ANNUAL_RATE_MAX))
        set_(self, "fee_rate_per_period", check_rate(
            self.fee_rate_per_period, "fee_rate_per_period", FEE_RATE_PER_PERIOD_MAX))
        if isinstance(self.periods, bool) or not isinstance(self.periods, int) or \
                not 1 <= self.periods <= PERIODS_MAX:
            raise ValidationError(f"must be an integer from 1 to {PERIODS_MAX}",
                                  field="periods")
        set_(self, "method", _parse_method(self.method))
        set_(self, "frequency", parse_frequency(self.frequency))
        set_(self, "day_count", parse_day_count(self.day_count))
        try:
            set_(self, "rounding", Rounding(self.rounding))
        except ValueError:
            raise ValidationError(f"unknown rounding {self.rounding!r}",
                                  field="rounding") from None
        for name in ("start_date", "first_due_date"):
            value = getattr(self, name)
            if value is None and name == "first_due_date":
                continue
            check_date(value, name)
        if self.first_due_date is not None and self.first_due_date <= self.start_date:
            raise ValidationError("must be after the start date", field="first_due_date")
        if not isinstance(self.down_payment, bool):
            raise ValidationError("must be true or false", field="down_payment")
        if self.down_payment and self.method is Method.BULLET:
            raise ValidationError("a bullet loan has no down payment", field="down_payment")
        if self.down_payment and self.periods < 2:
            # One installment due at the start is a cash sale, not credit.
            raise ValidationError("needs at least 2 installments", field="down_payment")
        if self.anchor_day is not None and (isinstance(self.anchor_day, bool) or not isinstance(
                self.anchor_day, int) or not 1 <= self.anchor_day <= 31):
            raise ValidationError("must be a day of month from 1 to 31", field="anchor_day")
        for name in ("level_payment_minor", "level_principal_minor", "fee_base_minor",
                     "charge_base_minor"):
            if getattr(self, name) is not None:
                check_minor(getattr(self, name), name, minimum=1)
        accrued = self.accrued_interest_minor
        if isinstance(accrued, bool) or not isinstance(accrued, int | Fraction) or accrued < 0:
            raise ValidationError("must be a non-negative int or Fraction of minor units "
                                  "(floats are refused)", field="accrued_interest_minor")
        set_(self, "accrued_interest_minor", Fraction(accrued))
        self._check_given_series(set_)

    def _check_given_series(self, set_: Any) -> None:
        """Validate ``due_dates`` and ``installment_fees_minor`` (rescheduling inputs)."""
        if self.due_dates is not None:
            dates = tuple(self.due_dates) if isinstance(self.due_dates, list | tuple) else None
            if not dates or len(dates) != self.periods or any(
                    not isinstance(d, dt.date) or isinstance(d, dt.datetime) for d in dates):
                raise ValidationError(f"must be {self.periods} dates, one per installment",
                                      field="due_dates")
            if dates[0] <= self.start_date or any(
                    later <= earlier for earlier, later in zip(dates, dates[1:], strict=False)):
                raise ValidationError("must increase strictly, after the start date",
                                      field="due_dates")
            if self.first_due_date is not None or self.down_payment or \
                    self.method is Method.BULLET:
                raise ValidationError("given due dates exclude first_due_date, a down "
                                      "payment and the bullet method", field="due_dates")
            set_(self, "due_dates", dates)
        if self.installment_fees_minor is not None:
            fees = tuple(self.installment_fees_minor) if isinstance(
                self.installment_fees_minor, list | tuple) else None
            if fees is None or len(fees) != self.periods or any(
                    isinstance(f, bool) or not isinstance(f, int) or
                    not 0 <= f <= AMOUNT_MINOR_MAX for f in fees):
                raise ValidationError(f"must be {self.periods} fees in minor units, one per "
                                      "installment", field="installment_fees_minor")
            if self.method is Method.BULLET:
                raise ValidationError("a bullet loan's fee is priced on its term",
                                      field="installment_fees_minor")
            set_(self, "installment_fees_minor", fees)


@dataclass(frozen=True, slots=True)
class Installment:
    number: int
    due_date: dt.date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    balance_after_minor: int


@dataclass(frozen=True, slots=True)
class ScheduleTotals:
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """A built schedule. ``level_payment_minor`` is the level installment (principal +
    interest) of an equal-installment schedule, ``level_principal_minor`` the level
    principal part of an equal-principal or flat one, else None."""

    terms: ScheduleTerms
    installments: tuple[Installment, ...]
    totals: ScheduleTotals
    level_payment_minor: int | None = None
    period_year_fractions: tuple[Fraction, ...] = field(default=(), repr=False)
    level_principal_minor: int | None = None  # equal principal / flat: the level part


def nominal_period_fraction(frequency: Frequency | str, day_count: DayCount | str) -> Fraction:
    """Length in years of one regular period as the annuity formula assumes it.

    Month-based and semimonthly frequencies: ``1 / periods_per_year`` (monthly 1/12).
    Day-based frequencies: ``days / year basis`` of the day count (weekly ACT/365: 7/365,
    ACT/360 or 30/360: 7/360), so a weekly period's actual interest equals the nominal one.
    """
    days = days_per_period(frequency)
    if days is None:
        return 1 / periods_per_year(frequency)
    return Fraction(days, days_in_year_basis(day_count))


def _due_dates(terms: ScheduleTerms) -> list[dt.date]:
    if terms.due_dates is not None:
        return list(terms.due_dates)
    if terms.down_payment:
        rest = due_dates(terms.start_date, terms.periods - 1, terms.frequency,
                         terms.first_due_date, terms.anchor_day)
        return [terms.start_date, *rest]
    return due_dates(terms.start_date, terms.periods, terms.frequency, terms.first_due_date,
                     terms.anchor_day)


def _whole_months_between(start: dt.date, end: dt.date) -> int | None:
    """Months from ``start`` to ``end`` when both lie on one monthly series, else None.

    A month-end ``start`` may belong to a series anchored on a later day (Feb 29 is on the
    31st's series, Apr 30 on the 31st's and the 30th's), so every such anchor is tried.
    """
    months = (end.year - start.year) * 12 + end.month - start.month
    if months <= 0:
        return None
    anchors = range(start.day, 32) if is_month_end(start) else (start.day,)
    if any(add_months(start, months, anchor) == end for anchor in anchors):
        return months
    return None


_SEMIMONTH = Fraction(1, 24)
# The conventions whose year fraction is actual days over a fixed basis.
_ACTUAL_BASIS = {DayCount.ACT_365: 365, DayCount.ACT_360: 360}


def _period_fractions(terms: ScheduleTerms, dates: list[dt.date]) -> list[Fraction]:
    """Year fraction of each period ``(due_{k-1}, due_k]``.

    Under 30/360, a period that is a whole number of months from its anchor (every regular
    monthly/quarterly/annual period, and a first period that happens to be whole months)
    counts 30 days a month; a regular semimonthly period is 1/24 year. Everything else,
    and every ACT convention, uses :func:`year_fraction` on the actual dates.
    """
    fractions: list[Fraction] = []
    previous = terms.start_date
    months = months_per_period(terms.frequency)
    thirty = terms.day_count is DayCount.THIRTY_360
    # A regular period's fraction is the same value every period: made once (a Fraction
    # is immutable; building one is a gcd and a type check, ~20 a schedule).
    regular_months = Fraction(months, 12) if months is not None else None
    by_days: dict[int, Fraction] = {}
    for current in dates:
        if current == previous:
            fractions.append(Fraction(0))
            continue
        # The first period that starts at the start date is broken only when the
        # caller chose its end (first_due_date, or given due dates); every later period
        # is regular.
        starts_at_start = previous == terms.start_date
        chosen = terms.first_due_date is not None or terms.due_dates is not None
        regular = not (starts_at_start and chosen)
        fraction: Fraction | None = None
        if thirty:
            if regular and regular_months is not None:
                fraction = regular_months
            elif regular and terms.frequency is Frequency.SEMIMONTHLY:
                fraction = _SEMIMONTH
            else:
                whole = _whole_months_between(previous, current)
                if whole is not None:
                    fraction = Fraction(whole, 12)
        if fraction is None:
            basis = _ACTUAL_BASIS.get(terms.day_count)
            if basis is not None and current > previous:
                # year_fraction's actual days over the basis, without its checks of dates
                # already checked (increasing, after the start); one Fraction per length.
                days = (current - previous).days
                fraction = by_days.get(days)
                if fraction is None:
                    fraction = by_days[days] = Fraction(days, basis)
            else:
                fraction = year_fraction(previous, current, terms.day_count)
        fractions.append(fraction)
        previous = current
    return fractions


def level_payment_exact(
    principal_minor: int,
    rate_per_period: Fraction,
    periods: int,
    first_period_factor: Fraction = Fraction(1),
    down_payment: bool = False,
) -> Fraction:
    """Exact level installment (minor units, unrounded) that amortises ``principal_minor``.

    Installments fall at ``first_period_factor`` regular periods after the start (simple
    interest over that first, possibly odd, period, as Appendix J's fractional unit period)
    and one regular period apart after it, compounding at ``rate_per_period``. With
    ``down_payment`` an extra installment falls on the start date itself (annuity due).
    ``periods`` counts every installment. With ``first_period_factor == 1`` and no down
    payment this is the textbook annuity ``P * i / (1 - (1 + i) ** -n)``.
    """
    i = Fraction(rate_per_period)
    if i == 0:
        return Fraction(principal_minor, periods)
    later = periods - 1 if down_payment else periods
    annuity_immediate = Fraction(0)
    if later:
        # sum_{j=0}^{later-1} (1+i)^-j = (1 - (1+i)^-later) / i * (1+i)
        annuity_immediate = (1 - (1 + i) ** -later) / i * (1 + i) / (1 + i * first_period_factor)
    present_value_per_unit = annuity_immediate + (1 if down_payment else 0)
    return principal_minor / present_value_per_unit


def _level_payment_rounded(principal_minor: int, annual_rate: Fraction, nominal: Fraction,
                           periods: int, first_period_factor: Fraction, down_payment: bool,
                           rounding: Rounding) -> int:
    """``round_fraction(level_payment_exact(principal_minor, annual_rate * nominal, periods,
    first_period_factor, down_payment), rounding)``, the same integer, formed in integers.

    Why by hand: the Fraction form reduces every intermediate by a gcd (a power, four
    products and quotients: a sixth of a plan's schedule). With ``i = p / q`` (``p`` > 0)
    and the factor ``r / s``, the annuity's present value per unit of payment is
    ``((p + q)^L - q^L) q s / ((p + q)^(L-1) p (q s + p r))`` for ``L`` = the installments
    after the start (``L`` >= 1), plus 1 with a down payment; the payment is the principal
    over it, rounded once (:func:`round_ratio` takes the unreduced ratio: the same value).
    A zero or negative rate, or no installment after the start, takes the Fraction form.
    tests/credit/test_schedule_level_payment.py checks the two agree."""
    p = annual_rate.numerator * nominal.numerator
    q = annual_rate.denominator * nominal.denominator
    later = periods - 1 if down_payment else periods
    if p <= 0 or later < 1:
        return round_fraction(level_payment_exact(
            principal_minor, annual_rate * nominal, periods, first_period_factor,
            down_payment), rounding)
    r, s = first_period_factor.numerator, first_period_factor.denominator
    grown = (p + q) ** (later - 1)
    numerator = ((p + q) * grown - q ** later) * q * s  # of the present value per unit
    denominator = grown * p * (q * s + p * r)
    if down_payment:
        numerator += denominator
    return round_ratio(principal_minor * denominator, numerator, rounding)


def build_schedule(terms: ScheduleTerms) -> Schedule:
    """Build the installment schedule of ``terms`` (pure; see the module docstring)."""
    dates = _due_dates(terms)
    fractions = _period_fractions(terms, dates)
    rate = Fraction(terms.annual_rate)
    rounding = terms.rounding
    principal = terms.principal_minor
    fee_base = terms.fee_base_minor if terms.fee_base_minor is not None else principal
    fee_per_period = round_fraction(fee_base * Fraction(terms.fee_rate_per_period), rounding)

    carried = terms.accrued_interest_minor
    if terms.method is Method.BULLET:
        total_fraction = sum(fractions, Fraction(0))
        interest = round_fraction(principal * rate * total_fraction + carried, rounding)
        fee = round_fraction(fee_base * Fraction(terms.fee_rate_per_period) * terms.periods,
                             rounding)
        only = Installment(1, dates[-1], principal, interest, fee, principal + interest + fee, 0)
        return _finish(terms, [only], None, (total_fraction,))

    n = len(dates)
    level_payment: int | None = None
    level_principal: int | None = None
    if terms.method is Method.EQUAL_INSTALLMENT:
        if terms.level_payment_minor is not None:
            level_payment = terms.level_payment_minor
        else:
            nominal = nominal_period_fraction(terms.frequency, terms.day_count)
            first_index = 1 if terms.down_payment else 0
            factor = Fraction(1)
            if first_index < n:
                factor = fractions[first_index] / nominal
            level_payment = _level_payment_rounded(principal, rate, nominal, n, factor,
                                                   terms.down_payment, rounding)
    elif terms.method in (Method.EQUAL_PRINCIPAL, Method.FLAT):
        level_principal = terms.level_principal_minor
        if level_principal is None:
            level_principal = round_fraction(Fraction(principal, n), rounding)

    fees = terms.installment_fees_minor or (fee_per_period,) * n
    flat_base = terms.charge_base_minor if terms.charge_base_minor is not None else \
        principal
    installments: list[Installment] = []
    balance = principal
    # interest_k = round(base * rate * fraction (+ carried on the first)), exact, formed in
    # integers over one denominator (see round_ratio).
    rate_numerator, rate_denominator = rate.numerator, rate.denominator
    for k, (due, fraction) in enumerate(zip(dates, fractions, strict=True), start=1):
        # Flat interest is on the base while any principal is outstanding (servicing's
        # interest base 3); every other method's interest is on the balance.
        base = (flat_base if balance else 0) if terms.method is Method.FLAT else balance
        numerator = base * rate_numerator * fraction.numerator
        denominator = rate_denominator * fraction.denominator
        if k == 1 and carried:
            numerator = numerator * carried.denominator + carried.numerator * denominator
            denominator *= carried.denominator
        interest = round_ratio(numerator, denominator, rounding)
        last = k == n
        if last:
            part = balance
        elif terms.method is Method.EQUAL_INSTALLMENT:
            assert level_payment is not None
            part = level_payment - interest
        elif terms.method is Method.INTEREST_ONLY:
            part = 0
        else:
            assert level_principal is not None
            part = level_principal
        # Clamp: rounding may push a part below zero or past the balance on tiny loans;
        # the balance never goes negative and never grows.
        part = max(0, min(part, balance))
        balance -= part
        fee = fees[k - 1]
        installments.append(
            Installment(k, due, part, interest, fee, part + interest + fee, balance)
        )
        rescheduled = terms.level_payment_minor is not None or terms.due_dates is not None
        if balance == 0 and rescheduled and not last:
            # A rescheduled loan whose principal is repaid ends here rather than trailing
            # installments of nothing (servicing closes a loan that owes nothing).
            break
    return _finish(terms, installments, level_payment, tuple(fractions[: len(installments)]),
                   level_principal)


def _finish(
    terms: ScheduleTerms,
    installments: list[Installment],
    level_payment: int | None,
    fractions: tuple[Fraction, ...],
    level_principal: int | None = None,
) -> Schedule:
    totals = ScheduleTotals(
        principal_minor=sum(i.principal_minor for i in installments),
        interest_minor=sum(i.interest_minor for i in installments),
        fee_minor=sum(i.fee_minor for i in installments),
        total_minor=sum(i.total_minor for i in installments),
    )
    # Invariants, asserted in the code as well as in the tests.
    assert totals.principal_minor == terms.principal_minor
    assert installments[-1].balance_after_minor == 0
    assert all(i.balance_after_minor >= 0 for i in installments)
    return Schedule(terms, tuple(installments), totals, level_payment, fractions,
                    level_principal)


def amortisation_schedule(
    principal_minor: int,
    currency: str,
    annual_rate: Decimal,
    periods: int,
    method: Method | str,
    start_date: dt.date,
    frequency: Frequency | str = Frequency.MONTHLY,
    day_count: DayCount | str = DayCount.THIRTY_360,
    fee_rate_per_period: Decimal = Decimal(0),
    first_due_date: dt.date | None = None,
    down_payment: bool = False,
    rounding: Rounding = Rounding.HALF_UP,
) -> Schedule:
    """Keyword-friendly front door to :func:`build_schedule`.

    >>> s = amortisation_schedule(10000, "CNY", Decimal("0.07"), 6, "equal_installment",
    ...                           dt.date(2024, 1, 1))
    >>> [i.total_minor for i in s.installments]
    [1701, 1701, 1701, 1701, 1701, 1700]
    """
    terms = ScheduleTerms(
        principal_minor=principal_minor,
        currency=currency,
        annual_rate=annual_rate,
        periods=periods,
        method=method,  # type: ignore[arg-type]  # parsed in __post_init__
        start_date=start_date,
        frequency=frequency,  # type: ignore[arg-type]
        day_count=day_count,  # type: ignore[arg-type]
        fee_rate_per_period=fee_rate_per_period,
        first_due_date=first_due_date,
        down_payment=down_payment,
        rounding=rounding,
    )
    return build_schedule(terms)


def without_fees(schedule: Schedule) -> Schedule:
    """The schedule of ``schedule``'s terms with no fee (``fee_rate_per_period`` 0): what
    the consumer pays when the merchant pays the fee. Equal to building those terms
    (:func:`build_schedule`), without building them: a fee never changes an installment's
    principal or interest part (they are computed from the balance, the rate and the
    dates alone), so each installment keeps them and its total drops its fee. Terms with
    given per-installment fees (rescheduling), which a fee rate does not clear, are built."""
    terms = with_terms(schedule.terms, fee_rate_per_period=Decimal(0))
    if schedule.terms.installment_fees_minor is not None:
        return build_schedule(terms)
    installments = [Installment(i.number, i.due_date, i.principal_minor, i.interest_minor, 0,
                                i.principal_minor + i.interest_minor, i.balance_after_minor)
                    for i in schedule.installments]  # ``replace`` of the fee, built directly
    return _finish(terms, installments, schedule.level_payment_minor,
                   schedule.period_year_fractions, schedule.level_principal_minor)


def with_terms(schedule_terms: ScheduleTerms, **changes: object) -> ScheduleTerms:
    """A copy of ``schedule_terms`` with ``changes`` (validated again)."""
    return replace(schedule_terms, **changes)  # type: ignore[arg-type]
