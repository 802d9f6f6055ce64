"""Merchant webhooks: an outbox relay turns ``payments.*`` outbox events into deliveries;
a dispatcher POSTs them, signed, and retries with exponential backoff.

Signature header (as Stripe's): ``Creditpay-Signature: t=<unix seconds>,v1=<hex>`` where
``v1 = HMAC-SHA256(webhook_secret, "<t>.<raw body>")``. Each delivery has a unique id
(``evt_...``, also in ``Creditpay-Event-Id`` and the body) that stays the same across retries,
so the merchant de-duplicates on it: delivery is at least once.

The relay owns the ``published_at`` flag of ``payments.*`` events only; other domains' events
are left for their own consumers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from creditpay.db.tables import outbox_events
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.parties.security import new_id
from creditpay.parties.service import Parties, aware
from creditpay.parties.tables import merchants
from creditpay.payments.tables import webhook_deliveries

__all__ = ["WebhookDispatcher", "sign_webhook", "verify_webhook", "ATTEMPTS_MAX"]

ATTEMPTS_MAX = 10
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 6 * 3600
RELAY_BATCH_MAX = 500
DISPATCH_BATCH_MAX = 100
TIMEOUT_S = 5.0
TOLERANCE_S = 300


def sign_webhook(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_webhook(secret: str, body: bytes, header: str, now_s: float) -> bool:
    """What a merchant runs on receipt: signature matches and the timestamp is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now_s - timestamp) > TOLERANCE_S:
        return False
    expected = sign_webhook(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_s(attempts: int) -> int:
    """Delay before attempt ``attempts + 1``: 30 s, 60 s, 120 s ... capped at 6 h."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))


@dataclass
class DispatchResult:
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0


class WebhookDispatcher:
    def __init__(self, uow: UnitOfWork, parties: Parties,
                 post: Callable[[str, bytes, dict[str, str]], int] | None = None) -> None:
        self.uow = uow
        self.parties = parties
        self._post = post or _httpx_post

    # ----- relay: outbox -> deliveries ---------------------------------------------------
    def relay(self) -> int:
        return self.uow.run(self._relay)

    def _relay(self, tx: Tx) -> int:
        o = outbox_events.c
        query = select(outbox_events).where(o.published_at.is_(None),
                                            o.topic.like("payments.%")).order_by(o.id).limit(
            RELAY_BATCH_MAX)
        if tx.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        events = tx.conn.execute(query).all()
        created = 0
        for event in events:
            payload = event.payload or {}
            merchant_id = payload.get("merchant_id")
            if merchant_id and payload.get("type"):
                merchant = tx.conn.execute(select(merchants.c.webhook_url).where(
                    merchants.c.id == merchant_id)).first()
                if merchant is not None and merchant.webhook_url:
                    event_id = new_id("evt")
                    body = {"id": event_id, "type": payload["type"],
                            "created_at": aware(event.occurred_at).isoformat(),
                            "data": payload.get("object", {})}
                    tx.conn.execute(webhook_deliveries.insert().values(
                        id=event_id, merchant_id=merchant_id, outbox_event_id=event.id,
                        event_type=payload["type"], payload=body, status="pending",
                        attempts=0, next_attempt_at=tx.now, created_at=tx.now))
                    created += 1
            tx.conn.execute(update(outbox_events).where(o.id == event.id)
                            .values(published_at=tx.now))
        return created

    # ----- dispatch: deliveries -> HTTP ---------------------------------------------------
    def dispatch(self) -> DispatchResult:
        """Send every due delivery once; the HTTP calls happen outside any transaction."""
        now = self.uow.clock.now()
        with self.uow.connect() as conn:
            due = conn.execute(select(webhook_deliveries, merchants.c.webhook_url,
                                      merchants.c.webhook_secret_ct).join(
                merchants, merchants.c.id == webhook_deliveries.c.merchant_id).where(
                webhook_deliveries.c.status == "pending",
                webhook_deliveries.c.next_attempt_at <= now).order_by(
                webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id).limit(
                DISPATCH_BATCH_MAX)).all()
        result = DispatchResult()
        for row in due:
            secret = self.parties.vault.decrypt("merchants.webhook_secret", row.merchant_id,
                                                row.webhook_secret_ct)
            body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
            headers = {"Content-Type": "application/json",
                       "Creditpay-Event-Id": row.id,
                       "Creditpay-Signature": sign_webhook(secret, body,
                                                           int(now.timestamp()))}
            status_code, error = None, None
            try:
                status_code = self._post(row.webhook_url, body, headers)
            except Exception as exc:  # noqa: BLE001 - any transport failure is a retry
                error = type(exc).__name__
            self.uow.run(lambda tx, row=row, code=status_code, err=error:
                         self._record(tx, row.id, code, err, result))
        return result

    def _record(self, tx: Tx, delivery_id: str, status_code: int | None, error: str | None,
                result: DispatchResult) -> None:
        row = tx.conn.execute(select(webhook_deliveries).where(
            webhook_deliveries.c.id == delivery_id)).one()
        if row.status != "pending":
            return
        attempts = row.attempts + 1
        if status_code is not None and 200 <= status_code < 300:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": tx.now}
            result.delivered += 1
        elif attempts >= ATTEMPTS_MAX:
            values = {"status": "failed"}
            result.given_up += 1
        else:
            values = {"next_attempt_at": tx.now + dt.timedelta(seconds=backoff_s(attempts))}
            result.failed_attempts += 1
        tx.conn.execute(update(webhook_deliveries).where(
            webhook_deliveries.c.id == delivery_id).values(
            attempts=attempts, last_status_code=status_code,
            last_error=(error or (None if status_code and status_code < 300
                                  else f"HTTP {status_code}")), **values))

    def run_once(self) -> DispatchResult:
        self.relay()
        return self.dispatch()


def _httpx_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import httpx

    # No redirects: a webhook URL must not bounce us to an internal address.
    response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_S,
                          follow_redirects=False)
    return response.status_code
