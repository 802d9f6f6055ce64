"""Operator console: the fraud case queue (issue #6, case management), label ingestion,
the stored screenings and the versioned fraud rules.

Analysts (``risk_analyst``) work the queue and resolve cases; ``admin`` (the queue's owner)
reads it, reports on it and dispatches cases. A verdict on a held payment approves or
declines it through :meth:`Payments.review`, on a held P2P transfer releases or voids it
through :meth:`Payments.review_transfer`, in the same transaction. Screenings are read by
analysts, admin and compliance; rule sets are loaded and activated by admin and analysts
(every load and activation is in the audit trail).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, Limit, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_approvals import ApprovalOut, propose
from creditpay.bootstrap import fraud_feature_names
from creditpay.errors import PermissionDeniedError, ValidationError
from creditpay.parties.service import Principal
from creditpay.risk.fraud import cases, records, rule_sets

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["fraud cases"])
QUEUE_ROLES = {"risk_analyst", "admin"}
READ = access(roles=QUEUE_ROLES)
ANALYST = access(roles={"risk_analyst"})
SCREENINGS_READ = access(roles={"risk_analyst", "admin", "compliance_officer"})
RULES_READ = access(roles={"risk_analyst", "admin", "compliance_officer"})
RULES_WRITE = access(roles={"risk_analyst", "admin"})
REPORT_WINDOW_DEFAULT = dt.timedelta(days=30)
VERSION_PATTERN = r"^[A-Za-z0-9_.:+\-]+$"
CaseId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")


_CASE: dict[str, Any] = {
    "id": "fcase_1a3c5e7b9d0f2a4c6e8b", "subject_type": "payment",
    "subject_id": "pi_5032fafc52fa63cfb660", "customer_id": "cus_c77727884ae04a7594dd",
    "merchant_id": "mer_ca246c2c722ec9b79a4a", "amount_minor": 360000, "currency": "CNY",
    "score": 0.62, "reasons": ["very_large_on_new_device"],
    "occurred_at": "2025-03-01T09:00:00+00:00", "opened_at": "2025-03-01T09:00:00+00:00",
    "priority": 1, "sla_due_at": "2025-03-01T13:00:00+00:00", "sla_breached": False,
    "status": "assigned", "assignee": "op_6e8a0c2e4b6d8f0a1c3e",
    "assigned_at": "2025-03-01T09:20:00+00:00", "verdict": None, "note": None,
    "resolved_by": None, "resolved_at": None, "payment_action": None}
_RULE_SET: dict[str, Any] = {
    "version": "rules-2025-03.1",
    "sha256": "3e5a7c9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c",
    "author": "op_6e8a0c2e4b6d8f0a1c3e", "created_at": "2025-03-01T09:00:00+00:00",
    "activated_at": "2025-03-01T10:00:00+00:00", "activated_by": "op_6e8a0c2e4b6d8f0a1c3e",
    "active": True, "rules": 1}


class FraudCaseOut(BaseModel):
    id: str
    subject_type: str
    subject_id: str
    customer_id: str | None
    merchant_id: str | None
    amount_minor: int | None
    currency: str | None
    score: float | None = Field(description="screening fraud probability, 0..1")
    reasons: list[str]
    occurred_at: str
    opened_at: str
    priority: int = Field(description="1 (most urgent) .. 3")
    sla_due_at: str
    sla_breached: bool | None = None
    status: Literal["open", "assigned", "resolved"]
    assignee: str | None
    assigned_at: str | None
    verdict: Literal["fraud", "legitimate", "unsure"] | None
    note: str | None = Field(description="reference (note_...) of the analyst's note in the "
                                         "notes vault; read it with POST "
                                         "/v1/operator/notes/{note_id}/read")
    resolved_by: str | None
    resolved_at: str | None
    payment_action: str | None = Field(description="approved | declined | not_in_review")
    model_config = S.examples(_CASE)


class FraudCasePage(S.Page):
    data: list[FraudCaseOut]
    model_config = S.examples({"data": [_CASE], "next_cursor": None})


class AssignIn(S.Strict):
    staff_id: str | None = Field(None, min_length=1, max_length=64,
                                 pattern=r"^[A-Za-z0-9_\-]+$",
                                 description="operator to assign (default: yourself; only "
                                             "admin assigns to someone else)")
    model_config = S.examples({}, {"staff_id": "op_6e8a0c2e4b6d8f0a1c3e"})


class FraudCaseResolveIn(S.Strict):
    verdict: Literal["fraud", "legitimate", "unsure"]
    note: str | None = Field(None, max_length=1000)
    model_config = S.examples({"verdict": "legitimate",
                                    "note": "Customer confirmed the purchase by phone."})


class ChargebackIn(S.Strict):
    chargeback_id: str = CaseId
    intent_id: str = CaseId
    reason_code: str | None = Field(None, min_length=1, max_length=32,
                                    pattern=r"^[A-Za-z0-9_.\-]+$")
    is_fraud: bool = Field(True, description="false for a non-fraud dispute reason")
    model_config = S.examples({"chargeback_id": "cb-2025-000137",
                                "intent_id": "pi_5032fafc52fa63cfb660",
                                    "reason_code": "10.4", "is_fraud": True})


class FraudLabelOut(BaseModel):
    id: int
    source: str
    reference: str
    subject_type: str
    subject_id: str
    customer_id: str | None
    merchant_id: str | None
    device_id: str | None
    transaction_at: str
    labelled_at: str
    is_fraud: bool
    amount_minor: int | None
    currency: str | None
    reason_code: str | None
    recorded_by: str
    duplicate: bool
    model_config = S.examples({"id": 41, "source": "chargeback", "reference": "cb-2025-000137",
                                    "subject_type": "payment",
                                    "subject_id": "pi_5032fafc52fa63cfb660",
                                    "customer_id": "cus_c77727884ae04a7594dd",
                                    "merchant_id": "mer_ca246c2c722ec9b79a4a",
                                    "device_id": "dev_8f3a1c0e5b7d9a2c4e6f",
                                    "transaction_at": "2025-03-01T09:00:00+00:00",
                                    "labelled_at": "2025-03-20T10:00:00+00:00", "is_fraud": True,
                                    "amount_minor": 360000, "currency": "CNY",
                                    "reason_code": "10.4",
                                    "recorded_by": "op_6e8a0c2e4b6d8f0a1c3e", "duplicate": False})


class PrecisionOut(BaseModel):
    resolved: int
    fraud: int
    legitimate: int
    unsure: int
    precision: float | None = Field(description="share of resolved cases judged fraud")
    precision_decided: float | None = Field(description="same, unsure left out")


class SlaBreachesOut(BaseModel):
    open_overdue: int
    resolved_late: int
    total: int


class QueueReportOut(BaseModel):
    since: str
    as_of: str
    open: int
    assigned: int
    precision: PrecisionOut
    sla_breaches: SlaBreachesOut
    model_config = S.examples({"since": "2025-02-01T00:00:00+00:00",
                                    "as_of": "2025-03-03T00:00:00+00:00", "open": 4, "assigned": 2,
                                    "precision": {"resolved": 20, "fraud": 6, "legitimate": 12,
                                                  "unsure": 2, "precision": 0.3,
                                                  "precision_decided": 0.3333},
                                    "sla_breaches": {"open_overdue": 1, "resolved_late": 2,
                                                     "total": 3}})


@router.get("/operator/fraud_cases", response_model=FraudCasePage,
            summary="The fraud case queue, most urgent first (priority, then SLA)")
def list_cases(request: Request,
               status: Literal["active", "open", "assigned", "resolved"] = Query(
                   "active", description="active = open or assigned"),
               limit: int = Limit, cursor: str | None = Query(None, max_length=200),
               who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin). The fraud case queue, most urgent first (priority, then
    SLA due time), filtered by status (default active: open and assigned), cursor-paged.
    Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        data, next_cursor = cases.list_queue(conn, status=status, limit=limit, cursor=cursor,
                                             now=rt.clock.now())
    return {"data": data, "next_cursor": next_cursor}


@router.get("/operator/fraud_cases/report", response_model=QueueReportOut,
            summary="Queue backlog, precision and SLA breaches since a time")
def queue_report(request: Request,
                 since: dt.datetime | None = Query(
                     None, description="timezone-aware; default: 30 days before now"),
                 who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin). The fraud queue since a time (default 30 days): open and
    assigned counts, precision of resolved cases and SLA breaches. 422 naming since when it has
    no timezone. Changes nothing."""
    rt = runtime(request)
    now = rt.clock.now()
    if since is not None and since.tzinfo is None:
        raise ValidationError("must be a timezone-aware date-time", field="since")
    with rt.uow.connect() as conn:
        return cases.queue_report(conn, now=now, since=since or now - REPORT_WINDOW_DEFAULT)


@router.post("/operator/fraud_cases/{case_id}/assign", response_model=FraudCaseOut,
             summary="Take a case, or (admin) give it to an analyst")
def assign_case(request: Request, case_id: str, body: AssignIn,
                idempotency_key: str = IdempotencyKey,
                who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin). Takes a fraud case (status assigned), or, for an admin,
    gives it to an analyst (staff_id). 409 invalid-state for a resolved case; 404 for an
    unknown case. Idempotency-Key required: a retry with the same key and body replays the
    first answer; another body with that key is 409 idempotency-conflict."""
    staff_id = body.staff_id or who.id
    if staff_id != who.id and who.role != "admin":
        raise PermissionDeniedError("only admin assigns a case to someone else",
                                    field="staff_id")
    return idempotent_post(request, who.scope_key, body, lambda tx: cases.assign(
        tx, case_id, staff_id, by=who.id))


@router.post("/operator/fraud_cases/{case_id}/resolve", response_model=FraudCaseOut,
             summary="Resolve a case as fraud / legitimate / unsure (a held payment is "
                     "approved on legitimate, declined otherwise)")
def resolve_case(request: Request, case_id: str, body: FraudCaseResolveIn,
                 idempotency_key: str = IdempotencyKey,
                 who: Principal = Depends(ANALYST)) -> Any:
    """Operator (risk analyst). Resolves a fraud case as fraud, legitimate or unsure, with an
    optional note kept in the notes vault; a payment held for review is approved (legitimate)
    or declined with it, and the verdict becomes a fraud label. 409 invalid-state when already
    resolved. Idempotency-Key required: a retry with the same key and body replays the first
    answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    reviewer = cases.payment_reviewer(rt.payments.review, who)
    transfers = cases.payment_reviewer(rt.payments.review_transfer, who)
    return idempotent_post(request, who.scope_key, body, lambda tx: cases.resolve(
        tx, case_id, who.id, body.verdict, body.note, review_payment=reviewer,
        review_transfer=transfers, notes=rt.notes))


class ChargebackLabelOut(FraudLabelOut):
    dispute: dict[str, Any] | None = Field(
        None, description="the payment's dispute this chargeback opened or joined (issue "
                          "#20; GET /v1/operator/disputes/{dispute_id}); null when the "
                          "payment is not a captured payment any more")


@router.post("/operator/fraud_labels/chargebacks", status_code=201,
             response_model=ChargebackLabelOut,
             summary="Ingest a chargeback on a payment as a fraud label")
def ingest_chargeback(request: Request, body: ChargebackIn,
                      idempotency_key: str = IdempotencyKey,
                      who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin). Records a chargeback on a payment as a fraud label
    (is_fraud false for a non-fraud dispute reason) for model training and monitoring; the same
    chargeback_id again answers duplicate true. 404 naming intent_id for an unknown payment.
    The chargeback also opens a dispute on the payment (reason mapped from the network's
    reason code, the financed plan paused) or joins the one open (`dispute`; docs/disputes.md).
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)

    def use_case(tx: Any) -> dict[str, Any]:
        # The label as before, and the payment's dispute it opens or joins (issue #20).
        return rt.payments.disputes.ingest_chargeback(
            tx, who, chargeback_id=body.chargeback_id, intent_id=body.intent_id,
            reason_code=body.reason_code, is_fraud=body.is_fraud)

    return idempotent_post(request, who.scope_key, body, use_case, status_code=201)


# ---------------------------------------------------------------- stored screenings
class ThresholdsOut(BaseModel):
    version: str | None = None
    challenge: float | None = None
    review: float | None = None
    decline: float | None = None


class FraudScreeningOut(BaseModel):
    id: int
    subject_type: Literal["payment", "p2p"]
    subject_id: str
    customer_id: str
    device_id: str
    merchant_id: str = Field(description="the merchant, or the payee of a P2P transfer")
    terminal_id: str | None
    card_id: str | None
    amount_minor: int
    currency: str
    scenario: str
    screened_at: str
    features: dict[str, float | None] = Field(
        description="feature values by name as the model saw them; null = not applicable")
    rules_hit: list[str]
    score: float = Field(description="model fraud probability, 0..1")
    decision: Literal["approve", "challenge", "review", "decline"]
    reasons: list[str]
    model_version: str
    features_version: str
    rules_version: str
    thresholds: ThresholdsOut


class FraudScreeningList(BaseModel):
    data: list[FraudScreeningOut]
    model_config = S.examples({"data": [{
            "id": 311, "subject_type": "payment", "subject_id": "pi_5032fafc52fa63cfb660",
            "customer_id": "cus_c77727884ae04a7594dd", "device_id": "dev_8f3a1c0e5b7d9a2c4e6f",
            "merchant_id": "mer_ca246c2c722ec9b79a4a", "terminal_id": None, "card_id": None,
            "amount_minor": 360000, "currency": "CNY", "scenario": "online",
            "screened_at": "2025-03-01T09:00:00+00:00",
            "features": {"amount_minor": 360000.0, "new_device": 0.0, "device_count_1h": 1.0},
            "rules_hit": [], "score": 0.021, "decision": "approve", "reasons": [],
            "model_version": "fraud-gbm-3", "features_version": "2",
            "rules_version": "sim-rules-2025-01.2",
            "thresholds": {"version": "t-2025-01", "challenge": 0.2, "review": 0.5,
                           "decline": 0.85}}]})


@router.get("/operator/fraud_screenings/{subject_id}", response_model=FraudScreeningList,
            summary="Every fraud screening of a payment intent or P2P transfer, oldest first")
def screenings(request: Request,
               subject_id: str = Path(..., min_length=1, max_length=64,
                                      pattern=r"^[A-Za-z0-9_\-]+$"),
               who: Principal = Depends(SCREENINGS_READ)) -> Any:
    """Operator (risk analyst, admin, compliance officer). Every fraud screening of a payment
    intent or P2P transfer, oldest first: features, rules hit, score, decision and the model,
    feature and rule versions. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": records.screenings_for(conn, subject_id)}


# ---------------------------------------------------------------- versioned fraud rules
class RuleSetOut(BaseModel):
    version: str
    sha256: str = Field(description="SHA-256 of the document's canonical JSON")
    author: str
    created_at: str
    activated_at: str | None
    activated_by: str | None
    active: bool
    rules: int = Field(description="number of condition rules")
    content: dict[str, Any] | None = None
    duplicate: bool | None = None
    changed: bool | None = None
    model_config = S.examples(_RULE_SET)


class ActiveRulesOut(BaseModel):
    active: RuleSetOut | None = Field(
        description="the live rule set; null = none activated (the configured document "
                    "is in force)")
    history: list[RuleSetOut] = Field(description="stored versions, newest first")
    model_config = S.examples({"active": _RULE_SET, "history": [_RULE_SET]})


class RulesDocumentIn(S.Strict):
    """A fraud rules document (docs/fraud-models.md); validated by the rules parser."""

    version: str = Field(min_length=1, max_length=rule_sets.VERSION_CHARS_MAX,
                         pattern=VERSION_PATTERN)
    description: str | None = Field(None, max_length=2000)
    blocklists: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    model_config = S.examples({"version": "rules-2025-03.1",
                                    "description": "Challenge large payments from a new device",
                                    "blocklists": {"device": [], "card": []},
                                    "rules": [{"name": "new_device_large", "action": "challenge",
                                               "when": {"all": [
                                                   {"field": "new_device", "op": "==",
                                                    "value": True},
                                                   {"field": "amount_minor", "op": ">=",
                                                    "value": 50000}]}}]})


class ActivateIn(S.Strict):
    pass
    model_config = S.examples({})


def _feature_names(rt: Any) -> Any:
    """The running screener's features (rules must fit the model in force)."""
    return fraud_feature_names(rt.payments.risk)


@router.get("/operator/fraud_rules", response_model=ActiveRulesOut,
            summary="The live fraud rule set and the stored versions")
def active_rules(request: Request, who: Principal = Depends(RULES_READ)) -> Any:
    """Operator (risk analyst, admin, compliance officer). The live fraud rule set (null when
    none was activated: the configured document is in force) and every stored version, newest
    first. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"active": rule_sets.active(conn), "history": rule_sets.history(conn)}


@router.post("/operator/fraud_rules", status_code=201, response_model=RuleSetOut,
             summary="Load (validate and store) a new fraud rules version; not yet live")
def load_rules(request: Request, body: RulesDocumentIn, idempotency_key: str = IdempotencyKey,
               who: Principal = Depends(RULES_WRITE)) -> Any:
    """Operator (risk analyst, admin). Validates and stores a new fraud rules version
    (audited); it is not live until activated. An invalid document is 422 naming the field at
    fault and stores nothing; the same version with the same content answers duplicate true,
    with other content it is a conflict (versions are immutable). Idempotency-Key required: a
    retry with the same key and body replays the first answer; another body with that key is
    409 idempotency-conflict."""
    rt = runtime(request)
    document = body.model_dump(exclude_none=True)
    names = _feature_names(rt)
    return idempotent_post(request, who.scope_key, body, lambda tx: rule_sets.load(
        tx, document, author=who.id, names=names), status_code=201)


@router.post("/operator/fraud_rules/{version}/activate", status_code=202,
             response_model=ApprovalOut,
             summary="Propose making a stored fraud rules version live (four-eyes: a second "
                     "operator approves it)")
def activate_rules(request: Request, body: ActivateIn,
                   version: str = Path(..., min_length=1,
                                       max_length=rule_sets.VERSION_CHARS_MAX,
                                       pattern=VERSION_PATTERN),
                   idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(RULES_WRITE)) -> Any:
    """Operator (risk analyst, admin). Activating a fraud rule set is a four-eyes proposal:
    the version is checked as activation would check it (404 for an unknown version, 422 when
    it does not fit the running model's features) and proposed, **202** with the proposal
    and its `approval_id`. When a different operator approves it (`POST
    /v1/operator/approvals/{approval_id}/approve`), it is made live (audited) and running
    screeners switch to it after that commit; the approval's `result` is the rule set.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    names = _feature_names(rt)

    def proposal(tx: Any) -> dict[str, Any]:
        rule_sets.check_activation(tx.conn, version, names)
        return propose(rt, tx, who, "fraud_rules.activate", {"version": version})

    return idempotent_post(request, who.scope_key, body, proposal, status_code=202)
