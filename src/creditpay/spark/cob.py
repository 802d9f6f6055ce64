"""``run_close_of_business`` with the Spark engine: the one entry point the command line,
the benchmark and the tests use (docs/spark.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from creditpay.credit import products as P
from creditpay.credit.cob import (
    CHUNK_SIZE_DEFAULT,
    AutoDebitConsents,
    ChunkReader,
    CobReport,
    read_chunk,
    run_close_of_business,
)
from creditpay.credit.cob_steps import ChunkOutput, ChunkState, DayInputs
from creditpay.db.uow import UnitOfWork
from creditpay.errors import ValidationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from creditpay.config import Settings
    from creditpay.platform.checkpoints import AuditCheckpointer
    from creditpay.spark.engine import SparkStepsRunner

__all__ = ["run_close_of_business_on_spark", "LazySparkRunner"]


class LazySparkRunner:
    """Starts Spark (and its JVM) only when a chunk has accounts to run: a date already
    closed, or a book of idle accounts, never starts it."""

    def __init__(self, spark: SparkSession | Callable[[], SparkSession],
                 partitions: int | None) -> None:
        self._spark = spark
        self._partitions = partitions
        self._runner: SparkStepsRunner | None = None

    @property
    def runner(self) -> SparkStepsRunner:
        if self._runner is None:
            from creditpay.spark.engine import SparkStepsRunner

            spark = self._spark() if callable(self._spark) else self._spark
            self._runner = SparkStepsRunner(spark, self._partitions)
        return self._runner

    @property
    def tasks_run(self) -> int:
        return 0 if self._runner is None else self._runner.tasks_run

    def __call__(self, state: ChunkState, inputs: DayInputs) -> ChunkOutput:
        return self.runner(state, inputs)


def run_close_of_business_on_spark(
        uow: UnitOfWork, business_date: dt.date, *,
        audit_checkpointer: AuditCheckpointer | None,
        auto_debit_consents: AutoDebitConsents, catalogue: P.Catalogue,
        spark: SparkSession | None = None, settings: Settings | None = None,
        snapshot: str | None = None, partitions: int | None = None, progress: bool = False,
        chunk_size: int = CHUNK_SIZE_DEFAULT,
        _after_chunk: Callable[[int], None] | None = None) -> CobReport:
    """The close of business of ``business_date`` with its pure steps in Spark tasks
    (``spark``, default: the process's session from ``settings``), each chunk read from the
    database or from the Parquet ``snapshot`` folder (whose chunk size the run then uses).
    Same chunks, transactions, chunk records, pulls and executor as the local engine: a
    date already closed is a no-op and an interrupted run resumes."""
    reader: ChunkReader = read_chunk
    if snapshot is not None:
        from creditpay.spark.snapshot import SnapshotReader

        snapshot_reader = SnapshotReader(snapshot)
        if snapshot_reader.business_date != business_date:
            raise ValidationError(f"the snapshot is of {snapshot_reader.business_date}, not"
                                  f" {business_date}", field="snapshot")
        reader, chunk_size = snapshot_reader, snapshot_reader.chunk_size
    if spark is None:
        from creditpay.spark.session import spark_session

        def factory() -> SparkSession:
            return spark_session(settings)
        source: SparkSession | Callable[[], SparkSession] = factory
    else:
        source = spark
    if partitions is None and settings is not None:
        partitions = settings.spark_partitions
    runner = LazySparkRunner(source, partitions)
    return run_close_of_business(
        uow, business_date, progress=progress, chunk_size=chunk_size,
        _after_chunk=_after_chunk, audit_checkpointer=audit_checkpointer,
        auto_debit_consents=auto_debit_consents, catalogue=catalogue, engine="spark",
        steps_runner=runner, reader=reader)
