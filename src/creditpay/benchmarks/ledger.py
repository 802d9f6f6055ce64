"""Ledger throughput vs the same store's raw inserts, measured in the same run.

* single: one transfer per durable transaction (SQLite WAL with synchronous=FULL; PostgreSQL
  with fsync on), vs one bare single-row insert per durable transaction.
* batched: linked batches of 1,000 transfers per transaction, vs 1,000-row executemany
  inserts into a bare table of the same store.
``ratio`` = ours / raw, measured in interleaved rounds (median of per-round ratios).
Targets (issue #2): batched >= 0.5, single >= 0.3.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from creditpay import ledger as L
from creditpay.bootstrap import ServiceOptions, build_services
from creditpay.clock import SimulatedClock
from creditpay.config import Settings

BATCH = 1000


@contextlib.contextmanager
def _store(kind: str) -> Iterator[tuple[str, Callable[[], Any]]]:
    """Yield (sqlalchemy url, raw DB-API connect function) for a fresh durable store.

    The connection is sqlite3's or psycopg's: their APIs differ past ``execute`` (psycopg's
    ``transaction()`` and ``COPY``), and ``_Raw`` uses each one's own, hence ``Any``."""
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


class _Raw:
    """The store's own limits, on bare tables (no indexes, no constraints):

    * single: one minimal 5-column row per durable transaction;
    * batched minimal: 1,000 minimal rows per transaction (the issue's reference), with the
      store's fastest bulk path (executemany on SQLite, COPY on PostgreSQL);
    * batched same shape: 1,000 rows as wide as a journal row (16 columns) per transaction,
      the bytes the ledger must write with none of its logic, indexes or events;
    * batched journal: the same rows into a table with the journal's three required indexes
      (unique transfer id for idempotency, debit and credit account for balances and
      history): the store's physical ceiling for a ledger that keeps those guarantees.
    """

    def __init__(self, kind: str, connect: Callable[[], Any]) -> None:
        self.kind = kind
        self.conn = conn = connect()
        conn.execute("CREATE TABLE raw_bench (id BIGINT PRIMARY KEY, a BIGINT, b BIGINT,"
                     " c BIGINT, d TEXT)")
        conn.execute("CREATE TABLE raw_wide (seq BIGINT, id TEXT, kind TEXT, debit BIGINT,"
                     " credit BIGINT, amount BIGINT, released BIGINT, currency TEXT,"
                     " code TEXT, pending_id TEXT, hold_status TEXT, expires_at TEXT,"
                     " reference TEXT, batch_id TEXT, metadata TEXT, created_at TEXT)")
        conn.execute("CREATE TABLE raw_journal (seq BIGINT PRIMARY KEY, id TEXT NOT NULL"
                     " UNIQUE, kind TEXT, debit BIGINT, credit BIGINT, amount BIGINT,"
                     " released BIGINT, currency TEXT, code TEXT, pending_id TEXT,"
                     " hold_status TEXT, expires_at TEXT, reference TEXT, batch_id TEXT,"
                     " metadata TEXT, created_at TEXT)")
        conn.execute("CREATE INDEX raw_journal_debit ON raw_journal (debit)")
        conn.execute("CREATE INDEX raw_journal_credit ON raw_journal (credit)")
        p = "?" if kind == "sqlite" else "%s"
        self.sql = f"INSERT INTO raw_bench VALUES ({p}, {p}, {p}, {p}, {p})"  # nosec B608
        self.wide = f"INSERT INTO raw_wide VALUES ({', '.join([p] * 16)})"  # nosec B608
        self.journal = f"INSERT INTO raw_journal VALUES ({', '.join([p] * 16)})"  # nosec
        self.next_id = 0

    def _many(self, statement: str, rows: list[tuple]) -> None:
        conn = self.conn
        if self.kind == "sqlite":
            conn.execute("BEGIN")
            conn.executemany(statement, rows)
            conn.execute("COMMIT")
        else:  # the store's fastest bulk path, as the ledger uses it: COPY
            table = statement.split()[2]
            with conn.transaction(), conn.cursor() as cur, cur.copy(
                    f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def single(self, count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            self.next_id += 1
            self.conn.execute("BEGIN")
            self.conn.execute(self.sql, (self.next_id, 1, 2, 3, f"t{self.next_id}"))
            self.conn.execute("COMMIT")
        return count / (time.perf_counter() - start)

    def batched(self, batches: int, same_shape: bool, indexed: bool = False) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            base = self.next_id + 1
            self.next_id += BATCH
            if same_shape:
                self._many(self.journal if indexed else self.wide, [
                    (base + j, f"b{base + j}", "single", j % 32, 33 + j % 32, 1 + j, 0, "CNY",
                     "bench", None, None, None, None, None, None, "2025-01-01 00:00:00.000000")
                    for j in range(BATCH)])
            else:
                self._many(self.sql, [(base + j, 1, 2, 3, f"b{base + j}")
                                      for j in range(BATCH)])
        return batches * BATCH / (time.perf_counter() - start)


class _Ours:
    def __init__(self, url: str) -> None:
        self.services = build_services(Settings.of(database_url=url),
                                       SimulatedClock("2025-01-01T00:00:00+00:00"),
                                       ServiceOptions(pool_size=2))
        self.engine, self.uow = self.services.engine, self.services.uow
        with self.uow.begin() as tx:
            accounts = L.open_accounts(tx, [
                L.AccountSpec(f"bench:{i}", "CNY", "bench", "bench", str(i),
                              L.NormalSide.CREDIT if i % 2 else L.NormalSide.DEBIT,
                              debits_must_not_exceed_credits=bool(i % 2))
                for i in range(64)])
        self.debit_side = [a.id for a in accounts if a.normal_side == "debit"]
        self.credit_side = [a.id for a in accounts if a.normal_side == "credit"]
        self.next_id = 0

    def single(self, count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            i = self.next_id = self.next_id + 1
            request = L.TransferRequest(f"s{i}", "bench",
                                        debit_account_id=self.debit_side[i % 32],
                                        credit_account_id=self.credit_side[(i * 7) % 32],
                                        amount_minor=100 + i)
            with self.uow.begin() as tx:
                L.create_transfer(tx, request)
        return count / (time.perf_counter() - start)

    def batched(self, batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            b = self.next_id = self.next_id + 1
            requests = [L.TransferRequest(f"b{b}-{j}", "bench",
                                          debit_account_id=self.debit_side[j % 32],
                                          credit_account_id=self.credit_side[(j * 7 + b) % 32],
                                          amount_minor=1 + j) for j in range(BATCH)]
            with self.uow.begin() as tx:
                L.create_transfers(tx, requests)
        return batches * BATCH / (time.perf_counter() - start)

    def close(self) -> None:
        from creditpay.ledger.verify import verify_ledger

        with self.engine.connect() as conn:
            assert verify_ledger(conn).ok
        self.services.close()


def measure(kind: str, single: int, batches: int, rounds: int = 10) -> dict[str, Any]:
    """Raw and ledger work interleaved in ``rounds`` short rounds; the figures are medians
    over rounds, and each ratio is the median of the per-round ratios, so a change of load
    on a shared machine hits both sides of a ratio alike."""
    single_per_round = max(1, single // rounds)
    batches_per_round = max(1, batches // rounds)
    samples: dict[str, list[float]] = {k: [] for k in (
        "raw_single", "ours_single", "raw_batched", "raw_wide", "raw_journal", "ours_batched")}
    with _store(kind) as (url, connect):
        raw, ours = _Raw(kind, connect), _Ours(url)
        for _ in range(rounds):
            samples["raw_single"].append(raw.single(single_per_round))
            samples["ours_single"].append(ours.single(single_per_round))
            samples["raw_batched"].append(raw.batched(batches_per_round, same_shape=False))
            samples["raw_wide"].append(raw.batched(batches_per_round, same_shape=True))
            samples["raw_journal"].append(raw.batched(batches_per_round, same_shape=True,
                                                      indexed=True))
            samples["ours_batched"].append(ours.batched(batches_per_round))
        ours.close()
        raw.conn.close()

    def ratio(a: str, b: str) -> float:
        return round(statistics.median(x / y for x, y in zip(samples[a], samples[b],
                                                               strict=True)), 3)

    def med(name: str) -> float:
        return round(statistics.median(samples[name]), 1)

    return {
        "bench": "ledger", "store": kind, "cpu_count": os.cpu_count(), "rounds": rounds,
        "single": {"transfers_per_s": med("ours_single"),
                   "raw_commits_per_s": med("raw_single"),
                   "ratio": ratio("ours_single", "raw_single"), "target": 0.3,
                   "count": single_per_round * rounds},
        "batched": {"transfers_per_s": med("ours_batched"),
                    "raw_inserts_per_s": med("raw_batched"),
                    "ratio": ratio("ours_batched", "raw_batched"), "target": 0.5,
                    "raw_same_shape_inserts_per_s": med("raw_wide"),
                    "ratio_same_shape": ratio("ours_batched", "raw_wide"),
                    "raw_journal_indexed_inserts_per_s": med("raw_journal"),
                    "ratio_journal_indexed": ratio("ours_batched", "raw_journal"),
                    "ceiling_ratio": ratio("raw_journal", "raw_batched"),
                    "batch_size": BATCH, "batches": batches_per_round * rounds},
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
                  f" {result['batched']['ratio_same_shape']}; vs indexed journal rows"
                  f" {result['batched']['ratio_journal_indexed']})")
    return results
