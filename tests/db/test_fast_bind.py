"""The queued inserts (``Tx.queue_insert``, the outbox, the audit trail) go to the driver
with conversions built once per table (``creditpay.db.metadata.fast_bind``): they must send
what SQLAlchemy's own bind processors send, and write the rows a Core insert writes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select

from creditpay.db.metadata import JsonText, fast_bind
from creditpay.db.tables import outbox_events
from creditpay.db.uow import UnitOfWork

_UTC = dt.UTC
_DATETIMES: list[Any] = [
    dt.datetime(2025, 3, 1, 9, 0, tzinfo=_UTC),
    dt.datetime(2025, 3, 1, 9, 0, 0, 1, tzinfo=_UTC),
    dt.datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=_UTC),
    dt.datetime(2025, 3, 1, 9, 0, 5, 250_000, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC),
    None,
]
_JSON: list[Any] = [{"b": 1, "a": [1, 2.5, None, True]}, [], "text", 7, None,
                    {"\u4e2d": "\u6587", "e": "\U0001f600"}]


@pytest.fixture(params=["sqlite://", "postgresql+psycopg://nobody@localhost/none"])
def dialect(request: pytest.FixtureRequest) -> Any:
    return create_engine(request.param).dialect  # never connects


def _processor(column: Any, dialect: Any) -> Any:
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor or (lambda value: value)


def _same(fast: Any, slow: Any) -> bool:
    # psycopg's Jsonb wrapper has no equality: compare what it wraps.
    if hasattr(slow, "obj"):
        return hasattr(fast, "obj") and fast.obj == slow.obj
    return type(fast) is type(slow) and fast == slow


def test_datetime_conversion_equals_the_columns_processor(dialect) -> None:
    column = outbox_events.c.occurred_at
    fast, slow = fast_bind(column.type, dialect), _processor(column, dialect)
    assert fast is not None
    for value in _DATETIMES:
        assert _same(fast(value), slow(value)), value


@pytest.mark.parametrize("value", [dt.datetime(2025, 3, 1, 9, 0), "2025-03-01", 5])
def test_a_refused_datetime_raises_the_columns_own_error(dialect, value) -> None:
    column = outbox_events.c.occurred_at
    fast, slow = fast_bind(column.type, dialect), _processor(column, dialect)
    assert fast is not None
    with pytest.raises(ValueError) as expected:
        slow(value)
    with pytest.raises(ValueError, match="outbox_events.occurred_at") as got:
        fast(value)
    assert str(got.value) == str(expected.value)


def test_json_conversion_equals_the_columns_processor(dialect) -> None:
    column = outbox_events.c.payload
    fast, slow = fast_bind(column.type, dialect), _processor(column, dialect)
    assert fast is not None
    for value in _JSON:
        assert _same(fast(value), slow(value)), value
    assert fast(JsonText('{"a":1}')) == '{"a":1}'


def test_queued_rows_equal_core_inserted_rows(store, uow: UnitOfWork) -> None:
    rows = [{"topic": f"t.{i}", "aggregate_type": "thing", "aggregate_id": f"a{i}",
             "payload": payload, "occurred_at": when}
            for i, (payload, when) in enumerate(zip(
                _JSON[:4] + [{"k": "v"}, {"n": 1}], _DATETIMES[:5] + [_DATETIMES[0]],
                strict=True))]
    with store.engine.begin() as conn:
        conn.execute(insert(outbox_events), rows)
    with uow.begin() as tx:
        for row in rows[:-1]:
            tx.queue_insert(outbox_events, row)
        tx.queue_insert(outbox_events, dict(rows[-1], payload=JsonText(json.dumps({"n": 1}))))
    with store.engine.connect() as conn:
        read = conn.execute(select(outbox_events).order_by(outbox_events.c.id)).all()
    core, queued = read[:len(rows)], read[len(rows):]
    assert len(queued) == len(rows)
    assert [row[1:] for row in queued] == [row[1:] for row in core]
    if store.kind == "sqlite":  # the stored text itself, not only its value
        with store.engine.connect() as conn:
            texts = conn.exec_driver_sql(
                "SELECT payload, occurred_at FROM outbox_events ORDER BY id").all()
        assert texts[len(rows):] == texts[:len(rows)]


def test_rows_naming_different_columns_are_refused(uow: UnitOfWork) -> None:
    row = {"topic": "t", "aggregate_type": "x", "aggregate_id": "1", "payload": {},
           "occurred_at": _DATETIMES[0]}
    with pytest.raises(ValueError, match="name different columns"):
        with uow.begin() as tx:
            tx.queue_insert(outbox_events, row)
            tx.queue_insert(outbox_events, {k: row[k] for k in reversed(list(row))})
