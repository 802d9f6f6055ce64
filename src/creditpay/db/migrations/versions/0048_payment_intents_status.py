"""payments: the intents' status indexed (issue #14, the demo at 1,000 customers)

The close-of-business expiry sweep (``Intents.expire_due``) looks for intents in an open
status (awaiting confirmation, in review, awaiting capture); without an index SQLite scanned
every intent ever made, every business day (43 ms at 9,000 intents, growing with the
history; 0.1 ms with it: a MULTI-INDEX OR of two lookups). Written on the payments branch
(head 0034_partner_lenders), re-chained after 0047_demo_scale_indexes when merged (the
branches had joined at 0046_cross_border).

Revision ID: 0048_payment_intents_status
Revises: 0047_demo_scale_indexes
Create Date: 2026-12-07 08:15:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0048_payment_intents_status'
down_revision: str | None = '0047_demo_scale_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_payment_intents_status', 'payment_intents', ['status'])


def downgrade() -> None:
    op.drop_index('ix_payment_intents_status', table_name='payment_intents')
