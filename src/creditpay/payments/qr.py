"""QR payments: pay a merchant-presented QR, a consumer-presented payment code, and the
merchant's collection of it (both end in :meth:`Checkout.confirm`)."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from creditpay.db.uow import Tx
from creditpay.errors import (
    ValidationError,
)
from creditpay.parties.security import new_id, sha256_hex
from creditpay.parties.service import (
    Principal,
)
from creditpay.payments.checkout import Checkout
from creditpay.payments.common import (
    PaymentDeclinedError,
    PaymentsContext,
)
from creditpay.payments.intents import Intents
from creditpay.payments.tables import (
    payment_codes,
)

__all__ = ["QrPayments"]


@dataclass
class QrPayments:
    """QR use cases (see the module docstring)."""

    ctx: PaymentsContext
    intents: Intents
    checkout: Checkout

    # ================================================================== QR codes
    def pay_qr(self, tx: Tx, principal: Principal, *, qr_payload: str, funding: str,
               card_id: str | None = None, offer_id: str | None = None,
               step_up_challenge_id: str | None = None, step_up_code: str | None = None,
               key_facts_sha256: str | None = None) -> dict[str, Any]:
        """Pay a merchant-presented QR: signed, expiring; single use because the intent can
        be confirmed only once."""
        claims = self.ctx.parties.signer.verify(qr_payload, "qr", tx.now)
        return self.checkout.confirm(tx, principal, claims["pi"], funding=funding, card_id=card_id,
                                     offer_id=offer_id, step_up_challenge_id=step_up_challenge_id,
                                     step_up_code=step_up_code, key_facts_sha256=key_facts_sha256)

    def create_payment_code(self, tx: Tx, principal: Principal, *, funding: str,
                            card_id: str | None = None) -> dict[str, Any]:
        """A consumer-presented code (shown as a QR / barcode at the till): signed,
        single use, valid ``payment_code_ttl_s`` seconds; balance or card only."""
        if funding not in ("balance", "card"):
            raise ValidationError("payment codes pay from balance or card; credit needs an "
                                  "explicit offer at checkout", field="funding")
        if funding == "card":
            if not card_id:
                raise ValidationError("card funding needs card_id", field="card_id")
            self.ctx.parties.get_card(tx.conn, principal.id, card_id)
        code_id = new_id("pc")
        nonce = new_id("n")
        expires_at = tx.now + dt.timedelta(seconds=self.ctx.policy.payment_code_ttl_s)
        tx.conn.execute(payment_codes.insert().values(
            id=code_id, customer_id=principal.id, nonce_hash=sha256_hex(nonce),
            funding=funding, card_id=card_id, expires_at=expires_at, used_at=None,
            intent_id=None, created_at=tx.now))
        code = self.ctx.parties.signer.sign("paycode", {"pc": code_id, "n": nonce}, expires_at)
        return {"id": code_id, "payment_code": code, "funding": funding,
                "expires_at": expires_at.isoformat()}

    def collect(self, tx: Tx, merchant: Principal, intent_id: str, *, payment_code: str
                ) -> dict[str, Any]:
        claims = self.ctx.parties.signer.verify(payment_code, "paycode", tx.now)
        row = tx.conn.execute(select(payment_codes).where(
            payment_codes.c.id == claims.get("pc"))).first()
        if row is None or not hmac.compare_digest(row.nonce_hash,
                                                  sha256_hex(str(claims.get("n")))):
            raise PaymentDeclinedError("unknown payment code", field="payment_code")
        if row.used_at is not None:
            raise PaymentDeclinedError("this payment code was already used",
                                       field="payment_code")
        intent = self.intents.intent_for(tx.conn, merchant, intent_id)
        result = tx.conn.execute(update(payment_codes).where(
            payment_codes.c.id == row.id, payment_codes.c.used_at.is_(None)).values(
            used_at=tx.now, intent_id=intent.id))
        if result.rowcount != 1:
            raise PaymentDeclinedError("this payment code was already used",
                                       field="payment_code")
        customer = Principal("customer", row.customer_id)
        return self.checkout.confirm(tx, customer, intent.id, funding=row.funding,
                                     card_id=row.card_id, via="payment_code")

