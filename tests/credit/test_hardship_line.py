"""Hardship on a pay-later line, on both stores (docs/hardship.md, "A pay-later line"): the
re-amortisation of a revolving balance equals the real ``creditpay schedule`` command to the
minor unit and servicing bills it as disclosed; a holiday leaves nothing due for its cycles
(no minimum, late status or late fee) and bills the interest that ran on as disclosed; the
line is frozen while it runs and unfrozen when it completes; collections and the bureau see
the arrangement; the books stay balanced."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from creditpay.credit import hardship as H
from creditpay.credit import service as S
from creditpay.credit.hardship_tables import credit_hardship_arrangements
from creditpay.credit.tables import credit_lines
from creditpay.errors import StateError
from creditpay.protection.collections_rules import run_collections
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import (
    account,
    assert_books,
    buy,
    close_until,
    items,
    new_customer,
    repay,
    statement,
)
from tests.credit.test_hardship import _cli_schedule, _minor, _option, _request, _shown

D = dt.date
RATE_MICRO = 180_000  # revolver: 18 % a year, ACT/365
DENOMINATOR = 1_000_000 * 365


def _line_status(uow, line_id):
    with uow.connect() as conn:
        row = conn.execute(select(credit_lines.c.status, credit_lines.c.frozen_reason).where(
            credit_lines.c.line_id == line_id)).one()
    return tuple(row)


def _late_revolver(uow, clock):
    """A revolving line 11 days past due: 100,000 bought on Mar 2, its Mar 15 statement
    (due Apr 5) unpaid; the Apr 15 statement posted the carried balance's interest."""
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 4, 16))  # closed through Apr 15
    return who


def test_line_reamortisation_matches_creditpay_schedule_and_is_billed_as_disclosed(
        uow, clock):
    who = _late_revolver(uow, clock)
    line = account(uow, who.line_id)
    assert line["dpd"] > 0 and line["late_fee_unpaid_minor"] == 2_000
    april = statement(uow, who.line_id, D(2025, 4, 15))
    shown = _shown(uow, "c1", who.line_id)
    assert shown.decision_if_requested == "approved"
    kinds = [(o.figures["kind"], o.figures["cycles"]) for o in shown.options]
    assert kinds == [("payment_holiday", 1), ("payment_holiday", 2), ("reamortisation", 3),
                     ("reamortisation", 6), ("reamortisation", 12), ("reduced_rate", 0)]
    option = _option(shown, "reamortisation", 6)
    figures = option.figures
    # The whole principal, nothing accrued since the Apr 15 statement posted it: the real
    # CLI gives the same schedule, totals and APR.
    assert figures["principal_minor"] == 100_000 and figures["line"] is True
    cli = _cli_schedule(100_000, "0.18", 6, D(2025, 4, 16))
    rows = [(r["due_date"], _minor(r["principal"]), _minor(r["interest"]))
            for r in cli["installments"]]
    assert [(r["due_date"], r["principal_minor"], r["interest_minor"])
            for r in figures["schedule"]] == rows
    assert figures["new_total_minor"] == _minor(cli["totals"]["total"])
    assert figures["apr_percent"] == cli["apr_percent"]
    assert figures["current_total_minor"] == 100_000
    assert figures["extra_cost_minor"] == _minor(cli["totals"]["interest"])
    # The interest and the late fee already charged stay owed on the line.
    assert figures["line_charges_minor"] == april.interest_minor + 2_000

    result = _request(uow, "c1", who.line_id, option)
    assert result.status == "approved"
    plan_id = "hsl_hr-1"
    plan = account(uow, plan_id)
    assert (plan["kind"], plan["line_id"], plan["principal_unbilled_minor"]) == (
        "plan", who.line_id, 100_000)
    new = items(uow, plan_id)
    assert [(i["due_date"].isoformat(), i["principal_minor"], i["interest_minor"])
            for i in new] == rows
    line = account(uow, who.line_id)
    assert (line["principal_unbilled_minor"], line["principal_billed_minor"],
            line["principal_past_due_minor"]) == (0, 0, 0)
    assert _line_status(uow, who.line_id) == ("frozen", "hardship")
    with uow.connect() as conn:
        assert H.under_arrangement(conn, who.line_id)
        assert H.under_arrangement(conn, plan_id)
        # The batch form the collections run reads: the same answer for each account.
        assert H.accounts_under_arrangement(
            conn, [who.line_id, plan_id, "line_nobody_CNY"]) == {who.line_id, plan_id}
        assert H.arrangements_at(conn, clock.today()) == {
            plan_id: "reamortisation", who.line_id: "reamortisation"}
    report = run_collections(uow, clock.today())
    assert report.cases_opened == 0 and report.paused_by_hardship >= 1
    assert_books(uow, "c1")
    # No second arrangement while one runs.
    with pytest.raises(StateError) as error:
        _shown(uow, "c1", who.line_id)
    assert error.value.extra["rule"] == "hardship.active"
    # Paying what the line still owes (interest and the late fee) leaves it current.
    repay(uow, who, "r-charges", april.interest_minor + 2_000, target=who.line_id)
    # The close of business bills the first installment as disclosed.
    first_due = new[0]["due_date"]
    close_until(uow, clock, first_due)
    billed = items(uow, plan_id)[0]
    assert (billed["status"], billed["principal_minor"], billed["interest_minor"]) == (
        "billed", rows[0][1], rows[0][2])
    assert account(uow, who.line_id)["dpd"] == 0
    assert_books(uow, "c1")
    # Repaid in full: the arrangement completes and the line is unfrozen.
    with uow.connect() as conn:
        owed = S.payoff_amount(conn, plan_id)
    repay(uow, who, "r-all", owed, target=plan_id)
    close_until(uow, clock, clock.today() + dt.timedelta(days=1))
    with uow.connect() as conn:
        row = conn.execute(select(credit_hardship_arrangements)).mappings().one()
    assert row["status"] == "completed"
    assert _line_status(uow, who.line_id) == ("active", None)
    assert_books(uow, "c1")


def test_line_holiday_nothing_due_then_the_interest_that_ran_on(uow, clock):
    who = _late_revolver(uow, clock)
    close_until(uow, clock, D(2025, 4, 20))  # Apr 16-19: four days of interest accrued
    line = account(uow, who.line_id)
    accrued = line["interest_accrual_num"]
    assert accrued == 100_000 * RATE_MICRO * 4
    option = _option(_shown(uow, "c1", who.line_id), "payment_holiday", 2)
    figures = option.figures
    assert (figures["first_due_date"], figures["installments"], figures["bureau_code"],
            figures["holiday_interest"]) == ("2025-07-20", 12, "CP", "accrues")
    # The first installment carries the four days accrued and the 91 days of the holiday
    # and first period, on 100,000 at 18 % ACT/365, rounded once.
    interest = (accrued + 100_000 * RATE_MICRO * (D(2025, 7, 20) - D(2025, 4, 20)).days
                + DENOMINATOR // 2) // DENOMINATOR
    assert figures["schedule"][0]["interest_minor"] == interest
    assert _request(uow, "c1", who.line_id, option).status == "approved"
    assert account(uow, who.line_id)["interest_accrual_num"] == 0
    charges = statement(uow, who.line_id, D(2025, 4, 15)).interest_minor + 2_000
    repay(uow, who, "r-charges", charges, target=who.line_id)
    # Through the holiday: statements cut, nothing due, never late, no late fee.
    close_until(uow, clock, D(2025, 7, 20))
    line = account(uow, who.line_id)
    assert (line["dpd"], line["late_fee_unpaid_minor"], line["fee_posted_minor"]) == (
        0, 0, 2_000)
    assert not [i for i in items(uow, who.line_id)
                if i["status"] in ("billed", "past_due")
                and i["principal_minor"] + i["interest_minor"] + i["fee_minor"]
                > i["principal_paid_minor"] + i["interest_paid_minor"] + i["fee_paid_minor"]]
    plan = items(uow, "hsl_hr-1")
    assert [i["status"] for i in plan[:2]] == ["billed", "scheduled"]
    assert plan[0]["interest_minor"] == interest
    assert_books(uow, "c1")


def test_interest_free_line_and_refusals(uow, clock):
    who = new_customer(uow, product_code="huabei")
    with pytest.raises(StateError) as error:
        _shown(uow, "c1", who.line_id)
    assert error.value.extra["rule"] == "hardship.nothing_scheduled"
    buy(uow, who, "p1", 60_000)
    shown = _shown(uow, "c1", who.line_id, reason="income_drop")
    assert shown.decision_if_requested == "referred"  # not one of huabei's reasons
    costs = {(o.figures["kind"], o.figures["cycles"]): o.figures["extra_cost_minor"]
             for o in shown.options}
    assert costs == {("payment_holiday", 1): 0, ("reamortisation", 3): 0,
                     ("reamortisation", 6): 0}
    option = _option(shown, "reamortisation", 3)
    assert [r["total_minor"] for r in option.figures["schedule"]] == [20_000] * 3
    assert option.figures["apr_percent"] == "0.0000"  # no cost, not an IRR residue
    result = _request(uow, "c1", who.line_id, option, reason="income_drop")
    assert result.status == "referred"
    with pytest.raises(StateError) as error:
        _shown(uow, "c1", who.line_id)
    assert error.value.extra["rule"] == "hardship.pending"
    with uow.begin() as tx:
        decided = H.resolve_request(tx, request_id="hr-1", decision="approve",
                                    operator_id="op-1", note=None, catalogue=CATALOGUE)
    assert decided.status == "approved" and decided.arrangement_id == "hr-1"
    assert account(uow, "hsl_hr-1")["principal_unbilled_minor"] == 60_000
    assert _line_status(uow, who.line_id) == ("frozen", "hardship")
    assert_books(uow, "c1")
