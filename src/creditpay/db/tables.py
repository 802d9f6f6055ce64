"""Tables owned by the storage layer itself: the transactional outbox and idempotency keys."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = ["outbox_events", "idempotency_keys"]

# Every state change that others may react to (webhooks, stream consumers, projections)
# appends a row here in the same transaction; a relay publishes rows in id order and sets
# published_at. Kafka Connect / Debezium can tail this table as it is.
outbox_events = Table(
    "outbox_events",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),
    Column("aggregate_type", String(32), nullable=False),
    Column("aggregate_id", String(128), nullable=False),
    Column("payload", JSONType, nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("published_at", UtcDateTime(), nullable=True),
    Index("ix_outbox_events_unpublished", "published_at", "id"),
)

# Stored results of mutating API calls and CLI commands, so a retry with the same key returns
# the first result (DESIGN.md invariant 3). ``scope`` separates callers (a merchant's key, a
# customer, an operator) so one caller cannot read another's stored response.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("scope", String(128), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response", JSONType, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime(), nullable=True),
    Column("size_bytes", BigInteger, nullable=False, default=0),
    UniqueConstraint("scope", "key"),
)
