"""The close of business on Spark (local mode, a real JVM): the Spark run equals the local
run to the minor unit on the benchmark's 20,000-account book (every table compared, row by
row), a date already closed is a no-op, an interrupted run resumes, Parquet snapshots round
trip, the command line runs it, and on PostgreSQL (and SQLite) every chunk's Spark output is
the local steps' output."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess  # nosec B404 - runs this interpreter
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from creditpay.benchmarks.cob import BUSINESS_DATE, compare_books
from creditpay.credit import cob
from creditpay.credit.cob_steps import ChunkOutput, ChunkState, DayInputs, run_steps
from creditpay.db.engine import make_engine
from creditpay.db.uow import UnitOfWork
from creditpay.errors import StateError, ValidationError
from creditpay.protection.auto_debit_consents import ReferencedAutoDebitConsents
from creditpay.spark.cob import run_close_of_business_on_spark
from creditpay.spark.engine import SparkStepsRunner, merge, run_partition, split
from creditpay.spark.snapshot import SnapshotReader, write_snapshot
from tests.catalogues import CATALOGUE
from tests.spark.conftest import BOOK_ACCOUNTS, BOOK_CHUNK, close_clock

pytestmark = pytest.mark.xdist_group("spark")


def _run(path: Path, engine: str, **options) -> cob.CobReport:
    db = make_engine(f"sqlite:///{path}")
    try:
        uow = UnitOfWork(db, close_clock())
        common = {"chunk_size": BOOK_CHUNK, "audit_checkpointer": None,
                  "auto_debit_consents": ReferencedAutoDebitConsents(),
                  "catalogue": CATALOGUE, **options}
        if engine == "spark":
            return run_close_of_business_on_spark(uow, BUSINESS_DATE, **common)
        return cob.run_close_of_business(uow, BUSINESS_DATE, **common)
    finally:
        db.dispose()


def _what(report: cob.CobReport) -> dict:
    return {k: v for k, v in report.as_dict().items()
            if k not in ("seconds", "engine", "chunks_resumed", "already_done")}


@pytest.fixture(scope="module")
def local_book(seeded_book, tmp_path_factory):
    """The book closed by the local engine (the reference every Spark run must equal)."""
    path = tmp_path_factory.mktemp("spark-local") / "local.db"
    shutil.copyfile(seeded_book, path)
    report = _run(path, "local")
    assert report.accounts == BOOK_ACCOUNTS and report.chunks == 3
    return path, report


def _jobs(spark) -> int:
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))


def test_spark_equals_local_to_the_minor_unit_and_a_second_run_changes_nothing(
        spark, local_book, book_copy):
    local_path, local_report = local_book
    path = book_copy("spark")
    jobs = _jobs(spark)
    report = _run(path, "spark", spark=spark)
    assert report.engine == "spark" and _what(report) == _what(local_report)
    # Every chunk ran its steps as Spark jobs (one task per account partition).
    assert _jobs(spark) - jobs == 3
    # The book touched: auto-debits (and failed ones), write-offs, billing, statements.
    assert min(report.auto_debits, report.auto_debits_failed, report.write_offs,
               report.installments_billed, report.statements, report.rolled_past_due) > 0
    compared = compare_books(local_path, path)
    assert compared["matches"], compared["differences"]
    assert compared["compared"]["ledger_transfers"] > BOOK_ACCOUNTS
    assert compared["compared"]["credit_rows"] > BOOK_ACCOUNTS
    assert compared["compared"]["events"] > 0
    # A mismatch is found (the comparison can fail): one balance moved by one minor unit.
    changed = path.with_name("changed.db")
    shutil.copyfile(path, changed)
    with sqlite3.connect(changed) as conn:
        conn.execute("UPDATE ledger_accounts SET credits_posted = credits_posted + 1"
                     " WHERE id = (SELECT min(id) FROM ledger_accounts)")
    found = compare_books(path, changed)
    assert not found["matches"] and found["differences"][0]["table"] == "ledger_accounts"
    # The date again: a no-op, Spark never asked.
    jobs = _jobs(spark)
    again = _run(path, "spark", spark=spark)
    assert again.already_done and _what(again) == _what(local_report)
    assert _jobs(spark) == jobs
    assert compare_books(local_path, path)["matches"]


def test_an_interrupted_spark_run_resumes_and_ends_as_the_local_run(spark, local_book,
                                                                     book_copy):
    local_path, local_report = local_book
    path = book_copy("crash")

    class Crash(Exception):
        pass

    def crash(number: int) -> None:
        if number == 0:
            raise Crash

    with pytest.raises(Crash):
        _run(path, "spark", spark=spark, _after_chunk=crash)
    report = _run(path, "spark", spark=spark)
    assert report.chunks_resumed == 1 and _what(report) == _what(local_report)
    compared = compare_books(local_path, path)
    assert compared["matches"], compared["differences"]


def test_parquet_snapshot_round_trip_and_spark_run_from_it(spark, local_book, book_copy,
                                                            tmp_path):
    local_path, local_report = local_book
    path = book_copy("snapshot")
    db = make_engine(f"sqlite:///{path}")
    try:
        uow = UnitOfWork(db, close_clock())
        meta = write_snapshot(uow, BUSINESS_DATE, str(tmp_path / "snap"),
                              chunk_size=BOOK_CHUNK)
        assert len(meta["chunks"]) == 3
        with pytest.raises(ValidationError) as err:  # never over an earlier snapshot
            write_snapshot(uow, BUSINESS_DATE, str(tmp_path / "snap"), chunk_size=BOOK_CHUNK)
        assert err.value.field == "out"
        reader = SnapshotReader(str(tmp_path / "snap"))
        with uow.connect() as conn:
            for chunk in meta["chunks"]:
                args = (conn, BUSINESS_DATE, chunk["number"], chunk["lo"], chunk["hi"])
                read, direct = reader(*args), cob.read_chunk(*args)
                assert read.loaded.keys() == direct.loaded.keys()
                for name, values in direct.loaded.items():
                    assert read.loaded[name].dtype == values.dtype, name
                    assert np.array_equal(read.loaded[name], values), name
                for rows, expected in ((read.open_rows, direct.open_rows),
                                       (read.due_rows, direct.due_rows)):
                    assert [_normal(r) for r in rows] == [_normal(r) for r in expected]
                assert np.array_equal(read.scheduled_seq, direct.scheduled_seq)
                assert np.array_equal(read.scheduled_due, direct.scheduled_due)
                assert (read.installment_numbers, read.plan_installments, read.ahead,
                        read.idle_count) == (direct.installment_numbers,
                                             direct.plan_installments, direct.ahead,
                                             direct.idle_count)
    finally:
        db.dispose()
    other_day = make_engine(f"sqlite:///{path}")
    try:
        with pytest.raises(ValidationError) as err:  # a snapshot of another date
            run_close_of_business_on_spark(
                UnitOfWork(other_day, close_clock()), BUSINESS_DATE - dt.timedelta(days=1),
                spark=spark, snapshot=str(tmp_path / "snap"), audit_checkpointer=None,
                auto_debit_consents=ReferencedAutoDebitConsents(), catalogue=CATALOGUE)
        assert err.value.field == "snapshot"
    finally:
        other_day.dispose()
    report = _run(path, "spark", spark=spark, snapshot=str(tmp_path / "snap"))
    assert _what(report) == _what(local_report)
    compared = compare_books(local_path, path)
    assert compared["matches"], compared["differences"]


def test_a_stale_snapshot_is_refused(local_book, book_copy, tmp_path):
    path = book_copy("stale")
    db = make_engine(f"sqlite:///{path}")
    try:
        uow = UnitOfWork(db, close_clock())
        write_snapshot(uow, BUSINESS_DATE, str(tmp_path / "snap"), chunk_size=BOOK_CHUNK)
        with db.begin() as conn:  # a repayment after the snapshot, say
            conn.exec_driver_sql("UPDATE credit_accounts SET updated_at = '2030-01-01 00:00:00'"
                                 " WHERE seq = 9000")
        reader = SnapshotReader(str(tmp_path / "snap"))
        with uow.connect() as conn:
            reader(conn, BUSINESS_DATE, 0, 1, BOOK_CHUNK)  # chunk 0 did not change
            with pytest.raises(StateError) as err:
                reader(conn, BUSINESS_DATE, 1, BOOK_CHUNK + 1, 2 * BOOK_CHUNK)
        assert err.value.field == "snapshot" and "changed since" in err.value.detail
    finally:
        db.dispose()
    with pytest.raises(ValidationError):
        SnapshotReader(str(tmp_path / "nothing-here"))


def _normal(row) -> tuple:
    """An installment row with its date as a date (SQLite gives ISO text)."""
    return tuple(dt.date.fromisoformat(x) if isinstance(x, str) and len(x) == 10 and
                 x[4] == "-" else x for x in row)


def test_cob_run_engine_spark_and_cob_snapshot_commands(spark, local_book, book_copy,
                                                       tmp_path, monkeypatch):
    from creditpay.cli import app
    from creditpay.config import AUDIT_CHECKPOINT_DIR_ENV
    from creditpay.platform import keys

    _, local_report = local_book
    monkeypatch.setenv(keys.MASTER_KEY_ENV, keys.encode_key(keys.generate_key_bytes()))
    monkeypatch.setenv(AUDIT_CHECKPOINT_DIR_ENV, str(tmp_path / "checkpoints"))
    runner = CliRunner()
    db = str(book_copy("cli"))
    date = BUSINESS_DATE.isoformat()
    bad = runner.invoke(app, ["cob", "run", "--date", date, "--db", db, "--engine", "gpu"])
    assert bad.exit_code == 2 and "--engine" in bad.output
    bad = runner.invoke(app, ["cob", "run", "--date", date, "--db", db, "--snapshot", "x"])
    assert bad.exit_code == 2 and "--snapshot" in bad.output
    snap = str(tmp_path / "snap")
    made = runner.invoke(app, ["cob", "snapshot", "--date", date, "--db", db, "--out", snap,
                               "--chunk-size", str(BOOK_CHUNK), "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout) | {"out": ""} == {
        "business_date": date, "out": "", "chunk_size": BOOK_CHUNK, "chunks": 3,
        "accounts": json.loads(made.stdout)["accounts"], "idle":
        BOOK_ACCOUNTS - json.loads(made.stdout)["accounts"]}
    ran = runner.invoke(app, ["cob", "run", "--date", date, "--db", db, "--engine", "spark",
                              "--snapshot", snap, "--json"])
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    assert report["engine"] == "spark"
    assert {k: report[k] for k in _what(local_report)} == _what(local_report)
    again = runner.invoke(app, ["cob", "run", "--date", date, "--db", db, "--engine",
                                "spark", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["already_done"] is True
    assert spark.sparkContext._jsc is not None  # the shared session is still running


def test_split_then_merge_is_the_local_steps_output_on_every_store(uow, clock, spark):
    """On PostgreSQL (and SQLite) with the services' own accounts: a close of business on
    Spark whose every chunk is also run by the local steps, the two outputs compared."""
    from tests.credit.servicing_helpers import buy, close_until, new_customer

    who = new_customer(uow)
    others = [new_customer(uow, f"c{k}", wallet_minor=0, product_code="revolver")
              for k in range(2, 6)]
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 10_000)
    for k, other in enumerate(others):
        buy(uow, other, f"q{k}", 20_000 + k)
    close_until(uow, clock, dt.date(2025, 4, 1))
    clock.set("2025-04-02T00:30:00+00:00")
    spark_runner = SparkStepsRunner(spark, partitions=2)
    checked: list[int] = []

    def both(state: ChunkState, inputs: DayInputs) -> ChunkOutput:
        out, expected = spark_runner(state, inputs), run_steps(state, inputs)
        _assert_same(out, expected)
        # The merge itself, without Spark, over more partitions than accounts.
        parts = split(state, inputs, 5)
        _assert_same(merge(state, parts, [run_partition(p.number, p.state, p.inputs)
                                          for p in parts]), expected)
        checked.append(state.n)
        return out

    report = cob.run_close_of_business(uow, dt.date(2025, 4, 1), chunk_size=3, engine="spark",
                                       steps_runner=both, audit_checkpointer=None,
                                       auto_debit_consents=ReferencedAutoDebitConsents(),
                                       catalogue=CATALOGUE)
    assert report.engine == "spark" and report.accounts == 5 and report.statements >= 1
    assert sum(checked) == report.accounts  # no account idle: every one went through both


def _assert_same(out: ChunkOutput, expected: ChunkOutput) -> None:
    assert out.requests == expected.requests
    assert out.events == expected.events
    assert out.writes == expected.writes
    assert dict(out.counts) == dict(expected.counts)
    for side in ("a", "v"):
        got, want = getattr(out.state, side), getattr(expected.state, side)
        assert got.keys() == want.keys()
        for name in want:
            assert got[name].dtype == want[name].dtype, name
            assert np.array_equal(got[name], want[name]), name


def test_importing_creditpay_never_imports_pyspark():
    code = ("import sys, creditpay.cli, creditpay.credit.cob, creditpay.benchmarks.cob, "
            "creditpay.spark.cob, creditpay.spark.engine, creditpay.spark.snapshot; "
            "print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)  # nosec B603
    assert out.stdout.strip() == "False"
