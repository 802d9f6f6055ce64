"""End-to-end checkout flows through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from creditpay.ledger.tables import ledger_accounts
from creditpay.ledger.verify import verify_ledger
from creditpay.platform.audit import verify_database
from tests.api.helpers import DECLINE_PAN


def _intent(api, merchant_key, amount=10_000, order="o-1", **extra):
    body = {"amount_minor": amount, "currency": "CNY", "order_id": order, **extra}
    return api.post("/v1/payment_intents", body, merchant_key, expect=201).json()


def test_pay_with_balance_capture_refund_settle(api, clock):
    admin = api.operator("admin")
    onboarded = api.merchant(admin, rate="0.006")
    mkey = onboarded["api_key"]["key"]
    alice = api.customer("13800000001")
    api.fund(alice, 50_000)
    assert api.wallet(alice)["available_minor"] == 50_000

    intent = _intent(api, mkey, 12_345, line_items=[
        {"name": "tea", "quantity": 3, "unit_amount_minor": 4_115}])
    assert intent["status"] == "requires_confirmation"
    confirmed = api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                         alice, expect=200).json()
    assert confirmed["status"] == "requires_capture"
    wallet = api.wallet(alice)
    assert (wallet["balance_minor"], wallet["available_minor"]) == (50_000, 50_000 - 12_345)

    captured = api.post(f"/v1/payment_intents/{intent['id']}/capture",
                        {"amount_minor": 12_000}, mkey, expect=200).json()
    assert (captured["status"], captured["captured_minor"]) == ("succeeded", 12_000)
    # The uncaptured 345 went back to the wallet.
    assert api.wallet(alice)["available_minor"] == 50_000 - 12_000

    refund = api.post(f"/v1/payment_intents/{intent['id']}/refunds", {"amount_minor": 2_000},
                      mkey, expect=201).json()
    assert refund["intent"]["refunded_minor"] == 2_000
    assert api.wallet(alice)["available_minor"] == 50_000 - 10_000
    too_much = api.post(f"/v1/payment_intents/{intent['id']}/refunds",
                        {"amount_minor": 10_001}, mkey, expect=422).json()
    assert too_much["field"] == "amount_minor"

    # T+1 settlement: fee = 0.006 x (12 000 - 2 000) = 60; net 9 940.
    early = api.post("/v1/operator/settlements/run", {"business_date": "2025-03-01"}, admin)
    assert early.status_code == 422
    clock.advance(days=1)
    run = api.post("/v1/operator/settlements/run", {"business_date": "2025-03-01"}, admin,
                   expect=200).json()["data"]
    assert len(run) == 1
    settlement = run[0]
    assert (settlement["gross_minor"], settlement["refunds_minor"], settlement["fee_minor"],
            settlement["net_minor"]) == (12_000, 2_000, 60, 9_940)
    report = api.get(f"/v1/settlements/{settlement['id']}", mkey, expect=200).json()
    assert sorted(line["amount_minor"] for line in report["lines"]) == [-2_000, 12_000]
    again = api.post("/v1/operator/settlements/run", {"business_date": "2025-03-01"}, admin,
                     expect=200).json()
    assert again["data"] == []  # nothing left to settle: no double payout

    with api.runtime.uow.connect() as conn:
        assert verify_ledger(conn).ok
        payable = conn.execute(select(ledger_accounts.c.credits_posted -
                                      ledger_accounts.c.debits_posted).where(
            ledger_accounts.c.key == f"merchant_payable:{onboarded['merchant']['id']}:CNY")
        ).scalar_one()
        assert payable == 0
        assert conn.execute(select(func.count()).select_from(ledger_accounts)).scalar_one() > 0
    assert verify_database(api.runtime.uow.engine).ok


def test_card_checkout_decline_and_cancel(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    bob = api.customer("13800000002")
    good = api.card(bob)
    bad = api.card(bob, DECLINE_PAN)
    intent = _intent(api, mkey, 5_000, order="o-card")
    declined = api.post(f"/v1/payment_intents/{intent['id']}/confirm",
                        {"funding": "card", "card_id": bad}, bob, expect=402).json()
    assert declined["type"].endswith("/card-declined")
    ok = api.post(f"/v1/payment_intents/{intent['id']}/confirm",
                  {"funding": "card", "card_id": good}, bob, expect=200).json()
    assert ok["status"] == "requires_capture"
    canceled = api.post(f"/v1/payment_intents/{intent['id']}/cancel", {}, mkey,
                        expect=200).json()
    assert canceled["status"] == "canceled"
    api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, mkey, expect=409)


def test_insufficient_balance_moves_nothing(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    carol = api.customer("13800000003")
    api.fund(carol, 1_000)
    intent = _intent(api, mkey, 1_001, order="o-poor")
    problem = api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                       carol, expect=409).json()
    assert problem["type"].endswith("/insufficient-funds")
    assert api.get(f"/v1/payment_intents/{intent['id']}", mkey).json()["status"] == \
        "requires_confirmation"
    assert api.wallet(carol)["available_minor"] == 1_000
