"""risk: fraud case management (analyst queue) and fraud labels

Revision ID: 0009_fraud_cases
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009_fraud_cases'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('fraud_cases',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('merchant_id', sa.String(length=64), nullable=True),
    sa.Column('device_id', sa.String(length=128), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('reasons', JSON, nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('sla_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verdict', sa.String(length=12), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payment_action', sa.String(length=16), nullable=True),
    sa.CheckConstraint("status IN ('open', 'assigned', 'resolved')", name=op.f('ck_fraud_cases_status')),
    sa.CheckConstraint("verdict IS NULL OR verdict IN ('fraud', 'legitimate', 'unsure')", name=op.f('ck_fraud_cases_verdict')),
    sa.CheckConstraint('priority BETWEEN 1 AND 3', name=op.f('ck_fraud_cases_priority')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_cases')),
    sa.UniqueConstraint('subject_type', 'subject_id', name=op.f('uq_fraud_cases_subject_type_subject_id'))
    )
    with op.batch_alter_table('fraud_cases', schema=None) as batch_op:
        batch_op.create_index('ix_fraud_cases_queue', ['status', 'priority', 'sla_due_at', 'id'], unique=False)
        batch_op.create_index('ix_fraud_cases_resolved', ['resolved_at'], unique=False)

    op.create_table('fraud_labels',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=24), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('merchant_id', sa.String(length=64), nullable=True),
    sa.Column('device_id', sa.String(length=128), nullable=True),
    sa.Column('transaction_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('labelled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('is_fraud', sa.Boolean(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('reason_code', sa.String(length=32), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.CheckConstraint("source IN ('analyst_verdict', 'chargeback', 'consumer_report')", name=op.f('ck_fraud_labels_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_labels')),
    sa.UniqueConstraint('source', 'reference', name=op.f('uq_fraud_labels_source_reference'))
    )
    with op.batch_alter_table('fraud_labels', schema=None) as batch_op:
        batch_op.create_index('ix_fraud_labels_since', ['labelled_at', 'id'], unique=False)
        batch_op.create_index('ix_fraud_labels_subject', ['subject_type', 'subject_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fraud_labels', schema=None) as batch_op:
        batch_op.drop_index('ix_fraud_labels_subject')
        batch_op.drop_index('ix_fraud_labels_since')
    op.drop_table('fraud_labels')
    with op.batch_alter_table('fraud_cases', schema=None) as batch_op:
        batch_op.drop_index('ix_fraud_cases_resolved')
        batch_op.drop_index('ix_fraud_cases_queue')
    op.drop_table('fraud_cases')
