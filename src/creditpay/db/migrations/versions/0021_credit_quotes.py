"""credit: purchase quotes owned by credit (one row per offer set, figures and key-facts hash)

Revision ID: 0021_credit_quotes
Revises: 0020_credit_principal_prepaid
Create Date: 2026-12-06 06:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0021_credit_quotes'
down_revision: str | None = '0020_credit_principal_prepaid'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'credit_quotes',
        sa.Column('quote_id', sa.String(length=32), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('reference', sa.String(length=128), nullable=True),
        sa.Column('quoted_on', sa.Date(), nullable=False),
        sa.Column('offers', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('quote_id', name=op.f('pk_credit_quotes')))
    with op.batch_alter_table('credit_quotes', schema=None) as batch_op:
        batch_op.create_index('ix_credit_quotes_customer', ['customer_id', 'reference'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('credit_quotes', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_quotes_customer')
    op.drop_table('credit_quotes')
