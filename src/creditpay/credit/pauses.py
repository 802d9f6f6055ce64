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
the plan ends exactly as an undisputed plan shifted by N days.

For a purchase on the **revolving line** (``kind = 'line'``) the line goes on; the disputed
amount is *held* in the line's disputed bucket (the pause row's ``held_minor``, at most what
the line owes in principal): it is taken out of the line's balances where a refund of that
amount would take it (:func:`creditpay.credit.pause_core.hold_on_line`), so no interest
accrues on it, it is in no statement's minimum and its non-payment cannot make the line
late, while the ledger's principal receivable keeps it (:func:`disputed_minor` is the
difference). When the dispute ends the held principal is released as principal not yet on a
statement: the merchant won, so it is due on the next statement's due date at the earliest
and nothing is charged for the days it was held; or the consumer won, and the refund path
that the caller runs next takes it out again, as a merchant refund of that amount does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update

from creditpay.credit import accounts_repo as repo
from creditpay.credit import products as P
from creditpay.credit.pause_core import (
    ACCOUNT_DATES,
    LineItem,
    hold_on_line,
    paused_days,
    shift_dates,
)
from creditpay.credit.pauses_tables import credit_pauses
from creditpay.credit.tables import credit_purchases
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError
from creditpay.ledger.model import validate_id as check_id
from creditpay.platform import audit
from creditpay.platform.validators import check_choice, check_minor

__all__ = ["PauseResult", "pause_purchase", "end_pause", "get_pause", "paused_account_ids",
           "purchase_accounts", "OUTCOMES", "disputed_minor", "statement_disputes",
           "disputed_subquery"]

OUTCOMES = ("resumed", "refunded")


@dataclass(frozen=True)
class PauseResult:
    """A pause as it stands (dates ISO). ``paused`` is False when the purchase's account
    cannot be paused (the account is no longer active, or a line that owes no principal to
    hold): nothing was stored then. ``held_minor``: for a line, the principal held in its
    disputed bucket (None for a plan)."""

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
    held_minor: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _result(row: Any) -> PauseResult:
    held = row.get("held_minor")
    return PauseResult(
        row["pause_id"], row["purchase_id"], row["account_id"],
        row.get("account_kind") or "plan", True,
        int(row["amount_minor"]), row["paused_on"].isoformat(),
        row["resumed_on"].isoformat() if row["resumed_on"] else None,
        row["days_shifted"], row["outcome"], None if held is None else int(held))


def _pause_row(conn: Connection, pause_id: str, *, lock: bool = False) -> Any:
    query = select(credit_pauses).where(credit_pauses.c.pause_id == pause_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def pause_purchase(tx: Tx, *, pause_id: str, purchase_id: str, amount_minor: int,
                   actor_id: str, catalogue: P.Catalogue | None = None) -> PauseResult:
    """Pause the plan that financed ``purchase_id`` from today, or hold ``amount_minor`` of
    a line purchase in the line's disputed bucket (idempotent per ``pause_id``). A line's
    hold needs ``catalogue`` (the line's minimum rate and bucket bounds)."""
    check_id(pause_id, "pause_id")
    check_id(purchase_id, "purchase_id")
    check_minor(amount_minor, "amount_minor", minimum=1)
    stored = _pause_row(tx.conn, pause_id)
    if stored is not None:
        return _result(stored)
    purchase = tx.conn.execute(select(credit_purchases).where(
        credit_purchases.c.purchase_id == purchase_id)).mappings().first()
    if purchase is None:
        raise NotFoundError(f"no purchase {purchase_id!r}", field="purchase_id")
    account = repo.load_account(tx.conn, purchase["account_id"], lock=True)
    if account["kind"] == "line" and account["status"] == "active":
        if catalogue is None:
            raise ValueError("holding a line purchase needs the catalogue")
        return _hold_on_line(tx, account, pause_id=pause_id, purchase_id=purchase_id,
                             amount_minor=amount_minor, actor_id=actor_id,
                             catalogue=catalogue)
    if account["kind"] != "plan" or account["status"] != "active":
        return PauseResult(pause_id, purchase_id, account["account_id"], account["kind"],
                           False, amount_minor)
    c = credit_pauses.c
    other = tx.conn.execute(select(c.pause_id).where(
        c.account_seq == account["seq"], c.resumed_on.is_(None),
        c.account_kind == "plan")).first()
    if other is not None:
        raise StateError(f"the plan is already paused ({other.pause_id})", field="purchase_id")
    row = {"pause_id": pause_id, "account_id": account["account_id"],
           "account_seq": account["seq"], "purchase_id": purchase_id, "reason": "dispute",
           "amount_minor": amount_minor, "paused_on": tx.today, "resumed_on": None,
           "days_shifted": None, "outcome": None, "created_at": tx.now, "resumed_at": None,
           "account_kind": "plan", "held_minor": None}
    tx.conn.execute(credit_pauses.insert().values(row))
    result = _result(row)
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
        return _result(row)
    if row["account_kind"] == "line":
        return _release_on_line(tx, row, outcome=outcome, actor_id=actor_id)
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
    result = _result({**row, **values})
    tx.emit("credit.account.resumed", "credit_account", row["account_id"], result.as_dict())
    audit.append(tx, "system", actor_id, "credit.resumed", "credit_account",
                 row["account_id"], {"pause_id": pause_id, "days_shifted": days,
                                     "outcome": outcome})
    return result


def _hold_on_line(tx: Tx, account: dict[str, Any], *, pause_id: str, purchase_id: str,
                  amount_minor: int, actor_id: str, catalogue: P.Catalogue) -> PauseResult:
    """Hold ``amount_minor`` of a line purchase in the line's disputed bucket (the line
    locked by the caller): out of its balances as :func:`pause_core.hold_on_line` says, the
    line's aggregates recomputed from its statements (so a line whose only unpaid minimum
    was the disputed part is current again). Nothing is posted: the receivable stays."""
    from creditpay.credit.plans import refresh_account

    product = catalogue.get(account["product_code"], account["product_version"])
    assert isinstance(product, P.CreditLineProduct)
    items = repo.load_items(tx.conn, account["seq"])
    statement_items = [i for i in items if i.status in ("billed", "past_due")]
    line_items = [LineItem(i.number, i.principal_due, i.minimum_minor, i.paid_total,
                           i.interest_due + i.fee_due) for i in statement_items]
    hold = hold_on_line(
        amount_minor, int(account["principal_unbilled_minor"]), line_items,
        revolve=account["style"] == P.LineStyle.REVOLVE.value,
        minimum_rate_micro=P.rate_micro(product.minimum_payment_rate))
    if hold.held_minor == 0:  # the line owes no principal: nothing to hold
        return PauseResult(pause_id, purchase_id, account["account_id"], "line", False,
                           amount_minor)
    by_number = {i.number: i for i in statement_items}
    lowered = hold.lowered_by(line_items)
    held_from = {"unbilled_minor": hold.from_unbilled_minor,
                 "cuts": [[number, cut, lowered[number], by_number[number].due_date.isoformat()]
                          for number, cut, _ in hold.cuts]}
    for number, cut, minimum in hold.cuts:
        item = by_number[number]
        item.principal_minor -= cut
        item.minimum_minor = minimum
        item.dirty = True
        if item.total_due == 0:
            item.status = "paid"
    repo.save_items(tx.conn, account["seq"], items)
    account["principal_unbilled_minor"] -= hold.from_unbilled_minor
    refresh_account(tx, account, items, tx.today, catalogue=catalogue)
    row = {"pause_id": pause_id, "account_id": account["account_id"],
           "account_seq": account["seq"], "purchase_id": purchase_id, "reason": "dispute",
           "amount_minor": amount_minor, "paused_on": tx.today, "resumed_on": None,
           "days_shifted": None, "outcome": None, "created_at": tx.now, "resumed_at": None,
           "account_kind": "line", "held_minor": hold.held_minor, "held_from": held_from}
    tx.conn.execute(credit_pauses.insert().values(row))
    result = _result(row)
    tx.emit("credit.account.paused", "credit_account", account["account_id"],
            result.as_dict())
    audit.append(tx, "system", actor_id, "credit.paused", "credit_account",
                 account["account_id"], {"pause_id": pause_id, "purchase_id": purchase_id,
                                         "amount_minor": amount_minor,
                                         "held_minor": hold.held_minor,
                                         "paused_on": tx.today.isoformat()})
    return result


def _release_on_line(tx: Tx, row: Any, *, outcome: str, actor_id: str) -> PauseResult:
    """Release the held principal of the line pause ``row`` today: it becomes principal not
    yet on a statement (the next statement bills it, due on its due date). With ``refunded``
    the caller's refund then takes it out again: a line refund takes principal not yet on a
    statement first. ``days_shifted`` is 0: no date of the line moves."""
    account = repo.load_account(tx.conn, row["account_id"], lock=True)
    held = int(row["held_minor"] or 0)
    if held and account["status"] == "active":
        repo.add_unbilled_principal(tx.conn, account["seq"], held, tx.now)
    values = {"resumed_on": tx.today, "days_shifted": 0, "outcome": outcome,
              "resumed_at": tx.now}
    tx.conn.execute(update(credit_pauses).where(credit_pauses.c.seq == row["seq"])
                    .values(values))
    result = _result({**row, **values})
    tx.emit("credit.account.resumed", "credit_account", row["account_id"], result.as_dict())
    audit.append(tx, "system", actor_id, "credit.resumed", "credit_account",
                 row["account_id"], {"pause_id": row["pause_id"], "days_shifted": 0,
                                     "held_minor": held, "outcome": outcome})
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
    return None if row is None else _result(row)


def paused_account_ids(conn: Connection) -> set[str]:
    """The credit accounts paused now (collections contact none of them). A line with a
    disputed purchase is not paused: its disputed amount is out of its balances, so it is
    not overdue because of it."""
    c = credit_pauses.c
    return set(conn.execute(select(c.account_id).where(
        c.resumed_on.is_(None), c.account_kind == "plan")).scalars())


def paused_since(conn: Connection, account_id: str) -> dt.date | None:
    """The day the plan's open pause began (None: not paused)."""
    c = credit_pauses.c
    found: dt.date | None = conn.execute(select(c.paused_on).where(
        c.account_id == account_id, c.resumed_on.is_(None),
        c.account_kind == "plan")).scalar()
    return found


def disputed_minor(conn: Connection, account_id: str) -> int:
    """The principal of the line ``account_id`` held in its disputed bucket now (0: none).
    The ledger's principal receivable includes it; the account's balances do not."""
    c = credit_pauses.c
    found = conn.execute(select(func.coalesce(func.sum(c.held_minor), 0)).where(
        c.account_id == account_id, c.account_kind == "line",
        c.resumed_on.is_(None))).scalar()
    return int(found or 0)


def disputed_subquery(customer_id: Any, currency: Any) -> Any:
    """A scalar subquery: the principal held in the disputed buckets of the customer's
    active lines in ``currency`` (values or bind parameters), for the exposure reads of
    :mod:`creditpay.credit.service` (the held principal is owed still)."""
    from creditpay.credit.tables import credit_accounts

    a, c = credit_accounts.c, credit_pauses.c
    return select(func.coalesce(func.sum(c.held_minor), 0)).select_from(
        credit_pauses.join(credit_accounts, a.seq == c.account_seq)).where(
        a.customer_id == customer_id, a.currency == currency, a.status == "active",
        c.account_kind == "line", c.resumed_on.is_(None)).scalar_subquery()


def statement_disputes(conn: Connection, account_seq: int, statement_date: dt.date,
                       due_date: dt.date) -> tuple[int, int]:
    """What the line's (by ``account_seq``) statement of ``statement_date``, due on
    ``due_date``, shows of its disputes: (disputed, minimum lowered by), in minor units.

    Disputed: the principal in the line's disputed bucket at the cut (held on or before the
    statement date, not released by then), plus what disputes opened after the cut and still
    open took from the balances this statement shows (the items due on its due date). The
    minimum lowered by: what those later disputes took off the minimum of those items (for
    good: a released amount comes back as new principal on a later statement)."""
    c = credit_pauses.c
    rows = conn.execute(select(c.paused_on, c.resumed_on, c.held_minor, c.held_from).where(
        c.account_seq == account_seq, c.account_kind == "line",
        or_(c.resumed_on.is_(None), c.resumed_on > statement_date))).all()
    disputed = lowered = 0
    due = due_date.isoformat()
    for paused_on, resumed_on, held, held_from in rows:
        if paused_on <= statement_date:
            disputed += int(held or 0)
            continue
        for _, cut, minimum_lowered, item_due in (held_from or {}).get("cuts", []):
            if item_due == due:
                lowered += int(minimum_lowered)
                disputed += int(cut) if resumed_on is None else 0
    return disputed, lowered


def purchase_accounts(conn: Connection, purchase_ids: list[str]) -> dict[str, str]:
    """The credit account (plan or line) that financed each of ``purchase_ids``."""
    if not purchase_ids:
        return {}
    return {purchase_id: account_id for purchase_id, account_id in conn.execute(
        _PURCHASE_ACCOUNTS, {"purchase_ids": list(purchase_ids)})}


# A constant statement built once (the consumer's disputable payments read it).
_PURCHASE_ACCOUNTS = select(credit_purchases.c.purchase_id, credit_purchases.c.account_id).where(
    credit_purchases.c.purchase_id.in_(bindparam("purchase_ids", expanding=True)))
