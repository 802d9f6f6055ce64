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
from creditpay.credit import write_off_reversal as W
from creditpay.credit.limits import REASON_CHARS_MAX, limit_proposal
from creditpay.parties.service import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["credit control"])
# Who proposes a credit change: the roles that grant lines (and approve them).
STAFF = access(roles={"admin", "risk_analyst"})
LineId = Path(..., min_length=1, max_length=96, pattern=r"^[A-Za-z0-9_.:\-]+$")
AccountId = Path(..., min_length=1, max_length=96, pattern=r"^[A-Za-z0-9_.:\-]+$")

_PROPOSED: dict[int | str, dict[str, Any]] = {202: {"model": ApprovalOut,
                   "description": "A four-eyes proposal a second operator approves"}}


class LimitChangeIn(S.Strict):
    limit_minor: int = Field(ge=0, le=S.AMOUNT_MINOR_MAX,
                             description="the new limit, minor units of the line's currency")
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


class WriteOffReversalIn(S.Strict):
    reason: str = Field(min_length=1, max_length=W.REASON_CHARS_MAX,
                        description="why the write-off was a mistake (kept on the proposal)")
    model_config = S.examples({"reason": "The repayment of 2026-05-02 was posted to the "
                                         "wrong account; corrected the same day"})


@router.post("/operator/credit_accounts/{account_id}/write_off/reverse", status_code=202,
             response_model=ApprovalOut,
             summary="Propose reversing a write-off made by mistake (always four-eyes)")
def reverse_write_off(request: Request, body: WriteOffReversalIn,
                      account_id: str = AccountId, idempotency_key: str = IdempotencyKey,
                      who: Principal = Depends(STAFF)) -> Any:
    """Operator (admin, risk analyst). Always a proposal (**202**, kind `write_off.reverse`):
    the account's write-off is checked as the reversal would run, then a different operator
    approves it; the approval posts back every write-off transfer (the ledger as before the
    write-off), restores the account (active, balances, accruals, installments) and unfreezes
    the line (docs/servicing.md, "Reversing a write-off"). Refused, nothing stored: 404
    naming `account_id` (unknown); 409 naming `account_id` (not written off, recoveries
    received since, or written off before write-offs were recorded); 422 naming `reason`.
    An approval of a proposal whose write-off is no longer the one in force (reversed, or
    written off again, or recovered meanwhile) is 409 `stale-proposal` and changes nothing.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)

    def proposal(tx: Any) -> dict[str, Any]:
        account, _record = W.check_reversal(tx.conn, account_id, body.reason)
        return propose(rt, tx, who, "write_off.reverse",
                       W.reversal_proposal(account, body.reason))

    return idempotent_post(request, who.scope_key, body, proposal, status_code=202)


ModelName = Path(..., min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")


class PromotionIn(S.Strict):
    version: int = Field(ge=1, le=2**31 - 1,
                         description="the registered version to put in force")
    challenger_share_bps: int | None = Field(
        None, ge=1, le=5000, description="make it the challenger on this share of the "
                                         "applications (basis points) instead of the champion")
    reason: str = Field(min_length=1, max_length=255, description="why (kept on the "
                                                                   "assignment)")
    model_config = S.examples({"version": 2, "reason": "Gini 0.52 vs 0.47 on the 2026-Q3 "
                                                      "holdout"})


@router.post("/operator/models/{name}/promote", status_code=202, response_model=ApprovalOut,
             summary="Propose a model version as champion or challenger (always four-eyes)")
def promote_model(request: Request, body: PromotionIn, name: str = ModelName,
                  idempotency_key: str = IdempotencyKey,
                  who: Principal = Depends(STAFF)) -> Any:
    """Operator (admin, risk analyst). Always a proposal (**202**, kind `model.promote`):
    the promotion is checked as it would run, then a different operator approves it, which
    puts it in force (an appended assignment; docs/risk-models.md). Refused, nothing stored:
    404 naming `version` (not registered under `name`); 409 naming `version` (a challenger
    without a champion); 422 naming `version` (a challenger that is the champion). An
    approval after `name`'s assignment changed (another promotion, a rollback) is 409
    `stale-proposal` naming `name` and changes nothing. Idempotency-Key required: a retry
    with the same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    from creditpay.risk.decisions import registry

    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: propose(
        rt, tx, who, "model.promote", registry.promotion_proposal(
            tx.conn, name, body.version, reason=body.reason,
            as_challenger_bps=body.challenger_share_bps)), status_code=202)
