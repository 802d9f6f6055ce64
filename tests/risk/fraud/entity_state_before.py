# ruff: noqa
# mypy: ignore-errors
"""The entity-state engine as it was before the fifth pass (main at 7d39a22,
src/creditpay/risk/fraud/entity_state.py, unchanged below this docstring but for this
header): the reference the plain-Python fold is compared with on generated streams
(tests/risk/fraud/test_fraud_fold_equals_before.py). Not used by the application."""


from __future__ import annotations

import math
import struct
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from creditpay.errors import ValidationError
from creditpay.risk.fraud.features import (
    _EMPTY,
    _STAMP,
    _TX,
    ENTITY_KINDS,
    FeatureConfig,
    FraudLabel,
    PaymentEvent,
    StreamingFeatures,
    _KeyIndex,
    _time_flags,
)

__all__ = ["EntityKey", "EntityLayout", "EntityStateEngine", "MemoryEntityStore",
           "KIND_CODES"]

EntityKey = tuple[str, str]  # (kind, entity id)
KIND_CODES: dict[str, int] = {kind: i for i, kind in enumerate(ENTITY_KINDS)}
_INT32_MAX = np.iinfo(np.int32).max
_I8 = struct.Struct("<q")


class EntityLayout:
    """The row layout of each entity kind for one feature configuration."""

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        nbs = [w.n_buckets for w in config.windows]
        self.n_cells = sum(nbs)
        # Per ring cell: its window's bucket width, bucket count and position in the window.
        self.cell_bucket_s = np.repeat([w.bucket_s for w in config.windows], nbs).astype(
            np.int64)
        self.cell_n = np.repeat(nbs, nbs).astype(np.int64)
        self.cell_j = np.concatenate([np.arange(n) for n in nbs]).astype(np.int64)
        k = config.recent_k
        days = config.risk_ring_days
        self.dtypes: dict[str, np.dtype] = {}
        for kind in ENTITY_KINDS:
            fields: list[Any] = []
            if kind in config.entity_kinds:
                fields += [("t_last", "<i8"), ("counts", "<i4", (self.n_cells,)),
                           ("sums", "<i8", (self.n_cells,))]
            if kind == "customer":
                fields += [("n", "<i8"), ("mean", "<f8"), ("m2", "<f8"), ("last_x", "<f8"),
                           ("last_y", "<f8"), ("devices", "<u4", (k,)), ("cells", "<i8", (k,))]
            if kind in config.risk_kinds:
                fields += [("risk_day", "<i4", (days,)), ("risk_tx", "<i4", (days,)),
                           ("risk_fraud", "<i4", (days,)),
                           # Derived, kept to save recomputing them per payment: the risk
                           # features as of day ``risk_values_day`` (-1: none), the engine's
                           # per-entity cache (valid for one day, dropped by a label).
                           ("risk_values_day", "<i8"),
                           ("risk_values", "<f8", (3 * len(config.risk_windows_days),))]
            if fields:
                self.dtypes[kind] = np.dtype(fields)

    @property
    def window_nbytes(self) -> int:
        """Bytes of the window part (``t_last``, counts, sums) at the start of a row."""
        return 8 + 12 * self.n_cells

    def nbytes(self, kind: str) -> int:
        """Serialized bytes of one row of ``kind`` (0 for a kind without state)."""
        dtype = self.dtypes.get(kind)
        return 0 if dtype is None else dtype.itemsize

    def empty(self, kind: str) -> np.ndarray:
        row = np.zeros(1, dtype=self.dtypes[kind])
        names = row.dtype.names or ()
        if "t_last" in names:
            row["t_last"] = -1
        if "mean" in names:
            row["last_x"] = np.nan
            row["last_y"] = np.nan
            row["cells"] = _EMPTY
        if "risk_day" in names:
            row["risk_day"] = -1
            row["risk_values_day"] = -1
        return row

    def decode(self, kind: str, data: bytes | None) -> np.ndarray:
        """The row of ``kind`` stored as ``data`` (None or b"": an entity never seen)."""
        if not data:
            return self.empty(kind)
        dtype = self.dtypes[kind]
        if len(data) != dtype.itemsize:
            raise ValidationError(f"{kind} state row has {len(data)} bytes, the layout "
                                  f"{dtype.itemsize}", field="fraud_state")
        return np.frombuffer(data, dtype=dtype).copy()

    def stamps_many(self, t_last: np.ndarray) -> np.ndarray:
        """:meth:`stamps` for several entities at once: (entities, cells)."""
        current = t_last[:, None] // self.cell_bucket_s
        held = current - (current - self.cell_j) % self.cell_n
        return np.where((held >= 0) & (t_last[:, None] >= 0), held, -1)

    def stamps(self, t_last: int) -> np.ndarray:
        """The bucket each ring cell holds for an entity whose last event was at
        ``t_last`` (-1 where none)."""
        if t_last < 0:
            return np.full(self.n_cells, -1, dtype=np.int64)
        current = t_last // self.cell_bucket_s
        held = current - (current - self.cell_j) % self.cell_n
        return np.where(held >= 0, held, -1)


class EntityStateEngine:
    """Features of one event from its entities' rows, and the rows after it (pure).

    Thread-safe: the scratch engine is used under a lock, for the computation only (the
    caller reads and writes the rows outside it).
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.layout = EntityLayout(config)
        self._engine = StreamingFeatures(config)
        self._lock = threading.Lock()
        self._window_kinds = frozenset(config.entity_kinds)
        self._risk_kinds = frozenset(config.risk_kinds)
        self._kinds = tuple(k for k in ENTITY_KINDS
                            if k in self._window_kinds or k in self._risk_kinds)
        k = config.recent_k
        n_cells = self.layout.n_cells
        self._customer_struct = struct.Struct(f"<qdddd{k}I{k}q")
        self._empty_customer = (0, 0.0, 0.0, math.nan, math.nan, *([0] * k),
                                *([int(_EMPTY)] * k))
        self._zero_cells = np.zeros(n_cells, dtype=np.int64)
        self._empty_window = _I8.pack(-1) + bytes(12 * n_cells)
        # Derived, not state: layout.stamps(t) for the last time step seen (_read_back).
        self._held_key: int | None = None
        self._held = np.empty(0, dtype=np.int64)
        self._window_dtype = np.dtype([("t_last", "<i8"), ("counts", "<i4", (n_cells,)),
                                       ("sums", "<i8", (n_cells,))])
        self._n_risk_values = 3 * len(config.risk_windows_days)
        self._no_risk_values = _I8.pack(-1) + bytes(8 * self._n_risk_values)

    @property
    def names(self) -> tuple[str, ...]:
        return self._engine.names

    def window_last_s(self, kind: str, row: bytes | None) -> int:
        """The time (unix s) of the last event in ``row``'s windows (-1: none, or a kind
        without windows)."""
        if not row or kind not in self._window_kinds:
            return -1
        return int(_I8.unpack_from(row, 0)[0])

    def event_keys(self, event: PaymentEvent) -> list[EntityKey]:
        """The rows screening ``event`` reads and writes."""
        return [(kind, entity) for kind in self._kinds
                if (entity := event.entity_id(kind)) is not None]

    def label_keys(self, label: FraudLabel) -> list[EntityKey]:
        """The rows recording ``label`` may change (its risk entities')."""
        return [(kind, entity) for kind in self.config.risk_kinds
                if (entity := label.entity_id(kind)) is not None]

    # ------------------------------------------------------------------ per event
    def update(self, event: PaymentEvent, rows: Mapping[EntityKey, bytes | None]
               ) -> tuple[np.ndarray, dict[EntityKey, bytes]]:
        """(features of ``event``, the new rows of its entities). ``rows`` holds the current
        row of each of :meth:`event_keys` (None for an entity never seen)."""
        keys = self.event_keys(event)
        engine = self._engine
        with self._lock:
            decoded = self._load(keys, rows)
            # StreamingFeatures.update, step by step: the windows are computed on the rows'
            # window parts directly (see _update_windows), the customer's and the risk
            # entities' parts by the engine itself.
            out = np.full(engine.n_features, np.nan)
            t = int(event.timestamp_s)
            amount = int(event.amount_minor)
            out[0] = amount
            out[1], out[2], out[3] = _time_flags(t, self.config)
            windows = self._update_windows(event, t, amount, decoded, out)
            engine._update_customer(event, t, amount, out)
            engine._update_risk(event, t, out)
            return out, self._read_back(keys, decoded, t, windows)

    def record_label(self, label: FraudLabel, rows: Mapping[EntityKey, bytes | None]
                     ) -> dict[EntityKey, bytes]:
        """The changed rows after recording ``label`` (empty: nothing changed)."""
        keys = self.label_keys(label)
        with self._lock:
            decoded = self._load(keys, rows)
            if not self._engine.record_label(label):
                return {}
            return self._read_back(keys, decoded, None, None)

    # ------------------------------------------------------------------ scratch engine
    # The rows are read and written part by part with struct / numpy views at the layout's
    # offsets (the same bytes as EntityLayout's structured dtype, without building one per
    # row: this is on the checkout's path).
    def _load(self, keys: list[EntityKey], rows: Mapping[EntityKey, bytes | None]
              ) -> dict[EntityKey, bytes | None]:
        """Check the rows of ``keys`` and put their customer and risk parts in the scratch
        engine, each entity in its own slot of each store (slots are assigned here, so the
        engine's lookups find them). The window parts stay in the rows: they are updated
        from there (:meth:`_update_windows`) or kept (a label)."""
        engine = self._engine
        layout = self.layout
        indexes = {"window": _KeyIndex(), "customer": _KeyIndex(), "risk": _KeyIndex()}
        engine._indexes = indexes
        cache = engine._risk_cache
        cache.clear()
        arrays = engine._arrays
        loaded: dict[EntityKey, bytes | None] = {}
        window_nbytes = layout.window_nbytes
        for key in keys:
            kind, entity = key
            data = rows.get(key) or None
            if data is not None and len(data) != layout.nbytes(kind):
                raise ValidationError(f"{kind} state row has {len(data)} bytes, the layout "
                                      f"{layout.nbytes(kind)}", field="fraud_state")
            loaded[key] = data
            is_customer = kind == "customer"
            if not is_customer and kind not in self._risk_kinds:
                continue
            code = (KIND_CODES[kind], entity)
            offset = window_nbytes if kind in self._window_kinds else 0
            if is_customer:
                slot, _ = indexes["customer"].slot(*code)
                if data is None:
                    values = self._empty_customer
                    last_ts = -1
                else:
                    values = self._customer_struct.unpack_from(data, offset)
                    offset += self._customer_struct.size
                    # The customer's last payment is its windows' ``t_last``.
                    last_ts = _I8.unpack_from(data, 0)[0] if kind in self._window_kinds \
                        else -1
                k = self.config.recent_k
                arrays["cust_n"][slot] = values[0]
                arrays["cust_mean"][slot] = values[1]
                arrays["cust_m2"][slot] = values[2]
                arrays["cust_last_x"][slot] = values[3]
                arrays["cust_last_y"][slot] = values[4]
                arrays["cust_devices"][slot] = [d if d else _EMPTY for d in values[5:5 + k]]
                arrays["cust_cells"][slot] = values[5 + k:]
                arrays["cust_last_ts"][slot] = last_ts
            if kind in self._risk_kinds:
                slot, _ = indexes["risk"].slot(*code)
                ring = arrays["risk_ring"]
                days = self.config.risk_ring_days
                if data is None:
                    ring[slot, _STAMP] = -1
                    ring[slot, _TX:] = 0
                else:
                    ring[slot] = np.frombuffer(data, "<i4", 3 * days, offset).reshape(3, days)
                    offset += 12 * days
                    values_day = _I8.unpack_from(data, offset)[0]
                    if values_day >= 0:
                        cache[slot] = (values_day, np.frombuffer(
                            data, "<f8", self._n_risk_values, offset + 8).copy())
        return loaded

    def _update_windows(self, event: PaymentEvent, t: int, amount: int,
                        loaded: Mapping[EntityKey, bytes | None], out: np.ndarray
                        ) -> tuple[list[EntityKey], np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`StreamingFeatures._update_windows` on the rows' window parts: the same
        integer arithmetic on the same cells (each cell's bucket stamp derived from the
        row's ``t_last``), without copying the rows into the engine's rings and back.
        Returns the window entities' keys and their cells after the event (stamps, counts,
        sums), for :meth:`_read_back`."""
        engine = self._engine
        layout = self.layout
        keys: list[EntityKey] = []
        kinds: list[int] = []
        for position, (kind, attribute) in enumerate(engine._kind_attrs):
            entity_id = getattr(event, attribute)
            if entity_id is not None:
                kinds.append(position)
                keys.append((kind, entity_id))
        window_nbytes = layout.window_nbytes
        empty = self._empty_window
        # One decode for every entity's window part: (t_last, counts, sums) records.
        parts = np.frombuffer(b"".join([(loaded[key] or empty)[:window_nbytes]
                                        for key in keys]), dtype=self._window_dtype)
        stamps = layout.stamps_many(parts["t_last"].astype(np.int64))
        counts = parts["counts"].astype(np.int64)
        sums = parts["sums"].astype(np.int64)
        bucket, cols, per_cell, lowest = engine._window_times(t)
        # Checked before any write, so a refused event leaves the whole state unchanged.
        if (stamps > per_cell).any():
            raise ValidationError("event is older than the window state of one of its "
                                  "entities (streams must be time-ordered per entity)",
                                  field="timestamp_s")
        # A cell holding an expired bucket is reused: its count and sum restart at 0.
        kept = stamps[:, cols] == bucket
        counts[:, cols] = counts[:, cols] * kept + 1
        sums[:, cols] = sums[:, cols] * kept + amount
        stamps[:, cols] = bucket
        # Live buckets: the n_buckets most recent up to the current one (never-used cells
        # hold stamp -1, below any live bucket since buckets are >= 0).
        live = stamps >= lowest
        both = np.empty((len(keys), 2, layout.n_cells), dtype=np.int64)
        np.multiply(counts, live, out=both[:, 0])
        np.multiply(sums, live, out=both[:, 1])
        totals = np.add.reduceat(both, engine._win_offsets, axis=2)
        index, customer_row = engine._window_out_index(tuple(kinds))
        out[index] = totals.ravel()
        base = engine._cust_mean_base
        out[base:base + engine._nw] = totals[customer_row, 1] / totals[customer_row, 0]
        return keys, stamps, counts, sums

    def _read_back(self, keys: list[EntityKey], loaded: dict[EntityKey, bytes | None],
                   t: int | None,
                   windows: tuple[list[EntityKey], np.ndarray, np.ndarray, np.ndarray] | None
                   ) -> dict[EntityKey, bytes]:
        """Encode the rows; ``t`` is the event's time and ``windows`` its window cells
        (None for a label, which changes no window or customer state: those parts are kept
        as loaded)."""
        engine = self._engine
        arrays = engine._arrays
        layout = self.layout
        indexes = engine._indexes
        window_part: dict[EntityKey, bytes] = {}
        if t is not None and windows is not None:
            window_keys, stamps, cell_counts, cell_sums = windows
            # The cells' buckets at ``t`` change only when ``t`` crosses a multiple of the
            # gcd of the bucket widths (as the engine's own _window_times): kept until then.
            time_key = t // engine._time_step
            if time_key != self._held_key:
                self._held = layout.stamps(t)
                self._held_key = time_key
            held = stamps == self._held
            counts = np.where(held, cell_counts, 0)
            if counts.max(initial=0) > _INT32_MAX:
                raise ValidationError("an entity's payment count per bucket exceeds "
                                      "2**31 - 1", field="fraud_state")
            counts32 = counts.astype("<i4")
            sums = np.where(held, cell_sums, 0)
            stamp = _I8.pack(t)
            for i, key in enumerate(window_keys):
                window_part[key] = stamp + counts32[i].tobytes() + sums[i].tobytes()
        out: dict[EntityKey, bytes] = {}
        for key in keys:
            kind, entity = key
            data = loaded[key]
            parts: list[bytes] = []
            offset = 0
            if kind in self._window_kinds:
                offset = layout.window_nbytes
                if t is not None:
                    parts.append(window_part[key])
                else:
                    parts.append(data[:offset] if data is not None
                                 else self._empty_window)
            if kind == "customer":
                size = self._customer_struct.size
                if t is not None:
                    slot = indexes["customer"].slots[(KIND_CODES[kind], entity)]
                    devices = arrays["cust_devices"][slot].tolist()
                    parts.append(self._customer_struct.pack(
                        arrays["cust_n"].item(slot), arrays["cust_mean"].item(slot),
                        arrays["cust_m2"].item(slot), arrays["cust_last_x"].item(slot),
                        arrays["cust_last_y"].item(slot),
                        *[0 if d == _EMPTY else d for d in devices],
                        *arrays["cust_cells"][slot].tolist()))
                else:
                    parts.append(data[offset:offset + size] if data is not None
                                 else self._customer_struct.pack(*self._empty_customer))
                offset += size
            if kind in self._risk_kinds:
                slot = indexes["risk"].slots[(KIND_CODES[kind], entity)]
                ring = arrays["risk_ring"][slot]
                if ring[_TX:].max(initial=0) > _INT32_MAX:
                    raise ValidationError(f"a {kind}'s payment count per day exceeds "
                                          "2**31 - 1", field="fraud_state")
                parts.append(ring.astype("<i4").tobytes())
                cached = engine._risk_cache.get(slot)
                if cached is None:
                    parts.append(self._no_risk_values)
                else:
                    parts.append(_I8.pack(cached[0]) + cached[1].astype("<f8").tobytes())
            out[key] = b"".join(parts)
        return out


class MemoryEntityStore:
    """Rows in a dict: the same state as the database table, for replays and tools."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.engine = EntityStateEngine(config or FeatureConfig())
        self.rows: dict[EntityKey, bytes] = {}

    def update(self, event: PaymentEvent) -> np.ndarray:
        keys = self.engine.event_keys(event)
        x, new_rows = self.engine.update(event, {k: self.rows.get(k) for k in keys})
        self.rows.update(new_rows)
        return x

    def record_label(self, label: FraudLabel) -> bool:
        keys = self.engine.label_keys(label)
        changed = self.engine.record_label(label, {k: self.rows.get(k) for k in keys})
        self.rows.update(changed)
        return bool(changed)
