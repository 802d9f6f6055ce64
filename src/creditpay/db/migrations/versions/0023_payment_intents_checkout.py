"""payments: the hosted checkout's columns on payment_intents

A payment intent may carry the merchant's ``return_url`` and has a checkout link: a random
nonce, the SHA-256 of the link's token (looked up by the checkout page; unique) and when the
link stops working. Existing intents have no link (all nullable).

Revision ID: 0023_intents_checkout
Revises: 0018_webhook_delivery_claims (the payments branch)
Create Date: 2026-12-08 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023_intents_checkout'
down_revision: str | None = '0018_webhook_delivery_claims'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('payment_intents') as batch:
        batch.add_column(sa.Column('return_url', sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column('checkout_nonce', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('checkout_token_sha256', sa.String(length=64),
                                   nullable=True))
        batch.add_column(sa.Column('checkout_expires_at', sa.DateTime(timezone=True),
                                   nullable=True))
    op.create_index('ix_payment_intents_checkout_token', 'payment_intents',
                    ['checkout_token_sha256'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_payment_intents_checkout_token', table_name='payment_intents')
    with op.batch_alter_table('payment_intents') as batch:
        for name in ('checkout_expires_at', 'checkout_token_sha256', 'checkout_nonce',
                     'return_url'):
            batch.drop_column(name)
