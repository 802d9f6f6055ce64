"""Disputes (issue #20): the consumer opens, reads and withdraws disputes of their payments;
the merchant reads them and answers (accept refunds at once, contest with evidence); an
operator works the queue and decides (four-eyes above the threshold). The use cases are
:class:`creditpay.payments.disputes.Disputes`; docs/disputes.md."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_approvals import ApprovalOut, propose
from creditpay.parties.service import Principal
from creditpay.payments import disputes_core as core

router = APIRouter(prefix="/v1", tags=["disputes"])
CUSTOMER = access(customer=True)
MERCHANT_READ = access(merchant={"reports:read"})
# Answering a dispute is a write on the merchant's payments (a refund on accept).
MERCHANT_WRITE = access(merchant={"refunds:write"})
OPERATOR_READ = access(roles={"admin", "risk_analyst", "compliance_officer", "support"})
OPERATOR_DECIDE = access(roles={"admin", "risk_analyst"})

Reason = Literal["not_received", "not_as_described", "unauthorised", "duplicate"]
Status = Literal["open", "under_review", "resolved_consumer", "resolved_merchant",
                 "withdrawn", "accepted"]

_DISPUTE = {
    "dispute_id": "dp_5b2c0e9f1a7d4c3e8b6a", "payment_intent_id": "pi_0c9d3ad2d0a44b7e8f3c",
    "customer_id": "cus_1f2e3d4c5b6a79880716", "merchant_id": "mer_7a6b5c4d3e2f10293847",
    "currency": "CNY", "amount_minor": 129_900, "reason": "not_received", "status": "open",
    "source": "consumer", "description": "The parcel never arrived",
    "chargeback_id": None, "network_reason_code": None, "funding": "installment_plan",
    "credit_paused": True, "policy_version": "2026-12-07.1", "opened_on": "2026-12-07",
    "respond_by": "2026-12-16", "merchant_late": False, "outcome": None, "refund_id": None,
    "opened_at": "2026-12-07T09:00:00+00:00", "updated_at": "2026-12-07T09:00:00+00:00",
    "resolved_at": None,
    "events": [{"kind": "opened", "actor_type": "customer",
                "statement": "The parcel never arrived", "evidence_documents": [],
                "details": {"reason": "not_received", "amount_minor": 129_900,
                            "network_reason_code": None},
                "created_at": "2026-12-07T09:00:00+00:00"}]}


class DisputeEventOut(BaseModel):
    kind: str
    actor_type: str
    statement: str | None
    evidence_documents: list[str]
    details: dict[str, Any]
    created_at: str


class DisputeOut(BaseModel):
    dispute_id: str
    payment_intent_id: str
    customer_id: str
    merchant_id: str
    currency: str
    amount_minor: int
    reason: Reason
    status: Status
    source: Literal["consumer", "chargeback"]
    description: str | None
    chargeback_id: str | None
    network_reason_code: str | None
    funding: str | None
    credit_paused: bool
    policy_version: str
    opened_on: str
    respond_by: str = Field(description="the last day the merchant may answer")
    merchant_late: bool = Field(description="the merchant did not answer by respond_by")
    outcome: Literal["consumer", "merchant"] | None
    refund_id: str | None
    opened_at: str
    updated_at: str
    resolved_at: str | None
    events: list[DisputeEventOut] | None = None
    model_config = S.examples(_DISPUTE)


class DisputeList(BaseModel):
    data: list[DisputeOut]
    model_config = S.examples({"data": [{k: v for k, v in _DISPUTE.items()
                                         if k != "events"}]})


class DisputeIn(S.Strict):
    payment_intent_id: str = Field(min_length=1, max_length=64)
    reason: Reason
    amount_minor: int | None = Field(None, gt=0, le=S.AMOUNT_MINOR_MAX,
                                     description="default: the whole captured amount not yet "
                                                 "refunded")
    description: str | None = Field(None, max_length=2000)
    model_config = S.examples({"payment_intent_id": "pi_0c9d3ad2d0a44b7e8f3c",
                               "reason": "not_received", "amount_minor": 129_900,
                               "description": "The parcel never arrived"})


class ResponseIn(S.Strict):
    action: Literal["accept", "contest"]
    evidence: str | None = Field(None, max_length=4000,
                                 description="the merchant's statement (required to contest)")
    evidence_documents: list[str] | None = Field(
        None, description="small texts or document ids (at most 10, 200 characters each)")
    model_config = S.examples({"action": "contest",
                               "evidence": "Delivered on 2026-12-03, signed by the consumer",
                               "evidence_documents": ["courier:SF1234567890"]})


class DecideIn(S.Strict):
    outcome: Literal["consumer", "merchant"]
    note: str | None = Field(None, max_length=4000)
    model_config = S.examples({"outcome": "consumer",
                               "note": "No proof of delivery to the consumer's address"})


class PolicyOut(BaseModel):
    version: str
    opening_window_days: int
    merchant_response_business_days: int
    weekend: list[str]
    description_chars_max: int
    evidence_chars_max: int
    evidence_documents_max: int
    evidence_document_chars_max: int
    chargeback_reasons: dict[str, str]
    chargeback_reason_default: str
    reasons: list[str]
    statuses: list[str]
    model_config = S.examples({**core.load_policy().as_dict()})


_PROPOSED: dict[int | str, dict[str, Any]] = {202: {
    "model": ApprovalOut, "description": "above the four-eyes threshold: a proposal of kind "
                                         "dispute.decide for another operator to approve"}}


# ----------------------------------------------------------------------- consumer
@router.post("/me/disputes", status_code=201, response_model=DisputeOut,
             summary="Dispute one of my payments")
def open_dispute(request: Request, body: DisputeIn, idempotency_key: str = IdempotencyKey,
                 who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Disputes a captured payment of the caller (reason `not_received`,
    `not_as_described`, `unauthorised` or `duplicate`; `amount_minor` defaults to the whole
    captured amount not yet refunded; 422 naming `amount_minor` beyond it). A plan that
    financed it is paused (no interest, fees, late status or collections) until the dispute
    ends. 404 for another customer's payment; 409 naming `payment_intent_id` when a dispute
    is already open on it or the window (120 days after capture) has passed. The merchant is
    told by the `dispute.opened` webhook, with its `respond_by` date. Idempotency-Key
    required."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.disputes
                           .open_dispute(tx, who, payment_intent_id=body.payment_intent_id,
                                         reason=body.reason, amount_minor=body.amount_minor,
                                         description=body.description), status_code=201)


@router.get("/me/disputes", response_model=DisputeList, summary="My disputes")
def list_my_disputes(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's disputes, newest first (at most 200). Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": rt.payments.disputes.list_for(conn, who)}


@router.get("/me/disputes/{dispute_id}", response_model=DisputeOut, summary="One of my "
                                                                            "disputes")
def get_my_dispute(request: Request, dispute_id: str, who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. One of the caller's disputes with its events (both sides' statements and
    evidence); 404 for anyone else's. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.payments.disputes.get(conn, who, dispute_id)


@router.post("/me/disputes/{dispute_id}/withdraw", response_model=DisputeOut,
             summary="Withdraw my dispute")
def withdraw_dispute(request: Request, dispute_id: str, idempotency_key: str = IdempotencyKey,
             who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Withdraws an open or under-review dispute: the plan resumes, every unpaid
    installment's due date moved by the days paused. 409 naming `status` once final.
    Idempotency-Key required."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None, lambda tx: rt.payments.disputes
                           .withdraw(tx, who, dispute_id))


# ----------------------------------------------------------------------- merchant
@router.get("/merchant/disputes/{dispute_id}", response_model=DisputeOut,
            summary="One dispute of my payments")
def get_merchant_dispute(request: Request, dispute_id: str,
                     who: Principal = Depends(MERCHANT_READ)) -> Any:
    """Merchant (reports:read). One dispute of the merchant's payments with its events; 404
    for another merchant's. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.payments.disputes.get(conn, who, dispute_id)


@router.post("/merchant/disputes/{dispute_id}/response", response_model=DisputeOut,
             summary="Answer a dispute: accept (refund) or contest with evidence")
def respond_to_dispute(request: Request, dispute_id: str, body: ResponseIn,
            idempotency_key: str = IdempotencyKey,
            who: Principal = Depends(MERCHANT_WRITE)) -> Any:
    """Merchant (refunds:write). `accept` refunds the disputed amount at once through the
    payment's refund path (status `accepted`); `contest` with `evidence` (and optional
    `evidence_documents`) moves the dispute to `under_review` for an operator. 409 naming
    `status` when the dispute is past that step; 422 naming `evidence` when contesting
    without it. Idempotency-Key required."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.disputes
                           .respond(tx, who, dispute_id, action=body.action,
                                    evidence=body.evidence,
                                    evidence_documents=body.evidence_documents))


# ----------------------------------------------------------------------- operator
@router.get("/operator/disputes", response_model=DisputeList, summary="The disputes queue")
def list_operator_disputes(request: Request,
                      status: Status | None = Query(None, description="only in this state"),
                      who: Principal = Depends(OPERATOR_READ)) -> Any:
    """Operator (admin, risk analyst, compliance officer, support). Disputes newest first
    (at most 200), optionally in one status (`under_review`: the decision queue). Changes
    nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": rt.payments.disputes.list_for(conn, who, status=status)}


@router.get("/operator/dispute_policy", response_model=PolicyOut,
            summary="The disputes' deadlines and limits in force")
def get_dispute_policy(request: Request, who: Principal = Depends(OPERATOR_READ)) -> Any:
    """Operator. The versioned disputes policy: opening window, merchant response
    business days, limits and the network reason-code mapping. Changes nothing."""
    return runtime(request).payments.disputes.policy.as_dict()


@router.get("/operator/disputes/{dispute_id}", response_model=DisputeOut,
            summary="One dispute with both sides' statements and evidence")
def get_operator_dispute(request: Request, dispute_id: str,
                     who: Principal = Depends(OPERATOR_READ)) -> Any:
    """Operator. One dispute with every event. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.payments.disputes.get(conn, who, dispute_id)


@router.post("/operator/disputes/{dispute_id}/decide", response_model=DisputeOut,
             responses=_PROPOSED, summary="Decide a dispute under review")
def decide_dispute(request: Request, dispute_id: str, body: DecideIn,
           idempotency_key: str = IdempotencyKey,
           who: Principal = Depends(OPERATOR_DECIDE)) -> Any:
    """Operator (admin, risk analyst). `consumer` refunds the disputed amount through the
    refund path (`resolved_consumer`); `merchant` resumes the plan with the paused days
    honoured (`resolved_merchant`). 409 naming `status` unless the dispute is under review.
    A dispute of more than the four-eyes threshold (CREDITPAY_FOUR_EYES_THRESHOLD_MINOR) is
    **202** with a proposal of kind `dispute.decide` that another operator approves.
    Idempotency-Key required."""
    rt = runtime(request)
    disputes = rt.payments.disputes
    with rt.uow.connect() as conn:
        amount = disputes.decidable_amount(conn, dispute_id, body.outcome)
    if rt.four_eyes.controls_amount(amount):
        def proposal(tx: Any) -> dict[str, Any]:
            disputes.decidable_amount(tx.conn, dispute_id, body.outcome)
            return propose(rt, tx, who, "dispute.decide", {
                "dispute_id": dispute_id, "outcome": body.outcome, "note": body.note,
                "amount_minor": amount})

        return idempotent_post(request, who.scope_key, body, proposal, status_code=202,
                               response_model=ApprovalOut)
    return idempotent_post(request, who.scope_key, body, lambda tx: disputes.decide(
        tx, who.id, dispute_id, outcome=body.outcome, note=body.note))
