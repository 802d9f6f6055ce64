"""Right of withdrawal: a consumer leaves an installment plan or a cash loan within the
window (14 days by default, configurable) by repaying the principal plus interest for the
days used, and nothing else (EU Consumer Credit Directive art. 14; docs/consumer-protection.md
section 3). The amount is the rule's (:class:`WithdrawalRule`; consumer protection's
:func:`creditpay.protection.withdrawal.withdrawal_amount`, passed in by the use case
:func:`creditpay.protection.credit_withdrawal.withdraw`).

One use case in the caller's transaction: quote, post the ledger, close the account,
restore the line's limit, record the audit trail and the outbox event.

Ledger (every posting balanced; ``wallet`` is ``source_account_id``)::

    fee posted, unpaid          fee_income          -> fee receivable       (reversed)
    fee already paid            fee_income          -> wallet               (refunded)
    penalty posted / paid       penalty_income      -> penalty receivable / wallet
    merchant-paid plan fee      fee_income          -> subsidy_receivable   (reversed)
    interest for the days used  interest receivable -> interest_income      (what is missing)
    interest beyond them        interest_income     -> interest receivable / wallet
    principal outstanding       wallet              -> principal receivable
    interest for the days used  wallet              -> interest receivable  (still unpaid)
    limit consumed              credit_limit_control -> line available

so afterwards the account's receivables are zero, it has earned exactly the interest for the
days used and no fee, and the wallet moved by the quote's ``amount_due - refund_due``.
Refunds to the wallet are posted first, so the wallet needs only the net amount.

Idempotent on ``withdrawal_id``: the use case is recorded as a ``credit_repayments`` row
(channel ``withdrawal``, id ``withdrawal:<withdrawal_id>``) holding the request fingerprint
and the result; a retry returns it and moves nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit.daycount import DayCount
from creditpay.credit.lines import (
    INCOME_CODES,
    check_id,
    platform_ledger_accounts,
    post,
    transfer,
)
from creditpay.credit.plans import (
    MICRO,
    OPEN_STATUSES,
    load_account,
    load_items,
    product_of,
    refresh_account,
    save_items,
)
from creditpay.credit.tables import credit_repayments
from creditpay.db.idempotency import find_replay, request_hash
from creditpay.db.uow import Tx
from creditpay.errors import (
    InsufficientFundsError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.money import Rounding
from creditpay.platform import audit

__all__ = ["WithdrawalResult", "WithdrawalRule", "WithdrawalTerms", "withdraw",
           "account_currency", "WITHDRAWAL_ID_MAX", "REPAYMENTS_MAX"]

CHANNEL = "withdrawal"
ID_PREFIX = "withdrawal:"
WITHDRAWAL_ID_MAX = 96 - len(ID_PREFIX)  # the stored id is bounded like every credit id
REPAYMENTS_MAX = 1_000  # repayments read for one account's history (the rule takes as many)


class WithdrawalTerms(Protocol):
    """What the withdrawal rule quotes (minor units; dates inclusive)."""

    @property
    def principal_minor(self) -> int: ...
    @property
    def interest_minor(self) -> int: ...  # for the days used: the only charge
    @property
    def paid_minor(self) -> int: ...  # repayments and fees already paid
    @property
    def amount_due_minor(self) -> int: ...  # the consumer pays now
    @property
    def refund_due_minor(self) -> int: ...  # the lender pays back now
    @property
    def days_used(self) -> int: ...
    @property
    def deadline(self) -> dt.date: ...  # last day of the window


class WithdrawalRule(Protocol):
    """The right-of-withdrawal rule, which consumer protection owns
    (:mod:`creditpay.protection.withdrawal` is one): credit applies it to the account but
    does not import it (credit sits below consumer protection)."""

    def withdrawal_amount(self, principal_minor: int, annual_rate: Decimal,
                          origination_date: dt.date, withdrawal_date: dt.date, *,
                          withdrawal_days: int = ..., day_count: DayCount | str = ...,
                          repayments: Sequence[tuple[dt.date, int]] = ...,
                          fees_paid_minor: int = ..., rounding: Rounding = ...
                          ) -> WithdrawalTerms: ...

    def withdrawal_deadline(self, origination_date: dt.date, withdrawal_days: int = ...
                            ) -> dt.date: ...


@dataclass(frozen=True)
class WithdrawalResult:
    """What a withdrawal did (minor units of ``currency``)."""

    withdrawal_id: str
    account_id: str
    customer_id: str
    currency: str
    withdrawal_date: dt.date
    deadline: dt.date  # last day of the window (inclusive)
    days_used: int
    principal_minor: int  # principal of the agreement (after merchant refunds)
    interest_minor: int  # interest for the days used: the only charge
    paid_before_minor: int  # what the consumer had already paid on the account
    amount_due_minor: int  # taken from the wallet now (net)
    refund_minor: int  # returned to the wallet now (net)
    fees_reversed_minor: int  # every fee charged to the consumer, unpaid or paid
    penalty_reversed_minor: int
    interest_reversed_minor: int  # interest posted beyond the days used
    merchant_fee_reversed_minor: int  # merchant-paid plan fee, no longer earned
    limit_restored_minor: int
    status: str  # the account's status afterwards: closed

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["withdrawal_date"] = self.withdrawal_date.isoformat()
        data["deadline"] = self.deadline.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WithdrawalResult:
        return cls(**{**data, "withdrawal_date": dt.date.fromisoformat(data["withdrawal_date"]),
                      "deadline": dt.date.fromisoformat(data["deadline"])})


def _check_source(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError("must be the wallet's ledger account id",
                              field="source_account_id")
    return value


def _history(tx: Tx, account: dict[str, Any]) -> tuple[list[tuple[dt.date, int]], int]:
    """Repayments made on ``account`` since it opened: ``[(date, principal + interest +
    penalty paid)]`` and the fees paid, from the repayment records (customer repayments
    carry a per-account breakdown; auto-debits one account each)."""
    c = credit_repayments.c
    since = dt.datetime.combine(account["opened_on"], dt.time.min, tzinfo=dt.UTC)
    rows = tx.conn.execute(select(c.result, c.created_at).where(
        c.customer_id == account["customer_id"], c.currency == account["currency"],
        c.created_at >= since, c.channel != CHANNEL).order_by(c.created_at).limit(REPAYMENTS_MAX + 1)).all()
    events: list[tuple[dt.date, int]] = []
    fees = 0
    for result, created_at in rows:
        parts = [p for p in (result.get("accounts") or ())
                 if p.get("account_id") == account["account_id"]]
        if result.get("account_id") == account["account_id"]:  # auto-debit record
            parts = [{name: result.get(f"{name}_minor", 0)
                      for name in ("principal", "interest", "fee", "penalty")}]
        for part in parts:
            amount = part.get("principal", 0) + part.get("interest", 0) + \
                part.get("penalty", 0)
            fees += part.get("fee", 0)
            when = created_at.date()
            if amount:
                events.append((min(max(when, account["opened_on"]), tx.today), amount))
    if len(events) > REPAYMENTS_MAX:
        raise StateError("too many repayments to withdraw automatically; contact support",
                         field="account_id", rule="withdrawal.too_many_repayments")
    return events, fees


def _stored(tx: Tx, record_id: str, fingerprint: str, withdrawal_id: str
            ) -> WithdrawalResult | None:
    stored = find_replay(tx.conn, credit_repayments.c.repayment_id, record_id, fingerprint,
                         field="withdrawal_id",
                         conflict=f"withdrawal {withdrawal_id} exists with other content")
    if stored is None:
        return None
    return WithdrawalResult.from_dict(stored["result"])


def withdraw(tx: Tx, *, account_id: str, customer_id: str, withdrawal_id: str,
             source_account_id: int, withdrawal_days: int, rule: WithdrawalRule,
             catalogue: P.Catalogue) -> WithdrawalResult:
    """Withdraw ``customer_id`` from the plan or cash loan ``account_id`` today
    (``tx.today``), paying from ledger account ``source_account_id`` (the wallet), with the
    amount and window of ``rule`` over ``withdrawal_days`` days. The consumer's use case is
    :func:`creditpay.protection.credit_withdrawal.withdraw`, which passes the rule in.

    Refused: after the window (StateError on ``withdrawal_date``, rule
    ``withdrawal.window_closed``, naming the window and its last day); for a revolving line,
    an account not active, or another customer's account (NotFoundError on ``account_id``);
    short wallet (InsufficientFundsError on ``source_account_id``). A retry with the same
    ``withdrawal_id`` returns the first result; with other content,
    IdempotencyConflictError on ``withdrawal_id``.
    """
    check_id(withdrawal_id, "withdrawal_id")
    if len(withdrawal_id) > WITHDRAWAL_ID_MAX:
        raise ValidationError(f"must be at most {WITHDRAWAL_ID_MAX} characters",
                              field="withdrawal_id")
    check_id(account_id, "account_id")
    check_id(customer_id, "customer_id")
    _check_source(source_account_id)
    fingerprint = request_hash(kind=CHANNEL, account_id=account_id, customer_id=customer_id,
                               source=source_account_id, withdrawal_days=withdrawal_days)
    record_id = ID_PREFIX + withdrawal_id
    stored = _stored(tx, record_id, fingerprint, withdrawal_id)
    if stored is not None:
        return stored
    try:
        account = load_account(tx.conn, account_id, lock=True)
    except NotFoundError:
        account = None
    if account is None or account["customer_id"] != customer_id:
        raise NotFoundError(f"no credit account {account_id!r}", field="account_id")
    # A concurrent retry may have committed while this one waited for the account's lock.
    stored = _stored(tx, record_id, fingerprint, withdrawal_id)
    if stored is not None:
        return stored
    if account["kind"] == "line":
        raise StateError("a revolving line has no withdrawal period; repay or close it",
                         field="account_id", rule="withdrawal.not_a_credit_agreement")
    if account["status"] != "active":
        raise StateError(f"the account is {account['status']}", field="account_id",
                         rule="withdrawal.account_not_active")
    currency = account["currency"]
    wallet = L.get_account(tx.conn, source_account_id)
    if wallet.currency != currency:
        raise ValidationError(f"is a {wallet.currency} account", field="source_account_id")
    today = tx.today
    events, fees_paid = _history(tx, account)
    rate = Decimal(0) if account["interest_base"] == 0 else \
        Decimal(account["interest_rate_micro"]) / MICRO
    try:
        quote = rule.withdrawal_amount(
            account["principal_original_minor"], rate, account["opened_on"], today,
            withdrawal_days=withdrawal_days, day_count=product_of(account, catalogue).day_count,
            repayments=events, fees_paid_minor=fees_paid)
    except StateError as exc:
        deadline = rule.withdrawal_deadline(account["opened_on"], withdrawal_days)
        raise StateError(exc.detail, field=exc.field, rule=exc.extra.get("rule"),
                         withdrawal_days=withdrawal_days, deadline=deadline.isoformat(),
                         opened_on=account["opened_on"].isoformat()) from None

    # What the account holds now, by component (posted and unpaid, and posted lifetime).
    items = load_items(tx.conn, account["seq"])
    open_items = [i for i in items if i.status in OPEN_STATUSES]
    billed = [i for i in open_items if i.status != "scheduled"]
    principal_out = sum(i.principal_due for i in open_items)
    interest_unpaid = sum(i.interest_due for i in billed)
    fee_unpaid = sum(i.fee_due for i in billed) + account["late_fee_unpaid_minor"]
    penalty_unpaid = account["penalty_unpaid_minor"]
    interest_posted = account["interest_posted_minor"]
    fee_paid = account["fee_posted_minor"] - fee_unpaid
    penalty_paid = account["penalty_posted_minor"] - penalty_unpaid
    principal_paid = account["principal_original_minor"] - principal_out
    interest_paid = interest_posted - interest_unpaid
    if fees_paid != fee_paid or quote.paid_minor != (
            principal_paid + interest_paid + fee_paid + penalty_paid):
        # The records disagree with the balances (e.g. a merchant refund returned repaid
        # principal): a person must look before money moves.
        raise StateError("the account's history cannot be reconciled for an automatic"
                         " withdrawal; contact support", field="account_id",
                         rule="withdrawal.unreconciled")

    platform = platform_ledger_accounts(tx, currency)
    tag = f"credit:withdraw:{withdrawal_id}"
    refunds: list[L.TransferRequest] = []
    settle: list[L.TransferRequest] = []

    def move(suffix: str, code: str, debit: int, credit: int, amount: int,
             into: list[L.TransferRequest]) -> None:
        if amount:
            into.append(transfer(f"{tag}:{suffix}", code, debit, credit, amount, account_id))

    for which, unpaid, paid in (("fee", fee_unpaid, fee_paid),
                                ("penalty", penalty_unpaid, penalty_paid)):
        income = platform[INCOME_CODES[which]]
        move(f"{which}_reversal", f"credit.{which}_reversal", income,
             account[f"{which}_account_id"], unpaid, settle)
        move(f"{which}_refund", "credit.withdrawal_refund", income, source_account_id, paid,
             refunds)
    merchant_fee = account["subsidy_fee_minor"]
    move("subsidy", "credit.merchant_subsidy_reversal", platform["fee_income"],
         platform["subsidy_receivable"], merchant_fee, settle)
    delta = quote.interest_minor - interest_posted
    interest_reversed = interest_refund = 0
    if delta > 0:
        move("interest", "credit.interest_posted", account["interest_account_id"],
             platform["interest_income"], delta, settle)
    elif delta < 0:
        interest_reversed = min(-delta, interest_unpaid)
        interest_refund = -delta - interest_reversed
        move("interest_reversal", "credit.interest_reversal", platform["interest_income"],
             account["interest_account_id"], interest_reversed, settle)
        move("interest_refund", "credit.withdrawal_refund", platform["interest_income"],
             source_account_id, interest_refund, refunds)
    interest_due = quote.interest_minor - interest_paid if delta >= 0 else \
        interest_unpaid - interest_reversed
    move("principal", "credit.withdrawal", source_account_id, account["principal_account_id"],
         principal_out, settle)
    move("interest_paid", "credit.withdrawal", source_account_id,
         account["interest_account_id"], interest_due, settle)
    limit_restored = principal_out if account["line_available_account_id"] else 0
    move("limit", "credit.limit_restore", platform["credit_limit_control"],
         account["line_available_account_id"] or 0, limit_restored, settle)
    net = principal_out + interest_due - fee_paid - penalty_paid - interest_refund
    assert net == quote.amount_due_minor - quote.refund_due_minor, (net, quote)
    try:
        post(tx, refunds + settle)
    except InsufficientFundsError:
        raise InsufficientFundsError(
            f"the wallet needs {quote.amount_due_minor} to withdraw", field="source_account_id",
            amount_due_minor=quote.amount_due_minor) from None

    for item in open_items:
        item.status, item.dirty = "cancelled", True
    save_items(tx, account["seq"], items)
    account = refresh_account(
        tx, account, items, today,
        catalogue=catalogue, penalty_unpaid_minor=0, late_fee_unpaid_minor=0,
        interest_accrual_num=0, penalty_accrual_num=0,
        interest_posted_minor=quote.interest_minor, penalty_posted_minor=0,
        fee_posted_minor=0, subsidy_fee_minor=0)
    assert account["status"] == "closed", account["status"]
    result = WithdrawalResult(
        withdrawal_id=withdrawal_id, account_id=account_id, customer_id=customer_id,
        currency=currency, withdrawal_date=today, deadline=quote.deadline,
        days_used=quote.days_used, principal_minor=quote.principal_minor,
        interest_minor=quote.interest_minor, paid_before_minor=quote.paid_minor,
        amount_due_minor=quote.amount_due_minor, refund_minor=quote.refund_due_minor,
        fees_reversed_minor=fee_unpaid + fee_paid,
        penalty_reversed_minor=penalty_unpaid + penalty_paid,
        interest_reversed_minor=interest_reversed + interest_refund,
        merchant_fee_reversed_minor=merchant_fee, limit_restored_minor=limit_restored,
        status=account["status"])
    tx.conn.execute(credit_repayments.insert(), {
        "repayment_id": record_id, "request_hash": fingerprint, "customer_id": customer_id,
        "currency": currency, "amount_minor": quote.amount_due_minor, "channel": CHANNEL,
        "result": result.as_dict(), "created_at": tx.now})
    payload = result.as_dict()
    audit.append(tx, "customer", customer_id, "credit.withdrawal", "credit_account",
                 account_id, payload)
    tx.emit("credit.account.withdrawn", "credit_account", account_id, payload)
    return result


def account_currency(conn: Any, account_id: str, customer_id: str) -> str:
    """The currency of ``customer_id``'s credit account ``account_id`` (to find the wallet
    to pay from); another customer's account is NotFoundError, as in :func:`withdraw`."""
    check_id(account_id, "account_id")
    try:
        account = load_account(conn, account_id)
    except NotFoundError:
        account = None
    if account is None or account["customer_id"] != customer_id:
        raise NotFoundError(f"no credit account {account_id!r}", field="account_id")
    return str(account["currency"])
