"""POST /v1/me/assistant/messages: the exact contract (body, answer keys, 422 naming the
field, 404 for another customer's conversation, consumer auth, optional idempotent
replay), on both stores."""

from __future__ import annotations

import uuid

PATH = "/v1/me/assistant/messages"


def _post(world, token, body, key=None):
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return world.api.client.post(PATH, json=body, headers=headers)


def test_contract_and_conversation(world):
    token = world.token("a")
    first = _post(world, token, {"message": "我这个月账单多少钱"})
    assert first.status_code == 200, first.text
    out = first.json()
    assert set(out) == {"conversation_id", "intent", "answer", "language", "sources",
                        "actions"}
    assert (out["intent"], out["language"]) == ("bill_amount", "zh-CN")
    assert all(set(s) == {"doc", "heading"} for s in out["sources"])
    assert all(set(a) == {"kind", "label", "method", "path", "body"} for a in out["actions"])
    follow = _post(world, token, {"conversation_id": out["conversation_id"],
                                  "message": "when is it due?"}).json()
    assert follow["conversation_id"] == out["conversation_id"]
    assert follow["intent"] == "due_date" and follow["language"] == "en"
    # Another customer's conversation: 404, as if it did not exist.
    other = _post(world, world.token("b"), {"conversation_id": out["conversation_id"],
                                            "message": "how much is my bill"})
    assert other.status_code == 404, other.text
    assert other.json()["field"] == "conversation_id"


def test_bad_input_is_a_422_naming_message(world):
    token = world.token("a")
    for body in ({"message": ""}, {"message": "x" * 2001}, {"message": "   "}, {}):
        answer = _post(world, token, body)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["field"] == "message", answer.json()
    assert _post(world, token, {"message": "hi", "conversation_id": "bad id!"}
                 ).json()["field"] == "conversation_id"


def test_consumers_only_and_idempotent_replay(world):
    assert world.api.client.post(PATH, json={"message": "hi"}).status_code == 401
    token = world.token("a")
    key = uuid.uuid4().hex
    first = _post(world, token, {"message": "what is my credit limit"}, key)
    again = _post(world, token, {"message": "what is my credit limit"}, key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    conflict = _post(world, token, {"message": "what is my credit score"}, key)
    assert conflict.status_code == 409


def test_staff_read_the_handed_off_conversation_masked(world):
    token = world.token("b")
    asked = _post(world, token, {"message": "my phone is 13812345678, 转人工"}).json()
    assert asked["intent"] == "handoff_human"
    from creditpay.assistant.service import customer_conversations

    with world.rt.uow.connect() as conn:
        ticket = next(c for c in customer_conversations(conn, world.people["b"]["customer_id"])
                      if c["id"] == asked["conversation_id"])["handoff_complaint_id"]
    support = world.api.operator("support")
    read = world.api.get(f"/v1/operator/complaints/{ticket}/conversation", support,
                         expect=200).json()
    assert read["conversation_id"] == asked["conversation_id"]
    [turn] = read["turns"]
    assert "13812345678" not in turn["question"] and "138****5678" in turn["question"]
    assert world.api.get(f"/v1/operator/complaints/{ticket}/conversation", token
                         ).status_code == 403
