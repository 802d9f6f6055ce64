"""The hosted checkout's contract on the JSON API (issue #15 item 3): ``return_url`` on a
payment intent, ``checkout_url`` in the merchant's create and GET, the link's token kept as
a hash only, single use and expiry. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from creditpay.db.tables import idempotency_keys
from creditpay.parties.security import sha256_hex
from creditpay.payments.common import PaymentsPolicy
from creditpay.payments.tables import payment_intents
from tests.api.helpers import Api, key, running_api

RETURN = "https://shop.example.com/orders/A-1/paid?ref=x"


def _shop(api: Api) -> tuple[str, str]:
    admin = api.operator()
    return admin, api.merchant(admin)["api_key"]["key"]


def _intent(api: Api, shop: str, order: str = "o-1", expect: int = 201, idem: str | None = None,
            **extra: Any) -> Any:
    return api.post("/v1/payment_intents", {"amount_minor": 1_000, "currency": "CNY",
                                            "order_id": order, **extra}, shop, idem=idem,
                    expect=expect)


def _row(api: Api, intent_id: str) -> Any:
    with api.runtime.uow.connect() as conn:
        return conn.execute(select(payment_intents).where(
            payment_intents.c.id == intent_id)).one()


BAD_RETURN_URLS = [
    "ftp://shop.example.com/x",
    "javascript:alert(1)",
    "//shop.example.com/x",
    "/orders/1",
    "http://shop.example.com/x",  # http off loopback: never
    "http://127.0.0.1:9000/back",  # http on loopback: not in production mode
    "https://user:pw@shop.example.com/x",
    "https://shop.example.com/x#frag",
    "https://shop.example.com/a b",
    "https://shop.example.com\\@evil.example/",
    "https://shop.example.com:99999/",
    "https:///nohost",
    "https://" + "a" * 1020 + ".com/",
    "",
]


@pytest.mark.parametrize("bad", BAD_RETURN_URLS)
def test_a_bad_return_url_is_422_naming_it_and_changes_nothing(api: Api, bad: str) -> None:
    _, shop = _shop(api)
    problem = _intent(api, shop, return_url=bad, expect=422).json()
    assert problem["field"] == "return_url", problem
    # Nothing was created: the same order id is still free.
    assert api.get("/v1/payment_intents", shop, expect=200).json()["data"] == []
    _intent(api, shop, return_url=RETURN)


def test_loopback_http_only_with_the_development_switch(store: Any, clock: Any) -> None:
    with running_api(store.url, clock, webhooks_allow_private=True) as api:
        _, shop = _shop(api)
        for i, url in enumerate(["http://127.0.0.1:8123/back", "http://localhost/back",
                                 "http://[::1]:8080/back?x=1"]):
            created = _intent(api, shop, order=f"o-{i}", return_url=url).json()
            assert created["return_url"] == url
        # Development does not open http to other hosts.
        problem = _intent(api, shop, order="o-x", return_url="http://shop.example.com/",
                          expect=422).json()
        assert problem["field"] == "return_url"


def test_create_and_get_carry_the_checkout_url_and_the_token_is_stored_hashed(
        api: Api) -> None:
    _, shop = _shop(api)
    idem = key()
    created = _intent(api, shop, idem=idem, return_url=RETURN).json()
    url = created["checkout_url"]
    assert url.startswith("http://testserver/app/checkout/") and created["return_url"] == RETURN
    token = url.rsplit("/", 1)[1]
    assert len(token) == 64
    fetched = api.get(f"/v1/payment_intents/{created['id']}", shop, expect=200).json()
    assert fetched["checkout_url"] == url and fetched["return_url"] == RETURN
    # The same key and body: the same link (a replay).
    replay = _intent(api, shop, idem=idem, return_url=RETURN)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json()["checkout_url"] == url
    # Only a hash of the token is kept: not on the row, not in the stored response.
    row = _row(api, created["id"])
    assert row.checkout_token_sha256 == sha256_hex(token)
    assert token not in json.dumps({k: str(v) for k, v in row._mapping.items()})
    with api.runtime.uow.connect() as conn:
        stored = [r.response for r in conn.execute(select(idempotency_keys)).all()]
    assert stored and token not in json.dumps(stored)
    # Without a return_url the link exists all the same (the page shows a receipt).
    plain = _intent(api, shop, order="o-2").json()
    assert plain["return_url"] is None and plain["checkout_url"].startswith("http://testserver")
    assert plain["checkout_url"] != url


def test_only_the_merchant_is_given_the_link(api: Api) -> None:
    admin, shop = _shop(api)
    other = api.merchant(admin, name="Other")["api_key"]["key"]
    created = _intent(api, shop).json()
    customer = api.customer("13800000111")
    seen = api.get(f"/v1/payment_intents/{created['id']}", customer, expect=200).json()
    assert seen["checkout_url"] is None
    api.get(f"/v1/payment_intents/{created['id']}", other, expect=404)


def test_the_link_is_single_use(api: Api) -> None:
    _, shop = _shop(api)
    created = _intent(api, shop, return_url=RETURN).json()
    token = created["checkout_url"].rsplit("/", 1)[1]
    customer = api.customer("13800000112")
    api.fund(customer, 5_000)
    api.post(f"/v1/payment_intents/{created['id']}/confirm", {"funding": "balance"}, customer,
             expect=200)
    fetched = api.get(f"/v1/payment_intents/{created['id']}", shop, expect=200).json()
    assert fetched["status"] == "requires_capture" and fetched["checkout_url"] is None
    # The page still finds the intent (to say it is paid), but it is no longer payable and
    # a second confirm is refused.
    payments = api.runtime.payments
    with api.runtime.uow.connect() as conn:
        row = payments.intents.intent_by_checkout_token(conn, token)
        assert row is not None and row.id == created["id"]
        assert payments.intents.intent_by_checkout_token(conn, "0" * 64) is None
        assert payments.intents.intent_by_checkout_token(conn, token.upper()) is None
    api.post(f"/v1/payment_intents/{created['id']}/confirm", {"funding": "balance"}, customer,
             expect=409)
    assert api.wallet(customer)["available_minor"] == 4_000


def test_the_link_lasts_30_minutes(api: Api, clock: Any) -> None:
    _, shop = _shop(api)
    created = _intent(api, shop).json()
    clock.advance(minutes=29)
    assert api.get(f"/v1/payment_intents/{created['id']}", shop).json()["checkout_url"]
    clock.advance(minutes=1)
    fetched = api.get(f"/v1/payment_intents/{created['id']}", shop, expect=200).json()
    assert fetched["status"] == "requires_confirmation" and fetched["checkout_url"] is None


def test_the_link_ends_with_the_intent_when_that_is_sooner(store: Any, clock: Any) -> None:
    with running_api(store.url, clock,
                     payments_policy=PaymentsPolicy(intent_ttl_s=600)) as api:
        _, shop = _shop(api)
        created = _intent(api, shop).json()
        row = _row(api, created["id"])
        assert row.checkout_expires_at == row.expires_at
        clock.advance(minutes=10)
        assert api.get(f"/v1/payment_intents/{created['id']}", shop).json()[
            "checkout_url"] is None


def test_a_cancelled_intent_has_no_link(api: Api) -> None:
    _, shop = _shop(api)
    created = _intent(api, shop).json()
    api.post(f"/v1/payment_intents/{created['id']}/cancel", None, shop, expect=200)
    assert api.get(f"/v1/payment_intents/{created['id']}", shop).json()["checkout_url"] is None
