"""Paying the quoted payoff amount settles an account for good (issue 13, item 9), on SQLite
and PostgreSQL: nothing is owed afterwards and nothing is ever posted, charged or aged on it
again. A line paid off in full used to keep the sub-minor remainder of its interest or
penalty accrual, which the next statement rounded up to 0.01, then charged a late fee on."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditpay.credit import service as S
from creditpay.credit.plans import load_account
from creditpay.credit.repayments import amount_owed
from tests.catalogues import CATALOGUE

from .servicing_helpers import (
    CNY,
    account,
    assert_books,
    buy,
    close_days,
    close_until,
    new_customer,
    payoff,
    repay,
    statement,
)

D = dt.date
KINDS = ("revolver", "huabei", "baitiao", "apr_plan", "jiebei_equal", "jiebei_bullet",
         "flat_loan")
AFTER_DAYS = 62  # a statement, its due date and the grace days, and two month ends










def open_account(uow, who, kind: str, tag: str, amount_minor: int = 100_000) -> str:
    """Open an account of ``kind`` for ``who`` today, of ``amount_minor``; returns its id."""
    if kind in ("revolver", "huabei"):
        buy(uow, who, f"{tag}-p", amount_minor)
        return who.line_id
    if kind in ("baitiao", "apr_plan"):
        _, purchase = buy(uow, who, f"{tag}-p", max(amount_minor, 56_000), funding="plan",
                          product_code=kind, periods=3)
        return purchase.account_id
    code, periods, method = {"jiebei_equal": ("jiebei", 3, "equal_installment"),
                             "jiebei_bullet": ("jiebei", 7, "bullet"),
                             "flat_loan": ("flat_loan", 6, "flat")}[kind]
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id=f"{tag}-loan", customer_id=who.customer_id,
                             currency=CNY, principal_minor=amount_minor, product_code=code,
                             periods=periods, method=method, wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    return f"{tag}-loan"


def settle_and_watch(uow, clock, who, account_id: str, tag: str) -> None:
    """Pay the quoted payoff amount, then close days: the account must owe nothing, accrue
    nothing and never be charged or aged again."""
    owed = payoff(uow, account_id)
    if owed:  # else already repaid in full (a short loan paid when due)
        repay(uow, who, f"{tag}-payoff", owed, target=account_id)
    settled = account(uow, account_id)
    assert (payoff(uow, account_id), settled["dpd"]) == (0, 0)
    posted = ("interest_posted_minor", "penalty_posted_minor", "fee_posted_minor")
    for _ in range(AFTER_DAYS):
        close_days(uow, clock, 1)
        after = account(uow, account_id)
        assert [after[name] for name in posted] == [settled[name] for name in posted], \
            clock.today()
        assert (after["dpd"], after["bucket"], after["late_fee_unpaid_minor"],
                after["penalty_unpaid_minor"]) == (0, "M0", 0, 0), clock.today()
    after = account(uow, account_id)
    assert payoff(uow, account_id) == 0
    # Nothing left accrued either, not even below a minor unit.
    assert (after["interest_accrual_num"], after["penalty_accrual_num"]) == (0, 0)
    if settled["kind"] != "line":
        assert after["status"] == "closed"
    assert_books(uow, who.customer_id)


def test_revolving_line_paid_off_owes_nothing_after_its_statement(uow, clock):
    """The issue's case: the payoff left 0.5 minor unit or more of interest accrued; the
    statement rounded it up to 0.01 and the line was late 14 days later, with a late fee."""
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 4, 3))
    repay(uow, who, "min", 10_000)
    # 90,000 at 18 % from Apr 6: Apr 6-9 is 4 days, 177.53 accrued, 0.53 below a unit.
    close_until(uow, clock, D(2025, 4, 10))
    residue = account(uow, who.line_id)["interest_accrual_num"] % (1_000_000 * 365)
    assert 2 * residue >= 1_000_000 * 365
    settle_and_watch(uow, clock, who, who.line_id, "rv")
    assert [s.statement_date for s in _statements(uow, who.line_id)] == [D(2025, 3, 15)]


def test_pay_later_line_paid_off_late_owes_no_penalty_afterwards(uow, clock):
    who = new_customer(uow)  # huabei: penalty interest 0.03 % a day after the grace days
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 33_333)  # 9.9999 of penalty a day: a residue near one unit
    close_until(uow, clock, D(2025, 4, 21))  # due Apr 10; penalty from Apr 14
    residue = account(uow, who.line_id)["penalty_accrual_num"] % (1_000_000 * 365)
    assert 2 * residue >= 1_000_000 * 365
    settle_and_watch(uow, clock, who, who.line_id, "hb")


def _statements(uow, line_id: str) -> list:
    with uow.connect() as conn:
        return S.list_statements(conn, line_id)


def test_paying_the_payoff_quote_on_any_day_settles_every_kind(uow, clock):
    runs = itertools.count()

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True)
    # Lines weigh more: plans and loans had the waiver already.
    @given(kind=st.sampled_from(KINDS + ("revolver", "huabei")),
           amount=st.integers(10_000, 200_000), days=st.integers(1, 100),
           first=st.none() | st.integers(30, 60))
    def run(kind, amount, days, first):
        run_id = next(runs)
        who = new_customer(uow, f"po{run_id}", wallet_minor=5_000_000,
                           product_code="revolver" if kind == "revolver" else "huabei")
        tag = f"po{run_id}"
        account_id = open_account(uow, who, kind, tag, amount)
        for day in range(days):
            close_days(uow, clock, 1)
            if day == first:
                # The first minimum or what is billed paid: a revolving line then revolves
                # (and accrues interest), the others are current again.
                with uow.connect() as conn:
                    statements = S.list_statements(conn, who.line_id)
                    billed = amount_owed(conn, load_account(conn, account_id),
                                         include_unbilled=False)
                amount = statements[0].minimum_payment_minor if kind == "revolver" and \
                    statements else billed
                if amount:
                    repay(uow, who, f"{tag}-first", amount, target=account_id)
        settle_and_watch(uow, clock, who, account_id, tag)

    run()


def test_statement_never_rounds_up_a_residue_of_a_line_without_principal(uow, clock):
    """The same residue left by a refund of the whole purchase (no payoff): the close of
    business waives it before the statement, so no interest appears out of nothing."""
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 4, 3))
    repay(uow, who, "min", 10_000)
    close_until(uow, clock, D(2025, 4, 10))
    line = account(uow, who.line_id)
    whole, residue = divmod(line["interest_accrual_num"], 1_000_000 * 365)
    assert 2 * residue >= 1_000_000 * 365
    with uow.begin() as tx:
        S.refund_purchase(tx, refund_id="rf", purchase_id="p1", amount_minor=100_000,
                          catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 4, 16))
    april = statement(uow, who.line_id, D(2025, 4, 15))
    assert april.interest_minor == whole  # the whole units accrued, not one more
    repay(uow, who, "rest", payoff(uow, who.line_id))
    close_until(uow, clock, D(2025, 6, 1))
    line = account(uow, who.line_id)
    assert (line["dpd"], line["fee_posted_minor"], line["interest_accrual_num"]) == (0, 0, 0)
    assert_books(uow, who.customer_id)
