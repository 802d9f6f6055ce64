"""Repayments: one payment spread over what a customer owes, by the product's strategy.

Order: the allocation waterfall (:mod:`creditpay.credit.allocation`) over past-due and due
installments (plus the account-level penalty and late fees, as one past-due bucket dated
at the oldest missed due date); then, for the targeted plan or loan (or, untargeted, the
line), interest and penalty accrued and not yet posted (whole minor units), then principal
not yet due as a prepayment (``reduce_term`` / ``reduce_installment``), then recovery of
written-off debt. Whatever would be left over is refused (ValidationError on
``amount_minor``): nothing is taken that is not owed.

Everything is computed in memory first; the ledger batch is posted next (it refuses an
insufficient source before writing anything), and only then are the installments and
accounts written, in the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from creditpay import ledger as L
from creditpay.credit.allocation import Bucket, BucketStatus, allocate_payment
from creditpay.credit.lines import (
    INCOME_CODES,
    check_amount,
    check_id,
    platform_ledger_accounts,
    post,
    request_hash,
    transfer,
)
from creditpay.credit.plans import (
    Item,
    accrual_denominator,
    load_items,
    product_of,
    refresh_account,
    reschedule_unbilled,
    save_items,
    waive_residue,
)
from creditpay.credit.tables import credit_accounts, credit_repayments
from creditpay.db.uow import Tx
from creditpay.errors import IdempotencyConflictError, NotFoundError, ValidationError
from creditpay.money import validate_currency

__all__ = ["RepaymentResult", "repay", "amount_owed"]

COMPONENTS = ("principal", "interest", "fee", "penalty")


@dataclass
class _Paid:
    principal: int = 0
    interest: int = 0
    fee: int = 0
    penalty: int = 0
    accrued_interest: int = 0  # posted to income now, and paid
    accrued_penalty: int = 0
    prepayment: int = 0
    recovery: int = 0

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.fee + self.penalty + self.recovery


@dataclass(frozen=True)
class RepaymentResult:
    repayment_id: str
    customer_id: str
    currency: str
    amount_minor: int
    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    prepayment_minor: int
    recovery_minor: int
    accounts: tuple[dict[str, Any], ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _buckets(account: dict[str, Any], items: list[Item], today: dt.date, offset: int
             ) -> list[tuple[Bucket, Item | None]]:
    result: list[tuple[Bucket, Item | None]] = []
    late = [i for i in items if i.status == "past_due" or
            (i.status == "billed" and i.due_date < today)]
    for item in items:
        if item.status not in ("billed", "past_due") or item.total_due == 0:
            continue
        status = BucketStatus.PAST_DUE if item in late else BucketStatus.DUE
        result.append((Bucket(offset + item.number, item.due_date, status,
                              fee_minor=item.fee_due, interest_minor=item.interest_due,
                              principal_minor=item.principal_due), item))
    charges = account["penalty_unpaid_minor"] + account["late_fee_unpaid_minor"]
    if charges:
        due = min((i.due_date for i in late), default=today)
        number = offset + max((i.number for i in items), default=0) + 1
        result.append((Bucket(number, due, BucketStatus.PAST_DUE,
                              penalty_minor=account["penalty_unpaid_minor"],
                              fee_minor=account["late_fee_unpaid_minor"]), None))
    return result


def _accounts(tx: Tx, customer_id: str, currency: str, target: str | None
              ) -> list[dict[str, Any]]:
    c = credit_accounts.c
    query = select(credit_accounts).where(
        c.customer_id == customer_id, c.currency == currency,
        c.status.in_(("active", "written_off"))).order_by(c.seq)
    if target is not None:
        query = query.where(c.account_id == target)
    if tx.dialect == "postgresql":
        query = query.with_for_update()
    accounts = [dict(r) for r in tx.conn.execute(query).mappings()]
    if target is not None and not accounts:
        raise NotFoundError(f"customer {customer_id} has no open {currency} account"
                            f" {target!r}", field="target")
    return accounts


def amount_owed(conn: Any, account: dict[str, Any], *, include_unbilled: bool = True) -> int:
    """What paying ``account`` off today takes: due and past due, charges, accrued interest
    and penalty (whole minor units), and principal not yet due."""
    items = load_items(conn, account["seq"])
    denominator = accrual_denominator(account)
    total = sum(i.total_due for i in items if i.status in ("billed", "past_due"))
    total += account["penalty_unpaid_minor"] + account["late_fee_unpaid_minor"]
    total += account["interest_accrual_num"] // denominator
    total += account["penalty_accrual_num"] // denominator
    if include_unbilled:
        total += account["principal_unbilled_minor"]
    if account["status"] == "written_off":
        total = account["written_off_minor"] - account["recovered_minor"]
    return total


def repay(tx: Tx, *, repayment_id: str, customer_id: str, currency: str, amount_minor: int,
          source_account_id: int, target: str | None = None, channel: str = "customer"
          ) -> RepaymentResult:
    """Apply a repayment of ``amount_minor`` from ledger account ``source_account_id`` (e.g.
    the customer's wallet) to what ``customer_id`` owes in ``currency``, or to the account
    ``target`` (a line, plan or loan id; money beyond what is due prepays it)."""
    check_id(repayment_id, "repayment_id")
    check_id(customer_id, "customer_id")
    validate_currency(currency)
    check_amount(amount_minor, "amount_minor")
    if isinstance(source_account_id, bool) or not isinstance(source_account_id, int) or \
            source_account_id <= 0:
        raise ValidationError("must be a ledger account id", field="source_account_id")
    if target is not None:
        check_id(target, "target")
    fingerprint = request_hash(customer_id=customer_id, currency=currency,
                               amount_minor=amount_minor, source=source_account_id,
                               target=target)
    stored = tx.conn.execute(select(credit_repayments).where(
        credit_repayments.c.repayment_id == repayment_id)).mappings().first()
    if stored is not None:
        if stored["request_hash"] != fingerprint:
            raise IdempotencyConflictError(f"repayment {repayment_id} exists with other"
                                           " content", field="repayment_id")
        result = dict(stored["result"])
        result["accounts"] = tuple(result["accounts"])
        return RepaymentResult(**result)
    today = tx.today
    accounts = _accounts(tx, customer_id, currency, target)
    active = [a for a in accounts if a["status"] == "active"]
    items_of = {a["seq"]: load_items(tx.conn, a["seq"]) for a in active}
    # One waterfall over every account's buckets (numbers made unique per account), so the
    # oldest past-due money is paid first whichever account it sits on.
    pairs: list[tuple[Bucket, Item | None, dict[str, Any]]] = []
    for k, account in enumerate(active):
        for bucket, item in _buckets(account, items_of[account["seq"]], today,
                                     (k + 1) * 1_000_000):
            pairs.append((bucket, item, account))
    lead = next((a for a in active if a["kind"] == "line"), active[0] if active else None)
    strategy = product_of(lead).strategy if lead else None
    paid: dict[int, _Paid] = {a["seq"]: _Paid() for a in accounts}
    left = amount_minor
    if pairs:
        assert strategy is not None
        allocation = allocate_payment(amount_minor, [p[0] for p in pairs],
                                      dataclasses.replace(strategy, prepayment_rule=None))
        for (_bucket, item, account), share in zip(pairs, allocation.allocations, strict=True):
            account_paid = paid[account["seq"]]
            if item is None:
                account_paid.penalty += share.penalty_minor
                account_paid.fee += share.fee_minor
                account["penalty_unpaid_minor"] -= share.penalty_minor
                account["late_fee_unpaid_minor"] -= share.fee_minor
                continue
            item.principal_paid_minor += share.principal_minor
            item.interest_paid_minor += share.interest_minor
            item.fee_paid_minor += share.fee_minor
            item.dirty = share.total_minor > 0
            account_paid.principal += share.principal_minor
            account_paid.interest += share.interest_minor
            account_paid.fee += share.fee_minor
            if item.total_due == 0:
                item.status = "paid"
        left = allocation.unallocated_minor
    # Beyond what is due: the targeted account, or (untargeted) the line, is paid ahead.
    ahead = [a for a in active if (target is not None or a["kind"] == "line")]
    for account in ahead:
        if left == 0:
            break
        denominator = accrual_denominator(account)
        account_paid = paid[account["seq"]]
        for which in ("penalty", "interest"):
            whole = min(left, account[f"{which}_accrual_num"] // denominator)
            account[f"{which}_accrual_num"] -= whole * denominator
            account[f"{which}_posted_minor"] += whole
            setattr(account_paid, f"accrued_{which}", whole)
            setattr(account_paid, which, getattr(account_paid, which) + whole)
            left -= whole
        unbilled = account["principal_unbilled_minor"]
        prepay = min(left, unbilled)
        if prepay:
            account_paid.prepayment = prepay
            account_paid.principal += prepay
            left -= prepay
            if account["kind"] == "line":
                account["principal_unbilled_minor"] -= prepay
            else:
                items = items_of[account["seq"]]
                new_items = reschedule_unbilled(account, items, unbilled - prepay, today,
                                                account["prepayment_rule"])
                items_of[account["seq"]] = items + new_items
    for account in accounts:
        if left == 0 or account["status"] != "written_off":
            continue
        recovery = min(left, account["written_off_minor"] - account["recovered_minor"])
        paid[account["seq"]].recovery = recovery
        account["recovered_minor"] += recovery
        left -= recovery
    if left:
        raise ValidationError(f"is {left} minor units more than is owed"
                              f"{' on ' + target if target else ''}", field="amount_minor")
    _post(tx, repayment_id, currency, source_account_id, accounts, paid)
    for account in active:
        items = items_of[account["seq"]]
        save_items(tx, account["seq"], items)
        owes_principal = sum(i.principal_due for i in items if i.status in (
            "scheduled", "billed", "past_due")) + (account["principal_unbilled_minor"]
                                                   if account["kind"] == "line" else 0)
        if owes_principal == 0:
            # Paid off: the sub-minor remainder of the accrual is waived, never rounded up
            # against the customer (nothing accrues without principal). A line stays open:
            # whole minor units it did not pay are still owed, and posted at its statement.
            waive_residue(account, whole_units_too=account["kind"] != "line")
        refresh_account(tx, account, items, today)
    for account in accounts:
        if account["status"] == "written_off" and paid[account["seq"]].recovery:
            tx.conn.execute(credit_accounts.update().where(
                credit_accounts.c.seq == account["seq"]).values(
                recovered_minor=account["recovered_minor"], updated_at=tx.now))
    totals = {name: sum(getattr(p, name) for p in paid.values())
              for name in (*COMPONENTS, "prepayment", "recovery")}
    result = RepaymentResult(
        repayment_id=repayment_id, customer_id=customer_id, currency=currency,
        amount_minor=amount_minor, principal_minor=totals["principal"],
        interest_minor=totals["interest"], fee_minor=totals["fee"],
        penalty_minor=totals["penalty"], prepayment_minor=totals["prepayment"],
        recovery_minor=totals["recovery"],
        accounts=tuple({"account_id": a["account_id"], **dataclasses.asdict(paid[a["seq"]])}
                       for a in accounts if paid[a["seq"]].total))
    assert result.principal_minor + result.interest_minor + result.fee_minor + \
        result.penalty_minor + result.recovery_minor == amount_minor
    tx.conn.execute(credit_repayments.insert(), {
        "repayment_id": repayment_id, "request_hash": fingerprint, "customer_id": customer_id,
        "currency": currency, "amount_minor": amount_minor, "channel": channel,
        "result": result.as_dict(), "created_at": tx.now})
    tx.emit("credit.repayment.applied", "credit_repayment", repayment_id, result.as_dict())
    _audit_repayment(tx, result, channel)
    return result


def _audit_repayment(tx: Tx, result: RepaymentResult, channel: str) -> None:
    """One audit record per repayment: amounts and the accounts they went to (ids only)."""
    from creditpay.compliance import audit

    by_customer = channel == "customer"
    audit.append(tx, "customer" if by_customer else "system",
                 result.customer_id if by_customer else f"credit.{channel}",
                 "credit.repayment", "credit_repayment", result.repayment_id,
                 {"currency": result.currency, "amount_minor": result.amount_minor,
                  "principal_minor": result.principal_minor,
                  "interest_minor": result.interest_minor, "fee_minor": result.fee_minor,
                  "penalty_minor": result.penalty_minor,
                  "prepayment_minor": result.prepayment_minor,
                  "recovery_minor": result.recovery_minor, "channel": channel,
                  "accounts": [dict(entry) for entry in result.accounts]})


def _post(tx: Tx, repayment_id: str, currency: str, source: int,
          accounts: list[dict[str, Any]], paid: dict[int, _Paid]) -> None:
    platform = platform_ledger_accounts(tx, currency)
    requests: list[L.TransferRequest] = []
    prefix = f"credit:repay:{repayment_id}"
    for account in accounts:
        p = paid[account["seq"]]
        tag = f"{prefix}:{account['seq']}"
        # Accrued interest and penalty paid now are recognised as income first.
        for which in ("interest", "penalty"):
            amount = getattr(p, f"accrued_{which}")
            if amount:
                requests.append(transfer(f"{tag}:accrue_{which}", f"credit.{which}_posted",
                                         account[f"{which}_account_id"],
                                         platform[INCOME_CODES[which]], amount,
                                         account["account_id"]))
        for component in COMPONENTS:
            amount = getattr(p, component)
            if amount:
                requests.append(transfer(f"{tag}:{component}", "credit.repayment", source,
                                         account[f"{component}_account_id"], amount,
                                         account["account_id"]))
        if p.principal and account["line_available_account_id"] and \
                account["status"] == "active":
            requests.append(transfer(f"{tag}:limit", "credit.limit_restore",
                                     platform["credit_limit_control"],
                                     account["line_available_account_id"], p.principal,
                                     account["account_id"]))
        if p.recovery:
            requests.append(transfer(f"{tag}:recovery", "credit.recovery", source,
                                     platform["recovery_income"], p.recovery,
                                     account["account_id"]))
    if requests:
        post(tx, requests)
