"""Unit of work: one database transaction per use case, with its outbox and business time.

A service does all its reads and writes for one use case through a :class:`Tx`, obtained from
:meth:`UnitOfWork.begin`. Outbox events emitted during the transaction are inserted just before
commit, so the event exists if and only if the state change does (transactional outbox).
``UnitOfWork.run`` retries a whole use case on transient conflicts (PostgreSQL serialisation
failures and deadlocks, SQLite busy) a bounded number of times.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from creditpay.clock import Clock
from creditpay.db.engine import driver_connection, writer_gate
from creditpay.db.metadata import JsonText, fast_bind
from creditpay.db.tables import outbox_events

__all__ = ["UnitOfWork", "Tx", "is_transient_error", "inserted_id", "insert_new",
           "RETRY_ATTEMPTS_MAX"]

T = TypeVar("T")
_log = logging.getLogger(__name__)
RETRY_ATTEMPTS_MAX = 8


@dataclass
class Tx:
    """One open transaction: its connection, the business clock and the pending outbox."""

    conn: Connection
    clock: Clock
    now: dt.datetime
    _events: list[dict[str, Any]] = field(default_factory=list)
    _after_commit: list[Callable[[], None]] = field(default_factory=list)
    _before_commit: list[Callable[[Tx], None]] = field(default_factory=list)
    # Working state a helper keeps for the life of this transaction (keyed by its module),
    # e.g. the fraud state rows this transaction will write before it commits.
    scratch: dict[str, Any] = field(default_factory=dict)
    _durable: list[Callable[[Tx], None]] = field(default_factory=list)
    _inserts: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    # Set once COMMIT may have reached the server: from then on a lost connection leaves
    # the outcome unknown, and the transaction must not be re-run.
    commit_sent: bool = False

    def durable(self, effect: Callable[[Tx], None]) -> None:
        """Apply ``effect(tx)`` now, and make it survive a rollback: if this transaction
        does not commit, ``effect`` runs again in a transaction of its own, committed before
        the error reaches the caller.

        For security counters (a wrong one-time code, a failed login, a lockout): a refusal
        is an error, and an error rolls the use case back; without this, the counter would
        roll back with it and the next guess would start from zero. Write effects as
        relative, atomic statements (``attempts = attempts + 1``) so the re-run counts once
        on a state the rolled-back attempt never changed. A use case retried after a
        transient conflict counts again: the error is on the side of refusing."""
        effect(self)
        self._durable.append(effect)

    def before_commit(self, step: Callable[[Tx], None]) -> None:
        """Run ``step(tx)`` as the transaction's last statements, just before its COMMIT (in
        registration order; a step that raises rolls the transaction back). For writes to a
        row many transactions share (a merchant's fraud state): taken last, its lock is held
        for the commit only, not for the whole use case."""
        self._before_commit.append(step)

    def run_before_commit(self) -> None:
        while self._before_commit:
            steps, self._before_commit = self._before_commit, []
            for step in steps:
                step(self)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback()`` once this transaction has committed (in registration order);
        a rollback drops it. For in-memory state that must mirror committed rows only. A
        callback's error is logged, never raised: the commit already happened."""
        self._after_commit.append(callback)

    def run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the transaction is committed: report, keep going
                _log.exception("after-commit callback failed")

    @property
    def today(self) -> dt.date:
        return self.now.date()

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def emit(self, topic: str, aggregate_type: str, aggregate_id: str,
             payload: dict[str, Any] | JsonText) -> None:
        """Queue an outbox event; it is written in this transaction, just before commit.
        ``payload``: the event's JSON object, or that object already encoded
        (:class:`JsonText`, sent as it is)."""
        self._events.append({
            "topic": topic,
            "aggregate_type": aggregate_type,
            "aggregate_id": str(aggregate_id),
            "payload": payload,
            "occurred_at": self.now,
        })

    def queue_insert(self, table: Table, values: dict[str, Any]) -> None:
        """Insert ``values`` (a row of ``table``, the same columns each time) just before
        this transaction commits, with every other row queued for ``table``, in queue
        order, in one executemany: for append-only records nothing in the transaction reads
        back (the audit trail). A rollback drops them with everything else."""
        self._inserts.setdefault(table, []).append(values)

    def flush_events(self) -> None:
        """Insert the queued rows (:meth:`queue_insert`) and events, one DB-API executemany
        per table (this runs in every transaction, so it skips SQLAlchemy's per-statement
        machinery); values go through the columns' own bind processors, exactly as a Core
        insert would send them."""
        queued, self._inserts = self._inserts, {}
        for table, rows in queued.items():
            _insert_many(self.conn, table, rows)
        events, self._events = self._events, []
        if events:
            _insert_many(self.conn, outbox_events, events)

    def flush_and_commit(self) -> None:
        """Write the queued events and commit.

        On PostgreSQL both go to the server in one round trip (psycopg's pipeline: the
        events' INSERTs, then COMMIT, then one Sync), instead of one for the events and one
        for the COMMIT. The commit happens here; SQLAlchemy's own commit that follows finds
        the connection idle, and psycopg sends nothing for it. An error in either raises
        here, inside the transaction's block, so SQLAlchemy rolls back as for any error.
        On SQLite there is no round trip to save: the events are written, SQLAlchemy
        commits."""
        if self.conn.dialect.name != "postgresql":
            self.flush_events()
            return
        driver = driver_connection(self.conn)
        self.commit_sent = True
        with driver.pipeline():
            self.flush_events()
            driver.commit()


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    names = tuple(rows[0])
    _inserter(table, names, conn.dialect).insert(driver_connection(conn), rows)


class _Inserter:
    """The INSERT of some columns of one table on one dialect, built once: its SQL text for
    the driver's paramstyle and, per column, the bind conversion a Core insert applies
    (:func:`creditpay.db.metadata.fast_bind`: the column's own processor, with the common
    values converted directly, to the same output)."""

    __slots__ = ("table", "names", "statement", "getter", "converters")

    def __init__(self, table: Table, names: tuple[str, ...], dialect: Dialect) -> None:
        self.table, self.names = table, names
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.statement = (f"INSERT INTO {table.name} ({', '.join(names)})"  # nosec B608
                          f" VALUES ({', '.join([mark] * len(names))})")
        # itemgetter of one name returns the value itself, not a 1-tuple.
        self.getter = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        self.converters = tuple(
            (position, converter) for position, name in enumerate(names)
            if (converter := fast_bind(table.c[name].type, dialect)) is not None)

    def insert(self, driver: Any, rows: list[dict[str, Any]]) -> None:
        names, getter, converters = self.names, self.getter, self.converters
        width = len(names)
        params: list[Any] = []
        for row in rows:
            if len(row) != width or tuple(row) != names:
                raise ValueError(f"rows queued for {self.table.name} name different columns")
            values = getter(row)
            if converters:
                values = list(values)
                for position, converter in converters:
                    values[position] = converter(values[position])
            params.append(values)
        driver.cursor().executemany(self.statement, params)


# Built on first use per (table, columns, dialect): a compiled statement and its
# converters, a function of the metadata alone (no database state).
_INSERTERS: dict[tuple[Table, tuple[str, ...], str, str], _Inserter] = {}


def _inserter(table: Table, names: tuple[str, ...], dialect: Dialect) -> _Inserter:
    key = (table, names, dialect.name, dialect.driver)
    inserter = _INSERTERS.get(key)
    if inserter is None:
        inserter = _INSERTERS[key] = _Inserter(table, names, dialect)
    return inserter


def inserted_id(result: CursorResult[Any]) -> int:
    """The integer primary key of the row a single-row INSERT just wrote. SQLAlchemy types it
    as optional (it is absent for other statements); an INSERT always has one."""
    key = result.inserted_primary_key
    assert key is not None and key[0] is not None, "not a single-row INSERT"
    return int(key[0])


def insert_new(tx: Tx, table: Any, *keys: str) -> Any:
    """INSERT into ``table`` that does nothing when a row with the same ``keys`` (a unique
    or primary key) exists: rowcount 0, no key error, so concurrent writers of the same row
    need no read-then-insert."""
    if tx.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=list(keys))
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=list(keys))


def is_transient_error(exc: BaseException) -> bool:
    """True for errors after which re-running the whole transaction may succeed: from a
    statement run through SQLAlchemy (a ``DBAPIError``) or straight through the driver (the
    hot paths of the ledger, the fraud state and the queued inserts raise the driver's own
    ``sqlite3``/``psycopg`` errors)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            # The server closed the connection (a restart, a failover, an idle timeout):
            # SQLAlchemy has dropped it and the pool's older ones; a new attempt connects
            # afresh. Only when the COMMIT had not been sent: after it, the first attempt
            # may have committed, and running the use case again could do it twice.
            return not getattr(exc, "creditpay_commit_unknown", False)
        orig: BaseException | None = exc.orig
    else:
        orig = exc
    sqlstate = getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "diag", None), "sqlstate", None)
    if sqlstate in {"40001", "40P01"}:  # serialization_failure, deadlock_detected
        return True
    return isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig)


class _Begin:
    """What ``with uow.begin() as tx`` enters and leaves: the writer gate, a connection from
    the pool and its transaction, in that order, and out in reverse.

    This is ``with gate, engine.begin() as conn`` written out: the same SQLAlchemy calls
    (``Engine.connect``, ``Connection.begin``, the transaction's own ``__enter__`` and
    ``__exit__``, which commit, or roll back on an error, as ``Engine.begin`` does, then
    ``Connection.close``), without the two generator-based context managers around them
    (``Engine.begin``'s and this method's own), a fifth of an empty transaction's CPU.
    Every write goes through here, so it is worth the lines."""

    __slots__ = ("_uow", "_conn", "_trans", "_tx")

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def __enter__(self) -> Tx:
        uow = self._uow
        gate = uow._gate
        gate.__enter__()
        try:
            conn = uow.engine.connect()
            try:
                trans = conn.begin()
                trans.__enter__()
                try:
                    tx = Tx(conn=conn, clock=uow.clock, now=uow.clock.now())
                except BaseException as exc:
                    trans.__exit__(type(exc), exc, exc.__traceback__)
                    raise
            except BaseException:
                conn.close()
                raise
        except BaseException:
            gate.__exit__(None, None, None)
            raise
        self._conn, self._trans, self._tx = conn, trans, tx
        return tx

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: Any) -> Literal[False]:
        tx, conn, trans = self._tx, self._conn, self._trans
        failure = exc
        try:
            try:
                if exc is None:
                    try:
                        tx.run_before_commit()
                        tx.flush_and_commit()
                    except BaseException as inner:
                        failure = inner
                        trans.__exit__(type(inner), inner, inner.__traceback__)  # rolls back
                        raise
                trans.__exit__(exc_type, exc, traceback)  # commits, or rolls back
            finally:
                conn.close()
        except BaseException as raised:
            failure = raised
        finally:
            self._uow._gate.__exit__(None, None, None)
        if failure is not None:
            if tx._durable:
                self._uow._commit_durable(tx)
            if isinstance(failure, DBAPIError) and tx.commit_sent:
                failure.creditpay_commit_unknown = True  # type: ignore[attr-defined]
            if failure is exc:
                return False  # the block's own error goes on as it is
            raise failure
        tx.run_after_commit()
        return False


class UnitOfWork:
    """Factory of transactions on one engine with one business clock."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        # Writers of this process queue here before SQLite's lock (see writer_gate).
        self._gate = writer_gate(engine)

    def begin(self) -> _Begin:
        """A transaction, as ``with uow.begin() as tx:``: committed when the block ends
        (after the ``before_commit`` steps and the queued rows), rolled back when it raises
        (the durable effects then re-applied in a transaction of their own); the
        ``after_commit`` callbacks run once it has committed. Writers of this process queue
        on the writer gate first (SQLite)."""
        return _Begin(self)

    def _commit_durable(self, rolled_back: Tx) -> None:
        """Re-apply the durable effects of a rolled-back transaction in a new one."""
        effects, rolled_back._durable = rolled_back._durable, []
        try:
            with self._gate, self.engine.begin() as conn:
                tx = Tx(conn=conn, clock=self.clock, now=rolled_back.now)
                for effect in effects:
                    effect(tx)
                tx.flush_events()
        except Exception:  # the caller's own error is the one to report
            _log.exception("durable effects of a rolled-back transaction were lost")

    def run(self, use_case: Callable[[Tx], T], *,
            attempts: int = RETRY_ATTEMPTS_MAX) -> T:
        """Run ``use_case`` in a transaction, retrying transient conflicts with backoff."""
        assert 1 <= attempts <= RETRY_ATTEMPTS_MAX
        for attempt in range(1, attempts + 1):
            try:
                with self.begin() as tx:
                    return use_case(tx)
            except Exception as exc:  # a driver's own error too (is_transient_error)
                if attempt == attempts or not is_transient_error(exc):
                    raise
                time.sleep(min(0.2, 0.005 * 2 ** attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def run_keeping_effects(self, use_case: Callable[[Tx], T]) -> T:
        """:meth:`run`, except that an error marked ``commit_effects`` (a step-up challenge
        issued, a decline recorded: ``parties.service.commit_and_raise``) is raised after
        its transaction commits, as the HTTP API does. In-process callers (the simulator,
        jobs) use it to see the same outcomes an API client sees."""
        holder: dict[str, BaseException] = {}
        # A list, not a variable: the use case's result is T, which may itself be None.
        results: list[T] = []

        def wrapped(tx: Tx) -> None:
            holder.clear()  # a retried attempt starts clean
            results.clear()
            try:
                results.append(use_case(tx))
            except Exception as exc:
                if not getattr(exc, "commit_effects", False):
                    raise
                holder["raised"] = exc

        self.run(wrapped)
        if "raised" in holder:
            raise holder["raised"]
        return results[0]

    def connect(self) -> Connection:
        """A read-only connection for queries (on SQLite it does not take the write lock),
        as ``with uow.connect() as conn:`` (the connection is its own context manager: it
        goes back to the pool, its transaction rolled back, when the block ends)."""
        return self.engine.connect().execution_options(read_only=True)
