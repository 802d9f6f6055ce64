"""``UnitOfWork.begin``: commit, rollback, durable effects, before- and after-commit steps,
and that the connection and the writer gate are given back whatever happens."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import func, select, text

from creditpay.clock import SimulatedClock
from creditpay.db.tables import outbox_events
from creditpay.db.uow import Tx, UnitOfWork, is_transient_error


class Boom(Exception):
    pass


def _events(uow: UnitOfWork) -> int:
    with uow.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox_events)).scalar_one())


def _emit(tx: Tx, name: str = "t.x") -> None:
    tx.emit(name, "thing", "1", {"n": 1})


def _released(uow: UnitOfWork) -> None:
    """Nothing is left checked out, and another thread can write at once."""
    assert uow.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    done: list[int] = []

    def other() -> None:
        with uow.begin() as tx:
            done.append(int(tx.conn.execute(text("SELECT 1")).scalar_one()))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=10)
    assert done == [1]


def test_a_block_that_ends_commits_and_runs_after_commit(uow: UnitOfWork) -> None:
    order: list[str] = []
    with uow.begin() as tx:
        _emit(tx)
        tx.before_commit(lambda t: order.append("before"))
        tx.after_commit(lambda: order.append("after"))
        assert tx.now == uow.clock.now()
    assert order == ["before", "after"]
    assert _events(uow) == 1
    _released(uow)


def test_an_error_rolls_back_and_is_raised_as_it_is(uow: UnitOfWork) -> None:
    error = Boom("no")
    after: list[str] = []
    with pytest.raises(Boom) as raised:
        with uow.begin() as tx:
            _emit(tx)
            tx.conn.execute(outbox_events.insert(), {
                "topic": "t.y", "aggregate_type": "thing", "aggregate_id": "2",
                "payload": {}, "occurred_at": tx.now})
            tx.after_commit(lambda: after.append("after"))
            raise error
    assert raised.value is error
    assert _events(uow) == 0 and after == []
    _released(uow)


def test_a_failing_before_commit_step_rolls_back(uow: UnitOfWork) -> None:
    def step(tx: Tx) -> None:
        raise Boom("step")

    with pytest.raises(Boom, match="step"):
        with uow.begin() as tx:
            _emit(tx)
            tx.before_commit(step)
    assert _events(uow) == 0
    _released(uow)


def test_a_queued_row_the_database_refuses_rolls_back(uow: UnitOfWork) -> None:
    # The queued rows go to the driver: its own error (not wrapped by SQLAlchemy).
    with pytest.raises(Exception, match="(?i)null"):
        with uow.begin() as tx:
            _emit(tx)
            tx.queue_insert(outbox_events, {"topic": None, "aggregate_type": "x",
                                            "aggregate_id": "1", "payload": {},
                                            "occurred_at": tx.now})
    assert _events(uow) == 0
    _released(uow)


def test_durable_effects_survive_the_rollback(uow: UnitOfWork) -> None:
    with pytest.raises(Boom):
        with uow.begin() as tx:
            _emit(tx, "t.lost")
            tx.durable(lambda t: _emit(t, "t.kept"))
            raise Boom()
    with uow.engine.connect() as conn:
        topics = conn.execute(select(outbox_events.c.topic)).scalars().all()
    assert topics == ["t.kept"]
    _released(uow)


def test_a_base_exception_rolls_back_too(uow: UnitOfWork) -> None:
    with pytest.raises(KeyboardInterrupt):
        with uow.begin() as tx:
            _emit(tx)
            raise KeyboardInterrupt
    assert _events(uow) == 0
    _released(uow)


def test_a_failing_after_commit_callback_is_logged_not_raised(
        uow: UnitOfWork, caplog: pytest.LogCaptureFixture) -> None:
    def callback() -> None:
        raise Boom("late")

    with caplog.at_level(logging.ERROR, logger="creditpay.db.uow"):
        with uow.begin() as tx:
            _emit(tx)
            tx.after_commit(callback)
    assert _events(uow) == 1
    assert "after-commit callback failed" in caplog.text


def test_a_clock_that_fails_gives_everything_back(store) -> None:
    class BrokenClock(SimulatedClock):
        def now(self):  # type: ignore[no-untyped-def]
            raise Boom("clock")

    uow = UnitOfWork(store.engine, BrokenClock())
    with pytest.raises(Boom, match="clock"):
        with uow.begin():
            pass  # pragma: no cover - not entered
    _released(UnitOfWork(store.engine, SimulatedClock()))


def test_run_returns_the_use_cases_result(uow: UnitOfWork) -> None:
    assert uow.run(lambda tx: (_emit(tx), 42)[1]) == 42
    assert _events(uow) == 1


def test_a_read_connection_takes_no_write_lock_and_goes_back(uow: UnitOfWork) -> None:
    with uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox_events)).scalar_one() == 0
        with uow.begin() as tx:  # a writer while the reader's snapshot is open
            _emit(tx)
    assert _events(uow) == 1
    _released(uow)


def test_a_deadlock_met_by_a_driver_statement_is_retried(store) -> None:
    """The hot paths (ledger, fraud state, queued inserts) run statements straight through
    the driver, whose errors are the driver's own, not SQLAlchemy's DBAPIError. A deadlock
    met there must be retried like one met through SQLAlchemy: two transactions lock two
    rows in opposite orders through the driver; PostgreSQL aborts one, and ``run`` runs it
    again, so both complete. (SQLite serialises writers: no deadlock to meet.)"""
    if store.kind != "postgresql":
        pytest.skip("SQLite serialises writers")
    from creditpay.db.engine import driver_connection

    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE deadlock_rows (id int PRIMARY KEY, n int)"))
        conn.execute(text("INSERT INTO deadlock_rows VALUES (1, 0), (2, 0)"))
    uow = UnitOfWork(store.engine, SimulatedClock("2025-03-01T09:00:00+00:00"))
    both_hold_one = threading.Barrier(2, timeout=30)
    attempts: list[int] = []
    failures: list[BaseException] = []

    def transfer(first: int, second: int) -> None:
        def use_case(tx: Tx) -> None:
            attempts.append(first)
            driver = driver_connection(tx.conn)
            driver.execute("UPDATE deadlock_rows SET n = n + 1 WHERE id = %s", (first,))
            if len(attempts) <= 2:  # the first attempts meet; a retry runs alone
                both_hold_one.wait()
            driver.execute("UPDATE deadlock_rows SET n = n + 1 WHERE id = %s", (second,))

        try:
            uow.run(use_case)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=transfer, args=(1, 2)),
               threading.Thread(target=transfer, args=(2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert len(attempts) == 3  # one of the two was aborted by the deadlock and run again
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT sum(n) FROM deadlock_rows")).scalar_one() == 4


def test_driver_errors_are_judged_like_wrapped_ones() -> None:
    import sqlite3

    import psycopg

    assert is_transient_error(psycopg.errors.DeadlockDetected("deadlock detected"))
    assert is_transient_error(psycopg.errors.SerializationFailure("could not serialize"))
    assert is_transient_error(sqlite3.OperationalError("database is locked"))
    assert not is_transient_error(psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_transient_error(sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert not is_transient_error(ValueError("database is locked"))
