"""The console benchmark's seeding and run at a small size (SQLite, a throw-away file):
every view runs over the seeded book, the referred decisions and their reviews are seeded,
and a reused database is read, not written. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

from creditpay.benchmarks import console as B
from creditpay.reporting.dashboard import VIEWS


def test_the_console_benchmark_seeds_and_times_every_view(tmp_path: Path) -> None:
    path = tmp_path / "console.db"
    first = B.run_benchmark(accounts=400, repeats=1, db_path=str(path))
    assert first["accounts"] == 400 and set(first["views"]) == set(VIEWS)
    assert first["seeded"]["decisions"] == 400 and first["seeded"]["referral_reviews"] > 0
    # Every view has rows over the seeded book (grades: A..E).
    assert all(v["rows"] > 0 for v in first["views"].values())
    assert first["views"]["grades"]["rows"] == 5
    again = B.run_benchmark(repeats=1, db_path=str(path))
    assert again["reused"] is True and again["accounts"] == 400
    assert {k: v["rows"] for k, v in again["views"].items()} == {
        k: v["rows"] for k, v in first["views"].items()}
