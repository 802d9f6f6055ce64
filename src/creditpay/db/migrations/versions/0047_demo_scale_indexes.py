"""credit: a borrower's accounts indexed with their status, whose absence made every checkout's
work grow with the book (issue #14, the demo at 1,000 customers)

``ix_credit_accounts_customer`` ends with ``status``. ``borrower_position`` and the
authorisation's exposure check sum a borrower's *active* accounts (``customer_id = ? AND
currency = ? AND status = 'active'``) on every credit quote and authorisation. On
(customer_id, currency) alone SQLite's planner (no statistics) preferred the covering book
index on (currency, status, ...) and read every active account of the currency for each
borrower: 1.3 ms a call after 45 days of the 1,000-customer demo, growing with the book; 0.2
ms with this index. Queries on (customer_id, currency) still use its prefix.
(The payments index of the same change is 0048_payment_intents_status.)

Revision ID: 0047_demo_scale_indexes
Revises: 0046_cross_border
Create Date: 2026-12-07 08:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0047_demo_scale_indexes'
down_revision: str | None = '0046_cross_border'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_credit_accounts_customer', table_name='credit_accounts')
    op.create_index('ix_credit_accounts_customer', 'credit_accounts',
                    ['customer_id', 'currency', 'status'])


def downgrade() -> None:
    op.drop_index('ix_credit_accounts_customer', table_name='credit_accounts')
    op.create_index('ix_credit_accounts_customer', 'credit_accounts',
                    ['customer_id', 'currency'])
