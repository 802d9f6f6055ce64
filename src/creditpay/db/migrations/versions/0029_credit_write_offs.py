"""credit: what each write-off changed, so that one made by mistake can be reversed exactly

A write-off zeroes the account's balances and accruals, cancels its open installments and
freezes its line; credit_write_offs keeps what they were (issue #16, four-eyes kind
write_off.reverse).

Revision ID: 0029_credit_write_offs
Revises: 0025_credit_month_ends (the credit tables' branch)
Create Date: 2026-12-06 17:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0029_credit_write_offs'
down_revision: str | None = '0025_credit_month_ends'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'credit_write_offs',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('account_seq', sa.BigInteger(), nullable=False),
        sa.Column('account_id', sa.String(length=96), nullable=False),
        sa.Column('written_off_on', sa.Date(), nullable=False),
        sa.Column('state', JSON, nullable=False),
        sa.Column('installments', JSON, nullable=False),
        sa.Column('line_id', sa.String(length=96), nullable=True),
        sa.Column('line_status', sa.String(length=12), nullable=True),
        sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reversed_by', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_write_offs')),
    )
    op.create_index('ix_credit_write_offs_account', 'credit_write_offs',
                    ['account_id', 'written_off_on'])


def downgrade() -> None:
    op.drop_index('ix_credit_write_offs_account', table_name='credit_write_offs')
    op.drop_table('credit_write_offs')
