"""Tables owned by ``creditpay.credit.pauses``: a credit account's pauses while a purchase it
financed is disputed (issue #20).

One row per pause: the account, the purchase and the amount disputed, the day it began, and,
once it ended, the day it ended, how many days every unpaid installment's due date moved
and how it ended. At most one open pause per plan (checked by :func:`creditpay.credit.pauses
.pause_purchase` under the account's lock). A line may have several open rows (one per
disputed purchase), each holding its ``held_minor`` in the line's disputed bucket.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Date, Index, Integer, String, Table

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

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
    # The line's disputed bucket (0044_line_disputes): ``line`` for a purchase on the
    # revolving line, whose disputed amount is held out of the line's balances (held_minor:
    # the principal held, at most the amount disputed) instead of pausing the account.
    Column("account_kind", String(8), nullable=False, server_default="plan"),
    Column("held_minor", BigInteger, nullable=True),
    # Where the hold took it (pause_core.LineHold): {"unbilled_minor", "cuts": [[statement
    # item number, principal cut, minimum lowered by, the item's due date]]}: the statement
    # showing that item shows the cut as disputed and its minimum without it.
    Column("held_from", JSONType, nullable=True),
    CheckConstraint("reason IN ('dispute')", name="reason"),
    CheckConstraint("outcome IS NULL OR outcome IN ('resumed', 'refunded')", name="outcome"),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("account_kind IN ('plan', 'line')", name="account_kind"),
    CheckConstraint("held_minor IS NULL OR (held_minor >= 0 AND held_minor <= amount_minor)",
                    name="held_bounded"),
    # The close of business and collections look up the open pauses by account.
    Index("ix_credit_pauses_open", "account_seq", "resumed_on"),
)
