"""Tables owned by consumer protection (docs/consumer-protection.md).

One writer per table: ``consent_records`` (:mod:`creditpay.protection.consent`),
``disclosure_acceptances`` (:mod:`creditpay.protection.disclosure`), ``complaints``
(:mod:`creditpay.protection.complaints`), ``collection_contacts``
(:mod:`creditpay.protection.collections_rules`). No foreign keys to other domains' tables:
each domain's migrations branch off revision 0002 independently, and ids are references.
No column holds plaintext personal data: customers are referenced by id, contact channels by
blind index.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from creditpay.db.metadata import BigIntPK, UtcDateTime, metadata

__all__ = [
    "consent_records",
    "disclosure_acceptances",
    "complaints",
    "collection_contacts",
    "CONSUMER_TABLES",
]

# Append-only: a grant and a revocation are both new rows, so the full history is kept and
# the current state of (customer, purpose, partner) is its latest row.
consent_records = Table(
    "consent_records",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=True, unique=True),  # idempotency key
    Column("customer_id", String(64), nullable=False),
    Column("purpose", String(48), nullable=False),
    # Partner lender the data may be shared with; '' for purposes without a partner, so
    # the (customer, purpose, partner) key has no NULL in it on either store.
    Column("partner_id", String(64), nullable=False),
    Column("partner_name", String(128), nullable=False),  # as named in the text shown
    Column("action", String(8), nullable=False),
    Column("text_version", Integer, nullable=False),  # version of the text shown
    Column("language", String(8), nullable=False),
    Column("text_sha256", String(64), nullable=False),  # SHA-256 of the exact text shown
    Column("channel", String(16), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),  # business time
    CheckConstraint("action IN ('grant', 'revoke')", name="action_known"),
    Index("ix_consent_records_key", "customer_id", "purpose", "partner_id", "id"),
)

# One acceptance per offer: the SHA-256 of the exact key-facts HTML shown, and the bytes
# themselves (figures only, no personal data) so the accepted document can be produced later
# independently of template or library versions.
disclosure_acceptances = Table(
    "disclosure_acceptances",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("offer_id", String(64), nullable=False, unique=True),
    Column("customer_id", String(64), nullable=False),
    Column("language", String(8), nullable=False),
    Column("template_version", String(32), nullable=False),
    Column("document_sha256", String(64), nullable=False),
    Column("document_html", Text, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("accepted_at", UtcDateTime(), nullable=False),
    Index("ix_disclosure_acceptances_customer", "customer_id", "id"),
)

complaints = Table(
    "complaints",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("request_id", String(64), nullable=True, unique=True),  # idempotency key
    Column("customer_id", String(64), nullable=False),
    Column("subject_type", String(32), nullable=False),  # account, loan, payment, ...
    Column("subject_id", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("acknowledge_due_at", UtcDateTime(), nullable=False),
    Column("resolve_due_at", UtcDateTime(), nullable=False),
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("escalation_level", Integer, nullable=False),
    Column("escalated_at", UtcDateTime(), nullable=True),
    Column("outcome", String(24), nullable=True),
    Column("remedy_minor", BigInteger, nullable=True),
    Column("remedy_currency", String(3), nullable=True),
    Column("sla_policy_version", Integer, nullable=False),
    CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status_known"),
    CheckConstraint("(status = 'resolved') = (resolved_at IS NOT NULL AND outcome IS NOT NULL)",
                    name="resolved_has_outcome"),
    CheckConstraint("escalation_level >= 0", name="escalation_non_negative"),
    Index("ix_complaints_status_due", "status", "resolve_due_at"),
    Index("ix_complaints_customer", "customer_id", "opened_at"),
    Index("ix_complaints_opened", "opened_at"),
)

# Every collections contact attempt, allowed or refused, with the rule that decided it.
collection_contacts = Table(
    "collection_contacts",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("collector_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),  # phone | sms | app_push | email | letter
    Column("channel_ref", String(64), nullable=False),  # blind index of the number/address
    Column("recipient", String(16), nullable=False),  # debtor | third_party
    Column("attempted_at", UtcDateTime(), nullable=False),  # business time, UTC
    Column("time_zone", String(64), nullable=False),
    Column("local_date", String(10), nullable=False),  # consumer's calendar day
    Column("allowed", Boolean, nullable=False),
    Column("rule", String(48), nullable=False),  # the rule that refused, or 'allowed'
    Column("policy_version", Integer, nullable=False),
    Index("ix_collection_contacts_day", "customer_id", "local_date", "allowed"),
)

CONSUMER_TABLES = (consent_records, disclosure_acceptances, complaints, collection_contacts)
