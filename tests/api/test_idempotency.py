"""Idempotency-Key: replay, conflict, required, and 20 concurrent identical requests that move
money once (httpx against the ASGI app, concurrently), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select

from creditpay.db.tables import idempotency_keys
from creditpay.ledger.tables import ledger_transfers


def _setup(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    alice = api.customer("13700000001")
    api.customer("13700000002", device="bob-device")
    api.fund(alice, 100_000)
    return mkey, alice


def test_replay_returns_first_response_and_conflict_is_409(api):
    mkey, alice = _setup(api)
    body = {"amount_minor": 2_500, "currency": "CNY", "order_id": "idem-1"}
    idem = str(uuid.uuid4())
    first = api.post("/v1/payment_intents", body, mkey, idem=idem, expect=201)
    second = api.post("/v1/payment_intents", body, mkey, idem=idem, expect=201)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    conflict = api.post("/v1/payment_intents", {**body, "amount_minor": 2_501}, mkey, idem=idem,
                        expect=409).json()
    assert conflict["type"].endswith("/idempotency-conflict")
    assert conflict["field"] == "Idempotency-Key"
    # The same key from another caller is another scope: no replay of someone else's result.
    other = api.post("/v1/me/wallet/transfers", {"to": "13700000002", "amount_minor": 1},
                     alice, idem=idem, expect=201)
    assert other.json()["kind"] == "p2p"
    missing = api.client.post("/v1/payment_intents", json=body,
                              headers={"Authorization": f"Bearer {mkey}"})
    assert missing.status_code == 422
    assert missing.json()["field"] == "Idempotency-Key"
    assert missing.headers["content-type"] == "application/problem+json"


def test_failed_request_is_not_stored_and_can_be_retried(api):
    mkey, alice = _setup(api)
    intent = api.post("/v1/payment_intents", {"amount_minor": 200_000, "currency": "CNY",
                                              "order_id": "big"}, mkey, expect=201).json()
    idem = str(uuid.uuid4())
    api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"}, alice,
             idem=idem, expect=409)  # insufficient funds: nothing stored
    api.fund(alice, 100_000)
    ok = api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"}, alice,
                  idem=idem, expect=200)
    assert ok.json()["status"] == "requires_capture"


async def _burst(app, method_path, body, token, idem, count=20):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": idem}
        return await asyncio.gather(*[client.post(method_path, json=body, headers=headers)
                                      for _ in range(count)])


def test_twenty_concurrent_identical_requests_move_money_once(api):
    mkey, alice = _setup(api)
    # P2P: one transfer however many copies arrive at once.
    idem = str(uuid.uuid4())
    responses = asyncio.run(_burst(api.app, "/v1/me/wallet/transfers",
                                   {"to": "13700000002", "amount_minor": 7_000}, alice, idem))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert api.wallet(alice)["balance_minor"] == 100_000 - 7_000
    # Confirm: one hold.
    intent = api.post("/v1/payment_intents", {"amount_minor": 3_000, "currency": "CNY",
                                              "order_id": "burst"}, mkey, expect=201).json()
    idem = str(uuid.uuid4())
    responses = asyncio.run(_burst(api.app, f"/v1/payment_intents/{intent['id']}/confirm",
                                   {"funding": "balance"}, alice, idem))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert all(r.json() == responses[0].json() for r in responses)
    assert api.wallet(alice)["available_minor"] == 100_000 - 7_000 - 3_000
    with api.runtime.uow.connect() as conn:
        holds = conn.execute(select(func.count()).select_from(ledger_transfers).where(
            ledger_transfers.c.reference == intent["id"])).scalar_one()
        stored = conn.execute(select(func.count()).select_from(idempotency_keys).where(
            idempotency_keys.c.key == idem)).scalar_one()
    assert (holds, stored) == (1, 1)


def test_concurrent_confirms_with_different_keys_authorise_once(api):
    mkey, alice = _setup(api)
    intent = api.post("/v1/payment_intents", {"amount_minor": 3_000, "currency": "CNY",
                                              "order_id": "race"}, mkey, expect=201).json()

    async def race():
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*[client.post(
                f"/v1/payment_intents/{intent['id']}/confirm", json={"funding": "balance"},
                headers={"Authorization": f"Bearer {alice}",
                         "Idempotency-Key": str(uuid.uuid4())}) for _ in range(10)])

    statuses = sorted(r.status_code for r in asyncio.run(race()))
    assert statuses == [200] + [409] * 9, statuses
    assert api.wallet(alice)["available_minor"] == 100_000 - 3_000
