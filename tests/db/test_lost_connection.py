"""A connection the server closed (restart, failover, idle timeout) costs no request that
can safely be re-run: the pool keeps no pre-ping, so the first statement on a dead
connection fails, SQLAlchemy invalidates the pool, and ``UnitOfWork.run`` runs the use case
again on a fresh connection, unless the COMMIT may already have reached the server."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from creditpay.db.engine import make_engine
from creditpay.db.uow import Tx, UnitOfWork, is_transient_error


def _terminate_pool(uow: UnitOfWork, url: str) -> int:
    """Close the pool's connections from the server's side, as a restart would (the pool
    does not know yet), from a connection of another engine."""
    admin = make_engine(url, pool_size=1)
    try:
        with admin.begin() as conn:
            return int(conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()")
            ).scalar_one())
    finally:
        admin.dispose()


def test_run_retries_on_a_fresh_connection_after_the_server_closed_the_pooled_one(
        store, uow: UnitOfWork) -> None:
    if store.kind != "postgresql":
        pytest.skip("a server-side disconnect needs a server")
    with uow.begin() as tx:  # a pooled connection, then idle in the pool
        tx.conn.execute(text("CREATE TABLE lost_conn (n INTEGER)"))
    assert _terminate_pool(uow, store.url) >= 1
    attempts: list[int] = []

    def use_case(tx: Tx) -> int:
        attempts.append(1)
        tx.conn.execute(text("INSERT INTO lost_conn VALUES (1)"))
        return int(tx.conn.execute(text("SELECT count(*) FROM lost_conn")).scalar_one())

    assert uow.run(use_case) == 1
    assert len(attempts) == 2  # the first attempt met the dead connection
    with uow.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM lost_conn")).scalar_one() == 1


def test_a_prepared_statement_meeting_a_lost_connection_is_retried_too(
        store, uow: UnitOfWork) -> None:
    # Prepared statements run on the driver: their errors go through SQLAlchemy's own
    # handling, which invalidates the dead connection, so the retry gets a fresh one.
    from sqlalchemy import Column, Integer, MetaData, Table, insert

    from creditpay.db.prepared import Prepared

    if store.kind != "postgresql":
        pytest.skip("a server-side disconnect needs a server")
    table = Table("lost_prepared", MetaData(), Column("n", Integer))
    add = Prepared(insert(table), columns=("n",))
    with uow.begin() as tx:
        tx.conn.execute(text("CREATE TABLE lost_prepared (n INTEGER)"))
    assert _terminate_pool(uow, store.url) >= 1
    attempts: list[int] = []

    def use_case(tx: Tx) -> int:
        attempts.append(1)
        return add.run(tx.conn, {"n": 1})

    assert uow.run(use_case) == 1
    assert len(attempts) == 2
    with uow.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM lost_prepared")).scalar_one() == 1


def test_a_lost_connection_after_commit_was_sent_is_not_retried() -> None:
    lost = DBAPIError("COMMIT", None, OperationalError("x", None, Exception("gone")),
                      connection_invalidated=True)
    assert is_transient_error(lost)
    lost.creditpay_commit_unknown = True  # type: ignore[attr-defined]
    assert not is_transient_error(lost)
