"""risk: every fraud screening stored (journal of the streaming state) and versioned
fraud rule sets

Revision ID: 0011_fraud_screenings
Revises: 0009_fraud_cases
Create Date: 2026-12-01 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011_fraud_screenings'
down_revision: str | None = '0009_fraud_cases'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
BIGINT_PK = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')


def upgrade() -> None:
    op.create_table('fraud_screenings',
    sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('device_id', sa.String(length=128), nullable=False),
    sa.Column('merchant_id', sa.String(length=128), nullable=False),
    sa.Column('terminal_id', sa.String(length=128), nullable=True),
    sa.Column('card_id', sa.String(length=128), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('scenario', sa.String(length=16), nullable=False),
    sa.Column('screened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('features', JSON, nullable=False),
    sa.Column('rules_hit', JSON, nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('decision', sa.String(length=12), nullable=False),
    sa.Column('reasons', JSON, nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('features_version', sa.String(length=64), nullable=False),
    sa.Column('rules_version', sa.String(length=128), nullable=False),
    sa.Column('thresholds', JSON, nullable=False),
    sa.CheckConstraint("subject_type IN ('payment', 'p2p')", name=op.f('ck_fraud_screenings_subject_type')),
    sa.CheckConstraint("decision IN ('approve', 'challenge', 'review', 'decline')", name=op.f('ck_fraud_screenings_decision')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_screenings'))
    )
    with op.batch_alter_table('fraud_screenings', schema=None) as batch_op:
        batch_op.create_index('ix_fraud_screenings_subject', ['subject_id', 'id'], unique=False)

    op.create_table('fraud_rule_sets',
    sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=128), nullable=False),
    sa.Column('content', JSON, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activated_by', sa.String(length=64), nullable=True),
    sa.Column('activation_seq', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_rule_sets')),
    sa.UniqueConstraint('version', name=op.f('uq_fraud_rule_sets_version')),
    sa.UniqueConstraint('activation_seq', name=op.f('uq_fraud_rule_sets_activation_seq'))
    )


def downgrade() -> None:
    op.drop_table('fraud_rule_sets')
    with op.batch_alter_table('fraud_screenings', schema=None) as batch_op:
        batch_op.drop_index('ix_fraud_screenings_subject')
    op.drop_table('fraud_screenings')
