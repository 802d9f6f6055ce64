"""credit: cash-loan offers shown to consumers (figures as shown, accepted loan)

Revision ID: 0013_cash_loan_quotes
Revises: 0008_collections
Create Date: 2026-11-30 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013_cash_loan_quotes'
down_revision: str | None = '0008_collections'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('credit_cash_loan_quotes',
    sa.Column('offer_id', sa.String(length=48), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('product_code', sa.String(length=48), nullable=False),
    sa.Column('product_version', sa.Integer(), nullable=False),
    sa.Column('periods', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=24), nullable=False),
    sa.Column('quoted_on', sa.Date(), nullable=False),
    sa.Column('figures', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('offer_id', name=op.f('pk_credit_cash_loan_quotes'))
    )
    with op.batch_alter_table('credit_cash_loan_quotes', schema=None) as batch_op:
        batch_op.create_index('ix_credit_cash_loan_quotes_customer',
                              ['customer_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('credit_cash_loan_quotes', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_cash_loan_quotes_customer')
    op.drop_table('credit_cash_loan_quotes')
