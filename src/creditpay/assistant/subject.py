"""The assistant's part of a data subject's rights (docs/assistant.md).

:func:`creditpay.reporting.subject_rights.export_subject` reads a customer's conversations
with :func:`customer_transcripts` (each with its turns, questions as stored: masked), in two
statements whatever the number of rows; :func:`erase_customer_transcripts` is how the
assistant, which owns ``assistant_conversations`` and ``assistant_turns``, does its part of
an erasure: what the person typed and what was answered from their data are emptied; the
log of each turn (time, language, intent, sources, proposals, refusal) stays, as do the
conversation's times and its handoff ticket.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from creditpay.assistant.tables import assistant_conversations, assistant_turns
from creditpay.db.uow import Tx

__all__ = ["customer_transcripts", "erase_customer_transcripts", "ERASED_TEXT"]

ERASED_TEXT = ""  # what an erased question and answer become


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def customer_transcripts(conn: Connection, customer_id: str, *, limit: int = 10_000
                         ) -> list[dict[str, Any]]:
    """The customer's conversations, latest first, each with its turns (oldest first)."""
    c, t = assistant_conversations.c, assistant_turns.c
    rows = conn.execute(select(assistant_conversations).where(c.customer_id == customer_id)
                        .order_by(c.last_at.desc(), c.id).limit(limit)).mappings().all()
    mine = select(c.id).where(c.customer_id == customer_id)
    turns: dict[str, list[dict[str, Any]]] = {}
    for turn in conn.execute(select(assistant_turns).where(t.conversation_id.in_(mine))
                             .order_by(t.conversation_id, t.number)).mappings():
        turns.setdefault(turn["conversation_id"], []).append({
            "number": turn["number"], "asked_at": _iso(turn["asked_at"]),
            "question": turn["question"], "language": turn["language"],
            "intent": turn["intent"], "answer": turn["answer"],
            "sources": list(turn["sources"]), "actions": list(turn["actions"]),
            "refusal": turn["refusal"]})
    return [{"conversation_id": row["id"], "language": row["language"],
             "started_at": _iso(row["started_at"]), "last_at": _iso(row["last_at"]),
             "handoff_complaint_id": row["handoff_complaint_id"],
             "turns": turns.get(row["id"], [])} for row in rows]


def erase_customer_transcripts(tx: Tx, customer_id: str) -> int:
    """Empty the questions and answers of the customer's conversations in ``tx``; returns
    how many turns there were. The caller has checked that no retention duty remains."""
    c, t = assistant_conversations.c, assistant_turns.c
    mine = select(c.id).where(c.customer_id == customer_id)
    done = tx.conn.execute(update(assistant_turns).where(t.conversation_id.in_(mine)).values(
        question=ERASED_TEXT, answer=ERASED_TEXT)).rowcount
    return int(done or 0)
