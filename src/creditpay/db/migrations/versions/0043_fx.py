"""fx: mid rates, quotes and the daily FX position (issue #21)

``fx_rates`` keeps mid rates with their source and time, ``fx_quotes`` the quotes given to
consumers (locked 30 minutes, used once), ``fx_position_lines`` the daily FX position report.

Revision ID: 0043_fx
Revises: 0042_credit_line_freeze
Create Date: 2026-12-07 07:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0043_fx'
down_revision: str | None = '0042_credit_line_freeze'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'fx_rates',
        sa.Column('seq', _PK, autoincrement=True, nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('base_currency', sa.String(length=3), nullable=False),
        sa.Column('quote_currency', sa.String(length=3), nullable=False),
        sa.Column('mid_rate', sa.String(length=40), nullable=False),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('base_currency <> quote_currency', name=op.f('ck_fx_rates_pair')),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_fx_rates')),
        sa.UniqueConstraint('as_of', 'base_currency', 'quote_currency', 'source',
                            name=op.f('uq_fx_rates_as_of_base_currency_quote_currency_source')),
    )
    op.create_table(
        'fx_quotes',
        sa.Column('seq', _PK, autoincrement=True, nullable=False),
        sa.Column('quote_id', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=True),
        sa.Column('sell_currency', sa.String(length=3), nullable=False),
        sa.Column('buy_currency', sa.String(length=3), nullable=False),
        sa.Column('buy_amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('sell_amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('mid_rate', sa.String(length=40), nullable=False),
        sa.Column('markup_bps', sa.Integer(), nullable=False),
        sa.Column('client_rate', sa.String(length=40), nullable=False),
        sa.Column('markup_minor', sa.BigInteger(), nullable=False),
        sa.Column('home_currency', sa.String(length=3), nullable=False),
        sa.Column('home_amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('markup_home_minor', sa.BigInteger(), nullable=False),
        sa.Column('rate_as_of', sa.Date(), nullable=False),
        sa.Column('rate_source', sa.String(length=200), nullable=False),
        sa.Column('markup_version', sa.String(length=64), nullable=False),
        sa.Column('quoted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('used_on', sa.Date(), nullable=True),
        sa.Column('used_reference', sa.String(length=128), nullable=True),
        sa.CheckConstraint('sell_currency <> buy_currency', name=op.f('ck_fx_quotes_pair')),
        sa.CheckConstraint('buy_amount_minor > 0 AND sell_amount_minor > 0',
                           name=op.f('ck_fx_quotes_amounts')),
        sa.CheckConstraint('markup_bps >= 0 AND markup_minor >= 0',
                           name=op.f('ck_fx_quotes_markup')),
        sa.CheckConstraint('(used_at IS NULL) = (used_on IS NULL)',
                           name=op.f('ck_fx_quotes_used')),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_fx_quotes')),
        sa.UniqueConstraint('quote_id', name=op.f('uq_fx_quotes_quote_id')),
    )
    op.create_index('ix_fx_quotes_customer_used_on', 'fx_quotes', ['customer_id', 'used_on'],
                    unique=False)
    op.create_index('ix_fx_quotes_used_on', 'fx_quotes', ['used_on'], unique=False)
    op.create_table(
        'fx_position_lines',
        sa.Column('seq', _PK, autoincrement=True, nullable=False),
        sa.Column('report_date', sa.Date(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('home_currency', sa.String(length=3), nullable=False),
        sa.Column('balance_minor', sa.BigInteger(), nullable=False),
        sa.Column('mid_rate', sa.String(length=40), nullable=False),
        sa.Column('value_home_minor', sa.BigInteger(), nullable=False),
        sa.Column('previous_value_home_minor', sa.BigInteger(), nullable=False),
        sa.Column('revaluation_home_minor', sa.BigInteger(), nullable=False),
        sa.Column('realised_revenue_home_minor', sa.BigInteger(), nullable=False),
        sa.Column('quotes_used', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_fx_position_lines')),
        sa.UniqueConstraint('report_date', 'currency',
                            name=op.f('uq_fx_position_lines_report_date_currency')),
    )


def downgrade() -> None:
    op.drop_table('fx_position_lines')
    op.drop_index('ix_fx_quotes_used_on', table_name='fx_quotes')
    op.drop_index('ix_fx_quotes_customer_used_on', table_name='fx_quotes')
    op.drop_table('fx_quotes')
    op.drop_table('fx_rates')
