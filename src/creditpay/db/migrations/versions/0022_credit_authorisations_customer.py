"""credit: index credit_authorisations by customer (the open holds of one borrower)

Every checkout reads the borrower's open holds (exposure, affordability). Without an index
the read scanned every authorisation ever made, so a checkout grew slower with the
platform's history.

Revision ID: 0022_credit_auth_customer
Revises: 0021_credit_quotes
Create Date: 2026-12-06 08:20:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0022_credit_auth_customer'
down_revision: str | None = '0021_credit_quotes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_credit_authorisations_customer', 'credit_authorisations',
                    ['customer_id', 'currency', 'status'])


def downgrade() -> None:
    op.drop_index('ix_credit_authorisations_customer', table_name='credit_authorisations')
