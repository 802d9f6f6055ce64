"""credit: product and caps versions activated through four-eyes

A product or caps change is proposed (kinds product.change, caps.change) and, once a second
operator approves it, stored here as the active version: the process's catalogue is the
packaged YAML plus these rows (issue #16, docs/console.md "Product and cap changes").

Revision ID: 0032_credit_catalogue_versions
Revises: 0028_credit_day_end_positions (the credit tables' branch)
Create Date: 2026-12-06 17:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0032_credit_catalogue_versions'
down_revision: str | None = '0028_credit_day_end_positions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'credit_catalogue_versions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('code', sa.String(length=48), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('document', JSON, nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=8), server_default='active', nullable=False),
        sa.Column('activation_seq', sa.BigInteger(), nullable=False),
        sa.Column('proposed_by', sa.String(length=64), nullable=False),
        sa.Column('activated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('activated_by', sa.String(length=64), nullable=False),
        sa.CheckConstraint("kind IN ('product', 'caps')",
                           name=op.f('ck_credit_catalogue_versions_kind')),
        sa.CheckConstraint("status IN ('active', 'retired')",
                           name=op.f('ck_credit_catalogue_versions_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_catalogue_versions')),
        sa.UniqueConstraint('activation_seq',
                            name=op.f('uq_credit_catalogue_versions_activation_seq')),
        sa.UniqueConstraint('kind', 'code', 'version',
                            name=op.f('uq_credit_catalogue_versions_kind_code_version')),
    )


def downgrade() -> None:
    op.drop_table('credit_catalogue_versions')
