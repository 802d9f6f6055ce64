"""Hardship on a pay-later line (docs/hardship.md, "A pay-later line"): the line's side of
:mod:`creditpay.credit.hardship`'s use cases.

* :func:`line_snapshot` reads what the line's options are a pure function of
  (:class:`creditpay.credit.hardship_line_core.LineHardshipAccount`);
* :func:`start_line_arrangement` applies an accepted option in the caller's transaction: the
  line's unpaid principal leaves its statements and unbilled purchases for a new hardship
  plan on the line (``hsl_`` + the arrangement id; the same machinery as converting a
  statement into installments: a plan account sharing the line's receivables and limit, so
  no money moves and the ledger is unchanged), the line's interest accrued and not yet
  posted goes with it (the plan's first installment bills it, as disclosed), and the line is
  frozen for new purchases (``frozen_reason`` ``hardship``) while the arrangement runs;
* :func:`after_line_arrangement` lifts that freeze when the arrangement completes (a broken
  one leaves the line frozen: staff review it).

Interest and fees already posted on the line's statements stay owed there as they were
(their minimum never exceeds what is left), like an installment already billed on a plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select

from creditpay.credit import accounts_repo as repo
from creditpay.credit import products as P
from creditpay.credit.daycount import DayCount
from creditpay.credit.hardship_core import HardshipOption
from creditpay.credit.hardship_line_core import LineHardshipAccount
from creditpay.credit.lines import new_account_row
from creditpay.credit.plans import (
    accrual_denominator,
    insert_account,
    insert_schedule,
    refresh_account,
)
from creditpay.credit.tables import credit_lines
from creditpay.db.uow import Tx

__all__ = ["LINE_PLAN_PREFIX", "FROZEN_BY_HARDSHIP", "line_snapshot",
           "start_line_arrangement", "after_line_arrangement", "line_plan_id"]

# The hardship plan of a line's arrangement is ``hsl_<arrangement id>``: collections and
# bureau reporting find the line's arrangement through it.
LINE_PLAN_PREFIX = "hsl_"
FROZEN_BY_HARDSHIP = "hardship"
_OPEN = ("billed", "past_due")


def line_plan_id(arrangement_id: str) -> str:
    return (LINE_PLAN_PREFIX + arrangement_id)[:64]


def _charges(items: list[repo.Item], account: Mapping[str, Any]) -> int:
    return (sum(i.interest_due + i.fee_due for i in items if i.status in _OPEN)
            + account["penalty_unpaid_minor"] + account["late_fee_unpaid_minor"])


def line_snapshot(account: Mapping[str, Any], items: list[repo.Item], *, start: dt.date,
                  in_window: int, active: bool) -> LineHardshipAccount:
    """The line as its options see it on the first day servicing has not accrued
    (``start``). Interest: a revolving line's rate and its accrued, unposted interest; a
    line without interest (``interest_base`` 0: penalty only when late) gives 0."""
    revolving = account["interest_base"] == 2 and account["interest_rate_micro"] > 0
    accrued = Fraction(account["interest_accrual_num"], accrual_denominator(dict(account))) \
        if revolving else Fraction(0)
    principal = account["principal_unbilled_minor"] + sum(
        i.principal_due for i in items if i.status in _OPEN)
    return LineHardshipAccount(
        account_id=account["account_id"], status=account["status"],
        currency=account["currency"], dpd=account["dpd"],
        annual_rate=Decimal(account["interest_rate_micro"]) / P.MICRO if revolving
        else Decimal(0),
        day_count=DayCount.ACT_360 if account["year_basis_days"] == 360 else DayCount.ACT_365,
        start_date=start, accrued_interest_minor=accrued, principal_minor=principal,
        charges_minor=_charges(items, account), arrangements_in_window=in_window,
        arrangement_active=active, product_code=account["product_code"],
        product_version=account["product_version"])


def start_line_arrangement(tx: Tx, arrangement_id: str, line: dict[str, Any],
                           option: HardshipOption, *, catalogue: P.Catalogue
                           ) -> dict[str, Any]:
    """Move the line's unpaid principal into ``option``'s hardship plan and freeze the
    line (see the module). Returns the new plan account (its ``account_id`` carries the
    arrangement)."""
    items = repo.load_items(tx.conn, line["seq"])
    moved = line["principal_unbilled_minor"]
    for item in items:
        if item.status not in _OPEN or item.principal_due <= 0:
            continue
        moved += item.principal_due
        item.principal_minor -= item.principal_due
        # What is left on the statement (its interest and fees) is all it can still ask.
        item.minimum_minor = min(item.minimum_minor, item.paid_total + item.total_due)
        if item.total_due == 0:
            item.status = "paid"
        item.dirty = True
    schedule = option.schedule
    assert moved == schedule.totals.principal_minor, (moved, schedule.totals.principal_minor)
    carried = line["interest_accrual_num"] if line["interest_base"] == 2 else 0
    repo.save_items(tx.conn, line["seq"], items)
    refresh_account(tx, line, items, tx.today, catalogue=catalogue,
                    principal_unbilled_minor=0,
                    interest_accrual_num=line["interest_accrual_num"] - carried)
    product = catalogue.get(line["product_code"], line["product_version"])
    first = schedule.installments[0]
    accrual_rate = option.rate_during_holiday if option.rate_during_holiday is not None \
        else option.annual_rate
    interest_bearing = option.annual_rate > 0
    assert interest_bearing or carried == 0
    plan = insert_account(tx, new_account_row(
        account_id=line_plan_id(arrangement_id), kind="plan",
        customer_id=line["customer_id"], currency=line["currency"],
        line_id=line["line_id"], product=product, opened_on=tx.today, now=tx.now,
        principal_minor=moved,
        receivables={"principal": line["principal_account_id"],
                     "interest": line["interest_account_id"],
                     "fee": line["fee_account_id"], "penalty": line["penalty_account_id"]},
        line_available_account_id=line["line_available_account_id"],
        method="equal_installment", interest_rate=accrual_rate,
        interest_base=1 if interest_bearing else 0, style=None,
        schedule_level_minor=schedule.level_payment_minor or first.principal_minor,
        anchor_day=schedule.terms.anchor_day or schedule.terms.start_date.day,
        principal_unbilled_minor=moved, next_due_date=first.due_date,
        interest_accrual_num=carried, last_cob_date=line["last_cob_date"]))
    insert_schedule(tx, plan, schedule)
    result = tx.conn.execute(credit_lines.update().where(
        credit_lines.c.line_id == line["line_id"], credit_lines.c.status == "active"
    ).values(status="frozen", frozen_reason=FROZEN_BY_HARDSHIP, updated_at=tx.now))
    if result.rowcount:
        tx.emit("credit.line.frozen", "credit_line", line["line_id"],
                {"frozen_reason": FROZEN_BY_HARDSHIP, "reason": "hardship arrangement"})
    return plan


def after_line_arrangement(tx: Tx, plan: Mapping[str, Any], status: str) -> None:
    """A line's arrangement ended ``status``: a completed one lifts the hardship freeze of
    the line (a freeze for another reason stays); a broken one leaves it."""
    if status != "completed" or not str(plan["account_id"]).startswith(LINE_PLAN_PREFIX):
        return
    c = credit_lines.c
    line = tx.conn.execute(select(c.status, c.frozen_reason).where(
        c.line_id == plan["line_id"])).first()
    if line is None or (line.status, line.frozen_reason) != ("frozen", FROZEN_BY_HARDSHIP):
        return
    tx.conn.execute(credit_lines.update().where(
        c.line_id == plan["line_id"], c.status == "frozen",
        c.frozen_reason == FROZEN_BY_HARDSHIP).values(status="active", frozen_reason=None,
                                                      updated_at=tx.now))
    tx.emit("credit.line.unfrozen", "credit_line", plan["line_id"],
            {"frozen_reason": FROZEN_BY_HARDSHIP})

