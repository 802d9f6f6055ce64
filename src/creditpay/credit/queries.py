"""Public reads of the credit book for reports above the domains (reporting).

Nothing outside credit imports :mod:`creditpay.credit.tables`; regulatory reports and
provisions read the book here, each function a fixed number of set-based statements
(no per-account query); so does the data-subject export and erasure
(:mod:`creditpay.reporting.subject_rights`): one customer's lines, repayments and
affordability checks, the credit still open and the last credit activity. Rows that carry the whole ``credit_accounts`` row are plain
mappings, because :func:`creditpay.credit.plans.accrued_minor` reads them as such.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from creditpay.credit.tables import (
    affordability_checks,
    credit_accounts,
    credit_authorisations,
    credit_cob_runs,
    credit_installments,
    credit_lines,
    credit_purchases,
    credit_repayments,
)

__all__ = ["last_closed_business_date", "BookRows", "LineRow", "book_rows",
           "PurchaseRow", "purchases_between", "LoanOpened", "loans_opened_between",
           "installment_flows", "IN_CHUNK", "CustomerLine", "customer_lines",
           "CustomerRepayment", "customer_repayments", "AffordabilityRecord",
           "customer_affordability_checks", "OpenCredit", "open_credit",
           "last_credit_activity"]

IN_CHUNK = 1_000  # ids per IN (...) list: well under both stores' parameter limits


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start:start + IN_CHUNK]


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def last_closed_business_date(conn: Connection) -> dt.date | None:
    """The latest business date whose close of business is done (None if none is)."""
    value: dt.date | None = conn.execute(select(func.max(credit_cob_runs.c.business_date))
                                         .where(credit_cob_runs.c.status == "done")
                                         ).scalar_one()
    return value


@dataclass(frozen=True)
class LineRow:
    line_id: str
    status: str
    available_account_id: int  # the ledger account of what is left to draw


@dataclass(frozen=True)
class BookRows:
    """The whole book in one read: every ``credit_accounts`` row (in ``seq`` order, as
    mappings of its columns), the unpaid interest and fees of billed and past-due
    installments per account ``seq``, the last due date of the open installments per
    ``seq``, and the lines by id. Amounts in minor units."""

    accounts: list[dict[str, Any]]
    open_due: dict[int, tuple[int, int]]  # seq -> (interest_minor, fee_minor)
    last_due: dict[int, dt.date]
    lines: dict[str, LineRow]


def book_rows(conn: Connection) -> BookRows:
    """Every credit account with what reports need beside it (four statements)."""
    a, i, ln = credit_accounts.c, credit_installments.c, credit_lines.c
    accounts = [dict(r) for r in conn.execute(select(credit_accounts).order_by(a.seq))
                .mappings()]
    open_due = {int(seq): (int(interest), int(fee)) for seq, interest, fee in conn.execute(
        select(i.account_seq,
               func.coalesce(func.sum(i.interest_minor - i.interest_paid_minor), 0),
               func.coalesce(func.sum(i.fee_minor - i.fee_paid_minor), 0))
        .where(i.status.in_(("billed", "past_due"))).group_by(i.account_seq))}
    last_due = {int(seq): due for seq, due in conn.execute(
        select(i.account_seq, func.max(i.due_date))
        .where(i.status.in_(("scheduled", "billed", "past_due")))
        .group_by(i.account_seq))}
    lines = {r.line_id: LineRow(r.line_id, r.status, int(r.available_account_id))
             for r in conn.execute(select(ln.line_id, ln.status, ln.available_account_id))}
    return BookRows(accounts, open_due, last_due, lines)


@dataclass(frozen=True)
class PurchaseRow:
    """A purchase on credit (line or plan) as captured; ``offer``: the accepted offer the
    authorisation stored; ``created_at`` aware UTC."""

    purchase_id: str
    customer_id: str
    currency: str
    funding: str
    amount_minor: int
    created_at: dt.datetime
    offer: dict[str, Any]


def purchases_between(conn: Connection, begin: dt.datetime, stop: dt.datetime
                      ) -> list[PurchaseRow]:
    """Purchases created in ``[begin, stop)``, oldest first (one statement)."""
    p, au = credit_purchases.c, credit_authorisations.c
    return [PurchaseRow(r.purchase_id, r.customer_id, r.currency, r.funding,
                        int(r.amount_minor), _aware(r.created_at), dict(r.offer or {}))
            for r in conn.execute(
                select(p.purchase_id, p.customer_id, p.currency, p.funding, p.amount_minor,
                       p.created_at, au.offer)
                .join(credit_authorisations, au.authorisation_id == p.authorisation_id)
                .where(p.created_at >= begin, p.created_at < stop).order_by(p.created_at))]


@dataclass(frozen=True)
class LoanOpened:
    seq: int
    customer_id: str
    currency: str
    product_code: str
    principal_original_minor: int
    opened_on: dt.date


def loans_opened_between(conn: Connection, start: dt.date, end: dt.date
                         ) -> list[LoanOpened]:
    """Cash loans opened on a day in ``[start, end]``, in account order."""
    a = credit_accounts.c
    return [LoanOpened(int(r.seq), r.customer_id, r.currency, r.product_code,
                       int(r.principal_original_minor), r.opened_on)
            for r in conn.execute(select(a.seq, a.customer_id, a.currency, a.product_code,
                                         a.principal_original_minor, a.opened_on)
                                  .where(a.kind == "loan", a.opened_on >= start,
                                         a.opened_on <= end)
                                  .order_by(a.seq))]


def installment_flows(conn: Connection, seqs: Iterable[int]
                      ) -> dict[int, list[tuple[dt.date, int]]]:
    """Per account ``seq``: ``(due_date, principal + interest + fee)`` of every installment
    not cancelled, in installment order (one statement per ``IN_CHUNK`` accounts)."""
    i = credit_installments.c
    found: dict[int, list[tuple[dt.date, int]]] = {}
    for chunk in _chunks(sorted(set(seqs))):
        for r in conn.execute(select(i.account_seq, i.due_date, i.principal_minor,
                                     i.interest_minor, i.fee_minor)
                              .where(i.account_seq.in_(chunk), i.status != "cancelled")
                              .order_by(i.account_seq, i.number)):
            found.setdefault(int(r.account_seq), []).append(
                (r.due_date, int(r.principal_minor + r.interest_minor + r.fee_minor)))
    return found


# ------------------------------------------------------------- one customer (subject rights)
@dataclass(frozen=True)
class CustomerLine:
    """A credit line of the customer as granted: ``limit_minor`` in minor units of
    ``currency``; ``created_at`` aware UTC."""

    line_id: str
    currency: str
    product_code: str
    product_version: int
    limit_minor: int
    status: str  # active | frozen | closed
    created_at: dt.datetime


def customer_lines(conn: Connection, customer_id: str, *, limit: int) -> list[CustomerLine]:
    """The customer's credit lines, oldest first, at most ``limit`` (one statement)."""
    ln = credit_lines.c
    return [CustomerLine(r.line_id, r.currency, r.product_code, r.product_version,
                         r.limit_minor, r.status, _aware(r.created_at))
            for r in conn.execute(select(ln.line_id, ln.currency, ln.product_code,
                                         ln.product_version, ln.limit_minor, ln.status,
                                         ln.created_at)
                                  .where(ln.customer_id == customer_id)
                                  .order_by(ln.created_at).limit(limit))]


@dataclass(frozen=True)
class CustomerRepayment:
    """A repayment the customer made (``channel`` customer or auto_debit); amount in minor
    units of ``currency``; ``created_at`` aware UTC."""

    repayment_id: str
    currency: str
    amount_minor: int
    channel: str
    created_at: dt.datetime


def customer_repayments(conn: Connection, customer_id: str, *, limit: int
                        ) -> list[CustomerRepayment]:
    """The customer's repayments, oldest first, at most ``limit`` (one statement)."""
    r = credit_repayments.c
    return [CustomerRepayment(row.repayment_id, row.currency, row.amount_minor, row.channel,
                              _aware(row.created_at))
            for row in conn.execute(select(r.repayment_id, r.currency, r.amount_minor,
                                           r.channel, r.created_at)
                                    .where(r.customer_id == customer_id)
                                    .order_by(r.created_at).limit(limit))]


@dataclass(frozen=True)
class AffordabilityRecord:
    """One affordability check of the customer (:mod:`creditpay.credit.affordability`):
    ``kind`` new_credit or limit_increase, ``reference`` the offer, application or line it
    was for, the names of the rules that failed; ``checked_at`` aware UTC."""

    id: int
    kind: str
    reference: str
    passed: bool
    failed_rules: list[str]
    policy_version: int
    checked_at: dt.datetime


def customer_affordability_checks(conn: Connection, customer_id: str, *, limit: int
                                  ) -> list[AffordabilityRecord]:
    """The customer's affordability checks in the order they were made, at most ``limit``
    (one statement)."""
    f = affordability_checks.c
    return [AffordabilityRecord(r.id, r.kind, r.reference, r.passed, r.failed_rules,
                                r.policy_version, _aware(r.checked_at))
            for r in conn.execute(select(f.id, f.kind, f.reference, f.passed,
                                         f.failed_rules, f.policy_version, f.checked_at)
                                  .where(f.customer_id == customer_id)
                                  .order_by(f.id).limit(limit))]


@dataclass(frozen=True)
class OpenCredit:
    """Credit of a customer still in force, which keeps the lender's records.

    ``kind``: ``account_owing`` (an active account owes ``amount_minor``, or still accrues
    interest or penalty), ``account_recoverable`` (a written-off account with
    ``amount_minor`` not recovered yet) or ``line_available`` (a line not closed with a limit
    of ``amount_minor`` left to draw on). ``ref``: the account or line id."""

    kind: str
    ref: str
    status: str
    amount_minor: int


def open_credit(conn: Connection, customer_id: str) -> list[OpenCredit]:
    """What credit of the customer is still in force: accounts in account order, then lines
    in creation order (two statements)."""
    a, ln = credit_accounts.c, credit_lines.c
    found = []
    for r in conn.execute(select(a.account_id, a.status, a.principal_unbilled_minor,
                                 a.principal_billed_minor, a.principal_past_due_minor,
                                 a.penalty_unpaid_minor, a.late_fee_unpaid_minor,
                                 a.interest_accrual_num, a.penalty_accrual_num,
                                 a.written_off_minor, a.recovered_minor)
                          .where(a.customer_id == customer_id).order_by(a.seq)):
        if r.status == "active":
            owed = int(r.principal_unbilled_minor + r.principal_billed_minor
                       + r.principal_past_due_minor + r.penalty_unpaid_minor
                       + r.late_fee_unpaid_minor)
            # interest or penalty still accruing is owed too, if not yet a whole minor unit
            if owed or r.interest_accrual_num or r.penalty_accrual_num:
                found.append(OpenCredit("account_owing", r.account_id, r.status, owed))
        elif r.status == "written_off" and r.written_off_minor > r.recovered_minor:
            found.append(OpenCredit("account_recoverable", r.account_id, r.status,
                                    int(r.written_off_minor - r.recovered_minor)))
    for line in conn.execute(select(ln.line_id, ln.status, ln.limit_minor)
                             .where(ln.customer_id == customer_id)
                             .order_by(ln.created_at, ln.line_id)):
        if line.status != "closed" and line.limit_minor > 0:
            found.append(OpenCredit("line_available", line.line_id, line.status,
                                    int(line.limit_minor)))
    return found


def last_credit_activity(conn: Connection, customer_id: str) -> dt.datetime | None:
    """The latest change of any of the customer's credit accounts or lines or repayment,
    aware UTC; None when the customer never had credit (one statement)."""
    a, ln, r = credit_accounts.c, credit_lines.c, credit_repayments.c
    row = conn.execute(select(
        select(func.max(a.updated_at)).where(a.customer_id == customer_id).scalar_subquery(),
        select(func.max(ln.updated_at)).where(ln.customer_id == customer_id)
        .scalar_subquery(),
        select(func.max(r.created_at)).where(r.customer_id == customer_id)
        .scalar_subquery())).one()
    known = [_aware(value) for value in row if value is not None]
    return max(known) if known else None
