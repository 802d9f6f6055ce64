"""Ledger throughput vs the same store's raw inserts, measured in the same run.

* single: one transfer per durable transaction (SQLite WAL with synchronous=FULL; PostgreSQL
  with fsync on), vs one bare single-row insert per durable transaction.
* batched: linked batches of 1,000 transfers per transaction, vs 1,000-row executemany
  inserts into a bare table of the same store.
``ratio`` = ours / raw. Targets (issue #2): batched >= 0.5, single >= 0.3.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from creditpay import ledger as L
from creditpay.clock import SimulatedClock
from creditpay.db.schema import open_database
from creditpay.db.uow import UnitOfWork

BATCH = 1000


@contextlib.contextmanager
def _store(kind: str) -> Iterator[tuple[str, Callable[[], object]]]:
    """Yield (sqlalchemy url, raw DB-API connect function) for a fresh durable store."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="creditpay-bench-") as folder:
            path = Path(folder) / "bench.db"

            def connect() -> sqlite3.Connection:
                conn = sqlite3.connect(path, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                return conn

            yield f"sqlite:///{path}", connect
        return
    if kind == "postgresql":
        import psycopg

        from creditpay.devtools.pgserver import running_postgres

        with running_postgres(fsync=True) as server:
            url = server.create_database("bench")

            def connect_pg() -> psycopg.Connection:
                return psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres"
                                       " dbname=bench", autocommit=True)

            yield url, connect_pg
        return
    raise ValueError(f"unknown store {kind}")


def _raw(kind: str, connect: Callable[[], object], single: int, batches: int
         ) -> tuple[float, float]:
    conn = connect()
    conn.execute("CREATE TABLE raw_bench (id BIGINT PRIMARY KEY, a BIGINT, b BIGINT,"
                 " c BIGINT, d TEXT)")
    p = "?" if kind == "sqlite" else "%s"
    sql = f"INSERT INTO raw_bench VALUES ({p}, {p}, {p}, {p}, {p})"  # nosec B608
    start = time.perf_counter()
    for i in range(single):
        conn.execute("BEGIN")
        conn.execute(sql, (i, 1, 2, 3, f"t{i}"))
        conn.execute("COMMIT")
    single_rate = single / (time.perf_counter() - start)
    start = time.perf_counter()
    base = single
    for b in range(batches):
        rows = [(base + b * BATCH + j, 1, 2, 3, f"b{b}-{j}") for j in range(BATCH)]
        if kind == "sqlite":
            conn.execute("BEGIN")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        else:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, rows)
    batch_rate = batches * BATCH / (time.perf_counter() - start)
    conn.close()
    return single_rate, batch_rate


def _ours(url: str, single: int, batches: int) -> tuple[float, float]:
    engine = open_database(url, pool_size=2)
    uow = UnitOfWork(engine, SimulatedClock("2025-01-01T00:00:00+00:00"))
    with uow.begin() as tx:
        accounts = L.open_accounts(tx, [
            L.AccountSpec(f"bench:{i}", "CNY", "bench", "bench", str(i),
                          "credit" if i % 2 else "debit",
                          debits_must_not_exceed_credits=bool(i % 2))
            for i in range(64)])
    ids = [a.id for a in accounts]
    debit_side = [i for i, a in zip(ids, accounts, strict=True) if a.normal_side == "debit"]
    credit_side = [i for i, a in zip(ids, accounts, strict=True) if a.normal_side == "credit"]
    start = time.perf_counter()
    for i in range(single):
        request = L.TransferRequest(f"s{i}", "bench", debit_account_id=debit_side[i % 32],
                                    credit_account_id=credit_side[(i * 7) % 32],
                                    amount_minor=100 + i)
        with uow.begin() as tx:
            L.create_transfer(tx, request)
    single_rate = single / (time.perf_counter() - start)
    start = time.perf_counter()
    for b in range(batches):
        requests = [L.TransferRequest(f"b{b}-{j}", "bench",
                                      debit_account_id=debit_side[j % 32],
                                      credit_account_id=credit_side[(j * 7 + b) % 32],
                                      amount_minor=1 + j) for j in range(BATCH)]
        with uow.begin() as tx:
            L.create_transfers(tx, requests)
    batch_rate = batches * BATCH / (time.perf_counter() - start)
    with engine.connect() as conn:
        from creditpay.ledger.verify import verify_ledger

        assert verify_ledger(conn).ok
    engine.dispose()
    return single_rate, batch_rate


def measure(kind: str, single: int, batches: int) -> dict[str, object]:
    with _store(kind) as (url, connect):
        raw_single, raw_batch = _raw(kind, connect, single, batches)
        ours_single, ours_batch = _ours(url, single, batches)
    return {
        "bench": "ledger", "store": kind, "cpu_count": os.cpu_count(),
        "single": {"transfers_per_s": round(ours_single, 1),
                   "raw_commits_per_s": round(raw_single, 1),
                   "ratio": round(ours_single / raw_single, 3), "target": 0.3,
                   "count": single},
        "batched": {"transfers_per_s": round(ours_batch, 1),
                    "raw_inserts_per_s": round(raw_batch, 1),
                    "ratio": round(ours_batch / raw_batch, 3), "target": 0.5,
                    "batch_size": BATCH, "batches": batches},
    }


def run(stores: list[str], single: int, batches: int, json_output: bool) -> list[dict]:
    results = []
    for kind in stores:
        result = measure(kind, single, batches)
        results.append(result)
        if json_output:
            print(json.dumps(result))
        else:
            print(f"{kind:>10}: single {result['single']['transfers_per_s']:>9}/s"
                  f" (ratio {result['single']['ratio']}), batched"
                  f" {result['batched']['transfers_per_s']:>9}/s"
                  f" (ratio {result['batched']['ratio']})")
    return results
