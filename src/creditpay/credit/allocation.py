"""Repayment allocation: a pure waterfall from one payment to the buckets it pays.

A *bucket* is what one installment still owes, split into components (penalty, fee,
interest, principal), with its status (past due, due, not yet due). An
:class:`AllocationStrategy` is configuration as data: the order of statuses, the order of
components within each status, oldest or newest installment first, and whether the
waterfall runs installment by installment (``by_installment``: every component of the
oldest past-due installment before the next installment) or component by component
(``by_component``: every past-due penalty, then every past-due fee, ...). What is left
after the listed statuses is a prepayment of principal handled by the prepayment rule
(``reduce_term`` or ``reduce_installment``), or returned unallocated.

Invariants (asserted, and property-tested): money is neither created nor lost
(``sum(allocations) + prepayment + unallocated == payment``), no component is paid more
than it owes, and a later bucket/component in the order is paid only once every earlier
one is paid in full.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

from creditpay.credit.calendar import Frequency
from creditpay.credit.daycount import DayCount
from creditpay.credit.schedule import (
    Installment,
    Method,
    Schedule,
    ScheduleTerms,
    build_schedule,
    round_fraction,
)
from creditpay.errors import ValidationError
from creditpay.money import AMOUNT_MINOR_MAX, Rounding

__all__ = [
    "BucketStatus",
    "Component",
    "PrepaymentRule",
    "WaterfallMode",
    "Bucket",
    "AllocationStrategy",
    "BucketAllocation",
    "AllocationResult",
    "allocate_payment",
    "reschedule_after_prepayment",
    "remaining_schedule",
    "scale_pro_rata",
    "DEFAULT_STRATEGY",
]

BUCKETS_MAX = 10_000


class BucketStatus(enum.StrEnum):
    PAST_DUE = "past_due"
    DUE = "due"
    NOT_DUE = "not_due"


class Component(enum.StrEnum):
    PENALTY = "penalty"
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"


class PrepaymentRule(enum.StrEnum):
    REDUCE_TERM = "reduce_term"  # keep the installment, end the loan earlier
    REDUCE_INSTALLMENT = "reduce_installment"  # keep the term, lower the installments


class WaterfallMode(enum.StrEnum):
    BY_INSTALLMENT = "by_installment"
    BY_COMPONENT = "by_component"


@dataclass(frozen=True, slots=True)
class Bucket:
    """What one installment still owes, in minor units."""

    installment_number: int
    due_date: dt.date
    status: BucketStatus
    penalty_minor: int = 0
    fee_minor: int = 0
    interest_minor: int = 0
    principal_minor: int = 0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "status", BucketStatus(self.status))
        except ValueError:
            raise ValidationError(f"unknown status {self.status!r}", field="status") from None
        if isinstance(self.installment_number, bool) or \
                not isinstance(self.installment_number, int) or self.installment_number < 1:
            raise ValidationError("must be a positive integer", field="installment_number")
        if not isinstance(self.due_date, dt.date):
            raise ValidationError("must be a date", field="due_date")
        for component in Component:
            value = self.owed(component)
            if isinstance(value, bool) or not isinstance(value, int) or \
                    not 0 <= value <= AMOUNT_MINOR_MAX:
                raise ValidationError("must be a non-negative integer of minor units",
                                      field=f"{component.value}_minor")

    def owed(self, component: Component) -> int:
        amount_minor: int = getattr(self, f"{component.value}_minor")
        return amount_minor


_DEFAULT_COMPONENTS = (Component.PENALTY, Component.FEE, Component.INTEREST,
                       Component.PRINCIPAL)


@dataclass(frozen=True, slots=True)
class AllocationStrategy:
    """How a payment is spread; build from a config mapping with :meth:`from_config`."""

    status_order: tuple[BucketStatus, ...] = (BucketStatus.PAST_DUE, BucketStatus.DUE)
    component_order: Mapping[BucketStatus, tuple[Component, ...]] = field(
        default_factory=lambda: dict.fromkeys(BucketStatus, _DEFAULT_COMPONENTS))
    oldest_first: bool = True
    mode: WaterfallMode = WaterfallMode.BY_INSTALLMENT
    prepayment_rule: PrepaymentRule | None = PrepaymentRule.REDUCE_TERM

    def __post_init__(self) -> None:
        if not self.status_order or len(set(self.status_order)) != len(self.status_order):
            raise ValidationError("must list distinct statuses", field="status_order")
        for status in self.status_order:
            order = self.component_order.get(status)
            if order is None:
                raise ValidationError(f"missing for {status.value}", field="component_order")
            if sorted(order) != sorted(Component):
                raise ValidationError(
                    f"for {status.value} must list each of penalty, fee, interest, principal "
                    "exactly once", field="component_order")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AllocationStrategy:
        """Parse and validate a strategy document, e.g.::

            {"status_order": ["past_due", "due"],
             "component_order": {"past_due": ["penalty", "fee", "interest", "principal"],
                                 "due": ["interest", "principal", "fee", "penalty"]},
             "oldest_first": true, "mode": "by_installment",
             "prepayment_rule": "reduce_term"}

        ``component_order`` may be one list used for every status.
        """
        if not isinstance(config, Mapping):
            raise ValidationError("must be a mapping", field="strategy")
        unknown = set(config) - {"status_order", "component_order", "oldest_first", "mode",
                                 "prepayment_rule"}
        if unknown:
            raise ValidationError(f"unknown keys {sorted(unknown)}", field="strategy")
        statuses = tuple(_enum_list(BucketStatus, config.get(
            "status_order", ["past_due", "due"]), "status_order"))
        raw_components = config.get("component_order", [c.value for c in _DEFAULT_COMPONENTS])
        if isinstance(raw_components, Mapping):
            components = {
                _enum_value(BucketStatus, key, "component_order"):
                    tuple(_enum_list(Component, value, f"component_order.{key}"))
                for key, value in raw_components.items()
            }
        else:
            one = tuple(_enum_list(Component, raw_components, "component_order"))
            components = dict.fromkeys(BucketStatus, one)
        oldest_first = config.get("oldest_first", True)
        if not isinstance(oldest_first, bool):
            raise ValidationError("must be true or false", field="oldest_first")
        mode = _enum_value(WaterfallMode, config.get("mode", "by_installment"), "mode")
        raw_rule = config.get("prepayment_rule", "reduce_term")
        rule = None if raw_rule is None else _enum_value(PrepaymentRule, raw_rule,
                                                         "prepayment_rule")
        return cls(statuses, components, oldest_first, mode, rule)


_StrEnumT = TypeVar("_StrEnumT", bound=enum.StrEnum)


def _enum_value(kind: type[_StrEnumT], value: object, name: str) -> _StrEnumT:
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in kind)
    raise ValidationError(f"unknown value {value!r}; use one of {allowed}", field=name)


def _enum_list(kind: type[_StrEnumT], values: object, name: str) -> list[_StrEnumT]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValidationError("must be a list", field=name)
    return [_enum_value(kind, value, name) for value in values]


DEFAULT_STRATEGY = AllocationStrategy()


@dataclass(frozen=True, slots=True)
class BucketAllocation:
    installment_number: int
    penalty_minor: int = 0
    fee_minor: int = 0
    interest_minor: int = 0
    principal_minor: int = 0

    @property
    def total_minor(self) -> int:
        return self.penalty_minor + self.fee_minor + self.interest_minor + self.principal_minor


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """``allocations`` follow the input bucket order (one per bucket, zeros included)."""

    allocations: tuple[BucketAllocation, ...]
    prepayment_principal_minor: int
    prepayment_rule: PrepaymentRule | None
    unallocated_minor: int
    # Every (installment_number, component, amount) paid, in the order paid: an audit trail.
    steps: tuple[tuple[int, Component, int], ...]

    @property
    def allocated_minor(self) -> int:
        return sum(a.total_minor for a in self.allocations)


def allocate_payment(
    payment_minor: int,
    buckets: Sequence[Bucket],
    strategy: AllocationStrategy = DEFAULT_STRATEGY,
) -> AllocationResult:
    """Spread ``payment_minor`` over ``buckets`` by ``strategy`` (pure)."""
    if isinstance(payment_minor, bool) or not isinstance(payment_minor, int) or \
            not 0 <= payment_minor <= AMOUNT_MINOR_MAX:
        raise ValidationError("must be a non-negative integer of minor units",
                              field="payment_minor")
    if len(buckets) > BUCKETS_MAX:
        raise ValidationError(f"at most {BUCKETS_MAX} buckets", field="buckets")
    numbers = [b.installment_number for b in buckets]
    if len(set(numbers)) != len(numbers):
        raise ValidationError("installment numbers must be distinct", field="buckets")

    paid: dict[int, dict[Component, int]] = {n: dict.fromkeys(Component, 0) for n in numbers}
    steps: list[tuple[int, Component, int]] = []
    left = payment_minor

    def pay(bucket: Bucket, component: Component) -> None:
        nonlocal left
        amount = min(left, bucket.owed(component) - paid[bucket.installment_number][component])
        if amount > 0:
            paid[bucket.installment_number][component] += amount
            steps.append((bucket.installment_number, component, amount))
            left -= amount

    for status in strategy.status_order:
        group = sorted(
            (b for b in buckets if b.status is status),
            key=lambda b: (b.due_date, b.installment_number),
            reverse=not strategy.oldest_first,
        )
        components = strategy.component_order[status]
        if strategy.mode is WaterfallMode.BY_INSTALLMENT:
            for bucket in group:
                for component in components:
                    pay(bucket, component)
        else:
            for component in components:
                for bucket in group:
                    pay(bucket, component)

    prepayment = 0
    if strategy.prepayment_rule is not None and left:
        # Principal not yet due and not already paid above is what a prepayment can retire.
        outstanding = sum(
            b.principal_minor - paid[b.installment_number][Component.PRINCIPAL]
            for b in buckets if b.status is BucketStatus.NOT_DUE
        )
        prepayment = min(left, outstanding)
        left -= prepayment

    allocations = tuple(
        BucketAllocation(
            b.installment_number,
            **{f"{c.value}_minor": paid[b.installment_number][c] for c in Component},
        )
        for b in buckets
    )
    result = AllocationResult(allocations, prepayment,
                              strategy.prepayment_rule if prepayment else None, left,
                              tuple(steps))
    assert result.allocated_minor + prepayment + left == payment_minor
    return result


def remaining_schedule(
    *,
    method: Method | str,
    principal_minor: int,
    currency: str,
    annual_rate: Decimal,
    start_date: dt.date,
    due_dates: Sequence[dt.date],
    fees_minor: Sequence[int],
    rule: PrepaymentRule | str,
    frequency: Frequency | str = Frequency.MONTHLY,
    day_count: DayCount | str = DayCount.THIRTY_360,
    rounding: Rounding = Rounding.HALF_UP,
    level_payment_minor: int | None = None,
    level_principal_minor: int | None = None,
    charge_base_minor: int | None = None,
    accrued_interest_minor: Fraction = Fraction(0),
) -> Schedule:
    """What remains of a loan, rescheduled from ``start_date`` (pure; minor units).

    ``principal_minor`` is the principal still to repay, over the installments still to
    come, due on ``due_dates`` with fees ``fees_minor`` (both kept as they are). One rule
    for every caller (the pure :func:`reschedule_after_prepayment` and servicing's
    :func:`creditpay.credit.plans.reschedule_unbilled`), so the schedule shown is the one
    servicing bills:

    * ``reduce_installment``: the same installments, recomputed on the lower principal (a
      lower level installment, or a lower level principal part ``round(P / n)``);
    * ``reduce_term``: the installment in force (``level_payment_minor``, equal
      installment) or the principal part in force (``level_principal_minor``, equal
      principal and flat) is kept; the loan ends when that repays it, the last installment
      taking the residue. Without a level in force the rule cannot shorten anything and
      the installments are recomputed as under ``reduce_installment``;
    * interest-only (and a bullet's single installment, treated as interest-only): the
      principal stays on the last installment under both rules; interest falls.

    Interest of installment ``k`` is on the balance (on ``charge_base_minor`` for flat)
    over its period; ``accrued_interest_minor`` (interest accrued before ``start_date``,
    not yet paid) is billed with the first installment.
    """
    rule = _prepayment_rule(rule)
    method = Method(method)
    if method is Method.BULLET:
        method = Method.INTEREST_ONLY  # one installment left: principal and interest at the end
    dates = tuple(due_dates)
    fees = tuple(fees_minor)
    if len(fees) != len(dates) or not dates:
        raise ValidationError("needs one fee per remaining due date", field="fees_minor")
    level_payment = level_principal = None
    keep_level = rule is PrepaymentRule.REDUCE_TERM
    if keep_level and method is Method.EQUAL_INSTALLMENT and level_payment_minor:
        level_payment = level_payment_minor
    elif keep_level and method in (Method.EQUAL_PRINCIPAL, Method.FLAT) and \
            level_principal_minor:
        level_principal = level_principal_minor
        # ceil: enough installments of the kept part; the last one takes the residue
        count = min(len(dates), -(-principal_minor // level_principal))
        dates, fees = dates[:count], fees[:count]
    terms = ScheduleTerms(
        principal_minor=principal_minor, currency=currency, annual_rate=annual_rate,
        periods=len(dates), method=method, start_date=start_date,
        frequency=frequency,  # type: ignore[arg-type]  # parsed in __post_init__
        day_count=day_count,  # type: ignore[arg-type]
        rounding=rounding, level_payment_minor=level_payment,
        level_principal_minor=level_principal, due_dates=dates,
        installment_fees_minor=fees, charge_base_minor=charge_base_minor,
        accrued_interest_minor=accrued_interest_minor)
    return build_schedule(terms)


def scale_pro_rata(amount_minor: int, numerator: int, denominator: int,
                   rounding: Rounding = Rounding.HALF_UP) -> int:
    """``amount_minor * numerator / denominator``, rounded once (minor units)."""
    return round_fraction(Fraction(amount_minor * numerator, denominator), rounding)


def _prepayment_rule(rule: PrepaymentRule | str) -> PrepaymentRule:
    try:
        return PrepaymentRule(rule)
    except ValueError:
        raise ValidationError(f"unknown rule {rule!r}; use reduce_term or "
                              "reduce_installment", field="rule") from None


def reschedule_after_prepayment(
    schedule: Schedule,
    paid_installments: int,
    prepayment_principal_minor: int,
    rule: PrepaymentRule | str,
) -> Schedule:
    """The schedule of what remains after installment ``paid_installments`` was paid and
    ``prepayment_principal_minor`` of principal was prepaid on its due date.

    The new schedule starts on that due date and keeps the remaining due dates, the rate
    and the day count (see :func:`remaining_schedule` for the rules). Charges priced on
    the principal lent follow the principal prepaid: a flat loan's interest is from then
    on charged on the principal lent less the principal prepaid, and each remaining
    installment's fee is scaled by the same ratio (as a refund scales them), so prepaying
    saves the charges on what was prepaid and no more.
    """
    rule = _prepayment_rule(rule)
    terms = schedule.terms
    installments = schedule.installments
    if isinstance(paid_installments, bool) or not isinstance(paid_installments, int) or \
            not 0 <= paid_installments < len(installments):
        raise ValidationError(f"must be from 0 to {len(installments) - 1}",
                              field="paid_installments")
    if terms.method is Method.BULLET:
        raise ValidationError("a bullet loan has one installment; prepay it in full",
                              field="method")
    balance = terms.principal_minor if paid_installments == 0 else \
        installments[paid_installments - 1].balance_after_minor
    if isinstance(prepayment_principal_minor, bool) or \
            not isinstance(prepayment_principal_minor, int) or \
            not 1 <= prepayment_principal_minor <= balance:
        raise ValidationError(f"must be from 1 to the balance {balance}",
                              field="prepayment_principal_minor")
    remaining: list[Installment] = list(installments[paid_installments:])
    new_balance = balance - prepayment_principal_minor
    new_start = terms.start_date if paid_installments == 0 else \
        installments[paid_installments - 1].due_date
    if new_balance == 0:
        raise ValidationError("the prepayment settles the loan; there is nothing to "
                              "reschedule", field="prepayment_principal_minor")
    if remaining[0].due_date <= new_start:
        # A down-payment schedule prepaid before its first (start-date) installment.
        raise ValidationError("pay the installment due at the start first",
                              field="paid_installments")
    base_before = terms.charge_base_minor if terms.charge_base_minor is not None else \
        terms.principal_minor
    base_after = base_before - prepayment_principal_minor
    return remaining_schedule(
        method=terms.method, principal_minor=new_balance, currency=terms.currency,
        annual_rate=terms.annual_rate, start_date=new_start,
        due_dates=[i.due_date for i in remaining],
        fees_minor=[scale_pro_rata(i.fee_minor, base_after, base_before, terms.rounding)
                    for i in remaining],
        rule=rule, frequency=terms.frequency, day_count=terms.day_count,
        rounding=terms.rounding, level_payment_minor=schedule.level_payment_minor,
        level_principal_minor=schedule.level_principal_minor,
        charge_base_minor=base_after)
