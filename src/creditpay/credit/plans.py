"""Servicing accounts with installments (plans, loans, line statements): persistence and the
state transitions shared by the use cases (origination, reschedule, refresh, refund).

An account's aggregate columns (principal unbilled / billed / past due, oldest past-due date,
dpd, bucket, next due date) are *derived* from its installments by :func:`refresh_account`
after every service-side change, so a use case cannot leave them out of step; the close of
business updates the same columns incrementally in bulk and the tests compare the two.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from creditpay.credit import accounts_repo as repo
from creditpay.credit import products as P
from creditpay.credit.accounts_repo import (
    OPEN_STATUSES,
    Item,
    load_account,
    load_items,
    next_number,
)
from creditpay.credit.daycount import DayCount
from creditpay.credit.delinquency import bucket_for, dpd_for
from creditpay.credit.schedule import Method, Schedule
from creditpay.db.uow import Tx

__all__ = ["Item", "load_account", "load_items", "insert_account", "insert_schedule",
           "refresh_account", "reschedule_unbilled", "accrued_minor", "waive_residue",
           "round_half_up_div", "product_of", "MICRO", "OPEN_STATUSES", "next_number",
           "save_items"]

MICRO = 1_000_000


def round_half_up_div(numerator: int, denominator: int) -> int:
    """round(numerator / denominator) half-up, for numerator >= 0 (integers only)."""
    assert numerator >= 0 and denominator > 0
    return (2 * numerator + denominator) // (2 * denominator)


def accrual_denominator(account: Mapping[str, Any]) -> int:
    return MICRO * account["year_basis_days"]


def accrued_payable_minor(account: Mapping[str, Any]) -> int:
    """The interest and penalty ``account`` has accrued and not yet posted, each in whole
    minor units rounded down (what a repayment today pays of them; :func:`accrued_minor`
    rounds half-up, for posting)."""
    denominator = accrual_denominator(account)
    return (account["interest_accrual_num"] // denominator
            + account["penalty_accrual_num"] // denominator)


def bill_minor(account: Mapping[str, Any], billed_due_minor: int) -> int:
    """What paying ``account``'s bill today takes, its principal not yet due aside: its
    billed and past-due installments (``billed_due_minor``), its posted unpaid penalty and
    late fees, and what it has accrued (:func:`accrued_payable_minor`). One definition for
    :func:`creditpay.credit.repayments.amount_owed` and its batch form
    (:func:`creditpay.credit.bills.bills_owed`)."""
    return (billed_due_minor + account["penalty_unpaid_minor"]
            + account["late_fee_unpaid_minor"] + accrued_payable_minor(account))


def waive_residue(account: dict[str, Any], *, whole_units_too: bool = False) -> None:
    """Drop what an account that owes no principal more has accrued below one minor unit of
    interest and of penalty (with ``whole_units_too``, all of it): without principal nothing
    accrues any more, so the remainder could only ever be rounded up against the customer.
    Changes ``account`` in place (accrual numerators)."""
    denominator = accrual_denominator(account)
    for which in ("interest", "penalty"):
        name = f"{which}_accrual_num"
        account[name] = 0 if whole_units_too else \
            account[name] - account[name] % denominator


def accrued_minor(account: dict[str, Any], which: str = "interest") -> int:
    """Interest (or penalty) accrued in account state and not yet posted, rounded half-up."""
    return round_half_up_div(account[f"{which}_accrual_num"], accrual_denominator(account))


def product_of(account: dict[str, Any], catalogue: P.Catalogue) -> Any:
    """The product version ``account`` was opened on, from ``catalogue``."""
    return catalogue.get(account["product_code"], account["product_version"])


def save_items(tx: Tx, account_seq: int, items: list[Item]) -> None:
    """Write changed items back and insert new ones (id None)."""
    repo.save_items(tx.conn, account_seq, items)


def insert_account(tx: Tx, row: dict[str, Any]) -> dict[str, Any]:
    return repo.insert_account(tx.conn, row)


def schedule_items(schedule: Schedule, first_number: int, *, customer_pays_fee: bool = True
                   ) -> list[Item]:
    items = []
    for k, inst in enumerate(schedule.installments):
        fee = inst.fee_minor if customer_pays_fee else 0
        total = inst.principal_minor + inst.interest_minor + fee
        items.append(Item(None, first_number + k, inst.due_date, "scheduled",
                          inst.principal_minor, inst.interest_minor, fee, minimum_minor=total))
    return items


def insert_schedule(tx: Tx, account: dict[str, Any], schedule: Schedule, *,
                    customer_pays_fee: bool = True, before: Sequence[Item] = ()
                    ) -> list[Item]:
    """Write the installments of a NEW account (just inserted, none yet): the items
    ``before`` (e.g. a down payment paid at checkout, numbered from 1 by the caller), then
    the schedule's, numbered after them, in one statement."""
    items = [*before, *schedule_items(schedule, len(before) + 1,
                                      customer_pays_fee=customer_pays_fee)]
    save_items(tx, account["seq"], items)
    return items


def interest_base_for(method: Method, priced_by_interest: bool) -> int:
    """How the close of business accrues interest: 1 on principal not past due, 3 on the
    original principal (flat), 0 not at all (fee-priced plans)."""
    if not priced_by_interest:
        return 0
    return 3 if method is Method.FLAT else 1


def refresh_account(tx: Tx, account: dict[str, Any], items: list[Item],
                    today: dt.date, *, catalogue: P.Catalogue, **changes: Any
                    ) -> dict[str, Any]:
    """Recompute the aggregates of ``account`` from its open ``items`` and write them with
    ``changes``; closes a plan or loan that owes nothing more."""
    account = dict(account, **changes)
    open_items = [i for i in items if i.status in OPEN_STATUSES]
    unbilled = sum(i.principal_due for i in open_items if i.status == "scheduled")
    if account["kind"] == "line":
        unbilled = account["principal_unbilled_minor"]  # purchases not yet on a statement
    billed = sum(i.principal_due for i in open_items if i.status == "billed")
    past_due_items = [i for i in open_items if i.status == "past_due"]
    past_due = sum(i.principal_due for i in past_due_items)
    revolve = account["style"] == "revolve"
    # A revolving line is late only on a statement whose minimum is unpaid after its due
    # date; a revolving balance carried to a later statement takes that statement's due date
    # (it stays past due for interest), so its due date can still be ahead.
    late_items = [i for i in past_due_items if i.due_date < today
                  and (not revolve or i.paid_total < i.minimum_minor)]
    oldest = min((i.due_date for i in late_items), default=None)
    latest = max((i.due_date for i in late_items), default=None)
    scheduled = [i for i in open_items if i.status == "scheduled"]
    next_due = min((i.due_date for i in scheduled), default=None)
    if account["kind"] == "line":
        next_due = min((i.due_date for i in open_items if i.due_date >= today),
                       default=None)
    aged_to = today
    if late_items and account["kind"] == "plan":
        # Disputes (issue #20): a plan paused while its purchase is disputed ages no further
        # than the day its pause began (creditpay.credit.pauses).
        from creditpay.credit.pauses import paused_since

        paused_on = paused_since(tx.conn, account["account_id"])
        if paused_on is not None:
            aged_to = min(today, paused_on)
    dpd = dpd_for(oldest, aged_to)
    product = product_of(account, catalogue)
    status = account["status"]
    owes = (unbilled + billed + past_due + account["penalty_unpaid_minor"]
            + account["late_fee_unpaid_minor"] + account["interest_accrual_num"]
            + account["penalty_accrual_num"] + sum(i.interest_due + i.fee_due
                                                    for i in open_items))
    if status == "active" and account["kind"] != "line" and owes == 0:
        status = "closed"
    values = {
        "principal_unbilled_minor": unbilled, "principal_billed_minor": billed,
        "principal_past_due_minor": past_due, "oldest_past_due_date": oldest,
        # Cleared once nothing is late: a late fee is only charged on a date still unpaid
        # after the grace days (paying within them costs nothing).
        "latest_past_due_date": latest,
        "next_due_date": next_due, "dpd": dpd,
        "bucket": bucket_for(dpd, product.bucket_bounds), "status": status,
        "updated_at": tx.now,
    }
    for name in ("penalty_unpaid_minor", "late_fee_unpaid_minor", "interest_accrual_num",
                 "penalty_accrual_num", "interest_posted_minor", "penalty_posted_minor",
                 "fee_posted_minor", "written_off_minor", "recovered_minor",
                 "written_off_on", "subsidy_fee_minor", "principal_original_minor",
                 "late_fee_through_date", "auto_debit_enabled", "auto_debit_consent_ref",
                 "auto_debit_account_id", "principal_prepaid_minor", "schedule_level_minor"):
        values[name] = account[name]
    repo.update_account(tx.conn, account["seq"], values)
    account.update(values)
    return account


def reschedule_unbilled(account: dict[str, Any], items: list[Item], new_principal: int,
                        today: dt.date, rule: str, *, prepaid_minor: int = 0,
                        catalogue: P.Catalogue,
                        billed_ahead_until: dt.date | None = None) -> list[Item]:
    """Restate the scheduled (not yet billed) items after a change on ``today``: a
    prepayment of ``prepaid_minor`` of principal, a refund, or interest accrued so far paid
    ahead. Their principal then adds up to ``new_principal``.

    The rows are what the close of business will bill, to the minor unit, when each
    installment is paid on its due date: the rule is
    :func:`creditpay.credit.allocation.remaining_schedule` (``reduce_term`` keeps the
    installment or principal part in force, ``reduce_installment`` keeps the count), on
    the stored due dates, and each row's interest is the accrual servicing posts for its
    period (the interest accrued before ``today`` and not yet paid goes to the first row).
    A prepayment also lowers the charges priced on the principal lent: the base of a
    flat loan's interest (``principal_prepaid_minor`` grows) and, pro rata, the fees of the
    remaining installments; the fees of installments that no longer exist are never
    charged. ``account`` is updated in place (``principal_prepaid_minor``,
    ``schedule_level_minor``) for the caller to write with :func:`refresh_account`.
    Returns the new items (id None); the old ones are marked cancelled, or, when only the
    interest changes, updated in place (and nothing new is returned).
    """
    from creditpay.credit.allocation import remaining_schedule, scale_pro_rata

    scheduled = [i for i in items if i.status == "scheduled"]
    unbilled = sum(i.principal_due for i in scheduled)
    # An installment a repayment billed ahead of its due date (one a statement showed) was
    # billed with its whole period's interest: the next period starts at its due date, and
    # the interest accrued since it was billed is in it, not carried to the next row.
    # ``billed_ahead_until`` (accounts_repo) finds it among the paid ones the caller did not
    # load.
    covered = max((d for d in (billed_ahead_until, *(
        i.due_date for i in items if i.status in ("billed", "paid") and i.due_date > today))
        if d is not None), default=None)
    base_before = account["principal_original_minor"] - account["principal_prepaid_minor"]
    base_after = base_before - prepaid_minor
    # What is lent (less prepaid) covers what is outstanding, so the base stays positive.
    assert base_after >= 0 and (base_before > 0 or not prepaid_minor), (base_before, base_after)
    account["principal_prepaid_minor"] += prepaid_minor
    if not scheduled:
        assert new_principal == 0, "principal left without scheduled installments"
        return []
    if new_principal == unbilled and prepaid_minor == 0:
        _restate_interest(account, scheduled, today, covered_until=covered)
        return []
    for item in scheduled:
        item.status = "cancelled"
        item.dirty = True
    if new_principal == 0:
        return []
    product = product_of(account, catalogue)
    method = Method(account["method"]) if account["method"] else Method.EQUAL_PRINCIPAL
    fees = [scale_pro_rata(i.fee_minor, base_after, base_before) if prepaid_minor
            else i.fee_minor for i in scheduled]
    start = min(today, scheduled[0].due_date - dt.timedelta(days=1))
    if covered is not None:
        start = max(start, covered)
    level = account["schedule_level_minor"]
    schedule = remaining_schedule(
        method=method, principal_minor=new_principal, currency=account["currency"],
        annual_rate=_accrual_rate(account), start_date=start,
        due_dates=[i.due_date for i in scheduled], fees_minor=fees, rule=rule,
        frequency=getattr(product, "frequency", "monthly"),
        day_count=_accrual_day_count(account, product.day_count),
        level_payment_minor=level, level_principal_minor=level, charge_base_minor=base_after,
        accrued_interest_minor=Fraction(0) if covered is not None else _accrued_interest(account))
    kept = schedule.level_payment_minor or schedule.level_principal_minor
    if kept is not None:
        account["schedule_level_minor"] = kept
    number = max(i.number for i in items) + 1
    new_items = [Item(None, number + k, inst.due_date, "scheduled", inst.principal_minor,
                      inst.interest_minor, inst.fee_minor, minimum_minor=inst.total_minor)
                 for k, inst in enumerate(schedule.installments)]
    assert sum(i.principal_minor for i in new_items) == new_principal
    return new_items


def _accrual_rate(account: dict[str, Any]) -> Decimal:
    """The annual rate servicing accrues interest at (0 when it accrues none)."""
    if account["interest_base"] not in (1, 3):
        return Decimal(0)
    return Decimal(account["interest_rate_micro"]) / MICRO


def _accrual_day_count(account: dict[str, Any], product_day_count: Any) -> DayCount:
    """The day count that makes a schedule's interest the daily accrual's: actual days
    over the account's year basis (interest-bearing products are ACT/365 or ACT/360)."""
    if account["interest_base"] not in (1, 3):
        return DayCount(product_day_count)
    return DayCount.ACT_360 if account["year_basis_days"] == 360 else DayCount.ACT_365


def _accrued_interest(account: dict[str, Any]) -> Fraction:
    """Interest accrued and not yet posted, exact, in minor units."""
    if account["interest_base"] not in (1, 3):
        return Fraction(0)
    return Fraction(account["interest_accrual_num"], accrual_denominator(account))


def _restate_interest(account: dict[str, Any], scheduled: list[Item], today: dt.date, *,
                      covered_until: dt.date | None = None) -> None:
    """The principal parts stay; each row's interest becomes what its period accrues, the
    first row's including what was accrued before ``today`` and not paid (part of it was
    just paid ahead). Same arithmetic as the schedules: ``round(base * rate * days /
    basis)``, half-up, the base the balance (flat: the principal lent less prepaid).
    ``covered_until``: the due date of an installment billed ahead with its period's
    interest; the first row's period starts there, with nothing carried."""
    from creditpay.credit.schedule import round_fraction

    rate = Fraction(_accrual_rate(account))
    if rate == 0:
        return
    basis = account["year_basis_days"]
    flat_base = account["principal_original_minor"] - account["principal_prepaid_minor"]
    flat = account["interest_base"] == 3
    balance = sum(i.principal_due for i in scheduled)
    previous = min(today, scheduled[0].due_date - dt.timedelta(days=1))
    carried = _accrued_interest(account)
    if covered_until is not None:
        previous, carried = max(previous, covered_until), Fraction(0)
    for item in scheduled:
        base = (flat_base if balance else 0) if flat else balance
        interest = round_fraction(
            base * rate * Fraction((item.due_date - previous).days, basis) + carried)
        carried = Fraction(0)
        if interest != item.interest_minor:
            item.interest_minor = interest
            item.minimum_minor = item.principal_minor + interest + item.fee_minor
            item.dirty = True
        balance -= item.principal_due
        previous = item.due_date


def scale_fee(fee_minor: int, numerator: int, denominator: int) -> int:
    """A fee scaled by numerator/denominator, half-up (pro rata after a refund)."""
    from creditpay.credit.schedule import round_fraction

    return round_fraction(Fraction(fee_minor * numerator, denominator))
