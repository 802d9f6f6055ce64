"""Operator console: referred credit applications and their review (issue #5).

The application policy refers what it should not decide alone; the consumer reads "under
review". Analysts (``risk_analyst``) and ``admin`` work the queue: an approval (at most the
limit the policy computed, at its price for the grade) opens the pay-later line in the same
transaction as the verdict, as an automated approval does; a decline gives the consumer a
reason. ``compliance_officer`` reads the queue. See docs/risk-models.md, "Referrals".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_approvals import ApprovalOut, propose
from creditpay.api.routes_consumer_credit import LINE_PRODUCT
from creditpay.api.runtime import Runtime
from creditpay.api.schemas import Strict, examples
from creditpay.parties.service import Principal
from creditpay.risk.decisions import referrals

__all__ = ["router", "resolution"]

router = APIRouter(prefix="/v1", tags=["credit referrals"])
READ = access(roles={"risk_analyst", "admin", "compliance_officer"})
ACT = access(roles={"risk_analyst", "admin"})
DecisionId = Path(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")


_REFERRAL: dict[str, Any] = {
    "decision_id": "9c2e4a6b8d0f41e3a5c7e9b1d3f5a7c9",
    "application_id": "app_7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b",
    "customer_id": "cus_c77727884ae04a7594dd", "product_code": "credit_line",
    "decided_at": "2025-03-01T09:00:00+00:00", "grade": "C", "score": 612.0, "pd": 0.071,
    "offered_limit_minor": 500000, "offered_apr_bps": 2190, "currency": "CNY",
    "reasons": [{"code": "THIN_FILE", "detail": "fewer than 3 months of history"}],
    "features": {"tenure_months": 2, "monthly_income_minor": 800000},
    "status": "pending", "verdict": None, "limit_minor": None, "apr_bps": None,
    "reason_code": None, "reviewer_id": None, "reviewed_at": None, "line_id": None}


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
    model_config = examples(_REFERRAL)


class ReferralList(BaseModel):
    data: list[ReferralOut]
    model_config = examples({"data": [_REFERRAL]})


class ReferralResolveIn(Strict):
    verdict: Literal["approve", "decline"]
    limit_minor: int | None = Field(
        None, gt=0, le=10_000_000_000,
        description="approve: the limit to grant, at most the offered limit (default: it)")
    reason_code: Literal[tuple(sorted(referrals.REVIEW_REASONS))] | None = Field(  # type: ignore[valid-type]
        None, description="decline: the reason the consumer reads")
    model_config = examples({"verdict": "approve", "limit_minor": 500000},
                                 {"verdict": "decline", "reason_code": "REVIEW_AFFORDABILITY"})


@router.get("/operator/credit_referrals", response_model=ReferralList,
            summary="Referred credit applications, oldest first")
def list_referrals(request: Request,
                   status: Literal["pending", "resolved"] | None = Query("pending"),
                   limit: int = Query(50, ge=1, le=referrals.REFERRALS_MAX),
                   who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin, compliance officer). Referred credit applications, oldest
    first (status pending by default, or resolved), with grade, score, PD, the policy's offer
    and reasons. Changes nothing."""
    with runtime(request).uow.connect() as conn:
        return {"data": [r.to_json() for r in referrals.list_referrals(
            conn, status=status, limit=limit)]}


@router.get("/operator/credit_referrals/{decision_id}", response_model=ReferralOut,
            summary="One referred application with its scores, offer and feature values")
def get_referral(request: Request, decision_id: str = DecisionId,
                 who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin, compliance officer). One referred application with its
    score, PD, the policy's offer, reasons and the feature values the decision used. 404 for an
    unknown decision. Changes nothing."""
    with runtime(request).uow.connect() as conn:
        return referrals.get_referral(conn, decision_id).to_json()


def resolution(rt: Runtime, who: Principal, command: referrals.ReviewReferral
               ) -> tuple[Callable[[Any], dict[str, Any]], int]:
    """The resolve route's use case and its status code, for the route and the console's
    referral page alike. An approval granting more than the four-eyes threshold is not
    executed: checked as it would run, then proposed (202, kind
    ``credit_referral.approve``) for a second operator to approve. Which one is chosen
    depends only on the request and the policy's offer (never changed once decided), so a
    replay of the same key takes the same path."""
    granted = None
    if command.verdict == "approve":
        if command.limit_minor is not None:
            granted = command.limit_minor
        else:
            with rt.uow.connect() as conn:
                granted = referrals.get_referral(conn, command.decision_id).offered_limit_minor
    if granted is not None and rt.four_eyes.controls_amount(granted):
        payload = {"decision_id": command.decision_id, "limit_minor": granted,
                   "product_code": command.line_product_code}

        def proposal(tx: Any) -> dict[str, Any]:
            referrals.check_review(tx.conn, command)
            return propose(rt, tx, who, "credit_referral.approve", payload)

        return proposal, 202

    def use_case(tx: Any) -> dict[str, Any]:
        reviewed = referrals.review_referral(tx, command,
                                             open_line=rt.origination.open_credit_line)
        out = reviewed.referral.to_json()
        if reviewed.line is not None:
            out["line_id"] = reviewed.line.line_id
        return out

    return use_case, 200


@router.post("/operator/credit_referrals/{decision_id}/resolve", response_model=ReferralOut,
             responses={202: {"model": ApprovalOut,
                              "description": "An approval above the four-eyes threshold: "
                                             "a proposal a second operator approves"}},
             summary="Approve (opens the line) or decline (with a reason) a referral")
def resolve(request: Request, body: ReferralResolveIn, decision_id: str = DecisionId,
            idempotency_key: str = IdempotencyKey, who: Principal = Depends(ACT)) -> Any:
    """Operator (risk analyst, admin). Resolves a referral: approve opens the pay-later line in
    the same transaction, at most at the offered limit (limit_minor, default the offer);
    decline records a REVIEW_* reason the consumer reads. An approval whose limit is above
    the four-eyes threshold (CREDITPAY_FOUR_EYES_THRESHOLD_MINOR, default 50,000.00) is
    checked as it would run and proposed instead: **202** with the proposal and its
    `approval_id` (kind `credit_referral.approve`); a different operator's approval resolves
    the referral and opens the line. 409 invalid-state when already resolved; 422 naming
    limit_minor above the offer or a decline without reason_code. Idempotency-Key required:
    a retry with the same key and body replays the first answer; another body with that key
    is 409 idempotency-conflict."""
    rt = runtime(request)
    command = referrals.ReviewReferral(
        decision_id=decision_id, reviewer=who, verdict=body.verdict,
        line_product_code=LINE_PRODUCT, limit_minor=body.limit_minor,
        reason_code=body.reason_code)
    use_case, status_code = resolution(rt, who, command)
    return idempotent_post(request, who.scope_key, body, use_case, status_code=status_code,
                           response_model=ApprovalOut if status_code == 202 else None)
