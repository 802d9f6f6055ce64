"""parties: staff login credentials on operators (password, TOTP, lockout)

An operator logs in with a password (argon2id hash) and a TOTP code; the TOTP secret is kept
as a vault ciphertext (it must be read back to check codes), with the step of the last code
accepted (a code is good once), and the failure count and lockout as customers have. Existing
operators keep their cpo_ token and get no password (all nullable; failed_logins 0).

Revision ID: 0025_operator_credentials
Revises: 0023_intents_checkout (the payments branch, which holds the parties' tables)
Create Date: 2026-12-09 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0025_operator_credentials'
down_revision: str | None = '0023_intents_checkout'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('operators') as batch:
        batch.add_column(sa.Column('password_hash', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('totp_secret_ct', sa.Text(), nullable=True))
        batch.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('locked_until', sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('operators') as batch:
        for name in ('locked_until', 'failed_logins', 'totp_last_step', 'totp_secret_ct',
                     'password_hash'):
            batch.drop_column(name)
