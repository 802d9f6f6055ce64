"""Tables owned by fraud case management (:mod:`creditpay.risk.fraud.cases`).

``fraud_cases`` is the analysts' queue: one case per held subject (a payment intent put in
review by screening), with its priority, SLA, assignment and verdict. ``fraud_labels`` is the
append-only record of what turned out to be fraud (or not), from analyst verdicts,
chargebacks and consumer fraud reports: the next training set is read from it.
Only :mod:`creditpay.risk.fraud.cases` writes them.

``fraud_screenings`` is the append-only journal of every screening (written by
:mod:`creditpay.risk.fraud.records` in the screened transaction): the decision, what it was
made from, and the inputs that rebuild the streaming feature state after a restart.
``fraud_rule_sets`` holds the versioned rules documents and which one is active
(:mod:`creditpay.risk.fraud.rule_sets`).

``fraud_entity_state`` holds the streaming features' state, one compact row per entity
(:mod:`creditpay.risk.fraud.entity_state`), read and written by the screened payment's
transaction (:mod:`creditpay.risk.fraud.state_store`) so every API worker sees the same
features.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = ["fraud_cases", "fraud_labels", "fraud_screenings", "fraud_rule_sets",
           "fraud_entity_state"]

fraud_cases = Table(
    "fraud_cases",
    metadata,
    Column("id", String(32), primary_key=True),  # fcase_ + 20 hex
    Column("subject_type", String(32), nullable=False),  # "payment_intent"
    Column("subject_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=True),
    Column("merchant_id", String(64), nullable=True),
    Column("device_id", String(128), nullable=True),
    Column("amount_minor", BigInteger, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("score", Float, nullable=True),  # screening model's fraud probability, 0..1
    Column("reasons", JSONType, nullable=False),  # screening reasons that held the subject
    Column("occurred_at", UtcDateTime(), nullable=False),  # the transaction's time
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("priority", Integer, nullable=False),  # 1 (most urgent) .. 3
    Column("sla_due_at", UtcDateTime(), nullable=False),
    Column("status", String(12), nullable=False),
    Column("assignee", String(64), nullable=True),
    Column("assigned_at", UtcDateTime(), nullable=True),
    Column("verdict", String(12), nullable=True),
    # The analyst's note's reference in the notes vault (compliance.notes), never the text;
    # notes written before the vault held their text here.
    Column("note", String(1000), nullable=True),
    Column("resolved_by", String(64), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("payment_action", String(16), nullable=True),  # approved | declined | not_in_review
    CheckConstraint("status IN ('open', 'assigned', 'resolved')", name="status"),
    CheckConstraint("verdict IS NULL OR verdict IN ('fraud', 'legitimate', 'unsure')",
                    name="verdict"),
    CheckConstraint("priority BETWEEN 1 AND 3", name="priority"),
    # One case per subject: opening is idempotent.
    UniqueConstraint("subject_type", "subject_id"),
    # The queue: by status, most urgent first, then the nearest SLA.
    Index("ix_fraud_cases_queue", "status", "priority", "sla_due_at", "id"),
    Index("ix_fraud_cases_resolved", "resolved_at"),
)

fraud_labels = Table(
    "fraud_labels",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("source", String(24), nullable=False),
    # Idempotency per source: the case id, the chargeback id, the consumer report id.
    Column("reference", String(64), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=True),
    Column("merchant_id", String(64), nullable=True),
    Column("device_id", String(128), nullable=True),
    Column("transaction_at", UtcDateTime(), nullable=False),
    Column("labelled_at", UtcDateTime(), nullable=False),
    Column("is_fraud", Boolean, nullable=False),
    Column("amount_minor", BigInteger, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("reason_code", String(32), nullable=True),
    Column("recorded_by", String(64), nullable=False),
    CheckConstraint("source IN ('analyst_verdict', 'chargeback', 'consumer_report')",
                    name="source"),
    UniqueConstraint("source", "reference"),
    Index("ix_fraud_labels_since", "labelled_at", "id"),
    Index("ix_fraud_labels_subject", "subject_type", "subject_id"),
)

fraud_screenings = Table(
    "fraud_screenings",
    metadata,
    # Insertion order; the streaming-state snapshot records the highest id it includes.
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subject_type", String(16), nullable=False),  # payment | p2p
    Column("subject_id", String(64), nullable=False),  # payment intent / wallet operation id
    Column("customer_id", String(128), nullable=False),
    Column("device_id", String(128), nullable=False),
    Column("merchant_id", String(128), nullable=False),  # the payee for p2p
    Column("terminal_id", String(128), nullable=True),
    Column("card_id", String(128), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("scenario", String(16), nullable=False),
    # The event's time as screened (unix seconds of it feed the streaming features).
    Column("screened_at", UtcDateTime(), nullable=False),
    Column("features", JSONType, nullable=False),  # name -> value, null = not applicable
    Column("rules_hit", JSONType, nullable=False),
    Column("score", Float, nullable=False),  # model fraud probability, 0..1
    Column("decision", String(12), nullable=False),
    Column("reasons", JSONType, nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("features_version", String(64), nullable=False),
    Column("rules_version", String(128), nullable=False),
    # {"version", "challenge", "review", "decline"}: the score thresholds row applied.
    Column("thresholds", JSONType, nullable=False),
    CheckConstraint("subject_type IN ('payment', 'p2p')", name="subject_type"),
    CheckConstraint("decision IN ('approve', 'challenge', 'review', 'decline')",
                    name="decision"),
    Index("ix_fraud_screenings_subject", "subject_id", "id"),
    # The dashboard's fraud view counts by month; covering, so it never reads the JSON.
    Index("ix_fraud_screenings_time", "screened_at", "currency", "decision", "amount_minor"),
)

fraud_rule_sets = Table(
    "fraud_rule_sets",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("version", String(128), nullable=False, unique=True),
    Column("content", JSONType, nullable=False),  # the rules document as loaded
    Column("sha256", String(64), nullable=False),  # of the canonical JSON of ``content``
    Column("author", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("activated_at", UtcDateTime(), nullable=True),  # last activation
    Column("activated_by", String(64), nullable=True),
    # Increases with every activation; the active set has the highest. Screeners poll
    # max(activation_seq) as their cheap "has the active version changed" marker.
    Column("activation_seq", BigInteger, nullable=True, unique=True),
)

fraud_entity_state = Table(
    "fraud_entity_state",
    metadata,
    # The feature configuration's version (``FeatureConfig.version``): a model with other
    # features starts its own rows and never misreads these.
    Column("features_version", String(32), nullable=False),
    # stable_id_hash of the entity id (63 bits): a fixed-size key whatever the id.
    Column("entity_hash", BigInteger, nullable=False),
    Column("kind", SmallInteger, nullable=False),  # index in ENTITY_KINDS (0 = customer)
    Column("state", LargeBinary, nullable=False),  # the row's fixed layout; b"" = none yet
    Column("version", BigInteger, nullable=False),  # +1 per write (optimistic check)
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("features_version", "entity_hash", "kind"),
    CheckConstraint("kind BETWEEN 0 AND 4", name="kind"),
)
