"""Data the browser tests start from, written in process before the server starts: a
customer with verified identity, a pay-later line and a 6-installment plan bought at a
merchant's checkout (through the same services the API uses)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.config import Settings
from creditpay.parties.service import Principal
from creditpay.platform.keys import LocalMasterKey

CREDIT_PHONE = "13900000001"
CREDIT_PASSWORD = "seeded password 1"
SEED_DEVICE = "seed-device-0001"
LIMIT_MINOR = 2_000_000
PURCHASE_MINOR = 60_000
TOP_UP_MINOR = 100_000


def seed(url: str, master: bytes) -> dict[str, Any]:
    app = create_app(Settings.of(database_url=url),
                     config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
    rt = app.state.runtime
    try:
        admin = rt.uow.run(lambda tx: rt.parties.create_operator(tx, name="seed", role="admin"))
        operator = Principal("operator", admin["id"], role="admin")
        merchant = rt.uow.run(lambda tx: rt.parties.onboard_merchant(
            tx, operator, name="Seed shop", mcc="5411", discount_rate="0.006"))
        shop = Principal("merchant", merchant["merchant"]["id"],
                         scopes=frozenset({"payments:write"}))
        password_hash = rt.parties.passwords.hash(CREDIT_PASSWORD)
        view = rt.uow.run(lambda tx: rt.parties.register(
            tx, phone=CREDIT_PHONE, email=None, password_hash=password_hash,
            device_id=SEED_DEVICE, locale="zh-CN"))
        customer = Principal("customer", view["id"])
        rt.uow.run(lambda tx: rt.parties.verify_kyc(
            tx, customer, legal_name="测试", id_number="110105199001010010",
            date_of_birth=dt.date(1990, 1, 1)))
        rt.uow.run(lambda tx: rt.origination.open_credit_line(
            tx, operator, view["id"], limit_minor=LIMIT_MINOR, product_code="huabei"))
        service = rt.payments
        # The wallet pays the plan's down payment: a card top-up, settled by the card rail.
        from creditpay.api.routes_operators import deliver_rail_callbacks

        def add_card(tx: Any) -> dict[str, Any]:
            card = service.rail.tokenise(tx, "4242424242424242", 12, 2099)
            return rt.parties.add_card(tx, customer, rail_token=card.token, brand=card.brand,
                                       last4=card.last4, expiry_month=12, expiry_year=2099)

        card = rt.uow.run(add_card)
        rt.uow.run(lambda tx: service.top_up(tx, customer, card_id=card["id"],
                                             amount_minor=TOP_UP_MINOR))
        deliver_rail_callbacks(rt)
        intent_id = rt.uow.run(lambda tx: service.create_intent(
            tx, shop, amount_minor=PURCHASE_MINOR, currency="CNY", order_id="seed-1"))["id"]
        offers = rt.uow.run(lambda tx: service.quote_offers(tx, customer, intent_id))["offers"]
        six = next(o for o in offers if o["funding"] == "installment_plan" and o["periods"] == 6)
        rt.uow.run(lambda tx: service.confirm(
            tx, customer, intent_id, funding=six["funding"], offer_id=six["offer_id"],
            key_facts_sha256=six["key_facts_sha256"]))
        rt.uow.run(lambda tx: service.capture(tx, shop, intent_id))
        return {"customer_id": view["id"]}
    finally:
        rt.close()
