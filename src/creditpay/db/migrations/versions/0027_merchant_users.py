"""parties: merchant users who log in to the merchant dashboard (password, TOTP, lockout)

A merchant's people log in to /merchant/ with a password (argon2id hash) and a TOTP code,
as operators do to the console, instead of pasting a secret API key into a browser. The
TOTP secret is a vault ciphertext; the step of the last accepted code, the failure count and
the lockout are kept as for operators. The role (owner | viewer) decides what they may do.

Revision ID: 0027_merchant_users
Revises: 0025_operator_credentials (the payments branch, which holds the parties' tables)
Create Date: 2026-12-10 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0027_merchant_users'
down_revision: str | None = '0025_operator_credentials'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'merchant_users',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('merchant_id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('totp_secret_ct', sa.Text(), nullable=False),
        sa.Column('totp_last_step', sa.Integer(), nullable=True),
        sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('owner', 'viewer')", name=op.f('ck_merchant_users_role')),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                                name=op.f('fk_merchant_users_merchant_id_merchants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_users')),
    )
    op.create_index('ix_merchant_users_merchant', 'merchant_users', ['merchant_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_merchant_users_merchant', table_name='merchant_users')
    op.drop_table('merchant_users')
