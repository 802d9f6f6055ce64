"""SQLite's query plans of hot reads whose cost grew with the demo's history (issue #14,
migrations 0047_demo_scale_indexes, 0048_payment_intents_status, 0049_payment_intents_due and
0050_credit_authorisations_open).

SQLite plans without statistics, so a plan is a property of the schema, not of the data: the
statements the code really runs (captured while calling it on an empty migrated database)
are explained and must look the borrower's accounts up by customer, the due intents up by
the sweep's partial indexes, a customer's or merchant's payments up by their owner, and the
open authorisations through their own index, instead of reading the whole active book, every
intent or authorisation ever made, or every payment in a status. PostgreSQL
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
    """(statement, its plan's lines) of every statement ``run`` executes, through
    SQLAlchemy or straight on the driver (prepared statements: SQLite's trace callback
    gives their text with the values in place)."""
    seen: list[tuple[str, Any]] = []
    in_sqlalchemy = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        in_sqlalchemy.append(True)
        if not executemany:
            seen.append((statement, parameters))

    def done(*_args: Any) -> None:
        in_sqlalchemy.clear()

    def driver(statement: str) -> None:
        if not in_sqlalchemy:
            seen.append((statement, ()))

    def traced(dbapi_conn: Any, *_args: Any) -> None:
        dbapi_conn.set_trace_callback(driver)

    def untraced(dbapi_conn: Any, *_args: Any) -> None:
        dbapi_conn.set_trace_callback(None)

    listeners = (("before_cursor_execute", capture), ("after_cursor_execute", done),
                 ("checkout", traced), ("checkin", untraced))
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        run()
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
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
        used = " ".join(plan)
        assert "ix_payment_intents_capture_due" in used, (plan, statement)
        assert "ix_payment_intents_confirm_due" in used, (plan, statement)


def test_a_customers_and_a_merchants_payments_are_read_by_their_owner(sqlite_engine: Any
                                                                        ) -> None:
    # A read of "this customer's (merchant's) payments in a status" must go through the
    # owner's index: an index on status alone was once chosen for them, and read every
    # payment in that status of everyone (0049_payment_intents_due).
    from creditpay.parties.service import Principal
    from creditpay.payments import merchant_desk
    from creditpay.payments.disputes import Disputes
    from creditpay.payments.reporting import customer_paid_intents

    customer = Principal(kind="customer", id="cus_1")
    merchant = Principal(kind="merchant", id="mer_1")

    def run() -> None:
        with sqlite_engine.connect() as conn:
            Disputes(payments=None, policy=object()).disputable_payments(  # type: ignore[arg-type]
                conn, customer, limit=5)
            customer_paid_intents(conn, "cus_1", limit=5)
            for status in ("succeeded", "requires_capture", "in_review"):
                merchant_desk.list_payments(conn, merchant, status=status, limit=5)

    plans = [(s, p) for s, p in _plans_of(sqlite_engine, run) if "payment_intents" in s]
    assert len(plans) >= 5
    for statement, plan in plans:
        on_intents = [line for line in plan if "payment_intents" in line]
        assert on_intents, (plan, statement)
        for line in on_intents:
            assert ("ix_payment_intents_customer" in line
                    or "ix_payment_intents_merchant" in line), (line, statement)


def test_the_nightly_close_of_expired_holds_reads_open_authorisations_only(
        sqlite_engine: Any) -> None:
    from creditpay.credit.cob import _close_expired_authorisations

    uow = UnitOfWork(sqlite_engine, SimulatedClock("2025-03-01T09:00:00+00:00"))
    plans = [(s, p) for s, p in _plans_of(sqlite_engine,
                                           lambda: uow.run(_close_expired_authorisations))
             if "FROM credit_authorisations" in s]
    assert plans
    for statement, plan in plans:
        assert any("ix_credit_authorisations_open" in line for line in plan), (plan,
                                                                              statement)
