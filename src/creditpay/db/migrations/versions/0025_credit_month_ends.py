"""credit: month-end history for the portfolio dashboard (roll rates, vintage curves)

The accounts' rows hold only today's state; a month's roll-rate matrix and the vintage
curves need where each account stood at earlier month ends. credit_month_end_states keeps
each account's state at the last recorded month end; credit_month_end_cells the book
aggregated per month end, product, vintage and from/to state.

Revision ID: 0025_credit_month_ends
Revises: 0022_credit_auth_customer (the credit tables' branch)
Create Date: 2026-12-07 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0025_credit_month_ends'
down_revision: str | None = '0022_credit_auth_customer'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'credit_month_end_states',
        sa.Column('account_seq', sa.BigInteger(), nullable=False),
        sa.Column('month_end', sa.Date(), nullable=False),
        sa.Column('state', sa.String(length=8), nullable=False),
        sa.Column('balance_minor', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('account_seq', name=op.f('pk_credit_month_end_states')),
    )
    op.create_table(
        'credit_month_end_cells',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('month_end', sa.Date(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('product_code', sa.String(length=48), nullable=False),
        sa.Column('vintage', sa.String(length=7), nullable=False),
        sa.Column('from_state', sa.String(length=8), nullable=False),
        sa.Column('to_state', sa.String(length=8), nullable=False),
        sa.Column('dpd30', sa.Boolean(), nullable=False),
        sa.Column('accounts', sa.BigInteger(), nullable=False),
        sa.Column('balance_minor', sa.BigInteger(), nullable=False),
        sa.Column('from_balance_minor', sa.BigInteger(), nullable=False),
        sa.Column('original_minor', sa.BigInteger(), nullable=False),
        sa.Column('written_off_minor', sa.BigInteger(), nullable=False),
        sa.Column('interest_posted_minor', sa.BigInteger(), nullable=False),
        sa.Column('fee_posted_minor', sa.BigInteger(), nullable=False),
        sa.Column('penalty_posted_minor', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_month_end_cells')),
    )
    op.create_index('ix_credit_month_end_cells_month', 'credit_month_end_cells',
                    ['month_end', 'product_code'])


def downgrade() -> None:
    op.drop_index('ix_credit_month_end_cells_month', table_name='credit_month_end_cells')
    op.drop_table('credit_month_end_cells')
    op.drop_table('credit_month_end_states')
