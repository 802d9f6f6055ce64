"""Consumer-rights routes through the real app, on both stores: consents (text, grant,
list, revoke), complaints (open, list own, staff acknowledge / resolve) and the withdrawal
from an installment plan bought at checkout."""

from __future__ import annotations

from creditpay.ledger.verify import verify_ledger


def test_consents_grant_list_revoke(api, clock):
    token = api.customer("13500000001")
    text = api.get("/v1/me/consent_texts/bureau_inquiry", token, params={"language": "zh-CN"},
                   expect=200).json()
    assert text["text"] and len(text["text_sha256"]) == 64
    body = {"purpose": "bureau_inquiry", "text_version": text["text_version"],
            "language": "zh-CN", "text_sha256": text["text_sha256"]}
    wrong = api.post("/v1/me/consents", {**body, "text_sha256": "0" * 64}, token, expect=422)
    assert wrong.json()["field"] == "text_sha256"
    granted = api.post("/v1/me/consents", body, token, expect=201).json()
    assert granted["granted"] and granted["valid"] and granted["revoked_at"] is None
    assert granted["text_version"] == text["text_version"]
    assert granted["granted_at"].startswith("2025-03-01T09:00")
    clock.advance(minutes=10)  # within the access token's life
    revoked = api.post(f"/v1/me/consents/{granted['id']}/revoke", {}, token,
                       expect=200).json()
    assert not revoked["granted"] and revoked["revoked_at"].startswith("2025-03-01T09:10")
    assert revoked["granted_at"] == granted["granted_at"]
    listed = api.get("/v1/me/consents", token, expect=200).json()["data"]
    assert [(c["purpose"], c["granted"]) for c in listed] == [("bureau_inquiry", False)]
    again = api.post(f"/v1/me/consents/{granted['id']}/revoke", {}, token, expect=409).json()
    assert again["field"] == "purpose"
    assert api.post("/v1/me/consents/999999/revoke", {}, token).status_code == 404


def test_complaints_open_list_and_staff_handle(api, clock):
    admin = api.operator("admin")
    support, officer = api.operator("support"), api.operator("compliance_officer")
    merchant = api.merchant(admin)["api_key"]["key"]
    token = api.customer("13500000002")
    bad = api.post("/v1/me/complaints", {"category": "nonsense", "subject_type": "credit_account",
                                         "subject_id": "plan_1"}, token, expect=422)
    assert "category" in bad.text
    me = api.get("/v1/me", token, expect=200).json()["id"]
    opened = api.post("/v1/me/complaints", {"category": "fees_and_charges",
                                            "subject_type": "customer",
                                            "subject_id": me}, token, expect=201).json()
    assert opened["status"] == "open" and opened["channel"] == "app"
    assert api.get("/v1/me/complaints", token, expect=200).json()["data"] == [opened]
    url = f"/v1/operator/complaints/{opened['id']}"
    assert api.post(f"{url}/acknowledge", {}, merchant).status_code == 403
    assert api.post(f"{url}/acknowledge", {}, api.operator("risk_analyst")).status_code == 403
    clock.advance(minutes=10)
    acknowledged = api.post(f"{url}/acknowledge", {}, support, expect=200).json()
    assert acknowledged["status"] == "acknowledged"
    resolved = api.post(f"{url}/resolve", {"outcome": "upheld", "remedy_minor": 500,
                                           "remedy_currency": "CNY"}, officer,
                        expect=200).json()
    assert (resolved["status"], resolved["outcome"], resolved["remedy_minor"]) == (
        "resolved", "upheld", 500)
    assert api.post(f"{url}/resolve", {"outcome": "upheld"}, admin, expect=409).json()[
        "field"] == "complaint_id"
    assert api.post("/v1/operator/complaints/cmp_missing/acknowledge", {},
                    support).status_code == 404
    assert api.get("/v1/me/complaints", token).json()["data"][0]["status"] == "resolved"


def _plan_bought_at_checkout(api, admin, token):
    mkey = api.merchant(admin)["api_key"]["key"]
    api.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": "11010519491231002X",
                            "date_of_birth": "1949-12-31"}, token, expect=200)
    customer_id = api.get("/v1/me", token).json()["id"]
    api.post(f"/v1/operator/customers/{customer_id}/credit_line",
             {"limit_minor": 1_000_000, "product_code": "huabei"}, admin, expect=201)
    intent = api.post("/v1/payment_intents", {"amount_minor": 100_000, "currency": "CNY",
                                              "order_id": "phone-1"}, mkey, expect=201).json()
    url = f"/v1/payment_intents/{intent['id']}"
    quote = api.post(f"{url}/credit_offers", {}, token, expect=200).json()
    # Checkout offers fee-priced plans (interest-priced ones need a down payment, which the
    # checkout does not take): the 6-installment plan with a monthly fee.
    offer = next(o for o in quote["offers"] if o["funding"] == "installment_plan"
                 and o["periods"] == 6 and o["total_fee_minor"] > 0)
    api.post(f"{url}/confirm", {"funding": "installment_plan", "offer_id": offer["offer_id"],
                                "key_facts_sha256": offer["key_facts_sha256"]},
             token, expect=200)
    api.post(f"{url}/capture", {}, mkey, expect=200)
    return customer_id, offer


def test_withdraw_a_plan_on_day_5(api, clock):
    admin = api.operator("admin")
    token = api.customer("13500000003")
    api.fund(token, 200_000)
    customer_id, offer = _plan_bought_at_checkout(api, admin, token)
    accounts = api.get("/v1/me/credit_accounts", token, expect=200).json()["data"]
    plan = next(a for a in accounts if a["kind"] == "plan")
    assert plan["principal_minor"] == offer["financed_minor"]
    other = api.customer("13500000004")
    url = f"/v1/me/credit_accounts/{plan['account_id']}/withdraw"
    assert api.post(url, {}, other).status_code == 404
    wallet = api.wallet(token)["balance_minor"]
    clock.advance(days=5)
    token = api.login("13500000003")  # the first access token has expired
    key = "withdraw-plan-0001"
    result = api.post(url, {}, token, idem=key, expect=200).json()
    financed, interest = offer["financed_minor"], 0  # a fee-priced plan bears no interest
    assert (result["days_used"], result["interest_minor"]) == (5, interest)
    # The principal and nothing else: none of the plan's fees.
    assert result["amount_due_minor"] == financed and result["refund_minor"] == 0
    assert result["fees_reversed_minor"] == 0 and result["status"] == "closed"
    assert api.wallet(token)["balance_minor"] == wallet - financed - interest
    # The retry with the same key returns the same result and moves nothing.
    assert api.post(url, {}, token, idem=key, expect=200).json() == result
    assert api.wallet(token)["balance_minor"] == wallet - financed - interest
    again = api.post(url, {}, token, expect=409).json()
    assert again["field"] == "account_id"
    line = next(a for a in api.get("/v1/me/credit_accounts", token).json()["data"]
                if a["kind"] == "line")
    with api.runtime.uow.connect() as conn:
        assert verify_ledger(conn).ok
        from creditpay.credit import service as credit

        assert credit.line_of(conn, line["account_id"]).available_minor == 1_000_000
    assert api.outbox("credit.account.withdrawn")[0]["account_id"] == plan["account_id"]


def test_withdrawal_after_the_period_is_refused(api, clock):
    admin = api.operator("admin")
    token = api.customer("13500000005")
    api.fund(token, 200_000)
    _plan_bought_at_checkout(api, admin, token)
    plan = next(a for a in api.get("/v1/me/credit_accounts", token).json()["data"]
                if a["kind"] == "plan")
    clock.advance(days=15)
    token = api.login("13500000005")
    refused = api.post(f"/v1/me/credit_accounts/{plan['account_id']}/withdraw", {}, token,
                       expect=409).json()
    assert refused["field"] == "withdrawal_date"
    assert refused["rule"] == "withdrawal.window_closed"
    assert refused["withdrawal_days"] == 14 and refused["deadline"] == "2025-03-15"
