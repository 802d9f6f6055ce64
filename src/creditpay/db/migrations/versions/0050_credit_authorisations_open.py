"""credit: the open authorisations indexed for the nightly close of expired holds (issue #14)

``credit.cob._close_expired_authorisations`` pages, every night, through the authorisations
still ``authorised`` and older than the hold timeout. Without an index on status SQLite
walked the primary key through every authorisation ever made (138 ms a night at 180 days of
the 1,000-customer demo, growing with the history) to find the few open ones. A partial
index holds only the open ones, ordered as the close pages them; it leads with status so
that SQLite (no statistics) estimates the lookup as narrow. Reads of a borrower's
authorisations keep ``ix_credit_authorisations_customer``: they do not state the index's
predicate as a literal.

Revision ID: 0050_credit_authorisations_open
Revises: 0049_payment_intents_due
Create Date: 2026-12-07 14:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0050_credit_authorisations_open'
down_revision: str | None = '0049_payment_intents_due'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here (a migration must not change when the code does); the same text as
# creditpay.credit.tables.AUTHORISATION_OPEN_SQL.
_OPEN = "status = 'authorised'"


def upgrade() -> None:
    op.create_index('ix_credit_authorisations_open', 'credit_authorisations',
                    ['status', 'authorisation_id'],
                    sqlite_where=sa.text(_OPEN), postgresql_where=sa.text(_OPEN))


def downgrade() -> None:
    op.drop_index('ix_credit_authorisations_open', table_name='credit_authorisations')
