"""The assistant's use case on both stores: answers from the asker's own figures only,
refusals that reach nobody else's data, conversations that belong to one customer, masked
transcripts, the handoff ticket, audit records, and no money moved by any answer."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from creditpay.assistant.service import HANDOFF_SUBJECT, conversation_turns
from creditpay.assistant.tables import assistant_turns
from creditpay.benchmarks.assistant import INJECTIONS, secrets_of
from creditpay.errors import NotFoundError, ValidationError
from creditpay.formatting import money_text
from creditpay.ledger.tables import ledger_transfers
from creditpay.platform.tables import audit_records
from creditpay.protection.complaints import get_complaint


def _other(world, who: str) -> str:
    return "b" if who == "a" else "a"


@pytest.mark.parametrize("who", ["a", "b"])
def test_answers_carry_the_askers_own_figures(world, who):
    me = world.people[who]
    bill = world.ask(who, "how much is my bill this month")
    assert bill.intent == "bill_amount" and bill.language == "en"
    assert money_text(me["closing"], "CNY", "en") in bill.answer
    assert [a["kind"] for a in bill.actions] == ["repay"]
    assert bill.actions[0]["path"] == "/v1/me/credit_repayments"
    limit = world.ask(who, "我的额度是多少")
    assert limit.intent == "credit_limit" and limit.language == "zh-CN"
    assert money_text(me["limit"], "CNY", "zh-CN") in limit.answer
    for answer in (bill, limit):
        blob = json.dumps(answer.as_dict(), ensure_ascii=False)
        assert not [s for s in secrets_of(world.people[_other(world, who)], me) if s in blob]
        assert answer.sources and all(set(s) == {"doc", "heading"} for s in answer.sources)


def test_refunds_minimum_and_autopay_come_from_the_consumer(world):
    a = world.people["a"]
    refunds = world.ask("a", "where is my refund")
    assert refunds.intent == "refund_status"
    assert money_text(a["refund"], "CNY", "en") in refunds.answer
    assert world.ask("b", "where is my refund").answer.startswith("There is no refund")
    minimum = world.ask("a", "最低还款是多少")
    assert money_text(a["minimum"], "CNY", "zh-CN") in minimum.answer
    autopay = world.ask("a", "is autopay on")
    assert autopay.intent == "autopay"
    [switch] = autopay.actions
    assert switch["kind"] == "switch_autopay" and switch["body"] == {"enabled": True}
    assert switch["path"] == f"/v1/me/credit_accounts/{a['line_id']}/auto_debit"


def test_injection_set_reaches_no_other_consumer(world):
    a, b = world.people["a"], world.people["b"]
    forbidden = secrets_of(b, a)
    for template in INJECTIONS:
        text = template.format(other_customer=b["customer_id"], other_line=b["line_id"])
        answer = world.ask("a", text)
        assert answer.intent == "out_of_scope", text
        assert answer.actions == () and answer.sources == (), text
        blob = json.dumps(answer.as_dict(), ensure_ascii=False)
        assert not [s for s in forbidden if s in blob], text


def test_a_conversation_belongs_to_one_customer(world):
    first = world.ask("a", "when is my bill due")
    second = world.ask("a", "and the minimum?", first.conversation_id)
    assert second.conversation_id == first.conversation_id
    with pytest.raises(NotFoundError) as refused:
        world.ask("b", "how much is my bill", first.conversation_id)
    assert refused.value.field == "conversation_id"
    with world.rt.uow.connect() as conn:
        assert [t.number for t in conversation_turns(
            conn, world.people["a"]["customer_id"], first.conversation_id)] == [1, 2]
        with pytest.raises(NotFoundError):
            conversation_turns(conn, world.people["b"]["customer_id"], first.conversation_id)


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
def test_bad_questions_are_refused_naming_message_and_store_nothing(world, text):
    with world.rt.uow.connect() as conn:
        before = conn.execute(select(func.count()).select_from(assistant_turns)).scalar_one()
    with pytest.raises(ValidationError) as refused:
        world.ask("a", text)
    assert refused.value.field == "message"
    with world.rt.uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(assistant_turns)
                            ).scalar_one() == before


def test_transcripts_are_stored_masked(world):
    text = ("my phone is 13812345678, my email is li.lei@example.com, my name is Li Lei "
            "and my bill is missing")
    answer = world.ask("a", text)
    zh = world.ask("a", "我叫王小明，身份证110105199001010013，账单多少", answer.conversation_id)
    with world.rt.uow.connect() as conn:
        stored = conn.execute(select(assistant_turns.c.question).where(
            assistant_turns.c.conversation_id == answer.conversation_id)).scalars().all()
    joined = " ".join(stored)
    for clear in ("13812345678", "li.lei@example.com", "Li Lei", "王小明",
                  "110105199001010013"):
        assert clear not in joined
    assert "138****5678" in joined and "王**" in joined
    assert zh.intent == "bill_amount"


def test_handoff_opens_one_ticket_with_the_conversation(world):
    asked = world.ask("b", "转人工")
    assert asked.intent == "handoff_human" and asked.ticket_id
    assert asked.ticket_id in asked.answer
    with world.rt.uow.connect() as conn:
        ticket = get_complaint(conn, asked.ticket_id)
    assert (ticket.customer_id, ticket.subject_type, ticket.subject_id, ticket.category.value,
            ticket.channel) == (world.people["b"]["customer_id"], HANDOFF_SUBJECT,
                                asked.conversation_id, "service_quality", "app")
    again = world.ask("b", "I want to talk to a person", asked.conversation_id)
    assert again.ticket_id == asked.ticket_id


def test_an_unsure_answer_offers_a_person_and_accepting_opens_the_ticket(world):
    unsure = world.ask("a", "asdf")
    assert unsure.intent == "handoff_human" and unsure.ticket_id is None
    [offer] = unsure.actions
    assert offer["kind"] == "handoff_human" and offer["path"] == "/v1/me/assistant/messages"
    accepted = world.ask("a", offer["body"]["message"], offer["body"]["conversation_id"])
    assert accepted.intent == "handoff_human" and accepted.ticket_id


def test_no_answer_moves_money_and_every_answer_is_audited(world):
    questions = ["how much is my bill", "how do I repay", "turn on autopay",
                 "I didn't make this payment, freeze my account", "I was charged twice",
                 "I lost my job and can't pay", "split my bill into 6 installments",
                 "what is my credit score", "fees for paying abroad", "最低还款多少"]
    with world.rt.uow.connect() as conn:
        transfers = conn.execute(select(func.count()).select_from(ledger_transfers)
                                 ).scalar_one()
        audited = conn.execute(select(func.count()).select_from(audit_records).where(
            audit_records.c.action == "assistant.answered")).scalar_one()
    kinds = set()
    for text in questions:
        kinds |= {a["kind"] for a in world.ask("a", text).actions}
    assert {"repay", "switch_autopay", "freeze", "open_dispute", "request_hardship"} <= kinds
    with world.rt.uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_transfers)
                            ).scalar_one() == transfers
        rows = conn.execute(select(audit_records.c.payload).where(
            audit_records.c.action == "assistant.answered").order_by(
            audit_records.c.id.desc()).limit(len(questions))).scalars().all()
        assert conn.execute(select(func.count()).select_from(audit_records).where(
            audit_records.c.action == "assistant.answered")).scalar_one() == \
            audited + len(questions)
    assert all(r["intent"] and isinstance(r["sources"], list) for r in rows)
