"""The Spark tests' shared pieces: one SparkSession for the session (local mode, Debian's
OpenJDK), the seeded book they close, and its copies.

Without a Java 17+ runtime the Spark tests are skipped with a reason naming the script that
installs it (scripts/ensure-system-deps.sh, which `make test` runs first): never silently.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from creditpay.benchmarks.cob import BUSINESS_DATE, seed_database
from creditpay.clock import SimulatedClock
from tests.catalogues import CATALOGUE

BOOK_ACCOUNTS = 20_000  # the book: the Spark run must equal the local one on it
BOOK_CHUNK = 8_000  # three chunks (two full, one short), each split into Spark partitions


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from creditpay.spark.session import java_missing, spark_session, stop_spark_session

    reason = java_missing()
    if reason is not None:
        pytest.skip(f"Spark tests need Java 17+: {reason}")
    session = spark_session()
    try:
        yield session
    finally:
        stop_spark_session()


@pytest.fixture(scope="session")
def seeded_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark's book of BOOK_ACCOUNTS accounts, seeded once (never changed: tests
    close copies of it)."""
    path = tmp_path_factory.mktemp("spark-book") / "book.db"
    clock = SimulatedClock(dt.datetime.combine(BUSINESS_DATE, dt.time(12), tzinfo=dt.UTC))
    seed_database(f"sqlite:///{path}", BOOK_ACCOUNTS, clock, catalogue=CATALOGUE)
    return path


@pytest.fixture
def book_copy(seeded_book: Path, tmp_path: Path):
    """A function making numbered copies of the seeded book in the test's folder."""
    def copy(name: str) -> Path:
        target = tmp_path / f"{name}.db"
        shutil.copyfile(seeded_book, target)
        return target

    return copy


def close_clock() -> SimulatedClock:
    """The clock of the close of BUSINESS_DATE (just after midnight), the same for every
    run so the timestamps the runs write are equal too."""
    return SimulatedClock(dt.datetime.combine(BUSINESS_DATE + dt.timedelta(days=1),
                                              dt.time(0, 30), tzinfo=dt.UTC))
