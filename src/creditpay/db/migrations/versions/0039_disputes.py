"""payments and credit: disputes of a payment and the credit pause they cause (issue #20)

payments owns payment_disputes (one row per dispute; open_intent_id keeps one open dispute
per payment) and payment_dispute_events (both sides' statements and evidence, decisions);
credit owns credit_pauses (a plan paused while its purchase is disputed, and by how many
days its dates moved when the pause ended).

Revision ID: 0039_disputes
Revises: 0038_jobs_queue
Create Date: 2026-12-07 05:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import creditpay.db.metadata

revision: str = '0039_disputes'
down_revision: str | None = '0038_jobs_queue'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('credit_pauses',
    sa.Column('seq', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('pause_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('account_seq', sa.BigInteger(), nullable=False),
    sa.Column('purchase_id', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('paused_on', sa.Date(), nullable=False),
    sa.Column('resumed_on', sa.Date(), nullable=True),
    sa.Column('days_shifted', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('created_at', creditpay.db.metadata.UtcDateTime(), nullable=False),
    sa.Column('resumed_at', creditpay.db.metadata.UtcDateTime(), nullable=True),
    sa.CheckConstraint("reason IN ('dispute')", name=op.f('ck_credit_pauses_reason')),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('resumed', 'refunded')",
                       name=op.f('ck_credit_pauses_outcome')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_credit_pauses_amount_positive')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_credit_pauses')),
    sa.UniqueConstraint('pause_id', name=op.f('uq_credit_pauses_pause_id'))
    )
    op.create_index('ix_credit_pauses_open', 'credit_pauses', ['account_seq', 'resumed_on'],
                    unique=False)
    op.create_table('payment_disputes',
    sa.Column('seq', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('intent_id', sa.String(length=32), nullable=False),
    sa.Column('open_intent_id', sa.String(length=32), nullable=True),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('merchant_id', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('chargeback_id', sa.String(length=128), nullable=True),
    sa.Column('network_reason_code', sa.String(length=32), nullable=True),
    sa.Column('funding', sa.String(length=24), nullable=True),
    sa.Column('credit_purchase_id', sa.String(length=96), nullable=True),
    sa.Column('credit_paused', sa.Boolean(), nullable=False),
    sa.Column('policy_version', sa.String(length=32), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('respond_by', sa.Date(), nullable=False),
    sa.Column('merchant_late', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=True),
    sa.Column('refund_id', sa.String(length=32), nullable=True),
    sa.Column('opened_at', creditpay.db.metadata.UtcDateTime(), nullable=False),
    sa.Column('updated_at', creditpay.db.metadata.UtcDateTime(), nullable=False),
    sa.Column('resolved_at', creditpay.db.metadata.UtcDateTime(), nullable=True),
    sa.CheckConstraint("reason IN ('not_received', 'not_as_described', 'unauthorised', "
                       "'duplicate')", name=op.f('ck_payment_disputes_reason')),
    sa.CheckConstraint("status IN ('open', 'under_review', 'resolved_consumer', "
                       "'resolved_merchant', 'withdrawn', 'accepted')",
                       name=op.f('ck_payment_disputes_status')),
    sa.CheckConstraint("source IN ('consumer', 'chargeback')",
                       name=op.f('ck_payment_disputes_source')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_disputes_amount_positive')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_payment_disputes')),
    sa.UniqueConstraint('id', name=op.f('uq_payment_disputes_id')),
    sa.UniqueConstraint('open_intent_id', name=op.f('uq_payment_disputes_open_intent_id'))
    )
    op.create_index('ix_payment_disputes_intent', 'payment_disputes', ['intent_id'])
    op.create_index('ix_payment_disputes_customer', 'payment_disputes', ['customer_id', 'seq'])
    op.create_index('ix_payment_disputes_merchant', 'payment_disputes', ['merchant_id', 'seq'])
    op.create_index('ix_payment_disputes_due', 'payment_disputes', ['status', 'respond_by'])
    op.create_table('payment_dispute_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dispute_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('statement', sa.Text(), nullable=True),
    sa.Column('evidence_documents', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', creditpay.db.metadata.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_payment_dispute_events'))
    )
    op.create_index('ix_payment_dispute_events_dispute', 'payment_dispute_events',
                    ['dispute_id', 'seq'])


def downgrade() -> None:
    op.drop_table('payment_dispute_events')
    op.drop_table('payment_disputes')
    op.drop_table('credit_pauses')
