"""payments: paying abroad (issue #21)

A merchant gains its country (ISO 3166-1 alpha-2; existing merchants are Chinese: 'CN'), and
``payment_captures`` and ``payment_refunds`` gain ``home_amount_minor`` (a foreign payment's
row in the consumer's CNY), and ``payment_fx`` keeps the FX quotes shown for a payment intent in a foreign currency and the
converted amounts of the one the consumer accepted.

Revision ID: 0046_cross_border
Revises: 0045_line_hardship_freeze, 0034_partner_lenders
Create Date: 2026-12-07 08:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from creditpay.db.metadata import UtcDateTime

revision: str = '0046_cross_border'
# Two parents: the session's chain (0045) and the payments branch (0004 on, whose head was
# 0034_partner_lenders), which created merchants, payment_captures and payment_refunds: both
# are applied first, and this revision joins them (a depends_on would leave 0034 listed as a
# head the version table no longer holds, and /health/ready would say the database is
# behind).
down_revision: str | Sequence[str] | None = ('0045_line_hardship_freeze', '0034_partner_lenders')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('merchants') as batch:
        batch.add_column(sa.Column('country', sa.String(2), nullable=False,
                                   server_default='CN'))
    for table in ('payment_captures', 'payment_refunds'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('home_amount_minor', sa.BigInteger, nullable=True))
    op.create_table(
        'payment_fx',
        sa.Column('quote_id', sa.String(64), primary_key=True),
        sa.Column('intent_id', sa.String(32), nullable=False),
        sa.Column('customer_id', sa.String(32), nullable=False),
        sa.Column('merchant_id', sa.String(32), nullable=False),
        sa.Column('merchant_country', sa.String(2), nullable=False),
        sa.Column('sell_currency', sa.String(3), nullable=False),
        sa.Column('sell_amount_minor', sa.BigInteger, nullable=False),
        sa.Column('buy_currency', sa.String(3), nullable=False),
        sa.Column('buy_amount_minor', sa.BigInteger, nullable=False),
        sa.Column('mid_rate', sa.String(40), nullable=False),
        sa.Column('client_rate', sa.String(40), nullable=False),
        sa.Column('markup_bps', sa.Integer, nullable=False),
        sa.Column('markup_minor', sa.BigInteger, nullable=False),
        sa.Column('expires_at', UtcDateTime(), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('accepted_at', UtcDateTime(), nullable=True),
        sa.Column('sell_captured_minor', sa.BigInteger, nullable=False),
        sa.Column('sell_refunded_minor', sa.BigInteger, nullable=False),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('shown', 'accepted')", name='status'),
        sa.CheckConstraint('sell_amount_minor > 0 AND buy_amount_minor > 0',
                           name='amounts_positive'),
        sa.CheckConstraint('sell_refunded_minor <= sell_captured_minor',
                           name='refund_within_capture'),
    )
    op.create_index('ix_payment_fx_intent', 'payment_fx', ['intent_id'])
    op.create_index('ix_payment_fx_accepted', 'payment_fx', ['accepted_at'])


def downgrade() -> None:
    op.drop_index('ix_payment_fx_accepted', 'payment_fx')
    op.drop_index('ix_payment_fx_intent', 'payment_fx')
    op.drop_table('payment_fx')
    for table in ('payment_captures', 'payment_refunds'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('home_amount_minor')
    with op.batch_alter_table('merchants') as batch:
        batch.drop_column('country')
