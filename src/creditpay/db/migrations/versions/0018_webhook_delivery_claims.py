"""payments: a lease on each webhook delivery being sent (claim token and expiry), so two
delivery workers never send the same attempt at once and a worker that died mid-send is
replaced when its lease runs out

Revision ID: 0018_webhook_delivery_claims
Revises: 0017_customer_registrations
Create Date: 2026-12-02 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018_webhook_delivery_claims'
down_revision: str | None = '0017_customer_registrations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claim_token')
