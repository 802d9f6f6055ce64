"""Tables owned by the assistant: conversations and their turns (issue #20).

Only :mod:`creditpay.assistant.service` writes them (and :mod:`creditpay.assistant.subject`
empties a person's questions and answers when they are erased). A turn's ``question`` is stored
masked (:func:`creditpay.assistant.safety.mask_transcript`): no phone, ID or card number,
e-mail or typed name is ever kept in clear. A conversation belongs to one customer; the
service reads it only together with that customer's id.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = ["assistant_conversations", "assistant_turns"]

assistant_conversations = Table(
    "assistant_conversations",
    metadata,
    Column("id", String(40), primary_key=True),  # asc_<random>
    Column("customer_id", String(64), nullable=False),
    Column("language", String(8), nullable=False),  # of the first question
    Column("started_at", UtcDateTime(), nullable=False),
    Column("last_at", UtcDateTime(), nullable=False),
    Column("turns", Integer, nullable=False),
    # The support ticket (complaints.id) a handoff opened, with the conversation attached.
    Column("handoff_complaint_id", String(32), nullable=True),
    CheckConstraint("turns >= 0", name="turns_non_negative"),
    Index("ix_assistant_conversations_customer", "customer_id", "last_at"),
)

assistant_turns = Table(
    "assistant_turns",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("assistant_conversations.id"),
           nullable=False),
    Column("number", Integer, nullable=False),  # 1, 2, ... within the conversation
    Column("asked_at", UtcDateTime(), nullable=False),
    Column("question", Text, nullable=False),  # masked
    Column("language", String(8), nullable=False),
    Column("intent", String(32), nullable=False),
    Column("confidence_permille", Integer, nullable=False),  # the classifier's, 0..1000
    Column("refusal", String(32), nullable=True),  # why safety refused, else NULL
    Column("answer", Text, nullable=False),
    Column("sources", JSONType, nullable=False),  # [{"doc", "heading"}]
    Column("actions", JSONType, nullable=False),  # the proposals made
    CheckConstraint("confidence_permille BETWEEN 0 AND 1000", name="confidence_range"),
    Index("ux_assistant_turns_conversation", "conversation_id", "number", unique=True),
)
