"""payments.reporting for one customer (the data-subject export and erasure): payment and
wallet totals per kind, and the last payment activity, on both stores."""

from __future__ import annotations

import datetime as dt

from creditpay.payments.reporting import (
    IntentTotal,
    WalletTotal,
    customer_payments,
    last_payment_activity,
)
from creditpay.payments.tables import payment_intents, wallet_operations

T0 = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)


def _intent(tx, n: int, customer_id: str, amount: int, status: str, funding: str,
            captured: int, refunded: int, at: dt.datetime) -> None:
    tx.conn.execute(payment_intents.insert().values(
        id=f"pi_{n}", merchant_id="m1", order_id=f"o-{n}", amount_minor=amount,
        currency="CNY", scenario="online", line_items=[], status=status,
        customer_id=customer_id, funding=funding, captured_minor=captured,
        refunded_minor=refunded, expires_at=at + dt.timedelta(hours=1), created_at=at))


def _wallet(tx, n: int, customer_id: str, kind: str, amount: int, at: dt.datetime) -> None:
    tx.conn.execute(wallet_operations.insert().values(
        id=f"wo_{n}", customer_id=customer_id, kind=kind, status="succeeded",
        amount_minor=amount, currency="CNY", created_at=at))


def test_totals_per_kind_and_last_activity(uow):
    with uow.connect() as conn:
        assert customer_payments(conn, "c1").intents == []
        assert last_payment_activity(conn, "c1") is None
    with uow.begin() as tx:
        _intent(tx, 1, "c1", 10_000, "succeeded", "wallet", 10_000, 2_500, T0)
        _intent(tx, 2, "c1", 5_000, "succeeded", "wallet", 5_000, 0,
                T0 + dt.timedelta(days=1))
        _intent(tx, 3, "c1", 7_000, "declined", "credit_line", 0, 0, T0)
        _intent(tx, 4, "c2", 9_999, "succeeded", "wallet", 9_999, 0,
                T0 + dt.timedelta(days=9))
        _wallet(tx, 1, "c1", "topup", 50_000, T0)
        _wallet(tx, 2, "c1", "topup", 20_000, T0 + dt.timedelta(days=2))
        _wallet(tx, 3, "c1", "withdrawal", 1_000, T0)
    with uow.connect() as conn:
        totals = customer_payments(conn, "c1")
        last = last_payment_activity(conn, "c1")
        only_intents = last_payment_activity(conn, "c2")
    assert totals.intents == [
        IntentTotal("CNY", "declined", "credit_line", 1, 7_000, 0, 0),
        IntentTotal("CNY", "succeeded", "wallet", 2, 15_000, 15_000, 2_500)]
    assert totals.wallet == [WalletTotal("CNY", "topup", "succeeded", 2, 70_000),
                             WalletTotal("CNY", "withdrawal", "succeeded", 1, 1_000)]
    assert last == T0 + dt.timedelta(days=2)  # the wallet's, later than any payment
    assert only_intents == T0 + dt.timedelta(days=9)
