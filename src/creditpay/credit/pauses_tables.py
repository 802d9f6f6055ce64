"""Tables owned by ``creditpay.credit.pauses``: a credit account's pauses while a purchase it
financed is disputed (issue #20).

One row per pause: the account, the purchase and the amount disputed, the day it began, and,
once it ended, the day it ended, how many days every unpaid installment's due date moved
and how it ended. At most one open pause per account (checked by :func:`creditpay.credit.pauses
.pause_purchase` under the account's lock).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Date, Index, Integer, String, Table

from creditpay.db.metadata import BigIntPK, UtcDateTime, metadata

__all__ = ["credit_pauses"]

credit_pauses = Table(
    "credit_pauses",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    # The caller's key (a dispute id): a retry with the same key is a replay.
    Column("pause_id", String(64), nullable=False, unique=True),
    Column("account_id", String(64), nullable=False),
    Column("account_seq", BigInteger, nullable=False),
    Column("purchase_id", String(64), nullable=False),
    Column("reason", String(16), nullable=False),  # dispute
    Column("amount_minor", BigInteger, nullable=False),
    Column("paused_on", Date, nullable=False),
    Column("resumed_on", Date, nullable=True),
    Column("days_shifted", Integer, nullable=True),
    Column("outcome", String(16), nullable=True),  # resumed | refunded
    Column("created_at", UtcDateTime(), nullable=False),
    Column("resumed_at", UtcDateTime(), nullable=True),
    CheckConstraint("reason IN ('dispute')", name="reason"),
    CheckConstraint("outcome IS NULL OR outcome IN ('resumed', 'refunded')", name="outcome"),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    # The close of business and collections look up the open pauses by account.
    Index("ix_credit_pauses_open", "account_seq", "resumed_on"),
)
