"""parties: registrations waiting for the code sent to the phone or e-mail

Revision ID: 0017_customer_registrations
Revises: 0015_payment_intents_created
Create Date: 2026-12-06 04:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_customer_registrations'
down_revision: str | None = '0015_payment_intents_created'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('customer_registrations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('phone_ct', sa.Text(), nullable=True),
    sa.Column('phone_bidx', sa.String(length=32), nullable=True),
    sa.Column('email_ct', sa.Text(), nullable=True),
    sa.Column('email_bidx', sa.String(length=32), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('device_hash', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('new', 'taken')", name=op.f('ck_customer_registrations_kind')),
    sa.CheckConstraint("channel IN ('sms', 'email')",
                       name=op.f('ck_customer_registrations_channel')),
    sa.CheckConstraint("status IN ('pending', 'completed', 'failed')",
                       name=op.f('ck_customer_registrations_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_registrations')),
    )
    op.create_index('ix_customer_registrations_expires', 'customer_registrations',
                    ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_customer_registrations_expires', table_name='customer_registrations')
    op.drop_table('customer_registrations')
