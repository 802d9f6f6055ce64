"""Staff changes to credit under four-eyes control (issue #16; docs/console.md, "Four-eyes"):
a line's limit, a write-off's reversal, a model's promotion. Each route checks the change as
it would run (the same refusals, nothing written), then either applies it (a limit at or
below the threshold) or stores it as a proposal (202, :func:`routes_approvals.propose`) that
a second operator approves (``POST /v1/operator/approvals/{approval_id}/approve``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_approvals import ApprovalOut, propose
from creditpay.credit.limits import REASON_CHARS_MAX, limit_proposal
from creditpay.parties.service import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["credit control"])
# Who proposes a credit change: the roles that grant lines (and approve them).
STAFF = access(roles={"admin", "risk_analyst"})
LineId = Path(..., min_length=1, max_length=96, pattern=r"^[A-Za-z0-9_.:\-]+$")

_PROPOSED = {202: {"model": ApprovalOut,
                   "description": "A four-eyes proposal a second operator approves"}}


class LimitChangeIn(S.Strict):
    limit_minor: int = Field(ge=0, description="the new limit, minor units of the line's "
                                               "currency")
    reason: str = Field(min_length=1, max_length=REASON_CHARS_MAX,
                        description="why (kept on the ledger transfer and the line's event)")
    model_config = S.examples({"limit_minor": 8000000,
                               "reason": "Income verified at 30,000.00 a month"})


class LimitOut(BaseModel):
    line_id: str
    customer_id: str
    currency: str
    product_code: str
    limit_minor: int
    limit_version: int = Field(description="1 at the grant, one more at each change")
    available_minor: int
    status: str
    model_config = S.examples({
        "line_id": "line_cus_c77727884ae04a7594dd_CNY",
        "customer_id": "cus_c77727884ae04a7594dd", "currency": "CNY",
        "product_code": "huabei", "limit_minor": 3000000, "limit_version": 2,
        "available_minor": 2500000, "status": "active"})


@router.post("/operator/credit_lines/{line_id}/limit", response_model=LimitOut,
             responses=_PROPOSED, summary="Change a credit line's limit (four-eyes above the "
                                          "threshold)")
def change_limit(request: Request, body: LimitChangeIn, line_id: str = LineId,
                 idempotency_key: str = IdempotencyKey, who: Principal = Depends(STAFF)) -> Any:
    """Operator (admin, risk analyst). Sets the limit of line `line_id` (`line_<customer
    id>_<currency>`, as the grant answers it), up or down, with a reason. Refused, nothing
    changed: 404 naming `line_id` (unknown); 409 naming `line_id` (the line is not active:
    frozen after a write-off, or closed); 422 naming `limit_minor` (above the largest limit
    granted); 409 `cap-exceeded` naming `limit_minor` (above the unsecured exposure cap);
    409 `limit-exceeded` naming `limit_minor` (below what the line has in use); 422 naming
    `reason`. A new limit at or below the four-eyes threshold
    (CREDITPAY_FOUR_EYES_THRESHOLD_MINOR, default 50,000.00) is applied at once (200, audited
    `credit_line.limit_changed`). Above it, **202** with a proposal (kind
    `credit_line.limit`) that another operator approves; approval applies it once, and is
    refused (409 `stale-proposal` naming `line_id`, nothing changed) if the line's limit
    changed meanwhile. Idempotency-Key required: a retry with the same key and body replays
    the first answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    if rt.four_eyes.controls_amount(body.limit_minor):
        def proposal(tx: Any) -> dict[str, Any]:
            line = rt.limit_changes.check(tx.conn, line_id,
                                                     limit_minor=body.limit_minor,
                                                     reason=body.reason)
            return propose(rt, tx, who, "credit_line.limit",
                           limit_proposal(line, body.limit_minor, body.reason))

        return idempotent_post(request, who.scope_key, body, proposal, status_code=202,
                               response_model=ApprovalOut)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.limit_changes.change(
        tx, who.id, line_id, limit_minor=body.limit_minor, reason=body.reason))
