"""Operator console: referred credit applications and their review (issue #5).

The application policy refers what it should not decide alone; the consumer reads "under
review". Analysts (``risk_analyst``) and ``admin`` work the queue: an approval (at most the
limit the policy computed, at its price for the grade) opens the pay-later line in the same
transaction as the verdict, as an automated approval does; a decline gives the consumer a
reason. ``compliance_officer`` reads the queue. See docs/risk-models.md, "Referrals".
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_consumer_credit import LINE_PRODUCT
from creditpay.api.schemas import Strict
from creditpay.parties.service import Principal
from creditpay.risk.decisions import referrals

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["credit referrals"])
READ = access(roles={"risk_analyst", "admin", "compliance_officer"})
ACT = access(roles={"risk_analyst", "admin"})
DecisionId = Path(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")


class ReferralOut(BaseModel):
    decision_id: str
    application_id: str
    customer_id: str
    product_code: str
    decided_at: str
    grade: str
    score: float
    pd: float = Field(description="probability of default the model gave (0..1)")
    offered_limit_minor: int | None = Field(
        description="the limit the policy computed: the most an approval may grant")
    offered_apr_bps: int | None = Field(description="the policy's price for the grade")
    currency: str
    reasons: list[dict[str, Any]] = Field(description="why the policy referred it")
    features: dict[str, Any] = Field(description="the feature values the decision used")
    status: Literal["pending", "resolved"]
    verdict: Literal["approve", "decline"] | None
    limit_minor: int | None = Field(description="granted limit (approve)")
    apr_bps: int | None
    reason_code: str | None = Field(description="the decline's reason (REVIEW_* code)")
    reviewer_id: str | None
    reviewed_at: str | None
    line_id: str | None = Field(None, description="the line an approval opened")


class ReferralList(BaseModel):
    data: list[ReferralOut]


class ReferralResolveIn(Strict):
    verdict: Literal["approve", "decline"]
    limit_minor: int | None = Field(
        None, gt=0, le=10_000_000_000,
        description="approve: the limit to grant, at most the offered limit (default: it)")
    reason_code: Literal[tuple(sorted(referrals.REVIEW_REASONS))] | None = Field(  # type: ignore[valid-type]
        None, description="decline: the reason the consumer reads")


@router.get("/operator/credit_referrals", response_model=ReferralList,
            summary="Referred credit applications, oldest first")
def list_referrals(request: Request,
                   status: Literal["pending", "resolved"] | None = Query("pending"),
                   limit: int = Query(50, ge=1, le=referrals.REFERRALS_MAX),
                   who: Principal = Depends(READ)) -> Any:
    with runtime(request).uow.connect() as conn:
        return {"data": [r.to_json() for r in referrals.list_referrals(
            conn, status=status, limit=limit)]}


@router.get("/operator/credit_referrals/{decision_id}", response_model=ReferralOut,
            summary="One referred application with its scores, offer and feature values")
def get_referral(request: Request, decision_id: str = DecisionId,
                 who: Principal = Depends(READ)) -> Any:
    with runtime(request).uow.connect() as conn:
        return referrals.get_referral(conn, decision_id).to_json()


@router.post("/operator/credit_referrals/{decision_id}/resolve", response_model=ReferralOut,
             summary="Approve (opens the line) or decline (with a reason) a referral")
def resolve(request: Request, body: ReferralResolveIn, decision_id: str = DecisionId,
            idempotency_key: str = IdempotencyKey, who: Principal = Depends(ACT)) -> Any:
    rt = runtime(request)

    command = referrals.ReviewReferral(
        decision_id=decision_id, reviewer=who, verdict=body.verdict,
        line_product_code=LINE_PRODUCT, limit_minor=body.limit_minor,
        reason_code=body.reason_code)

    def use_case(tx: Any) -> dict[str, Any]:
        reviewed = referrals.review_referral(tx, command,
                                             open_line=rt.origination.open_credit_line)
        out = reviewed.referral.to_json()
        if reviewed.line is not None:
            out["line_id"] = reviewed.line.line_id
        return out

    return idempotent_post(request, who.scope_key, body, use_case)
