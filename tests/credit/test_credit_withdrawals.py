"""Right of withdrawal (credit.withdrawals.withdraw): principal plus interest for the days
used and nothing else, taken from the wallet with balanced postings, the plan closed, the
line's limit restored, idempotent; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from creditpay import ledger as L
from creditpay.credit import service as S
from creditpay.db.tables import outbox_events
from creditpay.errors import (
    IdempotencyConflictError,
    InsufficientFundsError,
    NotFoundError,
    StateError,
)
from creditpay.ledger.chart import platform_key
from creditpay.ledger.verify import verify_ledger
from creditpay.platform.tables import audit_records
from creditpay.protection.credit_withdrawal import withdraw
from tests.catalogues import CATALOGUE

from .servicing_helpers import (
    CNY,
    account,
    buy,
    close_until,
    items,
    ledger_balance,
    new_customer,
    reconcile,
)

D = dt.date


def _platform(uow, code: str) -> int:
    with uow.connect() as conn:
        return L.get_account_by_key(conn, platform_key(code, CNY)).balance_minor


def _available(uow, who) -> int:
    with uow.connect() as conn:
        return S.line_of(conn, who.line_id).available_minor


def _count(uow, table, **where) -> int:
    with uow.connect() as conn:
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(table.c[name] == value)
        return conn.execute(query).scalar_one()


def _transfers(uow) -> int:
    with uow.connect() as conn:
        return verify_ledger(conn).transfers


def _withdraw(uow, who, account_id: str, withdrawal_id: str = "wd1", **kwargs):
    with uow.begin() as tx:
        return withdraw(tx, account_id=account_id, customer_id=who.customer_id,
                        withdrawal_id=withdrawal_id, source_account_id=who.wallet_id,
                        **kwargs, catalogue=CATALOGUE)


def _assert_books_clean(uow, who) -> None:
    for component, (state, ledger) in reconcile(uow, who.customer_id).items():
        assert state == ledger == 0, component
    with uow.connect() as conn:
        assert verify_ledger(conn).ok


def test_plan_withdrawn_on_day_5_repays_principal_and_5_days_interest(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    _, purchase = buy(uow, who, "p1", 100_000, funding="plan", product_code="apr_plan",
                      periods=3)  # 10 % down: 90,000 financed at 15 %, ACT/365
    assert _available(uow, who) == 1_000_000 - 90_000
    close_until(uow, clock, D(2025, 3, 7))  # five days of accrual closed
    wallet_before = ledger_balance(uow, who.wallet_id)
    result = _withdraw(uow, who, purchase.account_id)
    # 90,000 x 0.15 x 5 / 365 = 184.93 -> 185; no fee, nothing else.
    assert (result.days_used, result.principal_minor, result.interest_minor) == (5, 90_000, 185)
    assert result.amount_due_minor == 90_185 and result.refund_minor == 0
    assert result.deadline == D(2025, 3, 16) and result.status == "closed"
    assert ledger_balance(uow, who.wallet_id) == wallet_before - 90_185
    assert _platform(uow, "interest_income") == 185
    assert _platform(uow, "fee_income") == 0
    assert _available(uow, who) == 1_000_000
    assert result.limit_restored_minor == 90_000
    row = account(uow, purchase.account_id)
    assert row["status"] == "closed" and row["interest_accrual_num"] == 0
    assert row["interest_posted_minor"] == 185
    # Installment 1 is the down payment, paid at checkout (not credit): it stays paid.
    assert [i["status"] for i in items(uow, purchase.account_id)][1:] == ["cancelled"] * 3
    _assert_books_clean(uow, who)
    assert _count(uow, audit_records, action="credit.withdrawal") == 1
    assert _count(uow, outbox_events, topic="credit.account.withdrawn") == 1

    # A replay of the same id moves nothing twice and returns the first result.
    transfers = _transfers(uow)
    assert _withdraw(uow, who, purchase.account_id) == result
    assert _transfers(uow) == transfers
    assert ledger_balance(uow, who.wallet_id) == wallet_before - 90_185
    assert _count(uow, audit_records, action="credit.withdrawal") == 1
    # The same id for something else is refused; a new id on a closed plan too.
    with pytest.raises(IdempotencyConflictError) as conflict, uow.begin() as tx:
        withdraw(tx, account_id=purchase.account_id, customer_id=who.customer_id,
                 withdrawal_id="wd1", source_account_id=who.wallet_id, withdrawal_days=30,
                 catalogue=CATALOGUE)
    assert conflict.value.field == "withdrawal_id"
    with pytest.raises(StateError) as closed:
        _withdraw(uow, who, purchase.account_id, "wd2")
    assert closed.value.field == "account_id"


def test_withdrawal_after_the_window_is_refused_and_moves_nothing(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    _, purchase = buy(uow, who, "p1", 100_000, funding="plan", product_code="apr_plan",
                      periods=3)
    close_until(uow, clock, D(2025, 3, 17))  # day 15: the window ended on Mar 16
    transfers, wallet = _transfers(uow), ledger_balance(uow, who.wallet_id)
    with pytest.raises(StateError) as refused:
        _withdraw(uow, who, purchase.account_id)
    problem = refused.value.to_problem()
    assert problem["field"] == "withdrawal_date"
    assert problem["rule"] == "withdrawal.window_closed"
    assert problem["withdrawal_days"] == 14 and problem["deadline"] == "2025-03-16"
    assert "14-day" in problem["detail"]
    assert (_transfers(uow), ledger_balance(uow, who.wallet_id)) == (transfers, wallet)
    assert account(uow, purchase.account_id)["status"] == "active"


def test_window_is_configurable_and_includes_its_last_day(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    _, purchase = buy(uow, who, "p1", 100_000, funding="plan", product_code="apr_plan",
                      periods=3)
    close_until(uow, clock, D(2025, 3, 9))  # day 7
    with pytest.raises(StateError):
        _withdraw(uow, who, purchase.account_id, withdrawal_days=6)
    result = _withdraw(uow, who, purchase.account_id, withdrawal_days=7)
    assert result.days_used == 7 and result.deadline == D(2025, 3, 9)
    # 90,000 x 0.15 x 7 / 365 = 258.90 -> 259
    assert result.interest_minor == 259
    _assert_books_clean(uow, who)


def test_prepayment_before_withdrawal_reduces_the_interest(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    _, purchase = buy(uow, who, "p1", 100_000, funding="plan", product_code="apr_plan",
                      periods=3)
    close_until(uow, clock, D(2025, 3, 4))
    with uow.begin() as tx:
        S.repay(tx, repayment_id="r1", customer_id=who.customer_id, currency=CNY,
                amount_minor=30_000, source_account_id=who.wallet_id,
                target=purchase.account_id, catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 3, 7))
    wallet_before = ledger_balance(uow, who.wallet_id)
    result = _withdraw(uow, who, purchase.account_id)
    # 90,000 for 2 days, then 60,000 for 3 (the repayment counts against principal first):
    # 73.97 + 73.97 = 147.95 -> 148; owed 90,148, paid 30,000.
    assert result.interest_minor == 148 and result.paid_before_minor == 30_000
    assert result.amount_due_minor == 60_148
    assert ledger_balance(uow, who.wallet_id) == wallet_before - 60_148
    assert _platform(uow, "interest_income") == 148
    assert _available(uow, who) == 1_000_000
    _assert_books_clean(uow, who)


def test_fee_plans_cost_principal_only_and_the_merchant_fee_is_reversed(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    _, own = buy(uow, who, "p1", 120_000, funding="plan", product_code="baitiao", periods=6)
    _, free = buy(uow, who, "p2", 60_000, funding="plan", product_code="baitiao_free",
                  periods=3)
    assert free.merchant_fee_minor > 0
    assert _platform(uow, "fee_income") == free.merchant_fee_minor
    close_until(uow, clock, D(2025, 3, 12))
    wallet_before = ledger_balance(uow, who.wallet_id)
    first = _withdraw(uow, who, own.account_id, "wd1")
    second = _withdraw(uow, who, free.account_id, "wd2")
    assert (first.interest_minor, first.amount_due_minor) == (0, own.financed_minor)
    assert second.amount_due_minor == free.financed_minor
    assert second.merchant_fee_reversed_minor == free.merchant_fee_minor
    assert ledger_balance(uow, who.wallet_id) == \
        wallet_before - own.financed_minor - free.financed_minor
    assert _platform(uow, "fee_income") == 0
    assert _available(uow, who) == 1_000_000
    _assert_books_clean(uow, who)


def test_cash_loan_withdrawal(uow, clock):
    who = new_customer(uow)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan1", customer_id=who.customer_id, currency=CNY,
                             principal_minor=100_000, product_code="jiebei", periods=3,
                             method="equal_installment", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 3, 11))
    result = _withdraw(uow, who, "loan1")
    # 100,000 x 0.1825 x 10 / 365 = 500
    assert (result.days_used, result.interest_minor, result.amount_due_minor) == \
        (10, 500, 100_500)
    # The loan drew on the line; withdrawing it gives the principal back to the line.
    assert result.limit_restored_minor == 100_000
    assert _available(uow, who) == 1_000_000
    _assert_books_clean(uow, who)


def test_refusals_name_the_field_and_change_nothing(uow, clock):
    who = new_customer(uow)
    other = new_customer(uow, "c2", wallet_minor=0)
    _, purchase = buy(uow, who, "p1", 100_000, funding="plan", product_code="apr_plan",
                      periods=3)
    transfers = _transfers(uow)
    with pytest.raises(NotFoundError) as foreign:  # another customer's plan
        _withdraw(uow, other, purchase.account_id)
    assert foreign.value.field == "account_id"
    with pytest.raises(NotFoundError):
        _withdraw(uow, who, "plan_missing")
    with pytest.raises(StateError) as line:
        _withdraw(uow, who, who.line_id)
    assert line.value.field == "account_id"
    assert _transfers(uow) == transfers
    assert account(uow, purchase.account_id)["status"] == "active"
    _, poor = buy(uow, other, "p2", 100_000, funding="plan", product_code="apr_plan",
                  periods=3)  # an empty wallet
    transfers = _transfers(uow)
    with pytest.raises(InsufficientFundsError) as short:
        _withdraw(uow, other, poor.account_id)
    assert short.value.field == "source_account_id"
    assert _transfers(uow) == transfers
    assert account(uow, poor.account_id)["status"] == "active"
