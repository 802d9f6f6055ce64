"""Applying the card rail's due callbacks: the job ``creditpay worker`` runs every few
seconds (and the development server's in-process runner), and the operator route
``POST /v1/operator/jobs/card_rail`` runs on demand.

Each callback is applied in its own transaction; the rail marks a callback delivered in
the same transaction as its effects (``CardRail.mark_delivered``), so a run that dies half
way, or two runs at once, apply each callback exactly once."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from creditpay.db.uow import Tx, UnitOfWork
    from creditpay.payments.service import Payments

__all__ = ["apply_due_rail_callbacks", "CALLBACKS_PER_RUN_MAX"]

CALLBACKS_PER_RUN_MAX = 100  # one run's bound; the next run takes the rest


def apply_due_rail_callbacks(uow: UnitOfWork, payments: Payments, *,
                             limit: int = CALLBACKS_PER_RUN_MAX) -> int:
    """Apply every card-rail callback due by business now (at most ``limit``), each in its
    own transaction; returns how many were applied by this run (a callback another run
    applied first counts there, not here)."""
    with uow.connect() as conn:
        due = payments.rail.due_callbacks(conn, uow.clock.now(), limit)
    applied = 0
    for callback in due:
        operation_id: str = callback["operation_id"]
        result = uow.run(functools.partial(_apply, payments, operation_id))
        applied += int(bool(result.get("applied")))
    return applied


def _apply(payments: Payments, operation_id: str, tx: Tx) -> dict[str, Any]:
    return payments.handle_rail_callback(tx, operation_id)
