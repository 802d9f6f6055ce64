"""parties: partner lenders, their versioned terms and API keys

Issue #17: partner lenders as parties (parties/partners.py, docs/partner-lending.md).

Revision ID: 0034_partner_lenders
Revises: 0027_merchant_users (the parties tables' branch)
Create Date: 2026-12-06 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0034_partner_lenders'
down_revision: str | None = '0027_merchant_users'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('partner_lenders',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('licence_type', sa.String(length=24), nullable=False),
    sa.Column('licence_number', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('terms_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("licence_type IN ('bank', 'consumer_finance', 'trust', 'microloan')", name=op.f('ck_partner_lenders_licence_type')),
    sa.CheckConstraint("status IN ('onboarding', 'active', 'suspended', 'terminated')", name=op.f('ck_partner_lenders_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_lenders')),
    sa.UniqueConstraint('name', name=op.f('uq_partner_lenders_name'))
    )
    op.create_table('partner_api_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('prefix', sa.String(length=24), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partner_lenders.id'], name=op.f('fk_partner_api_keys_partner_id_partner_lenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_api_keys')),
    sa.UniqueConstraint('prefix', name=op.f('uq_partner_api_keys_prefix'))
    )
    op.create_index('ix_partner_api_keys_partner', 'partner_api_keys', ['partner_id'], unique=False)
    op.create_table('partner_lender_terms',
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('funding_rate_bps', sa.Integer(), nullable=False),
    sa.Column('service_fee_bps', sa.Integer(), nullable=False),
    sa.Column('exposure_cap_minor', sa.BigInteger(), nullable=False),
    sa.Column('per_borrower_cap_minor', sa.BigInteger(), nullable=False),
    sa.Column('terms', JSON, nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('exposure_cap_minor >= 0 AND per_borrower_cap_minor >= 0', name=op.f('ck_partner_lender_terms_caps')),
    sa.CheckConstraint('funding_rate_bps >= 0 AND service_fee_bps >= 0', name=op.f('ck_partner_lender_terms_rates')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner_lenders.id'], name=op.f('fk_partner_lender_terms_partner_id_partner_lenders')),
    sa.PrimaryKeyConstraint('partner_id', 'version', name=op.f('pk_partner_lender_terms'))
    )


def downgrade() -> None:
    op.drop_table('partner_lender_terms')
    op.drop_index('ix_partner_api_keys_partner', table_name='partner_api_keys')
    op.drop_table('partner_api_keys')
    op.drop_table('partner_lenders')
