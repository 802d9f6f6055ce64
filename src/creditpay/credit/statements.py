"""Statements of credit lines, and converting a statement into installments (账单分期).

Statements are cut by the close of business on the line's statement day (see
:mod:`creditpay.credit.cob`); each carries one due item in ``credit_installments`` (principal
billed, interest posted at the cut, minimum payment) and its totals here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from creditpay.credit import accounts_repo as repo
from creditpay.credit import products as P
from creditpay.credit.calendar import add_months
from creditpay.credit.caps import check_all_in_cost
from creditpay.credit.lines import check_id, new_account_row
from creditpay.credit.plans import (
    MICRO,
    insert_account,
    insert_schedule,
    load_account,
    load_items,
    refresh_account,
    save_items,
)
from creditpay.credit.schedule import Schedule, build_schedule, with_terms
from creditpay.credit.tables import (
    credit_accounts,
    credit_conversions,
    credit_installments,
    credit_statements,
)
from creditpay.db.idempotency import find_replay, request_hash
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.platform.validators import check_minor

__all__ = ["StatementView", "get_statement", "list_statements", "bill_installment_schedule",
           "convert_statement_to_installments", "ConversionResult", "revolving_minimum_shares"]


@dataclass(frozen=True)
class StatementView:
    statement_id: str
    account_id: str
    statement_date: dt.date
    due_date: dt.date
    opening_balance_minor: int
    new_principal_minor: int
    interest_minor: int
    penalty_minor: int
    fee_minor: int
    closing_balance_minor: int
    minimum_payment_minor: int
    converted_minor: int
    lines: tuple[dict[str, Any], ...]
    installments_minor: int = 0  # plans' installments on this statement (in the closing)
    # The line's principal held in its disputed bucket at the cut (issue #20): not in the
    # closing balance or the minimum, not due while the dispute is investigated.
    disputed_minor: int = 0


@dataclass(frozen=True)
class ConversionResult:
    conversion_id: str
    statement_id: str
    plan_account_id: str
    amount_minor: int
    periods: int
    total_fee_minor: int
    all_in_annual_cost: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def revolving_minimum_shares(rate_micro: int, new_principal_minor: int,
                             carried_principal_minor: Sequence[int]) -> tuple[int, list[int]]:
    """The principal part of a revolving line's minimum payment, and where it sits (pure).

    The part is ``rate_micro`` millionths (the product's ``minimum_payment_rate``) of all
    the principal on the statement, the new and the carried, rounded half up to the minor
    unit. It is taken from the carried balances first, oldest first (``carried_principal_minor``
    in that order), then from the new principal, so that paying the minimum retires the
    principal that bears interest first. Returns (share of the new principal, share of each
    carried balance), in minor units; they add up to the part, and none exceeds its balance.
    """
    assert 0 <= rate_micro <= MICRO and new_principal_minor >= 0
    assert all(p >= 0 for p in carried_principal_minor)
    total = new_principal_minor + sum(carried_principal_minor)
    left = (2 * total * rate_micro + MICRO) // (2 * MICRO)  # half up
    shares = []
    for principal in carried_principal_minor:
        shares.append(min(principal, left))
        left -= shares[-1]
    assert left <= new_principal_minor
    return left, shares


def _statement_row(conn: Any, statement_id: str) -> dict[str, Any]:
    row = conn.execute(select(credit_statements).where(
        credit_statements.c.statement_id == statement_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no statement {statement_id!r}", field="statement_id")
    return dict(row)


def get_statement(conn: Any, statement_id: str) -> StatementView:
    """A statement with its lines (amounts in minor units): the line's new principal,
    interest, penalty and fees posted at the cut, then one ``installment`` line per
    installment of the customer's plans on the line falling due after the statement date
    and up to the next statement date, each with its own ``due_date``.

    ``closing_balance_minor`` = opening + the line's new amounts + ``installments_minor``;
    ``minimum_payment_minor`` counts the installments due by the statement's ``due_date``
    (later ones fall due before the next statement). Both are as of the cut; an installment
    line shows the installment as stored (a later refund reduces it). ``disputed_minor`` is
    the line's principal held in its disputed bucket (issue #20) at the cut, plus what a
    dispute opened since and still open took from this statement's balances (in neither);
    the minimum is then without that dispute's part of it
    (:func:`creditpay.credit.pauses.statement_disputes`)."""
    from creditpay.credit.pauses import statement_disputes

    row = _statement_row(conn, statement_id)
    account_id = repo.load_account_by_seq(conn, row["account_seq"])["account_id"]
    disputed, lowered = statement_disputes(conn, row["account_seq"], row["statement_date"],
                                           row["due_date"])
    lines: list[dict[str, Any]] = [
        {"kind": "principal", "amount_minor": row["new_principal_minor"]},
        {"kind": "interest", "amount_minor": row["interest_minor"]},
        {"kind": "penalty", "amount_minor": row["penalty_minor"]},
        {"kind": "fee", "amount_minor": row["fee_minor"]},
    ]
    own = [line for line in lines if line["amount_minor"]]
    installments_minor = row["closing_balance_minor"] - row["opening_balance_minor"] - sum(
        line["amount_minor"] for line in lines)
    return StatementView(row["statement_id"], account_id, row["statement_date"],
                         row["due_date"], row["opening_balance_minor"],
                         row["new_principal_minor"], row["interest_minor"],
                         row["penalty_minor"], row["fee_minor"], row["closing_balance_minor"],
                         row["minimum_payment_minor"] - lowered, row["converted_minor"],
                         tuple(own + _installment_lines(conn, statement_id, row)),
                         installments_minor, disputed)


def _installment_lines(conn: Any, statement_id: str, row: dict[str, Any]
                       ) -> list[dict[str, Any]]:
    """The plan installments the close of business put on the statement (tagged with its
    id), in due-date order; the line's own due item is not one of them."""
    ci = credit_installments.c
    query = select(credit_accounts.c.account_id, ci.number, ci.due_date, ci.principal_minor,
                   ci.interest_minor, ci.fee_minor).join(
        credit_accounts, credit_accounts.c.seq == ci.account_seq).where(
        ci.statement_id == statement_id, ci.account_seq != row["account_seq"]).order_by(
        ci.due_date, ci.id)
    return [{"kind": "installment", "account_id": r.account_id, "number": r.number,
             "due_date": r.due_date, "principal_minor": r.principal_minor,
             "interest_minor": r.interest_minor, "fee_minor": r.fee_minor,
             "amount_minor": r.principal_minor + r.interest_minor + r.fee_minor}
            for r in conn.execute(query)]


def list_statements(conn: Any, account_id: str) -> list[StatementView]:
    account = load_account(conn, account_id)
    ids = conn.execute(select(credit_statements.c.statement_id).where(
        credit_statements.c.account_seq == account["seq"]).order_by(
        credit_statements.c.statement_date)).scalars().all()
    return [get_statement(conn, statement_id) for statement_id in ids]


def bill_installment_schedule(product: P.CreditLineProduct, periods: int, amount_minor: int,
                              today: dt.date, due_date: dt.date, currency: str) -> Schedule:
    """Pure: the plan converting ``amount_minor`` of a statement due on ``due_date`` into
    ``periods`` installments on business date ``today`` (flat fee on the amount). Quotes and
    the conversion both build it here, so the plan taken is the plan quoted."""
    terms = P.bill_installment_terms(product, periods, amount_minor, today, currency)
    # The first installment falls a month after the statement's due date: a first period of
    # a few days would carry a whole period's fee (an all-in cost above the cap).
    return build_schedule(with_terms(terms, first_due_date=add_months(due_date, 1)))


def _lower_minimum(product: P.CreditLineProduct, line_account: dict[str, Any],
                   items: list[Any], item: Any, amount_minor: int) -> None:
    """A conversion of ``amount_minor`` of the statement ``item`` lowers its minimum: by the
    amount itself on a no_revolve line (whose minimum is the statement); on a revolving line
    by the amount's share of the minimum (``minimum_payment_rate`` of it, half up), taken
    from the statement's own principal share first, then from the carried balances' shares
    (newest first). The converted principal is owed on the plan's installments instead."""
    if line_account["style"] != P.LineStyle.REVOLVE.value:
        item.minimum_minor = max(0, item.minimum_minor - amount_minor)
        return
    rate = P.rate_micro(product.minimum_payment_rate)
    left = (2 * amount_minor * rate + MICRO) // (2 * MICRO)
    carried = sorted((i for i in items if i.status == "past_due"
                      and i.due_date == item.due_date), key=lambda i: i.number, reverse=True)
    for target in [item, *carried]:
        share = max(0, target.minimum_minor - target.paid_total - target.interest_due
                    - target.fee_due)
        cut = min(left, share)
        target.minimum_minor -= cut
        target.dirty = True
        left -= cut
    # Never more than the statement still owes.
    item.minimum_minor = min(item.minimum_minor, item.paid_total + item.total_due)


def convert_statement_to_installments(tx: Tx, *, conversion_id: str, statement_id: str,
                                      amount_minor: int, periods: int,
                                      catalogue: P.Catalogue) -> ConversionResult:
    """Move ``amount_minor`` of a statement's unpaid principal into a flat-fee installment
    plan of ``periods`` (the line product's bill-installment options), first due a month
    after the statement's due date. The receivable stays the same principal; no money moves."""
    check_id(conversion_id, "conversion_id")
    check_id(statement_id, "statement_id")
    check_minor(amount_minor, "amount_minor", minimum=1)
    fingerprint = request_hash(statement_id=statement_id, amount_minor=amount_minor,
                               periods=periods)
    stored = find_replay(tx.conn, credit_conversions.c.conversion_id, conversion_id,
                         fingerprint, field="conversion_id",
                         conflict=f"conversion {conversion_id} exists with other content")
    if stored is not None:
        plan = load_account(tx.conn, stored["plan_account_id"])
        fee = sum(i.fee_minor for i in load_items(tx.conn, plan["seq"], open_only=False))
        return ConversionResult(conversion_id, statement_id, plan["account_id"],
                                amount_minor, periods, fee, "")
    statement = _statement_row(tx.conn, statement_id)
    line_account = repo.load_account_by_seq(tx.conn, statement["account_seq"])
    if line_account["status"] != "active":
        raise StateError(f"line is {line_account['status']}", field="statement_id")
    product = catalogue.get(line_account["product_code"], line_account["product_version"])
    assert isinstance(product, P.CreditLineProduct)
    if isinstance(periods, bool) or not isinstance(periods, int):
        raise ValidationError("must be an integer", field="periods")
    product.bill_option(periods)
    today = tx.today
    if today > statement["due_date"]:
        raise StateError("the statement is past its due date; it can no longer be"
                         " converted", field="statement_id")
    items = load_items(tx.conn, line_account["seq"])
    item = next((i for i in items if i.number == statement["installment_number"]), None)
    if item is None or item.status != "billed":
        raise StateError("the statement has nothing left to convert", field="statement_id")
    if amount_minor > item.principal_due:
        raise ValidationError(f"exceeds the statement's unpaid principal {item.principal_due}",
                              field="amount_minor")
    schedule = bill_installment_schedule(product, periods, amount_minor, today,
                                         statement["due_date"], line_account["currency"])
    cost = check_all_in_cost(schedule, catalogue.caps(product.jurisdiction),
                             what="this bill installment plan")
    item.principal_minor -= amount_minor
    _lower_minimum(product, line_account, items, item, amount_minor)
    item.dirty = True
    if item.total_due == 0:
        item.status = "paid"
    save_items(tx, line_account["seq"], items)
    refresh_account(tx, line_account, items, today, catalogue=catalogue)
    plan_id = f"conv_{statement['account_seq']}_{conversion_id}"[:64]
    plan = insert_account(tx, new_account_row(
        account_id=plan_id, kind="plan", customer_id=line_account["customer_id"],
        currency=line_account["currency"], line_id=line_account["line_id"], product=product,
        opened_on=today, now=tx.now, principal_minor=amount_minor,
        receivables={"principal": line_account["principal_account_id"],
                     "interest": line_account["interest_account_id"],
                     "fee": line_account["fee_account_id"],
                     "penalty": line_account["penalty_account_id"]},
        line_available_account_id=line_account["line_available_account_id"],
        method="flat", interest_rate=Decimal(0), interest_base=0, style=None,
        schedule_level_minor=schedule.installments[0].principal_minor,
        anchor_day=schedule.installments[0].due_date.day,
        principal_unbilled_minor=amount_minor,
        next_due_date=schedule.installments[0].due_date))
    insert_schedule(tx, plan, schedule)
    tx.conn.execute(credit_statements.update().where(
        credit_statements.c.statement_id == statement_id).values(
        converted_minor=statement["converted_minor"] + amount_minor))
    tx.conn.execute(credit_conversions.insert(), {
        "conversion_id": conversion_id, "request_hash": fingerprint,
        "statement_id": statement_id, "plan_account_id": plan_id,
        "amount_minor": amount_minor, "periods": periods, "created_at": tx.now})
    from creditpay.formatting import percent_string

    result = ConversionResult(conversion_id, statement_id, plan_id, amount_minor, periods,
                              schedule.totals.fee_minor, percent_string(cost))
    tx.emit("credit.statement.converted", "credit_statement", statement_id, result.as_dict())
    return result
