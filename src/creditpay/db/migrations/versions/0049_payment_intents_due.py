"""payments: the expiry sweep's two partial indexes instead of an index on status (issue #14)

0048 indexed ``payment_intents.status`` so that the close-of-business expiry sweep would not
read every intent ever made. SQLite plans without statistics, and it then took that index
for every read of "this customer's (or merchant's) payments in a status" too: the consumer's
disputable payments, the assistant's latest payments and the merchant desk's filtered list
read every succeeded payment of every customer (108 ms a read at 180 days of the
1,000-customer demo, growing with the history), instead of the customer's own index.

Two partial indexes replace it, one per branch of the sweep: intents awaiting capture by
their capture deadline, intents awaiting confirmation or in review by their expiry. A read
that does not state one of these predicates cannot use them, so the customer's and the
merchant's indexes serve those reads again; the sweep states them (with literals, as SQLite
needs to choose a partial index) and reads only the due intents. Each leads with status: SQLite
estimates an equality on the first column as narrow, where a range alone lost to a scan in
``seq`` order for the sweep's ORDER BY ... LIMIT.

Revision ID: 0049_payment_intents_due
Revises: 0048_payment_intents_status
Create Date: 2026-12-07 14:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0049_payment_intents_due'
down_revision: str | None = '0048_payment_intents_status'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here (a migration must not change when the code does); the same texts as
# creditpay.payments.tables.INTENT_CAPTURE_DUE_SQL and INTENT_CONFIRM_DUE_SQL.
_CAPTURE_DUE = "status = 'requires_capture'"
_CONFIRM_DUE = "status IN ('requires_confirmation', 'in_review')"


def upgrade() -> None:
    op.drop_index('ix_payment_intents_status', table_name='payment_intents')
    op.create_index('ix_payment_intents_capture_due', 'payment_intents',
                    ['status', 'capture_before'],
                    sqlite_where=sa.text(_CAPTURE_DUE), postgresql_where=sa.text(_CAPTURE_DUE))
    op.create_index('ix_payment_intents_confirm_due', 'payment_intents',
                    ['status', 'expires_at'],
                    sqlite_where=sa.text(_CONFIRM_DUE), postgresql_where=sa.text(_CONFIRM_DUE))


def downgrade() -> None:
    op.drop_index('ix_payment_intents_confirm_due', table_name='payment_intents')
    op.drop_index('ix_payment_intents_capture_due', table_name='payment_intents')
    op.create_index('ix_payment_intents_status', 'payment_intents', ['status'])
