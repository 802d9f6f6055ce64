"""``creditpay.db.prepared.Prepared`` runs a constant Core statement on the driver: the rows,
the values' types, the row counts and the errors must be the ones ``conn.execute`` gives,
on both stores."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import String, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from creditpay.db.prepared import Prepared
from creditpay.db.tables import outbox_events
from tests.conftest import Store

_AT = dt.datetime(2025, 3, 1, 9, 0, 0, 123_456, tzinfo=dt.UTC)

_INSERT = Prepared(insert(outbox_events).values(
    topic=bindparam("topic"), aggregate_type="intent", aggregate_id=bindparam("aggregate_id"),
    payload=bindparam("payload"), occurred_at=bindparam("occurred_at")))
_BY_AGGREGATE = Prepared(select(outbox_events).where(
    outbox_events.c.aggregate_id == bindparam("aggregate_id"),
    outbox_events.c.aggregate_type == "intent").order_by(outbox_events.c.id))
_TOPIC = Prepared(select(outbox_events.c.topic.label("what")).where(
    outbox_events.c.aggregate_id == bindparam("aggregate_id")))
_RENAME = Prepared(update(outbox_events).where(
    outbox_events.c.aggregate_id == bindparam("aggregate_id")).values(topic=bindparam("topic")))


def _rows(store: Store) -> list[dict[str, Any]]:
    return [{"topic": "a.b", "aggregate_id": f"pi_{i}", "payload": payload,
             "occurred_at": _AT + dt.timedelta(seconds=i)}
            for i, payload in enumerate([{"b": 1, "a": [1, 2.5, None, True]}, [],
                                         {"\u4e2d": "\u6587"}])]


def test_reads_and_writes_equal_core_statements(store: Store) -> None:
    rows = _rows(store)
    with store.engine.begin() as conn:
        _INSERT.run_many(conn, rows[:2])
        assert _INSERT.run(conn, rows[2]) == 1
    with store.engine.begin() as conn:
        for row in rows:
            fast = _BY_AGGREGATE.rows(conn, {"aggregate_id": row["aggregate_id"]})
            core = conn.execute(_BY_AGGREGATE.statement,
                                {"aggregate_id": row["aggregate_id"]}).all()
            assert len(fast) == len(core) == 1
            assert fast[0]._asdict() == dict(core[0]._mapping) == fast[0]._mapping
            assert [type(v) for v in fast[0]] == [type(v) for v in core[0]]
            assert fast[0].occurred_at == row["occurred_at"]
            assert fast[0].payload == row["payload"]
        assert _TOPIC.scalar(conn, {"aggregate_id": "pi_0"}) == "a.b"
        assert _TOPIC.first(conn, {"aggregate_id": "pi_0"}).what == "a.b"
        assert _TOPIC.first(conn, {"aggregate_id": "none"}) is None
        assert _RENAME.run(conn, {"aggregate_id": "pi_1", "topic": "c.d"}) == 1
        assert _RENAME.run(conn, {"aggregate_id": "none", "topic": "c.d"}) == 0
        assert conn.execute(_TOPIC.statement, {"aggregate_id": "pi_1"}).scalar() == "c.d"


def test_none_is_stored_as_core_stores_it(store: Store) -> None:
    # A JSON column's None is JSON null for Core (none_as_null is off), not SQL NULL; a
    # datetime's None is NULL: the prepared write must store exactly what Core stores.
    from sqlalchemy import func

    core = {"topic": "core", "aggregate_id": "n_core", "payload": None, "occurred_at": _AT}
    with store.engine.begin() as conn:
        conn.execute(insert(outbox_events).values(aggregate_type="intent"), core)
        _INSERT.run(conn, {**core, "topic": "prepared", "aggregate_id": "n_prepared"})
        stored = {row.topic: (row.raw, row.is_null) for row in conn.execute(select(
            outbox_events.c.topic,
            func.cast(outbox_events.c.payload, String).label("raw"),
            outbox_events.c.payload.is_(None).label("is_null")).where(
            outbox_events.c.aggregate_id.in_(["n_core", "n_prepared"])))}
    assert stored["core"] == stored["prepared"], stored


def test_driver_errors_are_raised_as_sqlalchemy_raises_them(store: Store) -> None:
    duplicate = Prepared(insert(outbox_events).values(
        id=bindparam("id"), topic="t", aggregate_type="intent", aggregate_id="x",
        payload={}, occurred_at=_AT))
    with store.engine.begin() as conn:
        duplicate.run(conn, {"id": 7})
    with store.engine.begin() as conn, pytest.raises(IntegrityError) as caught:
        duplicate.run(conn, {"id": 7})
    assert isinstance(caught.value.orig, store.engine.dialect.loaded_dbapi.IntegrityError)


def test_a_missing_parameter_is_named(store: Store) -> None:
    with store.engine.begin() as conn, pytest.raises(KeyError, match="aggregate_id"):
        _TOPIC.rows(conn, {})


def test_statements_it_cannot_run_as_compiled_are_refused(store: Store) -> None:
    expanding = Prepared(select(outbox_events.c.id).where(
        outbox_events.c.aggregate_id.in_(bindparam("ids", expanding=True))))
    with store.engine.begin() as conn, pytest.raises(ValueError, match="expanded"):
        expanding.rows(conn, {"ids": ["a"]})


def test_numeric_and_float_results_equal_core_on_both_stores(store: Store) -> None:
    """PostgreSQL's Float and Numeric choose their conversion from the type the driver
    reports (a float8 asked for as Decimal is converted, a numeric asked for as float too):
    Prepared takes it from the first execution's cursor.description, as Core does."""
    from decimal import Decimal

    from sqlalchemy import Float, Numeric, cast

    statement = select(
        cast(bindparam("x"), Float).label("plain_float"),
        cast(bindparam("x"), Float(asdecimal=True)).label("float_as_decimal"),
        cast(bindparam("x"), Numeric(12, 4)).label("numeric"),
        cast(bindparam("x"), Numeric(12, 4, asdecimal=False)).label("numeric_as_float"),
        cast(bindparam("x"), String).label("text"))
    prepared = Prepared(statement)
    with store.engine.connect() as conn:
        for x in ("2.5", "0.1", "-7"):
            fast = prepared.first(conn, {"x": x})
            core = conn.execute(statement, {"x": x}).one()
            assert tuple(fast) == tuple(core)
            assert [type(v) for v in fast] == [type(v) for v in core]
        assert prepared.rows(conn, {"x": "1.25"})[0].float_as_decimal == Decimal("1.25")
