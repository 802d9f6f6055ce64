"""UtcDateTime: every datetime column takes aware values only and returns aware UTC on both
stores, without changing the DDL the migrations create."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, func, insert, inspect, select
from sqlalchemy.exc import StatementError

from creditpay.db.metadata import UtcDateTime
from creditpay.db.schema import load_all_tables
from creditpay.db.tables import outbox_events

_ZONES = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))
_AWARE = st.datetimes(min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2099, 12, 30),
                      timezones=_ZONES)


def _event(at: dt.datetime) -> dict[str, object]:
    return {"topic": "t", "aggregate_type": "a", "aggregate_id": "1", "payload": {},
            "occurred_at": at}


def test_every_datetime_column_of_every_table_is_utc_datetime() -> None:
    metadata = load_all_tables()
    plain = [f"{table.name}.{column.name}" for table in metadata.tables.values()
             for column in table.columns
             if isinstance(column.type, DateTime) and not isinstance(column.type, UtcDateTime)]
    assert plain == []


def test_ddl_is_the_one_of_a_timezone_aware_datetime(store) -> None:
    # The type changes only Python-side processing: the migrated column is still a
    # timestamp with time zone (PostgreSQL) / DATETIME (SQLite), and it compiles to the same DDL type.
    metadata = load_all_tables()
    dialect = store.engine.dialect
    reflected = inspect(store.engine)
    for table in metadata.tables.values():
        columns = {c["name"]: c for c in reflected.get_columns(table.name)}
        for column in table.columns:
            if isinstance(column.type, UtcDateTime):
                migrated = columns[column.name]["type"]
                assert isinstance(migrated, DateTime), (table.name, column.name)
                if store.kind == "postgresql":
                    assert migrated.timezone, (table.name, column.name)
                assert (column.type.compile(dialect)
                        == DateTime(timezone=True).compile(dialect))


def test_naive_value_is_refused_naming_the_column(store) -> None:
    with store.engine.begin() as conn:
        with pytest.raises(StatementError) as raised:
            conn.execute(insert(outbox_events), [_event(dt.datetime(2025, 3, 1, 9))])
    assert isinstance(raised.value.orig, ValueError)
    assert "outbox_events.occurred_at" in str(raised.value.orig)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox_events)).scalar_one() == 0
        with pytest.raises(StatementError):  # a naive bound in a comparison too
            conn.execute(select(outbox_events).where(
                outbox_events.c.occurred_at > dt.datetime(2025, 3, 1)))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moments=st.lists(_AWARE, min_size=1, max_size=6))
def test_values_come_back_aware_utc_and_order_by_instant(store, moments) -> None:
    with store.engine.begin() as conn:
        conn.execute(outbox_events.delete())
        conn.execute(insert(outbox_events), [_event(at) for at in moments])
        read = conn.execute(select(outbox_events.c.occurred_at)
                            .order_by(outbox_events.c.occurred_at, outbox_events.c.id)).scalars()
        read = list(read)
        latest = conn.execute(select(func.max(outbox_events.c.occurred_at))).scalar_one()
        earlier_than_max = conn.execute(select(func.count()).where(
            outbox_events.c.occurred_at < max(moments))).scalar_one()
    assert all(at.tzinfo is dt.UTC for at in read)
    assert read == sorted(moments)  # equal instants; SQLite compares stored UTC text
    assert latest.tzinfo is dt.UTC and latest == max(moments)
    assert earlier_than_max == sum(1 for at in moments if at < max(moments))
