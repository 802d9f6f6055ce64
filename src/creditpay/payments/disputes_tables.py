"""Tables owned by ``creditpay.payments.disputes``: consumer disputes about a payment intent
and card-network chargebacks joined to them (issue #20), and each dispute's events (both
sides' statements and evidence, the operator's decision, the deadline passing).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    String,
    Table,
    Text,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = ["payment_disputes", "payment_dispute_events"]

payment_disputes = Table(
    "payment_disputes",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),  # dp_...
    Column("intent_id", String(32), nullable=False),
    # The intent's id while the dispute is open, NULL once it is final: one open dispute per
    # payment, by a unique constraint both stores keep (NULLs are distinct).
    Column("open_intent_id", String(32), nullable=True, unique=True),
    Column("customer_id", String(32), nullable=False),
    Column("merchant_id", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("reason", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("source", String(12), nullable=False),  # consumer | chargeback
    Column("description", Text, nullable=True),  # the consumer's statement
    Column("chargeback_id", String(128), nullable=True),
    Column("network_reason_code", String(32), nullable=True),
    Column("funding", String(24), nullable=True),
    Column("credit_purchase_id", String(96), nullable=True),
    Column("credit_paused", Boolean, nullable=False),
    Column("policy_version", String(32), nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("respond_by", Date, nullable=False),
    Column("merchant_late", Boolean, nullable=False),
    Column("outcome", String(12), nullable=True),  # consumer | merchant (when final)
    Column("refund_id", String(32), nullable=True),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    CheckConstraint("reason IN ('not_received', 'not_as_described', 'unauthorised', "
                    "'duplicate')", name="reason"),
    CheckConstraint("status IN ('open', 'under_review', 'resolved_consumer', "
                    "'resolved_merchant', 'withdrawn', 'accepted')", name="status"),
    CheckConstraint("source IN ('consumer', 'chargeback')", name="source"),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index("ix_payment_disputes_intent", "intent_id"),
    Index("ix_payment_disputes_customer", "customer_id", "seq"),
    Index("ix_payment_disputes_merchant", "merchant_id", "seq"),
    Index("ix_payment_disputes_due", "status", "respond_by"),
)

payment_dispute_events = Table(
    "payment_dispute_events",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("dispute_id", String(32), nullable=False),
    # opened | chargeback | merchant_accept | merchant_contest | deadline | withdraw |
    # decide_consumer | decide_merchant | refund | decision_proposed
    Column("kind", String(24), nullable=False),
    Column("actor_type", String(16), nullable=False),  # customer | merchant | operator | system
    Column("actor_id", String(64), nullable=False),
    Column("statement", Text, nullable=True),
    Column("evidence_documents", JSONType, nullable=True),
    Column("details", JSONType, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_payment_dispute_events_dispute", "dispute_id", "seq"),
)
