"""credit: month-end cells count the accounts that had lent something (issue #18)

A pay-later line opens with nothing lent and lends draw by draw, so a vintage's count-based
bad rate must be over the accounts that had been lent something by the month end, not over
every account opened (record_month_end now also records a line's lent amount as its draws
less refunds and conversions). Cells recorded before this revision get lent_accounts =
accounts: the best figure their rows allow (right for plans and loans, which lend at
opening; a line cell then counts its never-drawn lines too).

Revision ID: 0035_credit_month_end_lent
Revises: 0034_credit_funding (the credit tables' branch)
Create Date: 2026-12-06 23:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0035_credit_month_end_lent'
down_revision: str | None = '0034_credit_funding'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('credit_month_end_cells') as batch:
        batch.add_column(sa.Column('lent_accounts', sa.BigInteger(), nullable=False,
                                   server_default='0'))
    op.execute("UPDATE credit_month_end_cells SET lent_accounts = accounts")


def downgrade() -> None:
    with op.batch_alter_table('credit_month_end_cells') as batch:
        batch.drop_column('lent_accounts')
