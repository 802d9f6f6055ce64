"""Parquet snapshots of the credit tables the close of business reads, chunk by chunk.

``creditpay cob snapshot --date D --out DIR`` writes, for each chunk of date D, what the
chunk's read (:func:`creditpay.credit.cob.read_chunk`) returns: the accounts that are not idle
(every column the steps use), their open installments and those due by tomorrow, the
scheduled installments of the accounts billed, the installment numbers of the lines cutting a
statement and the seqs billed ahead, plus ``snapshot.json`` (the date, the chunk bounds, the
idle counts and each chunk's fingerprint). ``creditpay cob run --engine spark --snapshot DIR``
reads the chunks from there instead of the database (:class:`SnapshotReader`); DIR may be a
local folder or any URI pyarrow opens (``s3://...``, ``hdfs://...``): shared storage the
driver and the cluster both see.

A snapshot is refused when it is not of the date being closed, when its chunks are not the
run's, or when a chunk's accounts or installments changed since it was taken (the chunk's
fingerprint, :func:`creditpay.credit.cob.chunk_fingerprint`, read in the chunk's own
transaction). The plan installments of the lines cutting a statement are read live: a line's
plans may sit in another chunk, which the same close of business changes earlier.

Written with pyarrow (the columns keep their types: int64 money and day numbers, strings,
booleans; dates of installments as day numbers).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from sqlalchemy import Connection

from creditpay.credit import accounts_repo as repo
from creditpay.credit.cob import ChunkRead, chunk_fingerprint, highest_seq, read_chunk
from creditpay.credit.cob_vectorised import to_day_numbers
from creditpay.db.uow import UnitOfWork
from creditpay.errors import StateError, ValidationError

__all__ = ["write_snapshot", "SnapshotReader", "SNAPSHOT_FORMAT"]

SNAPSHOT_FORMAT = 1
_META = "snapshot.json"
_ITEM_INTS = tuple(c for c in repo.ITEM_COLUMNS if c not in ("due_date", "status"))


def _chunk_dir(number: int) -> str:
    return f"chunk-{number:05d}"


def _column(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array(values.tolist(), pa.string())
    if values.dtype == bool:
        return pa.array(values, pa.bool_())
    return pa.array(values.astype(np.int64), pa.int64())


def _items_table(rows: Sequence[Sequence[Any]], kind: str) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(repo.ITEM_COLUMNS)
    data = dict(zip(repo.ITEM_COLUMNS, columns, strict=True))
    arrays: dict[str, pa.Array] = {name: pa.array([int(x) for x in data[name]], pa.int64())
                                   for name in _ITEM_INTS}
    arrays["due_day"] = pa.array(to_day_numbers(list(data["due_date"])) if rows
                                 else np.zeros(0, np.int64), pa.int64())
    arrays["status"] = pa.array(list(data["status"]), pa.string())
    arrays["kind"] = pa.array([kind] * len(rows), pa.string())
    return pa.table(arrays)


def _filesystem(directory: str) -> tuple[pafs.FileSystem, str]:
    filesystem, path = pafs.FileSystem.from_uri(directory) if "://" in directory else \
        (pafs.LocalFileSystem(), directory)
    return filesystem, path.rstrip("/")


def write_snapshot(uow: UnitOfWork, business_date: dt.date, directory: str, *,
                   chunk_size: int) -> dict[str, Any]:
    """Write the snapshot of ``business_date``'s close of business into ``directory`` (new
    or empty); returns its description (what ``snapshot.json`` holds)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or \
            not 1 <= chunk_size <= 1_000_000:
        raise ValidationError("must be from 1 to 1,000,000", field="chunk_size")
    filesystem, root = _filesystem(directory)
    info = filesystem.get_file_info(root)
    if info.type == pafs.FileType.File or (
            info.type == pafs.FileType.Directory
            and filesystem.get_file_info(pafs.FileSelector(root))):
        raise ValidationError(f"{directory} must be a new or empty folder", field="out")
    filesystem.create_dir(root, recursive=True)
    chunks = []
    with uow.connect() as conn:
        # One read transaction: the chunks are of one moment of the database.
        seq_max = highest_seq(conn)
        for number, lo in enumerate(range(1, seq_max + 1, chunk_size)):
            hi = min(lo + chunk_size - 1, seq_max)
            read = read_chunk(conn, business_date, number, lo, hi)
            folder = f"{root}/{_chunk_dir(number)}"
            filesystem.create_dir(folder, recursive=True)
            accounts = pa.table({name: _column(values) for name, values in read.loaded.items()})
            items = pa.concat_tables([_items_table(read.open_rows, "open"),
                                      _items_table(read.due_rows, "due")])
            tables = {
                "accounts": accounts, "items": items,
                "scheduled": pa.table({"seq": pa.array(read.scheduled_seq, pa.int64()),
                                       "due_day": pa.array(read.scheduled_due, pa.int64())}),
                "numbers": pa.table({
                    "seq": pa.array(list(read.installment_numbers), pa.int64()),
                    "number": pa.array(list(read.installment_numbers.values()), pa.int64())}),
                "ahead": pa.table({"seq": pa.array(read.ahead, pa.int64())}),
            }
            for name, table in tables.items():
                pq.write_table(table, f"{folder}/{name}.parquet", filesystem=filesystem)
            chunks.append({"number": number, "lo": lo, "hi": hi,
                           "accounts": len(read.loaded["seq"]), "idle": read.idle_count,
                           "fingerprint": chunk_fingerprint(conn, lo, hi)})
    meta = {"format": SNAPSHOT_FORMAT, "business_date": business_date.isoformat(),
            "chunk_size": chunk_size, "seq_max": seq_max, "chunks": chunks}
    with filesystem.open_output_stream(f"{root}/{_META}") as out:
        out.write(json.dumps(meta, indent=1).encode())
    return meta


def _array(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return np.asarray(column.to_pylist(), dtype=object)
    if pa.types.is_boolean(column.type):
        return np.ascontiguousarray(column.to_numpy(), dtype=bool)
    return np.ascontiguousarray(column.to_numpy(), dtype=np.int64)


@dataclass
class SnapshotReader:
    """A :data:`creditpay.credit.cob.ChunkReader` reading the chunks of a snapshot
    (:func:`write_snapshot`) of ``business_date``; ``directory`` a folder or URI."""

    directory: str

    def __post_init__(self) -> None:
        self.filesystem, self.root = _filesystem(self.directory)
        try:
            with self.filesystem.open_input_stream(f"{self.root}/{_META}") as stream:
                self.meta = json.loads(stream.read())
        except (FileNotFoundError, OSError, ValueError) as exc:
            raise ValidationError(f"{self.directory} is not a close-of-business snapshot"
                                  f" ({exc})", field="snapshot") from None
        if self.meta.get("format") != SNAPSHOT_FORMAT:
            raise ValidationError(f"snapshot format {self.meta.get('format')} is not"
                                  f" {SNAPSHOT_FORMAT}", field="snapshot")
        self.chunks = {c["number"]: c for c in self.meta["chunks"]}

    @property
    def business_date(self) -> dt.date:
        return dt.date.fromisoformat(self.meta["business_date"])

    @property
    def chunk_size(self) -> int:
        return int(self.meta["chunk_size"])

    def _table(self, number: int, name: str) -> pa.Table:
        path = f"{self.root}/{_chunk_dir(number)}/{name}.parquet"
        return pq.read_table(path, filesystem=self.filesystem)

    def __call__(self, conn: Connection, business_date: dt.date, number: int, lo: int,
                 hi: int) -> ChunkRead:
        chunk = self.chunks.get(number)
        if business_date != self.business_date:
            raise StateError(f"the snapshot is of {self.business_date}, not {business_date}",
                             field="snapshot")
        if chunk is None or (chunk["lo"], chunk["hi"]) != (lo, hi):
            raise StateError(f"the snapshot has no chunk {number} of seqs {lo}-{hi}"
                             " (take it with the run's chunk size)", field="snapshot")
        if chunk_fingerprint(conn, lo, hi) != chunk["fingerprint"]:
            raise StateError(f"chunk {number} changed since the snapshot was taken: take a"
                             " new one", field="snapshot")
        accounts = self._table(number, "accounts")
        loaded = {name: _array(accounts.column(name)) for name in accounts.column_names}
        items = self._table(number, "items")
        rows: dict[str, list[Sequence[Any]]] = {"open": [], "due": []}
        data: dict[str, list[Any]] = {name: items.column(name).to_pylist()
                                      for name in items.column_names}
        epoch = dt.date(1970, 1, 1)
        for k, kind in enumerate(data["kind"]):
            rows[str(kind)].append(tuple(
                epoch + dt.timedelta(days=int(data["due_day"][k])) if name == "due_date"
                else data[name][k] for name in repo.ITEM_COLUMNS))
        scheduled = self._table(number, "scheduled")
        numbers = self._table(number, "numbers")
        lines = np.flatnonzero((loaded["kind"] == "line")
                               & (loaded["statement_day"] == business_date.day))
        return ChunkRead(
            loaded=loaded, open_rows=rows["open"], due_rows=rows["due"],
            ahead=[int(x) for x in self._table(number, "ahead").column("seq").to_pylist()
                   if x is not None],
            idle_count=int(chunk["idle"]),
            scheduled_seq=_array(scheduled.column("seq")),
            scheduled_due=_array(scheduled.column("due_day")),
            installment_numbers={int(k): int(n) for k, n in zip(
                numbers.column("seq").to_pylist(), numbers.column("number").to_pylist(),
                strict=True) if k is not None and n is not None},
            # Read live: a line's plans may be in a chunk this close changed earlier.
            plan_installments=dict(repo.plan_installments_in_cycle(
                conn, [str(x) for x in loaded["line_id"][lines]], business_date)))
