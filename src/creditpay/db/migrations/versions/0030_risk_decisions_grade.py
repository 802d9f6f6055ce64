"""risk decisions: index credit_decisions by grade (the dashboard's grades view)

The grades view counted decisions per grade and distinct approved customers per grade by
reading every decision's row (features and inputs JSON included) through the decided_at
index and sorting them. ix_credit_decisions_grade carries the columns those counts need,
in grade, outcome, customer order, so each grade is one index range read in order.
ix_credit_decisions_customer (customer_id, decided_at) gets the same columns after those
two, so the bad rate by grade looks the few bad customers' decisions up without reading
their rows.

Revision ID: 0030_risk_decisions_grade
Revises: 0016_credit_referral_reviews (the decision tables' branch)
Create Date: 2026-12-06 17:15:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0030_risk_decisions_grade'
down_revision: str | None = '0016_credit_referral_reviews'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_credit_decisions_grade', 'credit_decisions',
                    ['currency', 'grade', 'outcome', 'customer_id', 'decided_at',
                     'product_code'])
    op.drop_index('ix_credit_decisions_customer', table_name='credit_decisions')
    op.create_index('ix_credit_decisions_customer', 'credit_decisions',
                    ['customer_id', 'decided_at', 'currency', 'grade', 'outcome',
                     'product_code'])


def downgrade() -> None:
    op.drop_index('ix_credit_decisions_customer', table_name='credit_decisions')
    op.create_index('ix_credit_decisions_customer', 'credit_decisions',
                    ['customer_id', 'decided_at'])
    op.drop_index('ix_credit_decisions_grade', table_name='credit_decisions')
