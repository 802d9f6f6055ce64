"""platform: the API's rate limits in the database, shared by every API process (issue #19)

``creditpay serve --workers N`` runs N processes: a limit kept in each process's memory
would let a client through N times. One row per limited key (its SHA-256 digest), checked
and updated by one atomic upsert (GCRA, creditpay.platform.rate_limits).

On PostgreSQL the table is UNLOGGED (a request's check writes no WAL and its commit waits
for no flush; a crash empties the table, which only resets the limits) with fillfactor 50,
so that the hot rows (one client IP, many requests) are updated in place (HOT updates: no
index column changes and the page has room).

Revision ID: 0036_platform_rate_limits
Revises: 0035_credit_month_end_lent
Create Date: 2026-12-07 01:50:00
"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0036_platform_rate_limits'
down_revision: str | None = '0035_credit_month_end_lent'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    options: dict[str, Any] = ({"prefixes": ["UNLOGGED"], "postgresql_with": {"fillfactor": 50}}
                               if postgres else {})
    op.create_table(
        'platform_rate_limits',
        sa.Column('key', sa.String(length=32), nullable=False),
        sa.Column('tat_us', sa.BigInteger(), nullable=False),
        sa.Column('tolerance_us', sa.BigInteger(), nullable=False),
        sa.Column('admitted', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_platform_rate_limits')),
        **options,
    )


def downgrade() -> None:
    op.drop_table('platform_rate_limits')
