"""Servicing accounts with installments (plans, loans, line statements): persistence and the
state transitions shared by the use cases (origination, reschedule, refresh, refund).

An account's aggregate columns (principal unbilled / billed / past due, oldest past-due date,
dpd, bucket, next due date) are *derived* from its installments by :func:`refresh_account`
after every service-side change, so a use case cannot leave them out of step; the close of
business updates the same columns incrementally in bulk and the tests compare the two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select

from creditpay.credit import products as P
from creditpay.credit.delinquency import bucket_for, dpd_for
from creditpay.credit.schedule import Method, Schedule, ScheduleTerms, build_schedule
from creditpay.credit.tables import credit_accounts, credit_installments
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError
from creditpay.money import allocate_minor

__all__ = ["Item", "load_account", "load_items", "insert_account", "insert_schedule",
           "refresh_account", "reschedule_unbilled", "accrued_minor", "waive_residue",
           "round_half_up_div", "product_of", "MICRO"]

MICRO = 1_000_000
OPEN_STATUSES = ("scheduled", "billed", "past_due")


def round_half_up_div(numerator: int, denominator: int) -> int:
    """round(numerator / denominator) half-up, for numerator >= 0 (integers only)."""
    assert numerator >= 0 and denominator > 0
    return (2 * numerator + denominator) // (2 * denominator)


def accrual_denominator(account: dict[str, Any]) -> int:
    return MICRO * account["year_basis_days"]


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


@dataclass
class Item:
    """One installment row (mutable copy; written back by :func:`save_items`)."""

    id: int | None
    number: int
    due_date: dt.date
    status: str
    principal_minor: int
    interest_minor: int
    fee_minor: int
    principal_paid_minor: int = 0
    interest_paid_minor: int = 0
    fee_paid_minor: int = 0
    minimum_minor: int = 0
    statement_id: str | None = None
    dirty: bool = False

    @property
    def principal_due(self) -> int:
        return self.principal_minor - self.principal_paid_minor

    @property
    def interest_due(self) -> int:
        return self.interest_minor - self.interest_paid_minor

    @property
    def fee_due(self) -> int:
        return self.fee_minor - self.fee_paid_minor

    @property
    def total_due(self) -> int:
        return self.principal_due + self.interest_due + self.fee_due

    @property
    def paid_total(self) -> int:
        return self.principal_paid_minor + self.interest_paid_minor + self.fee_paid_minor


def product_of(account: dict[str, Any]) -> Any:
    return P.default_catalogue().get(account["product_code"], account["product_version"])


def load_account(conn: Any, account_id: str, *, lock: bool = False) -> dict[str, Any]:
    query = select(credit_accounts).where(credit_accounts.c.account_id == account_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFoundError(f"no credit account {account_id!r}", field="account_id")
    return dict(row)


def load_items(conn: Any, account_seq: int, *, open_only: bool = True) -> list[Item]:
    c = credit_installments.c
    query = select(credit_installments).where(c.account_seq == account_seq).order_by(c.number)
    if open_only:
        query = query.where(c.status.in_(OPEN_STATUSES))
    return [Item(id=r["id"], number=r["number"], due_date=r["due_date"], status=r["status"],
                 principal_minor=r["principal_minor"], interest_minor=r["interest_minor"],
                 fee_minor=r["fee_minor"], principal_paid_minor=r["principal_paid_minor"],
                 interest_paid_minor=r["interest_paid_minor"],
                 fee_paid_minor=r["fee_paid_minor"], minimum_minor=r["minimum_minor"],
                 statement_id=r["statement_id"])
            for r in conn.execute(query).mappings()]


def next_number(conn: Any, account_seq: int) -> int:
    from sqlalchemy import func

    last = conn.execute(select(func.max(credit_installments.c.number)).where(
        credit_installments.c.account_seq == account_seq)).scalar()
    return (last or 0) + 1


def save_items(tx: Tx, account_seq: int, items: list[Item]) -> None:
    """Write changed items back and insert new ones (id None)."""
    updates = [{"b_id": i.id, "status": i.status, "principal_minor": i.principal_minor,
                "interest_minor": i.interest_minor, "fee_minor": i.fee_minor,
                "principal_paid_minor": i.principal_paid_minor,
                "interest_paid_minor": i.interest_paid_minor,
                "fee_paid_minor": i.fee_paid_minor, "minimum_minor": i.minimum_minor}
               for i in items if i.id is not None and i.dirty]
    if updates:
        from sqlalchemy import bindparam

        tx.conn.execute(credit_installments.update().where(
            credit_installments.c.id == bindparam("b_id")).values(
            {k: bindparam(k) for k in updates[0] if k != "b_id"}), updates)
    inserts = [{"account_seq": account_seq, "number": i.number, "due_date": i.due_date,
                "status": i.status, "principal_minor": i.principal_minor,
                "interest_minor": i.interest_minor, "fee_minor": i.fee_minor,
                "principal_paid_minor": i.principal_paid_minor,
                "interest_paid_minor": i.interest_paid_minor,
                "fee_paid_minor": i.fee_paid_minor, "minimum_minor": i.minimum_minor,
                "statement_id": i.statement_id} for i in items if i.id is None]
    if inserts:
        tx.conn.execute(credit_installments.insert(), inserts)
    for i in items:
        i.dirty = False


def insert_account(tx: Tx, row: dict[str, Any]) -> dict[str, Any]:
    tx.conn.execute(credit_accounts.insert(), row)
    return load_account(tx.conn, row["account_id"])


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
                    customer_pays_fee: bool = True) -> list[Item]:
    items = schedule_items(schedule, next_number(tx.conn, account["seq"]),
                           customer_pays_fee=customer_pays_fee)
    save_items(tx, account["seq"], items)
    return items


def interest_base_for(method: Method, priced_by_interest: bool) -> int:
    """How the close of business accrues interest: 1 on principal not past due, 3 on the
    original principal (flat), 0 not at all (fee-priced plans)."""
    if not priced_by_interest:
        return 0
    return 3 if method is Method.FLAT else 1


def refresh_account(tx: Tx, account: dict[str, Any], items: list[Item],
                    today: dt.date, **changes: Any) -> dict[str, Any]:
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
    dpd = dpd_for(oldest, today)
    product = product_of(account)
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
                 "auto_debit_account_id"):
        values[name] = account[name]
    tx.conn.execute(credit_accounts.update().where(
        credit_accounts.c.seq == account["seq"]).values(values))
    account.update(values)
    return account


def reschedule_unbilled(account: dict[str, Any], items: list[Item], new_principal: int,
                        today: dt.date, rule: str) -> list[Item]:
    """Replace the scheduled (not yet billed) items so their principal adds up to
    ``new_principal`` after a prepayment or refund on ``today``.

    The due dates stay on the account's series. ``reduce_term`` keeps the level payment
    (equal installment) or the level principal part (equal principal, flat) and drops the
    last installments; ``reduce_installment`` keeps the count and lowers each one. Fees of
    the installments that remain are kept (fees are on the original principal); those of
    dropped installments are never charged. Returns the new items (id None) after marking
    the old ones cancelled.
    """
    scheduled = [i for i in items if i.status == "scheduled"]
    for item in scheduled:
        item.status = "cancelled"
        item.dirty = True
    if new_principal == 0 or not scheduled:
        assert new_principal == 0, "principal left without scheduled installments"
        return []
    method = Method(account["method"]) if account["method"] else Method.EQUAL_PRINCIPAL
    count = len(scheduled)
    parts: list[int]
    interest: list[int] = [0] * count
    if method is Method.EQUAL_INSTALLMENT:
        first_due = scheduled[0].due_date
        terms = ScheduleTerms(
            principal_minor=new_principal, currency=account["currency"],
            annual_rate=Decimal(account["interest_rate_micro"]) / MICRO, periods=count,
            method=method, start_date=min(today, first_due - dt.timedelta(days=1)),
            first_due_date=first_due, day_count=product_of(account).day_count,
            anchor_day=account["anchor_day"],
            level_payment_minor=account["schedule_level_minor"]
            if rule == "reduce_term" else None)
        schedule = build_schedule(terms)
        parts = [i.principal_minor for i in schedule.installments]
        interest = [i.interest_minor for i in schedule.installments]
    elif method in (Method.EQUAL_PRINCIPAL, Method.FLAT) and rule == "reduce_term":
        level = max(i.principal_minor for i in scheduled)
        parts, left = [], new_principal
        while left > 0 and len(parts) < count:
            part = min(level, left) if len(parts) < count - 1 else left
            parts.append(part)
            left -= part
    elif method in (Method.EQUAL_PRINCIPAL, Method.FLAT):
        parts = allocate_minor(new_principal, [1] * count)
    else:  # interest-only and bullet: all principal stays on the last installment
        parts = [0] * (count - 1) + [new_principal]
    new_items = []
    number = max(i.number for i in items) + 1
    for k, part in enumerate(parts):
        old = scheduled[k]
        estimate = interest[k] if k < len(interest) else 0
        new_items.append(Item(None, number + k, old.due_date, "scheduled", part, estimate,
                              old.fee_minor, minimum_minor=part + estimate + old.fee_minor))
    assert sum(i.principal_minor for i in new_items) == new_principal
    return new_items


def scale_fee(fee_minor: int, numerator: int, denominator: int) -> int:
    """A fee scaled by numerator/denominator, half-up (pro rata after a refund)."""
    from creditpay.credit.schedule import round_fraction

    return round_fraction(Fraction(fee_minor * numerator, denominator))
