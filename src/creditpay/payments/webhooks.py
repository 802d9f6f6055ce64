"""Merchant webhooks: an outbox relay turns ``payments.*`` outbox events into deliveries; a
delivery worker of its own POSTs them, signed, and retries with exponential backoff.

Signature header (as Stripe's): ``Creditpay-Signature: t=<unix seconds>,v1=<hex>`` where
``v1 = HMAC-SHA256(webhook_secret, "<t>.<raw body>")``. Each delivery has a unique id
(``evt_...``, also in ``Creditpay-Event-Id`` and the body) that stays the same across retries,
so the merchant de-duplicates on it: delivery is at least once.

Nothing a merchant configures may slow another party, so delivery is isolated:

* it runs in its own asyncio task (:meth:`WebhookDispatcher.run_forever`), never in the loop
  that applies card-rail callbacks and seals the audit chain;
* each request has a *total* deadline (host name lookup, connect, TLS, send and the whole
  answer: ``asyncio.timeout`` around all of it; httpx's own timeouts are per read, which a
  drip-fed answer defeats), after which the attempt has failed;
* at most ``in_flight_max`` requests run at once per worker and at most ``per_merchant_max``
  per merchant in all (counted in the database, so across processes), so a slow merchant
  holds only its own slots;
* the URL is checked again before every attempt (:mod:`creditpay.platform.webhook_targets`: no
  loopback, private, link-local or metadata address) and the request goes to the address that
  was checked, with the merchant's host name in the Host header and in TLS (SNI and
  certificate verification); redirects are not followed (a 3xx is a failed attempt) and at
  most ``response_bytes_max`` of the answer is read.

A worker claims a delivery with a lease (``claim_token``, ``claimed_until``): no other worker
takes it while the lease runs, and the outcome is recorded only by the lease holder. A worker
that dies mid-send leaves its claims to run out; the delivery is then sent again (at least
once, nothing lost). Claims are serialised (PostgreSQL advisory lock; SQLite serialises
writers), which keeps the per-merchant count exact across processes.

The relay owns the ``published_at`` flag of ``payments.*`` events only; other domains' events
are left for their own consumers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, func, or_, select, text, update

from creditpay.db.outbox import claim_unpublished, mark_published
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import DomainError, ValidationError
from creditpay.parties.queries import MerchantWebhook, merchant_webhooks, webhook_secret
from creditpay.parties.security import new_id
from creditpay.parties.service import Parties
from creditpay.payments.tables import webhook_deliveries
from creditpay.platform import metrics
from creditpay.platform.webhook_targets import WebhookTarget, WebhookTargets

if TYPE_CHECKING:
    import httpx

__all__ = ["WebhookDispatcher", "DeliveryLimits", "DispatchResult", "Claim", "Outcome",
           "sign_webhook", "verify_webhook", "ATTEMPTS_MAX"]

log = logging.getLogger(__name__)

ATTEMPTS_MAX = 10
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 6 * 3600
RELAY_BATCH_MAX = 500
TOLERANCE_S = 300
ERROR_CHARS_MAX = 255  # webhook_deliveries.last_error
# One key for every claimer's pg_advisory_xact_lock (an arbitrary constant, stable forever).
_CLAIM_LOCK_KEY = int.from_bytes(hashlib.sha256(b"creditpay/webhook-claims").digest()[:8],
                                 "big", signed=True)


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


@dataclass(frozen=True)
class DeliveryLimits:
    """The bounds of webhook delivery; the defaults are production values."""

    deadline_s: float = 5.0  # one whole request: lookup, connect, TLS, send, answer
    in_flight_max: int = 32  # requests at once, per worker
    per_merchant_max: int = 2  # requests at once per merchant, in all workers together
    response_bytes_max: int = 64 * 1024  # of an answer's body read before closing
    lease_s: float = 60.0  # business seconds a claim lasts; a longer-silent sender is dead
    poll_s: float = 1.0  # how often an idle worker looks for due deliveries
    run_once_max: int = 100  # deliveries one run_once sends at most

    def __post_init__(self) -> None:
        if not (0 < self.deadline_s < self.lease_s and self.poll_s > 0
                and 1 <= self.per_merchant_max <= self.in_flight_max
                and self.response_bytes_max >= 0 and self.run_once_max >= 1):
            raise ValueError(f"inconsistent delivery limits: {self}")


@dataclass
class DispatchResult:
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0


@dataclass(frozen=True)
class Claim:
    """One delivery this worker holds the lease of, ready to send."""

    id: str
    merchant_id: str
    token: str
    webhook_url: str | None  # the merchant's URL now (it may have changed since the event)
    secret: str | None  # None: the signing secret could not be decrypted
    payload: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookDispatcher:
    def __init__(self, uow: UnitOfWork, parties: Parties, targets: WebhookTargets | None = None,
                 *, limits: DeliveryLimits | None = None,
                 verify: ssl.SSLContext | bool = True) -> None:
        """``targets``: the SSRF checks (default: production, no private addresses);
        ``verify``: TLS verification (an SSLContext with a test CA in tests)."""
        self.uow = uow
        self.parties = parties
        self.targets = targets or WebhookTargets()
        self.limits = limits or DeliveryLimits()
        self.verify = verify

    # ----- relay: outbox -> deliveries ---------------------------------------------------
    def relay(self) -> int:
        return self.uow.run(self._relay)

    def _relay(self, tx: Tx) -> int:
        events = claim_unpublished(tx, "payments.", limit=RELAY_BATCH_MAX)
        # One lookup of every merchant the batch names (not one per event).
        hooks = merchant_webhooks(tx.conn, {
            e.payload["merchant_id"] for e in events
            if isinstance(e.payload.get("merchant_id"), str)})
        created = 0
        for event in events:
            payload = event.payload
            merchant_id = payload.get("merchant_id")
            if merchant_id and payload.get("type"):
                hook = hooks.get(merchant_id)
                if hook is not None and hook.url:
                    event_id = new_id("evt")
                    body = {"id": event_id, "type": payload["type"],
                            "created_at": event.occurred_at.isoformat(),
                            "data": payload.get("object", {})}
                    tx.conn.execute(webhook_deliveries.insert().values(
                        id=event_id, merchant_id=merchant_id, outbox_event_id=event.id,
                        event_type=payload["type"], payload=body, status="pending",
                        attempts=0, next_attempt_at=tx.now, created_at=tx.now))
                    created += 1
        mark_published(tx, [event.id for event in events])
        return created

    # ----- claim: due deliveries -> leases -----------------------------------------------
    def claim(self, capacity: int, exclude: Iterable[str] = ()) -> list[Claim]:
        """Lease up to ``capacity`` due deliveries, at most ``per_merchant_max`` in flight per
        merchant counting every worker's live leases, each merchant's oldest first and one
        merchant's backlog never ahead of another merchant's first delivery. Merchants in
        ``exclude`` (their host name lookups are still running) get none."""
        if capacity <= 0:
            return []
        token = secrets.token_hex(16)
        rows, hooks = self.uow.run(
            lambda tx: self._claim(tx, capacity, frozenset(exclude), token))
        claims = []
        for row in rows:
            hook = hooks.get(row.merchant_id)
            try:
                secret: str | None = webhook_secret(self.parties.vault, row.merchant_id,
                                                    hook.secret_ct if hook else None)
            except Exception:  # noqa: BLE001 - recorded as a failed attempt, not a crash loop
                log.exception("webhook secret of merchant %s unreadable", row.merchant_id)
                secret = None
            claims.append(Claim(id=row.id, merchant_id=row.merchant_id, token=token,
                                webhook_url=hook.url if hook else None, secret=secret,
                                payload=row.payload))
        return claims

    def _claim(self, tx: Tx, capacity: int, exclude: frozenset[str], token: str
               ) -> tuple[Sequence[Row[Any, Any, Any]], dict[str, MerchantWebhook]]:
        if tx.dialect == "postgresql":
            # Claimers take turns, so the live-lease count per merchant below cannot be read
            # by two of them at once (SQLite's BEGIN IMMEDIATE already serialises them).
            tx.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _CLAIM_LOCK_KEY})
        d = webhook_deliveries.c
        now = tx.now
        leased = (select(d.merchant_id, func.count().label("leased"))
                  .where(d.status == "pending", d.claimed_until > now)
                  .group_by(d.merchant_id).subquery())
        rank = func.row_number().over(partition_by=d.merchant_id,
                                      order_by=(d.next_attempt_at, d.id)).label("rank")
        due = select(d.id, d.merchant_id, d.next_attempt_at, rank).where(
            d.status == "pending", d.next_attempt_at <= now,
            or_(d.claimed_until.is_(None), d.claimed_until <= now))
        if exclude:
            due = due.where(d.merchant_id.not_in(sorted(exclude)))
        ranked = due.subquery()
        picked = tx.conn.execute(
            select(ranked.c.id)
            .select_from(ranked.outerjoin(leased, leased.c.merchant_id == ranked.c.merchant_id))
            .where(ranked.c.rank + func.coalesce(leased.c.leased, 0)
                   <= self.limits.per_merchant_max)
            .order_by(ranked.c.rank, ranked.c.next_attempt_at, ranked.c.id)
            .limit(capacity)).scalars().all()
        if not picked:
            return [], {}
        tx.conn.execute(update(webhook_deliveries).where(d.id.in_(picked)).values(
            claim_token=token,
            claimed_until=now + dt.timedelta(seconds=self.limits.lease_s)))
        rows = tx.conn.execute(
            select(d.id, d.merchant_id, d.payload)
            .where(d.claim_token == token).order_by(d.next_attempt_at, d.id)).all()
        # The merchant's endpoint as it is now (it may have changed since the event).
        return rows, merchant_webhooks(tx.conn, {row.merchant_id for row in rows})

    # ----- record: one attempt's outcome --------------------------------------------------
    def record(self, claim: Claim, outcome: Outcome) -> str | None:
        """Store the attempt: ``"delivered"``, ``"failed_attempt"`` (retried after backoff) or
        ``"given_up"``; None when the lease was lost (another worker owns the delivery)."""
        verdict = self.uow.run(lambda tx: self._record(tx, claim, outcome))
        if verdict is not None:
            metrics.record_webhook_delivery(verdict)
        return verdict

    def _record(self, tx: Tx, claim: Claim, outcome: Outcome) -> str | None:
        d = webhook_deliveries.c
        row = tx.conn.execute(select(webhook_deliveries).where(d.id == claim.id)).one()
        if row.status != "pending" or row.claim_token != claim.token:
            return None
        attempts = row.attempts + 1
        values: dict[str, Any]
        if outcome.delivered:
            verdict, values = "delivered", {"status": "delivered", "delivered_at": tx.now}
        elif attempts >= ATTEMPTS_MAX:
            verdict, values = "given_up", {"status": "failed"}
        else:
            verdict = "failed_attempt"
            values = {"next_attempt_at": tx.now + dt.timedelta(seconds=backoff_s(attempts))}
        error = outcome.error or (None if outcome.delivered else f"HTTP {outcome.status_code}")
        # Conditional on the lease and the attempt count read above, so a row another worker
        # claimed or recorded in the meantime is left alone.
        stored = tx.conn.execute(update(webhook_deliveries).where(
            d.id == claim.id, d.claim_token == claim.token, d.attempts == row.attempts).values(
            attempts=attempts, last_status_code=outcome.status_code,
            last_error=error[:ERROR_CHARS_MAX] if error else None,
            claim_token=None, claimed_until=None, **values))
        return verdict if stored.rowcount == 1 else None

    # ----- deliver: one request ------------------------------------------------------------
    def client(self) -> httpx.AsyncClient:
        """The HTTP client of one worker (use it inside that worker's event loop).

        No keep-alive: each request opens its own connection to the address just checked,
        so no connection (and no TLS session verified for another host name) is ever shared
        between merchants. No proxy or .netrc from the environment (trust_env off): the
        request must go straight to the checked address.
        """
        import httpx

        return httpx.AsyncClient(
            verify=self.verify, trust_env=False, follow_redirects=False,
            timeout=httpx.Timeout(self.limits.deadline_s),
            limits=httpx.Limits(max_connections=self.limits.in_flight_max,
                                max_keepalive_connections=0),
            headers={"User-Agent": "creditpay-webhooks/1"})

    async def deliver(self, claim: Claim, client: httpx.AsyncClient) -> Outcome:
        """Check the target again and send, all within ``deadline_s``; never raises for
        anything the merchant's side does."""
        import httpx

        if not claim.webhook_url:
            return Outcome(None, "the merchant has no webhook URL")
        if claim.secret is None:
            return Outcome(None, "the signing secret could not be read")
        deadline_s = self.limits.deadline_s
        try:
            async with asyncio.timeout(deadline_s):
                target = await self.targets.check_async(claim.webhook_url,
                                                        key=claim.merchant_id)
                return Outcome(await self._post(client, target, claim), None)
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(None, f"no complete answer within the {deadline_s:g} s deadline")
        except ValidationError as exc:  # refused by the target checks
            return Outcome(None, f"refused: {exc}")
        except DomainError as exc:  # this merchant's earlier lookups have not returned
            return Outcome(None, str(exc))
        except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}")

    async def _post(self, client: httpx.AsyncClient, target: WebhookTarget,
                    claim: Claim) -> int:
        import httpx

        assert claim.secret is not None
        body = json.dumps(claim.payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(self.uow.clock.now().timestamp())
        headers = {"Content-Type": "application/json", "Creditpay-Event-Id": claim.id,
                   "Creditpay-Signature": sign_webhook(claim.secret, body, timestamp)}
        url = httpx.URL(target.url)
        extensions: dict[str, Any] = {}
        if not _is_ip_literal(target.host):
            # Connect to the address that was checked, not to a second lookup's answer (DNS
            # rebinding); the merchant's server still sees its own name in the Host header,
            # and TLS sends it as SNI and verifies the certificate against it.
            url = url.copy_with(host=target.addresses[0])
            headers["Host"] = target.host_header
            if target.scheme == "https":
                extensions["sni_hostname"] = target.host
        async with client.stream("POST", url, content=body, headers=headers,
                                 extensions=extensions) as response:
            received = 0
            # Raw bytes: no decompression, so a small gzip bomb stays small.
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received >= self.limits.response_bytes_max:
                    break
            return response.status_code

    # ----- the worker ---------------------------------------------------------------------
    async def run_forever(self) -> None:
        """The delivery worker: relay every ``poll_s``, keep up to ``in_flight_max`` deliveries
        in flight. Cancel the task to stop; deliveries it had in flight are sent again once
        their lease runs out."""
        async with self.client() as client:
            await self._pump(client, Counter(), until_idle=False, claims_max=None)

    def run_once(self) -> DispatchResult:
        """Relay, then send every due delivery (at most ``run_once_max``) with the same
        bounds as the worker, and wait for them. Call it from a thread with no event loop
        (a sync route, the CLI, a test)."""
        self.relay()
        return asyncio.run(self.drain())

    async def drain(self) -> DispatchResult:
        tally: Counter[str] = Counter()
        async with self.client() as client:
            await self._pump(client, tally, until_idle=True, claims_max=self.limits.run_once_max)
        return DispatchResult(delivered=tally["delivered"],
                              failed_attempts=tally["failed_attempt"],
                              given_up=tally["given_up"])

    async def _pump(self, client: httpx.AsyncClient, tally: Counter[str], *,
                    until_idle: bool, claims_max: int | None) -> None:
        running: set[asyncio.Task[None]] = set()
        claimed, last_relay = 0, -math.inf
        try:
            while True:
                try:
                    if not until_idle and time.monotonic() - last_relay >= self.limits.poll_s:
                        last_relay = time.monotonic()
                        await asyncio.to_thread(self.relay)
                    # A lookup that outlived its deadline still holds a thread: count it.
                    room = min(self.limits.in_flight_max - len(running),
                               self.targets.lookup.free())
                    if claims_max is not None:
                        room = min(room, claims_max - claimed)
                    claims = (await asyncio.to_thread(
                        self.claim, room, self.targets.lookup.busy_keys()) if room > 0 else [])
                except Exception:
                    if until_idle:
                        raise
                    # Logged and retried: the waits below keep this from spinning.
                    log.exception("webhook worker: relay or claim failed")
                    claims = []
                claimed += len(claims)
                for claim in claims:
                    running.add(asyncio.create_task(self._deliver_and_record(claim, client,
                                                                             tally)))
                if not running:
                    if until_idle:
                        return
                    await asyncio.sleep(self.limits.poll_s)
                    continue
                done, running = await asyncio.wait(
                    running, timeout=None if until_idle else self.limits.poll_s,
                    return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None:
                        log.error("webhook delivery failed to record",
                                  exc_info=task.exception())
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _deliver_and_record(self, claim: Claim, client: httpx.AsyncClient,
                                  tally: Counter[str]) -> None:
        outcome = await self.deliver(claim, client)
        verdict = await asyncio.to_thread(self.record, claim, outcome)
        if verdict is not None:
            tally[verdict] += 1
        if verdict != "delivered":
            log.info("webhook %s to merchant %s: %s (%s)", claim.id, claim.merchant_id,
                     verdict or "lease lost", outcome.error or outcome.status_code)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
