"""A credit account paused while a purchase it financed is disputed (issue #20).

Payments opens a dispute and asks credit to pause the purchase (:func:`pause_purchase`);
when the dispute ends it asks credit to end the pause (:func:`end_pause`), before the
refund when the consumer won. Both run in the caller's transaction, with their audit record
and outbox event.

What a pause does, for an **installment plan** (``credit_accounts.kind = 'plan'``): the
whole plan is paused (a plan finances one purchase; pausing all of it is never worse for the
consumer than pausing the disputed part). While paused the close of business leaves the
account out (:data:`creditpay.credit.accounts_repo.NOT_PAUSED`: no interest, fee, penalty,
late status, late fee, billing or auto-debit) and collections do not contact about it
(:func:`paused_account_ids`). When the pause ends after N days every unpaid installment's
due date and the account's dates move N days later (:mod:`creditpay.credit.pause_core`), so
the plan ends exactly as an undisputed plan shifted by N days. A purchase on the
**revolving line** (``kind = 'line'``) is not paused (``paused = False`` in the result):
the line's disputed-balance bucket is not built (docs/disputes.md says so).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from creditpay.credit import accounts_repo as repo
from creditpay.credit.pause_core import ACCOUNT_DATES, paused_days, shift_dates
from creditpay.credit.pauses_tables import credit_pauses
from creditpay.credit.tables import credit_purchases
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError
from creditpay.ledger.model import validate_id as check_id
from creditpay.platform import audit
from creditpay.platform.validators import check_choice, check_minor

__all__ = ["PauseResult", "pause_purchase", "end_pause", "get_pause", "paused_account_ids",
           "purchase_accounts", "OUTCOMES"]

OUTCOMES = ("resumed", "refunded")


@dataclass(frozen=True)
class PauseResult:
    """A pause as it stands (dates ISO). ``paused`` is False when the purchase's account
    cannot be paused (a line purchase, or the plan is no longer active): nothing was
    stored then."""

    pause_id: str
    purchase_id: str
    account_id: str
    account_kind: str
    paused: bool
    amount_minor: int
    paused_on: str | None = None
    resumed_on: str | None = None
    days_shifted: int | None = None
    outcome: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _result(row: Any, kind: str) -> PauseResult:
    return PauseResult(
        row["pause_id"], row["purchase_id"], row["account_id"], kind, True,
        int(row["amount_minor"]), row["paused_on"].isoformat(),
        row["resumed_on"].isoformat() if row["resumed_on"] else None,
        row["days_shifted"], row["outcome"])


def _pause_row(conn: Connection, pause_id: str, *, lock: bool = False) -> Any:
    query = select(credit_pauses).where(credit_pauses.c.pause_id == pause_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def pause_purchase(tx: Tx, *, pause_id: str, purchase_id: str, amount_minor: int,
                   actor_id: str) -> PauseResult:
    """Pause the plan that financed ``purchase_id`` from today (idempotent per
    ``pause_id``). A line purchase is not paused (``paused`` False)."""
    check_id(pause_id, "pause_id")
    check_id(purchase_id, "purchase_id")
    check_minor(amount_minor, "amount_minor", minimum=1)
    stored = _pause_row(tx.conn, pause_id)
    if stored is not None:
        return _result(stored, "plan")
    purchase = tx.conn.execute(select(credit_purchases).where(
        credit_purchases.c.purchase_id == purchase_id)).mappings().first()
    if purchase is None:
        raise NotFoundError(f"no purchase {purchase_id!r}", field="purchase_id")
    account = repo.load_account(tx.conn, purchase["account_id"], lock=True)
    if account["kind"] != "plan" or account["status"] != "active":
        return PauseResult(pause_id, purchase_id, account["account_id"], account["kind"],
                           False, amount_minor)
    c = credit_pauses.c
    other = tx.conn.execute(select(c.pause_id).where(
        c.account_seq == account["seq"], c.resumed_on.is_(None))).first()
    if other is not None:
        raise StateError(f"the plan is already paused ({other.pause_id})", field="purchase_id")
    row = {"pause_id": pause_id, "account_id": account["account_id"],
           "account_seq": account["seq"], "purchase_id": purchase_id, "reason": "dispute",
           "amount_minor": amount_minor, "paused_on": tx.today, "resumed_on": None,
           "days_shifted": None, "outcome": None, "created_at": tx.now, "resumed_at": None}
    tx.conn.execute(credit_pauses.insert().values(row))
    result = _result(row, "plan")
    tx.emit("credit.account.paused", "credit_account", account["account_id"],
            result.as_dict())
    audit.append(tx, "system", actor_id, "credit.paused", "credit_account",
                 account["account_id"], {"pause_id": pause_id, "purchase_id": purchase_id,
                                         "amount_minor": amount_minor,
                                         "paused_on": tx.today.isoformat()})
    return result


def end_pause(tx: Tx, *, pause_id: str, outcome: str, actor_id: str) -> PauseResult:
    """End the pause ``pause_id`` today: every unpaid installment's due date and the
    account's dates move by the days paused (idempotent: an ended pause is returned as it
    ended). ``outcome``: ``resumed`` (the plan goes on) or ``refunded`` (the caller refunds
    next, through the refund path, on the shifted schedule)."""
    check_id(pause_id, "pause_id")
    check_choice(outcome, OUTCOMES, "outcome")
    row = _pause_row(tx.conn, pause_id, lock=True)
    if row is None:
        raise NotFoundError(f"no pause {pause_id!r}", field="pause_id")
    if row["resumed_on"] is not None:
        return _result(row, "plan")
    account = repo.load_account(tx.conn, row["account_id"], lock=True)
    days = paused_days(row["paused_on"], tx.today)
    if days and account["status"] == "active":
        items = repo.load_items(tx.conn, account["seq"])
        due, dates = shift_dates([(i.due_date, i.status) for i in items],
                                 {name: account[name] for name in ACCOUNT_DATES}, days)
        for item, new_due in zip(items, due, strict=True):
            if new_due != item.due_date:
                item.due_date = new_due
                item.dirty = True
        _save_due_dates(tx, items)
        repo.update_account(tx.conn, account["seq"], {**dates, "updated_at": tx.now})
    values = {"resumed_on": tx.today, "days_shifted": days, "outcome": outcome,
              "resumed_at": tx.now}
    tx.conn.execute(update(credit_pauses).where(credit_pauses.c.seq == row["seq"])
                    .values(values))
    result = _result({**row, **values}, "plan")
    tx.emit("credit.account.resumed", "credit_account", row["account_id"], result.as_dict())
    audit.append(tx, "system", actor_id, "credit.resumed", "credit_account",
                 row["account_id"], {"pause_id": pause_id, "days_shifted": days,
                                     "outcome": outcome})
    return result


def _save_due_dates(tx: Tx, items: list[repo.Item]) -> None:
    from creditpay.credit.tables import credit_installments

    for item in items:
        if item.dirty and item.id is not None:
            tx.conn.execute(update(credit_installments).where(
                credit_installments.c.id == item.id).values(due_date=item.due_date))
            item.dirty = False


def get_pause(conn: Connection, pause_id: str) -> PauseResult | None:
    """The pause ``pause_id`` as it stands (None if there is none)."""
    row = _pause_row(conn, pause_id)
    return None if row is None else _result(row, "plan")


def paused_account_ids(conn: Connection) -> set[str]:
    """The credit accounts paused now (collections contact none of them)."""
    c = credit_pauses.c
    return set(conn.execute(select(c.account_id).where(c.resumed_on.is_(None))).scalars())


def paused_since(conn: Connection, account_id: str) -> dt.date | None:
    """The day the account's open pause began (None: not paused)."""
    c = credit_pauses.c
    found: dt.date | None = conn.execute(select(c.paused_on).where(
        c.account_id == account_id, c.resumed_on.is_(None))).scalar()
    return found


def purchase_accounts(conn: Connection, purchase_ids: list[str]) -> dict[str, str]:
    """The credit account (plan or line) that financed each of ``purchase_ids``."""
    if not purchase_ids:
        return {}
    c = credit_purchases.c
    return {r.purchase_id: r.account_id for r in conn.execute(
        select(c.purchase_id, c.account_id).where(c.purchase_id.in_(purchase_ids)))}
