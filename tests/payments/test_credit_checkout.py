"""Paying with credit through the real app (the docs/api.md worked example): a merchant
creates an intent, the consumer is shown offers and picks 6 installments explicitly, the
merchant captures and refunds half. On both stores, with the credit servicing facade."""

from __future__ import annotations

from creditpay.ledger.verify import verify_ledger


def test_six_installments_capture_and_half_refund(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin, rate="0.006")["api_key"]["key"]
    token, _ = api.customer_with_line(admin, "13300000001")
    intent = api.post("/v1/payment_intents", {
        "amount_minor": 360_000, "currency": "CNY", "order_id": "laptop-1",
        "line_items": [{"name": "laptop", "quantity": 1, "unit_amount_minor": 360_000}]},
        mkey, expect=201).json()
    url = f"/v1/payment_intents/{intent['id']}"
    # Credit is never the default: no offer id, no credit.
    missing = api.post(f"{url}/confirm", {"funding": "installment_plan"}, token,
                       expect=422).json()
    assert missing["field"] == "offer_id"
    quote = api.post(f"{url}/credit_offers", {}, token, expect=200).json()
    plans = [o for o in quote["offers"] if o["funding"] == "installment_plan"
             and o["periods"] == 6 and o["total_fee_minor"] > 0]
    assert plans, quote
    offer = plans[0]
    assert offer["per_period_amount_minor"] * 6 >= offer["total_repayable_minor"] - 6
    assert offer["total_repayable_minor"] == 360_000 + offer["total_fee_minor"] + \
        offer["total_interest_minor"]
    unknown = api.post(f"{url}/confirm", {"funding": "installment_plan",
                                          "offer_id": "off_" + "0" * 40}, token, expect=422)
    assert unknown.json()["field"] == "offer_id"
    confirmed = api.post(f"{url}/confirm", {"funding": "installment_plan",
                                            "offer_id": offer["offer_id"],
                                            "key_facts_sha256": offer["key_facts_sha256"]},
                         token, expect=200).json()
    assert confirmed["status"] == "requires_capture"
    accepted = confirmed["accepted_offer"]
    for name in ("offer_id", "periods", "per_period_amount_minor", "total_repayable_minor",
                 "total_fee_minor", "total_interest_minor", "apr_percent",
                 "all_in_annual_cost_percent"):
        assert accepted[name] == offer[name], name  # exactly the figures shown
    captured = api.post(f"{url}/capture", {}, mkey, expect=200).json()
    assert captured["status"] == "succeeded" and captured["captured_minor"] == 360_000
    refund = api.post(f"{url}/refunds", {"amount_minor": 180_000, "reason": "half returned"},
                      mkey, expect=201).json()
    assert refund["intent"]["refunded_minor"] == 180_000
    with api.runtime.uow.connect() as conn:
        assert verify_ledger(conn).ok
        from creditpay.credit import service as credit

        view = credit.line_of(conn, f"line_{confirmed['customer_id']}_CNY")
    # Half the principal came back to the line.
    assert view.available_minor == 1_000_000 - 180_000


def test_credit_void_on_cancel_and_limit_is_enforced(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    token, customer_id = api.customer_with_line(admin, "13300000002", limit_minor=100_000)
    big = api.post("/v1/payment_intents", {"amount_minor": 200_000, "currency": "CNY",
                                           "order_id": "too-big"}, mkey, expect=201).json()
    quote = api.post(f"/v1/payment_intents/{big['id']}/credit_offers", {}, token,
                     expect=200).json()
    assert quote["offers"] == []  # nothing within the available limit is offered
    small = api.post("/v1/payment_intents", {"amount_minor": 60_000, "currency": "CNY",
                                             "order_id": "ok"}, mkey, expect=201).json()
    quote = api.post(f"/v1/payment_intents/{small['id']}/credit_offers", {}, token,
                     expect=200).json()
    line_offer = [o for o in quote["offers"] if o["funding"] == "credit_line"][0]
    api.post(f"/v1/payment_intents/{small['id']}/confirm",
             {"funding": "credit_line", "offer_id": line_offer["offer_id"],
              "key_facts_sha256": line_offer["key_facts_sha256"]}, token, expect=200)
    with api.runtime.uow.connect() as conn:
        from creditpay.credit import service as credit

        assert credit.line_of(conn, f"line_{customer_id}_CNY").available_minor == 40_000
    api.post(f"/v1/payment_intents/{small['id']}/cancel", {}, mkey, expect=200)
    with api.runtime.uow.connect() as conn:
        assert credit.line_of(conn, f"line_{customer_id}_CNY").available_minor == 100_000


def test_two_purchases_with_the_same_figures_are_two_offers_each_accepted_on_its_own(api):
    """The same customer pays the same amount twice on one day, each in 6 installments,
    reading the key facts in a different language each time: offers are ids of one
    purchase, so each plan has its own offer and its own key-facts acceptance (the offer id
    was a hash of the figures alone: the second purchase reused the first's id and its
    acceptance was refused, or silently taken as the first one's)."""
    import base64
    import hashlib

    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    token, _ = api.customer_with_line(admin, "13300000009")
    accepted = []
    for order, language in (("same-1", "zh-CN"), ("same-2", "en")):
        intent = api.post("/v1/payment_intents", {"amount_minor": 240_000, "currency": "CNY",
                                                  "order_id": order}, mkey, expect=201).json()
        url = f"/v1/payment_intents/{intent['id']}"
        quote = api.post(f"{url}/credit_offers", {}, token, expect=200).json()
        offer = next(o for o in quote["offers"] if o["funding"] == "installment_plan"
                     and o["periods"] == 6 and o["down_payment_minor"] == 0)
        shown = api.get(f"{url}/credit_offers/{offer['offer_id']}/key_facts?lang={language}",
                        token, expect=200)
        document = shown.content
        # Styled under the CSP: its one style block allowed by hash, nothing inline else.
        policy = shown.headers["content-security-policy"]
        style = document.split(b"<style>")[1].split(b"</style>")[0]
        digest = base64.b64encode(hashlib.sha256(style).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in policy and "unsafe-inline" not in policy
        assert "script-src" not in policy and "default-src 'none'" in policy
        confirmed = api.post(f"{url}/confirm", {
            "funding": "installment_plan", "offer_id": offer["offer_id"],
            "key_facts_sha256": hashlib.sha256(document).hexdigest()}, token,
            expect=200).json()
        assert confirmed["status"] == "requires_capture"
        accepted.append(offer["offer_id"])
    assert accepted[0] != accepted[1]
    with api.runtime.uow.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text("SELECT offer_id, language FROM disclosure_acceptances"
                                 " ORDER BY id")).all()
    assert [(r.offer_id, r.language) for r in rows] == [(accepted[0], "zh-CN"),
                                                        (accepted[1], "en")]
