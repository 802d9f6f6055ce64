"""Four-eyes control (maker-checker) over HTTP: the proposals of controlled actions, and
approving or rejecting them (issue #16). The rules are :mod:`creditpay.platform.approvals`'s;
which actions are controlled is the bootstrap's ``controlled_actions`` and ``four_eyes``
(docs/security.md, "Four-eyes control"). A route that proposes answers 202 with
:func:`approval_out`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.runtime import Runtime
from creditpay.db.uow import Tx
from creditpay.parties.service import Principal
from creditpay.platform import approvals as A

__all__ = ["router", "ApprovalOut", "approval_out", "propose"]

router = APIRouter(prefix="/v1", tags=["approvals"])
# Reading the queue: the checkers and compliance; deciding: the roles some controlled
# action lets approve (the service refuses a role its kind does not allow, and the proposer).
READ = access(roles={"admin", "risk_analyst", "compliance_officer"})
DECIDE = access(roles={"admin", "risk_analyst"})
ApprovalId = Path(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")

_EXAMPLE: dict[str, Any] = {
    "approval_id": "apv_5b0c7e1d9a2f4e6c8b1d3a5f", "kind": "credit_line.grant",
    "status": "pending",
    "payload": {"customer_id": "cus_c77727884ae04a7594dd", "limit_minor": 8000000,
                "product_code": "huabei", "currency": "CNY"},
    "proposed_by": "op_2f4e6c8b1d3a", "proposer_role": "risk_analyst",
    "proposed_at": "2026-12-06T10:00:00+00:00", "expires_at": "2026-12-09T10:00:00+00:00",
    "decided_by": None, "decider_role": None, "decided_at": None, "reason": None,
    "result": None}


class ApprovalOut(BaseModel):
    approval_id: str
    kind: str = Field(description="credit_line.grant | credit_line.limit | write_off.reverse "
                                  "| model.promote | playbook.run | fraud_rules.activate | "
                                  "credit_policy.activate | credit_referral.approve | "
                                  "product.change | caps.change")
    status: Literal["pending", "approved", "rejected", "expired"]
    payload: dict[str, Any] = Field(description="the action's arguments, as proposed")
    proposed_by: str
    proposer_role: str | None
    proposed_at: str
    expires_at: str = Field(description="after it, the proposal can no longer be decided")
    decided_by: str | None
    decider_role: str | None
    decided_at: str | None
    reason: str | None = Field(description="a rejection's reason")
    result: dict[str, Any] | None = Field(description="what the approved action returned")
    model_config = S.examples(_EXAMPLE)


class ApprovalList(BaseModel):
    data: list[ApprovalOut]
    model_config = S.examples({"data": [_EXAMPLE]})


class RejectIn(S.Strict):
    reason: str = Field(min_length=1, max_length=A.REASON_CHARS_MAX)
    model_config = S.examples({"reason": "Income evidence too old for this limit"})


def approval_out(approval: A.Approval) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return None if value is None else str(value.isoformat())

    return {"approval_id": approval.approval_id, "kind": approval.kind,
            "status": approval.status, "payload": approval.payload,
            "proposed_by": approval.proposed_by, "proposer_role": approval.proposer_role,
            "proposed_at": iso(approval.proposed_at), "expires_at": iso(approval.expires_at),
            "decided_by": approval.decided_by, "decider_role": approval.decider_role,
            "decided_at": iso(approval.decided_at), "reason": approval.reason,
            "result": approval.result}


def _actor(who: Principal) -> A.Actor:
    return A.Actor(who.id, who.role)


def propose(rt: Runtime, tx: Tx, who: Principal, kind: str, payload: dict[str, Any]
            ) -> dict[str, Any]:
    """Propose ``kind`` with ``payload`` as ``who`` (the route checked it would run):
    the 202 answer."""
    return approval_out(A.propose(tx, rt.controlled_actions[kind], payload, _actor(who),
                                  policy=rt.four_eyes))


@router.get("/operator/approvals", response_model=ApprovalList,
            summary="Four-eyes proposals, newest first")
def list_approvals(request: Request,
                   status: Literal["pending", "approved", "rejected", "expired"] | None =
                   Query(None), limit: int = Query(100, ge=1, le=500),
                   who: Principal = Depends(READ)) -> Any:
    """Operator (admin, risk analyst, compliance officer). The proposals of controlled
    actions, newest first; `status=pending` is the checkers' queue (those that can still be
    decided), `expired` those left undecided past their `expires_at`."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        found = A.list_approvals(conn, rt.clock.now(), status=status, limit=limit)
    return {"data": [approval_out(a) for a in found]}


@router.get("/operator/approvals/{approval_id}", response_model=ApprovalOut,
            summary="One four-eyes proposal")
def get_approval(request: Request, approval_id: str = ApprovalId,
                 who: Principal = Depends(READ)) -> Any:
    """Operator (admin, risk analyst, compliance officer). 404 naming `approval_id` when
    there is none."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return approval_out(A.get_approval(conn, approval_id, rt.clock.now()))


@router.post("/operator/approvals/{approval_id}/approve", response_model=ApprovalOut,
             summary="Approve a proposal: its action is executed now, exactly once")
def approve(request: Request, approval_id: str = ApprovalId,
            idempotency_key: str = IdempotencyKey, who: Principal = Depends(DECIDE)) -> Any:
    """Operator whose role may approve the proposal's kind (admin, risk analyst), other than
    its proposer (403). The action runs in this request's transaction and its result is on
    the answer (`result`); when the action is refused (the owning domain's error, e.g. the
    alert was closed meanwhile) nothing changes and the proposal stays pending. 409 naming
    `approval_id` when it is not pending (decided or expired). Idempotency-Key required: a
    retry with the same key replays the first answer."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None, lambda tx: approval_out(
        A.approve(tx, approval_id, _actor(who), rt.controlled_actions)))


@router.post("/operator/approvals/{approval_id}/reject", response_model=ApprovalOut,
             summary="Reject a proposal, with the reason: nothing is executed")
def reject(request: Request, body: RejectIn, approval_id: str = ApprovalId,
           idempotency_key: str = IdempotencyKey, who: Principal = Depends(DECIDE)) -> Any:
    """Operator whose role may approve the proposal's kind, other than its proposer (403).
    409 naming `approval_id` when it is not pending. Idempotency-Key required."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: approval_out(
        A.reject(tx, approval_id, _actor(who), body.reason, rt.controlled_actions)))
