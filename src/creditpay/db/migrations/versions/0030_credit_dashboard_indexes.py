"""credit: indexes for the portfolio dashboard over a large book (issue #16)

The book views (receivables, 30+ dpd share, buckets) grouped every active account reading
the wide credit_accounts rows and sorting them: ix_credit_accounts_book covers the query in
group order. The bad rate by grade looks customers up among the 30+ dpd / written-off
accounts: ix_credit_accounts_bad is a partial index of just those. Write-offs by month read
ix_credit_accounts_written_off, a partial index of the written-off accounts.

Revision ID: 0030_credit_dashboard_indexes
Revises: 0029_credit_write_offs (the credit tables' branch)
Create Date: 2026-12-06 17:15:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0030_credit_dashboard_indexes'
down_revision: str | None = '0029_credit_write_offs'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BAD = "dpd >= 30 OR status = 'written_off'"
_WRITTEN_OFF = "written_off_on IS NOT NULL"


def upgrade() -> None:
    op.create_index('ix_credit_accounts_book', 'credit_accounts',
                    ['currency', 'status', 'product_code', 'bucket', 'dpd',
                     'principal_unbilled_minor', 'principal_billed_minor',
                     'principal_past_due_minor', 'penalty_unpaid_minor',
                     'late_fee_unpaid_minor', 'opened_on'])
    op.create_index('ix_credit_accounts_bad', 'credit_accounts',
                    ['currency', 'customer_id', 'dpd', 'status'],
                    sqlite_where=sa.text(_BAD), postgresql_where=sa.text(_BAD))
    op.create_index('ix_credit_accounts_written_off', 'credit_accounts',
                    ['currency', 'written_off_on', 'product_code', 'written_off_minor',
                     'recovered_minor'],
                    sqlite_where=sa.text(_WRITTEN_OFF), postgresql_where=sa.text(_WRITTEN_OFF))


def downgrade() -> None:
    op.drop_index('ix_credit_accounts_written_off', table_name='credit_accounts')
    op.drop_index('ix_credit_accounts_bad', table_name='credit_accounts')
    op.drop_index('ix_credit_accounts_book', table_name='credit_accounts')
