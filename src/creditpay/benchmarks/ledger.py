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
         ) -> dict[str, float]:
    """The store's own limits, measured on bare tables (no indexes, no constraints):

    * single: one minimal 5-column row per durable transaction;
    * batched_minimal: 1,000 minimal rows per transaction (the issue's reference), with the
      store's fastest bulk path (executemany on SQLite, COPY on PostgreSQL);
    * batched_same_shape: 1,000 rows as wide as a journal row (16 columns) per transaction,
      i.e. the bytes the ledger must write with none of its logic, indexes or events.
    """
    conn = connect()
    conn.execute("CREATE TABLE raw_bench (id BIGINT PRIMARY KEY, a BIGINT, b BIGINT,"
                 " c BIGINT, d TEXT)")
    conn.execute("CREATE TABLE raw_wide (seq BIGINT, id TEXT, kind TEXT, debit BIGINT,"
                 " credit BIGINT, amount BIGINT, released BIGINT, currency TEXT, code TEXT,"
                 " pending_id TEXT, hold_status TEXT, expires_at TEXT, reference TEXT,"
                 " batch_id TEXT, metadata TEXT, created_at TEXT)")
    p = "?" if kind == "sqlite" else "%s"
    sql = f"INSERT INTO raw_bench VALUES ({p}, {p}, {p}, {p}, {p})"  # nosec B608
    wide = f"INSERT INTO raw_wide VALUES ({', '.join([p] * 16)})"  # nosec B608

    def many(statement: str, rows: list[tuple]) -> None:
        if kind == "sqlite":
            conn.execute("BEGIN")
            conn.executemany(statement, rows)
            conn.execute("COMMIT")
        else:  # the store's fastest bulk path, as the ledger uses it: COPY
            table = statement.split()[2]
            with conn.transaction(), conn.cursor() as cur, cur.copy(
                    f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    start = time.perf_counter()
    for i in range(single):
        conn.execute("BEGIN")
        conn.execute(sql, (i, 1, 2, 3, f"t{i}"))
        conn.execute("COMMIT")
    result = {"single": single / (time.perf_counter() - start)}
    start = time.perf_counter()
    for b in range(batches):
        many(sql, [(single + b * BATCH + j, 1, 2, 3, f"b{b}-{j}") for j in range(BATCH)])
    result["batched_minimal"] = batches * BATCH / (time.perf_counter() - start)
    start = time.perf_counter()
    for b in range(batches):
        many(wide, [(b * BATCH + j, f"b{b}-{j}", "single", j % 32, 33 + j % 32, 1 + j, 0,
                     "CNY", "bench", None, None, None, None, None, None,
                     "2025-01-01 00:00:00.000000") for j in range(BATCH)])
    result["batched_same_shape"] = batches * BATCH / (time.perf_counter() - start)
    conn.close()
    return result


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
        raw = _raw(kind, connect, single, batches)
        ours_single, ours_batch = _ours(url, single, batches)
    return {
        "bench": "ledger", "store": kind, "cpu_count": os.cpu_count(),
        "single": {"transfers_per_s": round(ours_single, 1),
                   "raw_commits_per_s": round(raw["single"], 1),
                   "ratio": round(ours_single / raw["single"], 3), "target": 0.3,
                   "count": single},
        "batched": {"transfers_per_s": round(ours_batch, 1),
                    "raw_inserts_per_s": round(raw["batched_minimal"], 1),
                    "ratio": round(ours_batch / raw["batched_minimal"], 3), "target": 0.5,
                    "raw_same_shape_inserts_per_s": round(raw["batched_same_shape"], 1),
                    "ratio_same_shape": round(ours_batch / raw["batched_same_shape"], 3),
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
                  f" (ratio {result['batched']['ratio']}; vs same-shape rows"
                  f" {result['batched']['ratio_same_shape']})")
    return results
