"""The streaming fraud features' state as one compact row per entity (issue #19).

Every worker screening payments must see the same features, so the state lives in the
database (``fraud_entity_state``, :mod:`creditpay.risk.fraud.state_store`), one row per
entity (customer, device, card, merchant, terminal), read and written by the payment's own
transaction. This module is the pure part: the row layout, and the features of one event
computed from its entities' rows (plus the rows after the event). No I/O, no clock.

The computation is :class:`~creditpay.risk.fraud.features.StreamingFeatures` itself: the
rows are loaded into a scratch engine that holds only the event's entities, the engine's
``update`` runs, and the rows are read back. One definition of the features therefore
serves the in-process engine, these rows and the offline twin, and the test that replays a
stream through the database and compares with ``compute_features_offline`` bit for bit
guards all three.

Row layout (fixed per kind and feature configuration, little-endian numpy structured
array, :meth:`EntityLayout.nbytes`):

* window part (kinds with windows): ``t_last`` int64 (the entity's last event, unix s;
  -1 = none), then per ring cell (71 with the default windows) a count (int32) and an
  amount sum (int64, minor units). The cells' bucket stamps are not stored: they follow
  from ``t_last`` (cell ``j`` of a window of ``n`` buckets holds the only bucket ``b`` in
  ``(B - n, B]`` with ``b % n == j``, ``B`` the bucket of ``t_last``), and a cell whose
  bucket has expired is stored as 0, which the engine treats the same way;
* customer part: payments so far (int64), Welford mean and M2 (float64), last location
  (2 × float64), the last 8 device codes (uint32, 0 = empty,
  :func:`~creditpay.risk.fraud.features.device_code`) and location cells (int64); the
  customer's last payment time is the window part's ``t_last``;
* risk part (merchant, terminal): per day bucket of the label-delayed risk ring (38 with the
  defaults) the day (int32, -1 = none), transactions and known frauds (int32).

With the default configuration a customer's row is 996 bytes, a device's or card's 860 and
a merchant's or terminal's 1,316 (shared by all their customers). Counts are exact up to
2**31 - 1 per bucket: beyond that :meth:`EntityStateEngine.update` refuses the event
(``ValidationError`` naming ``fraud_state``) rather than wrap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from creditpay.errors import ValidationError
from creditpay.risk.fraud.features import (
    _COUNT,
    _EMPTY,
    _FRAUD,
    _STAMP,
    _SUM,
    _TX,
    ENTITY_KINDS,
    FeatureConfig,
    FraudLabel,
    PaymentEvent,
    StreamingFeatures,
    _KeyIndex,
)

__all__ = ["EntityKey", "EntityLayout", "EntityStateEngine", "MemoryEntityStore",
           "KIND_CODES"]

EntityKey = tuple[str, str]  # (kind, entity id)
KIND_CODES: dict[str, int] = {kind: i for i, kind in enumerate(ENTITY_KINDS)}
_INT32_MAX = np.iinfo(np.int32).max


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
                           ("risk_fraud", "<i4", (days,))]
            if fields:
                self.dtypes[kind] = np.dtype(fields)

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

    @property
    def names(self) -> tuple[str, ...]:
        return self._engine.names

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
        with self._lock:
            decoded = self._load(keys, rows)
            x = self._engine.update(event)
            return x, self._read_back(keys, decoded, int(event.timestamp_s))

    def record_label(self, label: FraudLabel, rows: Mapping[EntityKey, bytes | None]
                     ) -> dict[EntityKey, bytes]:
        """The changed rows after recording ``label`` (empty: nothing changed)."""
        keys = self.label_keys(label)
        with self._lock:
            decoded = self._load(keys, rows)
            if not self._engine.record_label(label):
                return {}
            return self._read_back(keys, decoded, None)

    # ------------------------------------------------------------------ scratch engine
    def _load(self, keys: Iterable[EntityKey], rows: Mapping[EntityKey, bytes | None]
              ) -> dict[EntityKey, np.ndarray]:
        engine = self._engine
        engine._indexes = {"window": _KeyIndex(), "customer": _KeyIndex(),
                           "risk": _KeyIndex()}
        engine._risk_cache.clear()
        layout = self.layout
        decoded: dict[EntityKey, np.ndarray] = {}
        for key in keys:
            kind, entity = key
            row = layout.decode(kind, rows.get(key))
            decoded[key] = row
            if kind in self._window_kinds:
                slot = engine._slot("window", kind, entity)
                ring = engine._arrays["win_ring"]
                t_last = int(row["t_last"][0])
                ring[slot, _STAMP] = layout.stamps(t_last)
                ring[slot, _COUNT] = row["counts"][0]
                ring[slot, _SUM] = row["sums"][0]
            if kind == "customer":
                slot = engine._slot("customer", kind, entity)
                a = engine._arrays
                a["cust_n"][slot] = row["n"][0]
                a["cust_mean"][slot] = row["mean"][0]
                a["cust_m2"][slot] = row["m2"][0]
                a["cust_last_ts"][slot] = row["t_last"][0]
                a["cust_last_x"][slot] = row["last_x"][0]
                a["cust_last_y"][slot] = row["last_y"][0]
                devices = row["devices"][0].astype(np.int64)
                a["cust_devices"][slot] = np.where(devices == 0, _EMPTY, devices)
                a["cust_cells"][slot] = row["cells"][0]
            if kind in self._risk_kinds:
                slot = engine._slot("risk", kind, entity)
                risk = engine._arrays["risk_ring"]
                risk[slot, _STAMP] = row["risk_day"][0]
                risk[slot, _TX] = row["risk_tx"][0]
                risk[slot, _FRAUD] = row["risk_fraud"][0]
        return decoded

    def _read_back(self, keys: Iterable[EntityKey], decoded: dict[EntityKey, np.ndarray],
                   t: int | None) -> dict[EntityKey, bytes]:
        """Encode the scratch engine's rows; ``t`` is the event's time (None for a label,
        which changes no window or customer state)."""
        engine = self._engine
        layout = self.layout
        out: dict[EntityKey, bytes] = {}
        for key in keys:
            kind, entity = key
            row = decoded[key]
            if t is not None and kind in self._window_kinds:
                slot = engine._indexes["window"].slots[(KIND_CODES[kind], entity)]
                block = engine._arrays["win_ring"][slot]
                held = block[_STAMP] == layout.stamps(t)
                counts = np.where(held, block[_COUNT], 0)
                if counts.max(initial=0) > _INT32_MAX:
                    raise ValidationError(f"a {kind}'s payment count per bucket exceeds "
                                          "2**31 - 1", field="fraud_state")
                row["t_last"] = t
                row["counts"] = counts
                row["sums"] = np.where(held, block[_SUM], 0)
            if t is not None and kind == "customer":
                slot = engine._indexes["customer"].slots[(KIND_CODES[kind], entity)]
                a = engine._arrays
                row["n"] = a["cust_n"][slot]
                row["mean"] = a["cust_mean"][slot]
                row["m2"] = a["cust_m2"][slot]
                row["last_x"] = a["cust_last_x"][slot]
                row["last_y"] = a["cust_last_y"][slot]
                devices = a["cust_devices"][slot]
                row["devices"] = np.where(devices == _EMPTY, 0, devices)
                row["cells"] = a["cust_cells"][slot]
            if kind in self._risk_kinds:
                slot = engine._indexes["risk"].slots[(KIND_CODES[kind], entity)]
                risk = engine._arrays["risk_ring"][slot]
                if risk[_TX:].max(initial=0) > _INT32_MAX:
                    raise ValidationError(f"a {kind}'s payment count per day exceeds "
                                          "2**31 - 1", field="fraud_state")
                row["risk_day"] = risk[_STAMP]
                row["risk_tx"] = risk[_TX]
                row["risk_fraud"] = risk[_FRAUD]
            out[key] = row.tobytes()
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
