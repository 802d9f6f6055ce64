"""risk fraud: index fraud_screenings by time (the dashboard's fraud view by month)

The portfolio dashboard counts screenings and declines per month of a date range; without
an index the count read every screening's row (features and reasons JSON included). The
index carries the few columns the count needs, so the query reads the index only.

Revision ID: 0026_fraud_screenings_time
Revises: 0011_fraud_screenings (the fraud tables' branch)
Create Date: 2026-12-07 10:05:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0026_fraud_screenings_time'
down_revision: str | None = '0011_fraud_screenings'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_fraud_screenings_time', 'fraud_screenings',
                    ['screened_at', 'currency', 'decision', 'amount_minor'])


def downgrade() -> None:
    op.drop_index('ix_fraud_screenings_time', table_name='fraud_screenings')
