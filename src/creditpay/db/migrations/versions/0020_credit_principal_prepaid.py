"""credit: principal prepaid per account (a flat loan's interest stops on what is prepaid)

Revision ID: 0020_credit_principal_prepaid
Revises: 0013_cash_loan_quotes
Create Date: 2026-12-02 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020_credit_principal_prepaid'
down_revision: str | None = '0013_cash_loan_quotes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('credit_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('principal_prepaid_minor', sa.BigInteger(),
                                      nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('credit_accounts', schema=None) as batch_op:
        batch_op.drop_column('principal_prepaid_minor')
