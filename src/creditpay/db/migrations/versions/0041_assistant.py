"""assistant: conversations and turns of the customer-service assistant (issue #20)

One row per conversation (its customer, language, the handoff ticket) and one per turn
(the masked question, intent, confidence, refusal, answer, sources and proposed actions).

Revision ID: 0041_assistant
Revises: 0040_hardship
Create Date: 2026-12-07 05:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0041_assistant'
down_revision: str | None = '0040_hardship'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'assistant_conversations',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('turns', sa.Integer(), nullable=False),
        sa.Column('handoff_complaint_id', sa.String(length=32), nullable=True),
        sa.CheckConstraint('turns >= 0',
                           name=op.f('ck_assistant_conversations_turns_non_negative')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_assistant_conversations')),
    )
    op.create_index('ix_assistant_conversations_customer', 'assistant_conversations',
                    ['customer_id', 'last_at'], unique=False)
    op.create_table(
        'assistant_turns',
        sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('conversation_id', sa.String(length=40), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('intent', sa.String(length=32), nullable=False),
        sa.Column('confidence_permille', sa.Integer(), nullable=False),
        sa.Column('refusal', sa.String(length=32), nullable=True),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('sources', JSON, nullable=False),
        sa.Column('actions', JSON, nullable=False),
        sa.CheckConstraint('confidence_permille BETWEEN 0 AND 1000',
                           name=op.f('ck_assistant_turns_confidence_range')),
        sa.ForeignKeyConstraint(['conversation_id'], ['assistant_conversations.id'],
                                name=op.f('fk_assistant_turns_conversation_id_assistant_'
                                          'conversations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_assistant_turns')),
    )
    op.create_index('ux_assistant_turns_conversation', 'assistant_turns',
                    ['conversation_id', 'number'], unique=True)


def downgrade() -> None:
    op.drop_index('ux_assistant_turns_conversation', table_name='assistant_turns')
    op.drop_table('assistant_turns')
    op.drop_index('ix_assistant_conversations_customer', table_name='assistant_conversations')
    op.drop_table('assistant_conversations')
