"""Portfolio figures for the operators' dashboard, aggregated in the database (issue #16).

Reads for others (reporting's dashboard), typed and small: every function here groups in SQL
(``GROUP BY``) and returns at most a few thousand rows whatever the size of the book, read
through indexes that cover the query (``ix_credit_accounts_book``, ``_bad``,
``_written_off``), so a million-account database answers in well under a second
(``creditpay bench console``; docs/console.md).

* :func:`book_cells`: today's book (the state after the last close of business) by product,
  delinquency bucket and "30+ days past due", for receivables, buckets and the 30+ share.
* :func:`record_month_end`: the month-end snapshot job (the nightly batch runs it on the
  last day of a month): where every account stands, aggregated per product, vintage and
  from/to state into ``credit_month_end_cells``; the roll-rate matrix and vintage curves
  read :func:`month_end_cells`. History starts with the first month end recorded: the
  accounts' rows hold only today's state, and installments carry no payment dates, so
  earlier month ends cannot be rebuilt.
* :func:`bad_customers`: the customers that are bad now (an account 30+ dpd or written
  off) as a SQL selectable, for risk's approved customers by grade to count within.
* :func:`write_offs_by_month`: principal, fees and penalties written off per month.
* :func:`principal_by_day` and :func:`partner_charges_by_month`: the day-end principal (all
  funders and the partners' part) and the partners' share of the charges, for the platform's
  P&L (issue #18); :func:`lent_on_lines`: a pay-later line's principal lent up to a day.

Receivable of an account (minor units): principal (unbilled + billed + past due) + unpaid
penalty + unpaid late fees; accounts that are closed or written off have none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, literal, select, text, union_all

from creditpay.credit.tables import (
    BAD_ACCOUNT_SQL,
    credit_accounts,
    credit_conversions,
    credit_day_end_positions,
    credit_funding_flows,
    credit_month_end_cells,
    credit_month_end_states,
    credit_purchases,
    credit_refunds,
    credit_statements,
)
from creditpay.db.periods import month_key
from creditpay.errors import ValidationError

__all__ = ["BookCell", "MonthEndCell", "WriteOffMonth", "book_cells", "record_month_end",
           "lent_on_lines", "lent_by_line", "last_closed_date", "DayPrincipal", "principal_by_day",
           "partner_charges_by_month",
           "month_end_cells", "last_month_end", "bad_customers", "write_offs_by_month",
           "is_month_end", "STATES"]

# Month-end states: active accounts by bucket, then the two ends of an account's life.
STATES = ("M0", "M1", "M2", "M3", "M4", "M5", "M6+", "WO", "closed")


@dataclass(frozen=True)
class BookCell:
    """Today's active accounts of one product in one bucket, split by 30+ dpd."""

    product_code: str
    bucket: str
    dpd30: bool  # 30 or more days past due (whatever the product's bucket bounds)
    accounts: int
    receivable_minor: int
    principal_minor: int


@dataclass(frozen=True)
class MonthEndCell:
    """Accounts of one product and vintage that were in ``from_state`` at the previous
    recorded month end and in ``to_state`` at ``month_end``."""

    month_end: dt.date
    product_code: str
    vintage: str  # YYYY-MM the accounts were opened
    from_state: str  # a STATES value, or "new" (not in the previous snapshot)
    to_state: str
    dpd30: bool
    accounts: int
    lent_accounts: int  # of them, lent something by month_end (count-based bad rates)
    balance_minor: int  # receivable at month_end
    from_balance_minor: int  # receivable at the previous month end
    original_minor: int  # principal lent up to month_end (a line's: see lent_on_lines)
    written_off_minor: int  # written off up to month_end (cumulative)
    interest_posted_minor: int  # income posted up to month_end (cumulative, 3 fields)
    fee_posted_minor: int
    penalty_posted_minor: int


@dataclass(frozen=True)
class WriteOffMonth:
    month: str  # YYYY-MM
    accounts: int
    written_off_minor: int
    recovered_minor: int


def _receivable(a: Any) -> Any:
    return (a.principal_unbilled_minor + a.principal_billed_minor + a.principal_past_due_minor
            + a.penalty_unpaid_minor + a.late_fee_unpaid_minor)


def _check_range(opened_from: dt.date | None, opened_to: dt.date | None) -> None:
    if opened_from is not None and opened_to is not None and opened_from > opened_to:
        raise ValidationError("must not be after 'to'", field="from")


def book_cells(conn: Any, *, currency: str, opened_from: dt.date | None = None,
               opened_to: dt.date | None = None,
               product: str | None = None) -> list[BookCell]:
    """Active accounts in ``currency`` opened within [opened_from, opened_to] (either end
    open when None), of ``product`` when given, grouped by product, bucket and 30+ dpd;
    amounts in minor units, ordered by product, bucket, 30+ dpd.

    Read from the covering index ``ix_credit_accounts_book`` (no table rows) and grouped in
    its order by (product, bucket, dpd): no sort in the database; the few hundred dpd
    groups are folded into 30+ / under 30 here."""
    _check_range(opened_from, opened_to)
    a = credit_accounts.c
    conditions = [a.currency == currency, a.status == "active"]
    if opened_from is not None:
        conditions.append(a.opened_on >= opened_from)
    if opened_to is not None:
        conditions.append(a.opened_on <= opened_to)
    if product is not None:
        conditions.append(a.product_code == product)
    principal = a.principal_unbilled_minor + a.principal_billed_minor + a.principal_past_due_minor
    rows = conn.execute(
        select(a.product_code, a.bucket, a.dpd, func.count().label("n"),
               func.sum(principal + a.penalty_unpaid_minor + a.late_fee_unpaid_minor)
               .label("receivable"), func.sum(principal).label("principal"))
        .where(*conditions).group_by(a.product_code, a.bucket, a.dpd))
    cells: dict[tuple[str, str, bool], list[int]] = {}
    for r in rows:
        t = cells.setdefault((r.product_code, r.bucket, int(r.dpd) >= 30), [0, 0, 0])
        t[0] += int(r.n)
        t[1] += int(r.receivable)
        t[2] += int(r.principal)
    return [BookCell(product_code, bucket, dpd30, n, receivable, principal)
            for (product_code, bucket, dpd30), (n, receivable, principal)
            in sorted(cells.items())]


def last_closed_date(conn: Any) -> dt.date | None:
    """The last business date whose close of business stored its day-end positions (None
    before the first)."""
    from creditpay.credit.day_end import day_end_dates

    last = day_end_dates(conn)[1]
    return None if last is None else _as_date(last)


def is_month_end(day: dt.date) -> bool:
    return (day + dt.timedelta(days=1)).month != day.month


def last_month_end(conn: Any) -> dt.date | None:
    """The latest month end recorded, or None before the first."""
    value = conn.execute(select(func.max(credit_month_end_cells.c.month_end))).scalar()
    if value is None:
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def record_month_end(conn: Any, month_end: dt.date) -> int:
    """Record where every account stands at ``month_end`` (run after that day's close of
    business, in the caller's transaction); returns the number of cells written.

    Idempotent: a month end already recorded writes nothing (0). A month end before the
    latest recorded one is refused (the previous states are gone by then). Aggregation
    and the per-account state table are both written by ``INSERT ... SELECT``: no account
    row passes through Python."""
    if not is_month_end(month_end):
        raise ValidationError("must be the last day of a month", field="month_end")
    latest = last_month_end(conn)
    if latest is not None and month_end <= latest:
        if month_end == latest:
            return 0
        raise ValidationError(f"a later month end ({latest.isoformat()}) is recorded",
                              field="month_end")
    a, s, c = credit_accounts.c, credit_month_end_states.c, credit_month_end_cells.c
    lent = lent_on_lines(month_end)
    # A plan's or loan's principal lent is fixed at opening (less refunds); a line's
    # original principal is 0 by construction (it lends draw by draw): its lent amount is
    # what it drew up to the month end, or its vintage would show no amount lent.
    original = case((a.kind == "line", func.coalesce(lent.c.lent_minor, 0)),
                    else_=a.principal_original_minor)
    dialect = conn.dialect.name
    state = case((a.status == "written_off", literal("WO")),
                 (a.status == "closed", literal("closed")), else_=a.bucket)
    dpd30 = case((and_(a.status == "active", a.dpd >= 30), literal(True)),
                 else_=literal(False))
    from_state = func.coalesce(s.state, literal("new"))
    vintage = month_key(dialect, a.opened_on)
    balance = case((a.status == "active", _receivable(a)), else_=0)
    aggregated = (
        select(literal(month_end).label("month_end"), a.currency, a.product_code,
               vintage.label("vintage"), from_state.label("from_state"),
               state.label("to_state"), dpd30.label("dpd30"),
               func.count(), func.sum(case((original > 0, 1), else_=0)),
               func.sum(balance), func.coalesce(func.sum(s.balance_minor), 0),
               func.sum(original), func.sum(a.written_off_minor),
               func.sum(a.interest_posted_minor), func.sum(a.fee_posted_minor),
               func.sum(a.penalty_posted_minor))
        .select_from(credit_accounts.outerjoin(credit_month_end_states,
                                               s.account_seq == a.seq)
                     .outerjoin(lent, lent.c.account_id == a.account_id))
        .where(a.opened_on <= month_end)
        .group_by(a.currency, a.product_code, vintage, from_state, state, dpd30))
    conn.execute(insert(credit_month_end_cells).from_select(
        [c.month_end, c.currency, c.product_code, c.vintage, c.from_state, c.to_state,
         c.dpd30, c.accounts, c.lent_accounts, c.balance_minor, c.from_balance_minor,
         c.original_minor, c.written_off_minor, c.interest_posted_minor, c.fee_posted_minor,
         c.penalty_posted_minor], aggregated))
    # Counted, not the driver's rowcount (INSERT ... SELECT reports -1 on some drivers).
    written = conn.execute(select(func.count()).where(c.month_end == month_end)).scalar_one()
    conn.execute(delete(credit_month_end_states))
    conn.execute(insert(credit_month_end_states).from_select(
        [s.account_seq, s.month_end, s.state, s.balance_minor],
        select(a.seq, literal(month_end), state, balance).where(a.opened_on <= month_end)))
    return int(written)


def lent_on_lines(month_end: dt.date) -> Any:
    """A subquery (``account_id``, ``lent_minor``): per pay-later line account, the
    principal it lent up to the end of ``month_end`` (business time, UTC): its draws
    (purchases funded by the line) less what was refunded on them and what was converted
    out of its statements into installment plans, all dated on or before that day.

    Refunds come off as a plan's refunds come off its principal lent; conversions come off
    because the plan they open counts them as its own principal lent (counted once in a
    book of all products). Grouped in the database: one pass over the line purchases,
    refunds and conversions, a few rows per line account."""
    bound = dt.datetime.combine(month_end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    p, r, v = credit_purchases.c, credit_refunds.c, credit_conversions.c
    st, a = credit_statements.c, credit_accounts.c
    draws = select(p.account_id.label("account_id"), p.amount_minor.label("amount")).where(
        p.funding == "line", p.created_at < bound)
    refunds = (select(p.account_id.label("account_id"), (-r.amount_minor).label("amount"))
               .select_from(credit_refunds.join(credit_purchases,
                                                p.purchase_id == r.purchase_id))
               .where(p.funding == "line", r.created_at < bound))
    converted = (select(a.account_id.label("account_id"), (-v.amount_minor).label("amount"))
                 .select_from(credit_conversions
                              .join(credit_statements, st.statement_id == v.statement_id)
                              .join(credit_accounts, a.seq == st.account_seq))
                 .where(v.created_at < bound))
    moves = union_all(draws, refunds, converted).subquery()
    return (select(moves.c.account_id, func.sum(moves.c.amount).label("lent_minor"))
            .group_by(moves.c.account_id).subquery())


def lent_by_line(conn: Any, day: dt.date) -> dict[str, int]:
    """:func:`lent_on_lines` read out: ``{account_id: principal lent up to the end of day}``
    for every pay-later line account that lent something (the demo's vintage curves use the
    console's definition through it)."""
    lent = lent_on_lines(day)
    return {str(row.account_id): int(row.lent_minor)
            for row in conn.execute(select(lent.c.account_id, lent.c.lent_minor))}


def month_end_cells(conn: Any, *, currency: str, month_from: dt.date | None = None,
                    month_to: dt.date | None = None,
                    product: str | None = None) -> list[MonthEndCell]:
    """The recorded month-end cells with ``month_from <= month_end <= month_to`` (either
    end open when None), in ``currency``, of ``product`` when given; ordered by month end,
    product, vintage, from and to state."""
    _check_range(month_from, month_to)
    c = credit_month_end_cells.c
    conditions = [c.currency == currency]
    if month_from is not None:
        conditions.append(c.month_end >= month_from)
    if month_to is not None:
        conditions.append(c.month_end <= month_to)
    if product is not None:
        conditions.append(c.product_code == product)
    rows = conn.execute(select(
        c.month_end, c.product_code, c.vintage, c.from_state, c.to_state, c.dpd30,
        c.accounts, c.lent_accounts, c.balance_minor, c.from_balance_minor, c.original_minor,
        c.written_off_minor, c.interest_posted_minor, c.fee_posted_minor,
        c.penalty_posted_minor).where(*conditions).order_by(
        c.month_end, c.product_code, c.vintage, c.from_state, c.to_state, c.dpd30))
    return [MonthEndCell(
        r.month_end if isinstance(r.month_end, dt.date) else dt.date.fromisoformat(
            str(r.month_end)), r.product_code, r.vintage, r.from_state, r.to_state,
        bool(r.dpd30), int(r.accounts), int(r.lent_accounts), int(r.balance_minor),
        int(r.from_balance_minor),
        int(r.original_minor), int(r.written_off_minor), int(r.interest_posted_minor),
        int(r.fee_posted_minor), int(r.penalty_posted_minor)) for r in rows]


def bad_customers(*, currency: str) -> Any:
    """A selectable (not executed) of the ``customer_id`` of every customer with a credit
    account in ``currency`` that is now 30 or more days past due or written off (a write-off
    comes at the product's write-off dpd, past 30); a customer may appear more than once.
    For a caller's ``customer_id IN (...)`` (risk's approved customers by grade), read from
    the partial index ``ix_credit_accounts_bad``: a few percent of the book."""
    a = credit_accounts.c
    # The predicate as text, word for word the partial index's (see BAD_ACCOUNT_SQL), in
    # parentheses: a bare text OR next to the currency's AND would bind wrongly.
    return select(a.customer_id).where(a.currency == currency, text(f"({BAD_ACCOUNT_SQL})"))


def write_offs_by_month(conn: Any, *, currency: str, day_from: dt.date | None = None,
                        day_to: dt.date | None = None,
                        product: str | None = None) -> list[WriteOffMonth]:
    """Accounts written off with ``day_from <= written_off_on <= day_to``, per month:
    amount written off (principal, fees and penalties) and recovered since.

    Read from the partial index ``ix_credit_accounts_written_off`` (the written-off accounts
    only) grouped by day in its order, and the days added into months here (no sort)."""
    _check_range(day_from, day_to)
    a = credit_accounts.c
    conditions = [a.currency == currency, a.written_off_on.is_not(None)]
    if day_from is not None:
        conditions.append(a.written_off_on >= day_from)
    if day_to is not None:
        conditions.append(a.written_off_on <= day_to)
    if product is not None:
        conditions.append(a.product_code == product)
    months: dict[str, list[int]] = {}
    for r in conn.execute(select(a.written_off_on, func.count().label("n"),
                                 func.sum(a.written_off_minor).label("w"),
                                 func.sum(a.recovered_minor).label("r"))
                          .where(*conditions).group_by(a.written_off_on)):
        day = r.written_off_on
        key = (day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))).strftime(
            "%Y-%m")
        t = months.setdefault(key, [0, 0, 0])
        t[0] += int(r.n)
        t[1] += int(r.w)
        t[2] += int(r.r)
    return [WriteOffMonth(month, n, w, r) for month, (n, w, r) in sorted(months.items())]


@dataclass(frozen=True)
class DayPrincipal:
    """The book's principal at the end of one closed business date (minor units)."""

    business_date: dt.date
    principal_minor: int  # active accounts' outstanding principal (all funders)
    partner_minor: int  # of it, funded by partner lenders (their principal outstanding)

    @property
    def own_minor(self) -> int:
        """What the platform funds itself (what its funding cost is charged on)."""
        return self.principal_minor - self.partner_minor


def principal_by_day(conn: Any, *, currency: str, day_from: dt.date | None = None,
                     day_to: dt.date | None = None) -> list[DayPrincipal]:
    """One row per business date in [day_from, day_to] whose day-end positions are stored
    (``credit_day_end_positions``: the close of business writes them; a date whose
    positions were never written or were purged has no row), ordered by date: the active
    accounts' principal then, and the partners' funded principal outstanding at the end
    of that date (their dated flows up to it, as :func:`creditpay.credit.funding_queries.
    partner_outstanding_at` reads them; 0 before partners were followed)."""
    from creditpay.credit.funding_core import PLATFORM
    from creditpay.credit.funding_queries import OUTSTANDING_SIGN

    _check_range(day_from, day_to)
    d, f = credit_day_end_positions.c, credit_funding_flows.c
    conditions = [d.currency == currency, d.status == "active"]
    if day_from is not None:
        conditions.append(d.business_date >= day_from)
    if day_to is not None:
        conditions.append(d.business_date <= day_to)
    days = [(_as_date(r.business_date), int(r.principal)) for r in conn.execute(
        select(d.business_date, func.sum(d.principal_minor).label("principal"))
        .where(*conditions).group_by(d.business_date).order_by(d.business_date))]
    if not days:
        return []
    signed = case(*((f.kind == kind, f.amount_minor * sign)
                    for kind, sign in OUTSTANDING_SIGN.items()), else_=0)
    flows = [(_as_date(r.business_date), int(r.amount)) for r in conn.execute(
        select(f.business_date, func.sum(signed).label("amount"))
        .where(f.currency == currency, f.partner_id != PLATFORM,
               f.kind.in_(list(OUTSTANDING_SIGN)), f.business_date <= days[-1][0])
        .group_by(f.business_date).order_by(f.business_date))]
    out, partners, i = [], 0, 0
    for day, principal in days:
        while i < len(flows) and flows[i][0] <= day:
            partners += flows[i][1]
            i += 1
        out.append(DayPrincipal(day, principal, partners))
    return out


def partner_charges_by_month(conn: Any, *, currency: str, day_from: dt.date | None = None,
                             day_to: dt.date | None = None,
                             product: str | None = None) -> dict[str, int]:
    """YYYY-MM -> the interest, fees and penalties passed to partner lenders (their
    ``charges`` flows less ``clawback``, minor units) dated in the month within [day_from,
    day_to], on accounts of ``product`` when given: the partners' share of the credit
    income, which the platform does not keep."""
    from creditpay.credit.funding_core import PLATFORM

    _check_range(day_from, day_to)
    f, a = credit_funding_flows.c, credit_accounts.c
    conditions = [f.currency == currency, f.kind.in_(("charges", "clawback")),
                  f.partner_id != PLATFORM]
    if day_from is not None:
        conditions.append(f.business_date >= day_from)
    if day_to is not None:
        conditions.append(f.business_date <= day_to)
    query = select(f.business_date, func.sum(
        case((f.kind == "charges", f.amount_minor), else_=-f.amount_minor)).label("amount"))
    if product is not None:
        query = query.join(credit_accounts, a.account_id == f.account_id)
        conditions.append(a.product_code == product)
    months: dict[str, int] = {}
    for r in conn.execute(query.where(*conditions).group_by(f.business_date)):
        key = f"{_as_date(r.business_date):%Y-%m}"
        months[key] = months.get(key, 0) + int(r.amount)
    return dict(sorted(months.items()))


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
