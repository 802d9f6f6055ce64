"""credit: partner funding (arrangements, loans' funders, flows, settlements)

Issue #17: joint lending and loan facilitation with partner lenders; see
docs/partner-lending.md and credit/funding.py.

Revision ID: 0034_credit_funding
Revises: 0032_credit_catalogue_versions (the credit tables' branch)
Create Date: 2026-12-06 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0034_credit_funding'
down_revision: str | None = '0032_credit_catalogue_versions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('credit_funding_followed',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_credit_funding_followed'))
    )
    op.create_table('credit_funding_arrangements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('product_code', sa.String(length=48), nullable=False),
    sa.Column('product_version', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('arrangement_type', sa.String(length=12), nullable=False),
    sa.Column('partner_ids', JSON, nullable=False),
    sa.Column('platform_share_bps', sa.Integer(), nullable=False),
    sa.Column('guarantee_bps', sa.Integer(), nullable=False),
    sa.Column('fallback', sa.String(length=8), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("arrangement_type IN ('own', 'joint', 'facilitation')", name=op.f('ck_credit_funding_arrangements_arrangement_type')),
    sa.CheckConstraint("fallback IN ('own', 'decline')", name=op.f('ck_credit_funding_arrangements_fallback')),
    sa.CheckConstraint('platform_share_bps BETWEEN 0 AND 10000 AND guarantee_bps BETWEEN 0 AND 10000', name=op.f('ck_credit_funding_arrangements_bps')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_funding_arrangements')),
    sa.UniqueConstraint('product_code', 'product_version', 'version', name=op.f('uq_credit_funding_arrangements_product_code_product_version_version'))
    )
    op.create_table('credit_funding_cursor',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_credit_funding_cursor'))
    )
    op.create_table('credit_funding_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('reference', sa.String(length=96), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('reasons', JSON, nullable=False),
    sa.Column('fields_shared', JSON, nullable=False),
    sa.Column('consent_record_id', sa.BigInteger(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_funding_decisions'))
    )
    op.create_index('ix_credit_funding_decisions_partner', 'credit_funding_decisions', ['partner_id', 'decided_at'], unique=False)
    op.create_index('ix_credit_funding_decisions_reference', 'credit_funding_decisions', ['reference'], unique=False)
    op.create_table('credit_funding_flows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('source_transfer_seq', sa.BigInteger(), nullable=True),
    sa.Column('transfer_id', sa.String(length=128), nullable=True),
    sa.Column('settlement_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_funding_flows'))
    )
    op.create_index('ix_credit_funding_flows_account', 'credit_funding_flows', ['account_id'], unique=False)
    op.create_index('ix_credit_funding_flows_partner', 'credit_funding_flows', ['partner_id', 'settlement_id', 'business_date'], unique=False)
    op.create_table('credit_funding_loans',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('product_code', sa.String(length=48), nullable=False),
    sa.Column('product_version', sa.Integer(), nullable=False),
    sa.Column('arrangement_id', sa.BigInteger(), nullable=True),
    sa.Column('arrangement_type', sa.String(length=12), nullable=False),
    sa.Column('principal_minor', sa.BigInteger(), nullable=False),
    sa.Column('platform_minor', sa.BigInteger(), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('write_off_snapshot', JSON, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_credit_funding_loans'))
    )
    op.create_index('ix_credit_funding_loans_customer', 'credit_funding_loans', ['customer_id', 'currency'], unique=False)
    op.create_table('credit_funding_positions',
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('outstanding_minor', sa.BigInteger(), nullable=False),
    sa.Column('funded_minor', sa.BigInteger(), nullable=False),
    sa.Column('guarantee_cover_minor', sa.BigInteger(), nullable=False),
    sa.Column('guarantee_paid_minor', sa.BigInteger(), nullable=False),
    sa.Column('loans', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('outstanding_minor >= 0', name=op.f('ck_credit_funding_positions_outstanding_non_negative')),
    sa.PrimaryKeyConstraint('partner_id', 'currency', name=op.f('pk_credit_funding_positions'))
    )
    op.create_table('credit_funding_settlements',
    sa.Column('settlement_id', sa.String(length=64), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('funding_minor', sa.BigInteger(), nullable=False),
    sa.Column('principal_minor', sa.BigInteger(), nullable=False),
    sa.Column('income_minor', sa.BigInteger(), nullable=False),
    sa.Column('guarantee_minor', sa.BigInteger(), nullable=False),
    sa.Column('recovery_minor', sa.BigInteger(), nullable=False),
    sa.Column('reversal_minor', sa.BigInteger(), nullable=False),
    sa.Column('net_minor', sa.BigInteger(), nullable=False),
    sa.Column('flows', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('settlement_id', name=op.f('pk_credit_funding_settlements')),
    sa.UniqueConstraint('partner_id', 'currency', 'business_date', name=op.f('uq_credit_funding_settlements_partner_id_currency_business_date'))
    )
    op.create_table('credit_funding_shares',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('funder_id', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('terms_version', sa.Integer(), nullable=True),
    sa.Column('share_bps', sa.Integer(), nullable=False),
    sa.Column('rate_bps', sa.Integer(), nullable=False),
    sa.Column('guarantee_bps', sa.Integer(), nullable=False),
    sa.Column('funded_minor', sa.BigInteger(), nullable=False),
    sa.Column('outstanding_minor', sa.BigInteger(), nullable=False),
    sa.Column('accrual_num', sa.BigInteger(), nullable=False),
    sa.Column('accrued_through', sa.Date(), nullable=True),
    sa.Column('income_paid_minor', sa.BigInteger(), nullable=False),
    sa.Column('written_off_minor', sa.BigInteger(), nullable=False),
    sa.Column('guaranteed_minor', sa.BigInteger(), nullable=False),
    sa.Column('loss_minor', sa.BigInteger(), nullable=False),
    sa.Column('recovered_minor', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('outstanding_minor >= 0 AND funded_minor >= 0 AND loss_minor >= 0 AND income_paid_minor >= 0', name=op.f('ck_credit_funding_shares_non_negative')),
    sa.PrimaryKeyConstraint('account_id', 'funder_id', name=op.f('pk_credit_funding_shares'))
    )
    op.create_index('ix_credit_funding_shares_funder', 'credit_funding_shares', ['funder_id', 'customer_id'], unique=False)


def downgrade() -> None:
    op.drop_table('credit_funding_followed')
    op.drop_index('ix_credit_funding_shares_funder', table_name='credit_funding_shares')
    op.drop_table('credit_funding_shares')
    op.drop_table('credit_funding_settlements')
    op.drop_table('credit_funding_positions')
    op.drop_index('ix_credit_funding_loans_customer', table_name='credit_funding_loans')
    op.drop_table('credit_funding_loans')
    op.drop_index('ix_credit_funding_flows_partner', table_name='credit_funding_flows')
    op.drop_index('ix_credit_funding_flows_account', table_name='credit_funding_flows')
    op.drop_table('credit_funding_flows')
    op.drop_index('ix_credit_funding_decisions_reference', table_name='credit_funding_decisions')
    op.drop_index('ix_credit_funding_decisions_partner', table_name='credit_funding_decisions')
    op.drop_table('credit_funding_decisions')
    op.drop_table('credit_funding_cursor')
    op.drop_table('credit_funding_arrangements')
