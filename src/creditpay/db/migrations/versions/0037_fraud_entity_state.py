"""risk.fraud: the streaming features' state as one row per entity (issue #19)

The fraud screener's state leaves the API process (a file written by one process) for the
database, where every API worker reads and writes it in the screened payment's transaction:
one compact row per (feature configuration, entity), see creditpay.risk.fraud.entity_state.
Rows start empty: the first screening of an entity after this revision starts its history
(the old state file is not imported; its features fill again within the windows, 30 days at
most).

Revision ID: 0037_fraud_entity_state
Revises: 0035_credit_month_end_lent
Create Date: 2026-12-07 02:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0037_fraud_entity_state'
down_revision: str | None = '0036_platform_rate_limits'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('fraud_entity_state',
    sa.Column('features_version', sa.String(length=32), nullable=False),
    sa.Column('entity_hash', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('state', sa.LargeBinary(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('kind BETWEEN 0 AND 4', name=op.f('ck_fraud_entity_state_kind')),
    sa.PrimaryKeyConstraint('features_version', 'entity_hash', 'kind',
                            name=op.f('pk_fraud_entity_state'))
    )


def downgrade() -> None:
    op.drop_table('fraud_entity_state')
