"""``creditpay bench early-warning``: the job's vectorised part on a synthetic book.

A book of N accounts on N lines (products, grades, buckets, first installments drawn at
random) goes through exactly the functions the job uses: FPD, utilisation, the bucket
snapshot (built, encoded, decoded) and both roll rates per segment, then every default
monitor over 180 days of stored history per series. Reading the book from the database
(``credit.service.portfolio_frames``) is not included: it is one SELECT whose cost is the
store's.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np
import polars as pl

__all__ = ["run_bench", "synthetic_book"]

DAY = dt.date(2025, 6, 30)
_BUCKETS = np.array(["M0", "M1", "M2", "M3"])
_PRODUCTS = np.array(["huabei", "baitiao", "jiebei"])
_GRADES = np.array(["A", "B", "C", "D"])


def synthetic_book(n: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accounts, lines) shaped like ``portfolio_frames`` plus ``grade``."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("acct_", np.arange(n).astype(str))
    bucket = _BUCKETS[rng.choice(4, n, p=[0.9, 0.05, 0.03, 0.02])]
    first_due = np.datetime64(DAY) - rng.integers(0, 400, n).astype("timedelta64[D]")
    accounts = pl.DataFrame({
        "account_id": ids, "customer_id": ids, "kind": np.full(n, "line"),
        "status": np.where(rng.random(n) < 0.97, "active", "closed"),
        "product_code": _PRODUCTS[rng.integers(0, 3, n)], "line_id": ids,
        "principal_minor": rng.integers(0, 2_000_000, n),
        "dpd": np.where(bucket == "M0", 0, rng.integers(1, 120, n)), "bucket": bucket,
        "first_due_date": first_due.astype("datetime64[D]"),
        "first_due_status": np.where(rng.random(n) < 0.95, "paid", "past_due"),
        "grade": _GRADES[rng.integers(0, 4, n)]}).with_columns(
        pl.col("first_due_date").cast(pl.Date))
    lines = pl.DataFrame({
        "line_id": ids, "customer_id": ids, "product_code": accounts["product_code"],
        "limit_minor": rng.integers(1, 10, n) * 500_000, "status": np.full(n, "active"),
        "grade": accounts["grade"]})
    return accounts, lines


def run_bench(accounts: int = 1_000_000, seed: int = 0) -> dict[str, Any]:
    from creditpay.risk.early_warning import job

    book, lines = synthetic_book(accounts, seed)
    yesterday = job._snapshot(book)
    moved = book.with_columns(pl.when(pl.int_range(pl.len()) % 37 == 0).then(pl.lit("M1"))
                              .otherwise(pl.col("bucket")).alias("bucket"))
    least = job.Minimums()
    timings: dict[str, Any] = {"accounts": accounts}
    start = time.perf_counter()
    fpd = job._fpd(moved, DAY, job.FPD_DAYS_DEFAULT, least)
    util = job._utilisation(moved, lines, least)
    snapshot = job._snapshot(moved)
    encoded = job._encode(snapshot)
    previous = job._decode(job._encode(yesterday))
    rolls = job._rolls(previous, snapshot, least)
    timings["metrics_ms"] = round((time.perf_counter() - start) * 1000, 1)
    timings["snapshot_bytes"] = len(encoded)
    timings["values"] = len(fpd) + len(util) + len(rolls)
    # Every default monitor over 180 days of each stored series.
    rng = np.random.default_rng(seed)
    days = [DAY - dt.timedelta(days=179 - i) for i in range(180)]
    # Each series with a denominator of 500 (a rate's sample, checked by the monitors).
    series = {(v.metric, v.segment): (0.05 + 0.005 * rng.standard_normal(180),
                                      np.full(180, 500.0))
              for v in fpd + util + rolls}
    start = time.perf_counter()
    alerts = job._evaluate_all(job.default_monitors(), days, series)
    timings["monitors_ms"] = round((time.perf_counter() - start) * 1000, 1)
    timings["series"] = len(series)
    timings["alerts"] = len(alerts)
    return timings
