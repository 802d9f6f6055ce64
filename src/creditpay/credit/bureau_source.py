"""Credit accounts as they stood at a month end, for credit-bureau reporting (public read).

Bureau reporting (:mod:`creditpay.reporting.bureau_reporting`) reports every account's
month-end state. The accounts' rows hold only today's state, so the month end's figures come
from the day-end positions the close of business stored for that date
(:mod:`creditpay.credit.day_end`), which are never updated; what positions do not keep is
read beside them in the same statement: the principal lent (fixed at origination), the
line's limit, the date the account closed (the first day of the month whose position says
closed), whether the account was still open at the previous month end, and, when the
month end is the last closed business date (the night the nightly reports it), the amount
past due from the live rows, which then are the month end's state. A write-off reversed
since the month end (:mod:`creditpay.credit.write_off_reversal`) is reported as what the
account was before it: active, with the balances the write-off had zeroed.

Amounts are integers in minor units of the account's currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from creditpay.credit.queries import last_closed_business_date
from creditpay.credit.tables import (
    credit_accounts,
    credit_day_end_positions,
    credit_installments,
    credit_lines,
    credit_write_offs,
)

__all__ = ["MonthEndAccount", "month_end_accounts"]


@dataclass(frozen=True, slots=True)
class MonthEndAccount:
    """One credit account at a month end (minor units; dates are business dates).

    ``past_due_minor``: posted and unpaid amounts past their due date at the month end, when
    known exactly (the month end is the last closed business date, or a reversed write-off
    kept them); None otherwise. ``limit_minor``: a line's limit as it stands now (limits keep
    no history); None for plans and loans. ``open_at_previous_month_end``: False when the
    account was already closed at the previous month end's position."""

    account_id: str
    kind: str  # line | plan | loan
    customer_id: str
    currency: str
    product_code: str
    status: str  # active | closed | written_off
    opened_on: dt.date
    dpd: int
    principal_minor: int
    interest_due_minor: int
    fee_due_minor: int
    penalty_due_minor: int
    written_off_minor: int
    recovered_minor: int
    written_off_on: dt.date | None
    principal_original_minor: int
    limit_minor: int | None
    last_due_date: dt.date | None
    closed_on: dt.date | None
    past_due_minor: int | None
    open_at_previous_month_end: bool
    # The kind of hardship arrangement running at the month end (credit.hardship:
    # payment_holiday | reamortisation | reduced_rate), or None.
    hardship_kind: str | None = None


def month_end_accounts(conn: Connection, month_end: dt.date) -> list[MonthEndAccount] | None:
    """Every account with a stored position at ``month_end``, in account order; None when
    that date has no stored positions (not closed yet, or closed before positions were
    kept). Set-based, never per account: the positions with what is read beside them (one
    statement), the reversed write-offs of the written-off accounts (one per 1,000 of
    them), the last closed date and, on the month end's own night, the live past-due
    amounts (one each)."""
    p, a, ln = credit_day_end_positions.c, credit_accounts.c, credit_lines.c
    month_start = month_end.replace(day=1)
    previous_end = month_start - dt.timedelta(days=1)
    closed = (select(p.account_seq.label("seq"), func.min(p.business_date).label("day"))
              .where(p.business_date >= month_start, p.business_date <= month_end,
                     p.status == "closed")
              .group_by(p.account_seq).subquery())
    previous = credit_day_end_positions.alias("previous")
    rows = conn.execute(
        select(p.account_seq, p.account_id, p.kind, p.customer_id, p.currency,
               p.product_code, p.status, p.opened_on, p.dpd, p.principal_minor,
               p.interest_due_minor, p.fee_due_minor, p.penalty_due_minor,
               p.written_off_minor, p.recovered_minor, p.written_off_on, p.last_due_date,
               a.principal_original_minor, ln.limit_minor, closed.c.day.label("closed_on"),
               previous.c.status.label("previous_status"))
        .select_from(credit_day_end_positions)
        .join(credit_accounts, a.seq == p.account_seq)
        .outerjoin(credit_lines, and_(p.kind == "line", ln.line_id == p.account_id))
        .outerjoin(closed, closed.c.seq == p.account_seq)
        .outerjoin(previous, and_(previous.c.business_date == previous_end,
                                  previous.c.account_seq == p.account_seq))
        .where(p.business_date == month_end)
        .order_by(p.account_seq)).all()
    if not rows:
        return None
    reversed_state = _reversed_write_offs(conn, {
        int(row.account_seq): row.written_off_on for row in rows
        if row.status == "written_off" and row.written_off_on is not None})
    live = last_closed_business_date(conn) == month_end
    past_due = _live_past_due(conn) if live else {}
    from creditpay.credit.hardship import arrangements_at

    hardship = arrangements_at(conn, month_end)
    accounts = []
    for row in rows:
        values = _values(row)
        seq = int(row.account_seq)
        values["past_due_minor"] = past_due.get(seq, 0) if live else None
        values["hardship_kind"] = hardship.get(row.account_id)
        state = reversed_state.get(seq)
        if state is not None:
            values.update(_as_before_write_off(values, state))
        accounts.append(MonthEndAccount(**values))
    return accounts


def _values(row: Any) -> dict[str, Any]:
    return {
        "account_id": row.account_id, "kind": row.kind, "customer_id": row.customer_id,
        "currency": row.currency, "product_code": row.product_code, "status": row.status,
        "opened_on": row.opened_on, "dpd": int(row.dpd),
        "principal_minor": int(row.principal_minor),
        "interest_due_minor": int(row.interest_due_minor),
        "fee_due_minor": int(row.fee_due_minor),
        "penalty_due_minor": int(row.penalty_due_minor),
        "written_off_minor": int(row.written_off_minor),
        "recovered_minor": int(row.recovered_minor), "written_off_on": row.written_off_on,
        "principal_original_minor": int(row.principal_original_minor),
        "limit_minor": int(row.limit_minor) if row.limit_minor is not None else None,
        "last_due_date": row.last_due_date,
        "closed_on": row.closed_on if row.status == "closed" else None,
        "open_at_previous_month_end": row.previous_status != "closed"}


def _live_past_due(conn: Connection) -> dict[int, int]:
    """Per account seq: past-due principal, unpaid interest and fees of past-due
    installments, unpaid late fees and penalty (the live rows; set-based)."""
    a, i = credit_accounts.c, credit_installments.c
    items = (select(i.account_seq.label("seq"),
                    func.sum(i.interest_minor - i.interest_paid_minor
                             + i.fee_minor - i.fee_paid_minor).label("charges"))
             .where(i.status == "past_due").group_by(i.account_seq).subquery())
    total = (a.principal_past_due_minor + a.late_fee_unpaid_minor + a.penalty_unpaid_minor
             + func.coalesce(items.c.charges, 0))
    rows = conn.execute(select(a.seq, case((a.status == "active", total), else_=0))
                        .select_from(credit_accounts)
                        .outerjoin(items, items.c.seq == a.seq)
                        .where(a.dpd > 0)).all()
    return {int(seq): int(amount) for seq, amount in rows}


def _reversed_write_offs(conn: Connection,
                         written_off_on: dict[int, dt.date]) -> dict[int, dict[str, Any]]:
    """Per account seq, the saved state of the write-off the month-end position shows
    (the one made on that account's ``written_off_on``) when it has been reversed since;
    an account written off again after a reversal is matched to its new write-off."""
    w = credit_write_offs.c
    seqs = sorted(written_off_on)
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(seqs), 1000):
        chunk = seqs[start:start + 1000]
        for row in conn.execute(select(w.account_seq, w.written_off_on, w.state)
                                .where(w.account_seq.in_(chunk), w.reversed_at.is_not(None))
                                .order_by(w.id)):
            if row.written_off_on == written_off_on[int(row.account_seq)]:
                found[int(row.account_seq)] = dict(row.state)
    return found


def _as_before_write_off(values: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The account as the write-off found it: active, owing what was written off (the
    write-off moved exactly its receivable), its dpd as the position kept it. ``state`` is
    ``credit_write_offs.state``: the columns the write-off zeroed, as they stood."""
    def amount(name: str) -> int:
        return int(state.get(name) or 0)

    principal = (amount("principal_unbilled_minor") + amount("principal_billed_minor")
                 + amount("principal_past_due_minor"))
    penalty, late_fees = amount("penalty_unpaid_minor"), amount("late_fee_unpaid_minor")
    # the rest of the receivable: interest and fees of the billed and past-due installments
    charges = max(0, int(values["written_off_minor"]) - principal - penalty - late_fees)
    return {"status": "active", "principal_minor": principal, "interest_due_minor": charges,
            "fee_due_minor": late_fees, "penalty_due_minor": penalty,
            "past_due_minor": amount("principal_past_due_minor") + late_fees + penalty
            + charges,
            "written_off_minor": 0, "recovered_minor": 0, "written_off_on": None}
