"""Tables owned by risk early warning (:mod:`creditpay.risk.early_warning`).

Only :mod:`creditpay.risk.early_warning.job` and :mod:`creditpay.risk.early_warning.storage`
write them:

* ``ew_metric_values``: one value per business day, metric and segment, with what it was
  computed from (numerator / denominator; NULL value = not measurable that day, e.g. too
  few cases);
* ``ew_alerts``: what a monitor raised, its evidence and what operators did about it;
* ``ew_runs``: one row per business day the job ran (a re-run of that day changes nothing);
* ``ew_bucket_snapshots``: the delinquency bucket of every account with a balance at the
  end of the latest business day run (one compressed Arrow table per day, the previous day
  pruned), which the next day's roll rates are computed against.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = ["ew_metric_values", "ew_alerts", "ew_runs", "ew_bucket_snapshots",
           "ALERT_STATUSES"]

ALERT_STATUSES = ("open", "acknowledged", "actioned", "dismissed")

ew_metric_values = Table(
    "ew_metric_values",
    metadata,
    Column("day", Date, primary_key=True),
    Column("metric", String(96), primary_key=True),  # approval_rate, feature_psi:age_years
    Column("segment", String(96), primary_key=True),  # all | product:<code> | grade:<A-E>
    Column("value", Float, nullable=True),  # NULL: not measurable that day
    Column("numerator", Float, nullable=True),
    Column("denominator", Float, nullable=True),
    Column("computed_at", UtcDateTime(), nullable=False),
    # The monitors read one series at a time, newest days last.
    Index("ix_ew_metric_values_series", "metric", "segment", "day"),
)

ew_alerts = Table(
    "ew_alerts",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("monitor", String(64), nullable=False),
    Column("metric", String(96), nullable=False),
    Column("segment", String(96), nullable=False),
    Column("day", Date, nullable=False),
    Column("severity", String(8), nullable=False),
    Column("value", Float, nullable=False),
    Column("statistic", Float, nullable=False),  # what was compared (value or EWMA)
    Column("centre", Float, nullable=False),
    Column("lower_bound", Float, nullable=False),
    Column("upper_bound", Float, nullable=False),
    Column("sigmas", Float, nullable=False),
    Column("method", String(12), nullable=False),
    Column("playbook", String(32), nullable=False),
    Column("evidence", JSONType, nullable=False),
    Column("status", String(12), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("acknowledged_by", String(64), nullable=True),
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    Column("actioned_by", String(64), nullable=True),
    Column("actioned_at", UtcDateTime(), nullable=True),
    Column("action", JSONType, nullable=True),  # the playbook execution record
    Column("dismissed_by", String(64), nullable=True),
    Column("dismissed_at", UtcDateTime(), nullable=True),
    Column("dismiss_reason", String(500), nullable=True),
    CheckConstraint("status IN ('open', 'acknowledged', 'actioned', 'dismissed')",
                    name="status"),
    CheckConstraint("severity IN ('warning', 'critical')", name="severity"),
    # One alert per monitor, series and day: a re-run raises nothing twice.
    UniqueConstraint("monitor", "metric", "segment", "day"),
    Index("ix_ew_alerts_status", "status", "seq"),
    Index("ix_ew_alerts_day", "day", "seq"),
)

ew_runs = Table(
    "ew_runs",
    metadata,
    Column("day", Date, primary_key=True),
    Column("computed_at", UtcDateTime(), nullable=False),
    Column("metrics", Integer, nullable=False),  # values stored (NULL values included)
    Column("alerts", Integer, nullable=False),  # alerts raised
    Column("report", JSONType, nullable=False),
)

ew_bucket_snapshots = Table(
    "ew_bucket_snapshots",
    metadata,
    Column("day", Date, primary_key=True),
    Column("accounts", Integer, nullable=False),
    Column("format", String(32), nullable=False),  # "arrow-ipc-zstd"
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
