"""Tables owned by risk decisions: models, policies, bureau pulls, decisions, limit reviews.

Only :mod:`creditpay.risk.decisions` and :mod:`creditpay.risk.bureau` write them. Decisions,
pulls and review actions are append-only records an auditor reads; models and policies are
stored whole (not as file paths) so a decision can be replayed years later from the database
alone.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = [
    "bureau_pulls",
    "bureau_submissions",
    "bureau_submission_records",
    "bureau_tradelines",
    "credit_decision_histories",
    "credit_decisions",
    "credit_policies",
    "credit_referral_reviews",
    "credit_policy_activations",
    "limit_review_actions",
    "risk_model_assignments",
    "risk_models",
]

# Model registry: every registered artifact, its files' contents (JSON / LightGBM text, never
# pickle) and provenance. (name, version) is the identity decisions record.
risk_models = Table(
    "risk_models",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),  # "application", "behaviour"
    Column("version", Integer, nullable=False),  # 1, 2, ... per name
    Column("kind", String(16), nullable=False),  # "scorecard" | "gbm"
    Column("artifact_sha256", String(64), nullable=False),  # of the manifest (lists files)
    Column("training_data_sha256", String(64), nullable=True),
    Column("features", JSONType, nullable=False),
    Column("metrics", JSONType, nullable=False),
    Column("author", String(128), nullable=False),
    Column("manifest", JSONType, nullable=False),
    Column("files", JSONType, nullable=False),  # file name -> text content
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("registered_by", String(128), nullable=False),
    UniqueConstraint("name", "version"),
    UniqueConstraint("name", "artifact_sha256"),
)

# Champion/challenger history, append-only: the newest row per name is in force; a rollback
# appends the assignment it returns to, so the trail shows who changed what and why.
risk_model_assignments = Table(
    "risk_model_assignments",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("champion_version", Integer, nullable=False),
    Column("challenger_version", Integer, nullable=True),
    Column("challenger_share_bps", Integer, nullable=False),  # 0..10000 of applications
    Column("assigned_at", UtcDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", String(255), nullable=False),
    Index("ix_risk_model_assignments_current", "name", "id"),
)

# Policy documents by content hash: what a decision records and what replay loads.
credit_policies = Table(
    "credit_policies",
    metadata,
    Column("content_hash", String(64), primary_key=True),
    Column("policy_kind", String(32), nullable=False),  # "application" | "limit_review"
    Column("policy_id", String(64), nullable=False),
    Column("version", String(32), nullable=False),
    Column("document", JSONType, nullable=False),
    Column("stored_at", UtcDateTime(), nullable=False),
    # One content per (policy, version): a changed document must carry a new version.
    UniqueConstraint("policy_id", "version"),
)

# Activation history (hot swap): the newest row per kind is the policy in force.
credit_policy_activations = Table(
    "credit_policy_activations",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("policy_kind", String(32), nullable=False),
    Column("content_hash", String(64), ForeignKey("credit_policies.content_hash"),
           nullable=False),
    Column("activated_at", UtcDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Index("ix_credit_policy_activations_current", "policy_kind", "id"),
)

bureau_pulls = Table(
    "bureau_pulls",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("bureau", String(64), nullable=False),
    Column("consent_reference", String(128), nullable=True),
    Column("pulled_at", UtcDateTime(), nullable=False),
    Column("report", JSONType, nullable=False),
    Column("report_sha256", String(64), nullable=False),
    # "Who looked at my credit file?" is a question the customer may ask.
    Index("ix_bureau_pulls_customer", "customer_id", "id"),
)

# Credit-bureau reporting (furnishing; creditpay.reporting.bureau_reporting through
# creditpay.risk.decisions.bureau_furnishing): each monthly submission the platform made to a
# bureau (original, or corrections of a month already reported) and every record in it, so a
# re-run of a month reports only what changed since, and an auditor sees what was sent.
# Append-only except ``status`` (the bureau's answer, set in the same transaction).
bureau_submissions = Table(
    "bureau_submissions",
    metadata,
    Column("submission_id", String(32), primary_key=True),  # BR<YYYYMM>-<NNN>
    Column("month", String(7), nullable=False),  # YYYY-MM reported
    Column("sequence", Integer, nullable=False),  # 1 the original, 2.. corrections
    Column("kind", String(12), nullable=False),  # original | correction
    Column("bureau", String(64), nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("corrections", Integer, nullable=False),  # records "C" or "D"
    Column("checksum", String(64), nullable=False),  # SHA-256 of the CSV file's bytes
    Column("file_name", String(64), nullable=False),
    Column("status", String(12), nullable=False),  # accepted | rejected
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("month", "sequence"),
    CheckConstraint("kind IN ('original', 'correction')", name="kind"),
    CheckConstraint("status IN ('accepted', 'rejected')", name="status"),
)

bureau_submission_records = Table(
    "bureau_submission_records",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("submission_id", String(32), ForeignKey("bureau_submissions.submission_id"),
           nullable=False),
    Column("month", String(7), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("correction_indicator", String(1), nullable=False),  # "" | C | D
    Column("original_submission_id", String(32), nullable=True),
    Column("record", JSONType, nullable=False),  # the TradelineRecord's fields
    Column("content_sha256", String(64), nullable=False),
    # A re-run reads the latest record of each account of the month.
    Index("ix_bureau_submission_records_month", "month", "account_id", "id"),
)

# The simulated bureau's own store (creditpay.risk.bureau.SimulatedBureau): what it ingested
# from the platform's submissions, one row per account and month (a correction replaces the
# month's row; a deletion marks it deleted). Its reports add these tradelines to the
# synthetic part for other lenders.
bureau_tradelines = Table(
    "bureau_tradelines",
    metadata,
    Column("bureau", String(32), primary_key=True),
    Column("account_id", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("record", JSONType, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("submission_id", String(32), nullable=False),
    Column("ingested_at", UtcDateTime(), nullable=False),
    Index("ix_bureau_tradelines_customer", "bureau", "customer_id", "month"),
)

# The platform histories decisions used, by content: the SHA-256 of ``document`` (the
# canonical columnar JSON text of :func:`creditpay.risk.features.compute.history_document`)
# is the key a decision's inputs name, so an auditor can check the text against the digest,
# and a history decided on twice (a re-application, a retry) is stored once. Append-only.
credit_decision_histories = Table(
    "credit_decision_histories",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("document", Text, nullable=False),
    Column("stored_at", UtcDateTime(), nullable=False),
    Index("ix_credit_decision_histories_customer", "customer_id"),
)

# One row per credit application decision: everything needed to explain and replay it.
credit_decisions = Table(
    "credit_decisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("application_id", String(64), nullable=False, unique=True),
    Column("customer_id", String(64), nullable=False),
    Column("product_code", String(32), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),  # approve | decline | refer
    Column("grade", String(1), nullable=True),
    Column("score", Float, nullable=True),
    Column("pd", Float, nullable=True),
    Column("limit_minor", BigInteger, nullable=True),
    Column("apr_bps", Integer, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("model_name", String(64), nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("model_role", String(16), nullable=False),  # champion | challenger
    Column("policy_id", String(64), nullable=False),
    Column("policy_version", String(32), nullable=False),
    Column("policy_hash", String(64), ForeignKey("credit_policies.content_hash"),
           nullable=False),
    Column("bureau_pull_id", BigInteger, ForeignKey("bureau_pulls.id"), nullable=True),
    Column("request_sha256", String(64), nullable=False),
    Column("inputs", JSONType, nullable=False),
    Column("features", JSONType, nullable=False),
    Column("model_output", JSONType, nullable=False),
    Column("policy_output", JSONType, nullable=False),
    Column("reasons", JSONType, nullable=False),
    # Covering for the dashboard's bad rate by grade, which looks the few bad customers up
    # here (risk.decisions.portfolio_queries.approved_customers_by_grade).
    Index("ix_credit_decisions_customer", "customer_id", "decided_at", "currency", "grade",
          "outcome", "product_code"),
    # The nightly early-warning counts read one day of decisions.
    Index("ix_credit_decisions_decided_at", "decided_at"),
    # The dashboard's grades view counts per grade and outcome, and distinct customers per
    # grade, reading only these columns in this order (risk.decisions.portfolio_queries):
    # one index range per grade, no table rows, no sort.
    Index("ix_credit_decisions_grade", "currency", "grade", "outcome", "customer_id",
          "decided_at", "product_code"),
)

# The verdict a person gave a referred decision (risk.decisions.referrals): at most one per
# decision, append-only. The decision row keeps saying "refer"; this says what came after.
credit_referral_reviews = Table(
    "credit_referral_reviews",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("decision_id", String(32), ForeignKey("credit_decisions.id"), nullable=False,
           unique=True),
    Column("verdict", String(16), nullable=False),  # approve | decline
    Column("limit_minor", BigInteger, nullable=True),  # approve: granted limit
    Column("apr_bps", Integer, nullable=True),  # approve: the policy's price for the grade
    Column("reason_code", String(32), nullable=True),  # decline: REVIEW_REASONS code
    Column("reviewer_id", String(64), nullable=False),
    Column("reviewed_at", UtcDateTime(), nullable=False),
    CheckConstraint("verdict IN ('approve', 'decline')", name="verdict"),
)

# Post-loan limit review: one action per account per review date, applied later through the
# credit servicing facade (applied_at set when it was).
limit_review_actions = Table(
    "limit_review_actions",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("review_date", Date, nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # increase | decrease | freeze | keep
    Column("current_limit_minor", BigInteger, nullable=False),
    Column("new_limit_minor", BigInteger, nullable=False),
    Column("score", Float, nullable=False),
    Column("pd", Float, nullable=False),
    Column("grade", String(1), nullable=False),
    Column("reasons", JSONType, nullable=False),
    Column("features", JSONType, nullable=False),
    Column("model_name", String(64), nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("policy_hash", String(64), ForeignKey("credit_policies.content_hash"),
           nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("applied_at", UtcDateTime(), nullable=True),
    UniqueConstraint("review_date", "account_id"),
    Index("ix_limit_review_actions_pending", "review_date", "applied_at"),
)
