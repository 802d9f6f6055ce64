"""Benchmark: each portfolio-dashboard view over an N-account SQLite database (issue #16).

Seeding: the accounts, lines, installments and ledger of the close-of-business benchmark
(:func:`creditpay.benchmarks.cob.seed_database`, bulk ``executemany``), then, in bulk SQL
and ``executemany``: buckets from the seeded dpd, 0.5 % of the accounts written off, three
month ends of history recorded by the real job
(:func:`creditpay.credit.portfolio_queries.record_month_end`, the accounts' dpd moved
between them), one credit decision per account (grades A-E, 78 % approved, 2 % referred,
half of those reviewed), one fraud screening per account over the last three months and
0.2 % of them labelled fraud.
``--db PATH`` reuses a database seeded by an earlier run (nothing is written to it then).

Measured in the same run: each view (:data:`creditpay.reporting.dashboard.VIEWS`) over the
whole range, ``repeats`` times (p50 and max), and the physical reference: one full scan of
the accounts table (``SELECT count(*), sum(principal_original_minor) FROM
credit_accounts``), best of ``repeats``. ``ratio = seconds_p50 / reference_seconds``.
Target: every view ≤ 1 s.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from creditpay.benchmarks.cob import BUSINESS_DATE, seed_database, seeding_engine
from creditpay.clock import SimulatedClock
from creditpay.credit import products as P
from creditpay.credit.portfolio_queries import record_month_end
from creditpay.db.engine import driver_connection, make_engine
from creditpay.reporting.dashboard import VIEWS, run_view

__all__ = ["run_benchmark", "seed_console_database", "MONTH_ENDS"]

MONTH_ENDS = (dt.date(2025, 3, 31), dt.date(2025, 4, 30), dt.date(2025, 5, 31))
_BUCKET_SQL = ("CASE WHEN dpd = 0 THEN 'M0' WHEN dpd < 30 THEN 'M1' WHEN dpd < 60 THEN 'M2'"
               " WHEN dpd < 90 THEN 'M3' WHEN dpd < 120 THEN 'M4' WHEN dpd < 150 THEN 'M5'"
               " ELSE 'M6+' END")
_POLICY_HASH = "b" * 64


def _stamp(seconds: np.ndarray) -> list[str]:
    # UtcDateTime's SQLite text form (UTC wall clock, no offset).
    return [dt.datetime.fromtimestamp(int(s), dt.UTC).strftime("%Y-%m-%d %H:%M:%S.000000")
            for s in seconds.tolist()]


def seed_console_database(url: str, accounts: int, *, seed: int = 20250618) -> dict[str, Any]:
    """Seed a new SQLite database at ``url`` for the console benchmark (see the module
    docstring); returns what was seeded and the seconds each part took."""
    clock = SimulatedClock(dt.datetime.combine(BUSINESS_DATE, dt.time(12), tzinfo=dt.UTC))
    times: dict[str, float] = {}
    started = time.perf_counter()
    seeded = seed_database(url, accounts, clock, seed=seed, catalogue=P.load_catalogue())
    times["accounts"] = time.perf_counter() - started
    rng = np.random.default_rng(seed + 16)
    engine = seeding_engine(url)
    try:
        with engine.begin() as conn:
            raw = driver_connection(conn)
            started = time.perf_counter()
            raw.execute(f"UPDATE credit_accounts SET bucket = {_BUCKET_SQL}")  # nosec B608
            # History: at each month end the dpd of a slice of the book moves (a new
            # delinquency, a cure, a roll deeper), then the job records the month end.
            for k, month_end in enumerate(MONTH_ENDS):
                raw.execute(
                    "UPDATE credit_accounts SET dpd = CASE WHEN (seq + ?) % 50 = 0 THEN"
                    " dpd + 31 WHEN (seq + ?) % 7 = 0 AND dpd > 0 THEN 0 ELSE dpd END",
                    (k, k))
                raw.execute(f"UPDATE credit_accounts SET bucket = {_BUCKET_SQL}")  # nosec
                record_month_end(conn, month_end)
            raw.execute(
                "UPDATE credit_accounts SET status = 'written_off', written_off_minor ="
                " principal_unbilled_minor + principal_billed_minor + principal_past_due_minor,"
                " principal_unbilled_minor = 0, principal_billed_minor = 0,"
                " principal_past_due_minor = 0, written_off_on = '2025-06-10'"
                " WHERE seq % 200 = 0")
            times["history"] = time.perf_counter() - started
            started = time.perf_counter()
            raw.execute(
                "INSERT INTO credit_policies (content_hash, policy_kind, policy_id, version,"
                " document, stored_at) VALUES (?, 'application', 'bench', '1', '{}',"
                " '2025-01-01 00:00:00.000000')", (_POLICY_HASH,))
            customers = [r[0] for r in raw.execute(
                "SELECT customer_id FROM credit_accounts ORDER BY seq").fetchall()]
            n = len(customers)
            decided = _stamp(int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())
                             + rng.integers(0, 160 * 86_400, n))
            grade = np.asarray(list("ABCDE"))[rng.integers(0, 5, n)].tolist()
            outcome = np.asarray(["approve", "decline", "refer"])[
                rng.choice(3, n, p=[0.78, 0.2, 0.02])].tolist()
            raw.executemany(
                "INSERT INTO credit_decisions (id, application_id, customer_id, product_code,"
                " decided_at, outcome, grade, currency, model_name, model_version,"
                " model_role, policy_id, policy_version, policy_hash, request_sha256,"
                " inputs, features, model_output, policy_output, reasons) VALUES (?, ?, ?,"
                " 'huabei', ?, ?, ?, 'CNY', 'bench', 1, 'champion', 'bench', '1', ?, '',"
                " '{}', '{}', '{}', '{}', '[]')",
                zip([f"d{i}" for i in range(n)], [f"app{i}" for i in range(n)], customers,
                    decided, outcome, grade, [_POLICY_HASH] * n, strict=True))
            # Half the referred applications reviewed (approved or declined by a person).
            referred = [i for i in range(n) if outcome[i] == "refer"][::2]
            raw.executemany(
                "INSERT INTO credit_referral_reviews (decision_id, verdict, reviewer_id,"
                " reviewed_at) VALUES (?, ?, 'bench', '2025-06-01 00:00:00.000000')",
                [(f"d{i}", "approve" if k % 3 else "decline")
                 for k, i in enumerate(referred)])
            times["decisions"] = time.perf_counter() - started
            started = time.perf_counter()
            screened = _stamp(int(dt.datetime(2025, 3, 20, tzinfo=dt.UTC).timestamp())
                              + rng.integers(0, 90 * 86_400, n))
            decision = np.asarray(["approve", "challenge", "review", "decline"])[
                rng.choice(4, n, p=[0.95, 0.02, 0.02, 0.01])].tolist()
            amount = rng.integers(100, 500_000, n).tolist()
            raw.executemany(
                "INSERT INTO fraud_screenings (subject_type, subject_id, customer_id,"
                " device_id, merchant_id, amount_minor, currency, scenario, screened_at,"
                " features, rules_hit, score, decision, reasons, model_version,"
                " features_version, rules_version, thresholds) VALUES ('payment', ?, ?,"
                " 'dev', 'm1', ?, 'CNY', 'checkout', ?, '{}', '[]', 0.1, ?, '[]', 'b', 'b',"
                " 'b', '{}')",
                zip([f"pi{i}" for i in range(n)], customers, amount, screened, decision,
                    strict=True))
            labelled = rng.choice(n, max(1, n // 500), replace=False)
            sources = np.where(rng.random(len(labelled)) < 0.5, "chargeback",
                               "analyst_verdict").tolist()
            stamps = [screened[i] for i in labelled.tolist()]
            raw.executemany(
                "INSERT INTO fraud_labels (source, reference, subject_type, subject_id,"
                " customer_id, transaction_at, labelled_at, is_fraud, amount_minor,"
                " currency, recorded_by) VALUES (?, ?, 'payment_intent', ?, ?, ?, ?, 1, ?,"
                " 'CNY', 'bench')",
                zip(sources, [f"ref{i}" for i in labelled.tolist()],
                    [f"pi{i}" for i in labelled.tolist()],
                    [customers[i] for i in labelled.tolist()], stamps, stamps,
                    [amount[i] for i in labelled.tolist()], strict=True))
            times["fraud"] = time.perf_counter() - started
        with engine.connect() as conn:
            driver_connection(conn).execute("ANALYZE")
            driver_connection(conn).execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return {"seeded": {**seeded, "decisions": n, "referral_reviews": len(referred),
                       "screenings": n, "fraud_labels": len(labelled),
                       "month_ends": len(MONTH_ENDS)},
            "seed_seconds": {k: round(v, 1) for k, v in times.items()}}


def _reference(conn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        driver_connection(conn).execute(
            "SELECT count(*), sum(principal_original_minor) FROM credit_accounts").fetchone()
        best = min(best, time.perf_counter() - started)
    return best


def run_benchmark(*, accounts: int = 1_000_000, repeats: int = 3, seed: int = 20250618,
                  db_path: str | None = None) -> dict[str, Any]:
    """Seed (unless ``db_path`` names an existing file) and time every view."""
    with tempfile.TemporaryDirectory(prefix="creditpay-console-") as folder:
        path = Path(db_path) if db_path else Path(folder) / "console.db"
        url = f"sqlite:///{path}"
        seeding: dict[str, Any] = {"reused": True}
        if not path.exists():
            seeding = seed_console_database(url, accounts, seed=seed)
        # The measured run: the store's normal engine settings, read only.
        engine = make_engine(url)
        views: dict[str, Any] = {}
        try:
            with engine.connect() as conn:
                counted = int(driver_connection(conn).execute(
                    "SELECT count(*) FROM credit_accounts").fetchone()[0])
                reference = _reference(conn, repeats)
                for name in VIEWS:
                    runs, rows = [], 0
                    for _ in range(repeats):
                        started = time.perf_counter()
                        rows = len(run_view(conn, name, date_from=dt.date(2024, 1, 1),
                                            date_to=dt.date(2025, 6, 30)))
                        runs.append(time.perf_counter() - started)
                    p50 = statistics.median(runs)
                    views[name] = {"seconds": round(p50, 4), "max_seconds": round(max(runs), 4),
                                   "rows": rows, "reference_seconds": round(reference, 4),
                                   "ratio": round(p50 / reference, 2) if reference else None,
                                   "within_target": max(runs) <= 1.0}
        finally:
            engine.dispose()
    return {"benchmark": "console", "store": "sqlite", "accounts": counted,
            "repeats": repeats, "target_seconds": 1.0,
            "reference": "SELECT count(*), sum(principal_original_minor) FROM credit_accounts",
            "reference_seconds": round(reference, 4), "views": views,
            "all_within_target": all(v["within_target"] for v in views.values()), **seeding}
