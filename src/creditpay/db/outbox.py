"""Public reads and claims of the transactional outbox (``outbox_events``, owned by db).

Domains write events with :meth:`creditpay.db.uow.Tx.emit`; relays and development views
read them here instead of importing :mod:`creditpay.db.tables`: :func:`claim_unpublished`
and :func:`mark_published` for a relay that publishes one topic family, :func:`recent_events`
for a reader of the newest events of some topics.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select, update

from creditpay.db.tables import outbox_events
from creditpay.db.uow import Tx
from creditpay.errors import ValidationError

__all__ = ["OutboxEvent", "claim_unpublished", "mark_published", "recent_events",
           "CLAIM_MAX", "RECENT_MAX"]

CLAIM_MAX = 10_000  # events one claim may take: a bound on one transaction's work
RECENT_MAX = 10_000  # events one read of the newest may return


@dataclass(frozen=True)
class OutboxEvent:
    """One outbox row. ``occurred_at`` and ``published_at`` are aware UTC times (None: not
    published yet)."""

    id: int
    topic: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    occurred_at: dt.datetime
    published_at: dt.datetime | None


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _event(row: Row[Any]) -> OutboxEvent:
    published = row.published_at
    return OutboxEvent(int(row.id), row.topic, row.aggregate_type, row.aggregate_id,
                       dict(row.payload or {}), _aware(row.occurred_at),
                       None if published is None else _aware(published))


def _check_limit(limit: int, most: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise ValidationError(f"must be an integer from 1 to {most}", field="limit")


def claim_unpublished(tx: Tx, topic_prefix: str, *, limit: int) -> list[OutboxEvent]:
    """The oldest ``limit`` unpublished events whose topic starts with ``topic_prefix``
    (e.g. ``"payments."``), in id order. On PostgreSQL the rows are locked for ``tx`` and
    rows another relay holds are skipped, so two relays never take the same event; SQLite
    serialises writers. Publish them with :func:`mark_published` in the same ``tx``."""
    if not isinstance(topic_prefix, str) or not topic_prefix:
        raise ValidationError("must be a non-empty string", field="topic_prefix")
    _check_limit(limit, CLAIM_MAX)
    o = outbox_events.c
    query = (select(outbox_events)
             .where(o.published_at.is_(None), o.topic.startswith(topic_prefix, autoescape=True))
             .order_by(o.id).limit(limit))
    if tx.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [_event(row) for row in tx.conn.execute(query)]


def mark_published(tx: Tx, event_ids: Collection[int]) -> None:
    """Set ``published_at`` to ``tx.now`` on the given events (one statement)."""
    if event_ids:
        o = outbox_events.c
        tx.conn.execute(update(outbox_events).where(o.id.in_(sorted(event_ids)))
                        .values(published_at=tx.now))


def recent_events(conn: Connection, topics: Sequence[str], *, limit: int
                  ) -> list[OutboxEvent]:
    """The newest ``limit`` events of ``topics`` (published or not), newest first."""
    if not topics or not all(isinstance(t, str) and t for t in topics):
        raise ValidationError("must be non-empty strings", field="topics")
    _check_limit(limit, RECENT_MAX)
    o = outbox_events.c
    return [_event(row) for row in conn.execute(
        select(outbox_events).where(o.topic.in_(list(topics)))
        .order_by(o.id.desc()).limit(limit))]
