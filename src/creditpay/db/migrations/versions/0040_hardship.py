"""credit: hardship requests and arrangements (issue #20, docs/hardship.md)

A consumer in difficulty accepts a hardship option (a payment holiday, a re-amortisation or
a reduced-interest plan) with the key facts they read; the request is approved within the
product's policy or referred to an operator, and an approved one runs as an arrangement on
the account until its new schedule is repaid or broken.

Revision ID: 0040_hardship
Revises: 0039_disputes
Create Date: 2026-12-07 05:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0040_hardship'
down_revision: str | None = '0039_disputes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'credit_hardship_requests',
        sa.Column('request_id', sa.String(64), primary_key=True),
        sa.Column('customer_id', sa.String(64), nullable=False),
        sa.Column('account_id', sa.String(64), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('product_code', sa.String(48), nullable=False),
        sa.Column('product_version', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(16), nullable=False),
        sa.Column('statement_note_id', sa.String(32), nullable=True),
        sa.Column('option_id', sa.String(64), nullable=False),
        sa.Column('option_kind', sa.String(16), nullable=False),
        sa.Column('cycles', sa.Integer(), nullable=False),
        sa.Column('annual_rate_micro', sa.BigInteger(), nullable=False),
        sa.Column('figures', JSON, nullable=False),
        sa.Column('language', sa.String(8), nullable=False),
        sa.Column('key_facts_sha256', sa.String(64), nullable=False),
        sa.Column('key_facts_html', sa.Text(), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('decided_by', sa.String(64), nullable=True),
        sa.Column('decision_note_id', sa.String(32), nullable=True),
        sa.Column('dpd_at_request', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('approved', 'referred', 'declined')",
                           name=op.f('ck_credit_hardship_requests_status')),
        sa.CheckConstraint(
            "option_kind IN ('payment_holiday', 'reamortisation', 'reduced_rate')",
            name=op.f('ck_credit_hardship_requests_option_kind')),
    )
    op.create_index('ix_credit_hardship_requests_customer', 'credit_hardship_requests',
                    ['customer_id', 'created_at'])
    op.create_index('ix_credit_hardship_requests_status', 'credit_hardship_requests',
                    ['status', 'created_at'])
    op.create_table(
        'credit_hardship_arrangements',
        sa.Column('arrangement_id', sa.String(64), primary_key=True),
        sa.Column('account_id', sa.String(64), nullable=False),
        sa.Column('customer_id', sa.String(64), nullable=False),
        sa.Column('option_kind', sa.String(16), nullable=False),
        sa.Column('cycles', sa.Integer(), nullable=False),
        sa.Column('started_on', sa.Date(), nullable=False),
        sa.Column('first_number', sa.Integer(), nullable=False),
        sa.Column('last_due_date', sa.Date(), nullable=False),
        sa.Column('broken_after_days', sa.Integer(), nullable=False),
        sa.Column('rate_restore_on', sa.Date(), nullable=True),
        sa.Column('restore_rate_micro', sa.BigInteger(), nullable=True),
        sa.Column('rate_restored', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('ended_on', sa.Date(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'completed', 'broken')",
                           name=op.f('ck_credit_hardship_arrangements_status')),
    )
    op.create_index('ix_credit_hardship_arrangements_account',
                    'credit_hardship_arrangements', ['account_id', 'status'])
    op.create_index('ix_credit_hardship_arrangements_status',
                    'credit_hardship_arrangements', ['status'])


def downgrade() -> None:
    op.drop_table('credit_hardship_arrangements')
    op.drop_table('credit_hardship_requests')
