"""A line's monthly statement carries the installments of the customer's plans on that
line falling due in the cycle: lines, totals, minimum payment and due date agree, on SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from creditpay.credit import service as S
from tests.catalogues import CATALOGUE

from .servicing_helpers import (
    CNY,
    account,
    buy,
    close_days,
    close_until,
    items,
    new_customer,
    reconcile,
    repay,
)

D = dt.date


def _statement(uow, line_id: str, day: dt.date) -> S.StatementView:
    with uow.connect() as conn:
        return S.get_statement(conn, f"{line_id}:{day.isoformat()}")


def _check_totals(statement: S.StatementView) -> None:
    own = sum(line["amount_minor"] for line in statement.lines
              if line["kind"] != "installment")
    plans = sum(line["amount_minor"] for line in statement.lines
                if line["kind"] == "installment")
    assert plans == statement.installments_minor
    assert statement.closing_balance_minor == statement.opening_balance_minor + own + plans
    for line in statement.lines:
        if line["kind"] == "installment":
            assert line["amount_minor"] == (line["principal_minor"] + line["interest_minor"]
                                            + line["fee_minor"])
            assert statement.statement_date < line["due_date"]


def test_line_statement_includes_plan_installments_of_the_cycle(uow, clock):
    who = new_customer(uow)  # huabei: statement on the 1st, due 9 days later
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p-line", 30_000)
    _, early = buy(uow, who, "p-early", 60_000, funding="plan", product_code="baitiao",
                   periods=3)  # 20,000 + 300 fee, due Apr 2, May 2, Jun 2
    close_until(uow, clock, D(2025, 3, 20))
    _, late = buy(uow, who, "p-late", 90_000, funding="plan", product_code="baitiao",
                  periods=3)  # 30,000 + 450 fee, due Apr 20, May 20, Jun 20
    close_until(uow, clock, D(2025, 4, 2))

    april = _statement(uow, who.line_id, D(2025, 4, 1))
    assert april.due_date == D(2025, 4, 10)
    plan_lines = [line for line in april.lines if line["kind"] == "installment"]
    assert [(line["account_id"], line["number"], line["due_date"], line["amount_minor"])
            for line in plan_lines] == [(early.account_id, 1, D(2025, 4, 2), 20_300),
                                        (late.account_id, 1, D(2025, 4, 20), 30_450)]
    assert [line for line in april.lines if line["kind"] != "installment"] == [
        {"kind": "principal", "amount_minor": 30_000}]
    assert april.installments_minor == 50_750
    assert april.closing_balance_minor == 30_000 + 50_750
    # Due by Apr 10: the line's statement and the Apr 2 installment; the Apr 20 one is
    # shown but falls due after the statement's due date.
    assert april.minimum_payment_minor == 30_000 + 20_300
    _check_totals(april)

    with uow.begin() as tx:
        S.repay(tx, repayment_id="r-apr", customer_id=who.customer_id, currency=CNY,
                amount_minor=30_000 + 20_300, source_account_id=who.wallet_id, catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 4, 20))
    with uow.begin() as tx:
        S.repay(tx, repayment_id="r-apr20", customer_id=who.customer_id, currency=CNY,
                amount_minor=30_450, source_account_id=who.wallet_id, catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 5, 2))

    # Nothing new on the line in April: May's statement is cut for the plans alone.
    may = _statement(uow, who.line_id, D(2025, 5, 1))
    assert [(line["account_id"], line["due_date"], line["amount_minor"])
            for line in may.lines] == [(early.account_id, D(2025, 5, 2), 20_300),
                                       (late.account_id, D(2025, 5, 20), 30_450)]
    assert (may.opening_balance_minor, may.new_principal_minor) == (0, 0)
    assert may.closing_balance_minor == 50_750
    assert (may.due_date, may.minimum_payment_minor) == (D(2025, 5, 10), 20_300)
    _check_totals(may)
    assert account(uow, who.line_id)["dpd"] == 0

    with uow.connect() as conn:
        statements = S.list_statements(conn, who.line_id)
    assert [s.statement_date for s in statements] == [D(2025, 4, 1), D(2025, 5, 1)]
    # Every plan installment is on exactly one statement.
    shown = [(line["account_id"], line["number"]) for s in statements for line in s.lines
             if line["kind"] == "installment"]
    assert len(shown) == len(set(shown)) == 4


def test_installment_billed_early_by_a_repayment_posts_its_penalty_the_day_before_due(
        uow, clock):
    """A repayment after a statement bills the fee-priced plan installments the statement
    shows as due (repayments._bill_statement_installments). The installment's period still
    ends at the close of business of the day before its due date: the penalty accrued on
    the plan's missed installment is posted then, as when the close of business bills it
    (docs/servicing.md, "Accrual versus posting"). It used to stay accrued: that close of
    business only posted for installments it billed itself."""
    who = new_customer(uow)  # huabei: statement on the 1st, due 9 days later
    clock.set("2025-03-05T10:00:00+00:00")
    _, plan = buy(uow, who, "p-plan", 60_000, funding="plan", product_code="baitiao",
                  periods=3)  # due Apr 5, May 5, Jun 5
    # Apr 5 is missed: penalty accrues after the grace days; the May 1 statement shows the
    # May 5 installment as due by May 10.
    close_until(uow, clock, D(2025, 5, 2))
    repay(uow, who, "r-part", 100)
    assert [i["status"] for i in items(uow, plan.account_id)] == \
        ["past_due", "billed", "scheduled"]
    close_until(uow, clock, D(2025, 5, 4))
    before = account(uow, plan.account_id)
    assert before["principal_past_due_minor"] > 0 and before["penalty_accrual_num"] > 0

    close_days(uow, clock, 1)  # the close of business of May 4: the May 5 period ends

    after = account(uow, plan.account_id)
    assert (after["interest_accrual_num"], after["penalty_accrual_num"]) == (0, 0)
    assert after["penalty_posted_minor"] > before["penalty_posted_minor"]
    assert after["penalty_unpaid_minor"] - before["penalty_unpaid_minor"] == \
        after["penalty_posted_minor"] - before["penalty_posted_minor"]
    for component, (state, ledger) in reconcile(uow, who.customer_id).items():
        assert state == ledger, component


def test_statement_without_plans_is_unchanged(uow, clock):
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 3, 16))
    march = _statement(uow, who.line_id, D(2025, 3, 15))
    assert march.lines == ({"kind": "principal", "amount_minor": 100_000},)
    assert (march.installments_minor, march.closing_balance_minor,
            march.minimum_payment_minor, march.due_date) == (0, 100_000, 10_000, D(2025, 4, 5))
    _check_totals(march)
