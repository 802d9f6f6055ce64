"""risk: platform histories stored once by content (credit decisions name them by SHA-256
instead of copying every event into their inputs), and an index on the decision time

Revision ID: 0014_decision_histories
Revises: 0010_early_warning
Create Date: 2026-12-01 00:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_decision_histories'
down_revision: str | None = '0010_early_warning'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('credit_decision_histories',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_credit_decision_histories'))
    )
    with op.batch_alter_table('credit_decision_histories', schema=None) as batch_op:
        batch_op.create_index('ix_credit_decision_histories_customer', ['customer_id'],
                              unique=False)
    with op.batch_alter_table('credit_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_credit_decisions_decided_at', ['decided_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('credit_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_decisions_decided_at')
    with op.batch_alter_table('credit_decision_histories', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_decision_histories_customer')
    op.drop_table('credit_decision_histories')
