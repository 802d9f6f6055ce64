"""compliance: vault_notes, free text kept encrypted and erasable outside the audit chain

Revision ID: 0019_vault_notes
Revises: 0006
Create Date: 2026-12-02 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019_vault_notes'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('vault_notes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('about_type', sa.String(length=32), nullable=False),
    sa.Column('about_id', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('author_id', sa.String(length=128), nullable=False),
    sa.Column('ciphertext', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(ciphertext IS NULL) = (erased_at IS NOT NULL)',
                       name=op.f('ck_vault_notes_erased_xor_ciphertext')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vault_notes'))
    )
    op.create_index('ix_vault_notes_customer_id', 'vault_notes', ['customer_id'], unique=False)
    op.create_index('ix_vault_notes_about', 'vault_notes', ['about_type', 'about_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_vault_notes_about', table_name='vault_notes')
    op.drop_index('ix_vault_notes_customer_id', table_name='vault_notes')
    op.drop_table('vault_notes')
