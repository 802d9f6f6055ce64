"""credit: a line frozen while a hardship arrangement runs on it (issue #20)

A consumer in difficulty may move their pay-later line's balance into a hardship plan; the
line is frozen for new purchases while the arrangement runs and unfrozen when it completes.
``credit_lines.frozen_reason`` gains ``hardship`` (the lender's freeze, lifted by the close of
business, never by the consumer's one-time code).

Revision ID: 0045_line_hardship_freeze
Revises: 0044_line_disputes
Create Date: 2026-12-07 08:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0045_line_hardship_freeze'
down_revision: str | None = '0044_line_disputes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('credit_lines') as batch:
        batch.drop_constraint('frozen_reason', type_='check')
        batch.create_check_constraint(
            'frozen_reason', "frozen_reason IS NULL OR frozen_reason IN "
            "('customer_request', 'write_off', 'hardship')")


def downgrade() -> None:
    # A line frozen for hardship counts as the lender's freeze before this revision.
    op.execute("UPDATE credit_lines SET frozen_reason = 'write_off' "
               "WHERE frozen_reason = 'hardship'")
    with op.batch_alter_table('credit_lines') as batch:
        batch.drop_constraint('frozen_reason', type_='check')
        batch.create_check_constraint(
            'frozen_reason',
            "frozen_reason IS NULL OR frozen_reason IN ('customer_request', 'write_off')")
