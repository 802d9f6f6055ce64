"""Merchant self-service: profile, webhook URL, API keys (shown once, scoped, revocable)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.parties.service import Principal

router = APIRouter(prefix="/v1/merchant", tags=["merchants"])
ANY_MERCHANT = access(merchant=set())
KEYS = access(merchant={"keys:write"})


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
