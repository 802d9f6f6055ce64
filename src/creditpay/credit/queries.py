"""Public bulk reads of the credit book for reports above the domains (reporting).

Nothing outside credit imports :mod:`creditpay.credit.tables`; regulatory reports and
provisions read the book here, each function a fixed number of set-based statements
(no per-account query). Rows that carry the whole ``credit_accounts`` row are plain
mappings, because :func:`creditpay.credit.plans.accrued_minor` reads them as such.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from creditpay.credit.tables import (
    credit_accounts,
    credit_authorisations,
    credit_cob_runs,
    credit_installments,
    credit_lines,
    credit_purchases,
)

__all__ = ["last_closed_business_date", "BookRows", "LineRow", "book_rows",
           "PurchaseRow", "purchases_between", "LoanOpened", "loans_opened_between",
           "installment_flows", "IN_CHUNK"]

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
