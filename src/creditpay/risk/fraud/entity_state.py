"""The streaming fraud features' state as one compact row per entity (issue #19).

Every worker screening payments must see the same features, so the state lives in the
database (``fraud_entity_state``, :mod:`creditpay.risk.fraud.state_store`), one row per
entity (customer, device, card, merchant, terminal), read and written by the payment's own
transaction. This module is the pure part: the row layout, and the features of one event
computed from its entities' rows (plus the rows after the event). No I/O, no clock.

The computation is :class:`~creditpay.risk.fraud.features.StreamingFeatures`'s, step by
step on the rows' unpacked values in plain Python (a payment's entities are a handful of
small records: numpy's per-call overhead and copying them into the engine's arrays and back
were most of a screening's pure work): the window parts by the same integer arithmetic as
``StreamingFeatures._update_windows`` (:meth:`EntityStateEngine._update_windows`), the
customer's history and the risk entities' day rings by the engine's own operations
(:meth:`EntityStateEngine._update_customer`, :meth:`EntityStateEngine._update_risk`). A
label still goes through a scratch engine holding only its entities. The test that replays a
stream through the database and compares with ``compute_features_offline`` bit for bit
guards them, a seeded stream's rows and features are pinned
(``tests/risk/fraud/test_fraud_entity_rows_pinned.py``), and generated streams are compared
with the previous engine (``tests/risk/fraud/test_fraud_fold_equals_before.py``).

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
  defaults) the day (int32, -1 = none), transactions and known frauds (int32); and the
  risk features as computed for one day (day int64 + 9 × float64: the engine's per-entity
  cache, derived, kept so a busy merchant's are not recomputed per payment).

With the default configuration a customer's row is 996 bytes, a device's or card's 860 and
a merchant's or terminal's 1,396 (shared by all their customers). Counts are exact up to
2**31 - 1 per bucket: beyond that :meth:`EntityStateEngine.update` refuses the event
(``ValidationError`` naming ``fraud_state``) rather than wrap.
"""

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
    SECONDS_PER_DAY,
    FeatureConfig,
    FraudLabel,
    PaymentEvent,
    StreamingFeatures,
    _cell_code,
    _KeyIndex,
    _time_flags,
    amount_features,
    device_code,
    risk_values,
)

__all__ = ["EntityKey", "EntityLayout", "EntityStateEngine", "MemoryEntityStore",
           "KIND_CODES"]

EntityKey = tuple[str, str]  # (kind, entity id)
KIND_CODES: dict[str, int] = {kind: i for i, kind in enumerate(ENTITY_KINDS)}
_INT32_MAX = np.iinfo(np.int32).max
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_I8 = struct.Struct("<q")


def _wrap64(value: int) -> int:
    """``value`` wrapped to int64 as numpy's int64 arithmetic does (sums of amounts are
    int64 in the state; a bucket would need ~9 million payments of the largest amount)."""
    return (value + (1 << 63)) % (1 << 64) - (1 << 63)


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

    Thread-safe: the scratch engine (labels) and the window plan's cache are used under a
    lock, for the computation only (the caller reads and writes the rows outside it).
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
        self._empty_customer: tuple[Any, ...] = (0, 0.0, 0.0, math.nan, math.nan, *([0] * k),
                                *([int(_EMPTY)] * k))
        self._empty_window = _I8.pack(-1) + bytes(12 * n_cells)
        # A row's window part: t_last, then the cells' counts (int32) and sums (int64).
        self._window_struct = struct.Struct(f"<q{n_cells}i{n_cells}q")
        self._no_cells = (0,) * n_cells
        # Per window: its first cell, bucket count and bucket width.
        self._window_specs: tuple[tuple[int, int, int], ...] = tuple(zip(
            np.cumsum([0] + [w.n_buckets for w in config.windows[:-1]]).tolist(),
            [w.n_buckets for w in config.windows], [w.bucket_s for w in config.windows],
            strict=True))
        # The output positions of each window kind's totals (counts, then sums, per window).
        nw = len(config.windows)
        self._window_out = {kind: 4 + 2 * nw * i for i, kind in enumerate(config.entity_kinds)}
        self._customer_mean_out = 4 + 2 * nw * len(config.entity_kinds)
        # Derived, not state: _window_plan(t) for the last time step seen.
        self._plan_key = -1
        self._plan: tuple[tuple[Any, ...], ...] = ()
        self._n_risk_values = 3 * len(config.risk_windows_days)
        self._no_risk_values = _I8.pack(-1) + bytes(8 * self._n_risk_values)
        self._n_features = self._engine.n_features
        days = config.risk_ring_days
        self._ring_struct = struct.Struct(f"<{3 * days}i")
        self._risk_values_struct = struct.Struct(f"<q{self._n_risk_values}d")
        # Where a risk kind's part starts in its row (after its window and customer parts).
        self._risk_offset = {
            kind: (self.layout.window_nbytes if kind in self._window_kinds else 0)
            + (self._customer_struct.size if kind == "customer" else 0)
            for kind in config.risk_kinds}

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
        row of each of :meth:`event_keys` (None for an entity never seen).

        :meth:`StreamingFeatures.update`'s steps, on the rows' parts directly in plain
        Python (a payment's entities are a handful of small records: numpy's per-call
        overhead and the copies into a scratch engine and back were most of the work):
        the windows (:meth:`_update_windows`), the customer's history
        (:meth:`_update_customer`, the engine's arithmetic on the same Python floats) and
        the risk entities' day rings (:meth:`_update_risk`, the engine's
        :func:`~creditpay.risk.fraud.features.risk_values`); the same refusals, checked
        in the same order, before any row is returned."""
        keys = self.event_keys(event)
        layout = self.layout
        loaded: dict[EntityKey, bytes | None] = {}
        for key in keys:
            data = rows.get(key) or None
            if data is not None and len(data) != layout.nbytes(key[0]):
                raise ValidationError(f"{key[0]} state row has {len(data)} bytes, the layout "
                                      f"{layout.nbytes(key[0])}", field="fraud_state")
            loaded[key] = data
        t = int(event.timestamp_s)
        amount = int(event.amount_minor)
        values: list[float] = [math.nan] * self._n_features
        values[0] = amount
        values[1], values[2], values[3] = _time_flags(t, self.config)
        with self._lock:  # the window plan's cache
            windows = self._update_windows(event, t, amount, loaded, values)
        customer = self._update_customer(event, t, amount, loaded, values)
        risk = self._update_risk(event, t, loaded, values)
        n_cells = layout.n_cells
        # Only the event's cell of each window grew; the others were stored as int32.
        if any(max(part[1:1 + n_cells]) > _INT32_MAX for part in windows.values()):
            raise ValidationError("an entity's payment count per bucket exceeds "
                                  "2**31 - 1", field="fraud_state")
        pack_window = self._window_struct.pack
        out: dict[EntityKey, bytes] = {}
        for key in keys:
            kind = key[0]
            parts: list[bytes] = []
            if kind in self._window_kinds:
                parts.append(pack_window(*windows[key]))
            if kind == "customer":
                parts.append(customer)
            if kind in self._risk_kinds:
                stamps, txs, frauds, values_day, risk_values = risk[key]
                if max(max(txs), max(frauds)) > _INT32_MAX:
                    raise ValidationError(f"a {kind}'s payment count per day exceeds "
                                          "2**31 - 1", field="fraud_state")
                parts.append(self._ring_struct.pack(*stamps, *txs, *frauds))
                parts.append(self._risk_values_struct.pack(values_day, *risk_values))
            out[key] = b"".join(parts)
        return np.array(values, dtype=np.float64), out

    def _update_customer(self, event: PaymentEvent, t: int, amount: int,
                         loaded: Mapping[EntityKey, bytes | None], out: list[float]) -> bytes:
        """:meth:`StreamingFeatures._update_customer` on the customer's row: the same
        operations on the same Python numbers; returns the row's new customer part."""
        cfg = self.config
        engine = self._engine
        data = loaded[("customer", event.customer_id)]
        k = cfg.recent_k
        if data is None:
            stored = self._empty_customer
            last_ts = -1
        else:
            offset = self.layout.window_nbytes if "customer" in self._window_kinds else 0
            stored = self._customer_struct.unpack_from(data, offset)
            last_ts = _I8.unpack_from(data, 0)[0] if "customer" in self._window_kinds \
                else -1
        n: int = stored[0]
        mean: float = stored[1]
        m2: float = stored[2]
        last_x: float = stored[3]
        last_y: float = stored[4]
        devices = list(stored[5:5 + k])  # 0: empty
        cells = list(stored[5 + k:])
        base = engine._cust_base
        out[base] = n
        z_score, to_mean, n, mean, m2 = amount_features(n, mean, m2, float(amount))
        if z_score is not None:
            out[base + 1] = z_score
        if to_mean is not None:
            out[base + 2] = to_mean
        if last_ts >= 0:
            out[base + 3] = t - last_ts
        ring_pos = (n - 1) % k  # n payments so far; ring holds the last k
        code_of_device = device_code(event.device_id)
        out[base + 4] = float(code_of_device not in devices)  # codes are never 0
        devices[ring_pos] = code_of_device
        px, py = engine._coords(event)
        if px is None or py is None:  # both or neither
            cells[ring_pos] = int(_EMPTY)
            new_x = new_y = math.nan
        else:
            code = _cell_code(px, py, cfg.location_cell)
            out[base + 5] = float(code not in cells)
            cells[ring_pos] = code
            new_x, new_y = px, py
            if last_ts >= 0 and not math.isnan(last_x):
                engine._travel(out, base, last_x, last_y, px, py, t - last_ts)
        return self._customer_struct.pack(n, mean, m2, new_x, new_y, *devices, *cells)

    def _update_risk(self, event: PaymentEvent, t: int,
                     loaded: Mapping[EntityKey, bytes | None], out: list[float]
                     ) -> dict[EntityKey, tuple[list[int], list[int], list[int], int,
                                                tuple[float, ...]]]:
        """:meth:`StreamingFeatures._update_risk` on the risk entities' rows; returns each
        one's day ring (stamps, transactions, frauds) and risk values (their day, values)
        after the event."""
        cfg = self.config
        days = cfg.risk_ring_days
        day = t // SECONDS_PER_DAY
        pos = day % days
        highest = day - cfg.risk_lag_days
        lows = [max(highest - w + 1, 0) for w in cfg.risk_windows_days]
        n_values = self._n_risk_values
        base = self._engine._risk_base
        result: dict[EntityKey, tuple[list[int], list[int], list[int], int,
                                      tuple[float, ...]]] = {}
        for i, kind in enumerate(cfg.risk_kinds):
            entity_id = event.entity_id(kind)
            if entity_id is None:
                continue
            key = (kind, entity_id)
            data = loaded[key]
            if data is None:
                stamps = [-1] * days
                txs = [0] * days
                frauds = [0] * days
                cached: tuple[int, tuple[float, ...]] | None = None
            else:
                offset = self._risk_offset[kind]
                ring = self._ring_struct.unpack_from(data, offset)
                stamps = list(ring[:days])
                txs = list(ring[days:2 * days])
                frauds = list(ring[2 * days:])
                stored = self._risk_values_struct.unpack_from(data,
                                                              offset + self._ring_struct.size)
                cached = (stored[0], stored[1:]) if stored[0] >= 0 else None
            held = stamps[pos]
            if held == day:
                txs[pos] += 1
            elif held < day:
                stamps[pos] = day
                txs[pos] = 1
                frauds[pos] = 0
            else:
                raise ValidationError("event is older than the risk state of its "
                                      f"{kind} (streams must be time-ordered)",
                                      field="timestamp_s")
            # The queried days end before today, so the values only change when the day
            # changes or a label arrives (which drops them): kept in the row per entity.
            if cached is None or cached[0] != day:
                cached = (day, tuple(float(v) for v in risk_values(
                    lows, highest, stamps, txs, frauds)))
            out[base + n_values * i:base + n_values * (i + 1)] = cached[1]
            result[key] = (stamps, txs, frauds, cached[0], cached[1])
        return result

    def record_label(self, label: FraudLabel, rows: Mapping[EntityKey, bytes | None]
                     ) -> dict[EntityKey, bytes]:
        """The changed rows after recording ``label`` (empty: nothing changed)."""
        keys = self.label_keys(label)
        with self._lock:
            decoded = self._load(keys, rows)
            if not self._engine.record_label(label):
                return {}
            return self._read_back(keys, decoded)

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

    def _window_plan(self, t: int) -> tuple[tuple[Any, ...], ...]:
        """Per window at time ``t``: its first cell and the one after its last, its bucket
        count and width, the bucket ``C`` of ``t``, the row position of ``C``'s cell, the
        window's zeros, and whether buckets below 0 are in the window (near the epoch);
        the same until ``t`` crosses a multiple of the gcd of the widths."""
        key = t // self._engine._time_step
        if key != self._plan_key:
            plan = []
            for first, n, bucket_s in self._window_specs:
                current = t // bucket_s
                plan.append((first, first + n, n, bucket_s, current, first + current % n,
                             (0,) * n, current < n - 1))
            self._plan = tuple(plan)
            self._plan_key = key
        return self._plan

    def _update_windows(self, event: PaymentEvent, t: int, amount: int,
                        loaded: Mapping[EntityKey, bytes | None], out: list[float]
                        ) -> dict[EntityKey, tuple[int, ...]]:
        """:meth:`StreamingFeatures._update_windows` on the rows' window parts, in plain
        Python on each window's cells (numpy's per-call overhead on 71 cells was most of
        a screening's pure work): the same integers, written into ``out`` (the feature
        values) at the same positions. Returns each window entity's new window part
        (``t_last``, counts, sums) as stored at ``t``, for :meth:`_read_back`.

        The cells' bucket stamps are not stored; they follow from ``t_last`` (see the
        module's docstring). For one window of ``n`` buckets, ``B`` the bucket of
        ``t_last`` and ``C`` the event's (``B <= C``, else the event is refused), the
        engine's steps come to: the cell of ``C`` restarts at the event (or adds it when
        ``B == C``); the row at ``t`` keeps the cells of buckets ``C - n + 1`` to
        ``min(B, C - 1)`` and ``C``, and stores 0 in the others (buckets ``min(B, C - 1) +
        1`` to ``C - 1``, one or two slices); the window's totals are its cells' sums,
        less the cells of buckets below 0 (near the epoch: "none" at both times, kept as
        stored, never live)."""
        engine = self._engine
        keys: list[EntityKey] = []
        kinds: list[str] = []
        for kind, attribute in engine._kind_attrs:
            entity_id = getattr(event, attribute)
            if entity_id is not None:
                kinds.append(kind)
                keys.append((kind, entity_id))
        n_cells = self.layout.n_cells
        unpack = self._window_struct.unpack_from
        specs = self._window_specs
        parts: list[tuple[int, ...] | None] = [
            None if (data := loaded[key]) is None else unpack(data, 0) for key in keys]
        # Checked before anything is computed, so a refused event changes nothing.
        for part in parts:
            if part is not None and (t_last := part[0]) >= 0 and any(
                    t_last // bucket_s > t // bucket_s for _, _, bucket_s in specs):
                raise ValidationError("event is older than the window state of one of its "
                                      "entities (streams must be time-ordered per entity)",
                                      field="timestamp_s")
        plan = self._window_plan(t)
        n_windows = len(plan)
        mean_out = self._customer_mean_out
        # The event's amount as an int64 cell holds it (numpy's int64 wraps).
        alone = amount if _INT64_MIN <= amount <= _INT64_MAX else _wrap64(amount)
        new_parts: dict[EntityKey, tuple[int, ...]] = {}
        for key, kind, part in zip(keys, kinds, parts, strict=True):
            if part is None:
                t_last = -1
                counts = [0] * n_cells
                sums = [0] * n_cells
            else:
                t_last = part[0]
                counts = list(part[1:1 + n_cells])
                sums = list(part[1 + n_cells:])
            live_counts: list[int] = []
            live_sums: list[int] = []
            for first, end, n, bucket_s, current, cell, zeros, negative in plan:
                top = t_last // bucket_s if t_last >= 0 else -1
                if top == current:
                    # The same bucket as the entity's last event: it adds to its cell.
                    count = counts[cell] + 1
                    total = sums[cell] + amount
                    if not _INT64_MIN <= total <= _INT64_MAX:
                        total = _wrap64(total)
                    counts[cell] = count
                    sums[cell] = total
                elif current - top >= n:
                    # Every bucket of the window expired: the event alone.
                    counts[first:end] = sums[first:end] = zeros
                    counts[cell] = 1
                    sums[cell] = alone
                    live_counts.append(1)
                    live_sums.append(alone)
                    continue
                else:
                    # Buckets top + 1 .. C - 1 expired (stored as 0); C's cell restarts.
                    gap = current - top - 1
                    if gap:
                        start = first + (top + 1) % n
                        stop = start + gap
                        if stop <= end:
                            counts[start:stop] = sums[start:stop] = zeros[:gap]
                        else:
                            counts[start:end] = sums[start:end] = zeros[:end - start]
                            counts[first:stop - n] = sums[first:stop - n] = \
                                zeros[:stop - end]
                    counts[cell] = 1
                    sums[cell] = alone
                live_count = sum(counts[first:end])
                live_sum = sum(sums[first:end])
                if negative:  # near the epoch: cells of buckets below 0 are never live
                    for bucket in range(current - n + 1, 0):
                        live_count -= counts[first + bucket % n]
                        live_sum -= sums[first + bucket % n]
                if not _INT64_MIN <= live_sum <= _INT64_MAX:
                    live_sum = _wrap64(live_sum)
                live_counts.append(live_count)
                live_sums.append(live_sum)
            position = self._window_out[kind]
            out[position:position + 2 * n_windows] = live_counts + live_sums
            if kind == "customer":
                out[mean_out:mean_out + n_windows] = [
                    float(total) / float(count)
                    for count, total in zip(live_counts, live_sums, strict=True)]
            new_parts[key] = (t, *counts, *sums)
        return new_parts

    def _read_back(self, keys: list[EntityKey], loaded: dict[EntityKey, bytes | None]
                   ) -> dict[EntityKey, bytes]:
        """Encode the rows after a label: it changes no window or customer state (those
        parts are kept as loaded), the risk parts come from the scratch engine."""
        engine = self._engine
        arrays = engine._arrays
        layout = self.layout
        indexes = engine._indexes
        out: dict[EntityKey, bytes] = {}
        for key in keys:
            kind, entity = key
            data = loaded[key]
            parts: list[bytes] = []
            offset = 0
            if kind in self._window_kinds:
                offset = layout.window_nbytes
                parts.append(data[:offset] if data is not None else self._empty_window)
            if kind == "customer":
                size = self._customer_struct.size
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
