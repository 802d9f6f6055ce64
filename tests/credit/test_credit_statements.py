"""A line's monthly statement carries the installments of the customer's plans on that
line falling due in the cycle: lines, totals, minimum payment and due date agree, on SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from creditpay.credit import service as S
from creditpay.errors import ValidationError
from tests.catalogues import CATALOGUE

from .servicing_helpers import (
    CNY,
    account,
    buy,
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


def _open_items(uow, account_id: str) -> list[tuple[str, int]]:
    """(status, amount still owed) of each installment of ``account_id`` not yet paid."""
    return [(i["status"], i["principal_minor"] + i["interest_minor"] + i["fee_minor"]
             - i["principal_paid_minor"] - i["interest_paid_minor"] - i["fee_paid_minor"])
            for i in items(uow, account_id) if i["status"] not in ("paid", "cancelled")]


def _bill_in_full(uow, who, clock) -> int:
    with uow.connect() as conn:
        return S.bill_in_full_minor(conn, who.customer_id, CNY, clock.today(),
                                    catalogue=CATALOGUE)


@pytest.mark.parametrize("plan_product", ["baitiao", "apr_plan"])
def test_paying_the_bill_in_full_pays_every_installment_it_shows(uow, clock, plan_product):
    """The bill in full, paid the day after the statement: the line's own balance and every
    plan installment the statement shows, due by its due date (in the minimum) or after it,
    priced by a fee or by interest, are paid at the amounts the statement showed, and the
    plans are not late later. An installment priced by interest was out of reach of an
    untargeted payment (refused as more than is owed) until the close of business billed
    it; one due after the statement's due date too."""
    who = new_customer(uow)  # huabei: statement on the 1st, due 9 days later
    clock.set("2025-03-05T10:00:00+00:00")
    _, early = buy(uow, who, "p-early", 60_000, funding="plan", product_code=plan_product,
                   periods=3)  # due Apr 5: by the Apr 1 statement's due date (Apr 10)
    clock.set("2025-03-15T10:00:00+00:00")
    _, late = buy(uow, who, "p-late", 90_000, funding="plan", product_code=plan_product,
                  periods=3)  # due Apr 15: after it, still in its cycle
    buy(uow, who, "p-line", 10_000)
    close_until(uow, clock, D(2025, 4, 2))
    april = _statement(uow, who.line_id, D(2025, 4, 1))
    shown = {(line["account_id"], line["number"]): line["amount_minor"]
             for line in april.lines if line["kind"] == "installment"}
    assert {a for a, _ in shown} == {early.account_id, late.account_id}

    due = _bill_in_full(uow, who, clock)
    assert due == april.closing_balance_minor  # nothing paid since, nothing else due
    result = repay(uow, who, "r-bill", due)

    assert result.amount_minor == due and result.prepayment_minor == 0
    for (account_id, number), amount_minor in shown.items():
        row = next(i for i in items(uow, account_id) if i["number"] == number)
        assert row["status"] == "paid"
        assert row["principal_minor"] + row["interest_minor"] + row["fee_minor"] == \
            amount_minor
        assert [s for s, _ in _open_items(uow, account_id)] == ["scheduled"] * 2
    assert _bill_in_full(uow, who, clock) == 0
    with pytest.raises(ValidationError) as refused:  # the rest is not billed: not owed yet
        repay(uow, who, "r-more", 1)
    assert refused.value.field == "amount_minor"
    for component, (state, ledger) in reconcile(uow, who.customer_id).items():
        assert state == ledger, component

    # Past both due dates: nothing late, and each period ended with nothing accrued left
    # (the interest billed early was the period's; the close of business does not post it
    # twice).
    close_until(uow, clock, D(2025, 4, 20))
    for plan in (early, late):
        row = account(uow, plan.account_id)
        assert (row["dpd"], row["principal_past_due_minor"]) == (0, 0)
        assert row["interest_posted_minor"] == sum(
            i["interest_minor"] for i in items(uow, plan.account_id) if i["status"] == "paid")
    for component, (state, ledger) in reconcile(uow, who.customer_id).items():
        assert state == ledger, component


def test_the_minimum_pays_a_statement_installment_priced_by_interest(uow, clock):
    """The minimum payment shown, paid before the close of business bills the plan
    installment in it, pays that installment (it used to be refused: the installment was
    not billed, and nothing else was owed)."""
    who = new_customer(uow)
    clock.set("2025-03-05T10:00:00+00:00")
    _, plan = buy(uow, who, "p-apr", 60_000, funding="plan", product_code="apr_plan",
                  periods=3)
    close_until(uow, clock, D(2025, 4, 2))
    april = _statement(uow, who.line_id, D(2025, 4, 1))
    (shown,) = [line for line in april.lines if line["kind"] == "installment"]
    assert [s for s, _ in _open_items(uow, plan.account_id)] == ["scheduled"] * 3

    repay(uow, who, "r-min", april.minimum_payment_minor)

    assert next(i for i in items(uow, plan.account_id)
                if i["number"] == shown["number"])["status"] == "paid"
    close_until(uow, clock, D(2025, 4, 12))
    assert account(uow, plan.account_id)["dpd"] == 0
    for component, (state, ledger) in reconcile(uow, who.customer_id).items():
        assert state == ledger, component


def test_a_payment_bills_a_statement_installment_only_when_it_reaches_it(uow, clock):
    """What is past due is paid first; an installment the statement shows stays unbilled
    (the close of business bills it the day before it falls due) until a payment reaches
    it. Its period still ends at the close of business of the day before its due date,
    with nothing accrued left."""
    who = new_customer(uow)
    clock.set("2025-03-05T10:00:00+00:00")
    _, plan = buy(uow, who, "p-plan", 60_000, funding="plan", product_code="baitiao",
                  periods=3)  # due Apr 5, May 5, Jun 5
    close_until(uow, clock, D(2025, 5, 2))  # Apr 5 missed; May 1 statement shows May 5
    repay(uow, who, "r-part", 100)
    assert [s for s, _ in _open_items(uow, plan.account_id)] == \
        ["past_due", "scheduled", "scheduled"]
    late = account(uow, plan.account_id)
    past_due = sum(owed for status, owed in _open_items(uow, plan.account_id)
                   if status == "past_due")
    repay(uow, who, "r-rest", past_due + late["penalty_unpaid_minor"]
          + late["late_fee_unpaid_minor"] + 100)  # and 1.00 of the May installment
    assert [s for s, _ in _open_items(uow, plan.account_id)] == ["billed", "scheduled"]

    close_until(uow, clock, D(2025, 5, 5))  # the close of business of May 4 ends the period
    after = account(uow, plan.account_id)
    assert (after["interest_accrual_num"], after["penalty_accrual_num"]) == (0, 0)
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


def test_after_a_bill_paid_early_the_next_period_starts_at_its_due_date(uow, clock):
    """An interest-priced installment paid early with the bill was billed with its whole
    period's interest. A refund before its due date restates the plan's later rows: their
    first period starts at that due date, with nothing carried (the interest accrued since
    the early billing is in the installment already). It used to start at the refund's day
    and carry that accrual too: charged twice when the next bill was paid early as well."""
    from fractions import Fraction

    from creditpay.credit.schedule import round_fraction

    who = new_customer(uow)
    clock.set("2025-03-05T10:00:00+00:00")
    purchase, plan = buy(uow, who, "p-apr", 60_000, funding="plan", product_code="apr_plan",
                         periods=3)
    close_until(uow, clock, D(2025, 4, 2))
    repay(uow, who, "r-bill", _bill_in_full(uow, who, clock))
    [billed] = [i for i in items(uow, plan.account_id) if i["status"] == "paid"
                and i["due_date"] == D(2025, 4, 5)]
    close_until(uow, clock, D(2025, 4, 3))
    with uow.begin() as tx:
        S.refund_purchase(tx, refund_id="rf-1", purchase_id="p-apr", amount_minor=6_000,
                          catalogue=CATALOGUE)
    row = account(uow, plan.account_id)
    scheduled = [i for i in items(uow, plan.account_id) if i["status"] == "scheduled"]
    balance = sum(i["principal_minor"] for i in scheduled)
    first = scheduled[0]
    days = (first["due_date"] - billed["due_date"]).days  # from Apr 5, not from Apr 3
    expected = round_fraction(Fraction(balance * row["interest_rate_micro"], 1_000_000)
                              * Fraction(days, row["year_basis_days"]))
    assert first["interest_minor"] == expected
    # The close of business bills that row with the same interest (the accrual from the
    # early billing to Apr 5 was cleared at that period's end).
    close_until(uow, clock, first["due_date"])
    billed_next = next(i for i in items(uow, plan.account_id) if i["number"] == first["number"])
    assert billed_next["status"] == "billed"
    assert billed_next["interest_minor"] == expected
    for component, (state, ledger) in reconcile(uow, who.customer_id).items():
        assert state == ledger, component
