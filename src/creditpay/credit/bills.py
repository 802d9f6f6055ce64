"""What every owing account of the book takes to pay today, in two statements.

:func:`bills_owed` is the batch form of reading each owing account
(:func:`creditpay.credit.accounts_repo.load_account`) and what it owes without its unbilled
principal (:func:`creditpay.credit.repayments.amount_owed` with ``include_unbilled=False``):
the simulated consumers look at their bills every day, and one read per account (its row,
then its installments) was most of that look. Read-only; amounts in minor units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select

from creditpay.credit.plans import accrued_payable_minor, bill_minor
from creditpay.credit.tables import credit_accounts, credit_installments

__all__ = ["AccountBill", "bills_owed"]


@dataclass(frozen=True, slots=True)
class AccountBill:
    """An active account that owes something billed or is past due."""

    account_id: str
    customer_id: str
    kind: str  # line | plan | loan
    dpd: int
    # amount_owed(include_unbilled=False): billed and past-due installments, posted unpaid
    # penalty and late fees, and the interest and penalty accrued but not yet posted
    # (credit.plans.bill_minor).
    owed_minor: int
    accrued_minor: int  # credit.plans.accrued_payable_minor


def bills_owed(conn: Any, currency: str) -> list[AccountBill]:
    """Every active account in ``currency`` whose billed and past-due principal plus posted
    unpaid charges is above zero, or that is past due (``dpd > 0``), in book order (the
    account's internal key), with what paying it today takes (:class:`AccountBill`)."""
    due_by_seq: dict[int, int] = dict(conn.execute(_BILLED_DUE, {"currency": currency}).all())
    bills = []
    for row in conn.execute(_ACTIVE_ACCOUNTS, {"currency": currency}).mappings():
        # The portfolio's billed_unpaid_minor (credit.service.portfolio).
        billed_unpaid = (row["principal_billed_minor"] + row["principal_past_due_minor"]
                         + row["penalty_unpaid_minor"] + row["late_fee_unpaid_minor"])
        if not (billed_unpaid > 0 or row["dpd"] > 0):
            continue
        owed = bill_minor(row, int(due_by_seq.get(row["seq"], 0)))
        bills.append(AccountBill(row["account_id"], row["customer_id"], row["kind"],
                                 row["dpd"], owed, accrued_payable_minor(row)))
    return bills


# Constant statements (built once; read daily).
_a, _i = credit_accounts.c, credit_installments.c
_ACTIVE_ACCOUNTS = select(
    _a.seq, _a.account_id, _a.customer_id, _a.kind, _a.dpd, _a.principal_billed_minor,
    _a.principal_past_due_minor, _a.penalty_unpaid_minor, _a.late_fee_unpaid_minor,
    _a.interest_accrual_num, _a.penalty_accrual_num, _a.year_basis_days).where(
    _a.currency == bindparam("currency"), _a.status == "active").order_by(_a.seq)
# Per account, the sum of Item.total_due over its billed and past-due installments (what
# amount_owed adds up from load_items); integers, so the sum is exact in SQL.
_BILLED_DUE = select(_i.account_seq, func.sum(
    _i.principal_minor - _i.principal_paid_minor + _i.interest_minor
    - _i.interest_paid_minor + _i.fee_minor - _i.fee_paid_minor)).select_from(
    credit_installments.join(credit_accounts, credit_accounts.c.seq == _i.account_seq)).where(
    _a.currency == bindparam("currency"), _a.status == "active",
    _i.status.in_(("billed", "past_due"))).group_by(_i.account_seq)
