"""Tables owned by ``creditpay.payments.cross_border``: the FX quotes shown to a consumer for
a payment intent in a foreign currency (issue #21), and, once the consumer accepted one, the
converted amounts the capture and the refunds move.

The quote itself (rates, lock, use) is ``creditpay.fx``'s; these rows keep a copy of the
figures the payment acts on, so the payment's reports never read another domain's table.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
)

from creditpay.db.metadata import UtcDateTime, metadata

__all__ = ["payment_fx"]

payment_fx = Table(
    "payment_fx",
    metadata,
    Column("quote_id", String(64), primary_key=True),
    Column("intent_id", String(32), nullable=False),
    Column("customer_id", String(32), nullable=False),
    Column("merchant_id", String(32), nullable=False),
    # ISO 3166-1 alpha-2 of the merchant at the time (for the regulatory lines).
    Column("merchant_country", String(2), nullable=False),
    Column("sell_currency", String(3), nullable=False),  # the consumer's (CNY)
    Column("sell_amount_minor", BigInteger, nullable=False),
    Column("buy_currency", String(3), nullable=False),  # the merchant's
    Column("buy_amount_minor", BigInteger, nullable=False),
    # Decimals as text: exact on both stores.
    Column("mid_rate", String(40), nullable=False),
    Column("client_rate", String(40), nullable=False),
    Column("markup_bps", Integer, nullable=False),
    Column("markup_minor", BigInteger, nullable=False),  # sell currency
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("status", String(12), nullable=False),  # shown | accepted
    Column("accepted_at", UtcDateTime(), nullable=True),
    # Sell-currency amounts moved so far: captured (to the FX position) and refunded (back).
    Column("sell_captured_minor", BigInteger, nullable=False),
    Column("sell_refunded_minor", BigInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("status IN ('shown', 'accepted')", name="status"),
    CheckConstraint("sell_amount_minor > 0 AND buy_amount_minor > 0", name="amounts_positive"),
    CheckConstraint("sell_refunded_minor <= sell_captured_minor", name="refund_within_capture"),
    Index("ix_payment_fx_intent", "intent_id"),
    Index("ix_payment_fx_accepted", "accepted_at"),
)
