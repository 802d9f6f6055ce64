"""Day-end positions: every credit account's balances at the end of a close of business.

The accounts' rows hold only today's state. Reports for an earlier business date (the daily
and monthly regulatory reports, the provision run) need the balances as they stood when that
date closed, so the close of business stores them (:func:`record_day_end`, in the
transaction that marks the date done) and :func:`positions_at` reads them back. Dates closed
before the table existed have no rows; for the last closed date the live state is still its
end-of-day state when nothing has moved since, which :func:`positions_at` uses only then.

Amounts are integers in minor units of the account's currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Connection, Date, Select, and_, case, func, literal, select

from creditpay.credit.plans import MICRO
from creditpay.credit.tables import (
    credit_accounts,
    credit_day_end_positions,
    credit_installments,
    credit_lines,
)
from creditpay.ledger.queries import net_credits_of

__all__ = ["Position", "live_positions", "record_day_end", "stored_positions",
           "day_end_dates", "delinquent_days", "RATE_MICRO"]

RATE_MICRO = 1_000_000  # interest rates are stored as integer millionths


@dataclass(frozen=True, slots=True)
class Position:
    """One credit account at the end of a close of business (minor units)."""

    account_id: str
    kind: str  # line | plan | loan
    customer_id: str
    currency: str
    product_code: str
    product_version: int
    status: str  # active | closed | written_off
    opened_on: dt.date
    dpd: int
    bucket: str
    principal_minor: int
    interest_due_minor: int  # posted, unpaid (billed / past-due installments)
    fee_due_minor: int  # installment fees posted and unpaid, plus unpaid late fees
    penalty_due_minor: int  # posted penalty interest, unpaid
    accrued_minor: int  # interest + penalty accrued, not yet posted (whole minor units)
    written_off_minor: int
    recovered_minor: int
    written_off_on: dt.date | None
    interest_rate: Decimal  # nominal yearly rate copied at origination
    line_id: str | None
    undrawn_minor: int  # line accounts of an active line: its available credit; else 0
    last_due_date: dt.date | None  # last open installment's due date (plans and loans)

    @property
    def receivable_minor(self) -> int:
        """Posted and unpaid: principal, interest, fees and penalty."""
        return (self.principal_minor + self.interest_due_minor + self.fee_due_minor
                + self.penalty_due_minor)

    @property
    def total_minor(self) -> int:
        """Everything owed: posted and unpaid plus accrued."""
        return self.receivable_minor + self.accrued_minor


def _positions_query(business_date: dt.date | None) -> Select[Any]:
    """One statement computing every account's position from its rows, in account order:
    the columns of ``credit_day_end_positions`` (``business_date`` a literal, or NULL for a
    live read). Set-based, so the close of business stores a million positions without
    bringing them into Python; the arithmetic is the servicing's, in integers: principal =
    unbilled + billed + past due, posted unpaid interest and fees of billed and past-due
    installments, accrual numerators rounded half-up to whole minor units (numerators are
    never negative, so integer division is floor division on both stores), the undrawn part
    of an active line (its ledger account of available credit, never below 0). Closed and
    written-off accounts owe nothing here."""
    a, i, ln = credit_accounts.c, credit_installments.c, credit_lines.c
    due = (select(i.account_seq.label("seq"),
                  func.sum(i.interest_minor - i.interest_paid_minor).label("interest"),
                  func.sum(i.fee_minor - i.fee_paid_minor).label("fee"))
           .where(i.status.in_(("billed", "past_due"))).group_by(i.account_seq).subquery())
    last = (select(i.account_seq.label("seq"), func.max(i.due_date).label("day"))
            .where(i.status.in_(("scheduled", "billed", "past_due")))
            .group_by(i.account_seq).subquery())
    live = a.status == "active"
    denominator = literal(MICRO, BigInteger) * a.year_basis_days  # plans.accrual_denominator

    def owed(value: Any) -> Any:
        return case((live, value), else_=0)

    def half_up(numerator: Any) -> Any:
        return (2 * numerator + denominator) // (2 * denominator)

    available = net_credits_of(ln.available_account_id)
    undrawn = case((and_(a.kind == "line", live, ln.status == "active", available > 0),
                    available), else_=0)
    return (select(
        literal(business_date, Date).label("business_date"), a.seq.label("account_seq"),
        a.account_id, a.kind, a.customer_id, a.currency, a.product_code, a.product_version,
        a.status, a.opened_on, a.dpd, a.bucket,
        owed(a.principal_unbilled_minor + a.principal_billed_minor
             + a.principal_past_due_minor).label("principal_minor"),
        owed(func.coalesce(due.c.interest, 0)).label("interest_due_minor"),
        owed(func.coalesce(due.c.fee, 0) + a.late_fee_unpaid_minor).label("fee_due_minor"),
        owed(a.penalty_unpaid_minor).label("penalty_due_minor"),
        owed(half_up(a.interest_accrual_num) + half_up(a.penalty_accrual_num))
        .label("accrued_minor"),
        a.written_off_minor, a.recovered_minor, a.written_off_on, a.interest_rate_micro,
        a.line_id, undrawn.label("undrawn_minor"), last.c.day.label("last_due_date"))
        .select_from(credit_accounts)
        .outerjoin(due, due.c.seq == a.seq)
        .outerjoin(last, last.c.seq == a.seq)
        # a line's revolving account carries the line's id as its account id
        .outerjoin(credit_lines, and_(a.kind == "line", ln.line_id == a.account_id))
        .order_by(a.seq))


def live_positions(conn: Connection) -> list[Position]:
    """Every credit account as its rows stand now, in account order (read-only)."""
    return [_position(row) for row in conn.execute(_positions_query(None))]


def record_day_end(conn: Connection, business_date: dt.date) -> int:
    """Store every account's position as the end of ``business_date``'s close of business
    (one INSERT ... SELECT); the number of rows written. A date already stored is left as
    it is (0): the first record of a date is its end of day, and a re-run must not move
    it."""
    c = credit_day_end_positions.c
    if conn.execute(select(c.account_seq).where(c.business_date == business_date)
                    .limit(1)).first() is not None:
        return 0
    query = _positions_query(business_date)
    result = conn.execute(credit_day_end_positions.insert().from_select(
        [column.name for column in query.selected_columns], query))
    return int(result.rowcount)


def _position(row: Any) -> Position:
    return Position(
        account_id=row.account_id, kind=row.kind, customer_id=row.customer_id,
        currency=row.currency, product_code=row.product_code,
        product_version=int(row.product_version), status=row.status,
        opened_on=row.opened_on, dpd=int(row.dpd), bucket=row.bucket,
        principal_minor=int(row.principal_minor),
        interest_due_minor=int(row.interest_due_minor), fee_due_minor=int(row.fee_due_minor),
        penalty_due_minor=int(row.penalty_due_minor), accrued_minor=int(row.accrued_minor),
        written_off_minor=int(row.written_off_minor),
        recovered_minor=int(row.recovered_minor), written_off_on=row.written_off_on,
        interest_rate=Decimal(int(row.interest_rate_micro)) / RATE_MICRO,
        line_id=row.line_id, undrawn_minor=int(row.undrawn_minor),
        last_due_date=row.last_due_date)


def stored_positions(conn: Connection, business_date: dt.date) -> list[Position] | None:
    """The positions stored for ``business_date``, in account order; None when that date
    has none (not closed, or closed before day-end positions were kept)."""
    c = credit_day_end_positions.c
    rows = conn.execute(select(credit_day_end_positions).where(
        c.business_date == business_date).order_by(c.account_seq)).all()
    if not rows:
        return None
    return [_position(row) for row in rows]


def day_end_dates(conn: Connection) -> tuple[dt.date | None, dt.date | None]:
    """The first and last business dates with stored positions (None, None: none yet)."""
    c = credit_day_end_positions.c
    first, last = conn.execute(select(func.min(c.business_date),
                                      func.max(c.business_date))).one()
    return first, last


def delinquent_days(conn: Connection, *, currency: str, dpd_min: int, start: dt.date,
                    end: dt.date) -> list[tuple[str, dt.date]]:
    """``(customer_id, business_date)`` of every stored day-end from ``start`` to ``end``
    (inclusive) at which an account of the customer in ``currency`` was ``dpd_min`` or more
    days past due or written off, once per customer and date, in that order: the
    performance history risk's behaviour training set labels its observations from."""
    c = credit_day_end_positions.c
    rows = conn.execute(
        select(c.customer_id, c.business_date)
        .where(c.currency == currency, c.business_date >= start, c.business_date <= end,
               (c.dpd >= dpd_min) | (c.status == "written_off"))
        .group_by(c.customer_id, c.business_date)
        .order_by(c.customer_id, c.business_date)).all()
    return [(str(r.customer_id), r.business_date if isinstance(r.business_date, dt.date)
             else dt.date.fromisoformat(str(r.business_date))) for r in rows]
