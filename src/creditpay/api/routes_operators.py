"""Operator console endpoints (every one declares the roles allowed), the card rail's
callback endpoint, and the health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_approvals import ApprovalOut, propose
from creditpay.parties.service import Principal

router = APIRouter(prefix="/v1", tags=["operators"])
ADMIN = access(roles={"admin"})


@router.post("/operator/auth/login", response_model=S.OperatorSessionOut,
             summary="Staff log in with password and TOTP code; a short-lived operator token")
def operator_login(request: Request, body: S.OperatorLoginIn,
                   idempotency_key: str = IdempotencyKey) -> Any:
    """Public. Logs a staff member in with their operator id, password and the current
    6-digit code of their authenticator app (TOTP, 30-second steps; the previous and next
    step are accepted for clock drift). The answer holds an operator token (shown once) that
    carries the operator's role and works as `Authorization: Bearer` on the operator routes
    for 15 minutes. Anything wrong (unknown id, wrong password, wrong, expired or already used
    code, disabled operator) is one 401 unauthenticated with the same message; each refusal
    is audited and a wrong password or code counts toward the 15-minute lockout after 5
    failures (then 429 rate-limited). The `cpo_` token from `creditpay operator-create` stays
    the machine credential for scripts. Idempotency-Key required; a login is never replayed:
    every attempt is checked, so a retry needs the next code (a code is good once) and a new
    key (a key used with another code is 409 idempotency-conflict)."""
    from creditpay.errors import RateLimitedError

    rt = runtime(request)
    # The per-identity throttle of customer logins, keyed (HMAC) on the operator id.
    wait = request.app.state.login_buckets.take(
        rt.parties.signer.mac("scope", f"operator:{body.operator_id}".encode())[:48])
    if wait:
        raise RateLimitedError("too many login attempts for this operator; slow down",
                               retry_after_s=int(wait) + 1)
    who = rt.parties.authenticate_operator(rt.uow, operator_id=body.operator_id,
                                           password=body.password, totp_code=body.totp_code)
    return idempotent_post(
        request, "operator-login:" + who.id, body,
        lambda tx: rt.parties.issue_operator_token(who, tx.now),
        secret_fields=frozenset({"access_token"}),
        fingerprint_body={"operator_id": body.operator_id, "totp_code": body.totp_code})


@router.post("/operator/merchants", status_code=201, response_model=S.OnboardOut,
             summary="Onboard a merchant (API key and webhook secret shown once)")
def onboard(request: Request, body: S.OnboardIn, idempotency_key: str = IdempotencyKey,
            who: Principal = Depends(ADMIN)) -> Any:
    """Operator (admin). Onboards a merchant: creates it with its MCC, discount rate and
    settlement currency, a first API key with every scope and a webhook secret; the key and the
    secret are shown once. A webhook_url must pass the same checks as /v1/merchant/webhook (422
    naming webhook_url); 422 naming discount_rate, mcc, settlement_currency or country (a foreign
    merchant, issue #21: its ISO country and the currency it settles in). Idempotency-Key
    required: a retry with the same key and body replays the first answer; another body with
    that key is 409 idempotency-conflict."""
    rt = runtime(request)
    # Checked (host name lookup included) before the transaction: a slow lookup must not
    # hold the database.
    target = (rt.webhook_targets.check(body.webhook_url, key=f"operator:{who.id}")
              if body.webhook_url else None)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.parties.onboard_merchant(
        tx, who, name=body.name, mcc=body.mcc, discount_rate=body.discount_rate,
        settlement_currency=body.settlement_currency, webhook_url=target, country=body.country),
        status_code=201, secret_fields=frozenset({"key", "webhook_secret"}))


@router.get("/operator/customers/{customer_id}", response_model=S.CustomerOut,
            summary="A customer, personal data masked")
def operator_customer(request: Request, customer_id: str,
                      who: Principal = Depends(access(roles={
                          "admin", "support", "compliance_officer", "collections_agent",
                          "risk_analyst"}))) -> Any:
    """Operator (admin, support, compliance officer, collections agent, risk analyst). A
    customer's profile with personal data masked. 404 not-found for an unknown id. Changes
    nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.parties.customer_view(rt.parties.get_customer(conn, customer_id))


@router.post("/operator/customers/{customer_id}/personal_data",
             response_model=S.PersonalDataOut,
             summary="Unmasked personal data, for a stated purpose (audited)")
def personal_data(request: Request, customer_id: str, body: S.PersonalDataIn,
                  idempotency_key: str = IdempotencyKey,
                  who: Principal = Depends(access(roles={"compliance_officer"}))) -> Any:
    """Operator (compliance officer only). A customer's personal data unmasked, for a stated
    purpose code (customer_request, data_subject_request, kyc_review, ...); the read and its
    purpose are written to the audit chain. Anything but a purpose code is 422 naming purpose;
    404 for an unknown customer. The answer is never kept in the idempotency store.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)

    def use_case(tx: Any) -> dict[str, Any]:
        return rt.parties.reveal_personal_data(tx, who.id, customer_id, body.purpose.value)

    # Plaintext personal data is never stored as an idempotent response.
    return idempotent_post(request, who.scope_key, body, use_case,
                           secret_fields=frozenset(rt.parties.PERSONAL_DATA_FIELDS))


@router.post("/operator/notes/{note_id}/read", response_model=S.NoteOut,
             summary="A staff note kept in the notes vault, for a stated purpose (audited)")
def read_note(request: Request, note_id: str, body: S.PersonalDataIn,
              idempotency_key: str = IdempotencyKey,
              who: Principal = Depends(access(roles={"risk_analyst", "compliance_officer",
                                                     "admin"}))) -> Any:
    """Operator (risk analyst, compliance officer, admin). Reads a staff note kept encrypted in
    the notes vault (e.g. a fraud case's note_... reference) for a stated purpose code; the
    read is audited. text is null once the person's data was erased. 404 for an unknown note;
    422 naming purpose. Idempotency-Key required: a retry with the same key and body replays
    the first answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)

    def use_case(tx: Any) -> dict[str, Any]:
        view = rt.notes.read(tx, note_id, staff_id=who.id, purpose=body.purpose.value)
        return {"id": view.id, "kind": view.kind, "about_type": view.about_type,
                "about_id": view.about_id, "author_id": view.author_id,
                "created_at": _iso(view.created_at), "erased": view.text is None,
                "text": view.text}

    # The text may name a person: never stored as an idempotent response.
    return idempotent_post(request, who.scope_key, body, use_case,
                           secret_fields=frozenset({"text"}))


def _iso(value: Any) -> str:
    return str(value.isoformat())


@router.post("/operator/customers/{customer_id}/credit_line", status_code=201,
             response_model=S.CreditLineOut,
             responses={202: {"model": ApprovalOut,
                              "description": "Above the four-eyes threshold: a proposal "
                                             "a second operator approves"}},
             summary="Grant a pay-later credit line (through the credit servicing engine)")
def grant_credit_line(request: Request, customer_id: str, body: S.CreditLineIn,
                      idempotency_key: str = IdempotencyKey,
                      who: Principal = Depends(access(roles={"admin", "risk_analyst"}))) -> Any:
    """Operator (admin, risk analyst). Opens a pay-later credit line for a customer with a
    limit and a product, through the credit servicing engine (201). One line per customer and
    currency: granting it again with the same product returns that line, with another product
    is 409 naming product_code; 422 naming product_code when it is not a line product of that
    currency. A limit above the four-eyes threshold (CREDITPAY_FOUR_EYES_THRESHOLD_MINOR,
    default 50,000.00) is not granted here: the grant is checked as it would run (the same
    refusals) and proposed, **202** with the proposal and its `approval_id`; a different
    operator approves it (`POST /v1/operator/approvals/{approval_id}/approve`), which grants
    the line. Idempotency-Key required: a retry with the same key and body replays the first
    answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    if rt.four_eyes.controls_amount(body.limit_minor):
        payload = {"customer_id": customer_id, "limit_minor": body.limit_minor,
                   "product_code": body.product_code, "currency": body.currency}

        def proposal(tx: Any) -> dict[str, Any]:
            rt.origination.check_credit_line(tx.conn, customer_id,
                                             limit_minor=body.limit_minor,
                                             product_code=body.product_code,
                                             currency=body.currency)
            return propose(rt, tx, who, "credit_line.grant", payload)

        return idempotent_post(request, who.scope_key, body, proposal, status_code=202,
                               response_model=ApprovalOut)
    return idempotent_post(request, who.scope_key, body, lambda tx:
                           rt.origination.open_credit_line(tx, who, customer_id,
                                                           limit_minor=body.limit_minor,
                                                           product_code=body.product_code,
                                                           currency=body.currency),
                           status_code=201)


@router.post("/operator/payment_intents/{intent_id}/review", response_model=S.IntentOut,
             summary="Approve or decline a payment held for review")
def review(request: Request, intent_id: str, body: S.ReviewIn,
           idempotency_key: str = IdempotencyKey,
           who: Principal = Depends(access(roles={"risk_analyst"}))) -> Any:
    """Operator (risk analyst). Approves or declines a payment that screening held for review
    (status in_review): approving authorises it (requires_capture), declining releases it; the
    payment's fraud case, if screening opened one, is resolved with the verdict. 409
    invalid-state when not in_review; 404 for an unknown intent. Idempotency-Key required: a
    retry with the same key and body replays the first answer; another body with that key is
    409 idempotency-conflict."""
    rt = runtime(request)
    # The payment's fraud case, when screening opened one, is resolved with it (one source
    # of truth: legitimate on approve, unsure on decline).
    from creditpay.risk.fraud import cases

    reviewer = cases.payment_reviewer(rt.payments.review, who)
    return idempotent_post(request, who.scope_key, body, lambda tx: cases.review_held_payment(
        tx, who.id, intent_id, approve=body.approve, note=body.note, review_payment=reviewer,
        notes=rt.notes))


@router.post("/operator/settlements/run", response_model=S.SettleOut,
             summary="Settle one business day for every merchant (T+1)")
def run_settlement(request: Request, body: S.SettleIn, idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(ADMIN)) -> Any:
    """Operator (admin). Settles one business day (T+1) for every merchant: fee = discount rate
    × (captures - refunds), net = captures - refunds - fee, posted in the ledger and reported.
    Running a day again settles nothing twice. 422 naming business_date for a day not yet over.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: {
        "data": rt.payments.settle(tx, body.business_date, actor=("staff", who.id))})


@router.post("/operator/jobs/expire", response_model=S.JobOut,
             summary="Release holds and intents past their windows")
def run_expiry(request: Request, idempotency_key: str = IdempotencyKey,
               who: Principal = Depends(ADMIN)) -> Any:
    """Operator (admin). Runs the expiry job now: intents not confirmed within 24 hours and
    authorisations past the 7-day capture window are expired and their holds released. Answers
    how many. Idempotency-Key required: a retry with the same key and body replays the first
    answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None,
                           lambda tx: {"job": "expire", **rt.payments.expire_due(tx)})


@router.post("/operator/jobs/card_rail", response_model=S.JobOut,
             summary="Deliver due card rail callbacks (simulator)")
def run_card_rail(request: Request, idempotency_key: str = IdempotencyKey,
                  who: Principal = Depends(ADMIN)) -> Any:
    """Operator (admin). Delivers the simulated card rail's due callbacks now (top-ups and
    withdrawals succeed or fail); answers how many were applied. A development aid: the
    apply_rail_callbacks job does this every few seconds. Idempotency-Key required: a retry with the same key and body
    replays the first answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return {"job": "card_rail", "applied": deliver_rail_callbacks(rt)}


@router.post("/operator/jobs/webhooks", response_model=S.JobOut,
             summary="Relay outbox events to webhook deliveries and send the due ones")
def run_webhooks(request: Request, idempotency_key: str = IdempotencyKey,
                 who: Principal = Depends(ADMIN)) -> Any:
    """Operator (admin). Runs one round of webhook delivery: relays payments outbox events into
    deliveries and sends the due ones; answers how many were delivered, failed or given up.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    result = runtime(request).webhooks.run_once()
    return {"job": "webhooks", "delivered": result.delivered,
            "failed_attempts": result.failed_attempts, "given_up": result.given_up}


COMPLAINT_STAFF = access(roles={"compliance_officer", "support", "admin"})
ComplaintId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")


@router.post("/operator/complaints/{complaint_id}/acknowledge", response_model=S.ComplaintOut,
             tags=["complaints"], summary="Acknowledge a complaint (starts no new timer; a "
                                          "second acknowledgement changes nothing)")
def acknowledge_complaint(request: Request, complaint_id: str = ComplaintId,
                          idempotency_key: str = IdempotencyKey,
                          who: Principal = Depends(COMPLAINT_STAFF)) -> Any:
    """Operator (compliance officer, support, admin). Acknowledges a complaint (status
    acknowledged), within its SLA; a second acknowledgement changes nothing. 404 for an unknown
    complaint. Idempotency-Key required: a retry with the same key and body replays the first
    answer; another body with that key is 409 idempotency-conflict."""
    from creditpay.protection.complaints import acknowledge_complaint as acknowledge

    return idempotent_post(request, who.scope_key, None,
                           lambda tx: acknowledge(tx, complaint_id, who.id).as_dict())


@router.post("/operator/complaints/{complaint_id}/resolve", response_model=S.ComplaintOut,
             tags=["complaints"], summary="Resolve a complaint with its outcome and remedy")
def resolve_complaint(request: Request, body: S.ComplaintResolveIn,
                      complaint_id: str = ComplaintId, idempotency_key: str = IdempotencyKey,
                      who: Principal = Depends(COMPLAINT_STAFF)) -> Any:
    """Operator (compliance officer, support, admin). Resolves a complaint with its outcome
    and, when upheld, a remedy amount. 409 invalid-state when already resolved; 422 naming
    remedy_minor or remedy_currency when one is given without the other. Idempotency-Key
    required: a retry with the same key and body replays the first answer; another body with
    that key is 409 idempotency-conflict."""
    from creditpay.protection.complaints import resolve_complaint as resolve

    return idempotent_post(request, who.scope_key, body, lambda tx: resolve(
        tx, complaint_id, who.id, body.outcome, remedy_minor=body.remedy_minor,
        remedy_currency=body.remedy_currency).as_dict())


def deliver_rail_callbacks(rt: Any) -> int:
    """Every due rail callback, each in its own transaction (payments' use case)."""
    from creditpay.payments.rail_callbacks import apply_due_rail_callbacks

    return apply_due_rail_callbacks(rt.uow, rt.payments)


@router.post("/rails/card/callbacks", response_model=S.RailCallbackOut, tags=["rails"],
             summary="Card rail callback (signed with the rail key: Rail-Signature)")
async def rail_callback(request: Request, body: S.RailCallbackIn,
                        idempotency_key: str = IdempotencyKey) -> Any:
    """The card rail. Applies the outcome of a top-up charge or a withdrawal payout: success
    posts the pending transfer, failure voids it. The body must be signed (header
    Rail-Signature: t=<unix>,v1=<HMAC-SHA256>); a missing, wrong or stale signature is 401
    unauthenticated. A callback already applied answers applied false. Idempotency-Key
    required: a retry with the same key and body replays the first answer; another body with
    that key is 409 idempotency-conflict."""
    from starlette.concurrency import run_in_threadpool

    rt = runtime(request)
    rt.payments.rail.verify_signature(await request.body(),
                                      request.headers.get("rail-signature"), rt.clock.now())
    return await run_in_threadpool(
        idempotent_post, request, "rail:card", body,
        lambda tx: rt.payments.handle_rail_callback(tx, body.operation_id))


@router.get("/health", response_model=S.Health, tags=["health"])
def health(request: Request) -> Any:
    """Public. Answers ok when the app can reach its database. Changes nothing."""
    with runtime(request).uow.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    return {"status": "ok"}
