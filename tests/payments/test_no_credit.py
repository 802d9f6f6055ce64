"""A platform that offers no credit (the port wired with ``NoCredit``): credit offers,
credit confirms and granting a line answer 503 ``credit-unavailable`` and change nothing,
while paying with balance keeps working. On both stores."""

from __future__ import annotations

from creditpay.payments.credit_port import NoCredit
from tests.api.helpers import running_api


def test_without_credit_the_credit_calls_are_unavailable_and_balance_works(store, clock):
    with running_api(store.url, clock, credit=NoCredit()) as api:
        admin = api.operator("admin")
        mkey = api.merchant(admin)["api_key"]["key"]
        token = api.customer("13300000009")
        api.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": "11010519491231002X",
                                "date_of_birth": "1949-12-31"}, token, expect=200)
        customer_id = api.get("/v1/me", token).json()["id"]
        line = api.post(f"/v1/operator/customers/{customer_id}/credit_line",
                        {"limit_minor": 100_000, "product_code": "huabei"}, admin)
        assert (line.status_code, line.json()["type"].rsplit("/", 1)[-1]) == (
            503, "credit-unavailable")

        api.fund(token, 50_000)
        intent = api.post("/v1/payment_intents", {"amount_minor": 12_000, "currency": "CNY",
                                                  "order_id": "o-1"}, mkey, expect=201).json()
        url = f"/v1/payment_intents/{intent['id']}"
        offers = api.post(f"{url}/credit_offers", {}, token)
        assert offers.status_code == 503
        assert offers.json()["type"].endswith("credit-unavailable")
        credit = api.post(f"{url}/confirm", {"funding": "installment_plan", "offer_id": "x",
                                             "key_facts_sha256": "0" * 64}, token)
        assert credit.status_code == 503
        assert credit.json()["type"].endswith("credit-unavailable")
        assert api.get(url, mkey, expect=200).json()["status"] == "requires_confirmation"

        paid = api.post(f"{url}/confirm", {"funding": "balance"}, token, expect=200).json()
        assert paid["status"] == "requires_capture"
        captured = api.post(f"{url}/capture", {}, mkey, expect=200).json()
        assert captured["status"] == "succeeded"
        assert api.wallet(token)["balance_minor"] == 50_000 - 12_000
