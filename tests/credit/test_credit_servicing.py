"""Servicing scenarios end to end, on SQLite and PostgreSQL: checkout on credit, statements,
repayments, delinquency, write-off and recovery, refunds, prepayment, caps, idempotency."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from creditpay.credit import products as P
from creditpay.credit import service as S
from creditpay.credit.cob import run_close_of_business
from creditpay.credit.schedule import build_schedule
from creditpay.credit.tables import credit_statements
from creditpay.errors import (
    CapExceededError,
    IdempotencyConflictError,
    InsufficientFundsError,
    StateError,
    ValidationError,
)
from creditpay.protection.auto_debit_consents import ReferencedAutoDebitConsents
from tests.catalogues import CATALOGUE

from .servicing_helpers import (
    CNY,
    account,
    assert_books,
    buy,
    close_days,
    close_until,
    grant_auto_debit,
    items,
    new_customer,
    platform_balance,
    reconcile,
    repay,
)
from .snapshot import snapshot

D = dt.date








def test_on_time_payer_pays_nothing_extra(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    offer, purchase = buy(uow, who, "p1", 30_000)
    assert (offer.first_due_date, offer.total_fee_minor, offer.apr_percent) == \
        ("2025-04-10", 0, "0.0000")
    with uow.connect() as conn:
        assert S.line_of(conn, who.line_id).available_minor == 970_000
    close_until(uow, clock, D(2025, 4, 5))
    [item] = items(uow, who.line_id)
    assert (item["status"], item["due_date"], item["principal_minor"]) == \
        ("billed", D(2025, 4, 10), 30_000)
    result = repay(uow, who, "r1", 30_000)
    assert result.principal_minor == 30_000
    close_until(uow, clock, D(2025, 4, 30))
    line = account(uow, who.line_id)
    assert (line["dpd"], line["bucket"], line["interest_accrual_num"],
            line["penalty_accrual_num"]) == (0, "M0", 0, 0)
    assert platform_balance(uow, "interest_income") == 0
    assert platform_balance(uow, "penalty_income") == 0
    with uow.connect() as conn:
        assert S.line_of(conn, who.line_id).available_minor == 1_000_000
    assert_books(uow, "c1")


def test_revolver_pays_minimum_and_pays_daily_interest_on_the_rest(uow, clock):
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 4, 3))
    with uow.connect() as conn:
        statement = conn.execute(select(credit_statements)).mappings().one()
    assert (statement["statement_date"], statement["due_date"],
            statement["minimum_payment_minor"]) == (D(2025, 3, 15), D(2025, 4, 5), 10_000)
    repay(uow, who, "r-min", 10_000)
    close_until(uow, clock, D(2025, 4, 16))
    line = account(uow, who.line_id)
    assert line["dpd"] == 0 and line["late_fee_unpaid_minor"] == 0  # minimum was paid
    # Interest on the 90,000 unpaid from the day after the due date (Apr 6..15, 10 days),
    # posted on the Apr 15 statement: round(90000 x 18 % x 10 / 365) = 444.
    assert platform_balance(uow, "interest_income") == 444
    with uow.connect() as conn:
        april = conn.execute(select(credit_statements).where(
            credit_statements.c.statement_date == D(2025, 4, 15))).mappings().one()
    assert april["interest_minor"] == 444
    assert_books(uow, "c1")


def test_late_payer_reaches_m2_then_cures(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 50_000)
    close_until(uow, clock, D(2025, 5, 20))  # due Apr 10, never paid
    line = account(uow, who.line_id)
    assert (line["dpd"], line["bucket"]) == (39, "M2")
    assert line["principal_past_due_minor"] == 50_000
    # Penalty: 0.03 % a day (10.95 % a year) on 50,000 for each day after the 3 grace days.
    days = (D(2025, 5, 19) - D(2025, 4, 13)).days
    accrued = line["penalty_unpaid_minor"] + line["penalty_accrual_num"] / (1_000_000 * 365)
    assert accrued == pytest.approx(50_000 * 0.1095 * days / 365, abs=1.0)
    assert_books(uow, "c1")
    with uow.connect() as conn:
        owed = S.payoff_amount(conn, who.line_id)
    repay(uow, who, "cure", owed, target=who.line_id)
    line = account(uow, who.line_id)
    assert (line["dpd"], line["bucket"], line["principal_past_due_minor"]) == (0, "M0", 0)
    close_days(uow, clock, 1)
    assert account(uow, who.line_id)["bucket"] == "M0"
    assert_books(uow, "c1")


def test_write_off_at_180_dpd_then_recovery(uow, clock):
    who = new_customer(uow)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan-w", customer_id="c1", currency=CNY,
                             principal_minor=100_000, product_code="jiebei", periods=7,
                             method="bullet", wallet_account_id=who.wallet_id, catalogue=CATALOGUE)
    due = D(2025, 3, 8)
    close_until(uow, clock, due + dt.timedelta(days=179))
    assert account(uow, "loan-w")["status"] == "active"
    assert account(uow, "loan-w")["dpd"] == 178
    close_days(uow, clock, 2)
    loan = account(uow, "loan-w")
    assert (loan["status"], loan["written_off_on"]) == ("written_off", due +
                                                         dt.timedelta(days=180))
    assert loan["written_off_minor"] > 100_000  # principal, interest and penalty posted
    assert platform_balance(uow, "write_off_expense") == loan["written_off_minor"]
    assert reconcile(uow, "c1")["principal"] == (0, 0)
    close_days(uow, clock, 3)  # nothing accrues on a written-off account
    assert account(uow, "loan-w")["interest_accrual_num"] == 0
    result = repay(uow, who, "recovery-1", 40_000, target="loan-w")
    assert result.recovery_minor == 40_000
    assert platform_balance(uow, "recovery_income") == 40_000
    with pytest.raises(ValidationError) as err:
        repay(uow, who, "recovery-2", loan["written_off_minor"], target="loan-w")
    assert err.value.field == "amount_minor"
    assert account(uow, "loan-w")["recovered_minor"] == 40_000
    assert_books(uow, "c1")


def test_refund_of_an_installment_purchase(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    offer, purchase = buy(uow, who, "p-plan", 60_000, funding="plan", product_code="baitiao",
                          periods=3)
    assert [row.fee_minor for row in offer.schedule] == [300, 300, 300]
    assert offer.total_repayable_minor == 60_900
    close_until(uow, clock, D(2025, 4, 2))  # installment 1 billed at the COB of Apr 1
    repay(uow, who, "r1", 20_300)
    clock.set("2025-04-10T10:00:00+00:00")
    close_until(uow, clock, D(2025, 4, 10))
    with uow.connect() as conn:
        available_before = S.line_of(conn, who.line_id).available_minor
    with uow.begin() as tx:
        refund = S.refund_purchase(tx, refund_id="rf1", purchase_id="p-plan",
                                   amount_minor=30_000, catalogue=CATALOGUE)
    assert (refund.principal_reduced_minor, refund.to_customer_minor) == (30_000, 0)
    plan = [i for i in items(uow, purchase.account_id) if i["status"] == "scheduled"]
    assert [i["principal_minor"] for i in plan] == [5_000, 5_000]
    assert [i["fee_minor"] for i in plan] == [150, 150]  # fees on half the principal
    with uow.connect() as conn:
        assert S.line_of(conn, who.line_id).available_minor == available_before + 30_000
    assert_books(uow, "c1")
    with uow.begin() as tx:  # a retry returns the first result
        again = S.refund_purchase(tx, refund_id="rf1", purchase_id="p-plan",
                                  amount_minor=30_000, catalogue=CATALOGUE)
    assert again == refund
    with uow.begin() as tx:
        rest = S.refund_purchase(tx, refund_id="rf2", purchase_id="p-plan",
                                 amount_minor=30_000, catalogue=CATALOGUE)
    # 10,000 was still owed; the 20,000 already repaid goes back to the customer.
    assert (rest.principal_reduced_minor, rest.to_customer_minor) == (10_000, 20_000)
    assert account(uow, purchase.account_id)["status"] == "closed"
    assert platform_balance(uow, "fee_income") == 300  # the fee of the month used
    with pytest.raises(ValidationError), uow.begin() as tx:
        S.refund_purchase(tx, refund_id="rf3", purchase_id="p-plan", amount_minor=1,
                          catalogue=CATALOGUE)
    assert_books(uow, "c1")


def test_cash_loan_prepaid_early_pays_interest_for_days_used_only(uow, clock):
    who = new_customer(uow)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan-p", customer_id="c1", currency=CNY,
                             principal_minor=1_000_000, product_code="jiebei", periods=3,
                             method="equal_installment", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    close_days(uow, clock, 10)  # Mar 1..10 accrued
    with uow.connect() as conn:
        owed = S.payoff_amount(conn, "loan-p")
    assert owed == 1_000_000 + 5_000  # 1,000,000 x 18.25 % x 10 / 365
    result = repay(uow, who, "payoff", owed, target="loan-p")
    assert (result.interest_minor, result.prepayment_minor) == (5_000, 1_000_000)
    loan = account(uow, "loan-p")
    assert loan["status"] == "closed"
    assert platform_balance(uow, "interest_income") == 5_000
    schedule = build_schedule(P.loan_terms(CATALOGUE.get("jiebei"), 3,
                                           "equal_installment", 1_000_000, D(2025, 3, 1)))
    assert schedule.totals.interest_minor > 30_000  # what keeping the loan would cost
    assert_books(uow, "c1")


def test_partial_prepayment_reschedules_and_accrual_agrees_with_ledger(uow, clock):
    """Auto-debit on the due days; at every period end the interest posted equals the
    interest accrued day by day in account state, and the books agree."""
    who = new_customer(uow)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan-a", customer_id="c1", currency=CNY,
                             principal_minor=600_000, product_code="jiebei", periods=6,
                             method="equal_principal", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
        S.set_auto_debit(tx, account_id="loan-a", enabled=True,
                         wallet_account_id=who.wallet_id,
                         consent_reference=grant_auto_debit(tx, "c1"))
    product = CATALOGUE.get("jiebei")
    schedule = build_schedule(P.loan_terms(product, 6, "equal_principal", 600_000,
                                           D(2025, 3, 1)))
    dues = [i.due_date for i in schedule.installments]
    for k, due in enumerate(dues[:3]):
        close_until(uow, clock, due)
        loan = account(uow, "loan-a")
        billed = [i for i in items(uow, "loan-a") if i["due_date"] == due][0]
        # Period end: everything accrued for the period is posted, nothing is left over.
        assert loan["interest_accrual_num"] == 0
        assert billed["interest_minor"] == schedule.installments[k].interest_minor
        assert_books(uow, "c1")
    close_days(uow, clock, 1)  # the due day's auto-debit
    assert platform_balance(uow, "interest_income") == sum(
        i.interest_minor for i in schedule.installments[:3])
    # Prepay 100,000 of principal mid-period (with the interest accrued so far).
    close_until(uow, clock, dues[2] + dt.timedelta(days=5))
    loan = account(uow, "loan-a")
    accrued = loan["interest_accrual_num"] // (1_000_000 * 365)
    repay(uow, who, "prepay", accrued + 100_000, target="loan-a")
    remaining = [i for i in items(uow, "loan-a") if i["status"] == "scheduled"]
    assert sum(i["principal_minor"] for i in remaining) == 200_000
    assert len(remaining) == 3  # reduce_installment keeps the count
    assert_books(uow, "c1")
    close_until(uow, clock, dues[5] + dt.timedelta(days=1))
    assert account(uow, "loan-a")["status"] == "closed"
    assert_books(uow, "c1")


def test_statement_converted_to_installments(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 120_000)
    close_until(uow, clock, D(2025, 4, 3))
    with uow.begin() as tx:
        result = S.convert_statement_to_installments(
            tx, conversion_id="conv1", statement_id=f"{who.line_id}:2025-04-01",
            amount_minor=90_000, periods=3, catalogue=CATALOGUE)
    assert result.total_fee_minor == 3 * 747  # 0.83 % a period on 90,000
    plan = items(uow, result.plan_account_id)
    assert [i["due_date"] for i in plan] == [D(2025, 5, 10), D(2025, 6, 10), D(2025, 7, 10)]
    [line_item] = items(uow, who.line_id)
    assert line_item["principal_minor"] == 30_000
    with pytest.raises(ValidationError) as err, uow.begin() as tx:
        S.convert_statement_to_installments(
            tx, conversion_id="conv2", statement_id=f"{who.line_id}:2025-04-01",
            amount_minor=30_001, periods=3, catalogue=CATALOGUE)
    assert err.value.field == "amount_minor"
    close_until(uow, clock, D(2025, 4, 10))
    repay(uow, who, "r1", 30_000)
    close_until(uow, clock, D(2025, 5, 10))
    repay(uow, who, "r2", 30_000 + 747)
    close_until(uow, clock, D(2025, 5, 20))
    assert account(uow, who.line_id)["dpd"] == 0
    assert account(uow, result.plan_account_id)["dpd"] == 0
    assert_books(uow, "c1")


def test_offers_must_be_chosen_and_fresh(uow, clock):
    new_customer(uow)
    with uow.begin() as tx:
        offers = S.quote_offers(tx, customer_id="c1", amount_minor=60_000, currency=CNY,
                                catalogue=CATALOGUE)
    kinds = {(o.product_code, o.periods) for o in offers}
    assert ("huabei", 1) in kinds and ("baitiao", 24) in kinds and ("apr_plan", 12) in kinds
    free = next(o for o in offers if o.product_code == "baitiao_free" and o.periods == 6)
    assert (free.total_fee_minor, free.all_in_annual_cost_percent) == (0, "0.0000")
    assert free.merchant_fee_minor == 6 * 360
    apr = next(o for o in offers if o.product_code == "apr_plan" and o.periods == 12)
    assert apr.down_payment_minor == 6_000 and apr.financed_minor == 54_000
    assert float(apr.apr_percent) == pytest.approx(15.0, abs=0.3)
    chosen = next(o for o in offers if o.product_code == "baitiao" and o.periods == 6)
    before = snapshot(uow)
    with pytest.raises(StateError) as err, uow.begin() as tx:
        S.authorise_purchase(tx, authorisation_id="a1", customer_id="c1",
                             amount_minor=60_000, currency=CNY, offer_id="off_unknown",
                             catalogue=CATALOGUE)
    assert err.value.field == "offer_id"
    clock.advance(days=1)  # the quote is now stale: its first due date moved
    with pytest.raises(StateError) as err, uow.begin() as tx:
        S.authorise_purchase(tx, authorisation_id="a1", customer_id="c1",
                             amount_minor=60_000, currency=CNY, offer_id=chosen.offer_id,
                             catalogue=CATALOGUE)
    assert err.value.field == "offer_id"
    assert snapshot(uow) == before


def test_limit_and_caps_refuse_and_change_nothing(uow, clock):
    who = new_customer(uow, limit_minor=50_000)
    before = snapshot(uow)
    with uow.begin() as tx:
        [line_offer] = [o for o in S.quote_offers(tx, customer_id="c1", amount_minor=60_000,
                                                  currency=CNY,
                                                  catalogue=CATALOGUE) if o.funding == "line"]
    assert not line_offer.within_available_limit
    with pytest.raises(InsufficientFundsError), uow.begin() as tx:
        S.authorise_purchase(tx, authorisation_id="a-big", customer_id="c1",
                             amount_minor=60_000, currency=CNY, offer_id=line_offer.offer_id,
                             catalogue=CATALOGUE)
    assert snapshot(uow) == before
    with uow.begin() as tx:  # a limit as high as the regulatory cap, to reach the cap
        S.set_credit_limit(tx, line_id=who.line_id, new_limit_minor=25_000_000,
                           reason="cap test")
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="big-1", customer_id="c1", currency=CNY,
                             principal_minor=19_990_000, product_code="jiebei", periods=12,
                             method="equal_installment", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    before = snapshot(uow)
    with pytest.raises(CapExceededError) as err, uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="big-2", customer_id="c1", currency=CNY,
                             principal_minor=20_000, product_code="jiebei", periods=12,
                             method="equal_installment", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    assert err.value.extra["cap"] == "unsecured_exposure_max_minor"
    assert snapshot(uow) == before
    with pytest.raises(ValidationError) as err, uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="bad", customer_id="c1", currency=CNY,
                             principal_minor=10_000, product_code="jiebei", periods=5,
                             method="equal_installment", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    assert err.value.field == "periods"
    with pytest.raises(Exception) as err, uow.begin() as tx:
        S.set_credit_limit(tx, line_id=who.line_id, new_limit_minor=-1, reason="x")
    assert getattr(err.value, "field", None) == "new_limit_minor"
    assert snapshot(uow) == before


def test_repayment_is_idempotent(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 10_000)
    first = repay(uow, who, "r1", 4_000)
    before = snapshot(uow)
    assert repay(uow, who, "r1", 4_000) == first
    assert snapshot(uow) == before
    with pytest.raises(IdempotencyConflictError) as err:
        repay(uow, who, "r1", 5_000)
    assert err.value.field == "repayment_id"
    with pytest.raises(ValidationError) as err:
        repay(uow, who, "r2", 6_001)  # only 6,000 is owed
    assert err.value.field == "amount_minor"
    assert snapshot(uow) == before


def test_close_of_business_twice_changes_nothing_and_resumes_after_a_crash(uow, clock):
    who = new_customer(uow)
    others = [new_customer(uow, f"c{k}", wallet_minor=0) for k in range(2, 5)]
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 10_000)
    for k, other in enumerate(others):
        buy(uow, other, f"q{k}", 20_000 + k)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan-c", customer_id="c1", currency=CNY,
                             principal_minor=100_000, product_code="jiebei", periods=3,
                             method="equal_installment", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 4, 1))
    clock.set("2025-04-02T00:30:00+00:00")

    class Crash(Exception):
        pass

    def crash(chunk: int) -> None:
        if chunk == 1:
            raise Crash

    with pytest.raises(Crash):
        run_close_of_business(uow, D(2025, 4, 1), chunk_size=2, _after_chunk=crash,
                              audit_checkpointer=None,
                              auto_debit_consents=ReferencedAutoDebitConsents(),
                              catalogue=CATALOGUE)
    report = run_close_of_business(uow, D(2025, 4, 1), chunk_size=2, audit_checkpointer=None,
                                   auto_debit_consents=ReferencedAutoDebitConsents(),
                                   catalogue=CATALOGUE)
    assert report.chunks_resumed == 2 and report.statements == 4
    before = snapshot(uow)
    again = run_close_of_business(uow, D(2025, 4, 1), audit_checkpointer=None,
                                  auto_debit_consents=ReferencedAutoDebitConsents(),
                                  catalogue=CATALOGUE)
    assert again.already_done and again.statements == 4
    assert snapshot(uow) == before
    with pytest.raises(StateError) as err:
        run_close_of_business(uow, D(2025, 2, 1), audit_checkpointer=None,
                              auto_debit_consents=ReferencedAutoDebitConsents(),
                              catalogue=CATALOGUE)  # before the first
    assert err.value.field == "business_date"
    with uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(credit_statements)
                            ).scalar_one() == 4
    assert_books(uow, "c1")


def test_paying_within_the_grace_days_costs_no_late_fee(uow, clock):
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 4, 7))  # due Apr 5; 3 grace days
    assert account(uow, who.line_id)["dpd"] == 1
    repay(uow, who, "late-min", 10_000)
    close_until(uow, clock, D(2025, 4, 20))
    line = account(uow, who.line_id)
    assert (line["dpd"], line["late_fee_unpaid_minor"], line["fee_posted_minor"]) == (0, 0, 0)
    close_until(uow, clock, D(2025, 5, 12))  # next statement's minimum missed entirely
    line = account(uow, who.line_id)
    assert line["late_fee_unpaid_minor"] == 2_000 and line["dpd"] == 6
    assert_books(uow, "c1")
