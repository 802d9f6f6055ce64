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

from sqlalchemy import Connection, func, select

from creditpay.credit.plans import accrued_minor
from creditpay.credit.queries import book_rows
from creditpay.credit.tables import credit_day_end_positions
from creditpay.ledger.queries import posted_net_credits

__all__ = ["Position", "live_positions", "record_day_end", "stored_positions",
           "day_end_dates", "RATE_MICRO"]

RATE_MICRO = 1_000_000  # interest rates are stored as integer millionths
INSERT_CHUNK = 5_000  # rows per executemany


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


def _live(conn: Connection) -> list[tuple[int, Position]]:
    book = book_rows(conn)
    rows, due, last_due, lines = book.accounts, book.open_due, book.last_due, book.lines
    # credit_line_available is credit-normal: granted minus used (posted)
    available = posted_net_credits(conn, (line.available_account_id
                                          for line in lines.values()))
    found = []
    for row in rows:
        interest_due, fee_due = due.get(int(row["seq"]), (0, 0))
        undrawn = 0
        if row["kind"] == "line" and row["status"] == "active":
            line = lines.get(row["account_id"])
            if line is not None and line.status == "active":
                undrawn = max(0, available.get(line.available_account_id, 0))
        live = row["status"] == "active"
        found.append((int(row["seq"]), Position(
            account_id=row["account_id"], kind=row["kind"], customer_id=row["customer_id"],
            currency=row["currency"], product_code=row["product_code"],
            product_version=int(row["product_version"]), status=row["status"],
            opened_on=row["opened_on"], dpd=int(row["dpd"]), bucket=row["bucket"],
            principal_minor=(row["principal_unbilled_minor"] + row["principal_billed_minor"]
                             + row["principal_past_due_minor"]) if live else 0,
            interest_due_minor=interest_due if live else 0,
            fee_due_minor=(fee_due + row["late_fee_unpaid_minor"]) if live else 0,
            penalty_due_minor=row["penalty_unpaid_minor"] if live else 0,
            accrued_minor=(accrued_minor(row, "interest") + accrued_minor(row, "penalty"))
            if live else 0,
            written_off_minor=int(row["written_off_minor"]),
            recovered_minor=int(row["recovered_minor"]),
            written_off_on=row["written_off_on"],
            interest_rate=Decimal(int(row["interest_rate_micro"])) / RATE_MICRO,
            line_id=row["line_id"], undrawn_minor=undrawn,
            last_due_date=last_due.get(int(row["seq"])))))
    return found


def live_positions(conn: Connection) -> list[Position]:
    """Every credit account as its rows stand now, in account order (read-only)."""
    return [position for _, position in _live(conn)]


def record_day_end(conn: Connection, business_date: dt.date) -> int:
    """Store every account's position as the end of ``business_date``'s close of business;
    the number of rows written. A date already stored is left as it is (0): the first
    record of a date is its end of day, and a re-run must not move it."""
    c = credit_day_end_positions.c
    if conn.execute(select(c.account_seq).where(c.business_date == business_date)
                    .limit(1)).first() is not None:
        return 0
    rows = []
    for seq, p in _live(conn):
        rows.append({
            "business_date": business_date, "account_seq": seq, "account_id": p.account_id,
            "kind": p.kind, "customer_id": p.customer_id, "currency": p.currency,
            "product_code": p.product_code, "product_version": p.product_version,
            "status": p.status, "opened_on": p.opened_on, "dpd": p.dpd, "bucket": p.bucket,
            "principal_minor": p.principal_minor, "interest_due_minor": p.interest_due_minor,
            "fee_due_minor": p.fee_due_minor, "penalty_due_minor": p.penalty_due_minor,
            "accrued_minor": p.accrued_minor, "written_off_minor": p.written_off_minor,
            "recovered_minor": p.recovered_minor, "written_off_on": p.written_off_on,
            # exact: the rate came from an integer number of millionths
            "interest_rate_micro": int(p.interest_rate * RATE_MICRO),
            "line_id": p.line_id, "undrawn_minor": p.undrawn_minor,
            "last_due_date": p.last_due_date})
    for start in range(0, len(rows), INSERT_CHUNK):
        conn.execute(credit_day_end_positions.insert(), rows[start:start + INSERT_CHUNK])
    return len(rows)


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
