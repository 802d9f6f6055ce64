"""credit: the revolving line's disputed bucket (issue #20)

A purchase on the revolving line that is disputed is held out of the line's balances while
the dispute is open (no interest, not in the minimum, never late), instead of pausing the
whole account as a plan is. ``credit_pauses`` records which kind of pause a row is
(``account_kind``: ``plan``, the default for the rows before this revision, or ``line``) and,
for a line, the principal held (``held_minor``) and where it was taken from (``held_from``:
the principal not yet on a statement, and each statement's cut with its minimum lowered).

Revision ID: 0044_line_disputes
Revises: 0043_fx
Create Date: 2026-12-07 08:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0044_line_disputes'
down_revision: str | None = '0043_fx'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('credit_pauses') as batch:
        batch.add_column(sa.Column('account_kind', sa.String(8), nullable=False,
                                   server_default='plan'))
        batch.add_column(sa.Column('held_minor', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('held_from', JSON, nullable=True))
        batch.create_check_constraint('account_kind', "account_kind IN ('plan', 'line')")
        batch.create_check_constraint(
            'held_bounded',
            'held_minor IS NULL OR (held_minor >= 0 AND held_minor <= amount_minor)')


def downgrade() -> None:
    with op.batch_alter_table('credit_pauses') as batch:
        batch.drop_constraint('held_bounded', type_='check')
        batch.drop_constraint('account_kind', type_='check')
        batch.drop_column('held_from')
        batch.drop_column('held_minor')
        batch.drop_column('account_kind')
