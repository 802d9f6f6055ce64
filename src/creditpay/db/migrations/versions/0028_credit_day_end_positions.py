"""credit: day-end positions, so reports work for any past closed business date

The accounts' rows hold only today's state, so a regulatory report or a provision run could
only be made for the last closed business date. credit_day_end_positions keeps every
account's balances at the end of each close of business (written in the transaction that
marks the date done). Dates closed before this migration have no rows: their reports cannot
be rebuilt (the last closed date still reports from the accounts' live state).

Revision ID: 0028_credit_day_end_positions
Revises: 0030_credit_dashboard_indexes (the credit tables' branch)
Create Date: 2026-12-10 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0028_credit_day_end_positions'
down_revision: str | None = '0030_credit_dashboard_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'credit_day_end_positions',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('account_seq', sa.BigInteger(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('product_code', sa.String(length=48), nullable=False),
        sa.Column('product_version', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('opened_on', sa.Date(), nullable=False),
        sa.Column('dpd', sa.Integer(), nullable=False),
        sa.Column('bucket', sa.String(length=8), nullable=False),
        sa.Column('principal_minor', sa.BigInteger(), nullable=False),
        sa.Column('interest_due_minor', sa.BigInteger(), nullable=False),
        sa.Column('fee_due_minor', sa.BigInteger(), nullable=False),
        sa.Column('penalty_due_minor', sa.BigInteger(), nullable=False),
        sa.Column('accrued_minor', sa.BigInteger(), nullable=False),
        sa.Column('written_off_minor', sa.BigInteger(), nullable=False),
        sa.Column('recovered_minor', sa.BigInteger(), nullable=False),
        sa.Column('written_off_on', sa.Date(), nullable=True),
        sa.Column('interest_rate_micro', sa.BigInteger(), nullable=False),
        sa.Column('line_id', sa.String(length=64), nullable=True),
        sa.Column('undrawn_minor', sa.BigInteger(), nullable=False),
        sa.Column('last_due_date', sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint('business_date', 'account_seq',
                                name=op.f('pk_credit_day_end_positions')),
    )


def downgrade() -> None:
    op.drop_table('credit_day_end_positions')
