"""Every fraud screening stored: the journal behind the streaming feature state (issue #6).

:func:`record_screening` writes one ``fraud_screenings`` row in the screened transaction (a
single driver insert: it is on the checkout's hot path), so the record exists if and only if
the payment's outcome committed. The row keeps what decided (features by name, rules hit,
score, decision, reasons, the model / features / rules versions and the score thresholds
applied) and the event's inputs, from which :func:`events_after` rebuilds the streaming
state after a restart (the state snapshot records the highest id it includes).

Other domains read screenings through :func:`screenings_for` only.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, func, select

from creditpay.db.engine import driver_connection
from creditpay.db.metadata import column_bind
from creditpay.db.uow import Tx
from creditpay.errors import ValidationError
from creditpay.risk.fraud.features import PaymentEvent
from creditpay.risk.fraud.screening import ScreeningResult
from creditpay.risk.fraud.tables import fraud_screenings

__all__ = ["SUBJECT_TYPES", "record_screening", "screenings_for", "events_after",
           "last_screening_id", "SCREENINGS_LIMIT_MAX"]

SUBJECT_TYPES = ("payment", "p2p")
SCREENINGS_LIMIT_MAX = 100
REPLAY_BATCH_ROWS = 5_000

_REPLAY_COLUMNS = (
    fraud_screenings.c.id, fraud_screenings.c.customer_id, fraud_screenings.c.device_id,
    fraud_screenings.c.merchant_id, fraud_screenings.c.terminal_id,
    fraud_screenings.c.card_id, fraud_screenings.c.amount_minor, fraud_screenings.c.currency,
    fraud_screenings.c.scenario, fraud_screenings.c.screened_at)


def _features_by_name(result: ScreeningResult) -> dict[str, float | None]:
    """Named feature values; NaN (not applicable) becomes null (JSON has no NaN)."""
    # ``value == value`` is False for NaN only: cheaper than math.isnan per feature.
    return {name: (value if value == value else None) for name, value in
            zip(result.feature_names, result.feature_vector.tolist(), strict=True)}


def record_screening(tx: Tx, *, subject_type: str, subject_id: str, event: PaymentEvent,
                     result: ScreeningResult) -> int:
    """Store one screening in ``tx``; returns its id (the journal's order).

    ``screened_at`` is the event's time (``event.timestamp_s``, unix seconds, as the
    streaming features saw it); amounts are minor units of ``event.currency``.
    """
    if subject_type not in SUBJECT_TYPES:
        raise ValidationError(f"must be one of {list(SUBJECT_TYPES)}", field="subject_type")
    if not isinstance(subject_id, str) or not 1 <= len(subject_id) <= 64:
        raise ValidationError("must be a string of 1..64 characters", field="subject_id")
    versions = result.versions
    conn = tx.conn
    binds = _binds(conn.dialect)
    values = (subject_type, subject_id, event.customer_id, event.device_id,
              event.merchant_id, event.terminal_id, event.card_id, event.amount_minor,
              event.currency, event.scenario,
              binds.screened_at(dt.datetime.fromtimestamp(event.timestamp_s, dt.UTC)),
              binds.json(_features_by_name(result)), binds.json(list(result.rules_hit)),
              float(result.score), result.decision, binds.json(list(result.reasons)),
              versions["model"][:64], versions["features"][:64], versions["rules"][:128],
              binds.json(dict(result.thresholds or {})))
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(binds.insert_sql, values)
        if binds.returning:
            return int(cursor.fetchone()[0])
        return int(cursor.lastrowid)
    finally:
        cursor.close()


# The journal's insert goes straight to the driver (one per screened payment: SQLAlchemy's
# per-statement work cost several times what the database needs to run it). The values
# are converted by the columns' own types for the dialect (UtcDateTime, JSON), so the row
# is the one a Core insert writes; a test reads rows written both ways and compares them.
_INSERT_COLUMNS = ("subject_type", "subject_id", "customer_id", "device_id", "merchant_id",
                   "terminal_id", "card_id", "amount_minor", "currency", "scenario",
                   "screened_at", "features", "rules_hit", "score", "decision", "reasons",
                   "model_version", "features_version", "rules_version", "thresholds")


class _Binds:
    """The insert's SQL and the columns' driver conversions for one dialect."""

    def __init__(self, dialect: Any) -> None:
        c = fraud_screenings.c
        self.screened_at = column_bind(c.screened_at, dialect)
        # Every JSON column has the same type (JSONType): one conversion serves the four.
        self.json = column_bind(c.features, dialect)
        assert all(type(col.type) is type(c.features.type)
                   for col in (c.rules_hit, c.reasons, c.thresholds))
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        # PostgreSQL returns the new id; SQLite's cursor has it (lastrowid).
        self.returning = dialect.name == "postgresql"
        self.insert_sql = (
            f"INSERT INTO {fraud_screenings.name} ({', '.join(_INSERT_COLUMNS)})"  # nosec B608
            f" VALUES ({', '.join([mark] * len(_INSERT_COLUMNS))})"
            + (" RETURNING id" if self.returning else ""))


# Pure memo (kept): a function of the dialect object only.
@functools.lru_cache(maxsize=8)
def _binds(dialect: Any) -> _Binds:
    return _Binds(dialect)


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id), "subject_type": row.subject_type, "subject_id": row.subject_id,
        "customer_id": row.customer_id, "device_id": row.device_id,
        "merchant_id": row.merchant_id, "terminal_id": row.terminal_id,
        "card_id": row.card_id, "amount_minor": int(row.amount_minor),
        "currency": row.currency, "scenario": row.scenario,
        "screened_at": row.screened_at.isoformat(),
        "features": dict(row.features), "rules_hit": list(row.rules_hit),
        "score": float(row.score), "decision": row.decision, "reasons": list(row.reasons),
        "model_version": row.model_version, "features_version": row.features_version,
        "rules_version": row.rules_version, "thresholds": dict(row.thresholds),
    }


def screenings_for(conn: Connection, subject_id: str, *,
                   limit: int = SCREENINGS_LIMIT_MAX) -> list[dict[str, Any]]:
    """The screenings of one payment intent or transfer, oldest first (a challenged
    attempt and the verified one are two screenings)."""
    if not isinstance(subject_id, str) or not 1 <= len(subject_id) <= 64:
        raise ValidationError("must be a string of 1..64 characters", field="subject_id")
    if isinstance(limit, bool) or not isinstance(limit, int) or \
            not 1 <= limit <= SCREENINGS_LIMIT_MAX:
        raise ValidationError(f"must be from 1 to {SCREENINGS_LIMIT_MAX}", field="limit")
    c = fraud_screenings.c
    rows = conn.execute(select(fraud_screenings).where(c.subject_id == subject_id)
                        .order_by(c.id).limit(limit)).all()
    return [_view(r) for r in rows]


def last_screening_id(conn: Connection) -> int:
    """The highest screening id stored (0 when none)."""
    return int(conn.execute(select(func.coalesce(func.max(fraud_screenings.c.id), 0)))
               .scalar_one())


def events_after(conn: Connection, after_id: int, *, skip: frozenset[int] = frozenset(),
                 batch_rows: int = REPLAY_BATCH_ROWS
                 ) -> Iterator[tuple[int, PaymentEvent]]:
    """(id, event) of the screenings stored after ``after_id``, in id order, read in
    batches of ``batch_rows``; ids in ``skip`` (already in a snapshot) are left out."""
    c = fraud_screenings.c
    last = int(after_id)
    while True:
        rows = conn.execute(select(*_REPLAY_COLUMNS).where(c.id > last)
                            .order_by(c.id).limit(batch_rows)).all()
        for row in rows:
            last = int(row.id)
            if last in skip:
                continue
            yield last, PaymentEvent(
                customer_id=row.customer_id, device_id=row.device_id,
                merchant_id=row.merchant_id, amount_minor=int(row.amount_minor),
                timestamp_s=int(row.screened_at.timestamp()),
                currency=row.currency, scenario=row.scenario, card_id=row.card_id,
                terminal_id=row.terminal_id)
        if len(rows) < batch_rows:
            return

