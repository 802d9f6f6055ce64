"""Issue #20's records in a data subject's rights, through the real app on both stores: the
export shows the person's hardship requests and arrangements, disputes (with their events)
and assistant conversations (with their turns); the erasure drops the words they wrote in a
dispute, empties their assistant questions and answers and their hardship statement (a
vaulted note), and leaves the records themselves."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from creditpay.assistant.tables import assistant_turns
from creditpay.credit import service as S
from creditpay.payments.disputes_tables import payment_dispute_events, payment_disputes
from creditpay.platform.tables import vault_notes
from creditpay.reporting import subject_rights as SR
from tests.api.helpers import Api, running_api

STATEMENT = "我失业了, call 张伟 on 13812345678"
DESCRIPTION = "The parcel never came; ask my neighbour 李娜"


@pytest.fixture
def api(store, clock):
    with running_api(store.url, clock) as api:
        yield api


def _balance_payment(api: Api, mkey: str, token: str, order_id: str) -> str:
    intent = api.post("/v1/payment_intents", {"amount_minor": 30_000, "currency": "CNY",
                                              "order_id": order_id}, mkey, expect=201).json()
    url = f"/v1/payment_intents/{intent['id']}"
    api.post(f"{url}/confirm", {"funding": "balance"}, token, expect=200)
    api.post(f"{url}/capture", {}, mkey, expect=200)
    return str(intent["id"])


def test_export_and_erasure_cover_hardship_disputes_and_the_assistant(api):
    rt = api.runtime
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    token = api.customer("13500000031")
    api.fund(token, 200_000)
    customer_id = api.get("/v1/me", token).json()["id"]
    intent_id = _balance_payment(api, mkey, token, "o-aftercare-1")
    dispute = api.post("/v1/me/disputes", {"payment_intent_id": intent_id,
                                           "reason": "not_received",
                                           "description": DESCRIPTION}, token,
                       expect=201).json()
    asked = rt.uow.run(lambda tx: rt.services.assistant.ask(
        tx, customer_id, None, "How much is my bill? my phone is 13812345678"))
    # A pay-later line with a purchase, and a hardship request with the consumer's words.
    api.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": "11010519491231002X",
                            "date_of_birth": "1949-12-31"}, token, expect=200)
    admin_line = api.post(f"/v1/operator/customers/{customer_id}/credit_line",
                          {"limit_minor": 500_000, "product_code": "huabei"}, admin,
                          expect=201).json()
    line_id = admin_line["line_id"]
    intent = api.post("/v1/payment_intents", {"amount_minor": 60_000, "currency": "CNY",
                                              "order_id": "o-aftercare-2"}, mkey,
                      expect=201).json()
    url = f"/v1/payment_intents/{intent['id']}"
    quote = api.post(f"{url}/credit_offers", {}, token, expect=200).json()
    offer = next(o for o in quote["offers"] if o["funding"] == "credit_line")
    api.post(f"{url}/confirm", {"funding": "credit_line", "offer_id": offer["offer_id"],
                                "key_facts_sha256": offer["key_facts_sha256"]}, token,
             expect=200)
    api.post(f"{url}/capture", {}, mkey, expect=200)
    shown = api.get(f"/v1/me/credit_accounts/{line_id}/hardship_options", token,
                    params={"reason": "job_loss", "lang": "en"}, expect=200).json()
    option = next(o for o in shown["options"] if o["figures"]["kind"] == "reamortisation")
    request = api.post("/v1/me/hardship_requests", {
        "account_id": line_id, "reason": "job_loss",
        "option_id": option["figures"]["option_id"],
        "key_facts_hash": option["key_facts_sha256"], "statement": STATEMENT}, token,
        expect=201).json()

    with rt.uow.begin() as tx:
        document = SR.export_subject(tx, rt.vault, customer_id)
    json.dumps(document)
    [exported] = document["hardship_requests"]
    assert (exported["request_id"], exported["account_id"], exported["status"]) == (
        request["request_id"], line_id, "approved")
    assert exported["statement_note_id"].startswith("note_")
    [arrangement] = document["hardship_arrangements"]
    assert (arrangement["arrangement_id"], arrangement["account_id"],
            arrangement["status"]) == (request["request_id"], f"hsl_{request['request_id']}",
                                       "active")
    [disputed] = document["disputes"]
    assert (disputed["dispute_id"], disputed["description"]) == (dispute["dispute_id"],
                                                                 DESCRIPTION)
    assert disputed["events"] and disputed["events"][0]["actor_type"] == "customer"
    [conversation] = document["assistant_conversations"]
    assert conversation["conversation_id"] == asked.conversation_id
    [turn] = conversation["turns"]
    assert turn["intent"] == asked.intent and "13812345678" not in turn["question"]

    # Erasure, once no credit is open (the hardship plan repaid, the line's limit 0) and
    # under a retention of 0 months: the person's words go, the records stay.
    plan_id = f"hsl_{request['request_id']}"
    with rt.uow.connect() as conn:
        owed = S.payoff_amount(conn, plan_id)
    api.post("/v1/me/credit_repayments", {"amount_minor": owed, "currency": "CNY",
                                          "account_id": plan_id}, token, expect=201)
    with rt.uow.begin() as tx:
        S.set_credit_limit(tx, line_id=line_id, new_limit_minor=0, reason="closing")
    with rt.uow.begin() as tx:
        result = SR.erase_subject(tx, customer_id, idempotency_key="erase-aftercare-1",
                                  policy=SR.RetentionPolicy(retention_months=0))
    assert (result.disputes_erased, result.assistant_turns_erased) == (1, 1)
    assert result.notes_erased >= 1  # the hardship statement
    with rt.uow.connect() as conn:
        row = conn.execute(select(payment_disputes)).mappings().one()
        statements = conn.execute(select(payment_dispute_events.c.statement).where(
            payment_dispute_events.c.actor_type == "customer")).scalars().all()
        turns = conn.execute(select(assistant_turns)).mappings().all()
        notes = conn.execute(select(vault_notes)).mappings().all()
    assert row["description"] is None and row["reason"] == "not_received"
    assert statements and all(s is None for s in statements)
    assert [(t["question"], t["answer"], t["intent"]) for t in turns] == [
        ("", "", asked.intent)]
    assert STATEMENT not in json.dumps([dict(n) for n in notes], default=str)
