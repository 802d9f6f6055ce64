"""Tables owned by ``creditpay.credit.hardship``: consumers' hardship requests (the option
they accepted, with the key-facts document they read) and the arrangements that run on their
accounts (docs/hardship.md).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from creditpay.db.metadata import JSONType, UtcDateTime, metadata

__all__ = ["credit_hardship_requests", "credit_hardship_arrangements"]

# One row per request: the option accepted (its figures as disclosed), the document's hash
# and bytes, and the decision (approved within policy, referred to an operator, or declined
# by one).
credit_hardship_requests = Table(
    "credit_hardship_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("product_code", String(48), nullable=False),
    Column("product_version", Integer, nullable=False),
    Column("reason", String(16), nullable=False),
    # The consumer's own words (optional) and an operator's note are personal free text:
    # kept encrypted in the notes vault (platform.notes), erased with the customer's data;
    # the request holds only their references.
    Column("statement_note_id", String(32), nullable=True),
    Column("option_id", String(64), nullable=False),
    Column("option_kind", String(16), nullable=False),
    Column("cycles", Integer, nullable=False),
    Column("annual_rate_micro", BigInteger, nullable=False),
    Column("figures", JSONType, nullable=False),  # the option as disclosed
    Column("language", String(8), nullable=False),
    Column("key_facts_sha256", String(64), nullable=False),
    Column("key_facts_html", Text, nullable=False),  # the accepted document, byte for byte
    Column("status", String(10), nullable=False),  # approved | referred | declined
    Column("decided_by", String(64), nullable=True),  # "policy" or the operator's id
    Column("decision_note_id", String(32), nullable=True),
    Column("dpd_at_request", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    CheckConstraint("status IN ('approved', 'referred', 'declined')", name="status"),
    CheckConstraint("option_kind IN ('payment_holiday', 'reamortisation', 'reduced_rate')",
                    name="option_kind"),
    Index("ix_credit_hardship_requests_customer", "customer_id", "created_at"),
    Index("ix_credit_hardship_requests_status", "status", "created_at"),
)

# One row per approved request: the arrangement running on the account until its new
# schedule is repaid (completed) or a new installment is missed beyond the grace (broken).
credit_hardship_arrangements = Table(
    "credit_hardship_arrangements",
    metadata,
    Column("arrangement_id", String(64), primary_key=True),  # = the request's id
    Column("account_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("option_kind", String(16), nullable=False),
    Column("cycles", Integer, nullable=False),
    Column("started_on", Date, nullable=False),
    Column("first_number", Integer, nullable=False),  # first installment of the new schedule
    Column("last_due_date", Date, nullable=False),
    Column("broken_after_days", Integer, nullable=False),
    # A holiday with its interest waived: the account accrues at 0 until this date, then at
    # restore_rate_micro again (rate_restored once done by the close of business).
    Column("rate_restore_on", Date, nullable=True),
    Column("restore_rate_micro", BigInteger, nullable=True),
    Column("rate_restored", Boolean, nullable=False),
    Column("status", String(10), nullable=False),  # active | completed | broken
    Column("ended_on", Date, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("status IN ('active', 'completed', 'broken')", name="status"),
    Index("ix_credit_hardship_arrangements_account", "account_id", "status"),
    Index("ix_credit_hardship_arrangements_status", "status"),
)
