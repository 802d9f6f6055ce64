"""Hardship help over HTTP (issue #20; docs/hardship.md): a consumer in difficulty sees the
options of one of their plans or cash loans, each with its full cost and key-facts document,
and accepts one; operators work the referred requests.

Routes map HTTP to consumer protection's and credit's use cases
(:mod:`creditpay.protection.hardship`, :mod:`creditpay.credit.hardship`) and back; another
customer's account or request is 404, bad input 422 naming the field.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_consumer_credit import AccountId, _language, keyed_id
from creditpay.api.runtime import Runtime
from creditpay.api.schemas import Strict, examples
from creditpay.parties.service import Principal

__all__ = ["router", "READ_ROLES", "ACT_ROLES", "options_out", "request_use_case", "resolve_use_case", "key_facts_html"]

router = APIRouter(prefix="/v1", tags=["hardship"])
CUSTOMER = access(customer=True)
READ_ROLES = frozenset({"admin", "collections_agent", "compliance_officer", "support"})
ACT_ROLES = frozenset({"admin", "collections_agent"})
READ = access(roles=set(READ_ROLES))
ACT = access(roles=set(ACT_ROLES))
OptionId = Path(min_length=27, max_length=27, pattern=r"^hs-[0-9a-f]{24}$")
RequestId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
Reason = Literal["job_loss", "illness", "income_drop", "family", "other"]
LangQuery = Query(None, description="zh-CN or en (default: your locale)")

_ROW = {"number": 1, "due_date": "2026-03-15", "principal_minor": 73440,
        "interest_minor": 37730, "fee_minor": 0, "total_minor": 111170,
        "balance_after_minor": 1126560}
_FIGURES: dict[str, Any] = {
    "option_id": "hs-01afb271b38d494941bf0e58", "kind": "payment_holiday", "cycles": 1,
    "account_id": "loan_1", "currency": "CNY", "product_code": "jiebei",
    "product_version": 1, "principal_minor": 1200000, "annual_rate_percent": "18.2500",
    "apr_percent": "18.1472", "installments": 12, "installment_minor": 111710,
    "first_due_date": "2026-03-15", "last_due_date": "2027-02-15",
    "total_interest_minor": 141239, "total_fee_minor": 0, "new_total_minor": 1341239,
    "current_total_minor": 1321302, "current_installments": 12, "extra_cost_minor": 19937,
    "holiday_interest": "accrues", "rate_restored_on": None, "bureau_code": "CP",
    "collections_contact_suspended": True, "broken_after_days": 15, "schedule": [_ROW]}


class ScheduleRowOut(BaseModel):
    number: int
    due_date: str
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    balance_after_minor: int


class OptionFigures(BaseModel):
    """An option's figures as disclosed (minor units; rates in percent)."""

    option_id: str
    kind: Literal["payment_holiday", "reamortisation", "reduced_rate"]
    cycles: int = Field(description="holiday: installments deferred; longer term: "
                                    "installments added; reduced rate: 0")
    account_id: str
    currency: str
    product_code: str
    product_version: int
    principal_minor: int = Field(description="unbilled principal the option reschedules")
    annual_rate_percent: str
    apr_percent: str = Field(description="all-in annual cost of the new schedule")
    installments: int
    installment_minor: int
    first_due_date: str
    last_due_date: str
    total_interest_minor: int
    total_fee_minor: int
    new_total_minor: int = Field(description="total still to repay with this option")
    current_total_minor: int = Field(description="total still to repay with the current plan")
    current_installments: int
    extra_cost_minor: int = Field(description="new less current (negative: a saving)")
    holiday_interest: Literal["accrues", "waived", "none"] | None
    rate_restored_on: str | None
    bureau_code: str = Field(description="Metro 2 special comment reported while it runs")
    collections_contact_suspended: bool
    broken_after_days: int
    schedule: list[ScheduleRowOut]
    line: bool = Field(default=False, description="a pay-later line's option: its balance "
                       "moves into a hardship plan on the line (principal_minor)")
    line_frozen: bool = Field(default=False, description="the line is frozen for new "
                              "purchases while the arrangement runs")
    line_charges_minor: int | None = Field(default=None, description="a line's interest and "
                                           "fees already on its statements: they stay owed")


class OptionOut(BaseModel):
    figures: OptionFigures
    title: str
    key_facts_sha256: str
    key_facts_language: str
    key_facts_url: str
    key_facts_sha256_by_language: dict[str, str]


class HardshipOptionsOut(BaseModel):
    model_config = examples({
        "account_id": "loan_1", "reason": "job_loss", "language": "en",
        "decision_if_requested": "approved", "currency": "CNY", "dpd": 0,
        "principal_minor": 1200000, "current_total_minor": 1321302,
        "current_installments": 12,
        "options": [{"figures": _FIGURES, "title": "Payment holiday of 1 installment(s)",
                     "key_facts_sha256": "a" * 64, "key_facts_language": "en",
                     "key_facts_url": "/v1/me/credit_accounts/loan_1/hardship_options/"
                                      "hs-01afb271b38d494941bf0e58/key_facts?lang=en",
                     "key_facts_sha256_by_language": {"zh-CN": "b" * 64, "en": "a" * 64}}]})

    account_id: str
    reason: str
    language: str
    decision_if_requested: Literal["approved", "referred"]
    currency: str
    dpd: int
    principal_minor: int
    current_total_minor: int
    current_installments: int
    options: list[OptionOut]


class HardshipRequestIn(Strict):
    model_config = examples({"account_id": "loan_1", "reason": "job_loss",
                             "option_id": "hs-01afb271b38d494941bf0e58",
                             "key_facts_hash": "a" * 64,
                             "statement": "I lost my job last month."})

    account_id: str = Field(min_length=1, max_length=64)
    reason: Reason
    option_id: str = Field(min_length=27, max_length=27, pattern=r"^hs-[0-9a-f]{24}$")
    key_facts_hash: str = Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$",
                                description="SHA-256 of the key-facts document shown")
    statement: str | None = Field(None, max_length=1000)


_REQUEST = {"request_id": "hr_3f1a", "status": "approved", "account_id": "loan_1",
            "option_id": "hs-01afb271b38d494941bf0e58", "option_kind": "payment_holiday",
            "language": "en", "arrangement_id": "hr_3f1a", "figures": _FIGURES}


class HardshipRequestOut(BaseModel):
    model_config = examples(_REQUEST)

    request_id: str
    status: Literal["approved", "referred", "declined"]
    account_id: str
    option_id: str
    option_kind: str
    language: str
    arrangement_id: str | None
    figures: OptionFigures


_LISTED = {"request_id": "hr_3f1a", "customer_id": "cus_1", "account_id": "loan_1",
           "reason": "illness", "status": "referred",
           "option_id": "hs-01afb271b38d494941bf0e58", "option_kind": "payment_holiday",
           "cycles": 1, "currency": "CNY", "dpd_at_request": 45, "extra_cost_minor": 19937,
           "installments": 12, "installment_minor": 111710, "language": "en",
           "key_facts_sha256": "a" * 64, "decided_by": None, "decision_note_id": None,
           "statement_note_id": "note_0123456789abcdef01234567",
           "created_at": "2026-03-01T09:00:00+00:00", "decided_at": None}


class HardshipRequestListed(BaseModel):
    request_id: str
    customer_id: str
    account_id: str
    reason: str
    status: Literal["approved", "referred", "declined"]
    option_id: str
    option_kind: str
    cycles: int
    currency: str
    dpd_at_request: int
    extra_cost_minor: int
    installments: int
    installment_minor: int
    language: str
    key_facts_sha256: str
    decided_by: str | None
    decision_note_id: str | None = Field(description="the operator's note, in the notes vault")
    statement_note_id: str | None = Field(description="the consumer's statement, in the notes "
                                                      "vault (read it with a purpose code)")
    created_at: str
    decided_at: str | None


class HardshipRequestList(BaseModel):
    model_config = examples({"data": [_LISTED]})

    data: list[HardshipRequestListed]


class HardshipResolveIn(Strict):
    model_config = examples({"decision": "approve", "note": "payslips seen"})

    decision: Literal["approve", "decline"]
    note: str | None = Field(None, max_length=1000)


# ============================================================================ consumer
def options_out(rt: Runtime, conn: Any, who: Principal, account_id: str, reason: str,
                language: str | None) -> dict[str, Any]:
    """The options of the caller's account (the options page shows the same)."""
    from creditpay.protection.hardship import show_hardship_options

    lang = _language(rt, conn, who, language)
    shown = show_hardship_options(conn, customer_id=who.id, account_id=account_id,
                                  reason=reason, language=lang, today=rt.uow.clock.today(),
                                  catalogue=rt.catalogue)
    return {
        "account_id": shown.account_id, "reason": shown.reason, "language": shown.language,
        "decision_if_requested": shown.decision_if_requested, "currency": shown.currency,
        "dpd": shown.dpd, "principal_minor": shown.principal_minor,
        "current_total_minor": shown.current_total_minor,
        "current_installments": shown.current_installments,
        "options": [{"figures": dict(o.figures), "title": o.title,
                     "key_facts_sha256": o.key_facts_sha256,
                     "key_facts_language": shown.language,
                     "key_facts_url": f"/v1/me/credit_accounts/{shown.account_id}/"
                                      f"hardship_options/{o.figures['option_id']}/key_facts"
                                      f"?lang={shown.language}",
                     "key_facts_sha256_by_language": dict(o.key_facts_sha256_by_language)}
                    for o in shown.options]}


@router.get("/me/credit_accounts/{account_id}/hardship_options",
            response_model=HardshipOptionsOut,
            summary="Help if you cannot pay: the options for this plan or loan, each with its "
                    "full cost")
def hardship_options(request: Request, account_id: str = AccountId,
                     reason: Reason = Query(..., description="why you need help"),
                     lang: Literal["zh-CN", "en"] | None = LangQuery,
                     who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The hardship options of one of the caller's plans, cash loans or pay-later
    line within its product's rules (payment holiday, longer term, reduced rate; a line's
    balance moves into a hardship plan and the line is frozen while it runs), each with its
    new schedule, its extra cost against the current plan (a line: against its balance
    today), its APR and its key-facts document (hash and link), and whether a request would
    be approved at once or referred. 404 for another's account; 409 invalid-state naming
    account_id when it has no options (nothing owed, too late, an arrangement already
    running); 422 naming reason. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return options_out(rt, conn, who, account_id, reason, lang)


def key_facts_html(rt: Runtime, conn: Any, who: Principal, account_id: str, option_id: str,
                   language: str | None) -> bytes:
    from creditpay.protection.hardship import key_facts_document

    return key_facts_document(conn, customer_id=who.id, account_id=account_id,
                              option_id=option_id,
                              language=_language(rt, conn, who, language),
                              today=rt.uow.clock.today(), catalogue=rt.catalogue)


@router.get("/me/credit_accounts/{account_id}/hardship_options/{option_id}/key_facts",
            response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                             "description": "the key-facts document (HTML)"}},
            summary="Key-facts document of a hardship option")
def hardship_key_facts(request: Request, account_id: str = AccountId,
                       option_id: str = OptionId,
                       lang: Literal["zh-CN", "en"] | None = LangQuery,
                       who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The key-facts document (HTML, zh-CN or en) of one of today's hardship options
    of the caller's account; its SHA-256 is what accepting the option names. 404 for another's
    account; 422 naming option_id when it is not one of today's options. Changes nothing."""
    from creditpay.protection.disclosure import document_csp

    rt = runtime(request)
    with rt.uow.connect() as conn:
        document = key_facts_html(rt, conn, who, account_id, option_id, lang)
    return HTMLResponse(document, headers={"Cache-Control": "no-store",
                                           "Content-Security-Policy": document_csp(document)})


def request_use_case(rt: Runtime, tx: Any, who: Principal, body: HardshipRequestIn,
                     request_id: str) -> dict[str, Any]:
    """POST /v1/me/hardship_requests's use case (the options page's accept form too)."""
    from creditpay.protection.hardship import request_hardship

    result = request_hardship(tx, request_id=request_id, customer_id=who.id,
                              account_id=body.account_id, reason=body.reason,
                              option_id=body.option_id, key_facts_hash=body.key_facts_hash,
                              statement=body.statement, catalogue=rt.catalogue,
                              notes=rt.notes)
    return result.as_dict()


@router.post("/me/hardship_requests", status_code=201, response_model=HardshipRequestOut,
             summary="Accept a hardship option: approved at once within the rules, or "
                     "referred to a person")
def create_hardship_request(request: Request, body: HardshipRequestIn,
                            idempotency_key: str = IdempotencyKey,
                            who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Accepts one of today's hardship options of the caller's account by its
    option_id and the SHA-256 of its key-facts document as shown (zh-CN or en). Within the
    product's auto-approval policy it is approved and the new schedule replaces the unbilled
    installments at once (status approved, collections contact suspended); otherwise it is
    referred to an operator (status referred). 404 for another's account; 409 invalid-state
    when the account has no options; 422 naming option_id (not one of today's options),
    key_facts_hash (not the document's hash) or reason. Idempotency-Key required: a retry
    with the same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    rt = runtime(request)
    request_id = keyed_id(request, "hr", who, idempotency_key, length=32)
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: request_use_case(rt, tx, who, body, request_id),
                           status_code=201)


@router.get("/me/hardship_requests", response_model=HardshipRequestList,
            summary="My hardship requests, newest first, with their status")
def my_hardship_requests(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's hardship requests, newest first: the option chosen, its extra
    cost and installments, and the status (approved, referred, declined). Changes nothing."""
    from creditpay.credit.hardship import list_requests

    with runtime(request).uow.connect() as conn:
        return {"data": list_requests(conn, customer_id=who.id)}


# ============================================================================ operators
@router.get("/operator/hardship_requests", response_model=HardshipRequestList,
            summary="Hardship requests by status (the referred queue by default)")
def operator_hardship_requests(
        request: Request,
        status: Literal["approved", "referred", "declined"] = Query("referred"),
        limit: int = Query(100, ge=1, le=500), who: Principal = Depends(READ)) -> Any:
    """Operator (admin, collections agent, compliance officer, support). Hardship requests
    with the given status, newest first (referred by default: the queue to decide), each with
    the option chosen, its extra cost and the days past due when asked. Changes nothing."""
    from creditpay.credit.hardship import list_requests

    with runtime(request).uow.connect() as conn:
        return {"data": list_requests(conn, status=status, limit=limit)}


def resolve_use_case(rt: Runtime, tx: Any, who: Principal, request_id: str,
                     body: HardshipResolveIn) -> dict[str, Any]:
    """The resolve route's use case (the console's queue page runs it too)."""
    from creditpay.credit.hardship import resolve_request

    return resolve_request(tx, request_id=request_id, decision=body.decision,
                           operator_id=who.id, note=body.note,
                           catalogue=rt.catalogue, notes=rt.notes).as_dict()


@router.post("/operator/hardship_requests/{request_id}/resolve",
             response_model=HardshipRequestOut,
             summary="Approve (the new schedule starts) or decline a referred hardship "
                     "request")
def resolve_hardship_request(request: Request, body: HardshipResolveIn,
                             request_id: str = RequestId,
                             idempotency_key: str = IdempotencyKey,
                             who: Principal = Depends(ACT)) -> Any:
    """Operator (admin, collections agent). Decides a referred hardship request: approve
    starts the arrangement with the option the consumer accepted (409 invalid-state
    hardship.changed when the account changed so that its figures are no longer those
    disclosed: decline it so the consumer can choose again); decline closes it. 404 for an
    unknown request; 409 when it is not referred. Idempotency-Key required: a retry with the
    same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: resolve_use_case(rt, tx, who, request_id, body))
