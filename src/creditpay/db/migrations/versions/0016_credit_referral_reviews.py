"""risk: the verdict a person gives a referred credit decision (one per decision)

Revision ID: 0016_credit_referral_reviews
Revises: 0014_decision_histories
Create Date: 2026-12-01 01:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016_credit_referral_reviews'
down_revision: str | None = '0014_decision_histories'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')


def upgrade() -> None:
    op.create_table('credit_referral_reviews',
    sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
    sa.Column('decision_id', sa.String(length=32), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('limit_minor', sa.BigInteger(), nullable=True),
    sa.Column('apr_bps', sa.Integer(), nullable=True),
    sa.Column('reason_code', sa.String(length=32), nullable=True),
    sa.Column('reviewer_id', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("verdict IN ('approve', 'decline')",
                       name=op.f('ck_credit_referral_reviews_verdict')),
    sa.ForeignKeyConstraint(['decision_id'], ['credit_decisions.id'],
                            name=op.f('fk_credit_referral_reviews_decision_id_credit_decisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_referral_reviews')),
    sa.UniqueConstraint('decision_id', name=op.f('uq_credit_referral_reviews_decision_id'))
    )


def downgrade() -> None:
    op.drop_table('credit_referral_reviews')
