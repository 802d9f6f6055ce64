"""GET /v1/me/credit_line: the consumer sees their own limit, available credit, holds and
what they owe by product, equal to the ledger and the accounts (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools

from creditpay.credit import service as credit

PHONES = (f"1391234{n:04d}" for n in itertools.count(1))


def _pay(api, mkey, token, amount_minor, order_id, *, funding, periods=None, capture=True):
    intent = api.post("/v1/payment_intents", {"amount_minor": amount_minor, "currency": "CNY",
                                              "order_id": order_id}, mkey, expect=201).json()
    url = f"/v1/payment_intents/{intent['id']}"
    offers = api.post(f"{url}/credit_offers", {}, token, expect=200).json()["offers"]
    offer = next(o for o in offers if o["funding"] == funding and not o["down_payment_minor"]
                 and (periods is None or o["periods"] == periods))
    api.post(f"{url}/confirm", {"funding": funding, "offer_id": offer["offer_id"],
                                "key_facts_sha256": offer["key_facts_sha256"]}, token,
             expect=200)
    if capture:
        api.post(f"{url}/capture", {}, mkey, expect=200)


def test_my_credit_line_shows_limit_available_holds_and_exposure_by_product(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    token, customer_id = api.customer_with_line(admin, next(PHONES))
    fresh = api.get("/v1/me/credit_line", token, expect=200).json()
    assert (fresh["limit_minor"], fresh["available_minor"], fresh["used_minor"],
            fresh["held_minor"], fresh["exposure_minor"]) == (1_000_000, 1_000_000, 0, 0, 0)
    assert fresh["exposure_by_product"] == [{  # the line's own account, nothing owed yet
        "product_code": "huabei", "kind": "line", "accounts": 1, "principal_minor": 0,
        "principal_past_due_minor": 0}]
    assert fresh["status"] == "active" and fresh["currency"] == "CNY"

    _pay(api, mkey, token, 60_000, "plan-1", funding="installment_plan", periods=6)
    _pay(api, mkey, token, 30_000, "line-1", funding="credit_line")
    _pay(api, mkey, token, 20_000, "held-1", funding="credit_line", capture=False)
    line = api.get("/v1/me/credit_line", token, expect=200).json()
    with api.runtime.uow.connect() as conn:
        ledger_available = credit.line_of(conn, f"line_{customer_id}_CNY").available_minor
        position = credit.borrower_position(conn, customer_id, "CNY")
    assert line["available_minor"] == ledger_available == 1_000_000 - 110_000
    assert line["used_minor"] == 110_000 and line["held_minor"] == 20_000
    assert line["exposure_minor"] == position.exposure_minor == 110_000
    by_kind = {(p["kind"], p["product_code"]): p for p in line["exposure_by_product"]}
    assert by_kind[("line", "huabei")]["principal_minor"] == 30_000
    plans = [p for (kind, _), p in by_kind.items() if kind == "plan"]
    assert [p["principal_minor"] for p in plans] == [60_000]
    assert sum(p["principal_minor"] for p in line["exposure_by_product"]) \
        + line["held_minor"] == line["exposure_minor"]


def test_my_credit_line_without_a_line_or_not_a_customer(api):
    admin = api.operator("admin")
    token = api.customer(next(PHONES))
    problem = api.get("/v1/me/credit_line", token, expect=404).json()
    assert problem["field"] == "currency"
    assert api.get("/v1/me/credit_line", token, params={"currency": "cny"},
                   expect=422).json()["field"] == "currency"
    mkey = api.merchant(admin)["api_key"]["key"]
    api.get("/v1/me/credit_line", mkey, expect=403)
    api.get("/v1/me/credit_line", None, expect=401)
