"""The customer-service assistant over HTTP (issue #20): ``POST /v1/me/assistant/messages``.

The route maps the body to :meth:`creditpay.assistant.service.Assistant.ask` for the
authenticated customer (the same consumer dependency as every ``/v1/me`` route; the
per-credential rate limit of every route applies) and returns the answer. The assistant
reads only the caller's data and never moves money: its ``actions`` are proposals, each
naming the route the consumer calls to do it. An ``Idempotency-Key`` is optional: with one,
a retry replays the first answer (and stores no second turn). Staff read the conversation
a handoff attached to a complaint at ``GET /v1/operator/complaints/{id}/conversation``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import BaseModel, Field

from creditpay.api.access import access
from creditpay.api.common import post as idempotent_post
from creditpay.api.common import runtime
from creditpay.api.runtime import Runtime
from creditpay.api.schemas import Strict, examples
from creditpay.assistant.service import MESSAGE_CHARS_MAX
from creditpay.db.uow import Tx
from creditpay.parties.service import Principal

__all__ = ["router", "answer_use_case", "AssistantMessageIn", "AssistantMessageOut"]

router = APIRouter(prefix="/v1", tags=["assistant"])
CUSTOMER = access(customer=True)
Intent = Literal["bill_amount", "due_date", "minimum_payment", "how_to_repay", "autopay",
                 "credit_limit", "refund_status", "dispute_charge", "hardship", "report_fraud",
                 "fx_charge", "installment_convert", "credit_score", "handoff_human",
                 "out_of_scope"]
ActionKind = Literal["repay", "switch_autopay", "freeze", "open_dispute", "request_hardship",
                     "handoff_human"]


class AssistantMessageIn(Strict):
    conversation_id: str | None = Field(
        None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$",
        description="a conversation this customer started (default: a new one)")
    message: str = Field(min_length=1, max_length=MESSAGE_CHARS_MAX,
                         description="the question, zh-CN or en")
    model_config = examples({"message": "我这个月账单多少钱"},
                            {"conversation_id": "asc_5f0c3b9a1d2e4f6a8b7c6d5e4f3a2b1c",
                             "message": "when is it due?"})


class SourceOut(BaseModel):
    doc: str
    heading: str


class ActionOut(BaseModel):
    kind: ActionKind
    label: str
    method: Literal["GET", "POST"]
    path: str
    body: dict[str, Any] | None = None


class AssistantMessageOut(BaseModel):
    conversation_id: str
    intent: Intent
    answer: str
    language: Literal["zh-CN", "en"]
    sources: list[SourceOut]
    actions: list[ActionOut]
    model_config = examples({
        "conversation_id": "asc_5f0c3b9a1d2e4f6a8b7c6d5e4f3a2b1c", "intent": "bill_amount",
        "answer": "您最近一期账单（2025年3月1日 出账）金额为 ¥314.00，还款日为 2025年3月10日。"
                  "今天还清全部欠款需 ¥314.00。",
        "language": "zh-CN",
        "sources": [{"doc": "docs/servicing.md", "heading": "Revolving lines: minimum payment, "
                                                             "allocation and delinquency"}],
        "actions": [{"kind": "repay", "label": "还款 ¥314.00", "method": "POST",
                     "path": "/v1/me/credit_repayments",
                     "body": {"amount_minor": 31400, "currency": "CNY"}}]})


def answer_use_case(rt: Runtime, who: Principal, body: AssistantMessageIn
                    ) -> Callable[[Tx], dict[str, Any]]:
    """POST /v1/me/assistant/messages's use case (the web app's chat panel runs it too):
    the reads and the optional LLM's wording happen now, holding no transaction (SQLite has
    one writer); the returned function stores the turn in the caller's transaction and
    gives the answer."""
    assert rt.services is not None, "a runtime is built by build_runtime"
    assistant = rt.services.assistant
    with rt.uow.connect() as conn:
        locale = rt.parties.get_customer(conn, who.id).locale
        prepared = assistant.prepare(conn, who.id, body.conversation_id, body.message,
                                     today=rt.clock.today(), now=rt.clock.now(),
                                     locale=locale)
    wording = assistant.rephrase(prepared)
    return lambda tx: assistant.finish(tx, prepared, wording).as_dict()


@router.post("/me/assistant/messages", response_model=AssistantMessageOut,
             summary="Ask the customer-service assistant (zh-CN or en)")
def assistant_message(request: Request, body: AssistantMessageIn,
                      idempotency_key: str | None = Header(
                          None, alias="Idempotency-Key", min_length=8, max_length=255,
                          pattern=r"^[\x21-\x7e]+$",
                          description="optional: a retry with the same key and body "
                                      "replays the first answer"),
                      who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Answers one question about the caller's own account from their data and
    the platform's documents, in the question's language: the intent, the answer, the
    passages it used (sources) and proposed actions (each names the route that performs it
    once the caller confirms; the assistant itself never moves money). A handoff to a
    person opens a support ticket with the conversation attached. 422 naming message
    (empty, over 2,000 characters) or conversation_id; 404 for a conversation that is not
    the caller's. The question is stored with personal data masked. Idempotency-Key
    optional: with one, a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    use_case = answer_use_case(rt, who, body)
    if idempotency_key is not None:
        return idempotent_post(request, who.scope_key, body, use_case)
    return rt.uow.run(use_case)


class TurnOut(BaseModel):
    number: int
    asked_at: str
    question: str = Field(description="as stored: personal data masked")
    language: Literal["zh-CN", "en"]
    intent: Intent
    answer: str
    sources: list[SourceOut]
    actions: list[ActionOut]
    refusal: str | None


class HandedOffConversationOut(BaseModel):
    complaint_id: str
    customer_id: str
    conversation_id: str
    turns: list[TurnOut]
    model_config = examples({
        "complaint_id": "cmp_3f2a1b0c9d8e7f6a5b4c3d2e", "customer_id": "cus_0b1c2d3e4f5a6b7c8d9e",
        "conversation_id": "asc_5f0c3b9a1d2e4f6a8b7c6d5e4f3a2b1c",
        "turns": [{"number": 1, "asked_at": "2025-03-02T09:00:00+00:00",
                   "question": "my phone is 138****5678, I want a person", "language": "en",
                   "intent": "handoff_human",
                   "answer": "I have passed this conversation to our service team (ticket "
                             "cmp_3f2a1b0c9d8e7f6a5b4c3d2e).",
                   "sources": [], "actions": [], "refusal": None}]})


COMPLAINT_STAFF = access(roles={"compliance_officer", "support", "admin"})
ComplaintId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")


@router.get("/operator/complaints/{complaint_id}/conversation",
            response_model=HandedOffConversationOut, tags=["complaints"],
            summary="The assistant conversation a handoff attached to this complaint "
                    "(masked transcript)")
def handed_off_conversation(request: Request, complaint_id: str = ComplaintId,
                            who: Principal = Depends(COMPLAINT_STAFF)) -> Any:
    """Operator (compliance officer, support, admin). The assistant conversation a consumer's
    handoff attached to this complaint: every turn with its masked question, intent, answer,
    sources and proposals, oldest first. 404 naming complaint_id for an unknown complaint or
    one not opened by a handoff. Changes nothing."""
    from creditpay.assistant.service import HANDOFF_SUBJECT, conversation_turns
    from creditpay.errors import NotFoundError
    from creditpay.protection.complaints import get_complaint

    with runtime(request).uow.connect() as conn:
        complaint = get_complaint(conn, complaint_id)
        if complaint.subject_type != HANDOFF_SUBJECT:
            raise NotFoundError("this complaint has no assistant conversation",
                                field="complaint_id")
        turns = conversation_turns(conn, complaint.customer_id, complaint.subject_id)
    return {"complaint_id": complaint.id, "customer_id": complaint.customer_id,
            "conversation_id": complaint.subject_id,
            "turns": [{"number": t.number, "asked_at": t.asked_at.isoformat(),
                       "question": t.question, "language": t.language, "intent": t.intent,
                       "answer": t.answer, "sources": list(t.sources),
                       "actions": list(t.actions), "refusal": t.refusal} for t in turns]}
