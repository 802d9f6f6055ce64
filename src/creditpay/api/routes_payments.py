"""Checkout endpoints: payment intents (merchant creates, consumer confirms), credit offers,
capture, cancel, refunds, offline QR (merchant-presented and consumer-presented codes)."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

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
from creditpay.protection.disclosure import document_csp

router = APIRouter(prefix="/v1", tags=["payments"])
STAFF_READ = {"admin", "risk_analyst", "support", "compliance_officer"}


@router.post("/payment_intents", status_code=201, response_model=S.IntentOut,
             summary="Create a payment intent (merchant)")
def create_intent(request: Request, body: S.IntentIn, idempotency_key: str = IdempotencyKey,
                  who: Principal = Depends(access(merchant={"payments:write"}))) -> Any:
    """Merchant (payments:write). Creates a payment intent for an order (amount in minor units,
    operated currency); the consumer then confirms it. The answer carries checkout_url, the
    hosted checkout page to send the shopper to (return_url brings them back), and for scenario
    offline_qr a signed qr_payload. 422 naming the field (amount_minor, currency, return_url);
    403 without the scope. Idempotency-Key required: a retry with the same key and body replays
    the first answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    # http return URLs on loopback follow the development switch of webhooks.
    response = idempotent_post(
        request, who.scope_key, body, lambda tx: rt.payments.create_intent(
            tx, who, amount_minor=body.amount_minor, currency=body.currency,
            order_id=body.order_id, scenario=body.scenario, description=body.description,
            line_items=[i.model_dump() for i in body.line_items], return_url=body.return_url,
            allow_loopback_http=rt.webhook_targets.allow_private), status_code=201)
    return _with_checkout_url(request, who, response)


def _with_checkout_url(request: Request, who: Principal, response: JSONResponse
                       ) -> JSONResponse:
    """The created intent with its ``checkout_url``, added after the idempotent run: the
    stored response (replayed to a retry) never holds the link's token, and a replay gets
    the same link again while it still works."""
    if not 200 <= response.status_code < 300:
        return response
    rt = runtime(request)
    body = json.loads(bytes(response.body))
    with rt.uow.connect() as conn:
        body["checkout_url"] = checkout_url(request, rt.payments.intents.checkout_path(
            conn, who, body["id"], rt.clock.now()))
    replayed = {k: v for k, v in response.headers.items() if k == "idempotent-replayed"}
    return JSONResponse(body, status_code=response.status_code, headers=replayed)


def checkout_url(request: Request, path: str | None) -> str | None:
    """``path`` as an absolute URL on the server the request reached."""
    return None if path is None else str(request.base_url).rstrip("/") + path


@router.get("/payment_intents", response_model=S.IntentList,
            summary="List my payment intents (merchant: created; customer: paid)")
def list_intents(request: Request, cursor: str | None = Cursor, limit: int = Limit,
                 who: Principal = Depends(access(customer=True,
                                                 merchant={"payments:read"}))) -> Any:
    """Merchant (payments:read): the intents it created; customer: the intents the caller paid.
    Newest first, cursor-paged. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        data, next_seq = rt.payments.list_intents(conn, who, before_seq=decode_cursor(cursor),
                                                  limit=limit)
    return {"data": data, "next_cursor": encode_cursor(next_seq)}


@router.get("/payment_intents/{intent_id}", response_model=S.IntentOut)
def get_intent(request: Request, intent_id: str,
               who: Principal = Depends(access(customer=True, merchant={"payments:read"},
                                               roles=STAFF_READ))) -> Any:
    """One payment intent: its status, funding, accepted credit offer and amounts captured and
    refunded. For the merchant that created it (payments:read, with checkout_url while it can
    still be paid), the customer who paid it (or any customer while unclaimed, to pay it), and
    staff. 404 not-found for anyone else. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        view = rt.payments.get_intent_view(conn, who, intent_id)
        view["checkout_url"] = checkout_url(request, rt.payments.intents.checkout_path(
            conn, who, intent_id, rt.clock.now()))
    return view


@router.post("/payment_intents/{intent_id}/credit_offers", response_model=S.OffersOut,
             summary="Credit offers for this payment, with their full cost (consumer)")
def credit_offers(request: Request, intent_id: str, body: S.OffersIn,
                  idempotency_key: str = IdempotencyKey,
                  who: Principal = Depends(access(customer=True))) -> Any:
    """Customer. Every credit offer for paying this intent (pay-later line and installment
    plans) with its full cost: per-period amount, total repayable, fee, interest, APR and
    all-in annual cost, and its key-facts document (key_facts_sha256, key_facts_url). The
    figures shown are stored for 15 minutes; confirm accepts only an offer_id from them.
    spending_nudge is set when the line is 80 % used or more. 409 invalid-state when the intent
    cannot be paid; 503 credit-unavailable. Idempotency-Key required: a retry with the same key
    and body replays the first answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.quote_offers(
        tx, who, intent_id, product_codes=body.product_codes, language=body.language))


@router.get("/payment_intents/{intent_id}/credit_offers/{offer_id}/key_facts",
            response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                             "description": "the key-facts document (HTML)"}},
            summary="Key-facts document of a credit offer you were shown (consumer)")
def key_facts(request: Request, intent_id: str, offer_id: str,
              lang: Literal["zh-CN", "en"] | None = Query(
                  None, description="zh-CN or en (default: your locale)"),
              who: Principal = Depends(access(customer=True))) -> Any:
    """Customer. The key-facts document (HTML, zh-CN or en) of a credit offer the caller was
    shown for this intent: amount, every cost, the schedule, late-payment rules, withdrawal
    right and complaints channel. Its SHA-256 is the offer's key_facts_sha256. 404 not-found
    for an offer the caller was not shown. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        document = rt.payments.key_facts_html(conn, who, intent_id, offer_id, lang)
    return HTMLResponse(document, headers={"Cache-Control": "no-store",
                                           "Content-Security-Policy": document_csp(document)})


@router.post("/payment_intents/{intent_id}/confirm", response_model=S.IntentOut,
             summary="Pay: balance, card, or a credit offer picked explicitly (consumer)")
def confirm(request: Request, intent_id: str, body: S.ConfirmIn,
            idempotency_key: str = IdempotencyKey,
            who: Principal = Depends(access(customer=True))) -> Any:
    """Customer. Pays the intent with the wallet balance, a linked card, or a credit offer
    picked explicitly (offer_id and the key_facts_sha256 of the document shown; credit is never
    the default). A payment in a foreign currency names the quote_id of the FX quote whose CNY
    amount the customer accepts (422 without it; 409 naming quote_id once stale, expired or
    used; 422 naming amount_minor over the CNY limits); the consumer's side moves in CNY to the
    FX position. In one transaction: risk screening, step-up check, affordability and credit
    limits, the hold or credit authorisation, and the acceptance of the key facts. The intent
    becomes requires_capture (or in_review, declined). 403 step-up-required (send again with
    the code); 402 payment-declined; 409 insufficient-funds or limit-exceeded (naming the
    rule); 422 naming offer_id or key_facts_sha256. Idempotency-Key required: a retry with the
    same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.confirm(
        tx, who, intent_id, funding=body.funding, card_id=body.card_id,
        offer_id=body.offer_id, step_up_challenge_id=body.step_up_challenge_id,
        step_up_code=body.step_up_code, key_facts_sha256=body.key_facts_sha256,
        quote_id=body.quote_id))


@router.post("/payment_intents/{intent_id}/fx_quote", response_model=S.PaymentFxOut,
             summary="The CNY cost of a payment in a foreign currency, locked (consumer)")
def fx_quote(request: Request, intent_id: str, idempotency_key: str = IdempotencyKey,
             who: Principal = Depends(access(customer=True))) -> Any:
    """Customer. For an intent in a foreign merchant's currency: the FX quote of its CNY cost
    (mid_rate, markup_bps, client_rate, sell_amount_minor in CNY, locked until expires_at, 30
    minutes). The same quote while it is locked and unused, a new one after. Confirm with its
    quote_id (no conversion without your choice). 422 naming intent_id for a CNY intent; 409
    invalid-state once it cannot be paid. Idempotency-Key required: a retry with the same key
    replays the first answer."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None,
                           lambda tx: rt.payments.fx_quote(tx, who, intent_id))


@router.post("/payment_intents/{intent_id}/capture", response_model=S.IntentOut,
             summary="Capture an authorised payment, fully or partly (merchant)")
def capture(request: Request, intent_id: str, body: S.CaptureIn,
            idempotency_key: str = IdempotencyKey,
            who: Principal = Depends(access(merchant={"payments:write"}))) -> Any:
    """Merchant (payments:write). Captures an authorised intent, fully (omit amount_minor) or
    partly (the rest is released): the merchant's payable is credited and, for credit, the plan
    or line draw is opened. 409 invalid-state when not requires_capture, or past the capture
    window (the authorisation is then released); 422 naming amount_minor for more than
    authorised. Idempotency-Key required: a retry with the same key and body replays the first
    answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.capture(
        tx, who, intent_id, amount_minor=body.amount_minor))


@router.post("/payment_intents/{intent_id}/cancel", response_model=S.IntentOut,
             summary="Cancel before capture; an authorisation is released (merchant)")
def cancel(request: Request, intent_id: str, idempotency_key: str = IdempotencyKey,
           who: Principal = Depends(access(merchant={"payments:write"}))) -> Any:
    """Merchant (payments:write). Cancels an intent before capture; any hold or credit
    authorisation is released. 409 invalid-state once captured or ended. Idempotency-Key
    required: a retry with the same key and body replays the first answer; another body with
    that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None,
                           lambda tx: rt.payments.cancel(tx, who, intent_id))


@router.post("/payment_intents/{intent_id}/refunds", status_code=201, response_model=S.RefundOut,
             summary="Refund a captured payment, fully or partly (merchant)")
def refund(request: Request, intent_id: str, body: S.RefundIn,
           idempotency_key: str = IdempotencyKey,
           who: Principal = Depends(access(merchant={"refunds:write"}))) -> Any:
    """Merchant (refunds:write). Refunds a captured payment, fully (omit amount_minor) or
    partly, any number of times up to the captured amount: back to the wallet or card, or
    through the credit engine (principal reduced, unearned fees reversed, limit restored). 409
    invalid-state when not captured or fully refunded; 422 naming amount_minor beyond what is
    left. Idempotency-Key required: a retry with the same key and body replays the first
    answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.refund(
        tx, who, intent_id, amount_minor=body.amount_minor, reason=body.reason),
        status_code=201)


@router.post("/payment_intents/{intent_id}/collect", response_model=S.IntentOut, tags=["qr"],
             summary="Charge a consumer-presented payment code (merchant till)")
def collect(request: Request, intent_id: str, body: S.CollectIn,
            idempotency_key: str = IdempotencyKey,
            who: Principal = Depends(access(merchant={"payments:write"}))) -> Any:
    """Merchant (payments:write). Charges a consumer-presented payment code against this intent
    (the merchant's till): the consumer's balance or card is used as the code says and the
    intent is confirmed. The code is single use and valid 60 seconds: an unknown or used code
    is 402 payment-declined naming payment_code; 409 invalid-state when the intent cannot be
    paid. Idempotency-Key required: a retry with the same key and body replays the first
    answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.collect(
        tx, who, intent_id, payment_code=body.payment_code))


@router.post("/qr/pay", response_model=S.IntentOut, tags=["qr"],
             summary="Pay a merchant-presented QR code (consumer)")
def pay_qr(request: Request, body: S.QrPayIn, idempotency_key: str = IdempotencyKey,
           who: Principal = Depends(access(customer=True))) -> Any:
    """Customer. Pays a merchant-presented QR code (an offline_qr intent's qr_payload, signed
    and valid 5 minutes, single use) with the same funding choices and checks as confirm. A
    forged or expired qr_payload is refused and nothing changes; 409 invalid-state once paid.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.pay_qr(
        tx, who, qr_payload=body.qr_payload, funding=body.funding, card_id=body.card_id,
        offer_id=body.offer_id, step_up_challenge_id=body.step_up_challenge_id,
        step_up_code=body.step_up_code, key_facts_sha256=body.key_facts_sha256))


# ----------------------------------------------------------------------- settlements
@router.get("/settlements", response_model=S.SettlementList, tags=["settlements"])
def list_settlements(request: Request, cursor: str | None = Cursor, limit: int = Limit,
                     who: Principal = Depends(access(merchant={"reports:read"}))) -> Any:
    """Merchant (reports:read). The merchant's daily settlements (T+1), newest first,
    cursor-paged: gross captures, refunds, fee and net paid. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        data, next_seq = rt.payments.list_settlements(
            conn, who.id, before_seq=decode_cursor(cursor), limit=limit)
    return {"data": data, "next_cursor": encode_cursor(next_seq)}


@router.get("/settlements/{settlement_id}", response_model=S.SettlementReport,
            tags=["settlements"], summary="Settlement report with every line")
def settlement_report(request: Request, settlement_id: str,
                      who: Principal = Depends(access(merchant={"reports:read"},
                                                      roles={"admin", "compliance_officer"}))
                      ) -> Any:
    """Merchant (reports:read), admin or compliance officer. One settlement with every capture
    and refund line it covers. 404 not-found for another merchant's settlement. Changes
    nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.payments.settlement_report(conn, who, settlement_id)
