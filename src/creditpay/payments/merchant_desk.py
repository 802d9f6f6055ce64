"""What a merchant reads and does about its own business, beyond taking payments (issue
#16, the merchant dashboard and its JSON routes): its payments filtered and each with its
events, the reconciliation of a settlement, its webhook deliveries (and sending one
again), the chargebacks against it and its fees.

Every function is scoped to one merchant: another merchant's payment, settlement or
delivery is :class:`NotFoundError` (404, never 403, so ids cannot be probed).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, func, select, update

from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.parties.service import Principal
from creditpay.payments.tables import (
    merchant_settlements,
    payment_captures,
    payment_intents,
    payment_refunds,
    webhook_deliveries,
)
from creditpay.platform import audit

__all__ = ["INTENT_STATUSES", "DELIVERY_STATUSES", "list_payments", "payment_events",
           "reconcile", "list_deliveries", "resend_delivery", "fees", "LIST_LIMIT_MAX"]

INTENT_STATUSES = ("requires_confirmation", "requires_capture", "in_review", "succeeded",
                   "canceled", "declined", "expired")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
LIST_LIMIT_MAX = 200


def _merchant(principal: Principal) -> str:
    if principal.kind != "merchant":
        raise NotFoundError("a merchant's own records only", field="merchant_id")
    return principal.id


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIST_LIMIT_MAX:
        raise ValidationError(f"must be from 1 to {LIST_LIMIT_MAX}", field="limit")
    return limit


def list_payments(conn: Connection, principal: Principal, *, status: str | None = None,
                  order_id: str | None = None, before_seq: int | None = None,
                  limit: int = 50) -> tuple[list[Any], int | None]:
    """The merchant's payment intents (rows), newest first, optionally of one ``status``
    and/or one ``order_id``; the cursor (``seq``) of the next page or None. 422 naming
    status or limit."""
    merchant_id = _merchant(principal)
    if status is not None and status not in INTENT_STATUSES:
        raise ValidationError(f"must be one of {list(INTENT_STATUSES)}", field="status")
    p = payment_intents.c
    query = select(payment_intents).where(p.merchant_id == merchant_id)
    if status is not None:
        query = query.where(p.status == status)
    if order_id:
        query = query.where(p.order_id == order_id)
    if before_seq is not None:
        query = query.where(p.seq < before_seq)
    rows = conn.execute(query.order_by(p.seq.desc()).limit(_limit(limit) + 1)).all()
    page = rows[:limit]
    return list(page), (page[-1].seq if len(rows) > limit else None)


def payment_events(conn: Connection, principal: Principal, intent_id: str
                   ) -> list[dict[str, Any]]:
    """What happened to one of the merchant's payments, oldest first: created, confirmed,
    each capture and each refund (amount in minor units, with the settlement that paid it
    out, if any). 404 naming intent_id for another merchant's payment."""
    merchant_id = _merchant(principal)
    row = conn.execute(select(payment_intents).where(payment_intents.c.id == intent_id)
                       ).first()
    if row is None or row.merchant_id != merchant_id:
        raise NotFoundError(f"no payment intent {intent_id}", field="intent_id")
    events: list[dict[str, Any]] = [
        {"kind": "created", "at": row.created_at, "id": row.id,
         "amount_minor": row.amount_minor, "settlement_id": None}]
    if row.confirmed_at is not None:
        events.append({"kind": "confirmed", "at": row.confirmed_at, "id": row.id,
                       "amount_minor": row.amount_minor, "settlement_id": None})
    for kind, table in (("captured", payment_captures), ("refunded", payment_refunds)):
        for line in conn.execute(select(table).where(table.c.intent_id == intent_id)):
            events.append({"kind": kind, "at": line.created_at, "id": line.id,
                           "amount_minor": line.amount_minor,
                           "settlement_id": line.settlement_id})
    # In time order; at one instant (one business second) in the order things can happen.
    rank = {"created": 0, "confirmed": 1, "captured": 2, "refunded": 3}
    events.sort(key=lambda e: (e["at"], rank[e["kind"]], e["id"]))
    return [{**e, "at": e["at"].isoformat()} for e in events]


def reconcile(report: dict[str, Any]) -> dict[str, Any]:
    """The reconciliation of a settlement report (``Payments.settlement_report``: its totals
    and its capture and refund lines), pure: the lines grouped by payment (captured,
    refunded, net of each), the sums of the lines, the fee recomputed from the discount
    rate, and ``adds_up`` with each check named (all amounts in minor units).

    The fee is charged on the day's total, not per line: rate x (captures - refunds),
    half-up to the minor unit, none when that base is not positive (payments/settlement.py),
    so it is shown once, against the base, never split across lines (a split would need a
    rounding rule of its own and could not add up to the fee charged)."""
    by_payment: dict[str, dict[str, Any]] = {}
    captured = refunded = 0
    for line in report["lines"]:
        entry = by_payment.setdefault(line["intent_id"], {
            "intent_id": line["intent_id"], "order_id": line["order_id"],
            "captured_minor": 0, "refunded_minor": 0, "lines": []})
        entry["lines"].append(line)
        if line["kind"] == "capture":
            entry["captured_minor"] += line["amount_minor"]
            captured += line["amount_minor"]
        else:  # a refund line carries a negative amount
            entry["refunded_minor"] -= line["amount_minor"]
            refunded -= line["amount_minor"]
    for entry in by_payment.values():
        entry["net_minor"] = entry["captured_minor"] - entry["refunded_minor"]
    base = report["gross_minor"] - report["refunds_minor"]
    fee = int((Decimal(base) * Decimal(report["discount_rate"])).quantize(
        Decimal(1), rounding=ROUND_HALF_UP)) if base > 0 else 0
    checks = {
        "captures_match_gross": captured == report["gross_minor"],
        "refunds_match": refunded == report["refunds_minor"],
        "fee_matches_rate": fee == report["fee_minor"],
        "net_adds_up": base - report["fee_minor"] == report["net_minor"],
    }
    return {"payments": list(by_payment.values()), "lines_captured_minor": captured,
            "lines_refunded_minor": refunded, "base_minor": base,
            "expected_fee_minor": fee,
            "payout_minor": max(report["net_minor"], 0),
            "carried_minor": min(report["net_minor"], 0),
            "checks": checks, "adds_up": all(checks.values())}


def delivery_view(row: Any) -> dict[str, Any]:
    data = row.payload.get("data") if isinstance(row.payload, dict) else None
    return {"id": row.id, "event_type": row.event_type, "status": row.status,
            "attempts": row.attempts,
            "object_id": data.get("id") if isinstance(data, dict) else None,
            "last_status_code": row.last_status_code, "last_error": row.last_error,
            "next_attempt_at": row.next_attempt_at.isoformat() if row.status == "pending"
            else None,
            "created_at": row.created_at.isoformat(),
            "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None}


def list_deliveries(conn: Connection, principal: Principal, *, status: str | None = None,
                    limit: int = 50) -> list[dict[str, Any]]:
    """The merchant's webhook deliveries, newest first, optionally of one ``status``
    (pending | delivered | failed): the event, its attempts so far and the last
    attempt's HTTP status or error. 422 naming status or limit."""
    merchant_id = _merchant(principal)
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationError(f"must be one of {list(DELIVERY_STATUSES)}", field="status")
    d = webhook_deliveries.c
    query = select(webhook_deliveries).where(d.merchant_id == merchant_id)
    if status is not None:
        query = query.where(d.status == status)
    rows = conn.execute(query.order_by(d.created_at.desc(), d.id.desc())
                        .limit(_limit(limit))).all()
    return [delivery_view(r) for r in rows]


def resend_delivery(tx: Tx, principal: Principal, delivery_id: str) -> dict[str, Any]:
    """Send one of the merchant's webhook deliveries again, as soon as the delivery worker
    next looks: a delivered or given-up one becomes pending again (the same event id, so a
    receiver that has it already drops it: delivery stays at least once), a pending one
    waiting for its backoff is due now. Its attempts keep counting (a given-up delivery
    gets one more attempt before it is given up again). 404 naming delivery_id for another
    merchant's; 409 invalid-state while an attempt is being sent (its sender's lease
    runs), as the outcome of that attempt is not known yet."""
    merchant_id = _merchant(principal)
    d = webhook_deliveries.c
    row = tx.conn.execute(select(webhook_deliveries).where(d.id == delivery_id)).first()
    if row is None or row.merchant_id != merchant_id:
        raise NotFoundError(f"no webhook delivery {delivery_id}", field="delivery_id")
    if row.status == "pending" and row.claimed_until is not None \
            and row.claimed_until > tx.now:
        raise StateError("an attempt of this delivery is being sent now; try again shortly",
                         field="delivery_id")
    # Conditional on what was read: a worker that claimed it meanwhile keeps its lease.
    changed = tx.conn.execute(update(webhook_deliveries).where(
        d.id == delivery_id, d.status == row.status, d.attempts == row.attempts,
        (d.claimed_until.is_(None)) | (d.claimed_until <= tx.now)).values(
        status="pending", next_attempt_at=tx.now, claim_token=None, claimed_until=None))
    if changed.rowcount != 1:
        raise StateError("this delivery changed meanwhile; reload and try again",
                         field="delivery_id")
    audit.append(tx, *principal.audit_actor, "webhook.resend_requested", "webhook_delivery",
                 delivery_id, {"was": row.status, "attempts": row.attempts,
                               "user_id": principal.credential_id})
    return delivery_view(tx.conn.execute(select(webhook_deliveries).where(
        d.id == delivery_id)).one())


def fees(conn: Connection, principal: Principal, merchant_row: Any) -> dict[str, Any]:
    """The merchant's pricing as data: its discount rate (the fee on each day's captures
    less refunds, half-up to the minor unit), the settlement currency and timing, and what
    its settlements so far add up to (minor units)."""
    merchant_id = _merchant(principal)
    s = merchant_settlements.c
    totals = conn.execute(select(
        func.count(), func.coalesce(func.sum(s.gross_minor), 0),
        func.coalesce(func.sum(s.refunds_minor), 0), func.coalesce(func.sum(s.fee_minor), 0),
        func.coalesce(func.sum(s.net_minor), 0)).where(s.merchant_id == merchant_id)).one()
    rate = Decimal(merchant_row.discount_rate)
    return {"discount_rate": str(rate), "discount_rate_percent": f"{(rate * 100).normalize():f}",
            "fee_basis": "captures_less_refunds_per_business_day",
            "rounding": "half_up_to_minor_unit",
            "settlement_currency": merchant_row.settlement_currency,
            "settlement_delay_days": 1,
            "settlements": int(totals[0]), "gross_minor": int(totals[1]),
            "refunds_minor": int(totals[2]), "fee_minor": int(totals[3]),
            "net_minor": int(totals[4])}
