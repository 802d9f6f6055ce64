"""Engines for the two supported stores: SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit that returned survives power loss),
checkpointed every ``SQLITE_WAL_AUTOCHECKPOINT_PAGES`` pages, and every transaction starts with ``BEGIN IMMEDIATE`` so writers are serialised up front
instead of failing at commit with SQLITE_BUSY. PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

__all__ = ["make_engine", "normalise_url", "is_sqlite", "is_postgres", "driver_connection",
           "writer_gate"]

SQLITE_BUSY_TIMEOUT_MS = 60_000
# SQLite copies the WAL back into the database file (a checkpoint, with an fsync of each in
# WAL mode) once the WAL holds this many pages; its default is 1,000 (4 MiB). A write-heavy
# run checkpoints thousands of times at that size, waiting on the disk each time and copying
# again pages written again since the last one: 10,000 pages (40 MiB of WAL) cut the
# 180-day demo's wall time by 6 % with the same figures (bench/RESULTS.md, fifth pass).
# Durability does not change: a commit is as durable as ``synchronous`` makes it whatever
# the WAL's size.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` and a bare path for SQLite; pin psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if "://" not in url:  # a bare file path means SQLite
        url = f"sqlite:///{url}"
    return url


def driver_connection(conn: Connection) -> Any:
    """The DB-API connection (sqlite3 or psycopg) under ``conn``, for the hot statements that
    go straight to the driver; same connection, same transaction. SQLAlchemy types it as
    optional because a pool entry may be invalidated, but a connection that is open and in
    use always has one."""
    driver = conn.connection.driver_connection
    assert driver is not None, "connection has no DB-API connection (invalidated?)"
    return driver


class _WriterGate:
    """A re-entrant lock whose wait is bounded by SQLite's own busy timeout: a writer that
    waited that long goes on to ``BEGIN IMMEDIATE`` without it, and meets SQLite's busy
    handler (and its "database is locked" error) exactly as it would have without the gate.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._held = threading.local()

    def __enter__(self) -> _WriterGate:
        acquired = self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        stack: list[bool] = self._held.__dict__.setdefault("stack", [])
        stack.append(acquired)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._held.stack.pop():
            self._lock.release()


# One gate per SQLite database file in this process (shared by every engine on the file).
_WRITER_GATES: dict[str, _WriterGate] = {}
_WRITER_GATES_LOCK = threading.Lock()


def writer_gate(engine: Engine) -> contextlib.AbstractContextManager[object]:
    """What a write transaction on ``engine`` holds from its BEGIN to its COMMIT.

    SQLite lets one writer in at a time. A thread whose ``BEGIN IMMEDIATE`` finds the lock
    taken waits in SQLite's busy handler, which sleeps 1, 2, 5 ... up to 100 ms between
    tries, so under a few concurrent requests a writer sleeps long after the lock was
    freed (a checkout's p99 over HTTP was several hundred ms of such sleeps). Writers of
    this process therefore queue on a lock of their own first: each enters the moment the
    previous one commits. Other processes on the same file still meet the busy handler.
    PostgreSQL has row locks and needs no gate (a no-op context).
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return contextlib.nullcontext()
    key = str(Path(database).resolve())
    with _WRITER_GATES_LOCK:
        gate = _WRITER_GATES.get(key)
        if gate is None:
            gate = _WRITER_GATES[key] = _WriterGate()
    return gate


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


POSTGRES_RECYCLE_SECONDS = 1800


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False,
                durability: str = "full") -> Engine:
    """Create an engine for ``url`` with the store's durability and locking settings.

    ``durability`` (SQLite only): "full" (default; a returned commit survives power loss) or
    "normal" (survives a process crash, may lose the last commits on power loss: for
    simulations and replays that can be re-run from their seed).
    """
    if durability not in {"full", "normal"}:
        raise ValueError("durability must be 'full' or 'normal'")
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False,
                          "isolation_level": None},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _install_sqlite_hooks(engine, synchronous=durability.upper())
        return engine
    if parsed.get_backend_name() == "postgresql":
        # No pre-ping: it costs a round trip on every checkout from the pool, that is on
        # every transaction (a fifth of a single ledger transfer's time). Disconnects are
        # handled when they happen instead: SQLAlchemy invalidates the pool on a
        # disconnect error, and UnitOfWork.run retries such an error like any transient
        # one (is_transient_error), on a fresh connection. Connections are also renewed
        # after half an hour, before idle timeouts of firewalls and poolers close them.
        return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                             pool_pre_ping=False, pool_recycle=POSTGRES_RECYCLE_SECONDS)
    raise ValueError(f"unsupported database URL scheme: {parsed.get_backend_name()}")


def _install_sqlite_hooks(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # isolation_level=None hands transaction control to us (the pysqlite recipe in
        # SQLAlchemy's docs), so BEGIN IMMEDIATE below is what actually starts a transaction.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Readers (execution option read_only=True) take a deferred BEGIN and never block
        # writers in WAL mode; everything else takes the write lock at once.
        # Straight to the driver: this runs once per transaction.
        driver = driver_connection(connection)
        if connection.get_execution_options().get("read_only"):
            driver.execute("BEGIN")
        else:
            driver.execute("BEGIN IMMEDIATE")
