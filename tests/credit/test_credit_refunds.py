"""Refunds of a plan purchase reverse the billed, unpaid interest pro rata (as they do
fees), with the ledger posted; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from creditpay import ledger as L
from creditpay.credit import service as S
from creditpay.ledger.chart import platform_key
from creditpay.ledger.verify import verify_ledger
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, buy, close_until, items, new_customer, reconcile

D = dt.date


def _income(uow, code: str) -> int:
    with uow.connect() as conn:
        return L.get_account_by_key(conn, platform_key(code, CNY)).balance_minor


def test_refund_reverses_billed_unpaid_interest_pro_rata(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    _, purchase = buy(uow, who, "p1", 100_000, funding="plan", product_code="apr_plan",
                      periods=3)  # 10 % down: 90,000 financed at 15 %
    close_until(uow, clock, D(2025, 4, 2))  # first installment billed on Apr 1
    first = items(uow, purchase.account_id)[1]  # [0]: the down payment, paid at checkout
    assert first["status"] == "billed"
    # 31 days on 90,000 at 15 % / 365 = 1,146.58 -> 1,147
    assert first["interest_minor"] == 1_147
    income_before = _income(uow, "interest_income")
    with uow.begin() as tx:
        result = S.refund_purchase(tx, refund_id="rf1", purchase_id="p1",
                                   amount_minor=purchase.financed_minor // 2, catalogue=CATALOGUE)
    after = next(i for i in items(uow, purchase.account_id) if i["id"] == first["id"])
    # Half the principal refunded: half the unpaid interest (573.5 kept, rounded half-up).
    assert after["interest_minor"] == 574
    assert result.interest_reversed_minor == 573
    assert _income(uow, "interest_income") == income_before - 573
    for component, (state, ledger) in reconcile(uow, who.customer_id).items():
        assert state == ledger, component
    with uow.connect() as conn:
        assert verify_ledger(conn).ok
    # A retry returns the first result.
    with uow.begin() as tx:
        again = S.refund_purchase(tx, refund_id="rf1", purchase_id="p1",
                                  amount_minor=purchase.financed_minor // 2, catalogue=CATALOGUE)
    assert again == result


def test_refund_keeps_interest_already_paid(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    _, purchase = buy(uow, who, "p1", 100_000, funding="plan", product_code="apr_plan",
                      periods=3)
    close_until(uow, clock, D(2025, 4, 2))
    first = items(uow, purchase.account_id)[1]  # [0]: the down payment, paid at checkout
    with uow.begin() as tx:
        S.repay(tx, repayment_id="r1", customer_id=who.customer_id, currency=CNY,
                amount_minor=first["minimum_minor"], source_account_id=who.wallet_id,
                catalogue=CATALOGUE)
    with uow.begin() as tx:
        result = S.refund_purchase(tx, refund_id="rf1", purchase_id="p1",
                                   amount_minor=purchase.financed_minor, catalogue=CATALOGUE)
    assert result.interest_reversed_minor == 0
    paid = next(i for i in items(uow, purchase.account_id) if i["id"] == first["id"])
    assert paid["interest_minor"] == paid["interest_paid_minor"] == 1_147
    for component, (state, ledger) in reconcile(uow, who.customer_id).items():
        assert state == ledger, component
