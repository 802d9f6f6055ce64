"""The hold-expiry sweep reads the open holds through the partial index, not the journal.

``ix_ledger_transfers_open_holds`` indexes only ``hold_status = 'pending'`` rows. A planner
uses a partial index only when the query's WHERE implies the index's; with the status as a
bound parameter it cannot (SQLite never, PostgreSQL not in a generic plan), and the sweep,
run twice a business day, scanned the whole journal: a cost that grows with every transfer
ever made. Both stores run the sweep; SQLite's plan is checked through EXPLAIN QUERY PLAN.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from creditpay import ledger as L
from creditpay.clock import SimulatedClock
from creditpay.db.engine import driver_connection
from creditpay.db.uow import UnitOfWork
from creditpay.ledger.model import TransferRequest as TR
from creditpay.ledger.tables import ledger_transfers
from tests.ledger.helpers import open_basic


def _sweep_sql(uow: UnitOfWork) -> tuple[int, str, Any]:
    """Run the sweep; return what it expired and the SQL (and parameters) of its read."""
    seen: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM ledger_transfers" in statement and "expires_at" in statement:
            seen.append((statement, parameters))

    event.listen(uow.engine, "before_cursor_execute", listener)
    try:
        with uow.begin() as tx:
            expired = L.expire_holds(tx)
    finally:
        event.remove(uow.engine, "before_cursor_execute", listener)
    assert len(seen) == 1
    return expired, *seen[0]


def test_sweep_reads_open_holds_through_the_partial_index(uow: UnitOfWork,
                                                          clock: SimulatedClock) -> None:
    a = open_basic(uow)
    with uow.begin() as tx:
        L.create_transfer(tx, TR("fund", "wallet.topup", debit_account_id=a["limit"].id,
                                 credit_account_id=a["line"].id, amount_minor=50_000))
        for i in range(30):  # a journal of posted rows the sweep must not walk
            L.create_transfer(tx, TR(f"t-{i}", "wallet.topup", debit_account_id=a["cash"].id,
                                     credit_account_id=a["wallet"].id, amount_minor=10))
        for i, timeout in enumerate((60, 3600, 60)):
            L.create_transfer(tx, TR(f"hold-{i}", "credit.purchase_hold",
                                     kind=L.TransferKind.PENDING,
                                     debit_account_id=a["line"].id,
                                     credit_account_id=a["limit"].id, amount_minor=100,
                                     timeout_seconds=timeout))
    clock.advance(seconds=61)
    expired, sql, parameters = _sweep_sql(uow)
    assert expired == 2  # the two short holds, not the hour-long one
    # The partial index's predicate is in the query as the same literal.
    assert "hold_status = 'pending'" in sql
    with uow.connect() as conn:
        assert L.get_transfer(conn, "hold-0").hold_status == L.HoldStatus.EXPIRED
        assert L.get_transfer(conn, "hold-2").hold_status == L.HoldStatus.EXPIRED
        assert L.get_transfer(conn, "hold-1").hold_status == L.HoldStatus.PENDING
        if conn.dialect.name == "sqlite":
            cursor = driver_connection(conn).cursor()
            plan = " ".join(str(row[-1]) for row in cursor.execute(
                f"EXPLAIN QUERY PLAN {sql}", parameters).fetchall())
            assert "ix_ledger_transfers_open_holds" in plan, plan
    # The expiry rows are written in the order the holds were made (seq), as before.
    with uow.connect() as conn:
        expiries = list(conn.execute(select(ledger_transfers.c.id).where(
            ledger_transfers.c.kind == "expire").order_by(ledger_transfers.c.seq)).scalars())
    assert expiries == ["hold-0:expire", "hold-2:expire"]
