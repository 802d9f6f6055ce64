"""Repayments: one payment spread over what a customer owes, by the product's strategy.

Order (docs/servicing.md, "Payments and allocation" and "Revolving lines"): the allocation
waterfall (:mod:`creditpay.credit.allocation`) over what is required, past due first: every
billed plan or loan installment, each line statement's minimum not yet paid, the plan
installments a line statement shows as due by its due date (they are in its minimum), and
the account-level penalty and late fees (one past-due bucket dated at the oldest missed due
date); then the rest of a revolving line's statements, what bears interest first; then the
plan installments a statement shows that fall due after its due date (they are in its
balance); then, for the targeted plan or loan (or, untargeted, the line), interest and
penalty accrued and not yet posted (whole minor units), then principal not yet due as a
prepayment (``reduce_term`` / ``reduce_installment``), then recovery of written-off debt.
Whatever would be left over is refused (ValidationError on ``amount_minor``): nothing is
taken that is not owed.

A plan installment that a statement shows is usually not billed yet (the close of business
bills it the day before it falls due). An untargeted payment that reaches it bills it first,
at the amount the statement showed: its principal, fee and scheduled interest. For a plan
priced by interest, that interest is the whole period's (the schedule's arithmetic is the
daily accrual's); it is posted at once, the interest accrued so far is part of it, and what
accrues on the plan until the period ends was billed with it: the close of business clears
that accrual at the period end instead of posting it again (cob_steps.bill). Paying the
bill early costs what the bill said, never more. :func:`bill_in_full_minor` is what such a
payment takes today to pay everything due and the latest statements in full.

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
from creditpay.credit import accounts_repo as repo
from creditpay.credit import products as P
from creditpay.credit.allocation import (
    DEFAULT_STRATEGY,
    AllocationStrategy,
    Bucket,
    BucketStatus,
    Component,
    allocate_payment,
)
from creditpay.credit.lines import (
    INCOME_CODES,
    check_id,
    platform_ledger_accounts,
    post,
    transfer,
)
from creditpay.credit.plans import (
    Item,
    accrual_denominator,
    bill_minor,
    load_items,
    product_of,
    refresh_account,
    reschedule_unbilled,
    save_items,
    waive_residue,
)
from creditpay.credit.tables import credit_repayments, credit_statements
from creditpay.db.idempotency import find_replay, request_hash
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, ValidationError
from creditpay.money import validate_currency
from creditpay.platform.validators import check_minor

__all__ = ["RepaymentResult", "repay", "amount_owed", "bill_in_full_minor"]

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


def _required_minor(account: dict[str, Any], item: Item) -> int:
    """What of ``item`` must be paid by its due date (minor units): all of it, except on a
    revolving line, where it is the item's minimum not yet paid (docs/servicing.md,
    "Revolving lines"); the rest of a revolving statement may revolve."""
    if account["kind"] != "line" or account["style"] != "revolve":
        return item.total_due
    return min(item.total_due, max(0, item.minimum_minor - item.paid_total))


def _split(item: Item, required: int, order: tuple[Component, ...]
           ) -> tuple[dict[str, int], dict[str, int]]:
    """``item``'s dues split into the ``required`` part (taken in the strategy's component
    order: fees and interest before principal by default) and the rest."""
    due = {"penalty": 0, "fee": item.fee_due, "interest": item.interest_due,
           "principal": item.principal_due}
    need = dict.fromkeys(due, 0)
    left = required
    for component in order:
        need[component.value] = min(due[component.value], left)
        left -= need[component.value]
    assert left == 0, (required, item)
    return need, {name: due[name] - need[name] for name in due}


def _bucket(number: int, due_date: dt.date, status: BucketStatus, parts: dict[str, int]
            ) -> Bucket:
    return Bucket(number, due_date, status, penalty_minor=parts["penalty"],
                  fee_minor=parts["fee"], interest_minor=parts["interest"],
                  principal_minor=parts["principal"])


@dataclass
class _Waterfall:
    """One customer's buckets, in the four passes of a repayment (each a list of (bucket,
    item or None for the account's charges, account))."""

    required: list[tuple[Bucket, Item | None, dict[str, Any]]] = field(default_factory=list)
    revolving: list[tuple[Bucket, Item | None, dict[str, Any]]] = field(default_factory=list)
    current: list[tuple[Bucket, Item | None, dict[str, Any]]] = field(default_factory=list)
    later: list[tuple[Bucket, Item | None, dict[str, Any]]] = field(default_factory=list)

    def total_minor(self) -> int:
        """What paying every bucket takes (minor units)."""
        return sum(sum(b.owed(c) for c in Component) for part in (
            self.required, self.revolving, self.current, self.later)
            for b, _item, _account in part)


@dataclass
class _Unbilled:
    """A plan installment a line statement shows and the close of business has not billed
    yet: what billing it today would make it."""

    item: Item
    account: dict[str, Any]
    bearing: bool  # priced by interest: the period's accrual is billed with it
    within_due_date: bool  # falls due by its statement's due date (in the minimum)


def _buckets(waterfall: _Waterfall, account: dict[str, Any], items: list[Item],
             today: dt.date, offset: int, strategy: AllocationStrategy) -> None:
    """Add ``account``'s buckets to ``waterfall``.

    Required (first pass): every plan or loan installment billed, in full; on a line, each
    statement's minimum not yet paid (all of a no_revolve statement); and the account's
    penalty and late fees, as one past-due bucket dated at the oldest missed due date. What
    was due before today is past due. Then, on a revolving line only, the rest of each
    statement: first what already bears interest (principal past its first due date), then
    the statement not yet due."""
    missed: list[dt.date] = []
    for item in items:
        if item.status not in ("billed", "past_due") or item.total_due == 0:
            continue
        late = item.due_date < today
        status = BucketStatus.PAST_DUE if late else BucketStatus.DUE
        required = _required_minor(account, item)
        need, rest = _split(item, required, strategy.component_order[status])
        number = offset + item.number
        if required:
            waterfall.required.append((_bucket(number, item.due_date, status, need), item,
                                       account))
            if late:
                missed.append(item.due_date)
        if sum(rest.values()):
            bearing = item.status == "past_due" or late
            (waterfall.revolving if bearing else waterfall.current).append(
                (_bucket(number, item.due_date, BucketStatus.DUE, rest), item, account))
    charges = account["penalty_unpaid_minor"] + account["late_fee_unpaid_minor"]
    if charges:
        number = offset + max((i.number for i in items), default=0) + 1
        waterfall.required.append((Bucket(
            number, min(missed, default=today), BucketStatus.PAST_DUE,
            penalty_minor=account["penalty_unpaid_minor"],
            fee_minor=account["late_fee_unpaid_minor"]), None, account))


def _accounts(tx: Tx, customer_id: str, currency: str, target: str | None
              ) -> list[dict[str, Any]]:
    accounts = repo.customer_accounts(tx.conn, customer_id, currency,
                                      ("active", "written_off"), account_id=target, lock=True)
    if target is not None and not accounts:
        raise NotFoundError(f"customer {customer_id} has no open {currency} account"
                            f" {target!r}", field="target")
    return accounts


def amount_owed(conn: Any, account: dict[str, Any], *, include_unbilled: bool = True) -> int:
    """What paying ``account`` off today takes: due and past due, charges, accrued interest
    and penalty (whole minor units), and principal not yet due."""
    items = load_items(conn, account["seq"])
    total = bill_minor(account, sum(i.total_due for i in items
                                    if i.status in ("billed", "past_due")))
    if include_unbilled:
        total += account["principal_unbilled_minor"]
    if account["status"] == "written_off":
        total = account["written_off_minor"] - account["recovered_minor"]
    return total


def _statement_installments(conn: Any, active: list[dict[str, Any]],
                            items_of: dict[int, list[Item]]) -> list[_Unbilled]:
    """The plan installments on the customer's lines that a statement shows and that are not
    billed yet (one read of the statements' due dates)."""
    plans = [a for a in active if a["kind"] == "plan"]
    tagged = {i.statement_id for a in plans for i in items_of[a["seq"]]
              if i.status == "scheduled" and i.statement_id is not None}
    if not tagged:
        return []
    due_by = dict(conn.execute(select(credit_statements.c.statement_id,
                                      credit_statements.c.due_date).where(
        credit_statements.c.statement_id.in_(sorted(tagged)))).all())
    found: list[_Unbilled] = []
    for account in plans:
        bearing = account["interest_base"] in (1, 3)
        for item in sorted(items_of[account["seq"]], key=lambda i: (i.due_date, i.number)):
            if item.status == "scheduled" and item.statement_id in due_by:
                found.append(_Unbilled(item, account, bearing,
                                       item.due_date <= due_by[item.statement_id]))
    return found


def _bill_now(unbilled: _Unbilled, repayment_id: str, platform: dict[str, int],
              billing: list[L.TransferRequest]) -> None:
    """Bill ``unbilled`` now at the amount its statement showed: its interest and fee posted
    to income (transfers added to ``billing``, posted with the repayment, first). The day
    before its due date is still its period end (cob_steps.bill): the penalty accrued is
    posted then, and the interest accrued until then, billed now, is cleared."""
    item, account = unbilled.item, unbilled.account
    item.status, item.dirty = "billed", True
    item.minimum_minor = item.principal_minor + item.interest_minor + item.fee_minor
    tag = f"credit:repay:{repayment_id}:{account['seq']}:bill:{item.number}"
    if unbilled.bearing:
        # The period's interest is the scheduled interest: what accrued so far is in it.
        account["interest_accrual_num"] = 0
        account["interest_posted_minor"] += item.interest_minor
        if item.interest_minor:
            billing.append(transfer(f"{tag}:interest", "credit.interest_posted",
                                    account["interest_account_id"],
                                    platform[INCOME_CODES["interest"]], item.interest_minor,
                                    account["account_id"]))
    if item.fee_minor:
        billing.append(transfer(tag, "credit.fee_posted", account["fee_account_id"],
                                platform[INCOME_CODES["fee"]], item.fee_minor,
                                account["account_id"]))
        account["fee_posted_minor"] += item.fee_minor


def _waterfall(accounts: list[dict[str, Any]], items_of: dict[int, list[Item]],
               unbilled: list[_Unbilled], today: dt.date, strategy: AllocationStrategy
               ) -> _Waterfall:
    """Every account's buckets (numbers made unique per account), and the unbilled
    statement installments: those due by their statement's due date with what is
    required, the others after the revolving balance."""
    waterfall = _Waterfall()
    offsets = {a["seq"]: (k + 1) * 1_000_000 for k, a in enumerate(accounts)}
    for account in accounts:
        _buckets(waterfall, account, items_of[account["seq"]], today, offsets[account["seq"]],
                 strategy)
    for u in unbilled:
        bucket = Bucket(offsets[u.account["seq"]] + u.item.number, u.item.due_date,
                        BucketStatus.DUE, fee_minor=u.item.fee_due,
                        interest_minor=u.item.interest_due, principal_minor=u.item.principal_due)
        (waterfall.required if u.within_due_date else waterfall.later).append(
            (bucket, u.item, u.account))
    return waterfall


def bill_in_full_minor(conn: Any, customer_id: str, currency: str, today: dt.date, *,
                       catalogue: P.Catalogue) -> int:
    """What a repayment without a target takes on ``today`` to pay everything due on the
    customer's accounts in ``currency`` and their lines' statements in full, the plan
    installments the statements show included (at the amounts they showed); anything
    more pays the line's new purchases ahead (minor units)."""
    active = repo.customer_accounts(conn, customer_id, currency, ("active",))
    items_of = {a["seq"]: load_items(conn, a["seq"]) for a in active}
    lead = next((a for a in active if a["kind"] == "line"), active[0] if active else None)
    strategy = product_of(lead, catalogue).strategy if lead else DEFAULT_STRATEGY
    return _waterfall(active, items_of, _statement_installments(conn, active, items_of),
                      today, strategy).total_minor()


def repay(tx: Tx, *, repayment_id: str, customer_id: str, currency: str, amount_minor: int,
          source_account_id: int, target: str | None = None, channel: str = "customer",
          catalogue: P.Catalogue) -> RepaymentResult:
    """Apply a repayment of ``amount_minor`` from ledger account ``source_account_id`` (e.g.
    the customer's wallet) to what ``customer_id`` owes in ``currency``, or to the account
    ``target`` (a line, plan or loan id; money beyond what is due prepays it)."""
    check_id(repayment_id, "repayment_id")
    check_id(customer_id, "customer_id")
    validate_currency(currency)
    check_minor(amount_minor, "amount_minor", minimum=1)
    if isinstance(source_account_id, bool) or not isinstance(source_account_id, int) or \
            source_account_id <= 0:
        raise ValidationError("must be a ledger account id", field="source_account_id")
    if target is not None:
        check_id(target, "target")
    fingerprint = request_hash(customer_id=customer_id, currency=currency,
                               amount_minor=amount_minor, source=source_account_id,
                               target=target)
    stored = find_replay(tx.conn, credit_repayments.c.repayment_id, repayment_id, fingerprint,
                         field="repayment_id",
                         conflict=f"repayment {repayment_id} exists with other content")
    if stored is not None:
        replayed = dict(stored["result"])
        replayed["accounts"] = tuple(replayed["accounts"])
        return RepaymentResult(**replayed)
    today = tx.today
    accounts = _accounts(tx, customer_id, currency, target)
    active = [a for a in accounts if a["status"] == "active"]
    items_of = {a["seq"]: load_items(tx.conn, a["seq"]) for a in active}
    billing: list[L.TransferRequest] = []
    unbilled = _statement_installments(tx.conn, active, items_of) if target is None else []
    to_bill = {id(u.item): u for u in unbilled}
    lead = next((a for a in active if a["kind"] == "line"), active[0] if active else None)
    strategy = product_of(lead, catalogue).strategy if lead else DEFAULT_STRATEGY
    # One waterfall over every account's buckets, so the oldest past-due money is paid
    # first whichever account it sits on; a revolving line's balance beyond its minimum only
    # takes what is left once everything required is paid.
    waterfall = _waterfall(active, items_of, unbilled, today, strategy)
    platform: dict[str, int] = {}
    paid: dict[int, _Paid] = {a["seq"]: _Paid() for a in accounts}
    left = amount_minor
    passes = (
        (waterfall.required, dataclasses.replace(strategy, prepayment_rule=None)),
        # Highest cost first: what bears interest, oldest first, then the statement not due.
        (waterfall.revolving, dataclasses.replace(
            strategy, status_order=(BucketStatus.DUE,), oldest_first=True,
            prepayment_rule=None)),
        (waterfall.current, dataclasses.replace(
            strategy, status_order=(BucketStatus.DUE,), oldest_first=True,
            prepayment_rule=None)),
        # The statements' plan installments due after their due dates, soonest first.
        (waterfall.later, dataclasses.replace(
            strategy, status_order=(BucketStatus.DUE,), oldest_first=True,
            prepayment_rule=None)),
    )
    for buckets, pass_strategy in passes:
        if not buckets or left == 0:
            continue
        allocation = allocate_payment(left, [b[0] for b in buckets], pass_strategy)
        for (_bucket, item, account), share in zip(buckets, allocation.allocations,
                                                    strict=True):
            account_paid = paid[account["seq"]]
            if item is None:
                account_paid.penalty += share.penalty_minor
                account_paid.fee += share.fee_minor
                account["penalty_unpaid_minor"] -= share.penalty_minor
                account["late_fee_unpaid_minor"] -= share.fee_minor
                continue
            if share.total_minor and id(item) in to_bill:
                # Billed only when the payment reaches it; the close of business bills
                # what it does not reach the day before its due date.
                billed = to_bill.pop(id(item))
                platform = platform or platform_ledger_accounts(tx, currency)
                _bill_now(billed, repayment_id, platform, billing)
            item.principal_paid_minor += share.principal_minor
            item.interest_paid_minor += share.interest_minor
            item.fee_paid_minor += share.fee_minor
            item.dirty = item.dirty or share.total_minor > 0
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
        if account["kind"] != "line" and (prepay or account_paid.accrued_interest):
            # The rows still to bill are restated to what will be billed: less principal,
            # and the interest paid ahead no longer on the next installment.
            items = items_of[account["seq"]]
            new_items = reschedule_unbilled(
                account, items, unbilled - prepay, today, account["prepayment_rule"],
                prepaid_minor=prepay, catalogue=catalogue,
                billed_ahead_until=repo.billed_ahead_until(tx.conn, account["seq"], today))
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
    _post(tx, repayment_id, currency, source_account_id, accounts, paid, billing)
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
        refresh_account(tx, account, items, today, catalogue=catalogue)
    for account in accounts:
        if account["status"] == "written_off" and paid[account["seq"]].recovery:
            repo.update_account(tx.conn, account["seq"], {
                "recovered_minor": account["recovered_minor"], "updated_at": tx.now})
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
    from creditpay.platform import audit

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
          accounts: list[dict[str, Any]], paid: dict[int, _Paid],
          billing: list[L.TransferRequest]) -> None:
    platform = platform_ledger_accounts(tx, currency)
    # Installments billed by this payment are posted before they are paid.
    requests: list[L.TransferRequest] = list(billing)
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
