"""platform: approvals, the four-eyes control's proposals

An operator's controlled action (a credit line above the threshold, a playbook run) is
stored as a proposal until a second operator approves or rejects it.

Revision ID: 0024_approvals
Revises: 0019_vault_notes (the platform tables' branch)
Create Date: 2026-12-06 15:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0024_approvals'
down_revision: str | None = '0019_vault_notes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'approvals',
        sa.Column('approval_id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('payload', JSON, nullable=False),
        sa.Column('proposed_by', sa.String(length=128), nullable=False),
        sa.Column('proposer_role', sa.String(length=32), nullable=True),
        sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_by', sa.String(length=128), nullable=True),
        sa.Column('decider_role', sa.String(length=32), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('result', JSON, nullable=True),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')",
                           name=op.f('ck_approvals_status')),
        sa.PrimaryKeyConstraint('approval_id', name=op.f('pk_approvals')),
    )
    op.create_index('ix_approvals_status_proposed', 'approvals', ['status', 'proposed_at'])


def downgrade() -> None:
    op.drop_index('ix_approvals_status_proposed', table_name='approvals')
    op.drop_table('approvals')
