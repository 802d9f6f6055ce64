"""The credit-account repository: the rows of ``credit_accounts`` and ``credit_installments``
read and written in one place, for single-account servicing (an account as a dict of its
columns, its installments as :class:`Item`) and for the close of business's chunks (as
numpy arrays).

The column lists and the (de)serialisation of an account (for the batch: dates to day
numbers, nullable ids to 0) are written once here; plans, loans, repayments, statements and
the purchase and refund use cases load and save their accounts and installments through
these functions (:mod:`creditpay.credit.plans` re-exports the single-account ones).
Reads and writes run on the caller's connection, inside the caller's transaction.
Aggregate reads over many accounts for views and reports (exposure, portfolio) stay with
their use cases: they read a few columns of many rows, not an account.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, RowMapping, bindparam, func, or_, select, text

from creditpay.credit.calendar import add_months
from creditpay.credit.cob_vectorised import NO_DATE, positions, to_day_numbers
from creditpay.credit.tables import (
    credit_accounts,
    credit_installments,
    credit_lines,
    credit_repayments,
    credit_statements,
    credit_write_offs,
)
from creditpay.db.prepared import Prepared
from creditpay.errors import NotFoundError

if TYPE_CHECKING:
    # Only for annotations: cob_steps imports statements, which imports plans, which
    # imports this module.
    from creditpay.credit.cob_steps import ChunkState, PlanInstallment, Writes

__all__ = ["ACCOUNT_COLUMNS", "ITEM_COLUMNS", "OPEN_STATUSES", "Item", "load_account",
           "load_account_by_seq", "customer_accounts", "load_items", "next_number",
           "save_items", "insert_account", "update_account", "add_unbilled_principal",
           "account_customer", "account_ids", "load_chunk", "load_open_items",
           "IdleFilter", "IDLE_CONDITION", "count_idle", "open_item_rows", "due_item_rows",
           "busy_seqs", "item_arrays", "CURRENT_BUCKET",
           "load_due_items", "load_scheduled", "installment_numbers",
           "plan_installments_in_cycle", "auto_debit_references", "save_chunk",
           "billed_ahead_until", "billed_ahead_seqs"]

ACCOUNT_COLUMNS = (
    "seq", "account_id", "kind", "customer_id", "currency", "line_id", "product_code",
    "product_version", "style", "principal_original_minor", "principal_prepaid_minor",
    "interest_rate_micro",
    "penalty_rate_micro", "year_basis_days", "interest_base", "grace_days", "late_fee_minor",
    "write_off_dpd", "statement_day", "principal_unbilled_minor", "principal_billed_minor",
    "principal_past_due_minor", "penalty_unpaid_minor", "late_fee_unpaid_minor",
    "interest_accrual_num", "penalty_accrual_num", "interest_posted_minor",
    "penalty_posted_minor", "fee_posted_minor", "oldest_past_due_date",
    "latest_past_due_date", "late_fee_through_date", "next_due_date", "dpd", "bucket",
    "auto_debit_enabled", "auto_debit_account_id", "principal_account_id",
    "interest_account_id", "fee_account_id", "penalty_account_id",
    "line_available_account_id",
)
_TEXT = frozenset({"account_id", "kind", "customer_id", "currency", "line_id", "product_code",
                   "style", "bucket"})
_DATES = frozenset({"oldest_past_due_date", "latest_past_due_date", "late_fee_through_date",
                    "next_due_date"})
ITEM_COLUMNS = ("id", "account_seq", "number", "due_date", "status", "principal_minor",
                "interest_minor", "fee_minor", "principal_paid_minor", "interest_paid_minor",
                "fee_paid_minor", "minimum_minor")
# Written for accounts with an event today (a due date, a statement, a fee, a write-off);
# the others changed only in accrual and ageing (the narrow update).
_FULL_UPDATE = ("principal_unbilled_minor", "principal_billed_minor",
                "principal_past_due_minor", "penalty_unpaid_minor", "late_fee_unpaid_minor",
                "interest_accrual_num", "penalty_accrual_num", "interest_posted_minor",
                "penalty_posted_minor", "fee_posted_minor", "oldest_past_due_date",
                "latest_past_due_date", "late_fee_through_date", "next_due_date", "dpd",
                "bucket", "status", "written_off_minor", "written_off_on", "last_cob_date")
_FULL_INTS = _FULL_UPDATE[:10]
_FULL_DATES = _FULL_UPDATE[10:14]
_NARROW_UPDATE = ("interest_accrual_num", "penalty_accrual_num", "dpd", "bucket",
                  "last_cob_date")
_IDS_PER_QUERY = 1_000  # bound on an IN list


# ----------------------------------------------------------------------------- one account
OPEN_STATUSES = ("scheduled", "billed", "past_due")


@dataclass
class Item:
    """One installment row (mutable copy; written back by :func:`save_items`). Amounts in
    minor units."""

    id: int | None
    number: int
    due_date: dt.date
    status: str
    principal_minor: int
    interest_minor: int
    fee_minor: int
    principal_paid_minor: int = 0
    interest_paid_minor: int = 0
    fee_paid_minor: int = 0
    minimum_minor: int = 0
    statement_id: str | None = None
    dirty: bool = False

    @property
    def principal_due(self) -> int:
        return self.principal_minor - self.principal_paid_minor

    @property
    def interest_due(self) -> int:
        return self.interest_minor - self.interest_paid_minor

    @property
    def fee_due(self) -> int:
        return self.fee_minor - self.fee_paid_minor

    @property
    def total_due(self) -> int:
        return self.principal_due + self.interest_due + self.fee_due

    @property
    def paid_total(self) -> int:
        return self.principal_paid_minor + self.interest_paid_minor + self.fee_paid_minor


# The installment columns a service writes back (the close of business writes its own set).
_ITEM_VALUES = ("status", "principal_minor", "interest_minor", "fee_minor",
                "principal_paid_minor", "interest_paid_minor", "fee_paid_minor",
                "minimum_minor")


def _account(row: RowMapping) -> dict[str, Any]:
    """An account as the services use it: a mutable dict of every column."""
    return dict(row)


def _status_in(column: Any, statuses: Sequence[str]) -> Any:
    """``column IN statuses`` as one equality per status (fixed parameters a prepared
    statement can hold; SQLAlchemy expands an IN list at execution)."""
    return or_(*[column == status for status in statuses])


# Prepared statements (creditpay.db.prepared: compiled once, run on the driver): an
# account is read by every servicing use case and by collections for each account.
_ACCOUNT_BY_ID = select(credit_accounts).where(
    credit_accounts.c.account_id == bindparam("account_id"))
_READ_ACCOUNT = {False: Prepared(_ACCOUNT_BY_ID),
                 True: Prepared(_ACCOUNT_BY_ID.with_for_update())}


def load_account(conn: Connection, account_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The account ``account_id`` (locked for update on PostgreSQL with ``lock``)."""
    row = _READ_ACCOUNT[lock and conn.dialect.name == "postgresql"].first(
        conn, {"account_id": account_id})
    if row is None:
        raise NotFoundError(f"no credit account {account_id!r}", field="account_id")
    return row._asdict()


def load_account_by_seq(conn: Connection, seq: int) -> dict[str, Any]:
    """The account whose internal key is ``seq`` (it must exist)."""
    return _account(conn.execute(select(credit_accounts).where(
        credit_accounts.c.seq == seq)).mappings().one())


def customer_accounts(conn: Connection, customer_id: str, currency: str,
                      statuses: Sequence[str], *, account_id: str | None = None,
                      lock: bool = False) -> list[dict[str, Any]]:
    """The customer's accounts in ``currency`` with a status in ``statuses`` (only
    ``account_id`` if given), oldest first; locked for update on PostgreSQL with ``lock``."""
    key = (tuple(statuses), account_id is not None, lock and conn.dialect.name == "postgresql")
    prepared = _CUSTOMER_ACCOUNTS.get(key)
    if prepared is None:
        c = credit_accounts.c
        query = select(credit_accounts).where(
            c.customer_id == bindparam("customer_id"), c.currency == bindparam("currency"),
            _status_in(c.status, key[0])).order_by(c.seq)
        if account_id is not None:
            query = query.where(c.account_id == bindparam("account_id"))
        if key[2]:
            query = query.with_for_update()
        prepared = _CUSTOMER_ACCOUNTS[key] = Prepared(query)
    return [row._asdict() for row in prepared.rows(
        conn, {"customer_id": customer_id, "currency": currency, "account_id": account_id})]


# customer_accounts' statements by (statuses, one account, locked): built on first use.
_CUSTOMER_ACCOUNTS: dict[tuple[tuple[str, ...], bool, bool], Prepared] = {}


def account_customer(conn: Connection, account_id: str) -> str | None:
    """The customer of account ``account_id``, None if there is no such account."""
    customer: str | None = conn.execute(select(credit_accounts.c.customer_id).where(
        credit_accounts.c.account_id == account_id)).scalar_one_or_none()
    return customer


def account_ids(conn: Connection, customer_id: str) -> list[str]:
    """The ids of every account of ``customer_id``, oldest first."""
    return list(conn.execute(select(credit_accounts.c.account_id).where(
        credit_accounts.c.customer_id == customer_id).order_by(credit_accounts.c.seq)
    ).scalars().all())


def load_items(conn: Connection, account_seq: int, *, open_only: bool = True) -> list[Item]:
    """The installments of account ``account_seq`` by number (only the open ones with
    ``open_only``)."""
    query = _OPEN_ITEMS if open_only else _ALL_ITEMS
    return [Item(id=r.id, number=r.number, due_date=r.due_date, status=r.status,
                 principal_minor=r.principal_minor, interest_minor=r.interest_minor,
                 fee_minor=r.fee_minor, principal_paid_minor=r.principal_paid_minor,
                 interest_paid_minor=r.interest_paid_minor,
                 fee_paid_minor=r.fee_paid_minor, minimum_minor=r.minimum_minor,
                 statement_id=r.statement_id)
            for r in query.rows(conn, {"account_seq": account_seq})]


# load_items' reads, prepared (every capture, repayment and statement reads an account's
# installments).
_ITEMS_OF_ACCOUNT = select(credit_installments).where(
    credit_installments.c.account_seq == bindparam("account_seq")).order_by(
    credit_installments.c.number)
_ALL_ITEMS = Prepared(_ITEMS_OF_ACCOUNT)
_OPEN_ITEMS = Prepared(_ITEMS_OF_ACCOUNT.where(
    _status_in(credit_installments.c.status, OPEN_STATUSES)))


def billed_ahead_until(conn: Connection, account_seq: int, today: dt.date) -> dt.date | None:
    """The latest due date after ``today`` of an installment of ``account_seq`` already
    billed (paid or not): one a repayment billed ahead of its due date with its whole
    period's interest (repayments._bill_now), or None."""
    c = credit_installments.c
    found: dt.date | None = conn.execute(select(func.max(c.due_date)).where(
        c.account_seq == account_seq, c.status.in_(("billed", "paid")),
        c.due_date > today)).scalar()
    return found


def next_number(conn: Connection, account_seq: int) -> int:
    """The number the next installment of account ``account_seq`` takes."""
    last = conn.execute(select(func.max(credit_installments.c.number)).where(
        credit_installments.c.account_seq == account_seq)).scalar()
    return int(last or 0) + 1


def save_items(conn: Connection, account_seq: int, items: Sequence[Item]) -> None:
    """Write the changed items (``dirty``) back and insert the new ones (id None)."""
    updates = [{"b_id": i.id, **{name: getattr(i, name) for name in _ITEM_VALUES}}
               for i in items if i.id is not None and i.dirty]
    if updates:
        _UPDATE_ITEM.run_many(conn, updates)
    inserts = [{"account_seq": account_seq, "number": i.number, "due_date": i.due_date,
                **{name: getattr(i, name) for name in _ITEM_VALUES},
                "statement_id": i.statement_id} for i in items if i.id is None]
    if inserts:
        _INSERT_ITEMS.run_many(conn, inserts)
    for i in items:
        i.dirty = False


def insert_account(conn: Connection, row: Mapping[str, Any]) -> dict[str, Any]:
    """Insert a new account row; the account as stored (with its ``seq`` and the columns'
    defaults), from the insert itself, not a second read."""
    # Through SQLAlchemy: the columns' Python-side defaults (created_at) are its to fill.
    return dict(conn.execute(_INSERT_ACCOUNT, dict(row)).mappings().one())


# Constant: every plan a capture opens runs it.
_INSERT_ACCOUNT = credit_accounts.insert().returning(*credit_accounts.c)
# Prepared writes (every repayment and capture): the installments' update and insert.
_UPDATE_ITEM = Prepared(credit_installments.update().where(
    credit_installments.c.id == bindparam("b_id")).values(
    {name: bindparam(name) for name in _ITEM_VALUES}))
_INSERT_ITEMS = Prepared(credit_installments.insert(), columns=(
    "account_seq", "number", "due_date", *_ITEM_VALUES, "statement_id"))


def update_account(conn: Connection, seq: int, values: Mapping[str, Any]) -> None:
    """Write ``values`` (column: value) to the account ``seq``."""
    columns = tuple(values)
    prepared = _UPDATE_ACCOUNT.get(columns)
    if prepared is None:
        prepared = _UPDATE_ACCOUNT[columns] = Prepared(credit_accounts.update().where(
            credit_accounts.c.seq == bindparam("b_seq")).values(
            {name: bindparam(f"b_{name}") for name in columns}))
    prepared.run(conn, {"b_seq": seq, **{f"b_{name}": value for name, value in values.items()}})


# update_account's statements by the columns written: built on first use (a few shapes).
_UPDATE_ACCOUNT: dict[tuple[str, ...], Prepared] = {}


def add_unbilled_principal(conn: Connection, seq: int, amount_minor: int,
                           now: dt.datetime) -> None:
    """Add ``amount_minor`` to the account's unbilled principal in the statement itself (a
    purchase on a line: concurrent purchases must not overwrite each other's)."""
    _ADD_UNBILLED.run(conn, {"b_seq": seq, "b_amount_minor": amount_minor,
                             "b_updated_at": now})


# A prepared statement (every purchase on a line).
_ADD_UNBILLED = Prepared(credit_accounts.update().where(
    credit_accounts.c.seq == bindparam("b_seq")).values(
    principal_unbilled_minor=credit_accounts.c.principal_unbilled_minor
    + bindparam("b_amount_minor"), updated_at=bindparam("b_updated_at")))


# ----------------------------------------------------------------------------- helpers
def _sql(conn: Connection, text: str) -> str:
    """Driver SQL with ``?`` placeholders, in the dialect's paramstyle."""
    return text if conn.dialect.name == "sqlite" else text.replace("?", "%s")


def _date_param(conn: Connection, number: int) -> dt.date | str:
    day = dt.date(1970, 1, 1) + dt.timedelta(days=int(number))
    return day.isoformat() if conn.dialect.name == "sqlite" else day


def _date_params(conn: Connection, numbers: np.ndarray) -> list[Any]:
    """Day numbers as driver parameters, all at once (:data:`NO_DATE` -> None): ISO text on
    SQLite, dates on PostgreSQL."""
    present = numbers != NO_DATE
    days = numbers.astype("datetime64[D]")
    values = np.full(len(numbers), None, dtype=object)
    if conn.dialect.name == "sqlite":
        values[present] = np.datetime_as_string(days[present], unit="D")
    else:
        values[present] = days[present].astype(object)  # datetime.date
    return list(values.tolist())


def _driver_date(conn: Connection, day: dt.date) -> dt.date | str:
    return day.isoformat() if conn.dialect.name == "sqlite" else day


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _IDS_PER_QUERY):
        yield values[start:start + _IDS_PER_QUERY]


def _item_arrays(rows: Sequence[Sequence[Any]], seq: np.ndarray) -> dict[str, np.ndarray]:
    n = len(rows)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(ITEM_COLUMNS)
    v: dict[str, np.ndarray] = {}
    for name, values in zip(ITEM_COLUMNS, columns, strict=True):
        if name == "status":
            v[name] = np.asarray(values, dtype=object)
        elif name == "due_date":
            v[name] = to_day_numbers(list(values)) if n else np.zeros(0, dtype=np.int64)
        else:
            v[name] = np.asarray(values, dtype=np.int64)
    v["pos"], v["valid"] = positions(seq, v["account_seq"])
    v["changed"] = np.zeros(n, dtype=bool)
    return v


# ----------------------------------------------------------------------------- chunk reads
def _day_number_sql(conn: Connection, column: str) -> str:
    """SQL turning a date column into its day number (NULL -> :data:`NO_DATE`), so the
    chunk's dates arrive as integers instead of being parsed row by row in Python."""
    if conn.dialect.name == "sqlite":
        # Dates are stored as ISO text; julianday of a date is N.5, so this is exact.
        expression = f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"
    else:
        expression = f"({column} - DATE '1970-01-01')"
    return f"COALESCE({expression}, {int(NO_DATE)})"


def _select_list(conn: Connection) -> str:
    """The chunk's select list: text columns as they are, dates as day numbers, integer
    columns with NULL as 0 (``auto_debit_enabled`` as 0/1), every one a scalar numpy can
    store in the row dtype."""
    parts = []
    for name in ACCOUNT_COLUMNS:
        if name in _TEXT:
            parts.append(name)
        elif name in _DATES:
            parts.append(_day_number_sql(conn, name))
        elif name == "auto_debit_enabled":
            parts.append("CASE WHEN auto_debit_enabled THEN 1 ELSE 0 END")
        else:
            parts.append(f"COALESCE({name}, 0)")
    return ", ".join(parts)


_ROW_DTYPE = np.dtype([(name, object if name in _TEXT else np.int64)
                       for name in ACCOUNT_COLUMNS])


@dataclass(frozen=True)
class IdleFilter:
    """Which accounts of a chunk the close of business may leave unread: those for which no
    step can change anything today (see :data:`IDLE_CONDITION`). ``statement_day``: today's
    day of the month (a line cutting its statement today is never idle); ``busy``: the seqs
    with an open or scheduled installment due by tomorrow (never idle either: they roll,
    bill, carry or are auto-debited), found from the chunk's installments read first."""

    statement_day: int
    busy: tuple[int, ...]


# The bucket of dpd 0 under every product's bounds (the bounds start at 0: products.py).
CURRENT_BUCKET = "M0"
# An account is idle when nothing in the close of business's steps (cob_steps.STEPS) can
# change it today, so it need not be read or written; each clause names what it excludes.
# Any NULL makes the condition unknown, which counts as NOT idle (the account is read).
# tests/credit/test_credit_cob_idle.py runs the steps over generated chunks and checks that
# an account this condition calls idle comes out of them unchanged and untouched, and that
# the others come out the same whether the idle ones were read or not.
IDLE_CONDITION = (
    # no interest accrues (accrue_and_age: rate x base)
    "(interest_rate_micro = 0 OR interest_base = 0)"
    # nothing accrued to post, round or waive (bill, statements, month_end, waive_residues)
    " AND interest_accrual_num = 0 AND penalty_accrual_num = 0"
    # not late: no penalty, dpd, late fee or write-off (accrue_and_age, late_fees, write_off)
    " AND oldest_past_due_date IS NULL AND latest_past_due_date IS NULL AND dpd = 0"
    " AND write_off_dpd > 0"
    # its bucket is already the one of dpd 0 (buckets)
    f" AND bucket = '{CURRENT_BUCKET}'"
    # no statement today (statements)
    " AND (kind <> 'line' OR statement_day <> ?)"
    # a plan or loan that still owes something is not closed (close_settled)
    " AND (kind = 'line' OR principal_unbilled_minor + principal_billed_minor"
    " + principal_past_due_minor + penalty_unpaid_minor + late_fee_unpaid_minor > 0)")


def _idle_sql(conn: Connection, idle: IdleFilter) -> tuple[str, list[Any]]:
    """SQL that is 1 for an idle account and 0 otherwise (also when the condition is
    unknown), and its parameters."""
    if conn.dialect.name == "sqlite":
        busy = "seq NOT IN (SELECT value FROM json_each(?))"
        busy_param: Any = json.dumps(list(idle.busy))
    else:
        busy = "seq <> ALL(%s::bigint[])"
        busy_param = list(idle.busy)
    return (f"CASE WHEN {_sql(conn, IDLE_CONDITION)} AND {busy} THEN 1 ELSE 0 END",
            [idle.statement_day, busy_param])


# Disputes (issue #20): an account paused while a purchase it financed is disputed is left
# out of the close of business (no accrual, billing, ageing, late fee or auto-debit); its
# dates move by the days paused when the pause ends (creditpay.credit.pauses). A line is
# never left out: a disputed line purchase is held out of its balances instead (account_kind
# 'line', 0044_line_disputes), so the steps see the line without it.
NOT_PAUSED = ("NOT EXISTS (SELECT 1 FROM credit_pauses"
              " WHERE credit_pauses.account_seq = credit_accounts.seq"
              " AND credit_pauses.resumed_on IS NULL AND credit_pauses.account_kind = 'plan')")


def load_chunk(conn: Connection, day: int, lo: int, hi: int, *,
               skip_idle: IdleFilter | None = None) -> dict[str, np.ndarray]:
    """The active accounts opened by ``day`` with seq in [lo, hi], as arrays ordered by seq
    (:data:`ACCOUNT_COLUMNS` plus ``status``, ``written_off_minor``, ``written_off_on`` and
    ``event``, all as the close of business starts them); with ``skip_idle``, only those
    that are not idle (:func:`count_idle` counts the others).

    The rows are fetched on the driver's cursor (no result-row objects) as plain integers
    and strings, and numpy converts the whole list of tuples into one record array: the
    load was the largest cost of a chunk."""
    where = f"seq BETWEEN ? AND ? AND status = 'active' AND opened_on <= ? AND {NOT_PAUSED}"
    params: list[Any] = [lo, hi, _date_param(conn, day)]
    if skip_idle is not None:
        condition, more = _idle_sql(conn, skip_idle)
        where += f" AND {condition} = 0"
        params += more
    cursor = conn.connection.cursor()
    try:
        cursor.execute(_sql(conn, (
            "SELECT " + _select_list(conn) + " FROM credit_accounts"  # nosec B608 - constant column lists
            f" WHERE {where} ORDER BY seq")), tuple(params))
        records = np.array(cursor.fetchall(), dtype=_ROW_DTYPE)
    finally:
        cursor.close()
    n = len(records)
    # Contiguous columns: the steps index and copy them many times.
    a: dict[str, np.ndarray] = {name: np.ascontiguousarray(records[name])
                                for name in ACCOUNT_COLUMNS}
    a["status"] = np.full(n, "active", dtype=object)
    a["written_off_minor"] = np.zeros(n, dtype=np.int64)
    a["written_off_on"] = np.full(n, NO_DATE, dtype=np.int64)
    a["event"] = np.zeros(n, dtype=bool)  # rows needing the full update
    return a


def count_idle(conn: Connection, day: int, lo: int, hi: int, idle: IdleFilter) -> int:
    """How many active accounts opened by ``day`` with seq in [lo, hi] are idle (their
    bucket is the current one: the condition requires it)."""
    condition, params = _idle_sql(conn, idle)
    count = conn.exec_driver_sql(_sql(conn, (
        "SELECT COUNT(*) FROM credit_accounts"  # nosec B608 - constant condition
        " WHERE seq BETWEEN ? AND ? AND status = 'active' AND opened_on <= ?"
        f" AND {NOT_PAUSED} AND {condition} = 1")), (lo, hi, _date_param(conn, day), *params)).scalar_one()
    return int(count)


def open_item_rows(conn: Connection, lo: int, hi: int) -> list[Sequence[Any]]:
    """The billed and past-due installments (:data:`ITEM_COLUMNS`) of the accounts with seq
    in [lo, hi], by account and number."""
    return list(conn.exec_driver_sql(_sql(conn, (
        "SELECT " + ", ".join(ITEM_COLUMNS) + " FROM credit_installments"  # nosec B608 - constant column lists
        " WHERE status IN ('billed', 'past_due') AND account_seq BETWEEN ? AND ?"
        " ORDER BY account_seq, number")), (lo, hi)).fetchall())


def due_item_rows(conn: Connection, day: int, lo: int, hi: int) -> list[Sequence[Any]]:
    """The scheduled installments due by ``day`` + 1 of the accounts with seq in [lo, hi]
    (to bill), by account and number."""
    return list(conn.exec_driver_sql(_sql(conn, (
        "SELECT " + ", ".join(ITEM_COLUMNS) + " FROM credit_installments"  # nosec B608 - constant column lists
        # "+ 0" keeps SQLite on the (status, due_date) index: the due items are few, the
        # scheduled items of a chunk many.
        " WHERE status = 'scheduled' AND due_date <= ? AND account_seq + 0 BETWEEN ? AND ?"
        " ORDER BY account_seq, number")), (_date_param(conn, day + 1), lo, hi)).fetchall())


def billed_ahead_seqs(conn: Connection, day: int, lo: int, hi: int) -> list[int]:
    """Seqs in [lo, hi] of the accounts with an installment due on ``day`` + 1 that is
    already billed or paid: a repayment billed it ahead (the close of business bills the
    others today), so its period ends today (cob_steps.bill)."""
    return [int(seq) for (seq,) in conn.exec_driver_sql(_sql(conn, (
        "SELECT DISTINCT account_seq FROM credit_installments"
        " WHERE status IN ('billed', 'paid') AND due_date = ?"
        " AND account_seq + 0 BETWEEN ? AND ? ORDER BY account_seq")),
        (_date_param(conn, day + 1), lo, hi)).fetchall()]


def busy_seqs(open_items: Sequence[Sequence[Any]], due_items: Sequence[Sequence[Any]],
              day: int, ahead: Sequence[int] = ()) -> tuple[int, ...]:
    """Seqs of the accounts with an open item (``open_items``) due by ``day`` + 1, a
    scheduled one to bill (``due_items``) or one billed ahead due tomorrow (``ahead``):
    never idle (:class:`IdleFilter`)."""
    account, due = ITEM_COLUMNS.index("account_seq"), ITEM_COLUMNS.index("due_date")
    seqs = {int(row[account]) for row in due_items} | set(ahead)
    if open_items:
        dues = to_day_numbers([row[due] for row in open_items])
        seqs.update(int(open_items[k][account])
                    for k in np.flatnonzero(dues <= day + 1).tolist())
    return tuple(sorted(seqs))


def item_arrays(rows: Sequence[Sequence[Any]], seq: np.ndarray) -> dict[str, np.ndarray]:
    """Installment rows as arrays, with ``pos`` (the account's position in the sorted
    ``seq``), ``valid`` (the account is in ``seq``) and ``changed``."""
    return _item_arrays(rows, seq)


def load_open_items(conn: Connection, seq: np.ndarray) -> dict[str, np.ndarray]:
    """The billed and past-due installments of the accounts ``seq`` (sorted) as arrays, with
    ``pos`` (the account's position in ``seq``), ``valid`` and ``changed``."""
    if len(seq) == 0:
        return _item_arrays([], seq)
    return _item_arrays(open_item_rows(conn, int(seq[0]), int(seq[-1])), seq)


def load_due_items(conn: Connection, day: int, seq: np.ndarray) -> dict[str, np.ndarray]:
    """The scheduled installments due by ``day`` + 1 of the accounts ``seq`` (to bill)."""
    if len(seq) == 0:
        return _item_arrays([], seq)
    return _item_arrays(due_item_rows(conn, day, int(seq[0]), int(seq[-1])), seq)


def load_scheduled(conn: Connection, seqs: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(account seq, due day) of every scheduled installment of the accounts ``seqs``."""
    found_seq: list[int] = []
    found_due: list[Any] = []
    for part in _chunks(list(seqs)):
        # By account only (the (status, account_seq) index); the caller filters by date:
        # in SQL it would lead SQLite to scan every later scheduled item by date.
        for account_seq, due_on in conn.execute(select(
                credit_installments.c.account_seq, credit_installments.c.due_date).where(
                credit_installments.c.status == "scheduled",
                credit_installments.c.account_seq.in_(part))):
            found_seq.append(int(account_seq))
            found_due.append(due_on)
    dues = to_day_numbers(found_due) if found_due else np.zeros(0, dtype=np.int64)
    return np.asarray(found_seq, dtype=np.int64), dues


def installment_numbers(conn: Connection, seqs: Sequence[int]) -> dict[int, int]:
    """The highest installment number of each of the accounts ``seqs`` that has any."""
    numbers: dict[int, int] = {}
    for part in _chunks(list(seqs)):
        numbers.update((int(s), int(n)) for s, n in conn.execute(select(
            credit_installments.c.account_seq, func.max(credit_installments.c.number)).where(
            credit_installments.c.account_seq.in_(part)).group_by(
            credit_installments.c.account_seq)))
    return numbers


def plan_installments_in_cycle(conn: Connection, line_ids: Sequence[str],
                               statement_date: dt.date
                               ) -> dict[str, tuple[PlanInstallment, ...]]:
    """Open installments of the active plans on ``line_ids`` that fall due in the cycle the
    statement of ``statement_date`` opens (after it, up to the next statement date), by line.
    Consecutive cycles do not overlap, so each plan installment is on exactly one of its
    line's statements."""
    ci = credit_installments
    cycle_end = add_months(statement_date, 1)
    # Two indexed reads (plans by line, then their open items by account) rather than one
    # join: SQLite would drive the join from the (status, due_date) index and scan a month
    # of every account's installments. The due-date window is applied here.
    plans: dict[int, str] = {}
    for part in _chunks(list(line_ids)):
        plans.update((int(seq), line_id) for seq, line_id in conn.execute(select(
            credit_accounts.c.seq, credit_accounts.c.line_id).where(
            credit_accounts.c.line_id.in_(part), credit_accounts.c.kind == "plan",
            credit_accounts.c.status == "active", text(NOT_PAUSED))))
    rows: list[tuple[dt.date, int, int, int]] = []
    for part in _chunks(sorted(plans)):
        for item_id, account_seq, due_on, amount in conn.execute(select(
                ci.c.id, ci.c.account_seq, ci.c.due_date,
                ci.c.principal_minor + ci.c.interest_minor + ci.c.fee_minor
                - ci.c.principal_paid_minor - ci.c.interest_paid_minor
                - ci.c.fee_paid_minor).where(
                ci.c.status.in_(("scheduled", "billed")), ci.c.account_seq.in_(part))):
            if statement_date < due_on <= cycle_end and amount > 0:
                rows.append((due_on, int(item_id), int(account_seq), int(amount)))
    from creditpay.credit.cob_steps import PlanInstallment

    found: dict[str, list[PlanInstallment]] = {}
    for due_on, item_id, account_seq, amount in sorted(rows):
        found.setdefault(plans[account_seq], []).append(
            PlanInstallment(item_id, account_seq, due_on, amount))
    return {line: tuple(items) for line, items in found.items()}


def auto_debit_references(conn: Connection, seqs: Sequence[int]) -> dict[int, str | None]:
    """The auto-debit consent reference stored on each of the accounts ``seqs``."""
    refs: dict[int, str | None] = {}
    for part in _chunks(list(seqs)):
        refs.update((int(seq), ref) for seq, ref in conn.execute(
            select(credit_accounts.c.seq, credit_accounts.c.auto_debit_consent_ref).where(
                credit_accounts.c.seq.in_(part))))
    return refs


# ----------------------------------------------------------------------------- chunk writes
def _record_write_offs(conn: Connection, states: Sequence[Mapping[str, Any]]) -> None:
    """Keep what today's write-offs change (credit_write_offs), read before they change it:
    the open installments with their status and the line's status. Write-offs are rare, so
    these reads cost nothing on an ordinary day."""
    seqs = [int(s["seq"]) for s in states]
    open_items: dict[int, dict[int, dict[str, object]]] = {seq: {} for seq in seqs}
    for part in _chunks(seqs):
        for item_id, seq, status in conn.execute(select(
                credit_installments.c.id, credit_installments.c.account_seq,
                credit_installments.c.status).where(
                credit_installments.c.account_seq.in_(part),
                credit_installments.c.status.in_(("scheduled", "billed", "past_due")))):
            open_items[int(seq)][int(item_id)] = {"id": int(item_id), "status": str(status)}
    for s in states:
        # The chunk's own (newer) values of the items it had loaded win.
        open_items[int(s["seq"])].update((int(item["id"]), dict(item)) for item in s["items"])
    line_ids = sorted({str(s["line_id"]) for s in states if s["line_id"] is not None})
    line_status: dict[str, str] = {}
    for part in _chunks(line_ids):
        line_status.update((str(line_id), str(status)) for line_id, status in conn.execute(
            select(credit_lines.c.line_id, credit_lines.c.status).where(
                credit_lines.c.line_id.in_(part))))
    conn.execute(credit_write_offs.insert(), [
        {"account_seq": int(s["seq"]), "account_id": s["account_id"],
         "written_off_on": s["written_off_on"], "state": dict(s["state"]),
         "installments": [open_items[int(s["seq"])][k]
                          for k in sorted(open_items[int(s["seq"])])],
         "line_id": s["line_id"],
         "line_status": None if s["line_id"] is None else line_status.get(str(s["line_id"])),
         "reversed_at": None, "reversed_by": None} for s in states])


def save_chunk(conn: Connection, now: dt.datetime, day: int, loaded: Mapping[str, np.ndarray],
               state: ChunkState, writes: Writes) -> None:
    """Write a chunk's close of business: the accounts (full update for those with an event,
    the narrow accrual/ageing update for the others that changed), the installments changed,
    billed, inserted or cancelled, the statements, the repayments, the lines frozen and the
    auto-debits switched off. ``loaded``: the accounts as loaded (to skip unchanged rows)."""
    if writes.auto_debit_stops:
        for part in _chunks(list(writes.auto_debit_stops)):
            conn.execute(credit_accounts.update().where(credit_accounts.c.seq.in_(part)).values(
                auto_debit_enabled=False, auto_debit_consent_ref=None,
                auto_debit_account_id=None, updated_at=now))
    if writes.write_off_states:
        _record_write_offs(conn, writes.write_off_states)
    for part in _chunks(list(writes.written_off)):
        conn.execute(credit_installments.update().where(
            credit_installments.c.account_seq.in_(part),
            credit_installments.c.status.in_(("scheduled", "billed", "past_due"))
        ).values(status="cancelled"))
    if writes.frozen_lines:
        conn.execute(credit_lines.update().where(credit_lines.c.line_id.in_(
            writes.frozen_lines)).values(status="frozen", frozen_reason="write_off",
                                         updated_at=now))
    if writes.plan_tags:
        conn.exec_driver_sql(_sql(conn, "UPDATE credit_installments SET statement_id = ?"
                                  " WHERE id = ?"), list(writes.plan_tags))
    v = state.v
    item_updates = [(v["status"][k], int(v["interest_minor"][k]),
                     int(v["principal_paid_minor"][k]), int(v["interest_paid_minor"][k]),
                     int(v["fee_paid_minor"][k]), int(v["minimum_minor"][k]),
                     _date_param(conn, v["due_date"][k]), int(v["id"][k]))
                    for k in np.flatnonzero(v["changed"] & v["valid"])]
    item_updates.extend((*row[:6], _driver_date(conn, row[6]), row[7])
                        for row in writes.item_updates)
    if item_updates:
        conn.exec_driver_sql(_sql(conn, (
            "UPDATE credit_installments SET status = ?, interest_minor = ?,"
            " principal_paid_minor = ?, interest_paid_minor = ?, fee_paid_minor = ?,"
            " minimum_minor = ?, due_date = ? WHERE id = ?")), item_updates)
    if writes.item_inserts:
        conn.execute(credit_installments.insert(), [dict(r) for r in writes.item_inserts])
    if writes.statements:
        conn.execute(credit_statements.insert(),
                     [{**r, "created_at": now} for r in writes.statements])
    if writes.repayments:
        conn.execute(credit_repayments.insert(),
                     [{**r, "created_at": now} for r in writes.repayments])
    _save_accounts(conn, day, loaded, state.a)


def _save_accounts(conn: Connection, day: int, loaded: Mapping[str, np.ndarray],
                   a: Mapping[str, np.ndarray]) -> None:
    cob_date = _date_param(conn, day)
    full = np.flatnonzero(a["event"])
    if len(full):
        ints = [a[name][full].tolist() for name in _FULL_INTS]
        dates = [_date_params(conn, a[name][full]) for name in _FULL_DATES]
        params = list(zip(*ints, *dates, a["dpd"][full].tolist(), a["bucket"][full].tolist(),
                          a["status"][full].tolist(), a["written_off_minor"][full].tolist(),
                          _date_params(conn, a["written_off_on"][full]),
                          [cob_date] * len(full), a["seq"][full].tolist(), strict=True))
        assignments = ", ".join(f"{name} = ?" for name in _FULL_UPDATE)
        conn.exec_driver_sql(_sql(conn, f"UPDATE credit_accounts SET {assignments}"  # nosec B608
                                  " WHERE seq = ?"), params)
    narrow = ~a["event"] & ((a["interest_added_num"] > 0) | (a["penalty_added_num"] > 0)
                            | (a["dpd"] != loaded["dpd"]) | (a["bucket"] != loaded["bucket"]))
    rows = np.flatnonzero(narrow)
    if len(rows):
        params = list(zip(a["interest_accrual_num"][rows].tolist(),
                          a["penalty_accrual_num"][rows].tolist(), a["dpd"][rows].tolist(),
                          a["bucket"][rows].tolist(), [cob_date] * len(rows),
                          a["seq"][rows].tolist(), strict=True))
        assignments = ", ".join(f"{name} = ?" for name in _NARROW_UPDATE)
        conn.exec_driver_sql(_sql(conn, f"UPDATE credit_accounts SET {assignments}"  # nosec B608
                                  " WHERE seq = ?"), params)
