"""credit: why a line is frozen (a consumer's own freeze after reporting fraud, issue #20)

A consumer who reports fraud can freeze their own pay-later line and lift that freeze again
after a one-time code. The lender's freezes (a write-off) must not be liftable that way, so the
line records who froze it: ``customer_request`` or ``write_off``; NULL on an active line and on
lines frozen before this revision (treated as the lender's).

Revision ID: 0042_credit_line_freeze
Revises: 0041_assistant
Create Date: 2026-12-07 04:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0042_credit_line_freeze'
down_revision: str | None = '0041_assistant'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('credit_lines') as batch:
        batch.add_column(sa.Column('frozen_reason', sa.String(24), nullable=True))
        batch.create_check_constraint(
            'frozen_reason',
            "frozen_reason IS NULL OR frozen_reason IN ('customer_request', 'write_off')")


def downgrade() -> None:
    with op.batch_alter_table('credit_lines') as batch:
        batch.drop_constraint('frozen_reason', type_='check')
        batch.drop_column('frozen_reason')
