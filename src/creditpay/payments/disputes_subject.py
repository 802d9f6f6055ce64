"""Payments' part of a data subject's rights over their disputes (docs/disputes.md).

:func:`creditpay.reporting.subject_rights.export_subject` reads a customer's disputes with
:func:`customer_disputes` (each with its events: both sides' statements and evidence, as the
customer sees them in their app), in two statements whatever the number of rows;
:func:`erase_customer_disputes` is how payments, which owns ``payment_disputes`` and
``payment_dispute_events``, does its part of an erasure: the words the consumer wrote (the
dispute's description, their statements on its events) are personal free text and are
dropped; the dispute itself (amount, reason, outcome, refund, who decided) is a record of
the payment the erasure does not change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from creditpay.db.uow import Tx
from creditpay.payments.disputes import dispute_view
from creditpay.payments.disputes_tables import payment_dispute_events, payment_disputes

__all__ = ["customer_disputes", "erase_customer_disputes"]


def customer_disputes(conn: Connection, customer_id: str, *, limit: int = 10_000
                      ) -> list[dict[str, Any]]:
    """The customer's disputes, newest first, each with its events (oldest first)."""
    d, e = payment_disputes.c, payment_dispute_events.c
    rows = conn.execute(select(payment_disputes).where(d.customer_id == customer_id)
                        .order_by(d.seq.desc()).limit(limit)).all()
    mine = select(d.id).where(d.customer_id == customer_id)
    events: dict[str, list[Any]] = {}
    for event in conn.execute(select(payment_dispute_events).where(
            e.dispute_id.in_(mine)).order_by(e.seq)).all():
        events.setdefault(event.dispute_id, []).append(event)
    return [dispute_view(row, events.get(row.id, [])) for row in rows]


def erase_customer_disputes(tx: Tx, customer_id: str) -> int:
    """Drop the consumer's own words from their disputes in ``tx``: each dispute's
    description and the statements of the events they wrote. Returns how many disputes
    the customer had. The caller has checked that no retention duty remains."""
    d, e = payment_disputes.c, payment_dispute_events.c
    mine = select(d.id).where(d.customer_id == customer_id)
    tx.conn.execute(update(payment_dispute_events).where(
        e.dispute_id.in_(mine), e.actor_type == "customer").values(statement=None))
    done = tx.conn.execute(update(payment_disputes).where(d.customer_id == customer_id)
                           .values(description=None)).rowcount
    return int(done or 0)
