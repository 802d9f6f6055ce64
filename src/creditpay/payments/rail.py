"""Card rail simulator: tokenisation, synchronous authorisations, and asynchronous charges
and payouts that complete later through signed webhook-style callbacks.

It stands in for the card network and acquirer. It never keeps a card number: at
tokenisation it looks at the PAN once (test numbers choose the behaviour, like a sandbox
acquirer's) and keeps only a random token and the behaviour. Behaviours:

* ``succeed``: charges and payouts succeed; the callback is due at once;
* ``decline``: authorisations are declined; charges and payouts fail (callback due at once);
* ``delay``: charges and payouts succeed, but the callback is due ``delay_s`` later.

Callbacks are delivered by :meth:`CardRail.due_callbacks` + the payments handler (in
process), or over HTTP to ``POST /v1/rails/card/callbacks`` signed with
HMAC-SHA256(``t.body``) under the rail key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from creditpay.db.uow import Tx
from creditpay.errors import AuthenticationError, DomainError, NotFoundError, ValidationError
from creditpay.payments.tables import card_rail_operations, card_rail_tokens

__all__ = ["CardRail", "CardDeclinedError", "TokenisedCard", "luhn_ok", "DECLINE_PANS",
           "DELAY_PANS"]

DECLINE_PANS = frozenset({"4000000000000002", "4000000000009995"})
DELAY_PANS = frozenset({"4000000000000259"})
SIGNATURE_TOLERANCE_S = 300


# Constant statements with bound parameters: compiled once, their cache keys remembered,
# instead of a statement built per call (the demo runs these thousands of times a day).
_BEHAVIOUR = select(card_rail_tokens.c.behaviour).where(
    card_rail_tokens.c.token == bindparam("token"))
_INSERT_OPERATION = card_rail_operations.insert()
_DUE = select(card_rail_operations).where(
    card_rail_operations.c.status == "pending",
    card_rail_operations.c.callback_due_at <= bindparam("now")).order_by(
    card_rail_operations.c.callback_due_at, card_rail_operations.c.id).limit(
    bindparam("limit"))
_MARK_DELIVERED = update(card_rail_operations).where(
    card_rail_operations.c.id == bindparam("operation_id"),
    card_rail_operations.c.status == "pending").values(status="delivered")
_OPERATION_BY_ID = select(card_rail_operations).where(
    card_rail_operations.c.id == bindparam("id"))


class CardDeclinedError(DomainError):
    type_slug = "card-declined"
    status = 402
    title = "Card declined"


@dataclass(frozen=True)
class TokenisedCard:
    token: str
    brand: str
    last4: str


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _brand(pan: str) -> str:
    if pan.startswith("4"):
        return "visa"
    if pan[:2] in {"51", "52", "53", "54", "55"} or "2221" <= pan[:4] <= "2720":
        return "mastercard"
    if pan.startswith("62"):
        return "unionpay"
    if pan[:2] in {"34", "37"}:
        return "amex"
    return "other"


class CardRail:
    def __init__(self, key: bytes, *, delay_s: int = 3600) -> None:
        self._key = key
        self.delay_s = delay_s

    # ----- tokenisation ------------------------------------------------------------------
    def tokenise(self, tx: Tx, pan: str, expiry_month: int, expiry_year: int) -> TokenisedCard:
        digits = pan.replace(" ", "").replace("-", "") if isinstance(pan, str) else ""
        if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
            raise ValidationError("is not a valid card number", field="pan")
        if not (isinstance(expiry_month, int) and 1 <= expiry_month <= 12):
            raise ValidationError("must be 1..12", field="expiry_month")
        if not (isinstance(expiry_year, int) and 2000 <= expiry_year <= 2100):
            raise ValidationError("must be a four-digit year", field="expiry_year")
        if (expiry_year, expiry_month) < (tx.today.year, tx.today.month):
            raise ValidationError("the card has expired", field="expiry_year")
        behaviour = ("decline" if digits in DECLINE_PANS else
                     "delay" if digits in DELAY_PANS else "succeed")
        token = "tok_" + secrets.token_hex(16)
        tx.conn.execute(card_rail_tokens.insert().values(token=token, behaviour=behaviour,
                                                         created_at=tx.now))
        return TokenisedCard(token, _brand(digits), digits[-4:])

    def _behaviour(self, conn: Connection, token: str) -> str:
        row = conn.execute(_BEHAVIOUR, {"token": token}).first()
        if row is None:
            raise NotFoundError("unknown card token", field="card_id")
        return row.behaviour

    # ----- synchronous authorisation (checkout with a card) -------------------------------
    def authorise(self, tx: Tx, token: str, amount_minor: int, currency: str) -> None:
        if self._behaviour(tx.conn, token) == "decline":
            raise CardDeclinedError("the card issuer declined the payment", field="card_id",
                                    decline_code="do_not_honor")

    # ----- asynchronous charges and payouts ----------------------------------------------
    def submit(self, tx: Tx, kind: str, token: str, amount_minor: int, currency: str,
               reference: str) -> str:
        """Start a charge (top-up) or payout (withdrawal, card refund); returns the rail
        operation id. The outcome arrives later as a callback."""
        assert kind in ("charge", "payout")
        behaviour = self._behaviour(tx.conn, token)
        operation_id = "rop_" + secrets.token_hex(10)
        due = tx.now + dt.timedelta(seconds=self.delay_s if behaviour == "delay" else 0)
        tx.conn.execute(_INSERT_OPERATION, dict(
            id=operation_id, kind=kind, token=token, amount_minor=amount_minor,
            currency=currency, reference=reference,
            outcome="failed" if behaviour == "decline" else "succeeded", status="pending",
            callback_due_at=due, created_at=tx.now, delivered_at=None))
        return operation_id

    def due_callbacks(self, conn: Connection, now: dt.datetime, limit: int = 100
                      ) -> list[dict[str, Any]]:
        rows = conn.execute(_DUE, {"now": now, "limit": limit}).all()
        return [{"operation_id": r.id, "kind": r.kind, "reference": r.reference,
                 "outcome": r.outcome, "amount_minor": r.amount_minor,
                 "currency": r.currency} for r in rows]

    def mark_delivered(self, tx: Tx, operation_id: str) -> bool:
        """True the first time (the callback's effects must then be applied in ``tx``)."""
        result = tx.conn.execute(_MARK_DELIVERED, {"operation_id": operation_id,
                                                   "delivered_at": tx.now})
        return result.rowcount == 1

    def operation(self, conn: Connection, operation_id: str) -> dict[str, Any]:
        row = conn.execute(_OPERATION_BY_ID, {"id": operation_id}).first()
        if row is None:
            raise NotFoundError("unknown rail operation", field="operation_id")
        return {"operation_id": row.id, "kind": row.kind, "reference": row.reference,
                "outcome": row.outcome, "amount_minor": row.amount_minor,
                "currency": row.currency}

    # ----- signed HTTP callbacks ----------------------------------------------------------
    def sign(self, body: bytes, timestamp: int) -> str:
        mac = hmac.new(self._key, str(timestamp).encode() + b"." + body, hashlib.sha256)
        return f"t={timestamp},v1={mac.hexdigest()}"

    def signed_callback(self, callback: dict[str, Any], now: dt.datetime
                        ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(callback, separators=(",", ":"), sort_keys=True).encode()
        return body, {"Rail-Signature": self.sign(body, int(now.timestamp())),
                      "Content-Type": "application/json"}

    def verify_signature(self, body: bytes, header: str | None, now: dt.datetime) -> None:
        parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError as exc:
            raise AuthenticationError("missing or malformed Rail-Signature") from exc
        if abs(now.timestamp() - timestamp) > SIGNATURE_TOLERANCE_S:
            raise AuthenticationError("Rail-Signature timestamp outside tolerance")
        expected = self.sign(body, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise AuthenticationError("Rail-Signature does not match")
