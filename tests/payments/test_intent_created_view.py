"""A new intent's view is built from the values written, without reading the row back
(issue #14, the demo's speed): it must be the very view a read of the stored row gives."""

from __future__ import annotations


def test_the_created_intent_is_the_stored_intent(api):  # type: ignore[no-untyped-def]
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    body = {"amount_minor": 12_345, "currency": "CNY", "order_id": "o-view",
            "description": "Two things",
            "line_items": [{"name": "a", "quantity": 2, "unit_amount_minor": 5_000},
                           {"name": "b", "quantity": 1, "unit_amount_minor": 2_345}],
            "return_url": "https://shop.example/back"}
    created = api.post("/v1/payment_intents", body, mkey, expect=201).json()
    stored = api.get(f"/v1/payment_intents/{created['id']}", mkey).json()
    assert created == stored
    assert created["line_items"] == body["line_items"]
    assert created["status"] == "requires_confirmation" and created["customer_id"] is None
