"""Errors name the field a client can fix and leak nothing internal: a valid currency the
platform does not operate in is bad input (422 naming the field), never a 404/409 carrying
ledger account keys; a complaint can only name the complainant's own payments and accounts.
On both stores, through the real app."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from creditpay.api.schemas import ComplaintSubjectType
from creditpay.ledger.tables import ledger_accounts
from creditpay.payments.complaint_subjects import SUBJECT_TYPES
from creditpay.protection.tables import complaints

INTERNAL = ("platform:", "wallet:", "card_clearing", "merchant_payable", "ledger", "key '")


def _accounts(api) -> int:
    with api.runtime.uow.connect() as conn:
        return conn.execute(select(func.count()).select_from(ledger_accounts)).scalar_one()


@pytest.mark.parametrize("currency", ["USD", "JPY", "EUR"])
def test_a_currency_the_platform_does_not_operate_in_is_bad_input(api, currency):
    admin = api.operator("admin")
    merchant = api.merchant(admin)["api_key"]["key"]
    alice = api.customer("13850000001")
    api.customer("13850000002", device="bob-phone")
    api.fund(alice, 10_000)
    card = api.get("/v1/me/cards", alice).json()["data"][0]["id"]
    before = _accounts(api)
    attempts = [
        ("/v1/me/wallet/top-ups", {"card_id": card, "amount_minor": 100}, alice),
        ("/v1/me/wallet/withdrawals", {"card_id": card, "amount_minor": 100}, alice),
        ("/v1/me/wallet/transfers", {"to": "13850000002", "amount_minor": 100}, alice),
        ("/v1/payment_intents", {"amount_minor": 100, "order_id": "fx-1"}, merchant),
        ("/v1/me/credit_repayments", {"amount_minor": 100}, alice),
        ("/v1/me/cash_loans/offers", {"amount_minor": 100_000}, alice),
    ]
    for path, body, token in attempts:
        response = api.post(path, {**body, "currency": currency}, token)
        assert response.status_code == 422, (path, response.text)
        problem = response.json()
        assert problem["field"] == "currency", (path, problem)
        assert currency in problem["detail"] and "CNY" in problem["detail"]
        for word in INTERNAL:
            assert word not in response.text, (path, word, response.text)
    wallet = api.get("/v1/me/wallet", alice, params={"currency": currency}, expect=422).json()
    assert wallet["field"] == "currency"
    onboard = api.post("/v1/operator/merchants", {"name": "Abroad", "mcc": "5411",
                                                  "discount_rate": "0.006",
                                                  "settlement_currency": currency}, admin,
                       expect=422).json()
    assert onboard["field"] == "settlement_currency"
    assert _accounts(api) == before  # no account opened in the currency on the way


def _complaint(api, token, subject_type, subject_id):
    return api.post("/v1/me/complaints", {"category": "service_quality",
                                          "subject_type": subject_type,
                                          "subject_id": subject_id}, token)


def test_a_complaint_names_only_the_complainants_own_payments_and_accounts(api):
    admin = api.operator("admin")
    merchant = api.merchant(admin)["api_key"]["key"]
    alice = api.customer("13850000003", device="alice-phone")
    bob = api.customer("13850000004", device="bob-phone")
    api.fund(bob, 50_000)
    bobs_intent = api.post("/v1/payment_intents", {"amount_minor": 1_000, "currency": "CNY",
                                                   "order_id": "bob-1"}, merchant,
                           expect=201).json()["id"]
    api.post(f"/v1/payment_intents/{bobs_intent}/confirm", {"funding": "balance"}, bob,
             expect=200)
    bobs_topup = api.get("/v1/me/wallet/history", bob).json()["data"][0]["id"]
    bob_id = api.get("/v1/me", bob).json()["id"]
    api.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": "11010519491231002X",
                            "date_of_birth": "1949-12-31"}, bob, expect=200)
    line = api.post(f"/v1/operator/customers/{bob_id}/credit_line",
                    {"limit_minor": 100_000, "product_code": "huabei"}, admin,
                    expect=201).json()["line_id"]
    unpaid = api.post("/v1/payment_intents", {"amount_minor": 500, "currency": "CNY",
                                              "order_id": "nobody-yet"}, merchant,
                      expect=201).json()["id"]
    for subject_type, subject_id in [("payment_intent", bobs_intent),
                                     ("wallet_operation", bobs_topup),
                                     ("credit_account", line), ("customer", bob_id),
                                     ("payment_intent", unpaid),
                                     ("payment_intent", "pi_does_not_exist")]:
        refused = _complaint(api, alice, subject_type, subject_id)
        assert refused.status_code == 404, (subject_type, refused.text)
        assert refused.json()["field"] == "subject_id"
    unknown = _complaint(api, alice, "merchant", "anything")
    assert unknown.status_code == 422 and unknown.json()["field"] == "subject_type"
    with api.runtime.uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(complaints)).scalar_one() == 0
    # Bob complains about each of his own.
    for subject_type, subject_id in [("payment_intent", bobs_intent),
                                     ("wallet_operation", bobs_topup),
                                     ("credit_account", line), ("customer", bob_id)]:
        assert _complaint(api, bob, subject_type, subject_id).status_code == 201


def test_the_api_lists_exactly_the_subject_types_the_platform_resolves():
    assert ComplaintSubjectType.__args__ == SUBJECT_TYPES
