"""Pay-in-4 and other down-payment plans through the real app, on SQLite and PostgreSQL:
the down payment is held on the wallet at confirm (with the credit hold on the financed
part, in one transaction), posted to the merchant at capture (so the merchant is credited
the whole price), voided on cancel or expiry, and refunded after the financed part."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from creditpay.credit import service as credit
from creditpay.credit.plans import load_account, load_items
from creditpay.errors import NotFoundError
from creditpay.ledger import get_account_by_key
from creditpay.ledger.tables import ledger_transfers
from creditpay.ledger.verify import verify_ledger

LIMIT = 1_000_000


def _customer(api, admin, phone, wallet_minor):
    token = api.customer(phone)
    api.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": "11010519491231002X",
                            "date_of_birth": "1949-12-31"}, token, expect=200)
    customer_id = api.get("/v1/me", token).json()["id"]
    api.post(f"/v1/operator/customers/{customer_id}/credit_line",
             {"limit_minor": LIMIT, "product_code": "huabei"}, admin, expect=201)
    if wallet_minor:
        api.fund(token, wallet_minor)
    return token, customer_id


def _intent(api, mkey, amount_minor, order_id):
    return api.post("/v1/payment_intents", {"amount_minor": amount_minor, "currency": "CNY",
                                            "order_id": order_id}, mkey, expect=201).json()


def _payin4(api, token, intent_id):
    quote = api.post(f"/v1/payment_intents/{intent_id}/credit_offers", {"language": "en"},
                     token, expect=200).json()
    return next(o for o in quote["offers"] if o["product_code"] == "payin4")


def _confirm(api, token, intent_id, offer, expect=200):
    return api.post(f"/v1/payment_intents/{intent_id}/confirm",
                    {"funding": "installment_plan", "offer_id": offer["offer_id"],
                     "key_facts_sha256": offer["key_facts_sha256"]}, token, expect=expect)


def _state(api, customer_id, merchant_id):
    """(wallet balance, wallet available, line available, merchant payable), minor units;
    and the ledger is balanced."""
    with api.runtime.uow.connect() as conn:
        assert verify_ledger(conn).ok
        wallet = api.runtime.payments.wallet_balance(conn, customer_id, "CNY")
        line = credit.line_of(conn, f"line_{customer_id}_CNY")
        try:
            payable = get_account_by_key(conn, f"merchant_payable:{merchant_id}:CNY")
            payable_minor = payable.balance_minor
        except NotFoundError:  # no capture yet: nothing posted
            payable_minor = 0
    return (wallet["balance_minor"], wallet["available_minor"], line.available_minor,
            payable_minor)


def _plan_items(api, customer_id):
    with api.runtime.uow.connect() as conn:
        [plan] = [a for a in credit.list_accounts(conn, customer_id) if a.kind == "plan"]
        account = load_account(conn, plan.account_id)
        return account, load_items(conn, account["seq"], open_only=False)


def test_pay_in_4_end_to_end(api, clock):
    admin = api.operator("admin")
    onboarded = api.merchant(admin, rate="0.006")
    mkey, merchant_id = onboarded["api_key"]["key"], onboarded["merchant"]["id"]
    token, customer_id = _customer(api, admin, "13700000001", 50_000)
    assert _state(api, customer_id, merchant_id) == (50_000, 50_000, LIMIT, 0)
    intent = _intent(api, mkey, 40_001, "sneakers")
    url = f"/v1/payment_intents/{intent['id']}"
    offer = _payin4(api, token, intent["id"])
    # 25 % down, largest remainder: 10,000.25 / 30,000.75 -> 10,000 down, 30,001 financed.
    assert (offer["down_payment_minor"], offer["financed_minor"]) == (10_000, 30_001)
    assert (offer["periods"], offer["installment_count"], offer["frequency"]) == \
        (3, 4, "biweekly")
    rows = offer["schedule"]
    assert [r["kind"] for r in rows] == ["down_payment"] + ["installment"] * 3
    assert [r["number"] for r in rows] == [1, 2, 3, 4]
    assert [r["due_date"] for r in rows] == ["2025-03-01", "2025-03-15", "2025-03-29",
                                             "2025-04-12"]
    assert [r["total_minor"] for r in rows] == [10_000, 10_000, 10_000, 10_001]
    assert sum(r["principal_minor"] for r in rows[1:]) == offer["financed_minor"]
    # Merchant-paid: nothing costs the consumer; the merchant's 1 % an installment is on
    # the financed part only.
    assert (offer["total_fee_minor"], offer["total_interest_minor"]) == (0, 0)
    assert offer["apr_percent"] == "0.0000" and offer["merchant_fee_minor"] == 3 * 300
    assert offer["total_repayable_minor"] == 30_001 and offer["total_payable_minor"] == 40_001
    html = api.get(offer["key_facts_url"], token, expect=200).text
    assert "Down payment (paid today from your balance; not credit)" in html
    assert "100.00" in html and "400.01" in html  # the down payment and the price

    confirmed = _confirm(api, token, intent["id"], offer).json()
    assert confirmed["status"] == "requires_capture"
    accepted = confirmed["accepted_offer"]
    for name in ("offer_id", "down_payment_minor", "financed_minor", "total_payable_minor",
                 "installment_count", "schedule"):
        assert accepted[name] == offer[name], name
    # Held: the down payment on the wallet, the financed part on the line.
    assert _state(api, customer_id, merchant_id) == (50_000, 40_000, LIMIT - 30_001, 0)

    captured = api.post(f"{url}/capture", {}, mkey, expect=200).json()
    assert (captured["status"], captured["captured_minor"]) == ("succeeded", 40_001)
    # The merchant is credited the whole price: 10,000 from the wallet + 30,001 of credit.
    assert _state(api, customer_id, merchant_id) == (40_000, 40_000, LIMIT - 30_001, 40_001)
    account, items = _plan_items(api, customer_id)
    assert account["principal_original_minor"] == 30_001
    assert [(i.number, i.status, i.principal_minor, i.principal_paid_minor)
            for i in items] == [(1, "paid", 10_000, 10_000), (2, "scheduled", 10_000, 0),
                                (3, "scheduled", 10_000, 0), (4, "scheduled", 10_001, 0)]
    assert [i.due_date for i in items] == [dt.date(2025, 3, 1), dt.date(2025, 3, 15),
                                           dt.date(2025, 3, 29), dt.date(2025, 4, 12)]
    assert account["subsidy_fee_minor"] == 900

    clock.advance(days=1)
    [settlement] = api.post("/v1/operator/settlements/run", {"business_date": "2025-03-01"},
                            admin, expect=200).json()["data"]
    assert (settlement["gross_minor"], settlement["fee_minor"]) == (40_001, 240)

    # Refund half: the financed part goes first (the debt shrinks, no cash back yet).
    half = api.post(f"{url}/refunds", {"amount_minor": 20_000}, mkey, expect=201).json()
    assert half["intent"]["refunded_minor"] == 20_000
    assert _state(api, customer_id, merchant_id) == \
        (40_000, 40_000, LIMIT - 10_001, 40_001 - 240 - 39_761 - 20_000)
    account, _ = _plan_items(api, customer_id)
    assert account["principal_original_minor"] == 10_001
    # The rest: the remaining 10,001 financed, then the 10,000 down payment to the wallet.
    rest = api.post(f"{url}/refunds", {}, mkey, expect=201).json()
    assert rest["amount_minor"] == 20_001 and rest["intent"]["refunded_minor"] == 40_001
    wallet_balance, _, line_available, _ = _state(api, customer_id, merchant_id)
    assert (wallet_balance, line_available) == (50_000, LIMIT)
    account, _ = _plan_items(api, customer_id)
    assert account["status"] == "closed" and account["subsidy_fee_minor"] == 0
    api.post(f"{url}/refunds", {"amount_minor": 1}, mkey, expect=409)


def test_partial_capture_keeps_the_down_payment_share(api):
    admin = api.operator("admin")
    onboarded = api.merchant(admin)
    mkey, merchant_id = onboarded["api_key"]["key"], onboarded["merchant"]["id"]
    token, customer_id = _customer(api, admin, "13700000002", 50_000)
    intent = _intent(api, mkey, 40_000, "two-items")
    offer = _payin4(api, token, intent["id"])
    assert (offer["down_payment_minor"], offer["financed_minor"]) == (10_000, 30_000)
    _confirm(api, token, intent["id"], offer)
    api.post(f"/v1/payment_intents/{intent['id']}/capture", {"amount_minor": 30_001}, mkey,
             expect=200)
    # 30,001 x 1/4 = 7,500.25 down, 22,500.75 financed -> 7,500 + 22,501 (largest
    # remainder); the rest of both holds is released.
    assert _state(api, customer_id, merchant_id) == \
        (50_000 - 7_500, 50_000 - 7_500, LIMIT - 22_501, 30_001)
    account, items = _plan_items(api, customer_id)
    assert account["principal_original_minor"] == 22_501
    assert (items[0].number, items[0].status, items[0].principal_minor) == (1, "paid", 7_500)
    assert sum(i.principal_minor for i in items[1:]) == 22_501
    # A partial refund larger than what is financed takes the rest from the down payment.
    api.post(f"/v1/payment_intents/{intent['id']}/refunds", {"amount_minor": 25_000}, mkey,
             expect=201)
    assert _state(api, customer_id, merchant_id)[:3] == \
        (50_000 - 7_500 + 2_499, 50_000 - 7_500 + 2_499, LIMIT)


def test_cancel_and_expiry_void_both_holds(api, clock):
    admin = api.operator("admin")
    onboarded = api.merchant(admin)
    mkey, merchant_id = onboarded["api_key"]["key"], onboarded["merchant"]["id"]
    token, customer_id = _customer(api, admin, "13700000003", 50_000)
    for order in ("cancelled", "expired"):
        intent = _intent(api, mkey, 40_000, order)
        _confirm(api, token, intent["id"], _payin4(api, token, intent["id"]))
        assert _state(api, customer_id, merchant_id) == (50_000, 40_000, LIMIT - 30_000, 0)
        if order == "cancelled":
            api.post(f"/v1/payment_intents/{intent['id']}/cancel", {}, mkey, expect=200)
        else:
            clock.advance(days=8)  # past the 7-day capture window
            api.runtime.uow.run(lambda tx: api.runtime.payments.expire_due(tx))
            assert api.get(f"/v1/payment_intents/{intent['id']}", mkey,
                           expect=200).json()["status"] == "expired"
        assert _state(api, customer_id, merchant_id) == (50_000, 50_000, LIMIT, 0)
        with api.runtime.uow.connect() as conn:
            hold = conn.execute(select(ledger_transfers.c.hold_status).where(
                ledger_transfers.c.id == f"{intent['id']}.down")).scalar_one()
        assert str(hold) in ("voided", "expired")


def test_short_wallet_is_refused_naming_the_field_and_nothing_changes(api):
    admin = api.operator("admin")
    onboarded = api.merchant(admin)
    mkey, merchant_id = onboarded["api_key"]["key"], onboarded["merchant"]["id"]
    token, customer_id = _customer(api, admin, "13700000004", 0)
    card = api.card(token)
    api.fund(token, 9_999, card)
    intent = _intent(api, mkey, 40_000, "short")
    offer = _payin4(api, token, intent["id"])
    before = _state(api, customer_id, merchant_id)
    with api.runtime.uow.connect() as conn:
        transfers = conn.execute(select(func.count()).select_from(ledger_transfers)
                                 ).scalar_one()
    problem = _confirm(api, token, intent["id"], offer, expect=409).json()
    assert problem["field"] == "down_payment_minor"
    assert problem["type"].endswith("insufficient-funds")
    assert "10000" in problem["detail"] and "9999" in problem["detail"]
    assert _state(api, customer_id, merchant_id) == before
    with api.runtime.uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_transfers)
                            ).scalar_one() == transfers
    view = api.get(f"/v1/payment_intents/{intent['id']}", token, expect=200).json()
    assert view["status"] == "requires_confirmation" and view["accepted_offer"] is None
    # After a top-up the same offer goes through.
    api.fund(token, 1, card)
    _confirm(api, token, intent["id"], offer)
    assert _state(api, customer_id, merchant_id)[:3] == (10_000, 0, LIMIT - 30_000)


def test_down_payment_option_of_an_existing_product(api):
    """baitiao_free v2 offers 6 installments with and without a 20 % down payment."""
    admin = api.operator("admin")
    onboarded = api.merchant(admin)
    mkey, merchant_id = onboarded["api_key"]["key"], onboarded["merchant"]["id"]
    token, customer_id = _customer(api, admin, "13700000005", 100_000)
    intent = _intent(api, mkey, 120_000, "bike")
    quote = api.post(f"/v1/payment_intents/{intent['id']}/credit_offers", {}, token,
                     expect=200).json()
    free = [o for o in quote["offers"]
            if o["product_code"] == "baitiao_free" and o["periods"] == 6]
    assert sorted((o["down_payment_minor"], o["financed_minor"]) for o in free) == \
        [(0, 120_000), (24_000, 96_000)]
    with_down = next(o for o in free if o["down_payment_minor"])
    # The merchant's fee is on the financed part: 0.6 % of 96,000 six times.
    assert with_down["merchant_fee_minor"] == 6 * 576
    assert with_down["first_due_date"] == "2025-04-01"
    _confirm(api, token, intent["id"], with_down)
    api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, mkey, expect=200)
    assert _state(api, customer_id, merchant_id) == \
        (100_000 - 24_000, 100_000 - 24_000, LIMIT - 96_000, 120_000)
