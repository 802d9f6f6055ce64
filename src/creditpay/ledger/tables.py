"""Ledger tables (owner: ``creditpay.ledger``; no other module writes them).

Accounts carry running totals (debits/credits, posted/pending) maintained only by the ledger
engine in the same transaction as the transfers that move them, as TigerBeetle does; the
transfers are the immutable journal, and ``verify`` recomputes every total from it.
CHECK constraints repeat the balance-flag rules in the database as a second line of defence.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    String,
    Table,
    text,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = ["ledger_accounts", "ledger_transfers"]

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    # Caller-chosen stable name ("wallet:cust_42:CNY"); opening the same key twice with the
    # same fields returns the existing account (idempotent), with other fields it is refused.
    Column("key", String(128), nullable=False, unique=True),
    Column("currency", String(3), nullable=False),
    Column("code", String(64), nullable=False),  # kind of account, see docs/architecture.md
    Column("owner_type", String(32), nullable=False),
    Column("owner_id", String(64), nullable=False),
    Column("normal_side", String(6), nullable=False),
    Column("debits_must_not_exceed_credits", Boolean, nullable=False, default=False),
    Column("credits_must_not_exceed_debits", Boolean, nullable=False, default=False),
    Column("debits_posted", BigInteger, nullable=False, default=0),
    Column("credits_posted", BigInteger, nullable=False, default=0),
    Column("debits_pending", BigInteger, nullable=False, default=0),
    Column("credits_pending", BigInteger, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("normal_side IN ('debit', 'credit')", name="normal_side"),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0"
        " AND credits_pending >= 0", name="totals_non_negative"),
    CheckConstraint(
        "NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)",
        name="one_balance_flag"),
    CheckConstraint(
        "NOT debits_must_not_exceed_credits"
        " OR debits_posted + debits_pending <= credits_posted", name="debits_within_credits"),
    CheckConstraint(
        "NOT credits_must_not_exceed_debits"
        " OR credits_posted + credits_pending <= debits_posted", name="credits_within_debits"),
    Index("ix_ledger_accounts_owner", "owner_type", "owner_id"),
)

# kind: single (posted at once), pending (a hold), post (posts a hold, fully or partly),
# void (releases a hold), expire (releases a hold whose timeout passed).
ledger_transfers = Table(
    "ledger_transfers",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("id", String(128), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    # No foreign keys to ledger_accounts: the engine resolves both accounts under lock before
    # it writes (accounts are never deleted), verify_ledger checks every reference, and on
    # PostgreSQL the two per-row referential triggers cost ~40% of the journal's insert rate.
    Column("debit_account_id", BigInteger, nullable=False),
    Column("credit_account_id", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("pending_released_minor", BigInteger, nullable=False, default=0),
    Column("currency", String(3), nullable=False),
    Column("code", String(64), nullable=False),
    Column("pending_id", String(128), nullable=True),
    # Hold state, on pending rows only: pending -> posted | voided | expired.
    Column("hold_status", String(8), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("reference", String(128), nullable=True),
    Column("batch_id", String(128), nullable=True),
    Column("metadata", JSONType, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("kind IN ('single', 'pending', 'post', 'void', 'expire')", name="kind"),
    CheckConstraint("amount_minor >= 0 AND pending_released_minor >= 0", name="amounts"),
    CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
    # By account only: adding created_at to these keys costs more than half of the journal's
    # insert rate (measured; see bench/RESULTS.md), and as-of queries filter one account's
    # rows by time after the index lookup anyway.
    Index("ix_ledger_transfers_debit", "debit_account_id"),
    Index("ix_ledger_transfers_credit", "credit_account_id"),
    # Only open holds are indexed (partial index): the expiry sweep reads them, nothing else.
    Index("ix_ledger_transfers_open_holds", "expires_at",
          sqlite_where=text("hold_status = 'pending'"),
          postgresql_where=text("hold_status = 'pending'")),
)
