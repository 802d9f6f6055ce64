"""SQLite's query plans of two hot reads whose cost grew with the demo's history (issue #14,
migrations 0047_demo_scale_indexes and 0048_payment_intents_status).

SQLite plans without statistics, so a plan is a property of the schema, not of the data: the
statements the code really runs (captured while calling it on an empty migrated database)
are explained and must look the borrower's accounts up by customer, and the open intents up
by status, instead of reading the whole active book or every intent ever made. PostgreSQL
plans from statistics and is not concerned."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from creditpay.clock import SimulatedClock
from creditpay.credit import service as credit_service
from creditpay.db.engine import make_engine
from creditpay.db.uow import UnitOfWork
from creditpay.payments.credit_port import NoCredit
from creditpay.payments.service import Payments


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Any]:
    path = tmp_path / "plans.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        yield engine
    finally:
        engine.dispose()


def _plans_of(engine: Any, run: Any) -> list[tuple[str, list[str]]]:
    """(statement, its plan's lines) of every statement ``run`` executes."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        if not executemany:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        return [(statement, [row[3] for row in raw.execute(
            f"EXPLAIN QUERY PLAN {statement}", parameters)])
            for statement, parameters in seen if statement.lstrip().startswith("SELECT")]


def test_a_borrowers_exposure_reads_their_own_accounts(sqlite_engine: Any) -> None:
    def run() -> None:
        with sqlite_engine.connect() as conn:
            for with_line in (True, False):  # the statement with the line, then without
                credit_service.borrower_position(conn, "c1", "CNY",
                                                 with_accounts=with_line)

    plans = [(s, p) for s, p in _plans_of(sqlite_engine, run) if "credit_accounts" in s]
    assert plans
    for statement, plan in plans:
        on_accounts = [line for line in plan if "credit_accounts" in line]
        assert on_accounts, statement
        for line in on_accounts:
            assert "ix_credit_accounts_customer" in line, (line, statement)
            assert "ix_credit_accounts_book" not in line, (line, statement)


def test_the_expiry_sweep_reads_open_intents_by_status(sqlite_engine: Any) -> None:
    uow = UnitOfWork(sqlite_engine, SimulatedClock("2025-03-01T09:00:00+00:00"))
    parties: Any = object()
    payments = Payments(parties=parties, rail=parties, credit=NoCredit(),
                        origination=parties)
    plans = [(s, p) for s, p in _plans_of(sqlite_engine,
                                           lambda: uow.run(lambda tx: payments.expire_due(tx)))
             if "FROM payment_intents" in s]
    assert plans
    for statement, plan in plans:
        assert not any(line.startswith("SCAN payment_intents") for line in plan), (plan,
                                                                                  statement)
        assert any("ix_payment_intents_status" in line for line in plan), (plan, statement)
