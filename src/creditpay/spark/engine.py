"""The close of business's pure steps in Spark tasks, partitioned by account.

Per chunk (the same chunks, transactions and chunk records as the local engine,
:func:`creditpay.credit.cob.run_close_of_business`), the driver reads the chunk (the database
or a Parquet snapshot), runs the consent pre-pass and the wallet pulls in the chunk's
transaction exactly as the local engine does (the ledger alone judges a short wallet), then
hands the pure steps to Spark:

1. :func:`split` cuts the chunk's arrays into account partitions: contiguous ranges of
   accounts (by seq); every per-account input (consent answers, pull outcomes) is sliced with
   them and every installment (open, due, scheduled), installment number, plan installment
   and billed-ahead seq travels with its account. Nothing in a partition needs I/O.
2. Spark maps each partition through :data:`creditpay.credit.cob_steps.STEPS` (unchanged) in
   a Python task (``DataFrame.mapInArrow``: one row per partition in, one row out), keeping
   each step's output apart.
3. :func:`merge` puts the outputs back in the local engine's order (step by step, and within
   a step partition by partition, which is account order) and the same executor posts the
   transfers, writes the rows and emits the events.

So both engines post the same transfers in the same order, write the same rows and emit the
same events: the Spark run equals the local run to the minor unit (``tests/spark``, and
``creditpay bench cob --engine spark`` compares them on a seeded book).

The partition payloads cross the Python/JVM boundary as pickled numpy arrays in an Arrow
binary column: the arrays keep their exact dtypes (int64 money, object strings, bool flags)
with no conversion of types on the way.
"""

from __future__ import annotations

import pickle  # nosec B403 - payloads this process made itself, read back by its own tasks
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from creditpay import ledger as L
from creditpay.credit.cob_steps import (
    STEPS,
    ChunkOutput,
    ChunkState,
    DayInputs,
    Event,
    Step,
    Writes,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

__all__ = ["split", "merge", "run_partition", "PartitionOutput", "SparkStepsRunner",
           "warm_up"]

_BEFORE_ALL = np.iinfo(np.int64).min
_AFTER_ALL = np.iinfo(np.int64).max
_PER_ACCOUNT_INPUTS = ("consent_refusal", "consent_reference", "collected")


@dataclass(frozen=True)
class Partition:
    """One account partition: its state and inputs, and where its installments sit in the
    chunk's open-installment arrays (to put them back in place)."""

    number: int
    start: int  # position of its first account in the chunk
    item_index: np.ndarray  # positions of its open installments in the chunk's ``v``
    state: ChunkState
    inputs: DayInputs


@dataclass(frozen=True)
class PartitionOutput:
    """What the steps made of one partition: the final state and each step's output
    (requests, events, writes, counts), in :data:`STEPS` order."""

    number: int
    state: ChunkState
    by_step: tuple[tuple[tuple[L.TransferRequest, ...], tuple[Event, ...], Writes,
                         Mapping[str, int]], ...]


def _items_slice(items: Mapping[str, np.ndarray], mask: np.ndarray, start: int, size: int
                 ) -> dict[str, np.ndarray]:
    """The installments in ``mask`` with ``pos`` made relative to the partition."""
    part = {name: values[mask] for name, values in items.items()}
    part["pos"] = np.clip(part["pos"] - start, 0, max(size - 1, 0))
    return part


def split(state: ChunkState, inputs: DayInputs, partitions: int) -> list[Partition]:
    """Cut a chunk into at most ``partitions`` partitions of consecutive accounts; each
    account's installments and inputs go with it."""
    a, v = state.a, state.v
    n = state.n
    seq = a["seq"]
    starts = [int(s[0]) for s in np.array_split(np.arange(n), max(1, min(partitions, n)))
              if len(s)]
    out: list[Partition] = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else n
        # The seq range the partition owns: from its first account to before the next
        # partition's (the first and last are open-ended, so every row has one owner).
        lo = _BEFORE_ALL if number == 0 else int(seq[start])
        hi = _AFTER_ALL if end == n else int(seq[end]) - 1
        size = end - start

        def owned(seqs: np.ndarray, lo: int = lo, hi: int = hi) -> np.ndarray:
            return (seqs >= lo) & (seqs <= hi)

        a_part = {name: values[start:end] for name, values in a.items()}
        v_mask = owned(v["account_seq"])
        d = inputs.due_items
        scheduled = owned(inputs.scheduled_seq)
        lines = {str(x) for x in a_part["line_id"].tolist() if x is not None}
        part_inputs = replace(
            inputs,
            **{name: getattr(inputs, name)[start:end] for name in _PER_ACCOUNT_INPUTS},
            due_items=_items_slice(d, owned(d["account_seq"]), start, size),
            scheduled_seq=inputs.scheduled_seq[scheduled],
            scheduled_due=inputs.scheduled_due[scheduled],
            installment_numbers={s: k for s, k in inputs.installment_numbers.items()
                                 if lo <= s <= hi},
            plan_installments={line: plans for line, plans in inputs.plan_installments.items()
                               if line in lines},
            ahead_seqs=inputs.ahead_seqs[owned(inputs.ahead_seqs)])
        out.append(Partition(number, start, np.flatnonzero(v_mask),
                             ChunkState(a_part, _items_slice(v, v_mask, start, size)),
                             part_inputs))
    return out


def run_partition(number: int, state: ChunkState, inputs: DayInputs,
                  steps: tuple[Step, ...] = STEPS) -> PartitionOutput:
    """Run ``steps`` in order over one partition (pure: what a Spark task does), keeping
    each step's output apart so the driver can restore the local engine's order."""
    by_step = []
    for step in steps:
        out = step.run(state, inputs)
        state = out.state
        by_step.append((tuple(out.requests), tuple(out.events), out.writes,
                        dict(out.counts)))
    return PartitionOutput(number, state, tuple(by_step))


def merge(state: ChunkState, parts: list[Partition], outputs: list[PartitionOutput]
          ) -> ChunkOutput:
    """The partitions' outputs as one :class:`ChunkOutput`, in the order the local engine
    makes it: step by step, and within a step partition by partition (account order)."""
    by_number = {o.number: o for o in outputs}
    if sorted(by_number) != [p.number for p in parts]:
        raise RuntimeError("the Spark run lost or repeated a partition")
    ordered = [by_number[p.number] for p in parts]
    keys = set(ordered[0].state.a)
    if any(set(o.state.a) != keys for o in ordered):
        raise RuntimeError("the partitions' account columns differ after the steps")
    a = {name: np.concatenate([o.state.a[name] for o in ordered]) for name in
         ordered[0].state.a}
    v: dict[str, np.ndarray] = {}
    size = len(state.v["id"])
    for name in ordered[0].state.v:
        first = ordered[0].state.v[name]
        column = np.empty(size, dtype=first.dtype)
        for part, o in zip(parts, ordered, strict=True):
            values = o.state.v[name]
            if len(values) != len(part.item_index):
                raise RuntimeError("a step changed the number of open installments")
            column[part.item_index] = values + part.start if name == "pos" else values
        v[name] = column
    requests: list[L.TransferRequest] = []
    events: list[Event] = []
    writes = Writes()
    counts: dict[str, int] = {}
    for k in range(len(ordered[0].by_step)):
        for o in ordered:
            step_requests, step_events, step_writes, step_counts = o.by_step[k]
            requests.extend(step_requests)
            events.extend(step_events)
            writes = writes + step_writes
            for key, value in step_counts.items():
                counts[key] = counts.get(key, 0) + value
    return ChunkOutput(ChunkState(a, v), tuple(requests), tuple(events), writes, counts)


def _task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A Spark task: each input row holds one partition (pickled); each output row its
    :class:`PartitionOutput`. Pure: the steps read no clock and do no I/O."""
    import pyarrow as pa

    for batch in batches:
        numbers: list[int] = []
        payloads: list[bytes] = []
        for number, payload in zip(batch.column("part").to_pylist(),
                                   batch.column("payload").to_pylist(), strict=True):
            assert number is not None and payload is not None  # nosec B101 - not nullable
            state, inputs = pickle.loads(payload)  # nosec B301 - the driver's own payload
            numbers.append(int(number))
            payloads.append(pickle.dumps(run_partition(int(number), state, inputs),
                                         protocol=pickle.HIGHEST_PROTOCOL))
        yield pa.RecordBatch.from_arrays([pa.array(numbers, pa.int32()),
                                          pa.array(payloads, pa.large_binary())],
                                         names=["part", "payload"])


_SCHEMA = "part int, payload binary"


def _warm_task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import creditpay.credit.cob_steps  # noqa: F401 - the import is the warm-up

    yield from batches


def warm_up(spark: SparkSession) -> None:
    """Start the Python workers of every executor core and import the steps there (the
    first job of a session pays for it: seconds on a JVM just started)."""
    from creditpay.spark.session import quiet_pandas_warning

    slots = max(1, spark.sparkContext.defaultParallelism)
    rows = spark.sparkContext.parallelize([(k, b"") for k in range(slots)], slots)
    with quiet_pandas_warning():
        spark.createDataFrame(rows, schema=_SCHEMA).mapInArrow(_warm_task, _SCHEMA).collect()


class SparkStepsRunner:
    """A :data:`creditpay.credit.cob.StepsRunner` that runs the steps in Spark tasks, one
    task per account partition (``partitions``, default: the session's parallelism)."""

    def __init__(self, spark: SparkSession, partitions: int | None = None) -> None:
        self.spark = spark
        self.partitions = partitions or max(1, spark.sparkContext.defaultParallelism)
        self.tasks_run = 0

    def __call__(self, state: ChunkState, inputs: DayInputs) -> ChunkOutput:
        from creditpay.spark.session import quiet_pandas_warning

        with quiet_pandas_warning():
            return self._run(state, inputs)

    def _run(self, state: ChunkState, inputs: DayInputs) -> ChunkOutput:
        parts = split(state, inputs, self.partitions)
        rows = [(p.number, pickle.dumps((p.state, p.inputs), protocol=pickle.HIGHEST_PROTOCOL))
                for p in parts]
        # One Spark partition (so one task) per account partition.
        rdd = self.spark.sparkContext.parallelize(rows, len(rows))
        df = self.spark.createDataFrame(rdd, schema=_SCHEMA)
        results = df.mapInArrow(_task, _SCHEMA).collect()
        self.tasks_run += len(parts)
        outputs = [pickle.loads(row["payload"]) for row in results]  # nosec B301 - own tasks
        return merge(state, parts, outputs)
