"""payments: index on the intent's creation time (the nightly screening counts read one
day of intents; without it each day's count scanned the table)

Revision ID: 0015_payment_intents_created
Revises: 0007_customer_time_zone
Create Date: 2026-12-01 01:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0015_payment_intents_created'
down_revision: str | None = '0007_customer_time_zone'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('payment_intents', schema=None) as batch_op:
        batch_op.create_index('ix_payment_intents_created', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payment_intents', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_intents_created')
