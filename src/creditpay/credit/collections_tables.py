"""Tables owned by ``creditpay.credit.collections``: collection cases, the actions taken on
them (reminders, DPD contacts, settlement offers, hand-overs), promises to pay, settlement
offers, hand-overs to an external agency and the daily runs.

Contact attempts themselves are logged by compliance (``collection_contacts``, written only
by :func:`creditpay.protection.collections_rules.attempt_contact`); these tables record what
the workflow decided and which step a contact served.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = ["collection_cases", "collection_actions", "collection_promises",
           "collection_settlements", "collection_handovers", "collection_runs"]

# One case per delinquency episode of a credit account; at most one open case per account
# (enforced by the run, which serialises on the run row).
collection_cases = Table(
    "collection_cases",
    metadata,
    Column("case_id", String(32), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(8), nullable=False),  # open | closed
    Column("opened_on", Date, nullable=False),
    Column("dpd_at_open", Integer, nullable=False),
    Column("dpd", Integer, nullable=False),  # as last seen by a run
    Column("bucket", String(4), nullable=False),
    Column("closed_on", Date, nullable=True),
    Column("close_reason", String(16), nullable=True),  # paid | written_off | handed_over
    Column("strategy_code", String(48), nullable=False),
    Column("strategy_version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("status IN ('open', 'closed')", name="status"),
    CheckConstraint("(status = 'closed') = (close_reason IS NOT NULL)", name="closed_has_reason"),
    Index("ix_collection_cases_account", "account_id", "status"),
    Index("ix_collection_cases_open", "status", "currency"),
)

# One row per strategy step that fell due for an account (``action_key`` makes it once only):
# pending until a contact is allowed (refusals are retried on later runs, at most one attempt
# per business date), then sent / done; superseded by a later step, or expired.
collection_actions = Table(
    "collection_actions",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("action_key", String(160), nullable=False, unique=True),
    Column("case_id", String(32), nullable=True),  # reminders come before any case
    Column("account_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("step_code", String(48), nullable=False),
    Column("kind", String(16), nullable=False),  # reminder|contact|settlement_offer|hand_over
    Column("channel", String(16), nullable=True),
    Column("template_code", String(64), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_rule", String(48), nullable=True),
    Column("last_attempt_on", Date, nullable=True),
    Column("completed_at", UtcDateTime(), nullable=True),
    Column("strategy_version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("status IN ('pending', 'sent', 'done', 'superseded', 'expired')",
                    name="status"),
    CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    Index("ix_collection_actions_case", "case_id", "status"),
    Index("ix_collection_actions_account", "account_id", "status"),
)

collection_promises = Table(
    "collection_promises",
    metadata,
    Column("promise_id", String(32), primary_key=True),
    Column("case_id", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("promised_date", Date, nullable=False),
    Column("owed_at_promise_minor", BigInteger, nullable=False),  # payoff when promised
    Column("staff_id", String(64), nullable=False),
    Column("status", String(12), nullable=False),  # open | kept | broken | cancelled
    Column("created_on", Date, nullable=False),
    Column("resolved_on", Date, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("status IN ('open', 'kept', 'broken', 'cancelled')", name="status"),
    Index("ix_collection_promises_case", "case_id", "status"),
)

collection_settlements = Table(
    "collection_settlements",
    metadata,
    Column("settlement_id", String(32), primary_key=True),
    Column("case_id", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("owed_minor", BigInteger, nullable=False),  # payoff on the offer date
    Column("principal_minor", BigInteger, nullable=False),
    Column("principal_floor_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("settle_minor", BigInteger, nullable=False),  # owed - discount
    Column("expires_on", Date, nullable=False),
    Column("staff_id", String(64), nullable=False),
    Column("status", String(12), nullable=False),  # offered | expired | withdrawn
    Column("strategy_version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("discount_minor > 0 AND settle_minor >= principal_floor_minor",
                    name="discount_bounded"),
    CheckConstraint("status IN ('offered', 'expired', 'withdrawn')", name="status"),
    Index("ix_collection_settlements_case", "case_id", "status"),
)

collection_handovers = Table(
    "collection_handovers",
    metadata,
    Column("handover_id", String(32), primary_key=True),
    Column("case_id", String(32), nullable=False, unique=True),
    Column("account_id", String(64), nullable=False),
    Column("agency_name", String(128), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("owed_minor", BigInteger, nullable=False),
    Column("handed_over_on", Date, nullable=False),
    Column("template_code", String(64), nullable=False),
    Column("strategy_version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_collection_handovers_account", "account_id"),
)

collection_runs = Table(
    "collection_runs",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(8), nullable=False),  # running | done
    Column("report", JSONType, nullable=False),
    Column("strategy_code", String(48), nullable=False),
    Column("strategy_version", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    CheckConstraint("status IN ('running', 'done')", name="status"),
    Index("ix_collection_runs_date", "business_date", "currency", unique=True),
)
