"""Merchant self-service: profile, webhook URL, API keys (shown once, scoped, revocable),
payments filtered and their events, a settlement's reconciliation, webhook deliveries (list,
send again), chargebacks and fees."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import (
    Cursor,
    IdempotencyKey,
    Limit,
    decode_cursor,
    encode_cursor,
    runtime,
)
from creditpay.api.common import post as idempotent_post
from creditpay.parties.service import Principal

router = APIRouter(prefix="/v1/merchant", tags=["merchants"])
ANY_MERCHANT = access(merchant=set())
KEYS = access(merchant={"keys:write"})
REPORTS = access(merchant={"reports:read"})
# Deliveries are read by whoever reads reports or manages the webhook; sent again by the
# latter only (it is the webhook's management).
DELIVERIES_READ = access(merchant={"reports:read", "keys:write"})


@router.get("", response_model=S.MerchantOut, summary="My merchant profile")
def merchant(request: Request, who: Principal = Depends(ANY_MERCHANT)) -> Any:
    """Merchant (any scope). The caller's merchant profile: name, MCC, status, discount rate,
    settlement currency and webhook URL. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.parties.merchant_view(rt.parties.get_merchant(conn, who.id))


@router.post("/webhook", response_model=S.MerchantOut, summary="Set or clear the webhook URL")
def set_webhook(request: Request, body: S.WebhookIn, idempotency_key: str = IdempotencyKey,
                who: Principal = Depends(KEYS)) -> Any:
    """Merchant (keys:write). Sets or clears (null) the URL webhooks are sent to. It must be
    https with a fully qualified host resolving only to public addresses: anything else is 422
    naming webhook_url with the reason. Idempotency-Key required: a retry with the same key and
    body replays the first answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    # Checked (host name lookup included) before the transaction: a slow lookup must not
    # hold the database.
    target = rt.webhook_targets.check(body.webhook_url, key=who.id) if body.webhook_url else None
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.parties.update_merchant(
        tx, who, webhook_url=target))


@router.get("/api_keys", response_model=S.ApiKeyList)
def api_keys(request: Request, who: Principal = Depends(KEYS)) -> Any:
    """Merchant (keys:write). The merchant's API keys: id, prefix, scopes, when created and
    revoked (never the secret). Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": rt.parties.list_api_keys(conn, who.id)}


@router.post("/api_keys", status_code=201, response_model=S.ApiKeyOut,
             summary="Create an API key (the key is shown once)")
def create_api_key(request: Request, body: S.ApiKeyIn, idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(KEYS)) -> Any:
    """Merchant (keys:write). Creates an API key with the scopes given; the key is shown once
    in this answer (a replay shows a placeholder) and stored only as a hash. Idempotency-Key
    required: a retry with the same key and body replays the first answer; another body with
    that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.parties.create_api_key(
        tx, who, list(body.scopes)), status_code=201, secret_fields=frozenset({"key"}))


@router.post("/api_keys/{key_id}/revoke", response_model=S.StatusOut)
def revoke_api_key(request: Request, key_id: str, idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(KEYS)) -> Any:
    """Merchant (keys:write). Revokes one of the merchant's API keys at once. 404 not-found for
    another merchant's key. Idempotency-Key required: a retry with the same key and body
    replays the first answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None,
                           lambda tx: rt.parties.revoke_api_key(tx, who, key_id))


# ----------------------------------------------------------------------- webhook deliveries
class DeliveryOut(BaseModel):
    id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    object_id: str | None
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None
    model_config = S.examples({
        "id": "evt_5b0e3f0c3f7d4e2c9a51", "event_type": "payment_intent.refunded",
        "status": "failed", "attempts": 10, "object_id": "pi_0c9d3ad2d0a44b7e8f3c",
        "last_status_code": 503, "last_error": "HTTP 503", "next_attempt_at": None,
        "created_at": "2025-03-01T09:00:00+00:00", "delivered_at": None})


class DeliveryList(BaseModel):
    data: list[DeliveryOut]
    model_config = S.examples({"data": [{
        "id": "evt_5b0e3f0c3f7d4e2c9a51", "event_type": "payment_intent.captured",
        "status": "delivered", "attempts": 1, "object_id": "pi_0c9d3ad2d0a44b7e8f3c",
        "last_status_code": 200, "last_error": None, "next_attempt_at": None,
        "created_at": "2025-03-01T09:00:00+00:00",
        "delivered_at": "2025-03-01T09:00:01+00:00"}]})


@router.get("/webhook_deliveries", response_model=DeliveryList,
            summary="My webhook deliveries with their attempts")
def webhook_deliveries(
        request: Request,
        status: Literal["pending", "delivered", "failed"] | None = Query(
            None, description="only deliveries in this state"),
        limit: int = Query(50, ge=1, le=200, description="at most this many, newest first"),
        who: Principal = Depends(DELIVERIES_READ)) -> Any:
    """Merchant (reports:read or keys:write). The merchant's webhook deliveries, newest
    first: the event (id, type, the object it is about), its status (pending, delivered, or
    failed once given up after 10 attempts), the attempts so far and the last attempt's HTTP
    status or error, and when the next attempt is due. Changes nothing."""
    from creditpay.payments import merchant_desk

    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": merchant_desk.list_deliveries(conn, who, status=status, limit=limit)}


@router.post("/webhook_deliveries/{delivery_id}/resend", response_model=DeliveryOut,
             summary="Send a webhook delivery again")
def resend_webhook_delivery(request: Request, delivery_id: str,
                            idempotency_key: str = IdempotencyKey,
                            who: Principal = Depends(KEYS)) -> Any:
    """Merchant (keys:write). Sends one of the merchant's deliveries again as soon as the
    delivery worker next looks: a delivered or given-up one becomes pending (same event id,
    so a receiver that has it drops the copy), a pending one waiting for its backoff is due
    now; its attempts keep counting. 404 not-found for another merchant's delivery; 409
    invalid-state while an attempt is being sent. Idempotency-Key required: a retry with the
    same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    from creditpay.payments import merchant_desk

    return idempotent_post(request, who.scope_key, None,
                           lambda tx: merchant_desk.resend_delivery(tx, who, delivery_id))


# ----------------------------------------------------------------------- disputes and fees
class ChargebackOut(BaseModel):
    id: int
    reference: str
    subject_type: str
    subject_id: str
    transaction_at: str
    labelled_at: str
    is_fraud: bool
    amount_minor: int | None
    currency: str | None
    reason_code: str | None
    # Disputes (issue #20): consumer disputes are listed with the chargebacks; a chargeback
    # that opened or joined a dispute carries the dispute's fields too.
    kind: Literal["chargeback", "dispute"] = "chargeback"
    dispute_id: str | None = None
    dispute_status: str | None = None
    dispute_reason: str | None = None
    dispute_amount_minor: int | None = None
    respond_by: str | None = None
    merchant_late: bool | None = None
    credit_paused: bool | None = None
    outcome: str | None = None


_CHARGEBACK = {"id": 41, "reference": "cb-2025-000137", "subject_type": "payment_intent",
               "subject_id": "pi_0c9d3ad2d0a44b7e8f3c",
               "transaction_at": "2025-02-20T11:04:00+00:00",
               "labelled_at": "2025-03-01T09:00:00+00:00", "is_fraud": True,
               "amount_minor": 129_900, "currency": "CNY", "reason_code": "10.4",
               "kind": "chargeback", "dispute_id": "dp_5b2c0e9f1a7d4c3e8b6a",
               "dispute_status": "open", "dispute_reason": "unauthorised",
               "dispute_amount_minor": 129_900, "respond_by": "2025-03-10",
               "merchant_late": False, "credit_paused": True, "outcome": None}


class ChargebackList(BaseModel):
    data: list[ChargebackOut]
    model_config = S.examples({"data": [_CHARGEBACK]})


@router.get("/disputes", response_model=ChargebackList,
            summary="Chargebacks and consumer disputes against my payments")
def disputes(request: Request, who: Principal = Depends(REPORTS)) -> Any:
    """Merchant (reports:read). The chargebacks recorded against the merchant's payments,
    newest first: the card network's reference, the payment, the amount, the reason code
    and whether it was judged fraud (at most 200), then the consumers' disputes (`kind`
    `dispute`: `id` is the dispute's number, `reference` its `dispute_id`; at most 200). A
    chargeback that opened or joined a dispute carries its `dispute_id`, `dispute_status`,
    `respond_by` (answer at POST /v1/merchant/disputes/{dispute_id}/response). Changes
    nothing."""
    from creditpay.risk.fraud.cases import merchant_chargebacks

    rt = runtime(request)
    with rt.uow.connect() as conn:
        found = merchant_chargebacks(conn, who.id)
        consumer = rt.payments.disputes.merchant_rows(conn, who)
        joined = rt.payments.disputes.by_chargeback(conn, [c["reference"] for c in found])
    return {"data": [{**{k: v for k, v in c.items() if k in ChargebackOut.model_fields},
                      **_dispute_fields(joined.get(c["reference"]))} for c in found]
            + consumer}


def _dispute_fields(dispute: dict[str, Any] | None) -> dict[str, Any]:
    if dispute is None:
        return {"kind": "chargeback"}
    return {"kind": "chargeback", "dispute_id": dispute["dispute_id"],
            "dispute_status": dispute["status"], "dispute_reason": dispute["reason"],
            "dispute_amount_minor": dispute["amount_minor"],
            "respond_by": dispute["respond_by"], "merchant_late": dispute["merchant_late"],
            "credit_paused": dispute["credit_paused"], "outcome": dispute["outcome"]}


class FeesOut(BaseModel):
    discount_rate: str
    discount_rate_percent: str
    fee_basis: Literal["captures_less_refunds_per_business_day"]
    rounding: Literal["half_up_to_minor_unit"]
    settlement_currency: str
    settlement_delay_days: int
    settlements: int
    gross_minor: int
    refunds_minor: int
    fee_minor: int
    net_minor: int
    model_config = S.examples({
        "discount_rate": "0.006", "discount_rate_percent": "0.6",
        "fee_basis": "captures_less_refunds_per_business_day",
        "rounding": "half_up_to_minor_unit", "settlement_currency": "CNY",
        "settlement_delay_days": 1, "settlements": 3, "gross_minor": 1_500_000,
        "refunds_minor": 50_000, "fee_minor": 8_700, "net_minor": 1_441_300})


@router.get("/fees", response_model=FeesOut, summary="My fees (discount rate) and totals")
def merchant_fees(request: Request, who: Principal = Depends(REPORTS)) -> Any:
    """Merchant (reports:read). The merchant's pricing as data: the discount rate charged on
    each business day's captures less refunds (half-up to the minor unit, settled T+1 in
    the settlement currency) and what its settlements so far add up to: gross, refunds, fee
    and net paid, in minor units. Changes nothing."""
    from creditpay.payments import merchant_desk

    rt = runtime(request)
    with rt.uow.connect() as conn:
        return merchant_desk.fees(conn, who, rt.parties.get_merchant(conn, who.id))


# ----------------------------------------------------------------------- payments
IntentStatus = Literal["requires_confirmation", "requires_capture", "in_review", "succeeded",
                       "canceled", "declined", "expired"]


@router.get("/payments", response_model=S.IntentList,
            summary="My payments, filtered by state or order id")
def payments(request: Request,
             status: IntentStatus | None = Query(None, description="only payments in this "
                                                 "state"),
             order_id: str | None = Query(None, max_length=64,
                                          description="only the payment of this order"),
             cursor: str | None = Cursor, limit: int = Limit,
             who: Principal = Depends(access(merchant={"payments:read"}))) -> Any:
    """Merchant (payments:read). The merchant's payment intents newest first, cursor-paged,
    optionally only those in one state and/or of one order id (what the merchant dashboard's
    Payments page lists). 422 naming status for an unknown state. Changes nothing."""
    from creditpay.payments import merchant_desk

    rt = runtime(request)
    with rt.uow.connect() as conn:
        rows, next_seq = merchant_desk.list_payments(
            conn, who, status=status, order_id=order_id, before_seq=decode_cursor(cursor),
            limit=limit)
    return {"data": [rt.payments.intent_view(r) for r in rows],
            "next_cursor": encode_cursor(next_seq)}


class PaymentEventOut(BaseModel):
    kind: Literal["created", "confirmed", "captured", "refunded"]
    at: str
    id: str
    amount_minor: int
    settlement_id: str | None


class PaymentEventList(BaseModel):
    data: list[PaymentEventOut]
    model_config = S.examples({"data": [
        {"kind": "created", "at": "2025-03-01T09:00:00+00:00",
         "id": "pi_5032fafc52fa63cfb660", "amount_minor": 360000, "settlement_id": None},
        {"kind": "captured", "at": "2025-03-01T09:05:00+00:00",
         "id": "cap_3c5e7a9b1d2f4a6c8e0b", "amount_minor": 360000,
         "settlement_id": "set_1a2b3c4d5e6f7a8b9c0d"}]})


@router.get("/payments/{intent_id}/events", response_model=PaymentEventList,
            summary="What happened to one of my payments")
def payment_events(request: Request, intent_id: str,
                   who: Principal = Depends(access(merchant={"payments:read"}))) -> Any:
    """Merchant (payments:read). One payment's events, oldest first: created, paid by the
    shopper (confirmed), each capture and each refund with its amount and the settlement
    that paid it out, if any. 404 not-found for another merchant's payment. Changes
    nothing."""
    from creditpay.payments import merchant_desk

    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": merchant_desk.payment_events(conn, who, intent_id)}


# ----------------------------------------------------------------------- reconciliation
class ReconciledPayment(BaseModel):
    intent_id: str
    order_id: str
    captured_minor: int
    refunded_minor: int
    net_minor: int
    lines: list[S.SettlementLine]


class ReconciliationOut(BaseModel):
    settlement: S.SettlementOut
    payments: list[ReconciledPayment]
    lines_captured_minor: int
    lines_refunded_minor: int
    base_minor: int
    expected_fee_minor: int
    payout_minor: int
    carried_minor: int
    checks: dict[str, bool]
    adds_up: bool
    model_config = S.examples({
        "settlement": {"id": "set_1a2b3c4d5e6f7a8b9c0d", "merchant_id": "mer_ac9ace87d63c57a37c16",
                       "currency": "CNY", "business_date": "2025-03-01",
                       "settled_on": "2025-03-02", "gross_minor": 360000,
                       "refunds_minor": 180000, "fee_minor": 1080, "net_minor": 178920,
                       "discount_rate": "0.006", "capture_count": 1, "refund_count": 1},
        "payments": [{"intent_id": "pi_5032fafc52fa63cfb660", "order_id": "SO-20250301-0042",
                      "captured_minor": 360000, "refunded_minor": 180000,
                      "net_minor": 180000, "lines": [
                          {"kind": "capture", "id": "cap_3c5e7a9b1d2f4a6c8e0b",
                           "intent_id": "pi_5032fafc52fa63cfb660",
                           "order_id": "SO-20250301-0042", "amount_minor": 360000,
                           "created_at": "2025-03-01T09:00:00+00:00"},
                          {"kind": "refund", "id": "re_951b08da12e5fffc075e",
                           "intent_id": "pi_5032fafc52fa63cfb660",
                           "order_id": "SO-20250301-0042", "amount_minor": -180000,
                           "created_at": "2025-03-01T15:30:00+00:00"}]}],
        "lines_captured_minor": 360000, "lines_refunded_minor": 180000,
        "base_minor": 180000, "expected_fee_minor": 1080, "payout_minor": 178920,
        "carried_minor": 0,
        "checks": {"captures_match_gross": True, "refunds_match": True,
                   "fee_matches_rate": True, "net_adds_up": True},
        "adds_up": True})


@router.get("/settlements/{settlement_id}/reconciliation", response_model=ReconciliationOut,
            summary="A settlement reconciled line by line")
def reconciliation(request: Request, settlement_id: str,
                   who: Principal = Depends(REPORTS)) -> Any:
    """Merchant (reports:read). One of the merchant's settlements reconciled: each payment
    in it with its capture and refund lines and net; the sums of the lines; the fee base
    (captures less refunds) and the fee recomputed from the discount rate; the payout (the
    net when positive) or the amount carried; and four named checks, adds_up when all hold.
    404 not-found for another merchant's settlement. Changes nothing."""
    from creditpay.payments import merchant_desk

    rt = runtime(request)
    with rt.uow.connect() as conn:
        report = rt.payments.settlement_report(conn, who, settlement_id)
    rec = merchant_desk.reconcile(report)
    return {"settlement": {k: v for k, v in report.items() if k != "lines"}, **rec}
