"""Operator console: risk early-warning alerts and the monitors behind them (issue #6).

Analysts (``risk_analyst``) and ``admin`` work the alerts: acknowledge, dismiss, or run the
alert's playbook, which applies the action through the owning domain (lower the segment's
limits, send all traffic to the champion model, freeze a merchant, raise the grade cut-offs,
open a fraud review) in the same transaction as the alert's status and audit record.
``compliance_officer`` reads alerts and monitors. See docs/risk-models.md, "Early warning".
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, Limit, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_approvals import ApprovalOut, propose
from creditpay.parties.service import Principal
from creditpay.risk.early_warning import service

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["early warning"])
READ = access(roles={"risk_analyst", "admin", "compliance_officer"})
ACT = access(roles={"risk_analyst", "admin"})
AlertId = Path(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")
Status = Literal["open", "acknowledged", "actioned", "dismissed"]


_ALERT: dict[str, Any] = {
    "id": "ewa_4d6f8a0c2e4b6d8f0a2c4e6b", "monitor": "approval_rate_drop",
    "metric": "approval_rate", "segment": "product:baitiao", "day": "2025-03-01",
    "severity": "warning", "value": 0.41, "statistic": 0.41, "centre": 0.58, "lower": 0.47,
    "upper": 0.69, "sigmas": 3.1, "method": "rolling", "playbook": "raise_cutoff",
    "playbook_parameters": ["segment", "points"], "evidence": {"window_days": 28},
    "status": "open", "created_at": "2025-03-02T01:00:00+00:00",
    "updated_at": "2025-03-02T01:00:00+00:00", "acknowledged_by": None,
    "acknowledged_at": None, "actioned_by": None, "actioned_at": None, "action": None,
    "dismissed_by": None, "dismissed_at": None, "dismiss_reason": None}


class AlertOut(BaseModel):
    id: str
    monitor: str
    metric: str
    segment: str = Field(description="all | product:<code> | grade:<g> | scenario:<s>")
    day: str = Field(description="business date the metric is of")
    severity: Literal["warning", "critical"]
    value: float = Field(description="the day's metric (shares 0..1, PSI unbounded)")
    statistic: float = Field(description="what was compared with the bounds (value or EWMA)")
    centre: float
    lower: float
    upper: float
    sigmas: float = Field(description="distance from the centre in band units (σ)")
    method: Literal["rolling", "ewma", "seasonal"]
    playbook: str
    playbook_parameters: list[str]
    evidence: dict[str, Any]
    status: Status
    created_at: str
    updated_at: str
    acknowledged_by: str | None
    acknowledged_at: str | None
    actioned_by: str | None
    actioned_at: str | None
    action: dict[str, Any] | None = Field(description="the playbook execution record")
    dismissed_by: str | None
    dismissed_at: str | None
    dismiss_reason: str | None
    model_config = S.examples(_ALERT)


class AlertPage(S.Page):
    data: list[AlertOut]
    model_config = S.examples({"data": [_ALERT], "next_cursor": None})


class AcknowledgeIn(S.Strict):
    pass
    model_config = S.examples({})


class DismissIn(S.Strict):
    reason: str = Field(min_length=1, max_length=500)
    model_config = S.examples(
        {"reason": "Holiday sales spike; approvals normal again the next day"})


class PlaybookIn(S.Strict):
    parameters: dict[str, Annotated[str, Field(max_length=64)]
                     | Annotated[int, Field(ge=-1_000_000, le=1_000_000)] | float] = Field(
        default_factory=dict, max_length=8,
        description="the playbook's parameters (segment defaults to the alert's; "
                    "lower_limits: share 0..0.5; raise_cutoff: points 1..100; "
                    "freeze_merchant: merchant_id; switch_to_champion: model)")
    model_config = S.examples({"parameters": {"share": 0.2}}, {})


class PreviewAccountOut(BaseModel):
    line_id: str
    customer_id: str
    limit_minor: int = Field(description="the line's limit now (minor units)")
    in_use_minor: int = Field(description="drawn on the line: the new limit never goes below")
    new_limit_minor: int = Field(description="the limit after the run")
    change_minor: int = Field(description="limit_minor - new_limit_minor (0: unchanged)")


class PreviewTotalsOut(BaseModel):
    lines_in_segment: int
    lines_lowered: int
    limit_before_minor: int
    limit_after_minor: int
    change_minor: int


_PREVIEW: dict[str, Any] = {
    "alert_id": "ewa_4d6f8a0c2e4b6d8f0a2c4e6b", "playbook": "lower_limits",
    "title_en": "Lower credit limits for the segment",
    "parameters": {"segment": "grade:B", "share": "0.2"}, "currency": "CNY",
    "effect": {"status": "applied", "lines_in_segment": 1, "lines_lowered": 1,
               "limit_before_minor": 1000000, "limit_after_minor": 800000,
               "currency": "CNY"},
    "accounts": [{"line_id": "line_1a3c5e7b9d0f2a4c6e8b", "customer_id": "cus_c77727884ae04a7594dd",
                  "limit_minor": 1000000, "in_use_minor": 150000,
                  "new_limit_minor": 800000, "change_minor": 200000}],
    "totals": {"lines_in_segment": 1, "lines_lowered": 1, "limit_before_minor": 1000000,
               "limit_after_minor": 800000, "change_minor": 200000}}


class PlaybookPreviewOut(BaseModel):
    alert_id: str
    playbook: str
    title_en: str
    parameters: dict[str, Any] = Field(description="the parameters the run would use")
    currency: str
    effect: dict[str, Any] = Field(
        description="what the run's result would say (status applied = would apply, "
                    "no_change, pending_manual)")
    accounts: list[PreviewAccountOut] = Field(
        description="lower_limits: every line of the segment with its new limit")
    totals: PreviewTotalsOut | None = Field(description="lower_limits: the sums")
    model_config = S.examples(_PREVIEW)


class MonitorOut(BaseModel):
    name: str
    metric: str
    segment: str
    direction: Literal["up", "down", "both"]
    method: Literal["rolling", "ewma", "seasonal", "trend"]
    k: float
    window: int
    smoothing: float
    critical_k: float
    playbook: str
    scale: Literal["rate", "share", "nonnegative"]
    warmup_days: int | None = Field(description="measured days before any alert (null: window)")
    min_sample: int = Field(description="smallest denominator a rate is judged on")
    confirm_days: int = Field(description="consecutive breaching days before a warning")
    min_change: float = Field(description="smallest move worth an alert, metric units")
    shewhart_k: float = Field(description="EWMA of a rate: a day this many sigma out alerts")


class MonitorList(BaseModel):
    data: list[MonitorOut]
    model_config = S.examples({"data": [{"name": "approval_rate_drop", "metric": "approval_rate",
                                             "segment": "all", "direction": "down",
                                             "method": "rolling", "k": 3.0, "window": 28,
                                             "smoothing": 0.2, "critical_k": 5.0,
                                             "playbook": "raise_cutoff", "scale": "rate",
                                             "warmup_days": 28, "min_sample": 30,
                                             "confirm_days": 2, "min_change": 0.0,
                                             "shewhart_k": 4.0}]})


@router.get("/operator/alerts", response_model=AlertPage,
            summary="Early-warning alerts, newest first")
def list_alerts(request: Request, status: Status | None = Query(None),
                severity: Literal["warning", "critical"] | None = Query(None),
                limit: int = Limit, cursor: str | None = Query(None, max_length=64),
                who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin, compliance officer). Early-warning alerts, newest first,
    filtered by status and severity, cursor-paged. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        data, next_cursor = service.list_alerts(conn, status=status, severity=severity,
                                                limit=limit, cursor=cursor)
    return {"data": data, "next_cursor": next_cursor}


@router.get("/operator/alerts/{alert_id}", response_model=AlertOut,
            summary="One alert with its evidence and what was done about it")
def get_alert(request: Request, alert_id: str = AlertId,
              who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin, compliance officer). One alert with its evidence, bounds,
    playbook and what was done about it. 404 for an unknown alert. Changes nothing."""
    with runtime(request).uow.connect() as conn:
        return service.get_alert(conn, alert_id)


@router.post("/operator/alerts/{alert_id}/acknowledge", response_model=AlertOut,
             summary="Mark an open alert as seen")
def acknowledge(request: Request, body: AcknowledgeIn, alert_id: str = AlertId,
                idempotency_key: str = IdempotencyKey,
                who: Principal = Depends(ACT)) -> Any:
    """Operator (risk analyst, admin). Marks an open alert as seen (status acknowledged,
    audited). 409 invalid-state when already actioned or dismissed; 404 for an unknown alert.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    return idempotent_post(request, who.scope_key, body, lambda tx: service.acknowledge_alert(
        tx, alert_id, who.id))


@router.post("/operator/alerts/{alert_id}/dismiss", response_model=AlertOut,
             summary="Close an alert without action, with the reason")
def dismiss(request: Request, body: DismissIn, alert_id: str = AlertId,
            idempotency_key: str = IdempotencyKey, who: Principal = Depends(ACT)) -> Any:
    """Operator (risk analyst, admin). Closes an alert without action, with the reason (status
    dismissed, audited). 409 invalid-state when already closed; 422 naming reason when empty.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    return idempotent_post(request, who.scope_key, body, lambda tx: service.dismiss_alert(
        tx, alert_id, who.id, body.reason))


@router.post("/operator/alerts/{alert_id}/playbook", status_code=202,
             response_model=ApprovalOut,
             summary="Propose running the alert's playbook (four-eyes: a second operator "
                     "approves it)")
def run_playbook(request: Request, body: PlaybookIn, alert_id: str = AlertId,
                 idempotency_key: str = IdempotencyKey,
                 who: Principal = Depends(ACT)) -> Any:
    """Operator (risk analyst, admin). Every playbook run is a four-eyes proposal: the run is
    checked as it would execute (the playbook's roles, its parameters, 422 naming a bad one;
    409 invalid-state when the alert is closed) and proposed, **202** with the proposal and
    its `approval_id`. When a different operator approves it (`POST
    /v1/operator/approvals/{approval_id}/approve`), the action (lower a segment's limits,
    send traffic to the champion model, freeze a merchant, raise grade cut-offs, open a fraud
    review) is applied through the owning domain in that transaction, with the alert's status
    and audit record, as the proposer's run. Idempotency-Key required: a retry with the same
    key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    rt = runtime(request)
    roles = [] if who.role is None else [who.role]

    def proposal(tx: Any) -> dict[str, Any]:
        service.check_playbook(tx.conn, alert_id, who.id, roles, body.parameters)
        return propose(rt, tx, who, "playbook.run",
                       {"alert_id": alert_id, "parameters": dict(body.parameters)})

    return idempotent_post(request, who.scope_key, body, proposal, status_code=202)


@router.get("/operator/alerts/{alert_id}/playbook/preview", response_model=PlaybookPreviewOut,
            summary="What the alert's playbook would change, changing nothing (dry run)")
def preview_playbook(request: Request, alert_id: str = AlertId,
                     segment: str | None = Query(None, max_length=80),
                     share: str | None = Query(None, max_length=12,
                                               description="lower_limits: 0..0.5"),
                     points: int | None = Query(None, ge=1, le=100,
                                                description="raise_cutoff: 1..100"),
                     merchant_id: str | None = Query(None, max_length=32),
                     model: str | None = Query(None, max_length=16),
                     currency: str | None = Query(None, max_length=3),
                     who: Principal = Depends(ACT)) -> Any:
    """Operator (risk analyst, admin), as the playbook route. A dry run of the alert's
    playbook with these parameters (the playbook route's parameters as query parameters):
    refused as the run would be (403 for another role, 422 naming a bad parameter, 409
    invalid-state for a closed alert), then the plan the run applies if it ran now:
    lower_limits lists every line of the segment with its limit, drawn amount, new limit
    and the cut (minor units) and the totals; the other playbooks say what they would
    change in `effect`. Changes nothing; the run itself is proposed with `POST
    /v1/operator/alerts/{alert_id}/playbook`, and applies the plan as the book then
    stands."""
    rt = runtime(request)
    given = {"segment": segment, "share": share, "points": points,
             "merchant_id": merchant_id, "model": model, "currency": currency}
    roles = [] if who.role is None else [who.role]
    with rt.uow.connect() as conn:
        return service.preview_playbook(conn, alert_id, who.id, roles,
                                        {k: v for k, v in given.items() if v is not None})


@router.get("/operator/monitors", response_model=MonitorList,
            summary="The configured early-warning monitors")
def monitors(request: Request, who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin, compliance officer). The configured early-warning
    monitors: metric, segment, method, band width and playbook. Changes nothing."""
    # Imported here: the job module brings polars, which no other route needs at start-up.
    from creditpay.risk.early_warning.job import default_monitors

    return {"data": [dataclasses.asdict(m) for m in default_monitors()]}
