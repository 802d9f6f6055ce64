"""risk decisions: credit-bureau reporting (issue #17 item 7)

bureau_submissions and bureau_submission_records keep every monthly submission the platform
made to a bureau and its records (so a re-run of a month reports only corrections);
bureau_tradelines is the simulated bureau's store of what it ingested, which its reports
read (docs/bureau-reporting.md).

Revision ID: 0033_bureau_reporting
Revises: 0030_risk_decisions_grade (the decision tables' branch)
Create Date: 2026-12-06 20:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0033_bureau_reporting'
down_revision: str | None = '0030_risk_decisions_grade'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'bureau_submissions',
        sa.Column('submission_id', sa.String(length=32), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('bureau', sa.String(length=64), nullable=False),
        sa.Column('record_count', sa.Integer(), nullable=False),
        sa.Column('corrections', sa.Integer(), nullable=False),
        sa.Column('checksum', sa.String(length=64), nullable=False),
        sa.Column('file_name', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.CheckConstraint("kind IN ('original', 'correction')",
                           name=op.f('ck_bureau_submissions_kind')),
        sa.CheckConstraint("status IN ('accepted', 'rejected')",
                           name=op.f('ck_bureau_submissions_status')),
        sa.PrimaryKeyConstraint('submission_id', name=op.f('pk_bureau_submissions')),
        sa.UniqueConstraint('month', 'sequence',
                            name=op.f('uq_bureau_submissions_month_sequence')),
    )
    op.create_table(
        'bureau_submission_records',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('submission_id', sa.String(length=32), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('correction_indicator', sa.String(length=1), nullable=False),
        sa.Column('original_submission_id', sa.String(length=32), nullable=True),
        sa.Column('record', JSON, nullable=False),
        sa.Column('content_sha256', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ['submission_id'], ['bureau_submissions.submission_id'],
            name=op.f('fk_bureau_submission_records_submission_id_bureau_submissions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bureau_submission_records')),
    )
    op.create_index('ix_bureau_submission_records_month', 'bureau_submission_records',
                    ['month', 'account_id', 'id'])
    op.create_table(
        'bureau_tradelines',
        sa.Column('bureau', sa.String(length=32), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('record', JSON, nullable=False),
        sa.Column('deleted', sa.Boolean(), nullable=False),
        sa.Column('submission_id', sa.String(length=32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('bureau', 'account_id', 'month',
                                name=op.f('pk_bureau_tradelines')),
    )
    op.create_index('ix_bureau_tradelines_customer', 'bureau_tradelines',
                    ['bureau', 'customer_id', 'month'])


def downgrade() -> None:
    op.drop_index('ix_bureau_tradelines_customer', table_name='bureau_tradelines')
    op.drop_table('bureau_tradelines')
    op.drop_index('ix_bureau_submission_records_month', table_name='bureau_submission_records')
    op.drop_table('bureau_submission_records')
    op.drop_table('bureau_submissions')
