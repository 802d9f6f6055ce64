"""Public reads of the ledger for the command line and for reports above the domains.

Nothing outside the ledger imports :mod:`creditpay.ledger.tables`; these functions are what
other packages read instead (single accounts and transfers are in
:mod:`creditpay.ledger.service`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, select

from creditpay.errors import ValidationError
from creditpay.ledger.model import Account, NormalSide
from creditpay.ledger.tables import ledger_accounts, ledger_transfers

__all__ = ["list_accounts", "account_currencies", "posted_net_credits", "Recovery",
           "available_of",
           "recoveries_between", "ACCOUNTS_MAX", "IN_CHUNK", "net_credits_of", "TailTransfer",
           "transfers_after", "last_transfer_seq", "count_transfers", "MonthMovement",
           "platform_movements_by_month"]

ACCOUNTS_MAX = 10_000  # accounts one listing returns at most
IN_CHUNK = 1_000  # ids per IN (...) list


def list_accounts(conn: Connection, *, owner_id: str | None = None, limit: int = 100
                  ) -> list[Account]:
    """Accounts with their balances in id order, at most ``limit`` (1..``ACCOUNTS_MAX``);
    ``owner_id``: only that owner's."""
    from creditpay.ledger.service import _account_from_row

    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= ACCOUNTS_MAX:
        raise ValidationError(f"must be an integer from 1 to {ACCOUNTS_MAX}", field="limit")
    query = select(ledger_accounts).order_by(ledger_accounts.c.id).limit(limit)
    if owner_id:
        query = query.where(ledger_accounts.c.owner_id == owner_id)
    return [_account_from_row(row) for row in conn.execute(query).mappings()]


def account_currencies(conn: Connection, *, code: str, owner_type: str) -> list[str]:
    """The currencies in which an account of ``code`` owned by an ``owner_type`` exists
    (e.g. the platform's ``loss_provision`` allowances), sorted."""
    a = ledger_accounts.c
    return sorted(set(conn.execute(select(a.currency).where(
        a.code == code, a.owner_type == owner_type)).scalars()))


def posted_net_credits(conn: Connection, account_ids: Iterable[int]) -> dict[int, int]:
    """Account id -> credits posted minus debits posted (minor units; pending holds not
    counted), for the given accounts that exist (one statement per ``IN_CHUNK`` ids)."""
    ids = sorted({int(i) for i in account_ids})
    a = ledger_accounts.c
    found: dict[int, int] = {}
    for start in range(0, len(ids), IN_CHUNK):
        for row in conn.execute(select(a.id, a.credits_posted, a.debits_posted)
                                .where(a.id.in_(ids[start:start + IN_CHUNK]))):
            found[int(row.id)] = int(row.credits_posted) - int(row.debits_posted)
    return found


def net_credits_of(account_id: ColumnElement[int]) -> ColumnElement[int]:
    """A SQL expression: credits posted minus debits posted (minor units; pending holds not
    counted) of the ledger account whose id is ``account_id`` (a column of the caller's
    query), NULL when there is none: what :func:`posted_net_credits` reads, for a set-based
    statement over many accounts (one primary-key lookup per row)."""
    a = ledger_accounts.c
    return select(a.credits_posted - a.debits_posted).where(
        a.id == account_id).scalar_subquery()


def available_of(account_id: ColumnElement[int]) -> ColumnElement[int]:
    """A SQL expression: what the ledger account whose id is ``account_id`` (a column of
    the caller's query) can still spend or draw, :attr:`Account.available_minor` (its
    balance on its normal side less the pending holds that would reduce it), NULL when
    there is none: for a read that needs one account's availability with its own row, in
    the same statement (one primary-key lookup)."""
    from sqlalchemy import case

    a = ledger_accounts.c
    return select(case(
        (a.normal_side == str(NormalSide.DEBIT),
         a.debits_posted - a.credits_posted - a.credits_pending),
        else_=a.credits_posted - a.debits_posted - a.debits_pending)).where(
        a.id == account_id).scalar_subquery()


@dataclass(frozen=True)
class Recovery:
    """One transfer of ``code`` (e.g. ``credit.recovery``): its currency, its reference (the
    credit account it recovers for, when set) and its amount in minor units."""

    currency: str
    reference: str | None
    amount_minor: int


def recoveries_between(conn: Connection, code: str, begin: dt.datetime, stop: dt.datetime
                       ) -> list[Recovery]:
    """Transfers of ``code`` created in ``[begin, stop)``, in journal order."""
    t = ledger_transfers.c
    return [Recovery(row.currency, row.reference, int(row.amount_minor))
            for row in conn.execute(select(t.currency, t.reference, t.amount_minor)
                                    .where(t.code == code, t.created_at >= begin,
                                           t.created_at < stop)
                                    .order_by(t.seq))]


@dataclass(frozen=True, slots=True)
class TailTransfer:
    """A posted transfer as a follower of the journal reads it."""

    seq: int
    code: str
    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    reference: str | None
    created_at: dt.datetime


def transfers_after(conn: Connection, after_seq: int, codes: Iterable[str], *,
                    limit: int = 10_000) -> list[TailTransfer]:
    """Single (non-hold) transfers of ``codes`` with ``seq`` > ``after_seq``, in journal order,
    at most ``limit`` (a follower reads the journal in pages: seq is the primary key)."""
    if not 1 <= limit <= 100_000:
        raise ValidationError("must be 1..100000", field="limit")
    t = ledger_transfers.c
    rows = conn.execute(select(t.seq, t.code, t.debit_account_id, t.credit_account_id,
                               t.amount_minor, t.reference, t.created_at)
                        .where(t.seq > after_seq, t.code.in_(list(codes)))
                        .order_by(t.seq).limit(limit))
    return [TailTransfer(int(r.seq), r.code, int(r.debit_account_id), int(r.credit_account_id),
                         int(r.amount_minor), r.reference, r.created_at) for r in rows]


def last_transfer_seq(conn: Connection) -> int:
    """The journal's last seq (0 when empty)."""
    from sqlalchemy import func

    return int(conn.execute(select(func.coalesce(func.max(ledger_transfers.c.seq), 0)))
               .scalar_one())


def count_transfers(conn: Connection, ids: Iterable[str]) -> int:
    """How many of the transfer ``ids`` exist in the journal."""
    from sqlalchemy import func

    wanted = list(ids)
    total = 0
    for start in range(0, len(wanted), IN_CHUNK):
        total += int(conn.execute(select(func.count()).select_from(ledger_transfers).where(
            ledger_transfers.c.id.in_(wanted[start:start + IN_CHUNK]))).scalar_one())
    return total


@dataclass(frozen=True)
class MonthMovement:
    """What one platform account (by ``code``) posted in one month: debits and credits in
    minor units (single transfers and the posted parts of holds; pending holds not counted,
    as in the account's posted totals)."""

    month: str  # YYYY-MM (UTC, as the journal's created_at)
    code: str
    debits_minor: int
    credits_minor: int


def platform_movements_by_month(conn: Connection, *, codes: Iterable[str], currency: str,
                                day_from: dt.date | None = None,
                                day_to: dt.date | None = None) -> list[MonthMovement]:
    """The posted movements of the platform accounts ``codes`` in ``currency`` per month of
    the transfers' ``created_at`` (business time, UTC) within [day_from, day_to] (either end
    open when None), ordered by month and code; a month with no movement on an account has
    no row for it. The sums are what :mod:`creditpay.ledger.verify` derives the posted
    totals from (kinds ``single`` and ``post``), so over all months they add up to each
    account's posted debits and credits.

    Read through the journal's per-account indexes (one lookup per platform account and
    side; the platform accounts are few), grouped by month in the database."""
    from sqlalchemy import func

    from creditpay.db.periods import month_key

    if day_from is not None and day_to is not None and day_from > day_to:
        raise ValidationError("must not be after 'to'", field="from")
    a, t = ledger_accounts.c, ledger_transfers.c
    ids = {int(r.id): r.code for r in conn.execute(
        select(a.id, a.code).where(a.owner_type == "platform", a.currency == currency,
                                   a.code.in_(sorted(set(codes)))))}
    if not ids:
        return []
    month = month_key(conn.dialect.name, t.created_at, timestamp=True)
    bounds: list[ColumnElement[bool]] = [t.kind.in_(("single", "post"))]
    if day_from is not None:
        bounds.append(t.created_at >= dt.datetime.combine(day_from, dt.time(),
                                                           tzinfo=dt.UTC))
    if day_to is not None:
        bounds.append(t.created_at < dt.datetime.combine(day_to + dt.timedelta(days=1),
                                                          dt.time(), tzinfo=dt.UTC))
    found: dict[tuple[str, str], list[int]] = {}
    for side, column in ((0, t.debit_account_id), (1, t.credit_account_id)):
        rows = conn.execute(select(column.label("account"), month.label("month"),
                                   func.sum(t.amount_minor).label("amount"))
                            .where(column.in_(sorted(ids)), *bounds)
                            .group_by(column, month))
        for r in rows:
            totals = found.setdefault((r.month, ids[int(r.account)]), [0, 0])
            totals[side] += int(r.amount)
    return [MonthMovement(month, code, debits, credits)
            for (month, code), (debits, credits) in sorted(found.items())]
