"""Tables owned by ``creditpay.payments``: wallet operations, the card rail simulator,
payment intents with their captures and refunds, credit offer quotes, consumer payment codes,
merchant settlements and webhook deliveries.

Money lives in the ledger; these rows record what was asked, its state and which ledger
transfers carried it (transfer ids are derived from the row id, so a retry is a replay).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = [
    "wallet_operations", "card_rail_tokens", "card_rail_operations", "payment_intents",
    "payment_captures", "payment_refunds", "credit_offer_quotes", "payment_codes",
    "merchant_settlements", "webhook_deliveries", "INTENT_CAPTURE_DUE_SQL",
    "INTENT_CONFIRM_DUE_SQL",
]

# The open intents the expiry sweep closes, as the predicates of its two partial indexes.
# The sweep's statement uses these very texts: a partial index is only chosen when the
# query states its predicate (with literals, not bound parameters, on SQLite).
INTENT_CAPTURE_DUE_SQL = "status = 'requires_capture'"
INTENT_CONFIRM_DUE_SQL = "status IN ('requires_confirmation', 'in_review')"

# Top-ups, withdrawals and P2P transfers. ``seq`` orders a customer's history (cursor).
wallet_operations = Table(
    "wallet_operations",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("customer_id", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # topup | withdrawal | p2p
    Column("status", String(16), nullable=False),  # pending | succeeded | failed
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("card_id", String(32), nullable=True),
    Column("counterparty_customer_id", String(32), nullable=True),
    Column("rail_operation_id", String(32), nullable=True),
    Column("failure_reason", String(64), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime(), nullable=True),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index("ix_wallet_operations_customer", "customer_id", "seq"),
    Index("ix_wallet_operations_counterparty", "counterparty_customer_id", "seq"),
)

# --- card rail simulator (stands in for the card network; its own tables) ---------------
card_rail_tokens = Table(
    "card_rail_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("behaviour", String(16), nullable=False),  # succeed | decline | delay
    Column("created_at", UtcDateTime(), nullable=False),
)

card_rail_operations = Table(
    "card_rail_operations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # charge | payout
    Column("token", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(64), nullable=False, unique=True),
    Column("outcome", String(16), nullable=False),  # succeeded | failed
    Column("status", String(16), nullable=False),  # pending | delivered
    Column("callback_due_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Index("ix_card_rail_operations_due", "status", "callback_due_at"),
)

payment_intents = Table(
    "payment_intents",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("merchant_id", String(32), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("scenario", String(16), nullable=False),
    Column("description", String(255), nullable=True),
    Column("line_items", JSONType, nullable=False),
    # requires_confirmation | requires_capture | succeeded | canceled | declined | expired
    Column("status", String(24), nullable=False),
    Column("customer_id", String(32), nullable=True),
    Column("funding", String(24), nullable=True),
    Column("card_id", String(32), nullable=True),
    Column("accepted_offer", JSONType, nullable=True),  # exact figures the consumer accepted
    Column("credit_authorisation_id", String(64), nullable=True),
    Column("risk_outcome", String(24), nullable=True),
    Column("risk_reasons", JSONType, nullable=True),
    Column("captured_minor", BigInteger, nullable=False, default=0),
    Column("refunded_minor", BigInteger, nullable=False, default=0),
    Column("capture_before", UtcDateTime(), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("confirmed_at", UtcDateTime(), nullable=True),
    # The hosted checkout (payments.checkout_links): where the shopper goes back to, and the
    # checkout link's token as a hash only (the token itself is a keyed MAC of the random
    # nonce, so the link can be given again without being stored).
    Column("return_url", String(1024), nullable=True),
    Column("checkout_nonce", String(32), nullable=True),
    Column("checkout_token_sha256", String(64), nullable=True),
    Column("checkout_expires_at", UtcDateTime(), nullable=True),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("captured_minor >= 0 AND captured_minor <= amount_minor",
                    name="captured_within_amount"),
    CheckConstraint("refunded_minor >= 0 AND refunded_minor <= captured_minor",
                    name="refunded_within_captured"),
    UniqueConstraint("merchant_id", "order_id"),
    Index("ix_payment_intents_merchant", "merchant_id", "seq"),
    Index("ix_payment_intents_customer", "customer_id", "seq"),
    # Daily screening counts (the early-warning job) read one day of intents.
    Index("ix_payment_intents_created", "created_at"),
    Index("ix_payment_intents_checkout_token", "checkout_token_sha256", unique=True),
    # The close-of-business expiry sweep (Intents.expire_due) looks up the open intents
    # past their time; without an index SQLite scanned every intent ever made, every day.
    # Partial indexes, one per branch of the sweep, and not one on status: SQLite plans
    # without statistics, and a plain status index was taken for "this customer's
    # succeeded payments" too, reading every succeeded payment of every customer (108 ms
    # a read at 180 days of the demo; migration 0049_payment_intents_due). The sweep
    # writes the statuses as literals, which a partial index needs to be chosen; each index
    # leads with status so that SQLite (no statistics) estimates the sweep's lookups as
    # narrow and does not prefer a scan in ``seq`` order for its ORDER BY ... LIMIT.
    Index("ix_payment_intents_capture_due", "status", "capture_before",
          sqlite_where=text(INTENT_CAPTURE_DUE_SQL), postgresql_where=text(INTENT_CAPTURE_DUE_SQL)),
    Index("ix_payment_intents_confirm_due", "status", "expires_at",
          sqlite_where=text(INTENT_CONFIRM_DUE_SQL), postgresql_where=text(INTENT_CONFIRM_DUE_SQL)),
)

payment_captures = Table(
    "payment_captures",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("intent_id", String(32), ForeignKey("payment_intents.id"), nullable=False),
    Column("merchant_id", String(32), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("credit_purchase_id", String(64), nullable=True),
    Column("business_date", Date, nullable=False),
    Column("settlement_id", String(32), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # A payment in a foreign currency (issue #21): this row's amount in the consumer's home
    # currency (CNY) at the accepted quote's rate; NULL for a home-currency payment.
    Column("home_amount_minor", BigInteger, nullable=True),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index("ix_payment_captures_settle", "merchant_id", "business_date"),
    Index("ix_payment_captures_intent", "intent_id"),
)

payment_refunds = Table(
    "payment_refunds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("intent_id", String(32), ForeignKey("payment_intents.id"), nullable=False),
    Column("merchant_id", String(32), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("business_date", Date, nullable=False),
    Column("settlement_id", String(32), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # A payment in a foreign currency (issue #21): this row's amount in the consumer's home
    # currency (CNY) at the accepted quote's rate; NULL for a home-currency payment.
    Column("home_amount_minor", BigInteger, nullable=True),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index("ix_payment_refunds_settle", "merchant_id", "business_date"),
    Index("ix_payment_refunds_intent", "intent_id"),
)

# The credit offers shown to a consumer for one intent, with the exact figures shown: the
# confirm step accepts only an offer from here, and copies its figures onto the intent.
credit_offer_quotes = Table(
    "credit_offer_quotes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("intent_id", String(32), ForeignKey("payment_intents.id"), nullable=False),
    Column("customer_id", String(32), nullable=False),
    Column("offers", JSONType, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_credit_offer_quotes_intent", "intent_id"),
)

# Consumer-presented payment codes: single use, short-lived; only the nonce's hash is kept.
payment_codes = Table(
    "payment_codes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), nullable=False),
    Column("nonce_hash", String(64), nullable=False, unique=True),
    Column("funding", String(24), nullable=False),
    Column("card_id", String(32), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("intent_id", String(32), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

merchant_settlements = Table(
    "merchant_settlements",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("merchant_id", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("business_date", Date, nullable=False),  # the day whose activity is settled
    Column("settled_on", Date, nullable=False),  # T+1
    Column("gross_minor", BigInteger, nullable=False),
    Column("refunds_minor", BigInteger, nullable=False),
    Column("fee_minor", BigInteger, nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("discount_rate", String(16), nullable=False),
    Column("capture_count", Integer, nullable=False),
    Column("refund_count", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("gross_minor - refunds_minor - fee_minor = net_minor", name="net_adds_up"),
    UniqueConstraint("merchant_id", "currency", "business_date"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),  # the event id the merchant de-duplicates on
    Column("merchant_id", String(32), nullable=False),
    Column("outbox_event_id", BigInteger, nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSONType, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(255), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    # The worker that is sending this attempt, until when (a lease): another worker takes the
    # row only once the lease has passed, i.e. its sender died (migration 0017).
    Column("claim_token", String(32), nullable=True),
    Column("claimed_until", UtcDateTime(), nullable=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)
