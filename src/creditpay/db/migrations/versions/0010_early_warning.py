"""risk: early-warning metric values, alerts, job runs and the bucket snapshot

Revision ID: 0010_early_warning
Revises: 0009_fraud_cases
Create Date: 2026-12-01 21:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010_early_warning'
down_revision: str | None = '0009_fraud_cases'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
BIGINT_PK = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')


def upgrade() -> None:
    op.create_table('ew_metric_values',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('metric', sa.String(length=96), nullable=False),
    sa.Column('segment', sa.String(length=96), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('numerator', sa.Float(), nullable=True),
    sa.Column('denominator', sa.Float(), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', 'metric', 'segment', name=op.f('pk_ew_metric_values'))
    )
    with op.batch_alter_table('ew_metric_values', schema=None) as batch_op:
        batch_op.create_index('ix_ew_metric_values_series', ['metric', 'segment', 'day'],
                              unique=False)

    op.create_table('ew_alerts',
    sa.Column('seq', BIGINT_PK, autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('monitor', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=96), nullable=False),
    sa.Column('segment', sa.String(length=96), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('statistic', sa.Float(), nullable=False),
    sa.Column('centre', sa.Float(), nullable=False),
    sa.Column('lower_bound', sa.Float(), nullable=False),
    sa.Column('upper_bound', sa.Float(), nullable=False),
    sa.Column('sigmas', sa.Float(), nullable=False),
    sa.Column('method', sa.String(length=12), nullable=False),
    sa.Column('playbook', sa.String(length=32), nullable=False),
    sa.Column('evidence', JSON, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actioned_by', sa.String(length=64), nullable=True),
    sa.Column('actioned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('action', JSON, nullable=True),
    sa.Column('dismissed_by', sa.String(length=64), nullable=True),
    sa.Column('dismissed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dismiss_reason', sa.String(length=500), nullable=True),
    sa.CheckConstraint("status IN ('open', 'acknowledged', 'actioned', 'dismissed')",
                       name=op.f('ck_ew_alerts_status')),
    sa.CheckConstraint("severity IN ('warning', 'critical')",
                       name=op.f('ck_ew_alerts_severity')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_ew_alerts')),
    sa.UniqueConstraint('id', name=op.f('uq_ew_alerts_id')),
    sa.UniqueConstraint('monitor', 'metric', 'segment', 'day',
                        name=op.f('uq_ew_alerts_monitor_metric_segment_day'))
    )
    with op.batch_alter_table('ew_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_ew_alerts_status', ['status', 'seq'], unique=False)
        batch_op.create_index('ix_ew_alerts_day', ['day', 'seq'], unique=False)

    op.create_table('ew_runs',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('metrics', sa.Integer(), nullable=False),
    sa.Column('alerts', sa.Integer(), nullable=False),
    sa.Column('report', JSON, nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_ew_runs'))
    )

    op.create_table('ew_bucket_snapshots',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('accounts', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=32), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_ew_bucket_snapshots'))
    )


def downgrade() -> None:
    op.drop_table('ew_bucket_snapshots')
    op.drop_table('ew_runs')
    with op.batch_alter_table('ew_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_ew_alerts_day')
        batch_op.drop_index('ix_ew_alerts_status')
    op.drop_table('ew_alerts')
    with op.batch_alter_table('ew_metric_values', schema=None) as batch_op:
        batch_op.drop_index('ix_ew_metric_values_series')
    op.drop_table('ew_metric_values')
