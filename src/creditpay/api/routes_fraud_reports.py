"""Consumer routes: report fraud on my account (and freeze my credit), lift my own freeze.

Thin: each maps the request to one use case of :mod:`creditpay.payments.fraud_reports`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.parties.service import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["fraud reports"])
CUSTOMER = access(customer=True)


class FraudReportIn(S.Strict):
    description: str = Field(min_length=1, max_length=2000,
                             description="what happened, in your own words")
    payment_intent_id: str | None = Field(
        None, min_length=1, max_length=64,
        description="a payment you did not make, if there is one (one of yours)")
    freeze: bool = Field(True, description="freeze your credit lines now (no new credit "
                                           "until you lift it with a one-time code)")
    model_config = S.examples({"description": "I did not buy this; my phone was stolen",
                               "payment_intent_id": "pi_5b1e0c9d2a7f4e3b8c61",
                               "freeze": True})


class LineFreezeOut(BaseModel):
    line_id: str
    status: Literal["active", "frozen", "closed"]
    frozen_reason: Literal["customer_request", "write_off"] | None
    changed: bool


_FROZEN = {"line_id": "line_cus_ce43b1a7f338dc1dbb20_CNY", "status": "frozen",
           "frozen_reason": "customer_request", "changed": True}


class FraudReportOut(BaseModel):
    report_id: str
    complaint_id: str = Field(description="the fraud_dispute complaint a person follows up")
    payment_intent_id: str | None
    labelled: bool = Field(description="the payment was recorded as fraud")
    credit_frozen: bool
    lines: list[LineFreezeOut]
    resolve_due_at: str
    description_note_id: str = Field(description="your words, kept encrypted in the notes "
                                                 "vault for the person who follows it up")
    model_config = S.examples({
        "report_id": "frr_5b1e0c9d2a7f4e3b8c61", "complaint_id": "cmp_0a1b2c3d4e5f60718293a4b5",
        "payment_intent_id": "pi_5b1e0c9d2a7f4e3b8c61", "labelled": True,
        "credit_frozen": True, "lines": [_FROZEN],
        "resolve_due_at": "2025-03-08T10:00:00+00:00",
        "description_note_id": "note_9f8e7d6c5b4a39281706f5e4"})


class UnfreezeIn(S.Strict):
    step_up_challenge_id: str | None = Field(None, max_length=64)
    step_up_code: str | None = Field(None, pattern=r"^\d{6}$")
    model_config = S.examples({}, {"step_up_challenge_id": "chl_5b1e0c9d2a7f4e3b8c61",
                                   "step_up_code": "123456"})


class UnfreezeOut(BaseModel):
    lines: list[LineFreezeOut]
    model_config = S.examples({"lines": [_FROZEN | {"status": "active",
                                                    "frozen_reason": None}]})


@router.post("/me/fraud_reports", status_code=201, response_model=FraudReportOut,
             summary="Report fraud on my account, and freeze my credit")
def report_fraud(request: Request, body: FraudReportIn, idempotency_key: str = IdempotencyKey,
                 who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Reports that someone else used the account: the payment named (one of the
    caller's, else 404 naming payment_intent_id) is recorded as fraud, a fraud_dispute
    complaint is opened for a person to follow up (its due time is in the answer), and with
    freeze (the default) the caller's credit lines are frozen: no new purchases on credit,
    cash loans or bill installments until lifted (POST /v1/me/credit_line/unfreeze); the
    wallet and repayments are unaffected. Idempotency-Key required."""
    from creditpay.payments.fraud_reports import report_fraud as report

    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: report(
        tx, rt.payments, who, description=body.description,
        payment_intent_id=body.payment_intent_id, freeze=body.freeze,
        subjects=rt.complaint_subjects, notes=rt.notes).as_dict(), status_code=201)


@router.post("/me/credit_line/unfreeze", response_model=UnfreezeOut, tags=["credit"],
             summary="Lift the freeze I put on my credit (one-time code)")
def unfreeze(request: Request, body: UnfreezeIn, idempotency_key: str = IdempotencyKey,
             who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Lifts a freeze the caller put on their credit lines. The first call sends a
    one-time code (403 step-up-required with challenge_id); send again with
    step_up_challenge_id and step_up_code. A line the lender froze (a write-off) is 409
    naming status: customer service reviews it. Idempotency-Key required."""
    from creditpay.payments.fraud_reports import unfreeze_credit

    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: {"lines": unfreeze_credit(
        tx, rt.payments, who, challenge_id=body.step_up_challenge_id,
        code=body.step_up_code)})
