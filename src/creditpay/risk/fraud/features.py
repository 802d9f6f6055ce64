"""Streaming fraud features with persisted state, and their exact offline twin.

Two implementations of one definition:

* :class:`StreamingFeatures` updates per event in O(1) amortised time (independent of the
  history length) and holds all its state in numpy arrays that serialise to bytes
  (:meth:`StreamingFeatures.to_bytes`), so a process can stop and resume with identical
  features.
* :func:`compute_features_offline` computes the same features for a whole time-ordered event
  table with vectorised numpy, for training. A test replays a stream through the streaming
  engine and asserts both agree exactly (bit for bit), which is what protects the model from
  training/serving skew.

Sliding windows are **time-bucketed ring buffers**: a window of ``window_s`` seconds is split
into ``n_buckets`` buckets of ``bucket_s = window_s / n_buckets``; an event at time ``t`` lands
in bucket ``t // bucket_s`` and the window at ``t`` is the ``n_buckets`` most recent buckets
up to and including the current one. It therefore covers a span between
``window_s - bucket_s`` and ``window_s`` seconds back: the relative error in span is at most
``1 / n_buckets`` (10 s for the 1-minute window, 2 days for the 30-day window with the
defaults), in exchange for constant memory per entity (``n_buckets`` cells per window) and
constant work per event. The bucketed definition is the definition: offline uses it too.

Label delay: a fraud label only becomes usable when it is known. Terminal and merchant risk
count the frauds *known at the moment of the screening* among transactions of days
``[D - lag - w + 1, D - lag]`` (``D`` the event's day, ``lag = risk_lag_days``, by default
the label delay plus one day so every transaction in the window is past its delay).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from creditpay.errors import ValidationError

if TYPE_CHECKING:  # polars is imported by the offline functions that use it: screening a
    # payment does not need it, and it is ~0.3 s of every API process's start-up.
    import polars as pl

__all__ = [
    "WindowSpec",
    "FeatureConfig",
    "PaymentEvent",
    "FraudLabel",
    "StreamingFeatures",
    "compute_features_offline",
    "feature_names",
    "stable_id_hash",
    "device_code",
    "ENTITY_KINDS",
    "iter_stream",
]

ENTITY_KINDS: tuple[str, ...] = ("customer", "device", "card", "merchant", "terminal")
SECONDS_PER_DAY = 86_400
EARTH_RADIUS_KM = 6371.0088
# Marks "no entry" in the recent-device / recent-cell rings; real codes are never this value
# (device hashes are non-negative, cell codes are far from int64 min).
_EMPTY = np.iinfo(np.int64).min
# Cell code = cell_x * 2**24 + cell_y: unique while |cell_y| < 2**23 cells.
_CELL_Y_SPAN = 1 << 24
# Composite sort keys for the offline twin: entity_code * 2**31 + bucket (buckets < 2**31).
_GROUP_SHIFT = 1 << 31
_ZERO_THRESHOLD = 1e-35


@dataclass(frozen=True)
class WindowSpec:
    """A sliding window of ``window_s`` seconds kept as ``n_buckets`` time buckets."""

    name: str
    window_s: int
    n_buckets: int

    @property
    def bucket_s(self) -> int:
        return self.window_s // self.n_buckets


DEFAULT_WINDOWS: tuple[WindowSpec, ...] = (
    WindowSpec("1m", 60, 6),  # 10 s buckets
    WindowSpec("1h", 3_600, 12),  # 5 min buckets
    WindowSpec("24h", 86_400, 24),  # 1 h buckets
    WindowSpec("7d", 7 * 86_400, 14),  # 12 h buckets
    WindowSpec("30d", 30 * 86_400, 15),  # 2 day buckets
)


@dataclass(frozen=True)
class FeatureConfig:
    """What the feature engine computes. Part of the model manifest: a model is only valid
    with the configuration it was trained with (``version`` is a hash of it)."""

    entity_kinds: tuple[str, ...] = ENTITY_KINDS
    windows: tuple[WindowSpec, ...] = DEFAULT_WINDOWS
    risk_kinds: tuple[str, ...] = ("terminal", "merchant")
    risk_windows_days: tuple[int, ...] = (1, 7, 30)
    label_delay_days: int = 7
    risk_lag_days: int = 8
    recent_k: int = 8  # how many past payments "new device / new location" look back on
    coordinates: str = "grid"  # "grid" (x, y in grid units) or "geo" (lat, lon degrees)
    grid_unit_km: float = 1.0
    location_cell: float = 1.0  # cell side for "new location", in grid units or degrees
    max_speed_kmh: float = 900.0  # faster than an airliner between payments: impossible
    travel_min_distance_km: float = 50.0  # ignore short hops (GPS noise, border towns)
    utc_offset_s: int = 0  # local time for the night / weekend flags
    night_end_hour: int = 6  # local hours [0, night_end_hour) are "night"

    def __post_init__(self) -> None:
        if not self.entity_kinds or not set(self.entity_kinds) <= set(ENTITY_KINDS):
            raise ValidationError(f"entity kinds must be among {ENTITY_KINDS}",
                                  field="entity_kinds")
        if "customer" not in self.entity_kinds:
            raise ValidationError("customer windows are required", field="entity_kinds")
        if not set(self.risk_kinds) <= set(ENTITY_KINDS):
            raise ValidationError(f"risk kinds must be among {ENTITY_KINDS}", field="risk_kinds")
        for spec in self.windows:
            if spec.n_buckets <= 0 or spec.window_s % spec.n_buckets:
                raise ValidationError(f"window {spec.name}: window_s must be a positive multiple"
                                      " of n_buckets", field="windows")
        if self.coordinates not in ("grid", "geo"):
            raise ValidationError("must be 'grid' or 'geo'", field="coordinates")
        if self.risk_lag_days < 1:
            raise ValidationError("must be at least 1 day", field="risk_lag_days")
        if self.label_delay_days < 0:
            raise ValidationError("must be >= 0", field="label_delay_days")
        if self.recent_k < 1:
            raise ValidationError("must be >= 1", field="recent_k")
        if min(self.risk_windows_days, default=1) < 1:
            raise ValidationError("risk windows must be >= 1 day", field="risk_windows_days")

    @property
    def risk_ring_days(self) -> int:
        """Day buckets kept per risk entity: enough for the oldest queried day."""
        return self.risk_lag_days + max(self.risk_windows_days, default=1)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["windows"] = [asdict(w) for w in self.windows]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> FeatureConfig:
        values = dict(data)
        values["windows"] = tuple(WindowSpec(**w) for w in values.get("windows", []))
        for key in ("entity_kinds", "risk_kinds", "risk_windows_days"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    @cached_property
    def version(self) -> str:
        # Hashed once per configuration object (every field is immutable: frozen, tuples):
        # every screening asks for it to key the shared state rows.
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return "features-" + hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """One payment attempt to screen. ``amount_minor`` in minor units of ``currency``,
    ``timestamp_s`` in unix seconds; location is (lat, lon) degrees or (grid_x, grid_y)."""

    customer_id: str
    device_id: str
    merchant_id: str
    amount_minor: int
    timestamp_s: int
    currency: str = "CNY"
    scenario: str = "online"
    card_id: str | None = None
    terminal_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    grid_x: float | None = None
    grid_y: float | None = None
    transaction_id: str | None = None

    def entity_id(self, kind: str) -> str | None:
        return getattr(self, kind + "_id")


@dataclass(frozen=True, slots=True)
class FraudLabel:
    """A confirmed outcome of an earlier payment, known at ``label_timestamp_s``."""

    transaction_timestamp_s: int
    label_timestamp_s: int
    is_fraud: bool
    customer_id: str
    merchant_id: str | None = None
    terminal_id: str | None = None
    card_id: str | None = None
    device_id: str | None = None

    def entity_id(self, kind: str) -> str | None:
        return getattr(self, kind + "_id")


def stable_id_hash(value: str) -> int:
    """Process-independent 63-bit hash of an id (Python's ``hash`` is salted per process)."""
    digest = hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


# Device codes in the recent-device ring: 32 bits (1 .. 2**32 - 1; 0 marks an empty entry in
# the compact state, see :mod:`creditpay.risk.fraud.entity_state`), so the customer's row stays
# within 1 KB. "new device" compares codes, so two devices whose codes collide count as one:
# about 8 / 2**32 per payment; the offline twin uses the same code, so both agree exactly.
DEVICE_CODE_MOD = (1 << 32) - 1


def device_code(device_id: str) -> int:
    """The 32-bit code of a device id kept in a customer's recent-device ring."""
    return stable_id_hash(device_id) % DEVICE_CODE_MOD + 1


def feature_names(config: FeatureConfig) -> tuple[str, ...]:
    """Names of the feature vector, in order."""
    names = ["amount_minor", "local_hour", "is_night", "is_weekend"]
    for kind in config.entity_kinds:
        names += [f"{kind}_count_{w.name}" for w in config.windows]
        names += [f"{kind}_amount_minor_sum_{w.name}" for w in config.windows]
    names += [f"customer_amount_minor_mean_{w.name}" for w in config.windows]
    names += ["customer_history_count", "customer_amount_zscore",
              "customer_amount_ratio_to_mean", "seconds_since_last_payment", "new_device",
              "new_location", "distance_from_last_km", "speed_kmh", "impossible_travel"]
    for kind in config.risk_kinds:
        for days in config.risk_windows_days:
            names += [f"{kind}_tx_count_lag_{days}d", f"{kind}_fraud_count_lag_{days}d",
                      f"{kind}_risk_lag_{days}d"]
    return tuple(names)


# --------------------------------------------------------------------------- shared scalars
def _time_flags(timestamp_s: int, config: FeatureConfig) -> tuple[int, int, int]:
    local_s = timestamp_s + config.utc_offset_s
    hour = (local_s // 3_600) % 24
    weekday = (local_s // SECONDS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return hour, int(hour < config.night_end_hour), int(weekday >= 5)


def _haversine_km(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    phi0, phi1 = math.radians(lat0), math.radians(lat1)
    dphi = phi1 - phi0
    dlmb = math.radians(lon1 - lon0)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi0) * math.cos(phi1) * math.sin(dlmb / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def _cell_code(x: float, y: float, cell: float) -> int:
    return math.floor(x / cell) * _CELL_Y_SPAN + math.floor(y / cell)


def amount_features(n: int, mean: float, m2: float, x: float
                    ) -> tuple[float | None, float | None, int, float, float]:
    """A payment of ``x`` against the customer's running amounts (``n`` payments, their
    ``mean`` and ``m2``): its z-score and its ratio to the mean (None where undefined), then
    the running count, mean and M2 with it (Welford's update: numerically stable). One
    definition for both engines' folds (plain Python and arrays)."""
    z_score = (x - mean) / math.sqrt(m2 / (n - 1)) if n >= 2 and m2 > 0.0 else None
    to_mean = x / mean if n >= 1 and mean > 0.0 else None
    n += 1
    delta = x - mean
    mean += delta / n
    m2 += delta * (x - mean)
    return z_score, to_mean, n, mean, m2


def risk_values(lows: list[int], highest: int, stamps: list[int], txs: list[int],
                frauds: list[int]) -> list[float]:
    """(tx, known frauds, risk) per risk window, interleaved, from one entity's day ring
    (``stamps``, ``txs``, ``frauds`` per ring cell): the days ``lows[j]`` (>= 0) to
    ``highest`` of window ``j``. The streaming engine's and the state rows' one definition."""
    n = len(lows)
    n_tx = [0] * n
    n_fraud = [0] * n
    for stamp, tx, fraud in zip(stamps, txs, frauds, strict=True):
        if stamp > highest:
            continue
        for j in range(n):
            if stamp >= lows[j]:
                n_tx[j] += tx
                n_fraud[j] += fraud
    values: list[float] = []
    for j in range(n):
        values += [n_tx[j], n_fraud[j], n_fraud[j] / n_tx[j] if n_tx[j] > 0 else 0.0]
    return values


# --------------------------------------------------------------------------- entity store
class _KeyIndex:
    """Dense slot per key, growable; keys kept in insertion order for serialisation."""

    __slots__ = ("slots", "keys")

    def __init__(self) -> None:
        self.slots: dict[tuple[int, str], int] = {}
        self.keys: list[tuple[int, str]] = []

    def slot(self, kind_index: int, entity_id: str) -> tuple[int, bool]:
        key = (kind_index, entity_id)
        found = self.slots.get(key)
        if found is not None:
            return found, False
        new_slot = len(self.keys)
        self.slots[key] = new_slot
        self.keys.append(key)
        return new_slot, True

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kinds = np.array([k for k, _ in self.keys], dtype=np.int8)
        encoded = [s.encode("utf-8") for _, s in self.keys]
        lengths = np.array([len(b) for b in encoded], dtype=np.int64)
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return kinds, lengths, blob

    @classmethod
    def from_arrays(cls, kinds: np.ndarray, lengths: np.ndarray, blob: np.ndarray) -> _KeyIndex:
        index = cls()
        raw = blob.tobytes()
        ends = np.cumsum(lengths)
        starts = ends - lengths
        for kind, start, end in zip(kinds.tolist(), starts.tolist(), ends.tolist(), strict=True):
            index.slot(kind, raw[start:end].decode("utf-8"))
        return index


def _grow(array: np.ndarray, rows: int, fill: float | int) -> np.ndarray:
    """Return ``array`` with at least ``rows`` rows (capacity doubles: amortised O(1))."""
    if rows <= array.shape[0]:
        return array
    new_rows = max(rows, 2 * array.shape[0], 16)
    grown = np.full((new_rows, *array.shape[1:]), fill, dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown


# Arrays of the state: name -> (dtype, shape after the entity axis, fill value).
# Window and risk rings keep (bucket stamp, count, amount sum | fraud count) in one int64
# block per entity so one gather/scatter moves all of an entity's buckets per event.
_STAMP, _COUNT, _SUM = 0, 1, 2
_TX, _FRAUD = 1, 2


def _array_specs(config: FeatureConfig) -> dict[str, tuple[str, tuple[int, ...], float | int]]:
    n_buckets = sum(w.n_buckets for w in config.windows)
    k = config.recent_k
    return {
        # window store, every (kind, id): planes stamp / count / amount sum (minor units)
        "win_ring": ("int64", (3, n_buckets), -1),
        # customer store
        "cust_n": ("int64", (), 0),
        "cust_mean": ("float64", (), 0.0),
        "cust_m2": ("float64", (), 0.0),
        "cust_last_ts": ("int64", (), -1),
        "cust_last_x": ("float64", (), np.nan),
        "cust_last_y": ("float64", (), np.nan),
        "cust_devices": ("int64", (k,), _EMPTY),
        "cust_cells": ("int64", (k,), _EMPTY),
        # risk store, (risk kind, id): day buckets, planes stamp / transactions / frauds
        "risk_ring": ("int64", (3, config.risk_ring_days), -1),
    }


_STORE_OF = {"win": "window", "cust": "customer", "risk": "risk"}


class StreamingFeatures:
    """Incremental feature engine (not thread-safe: one writer per state, as the screener).

    ``update(event)`` returns the feature vector of the event (windows include the event
    itself; customer history statistics are those *before* it) and folds the event into
    the state. ``record_label(label)`` makes a confirmed fraud usable by the risk features.
    """

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config or FeatureConfig()
        cfg = self.config
        self.names = feature_names(cfg)
        self.n_features = len(self.names)
        self._kind_index = {kind: i for i, kind in enumerate(ENTITY_KINDS)}
        self._indexes = {"window": _KeyIndex(), "customer": _KeyIndex(), "risk": _KeyIndex()}
        self._specs = _array_specs(cfg)
        self._arrays: dict[str, np.ndarray] = {}
        for name, (dtype, tail, fill) in self._specs.items():
            self._arrays[name] = np.full((16, *tail), fill, dtype=dtype)
        widths = [w.bucket_s for w in cfg.windows]
        nbs = [w.n_buckets for w in cfg.windows]
        self._bucket_s = np.array(widths, dtype=np.int64)
        self._n_buckets = np.array(nbs, dtype=np.int64)
        self._win_offsets = np.concatenate([[0], np.cumsum(nbs)[:-1]]).astype(np.int64)
        self._bucket_window = np.repeat(np.arange(len(nbs)), nbs)
        self._risk_days = np.array(cfg.risk_windows_days, dtype=np.int64)
        self._nw = len(cfg.windows)
        # Feature vector layout.
        self._win_base = 4
        self._cust_mean_base = self._win_base + 2 * self._nw * len(cfg.entity_kinds)
        self._cust_base = self._cust_mean_base + self._nw
        self._risk_base = self._cust_base + 9
        self._kind_slot_in_vector = {kind: i for i, kind in enumerate(cfg.entity_kinds)}
        self._kind_attrs = tuple((kind, kind + "_id") for kind in cfg.entity_kinds)
        # Derived, not state: risk values per risk slot for the day they were computed on.
        self._risk_cache: dict[int, tuple[int, np.ndarray]] = {}
        # Derived, not state (hot-path caches): everything that depends on the time only
        # through t // gcd(bucket widths), and the output positions per set of present kinds.
        self._time_step = math.gcd(*(int(w) for w in widths))
        self._time_key = -1
        self._time_cache: tuple[np.ndarray, ...] = ()
        self._out_index: dict[tuple[int, ...], tuple[np.ndarray, int]] = {}

    # ------------------------------------------------------------------ state plumbing
    def _slot(self, store: str, kind: str, entity_id: str) -> int:
        slot, created = self._indexes[store].slot(self._kind_index[kind], entity_id)
        if created:
            prefix = {"window": "win_", "customer": "cust_", "risk": "risk_"}[store]
            for name, (_, _, fill) in self._specs.items():
                if name.startswith(prefix) and slot >= self._arrays[name].shape[0]:
                    self._arrays[name] = _grow(self._arrays[name], slot + 1, fill)
        return slot

    def n_entities(self) -> dict[str, int]:
        return {store: len(index.keys) for store, index in self._indexes.items()}

    def state_nbytes(self) -> int:
        """Bytes of state arrays in use (excluding spare capacity and the key dictionary)."""
        used = self.n_entities()
        total = 0
        for name, array in self._arrays.items():
            rows = used[_STORE_OF[name.split("_", 1)[0]]]
            total += array[:rows].nbytes
        return total

    def checkpoint(self, event: PaymentEvent) -> StateCheckpoint:
        """Save the state rows ``event`` can touch; ``restore()`` on the result undoes an
        :meth:`update` with that event (and only that one, made right after)."""
        return StateCheckpoint(self, event)

    def to_bytes(self) -> bytes:
        """Serialise the whole state (numpy ``.npz``, no pickle)."""
        used = self.n_entities()
        payload: dict[str, np.ndarray] = {}
        for name, array in self._arrays.items():
            payload[name] = array[: used[_STORE_OF[name.split("_", 1)[0]]]]
        for store, index in self._indexes.items():
            kinds, lengths, blob = index.to_arrays()
            payload[f"keys_{store}_kinds"] = kinds
            payload[f"keys_{store}_lengths"] = lengths
            payload[f"keys_{store}_blob"] = blob
        config_blob = json.dumps(self.config.to_dict(), sort_keys=True).encode()
        payload["config_json"] = np.frombuffer(config_blob, dtype=np.uint8)
        buffer = io.BytesIO()
        # numpy's stub types **kwds as if they could fill its allow_pickle: bool keyword.
        np.savez(buffer, **payload)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> StreamingFeatures:
        """Restore a state written by :meth:`to_bytes`."""
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            config = FeatureConfig.from_dict(json.loads(npz["config_json"].tobytes()))
            engine = cls(config)
            for store in engine._indexes:
                engine._indexes[store] = _KeyIndex.from_arrays(
                    npz[f"keys_{store}_kinds"], npz[f"keys_{store}_lengths"],
                    npz[f"keys_{store}_blob"])
            for name, (dtype, _, fill) in engine._specs.items():
                stored = npz[name]
                if stored.dtype != np.dtype(dtype):
                    raise ValidationError(f"state array {name} has dtype {stored.dtype}",
                                          field=name)
                array = _grow(np.full((0, *stored.shape[1:]), fill, dtype=dtype),
                              max(len(stored), 16), fill)
                array[: len(stored)] = stored
                engine._arrays[name] = array
        return engine

    # ------------------------------------------------------------------ per event
    def update(self, event: PaymentEvent) -> np.ndarray:
        """Features of ``event`` (float64 vector, NaN = not applicable); updates the state."""
        cfg = self.config
        out = np.full(self.n_features, np.nan)
        t = int(event.timestamp_s)
        amount = int(event.amount_minor)
        hour, night, weekend = _time_flags(t, cfg)
        out[0] = amount
        out[1] = hour
        out[2] = night
        out[3] = weekend
        self._update_windows(event, t, amount, out)
        self._update_customer(event, t, amount, out)
        self._update_risk(event, t, out)
        return out

    def _window_times(self, t: int) -> tuple[np.ndarray, ...]:
        """(bucket per window, ring column per window, bucket per ring cell, lowest live
        bucket per ring cell) at time ``t``; recomputed only when ``t`` crosses a multiple
        of the gcd of the bucket widths (all windows' buckets are constant in between)."""
        key = t // self._time_step
        if key != self._time_key:
            bucket = t // self._bucket_s
            cols = self._win_offsets + bucket % self._n_buckets
            per_cell = bucket[self._bucket_window]
            lowest = np.maximum(bucket - self._n_buckets + 1, 0)[self._bucket_window]
            self._time_cache = (bucket, cols, per_cell, lowest)
            self._time_key = key
        return self._time_cache

    def _window_out_index(self, kinds: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """Output positions of the (kind, count|sum, window) totals for the kinds present,
        and the customer's row among them."""
        cached = self._out_index.get(kinds)
        if cached is None:
            nw = self._nw
            index = np.concatenate([self._win_base + 2 * nw * k + np.arange(2 * nw)
                                    for k in kinds])
            cached = (index, kinds.index(self._kind_slot_in_vector["customer"]))
            self._out_index[kinds] = cached
        return cached

    def _update_windows(self, event: PaymentEvent, t: int, amount: int,
                        out: np.ndarray) -> None:
        kinds = []
        slots = []
        for position, (kind, attribute) in enumerate(self._kind_attrs):
            entity_id = getattr(event, attribute)
            if entity_id is not None:
                kinds.append(position)
                slots.append(self._slot("window", kind, entity_id))
        bucket, cols, per_cell, lowest = self._window_times(t)
        ring = self._arrays["win_ring"]
        block = ring[slots]  # (kinds, plane, bucket): one gather for all windows
        # Checked before any write, so a refused event leaves the whole state unchanged.
        if (block[:, _STAMP] > per_cell).any():
            raise ValidationError("event is older than the window state of one of its "
                                  "entities (streams must be time-ordered per entity)",
                                  field="timestamp_s")
        current = block[:, :, cols]
        # A cell holding an expired bucket is reused: its count and sum restart at 0.
        current[:, _COUNT:] *= (current[:, _STAMP] == bucket)[:, None, :]
        current[:, _COUNT] += 1
        current[:, _SUM] += amount
        current[:, _STAMP] = bucket
        block[:, :, cols] = current
        ring[slots] = block
        # Live buckets: the n_buckets most recent up to the current one (never-used cells
        # hold stamp -1, below any live bucket since buckets are >= 0).
        live = block[:, _STAMP] >= lowest
        totals = np.add.reduceat(block[:, _COUNT:] * live[:, None, :], self._win_offsets, axis=2)
        index, customer_row = self._window_out_index(tuple(kinds))
        out[index] = totals.ravel()
        nw = self._nw
        out[self._cust_mean_base:self._cust_mean_base + nw] = (totals[customer_row, 1]
                                                              / totals[customer_row, 0])

    def _update_customer(self, event: PaymentEvent, t: int, amount: int,
                         out: np.ndarray) -> None:
        cfg = self.config
        a = self._arrays
        slot = self._slot("customer", "customer", event.customer_id)
        base = self._cust_base
        # .item(): plain Python scalars (same values, no numpy scalar objects per read).
        n = a["cust_n"].item(slot)
        mean = a["cust_mean"].item(slot)
        m2 = a["cust_m2"].item(slot)
        out[base] = n
        z_score, to_mean, n, mean, m2 = amount_features(n, mean, m2, float(amount))
        if z_score is not None:
            out[base + 1] = z_score
        if to_mean is not None:
            out[base + 2] = to_mean
        a["cust_n"][slot] = n
        a["cust_mean"][slot] = mean
        a["cust_m2"][slot] = m2

        last_ts = a["cust_last_ts"].item(slot)
        if last_ts >= 0:
            out[base + 3] = t - last_ts
        a["cust_last_ts"][slot] = t

        ring_pos = (n - 1) % cfg.recent_k  # n payments so far; ring holds the last k
        code_of_device = device_code(event.device_id)
        devices = a["cust_devices"][slot]
        out[base + 4] = float(code_of_device not in devices.tolist())
        devices[ring_pos] = code_of_device

        px, py = self._coords(event)
        cells = a["cust_cells"][slot]
        if px is None or py is None:  # both or neither
            cells[ring_pos] = _EMPTY
            new_x = new_y = math.nan
        else:
            code = _cell_code(px, py, cfg.location_cell)
            out[base + 5] = float(code not in cells.tolist())
            cells[ring_pos] = code
            new_x, new_y = px, py
            last_x = a["cust_last_x"].item(slot)
            last_y = a["cust_last_y"].item(slot)
            if last_ts >= 0 and not math.isnan(last_x):
                self._travel(out, base, last_x, last_y, px, py, t - last_ts)
        a["cust_last_x"][slot] = new_x
        a["cust_last_y"][slot] = new_y

    def _coords(self, event: PaymentEvent) -> tuple[float | None, float | None]:
        if self.config.coordinates == "geo":
            if event.lat is None or event.lon is None:
                return None, None
            return float(event.lat), float(event.lon)
        if event.grid_x is None or event.grid_y is None:
            return None, None
        return float(event.grid_x), float(event.grid_y)

    def _travel(self, out: list[float] | np.ndarray[Any, Any], base: int, last_x: float, last_y: float, x: float,
                y: float, elapsed_s: int) -> None:
        """The travel features of a payment at (x, y) ``elapsed_s`` after the customer's
        last located one at (last_x, last_y): distance, speed, and whether it is an
        impossible trip. One definition for both folds (these arrays, and the plain one of
        :mod:`creditpay.risk.fraud.entity_state`)."""
        cfg = self.config
        distance_km = self._distance_km(last_x, last_y, x, y)
        speed_kmh = distance_km / max(elapsed_s, 1) * 3_600.0
        out[base + 6] = distance_km
        out[base + 7] = speed_kmh
        out[base + 8] = float(speed_kmh > cfg.max_speed_kmh
                              and distance_km > cfg.travel_min_distance_km)

    def _distance_km(self, x0: float, y0: float, x1: float, y1: float) -> float:
        if self.config.coordinates == "geo":
            return _haversine_km(x0, y0, x1, y1)
        dx = x1 - x0
        dy = y1 - y0
        return math.sqrt(dx * dx + dy * dy) * self.config.grid_unit_km

    def _update_risk(self, event: PaymentEvent, t: int, out: np.ndarray) -> None:
        cfg = self.config
        ring = cfg.risk_ring_days
        day = t // SECONDS_PER_DAY
        pos = day % ring
        highest = day - cfg.risk_lag_days
        lowest = highest - self._risk_days + 1
        n_values = 3 * len(self._risk_days)
        for i, kind in enumerate(cfg.risk_kinds):
            entity_id = event.entity_id(kind)
            if entity_id is None:
                continue
            slot = self._slot("risk", kind, entity_id)
            ring_row = self._arrays["risk_ring"][slot]  # fetched after _slot (may reallocate)
            held = ring_row.item(_STAMP, pos)
            if held == day:
                ring_row[_TX, pos] += 1
            elif held < day:
                ring_row[_STAMP, pos] = day
                ring_row[_TX, pos] = 1
                ring_row[_FRAUD, pos] = 0
            else:
                raise ValidationError("event is older than the risk state of its "
                                      f"{kind} (streams must be time-ordered)",
                                      field="timestamp_s")
            # The queried days end before today, so the values only change when the day
            # changes or a label arrives (record_label drops the entry): cache per entity.
            cached = self._risk_cache.get(slot)
            if cached is None or cached[0] != day:
                cached = (day, self._risk_values(ring_row, lowest, highest))
                self._risk_cache[slot] = cached
            base = self._risk_base + n_values * i
            out[base:base + n_values] = cached[1]

    def _risk_values(self, ring_row: np.ndarray, lowest: np.ndarray,
                     highest: int) -> np.ndarray:
        """(tx, known frauds, risk) per risk window, interleaved, from one entity's ring.

        Plain Python over the ring's few cells: cheaper than numpy's per-call overhead on
        arrays this small, and the same integers and the same float64 division."""
        stamps, txs, frauds = ring_row.tolist()
        return np.array(risk_values([max(int(low), 0) for low in lowest.tolist()], highest,
                                    stamps, txs, frauds), dtype=np.float64)

    def record_label(self, label: FraudLabel) -> bool:
        """Fold a confirmed label into the risk state; returns whether it changed the state.

        Legitimate labels change nothing (every screened payment already counts as a
        transaction). A fraud older than the risk ring can never be queried again and is
        dropped.
        """
        if label.label_timestamp_s < label.transaction_timestamp_s:
            raise ValidationError("label time precedes the transaction",
                                  field="label_timestamp_s")
        if not label.is_fraud:
            return False
        ring = self.config.risk_ring_days
        day = int(label.transaction_timestamp_s) // SECONDS_PER_DAY
        pos = day % ring
        changed = False
        for kind in self.config.risk_kinds:
            entity_id = label.entity_id(kind)
            if entity_id is None:
                continue
            slot = self._slot("risk", kind, entity_id)
            cell = self._arrays["risk_ring"][slot, :, pos]  # view: stamp, tx, fraud
            held = int(cell[_STAMP])
            if held == day:
                cell[_FRAUD] += 1
            elif held < day:
                # No screened payment of that day in the state (e.g. a state restored from
                # before it): start the bucket so the fraud still counts.
                cell[_STAMP] = day
                cell[_TX] = 0
                cell[_FRAUD] = 1
            else:
                continue
            self._risk_cache.pop(slot, None)
            changed = True
        return changed


# --------------------------------------------------------------------------- offline twin
@dataclass(frozen=True)
class _Grouped:
    """Rows having an entity, sorted by (entity code, stream position)."""

    order: np.ndarray  # row indices
    codes: np.ndarray  # entity code per sorted row
    first: np.ndarray = field(repr=False)  # True where a new entity starts


def _dense_codes(series: pl.Series) -> np.ndarray:
    """Entity code per row (-1 for null), equal ids -> equal code, compared as strings."""
    import polars as pl

    codes = series.cast(pl.Utf8).rank("dense")
    return codes.fill_null(0).cast(pl.Int64).to_numpy() - 1


def _group(codes: np.ndarray) -> _Grouped:
    rows = np.nonzero(codes >= 0)[0]
    order = rows[np.lexsort((rows, codes[rows]))]
    sorted_codes = codes[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_codes[1:] != sorted_codes[:-1]
    return _Grouped(order=order, codes=sorted_codes, first=first)


def _window_counts(grouped: _Grouped, timestamps: np.ndarray, amounts: np.ndarray,
                   spec: WindowSpec) -> tuple[np.ndarray, np.ndarray]:
    """Bucketed window count and sum per sorted row (the row itself included)."""
    bucket = timestamps[grouped.order] // spec.bucket_s
    keys = grouped.codes * _GROUP_SHIFT + bucket
    # Clamped at bucket 0 so the lower key never reaches into the previous entity's keys.
    lowest = np.maximum(bucket - spec.n_buckets + 1, 0)
    lo = np.searchsorted(keys, grouped.codes * _GROUP_SHIFT + lowest, side="left")
    pos = np.arange(len(keys))
    cumulative = np.concatenate([[0], np.cumsum(amounts[grouped.order])])
    return pos - lo + 1, cumulative[pos + 1] - cumulative[lo]


def _shift_in_group(values: np.ndarray, grouped: _Grouped, lag: int,
                    fill: float | int) -> np.ndarray:
    """values (in sorted order) shifted by ``lag`` rows within each entity group."""
    shifted = np.full(len(values), fill, dtype=values.dtype)
    if lag < len(values):
        same = grouped.codes[lag:] == grouped.codes[:-lag]
        shifted[lag:] = np.where(same, values[:-lag], fill)
    return shifted


def _welford_offline(grouped: _Grouped, amounts: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """History count, z-score and ratio to mean *before* each row, by the same float
    operations as the streaming update, vectorised over customers rank by rank."""
    m = len(grouped.order)
    group_start = np.maximum.accumulate(np.where(grouped.first, np.arange(m), 0))
    rank = np.arange(m) - group_start
    x = amounts[grouped.order].astype(np.float64)
    n_hist = rank.astype(np.float64)
    zscore = np.full(m, np.nan)
    ratio = np.full(m, np.nan)
    group_id = np.cumsum(grouped.first) - 1
    n_groups = int(group_id[-1]) + 1 if m else 0
    mean = np.zeros(n_groups)
    m2 = np.zeros(n_groups)
    by_rank = np.argsort(rank, kind="stable")
    rank_sorted = rank[by_rank]
    boundaries = np.searchsorted(rank_sorted, np.arange(int(rank.max(initial=-1)) + 2))
    for r in range(len(boundaries) - 1):
        rows = by_rank[boundaries[r]:boundaries[r + 1]]
        g = group_id[rows]
        xr = x[rows]
        mu = mean[g]
        sq = m2[g]
        if r >= 2:
            ok = sq > 0.0
            zscore[rows[ok]] = (xr[ok] - mu[ok]) / np.sqrt(sq[ok] / (r - 1))
        if r >= 1:
            ok = mu > 0.0
            ratio[rows[ok]] = xr[ok] / mu[ok]
        n_new = r + 1
        delta = xr - mu
        mu = mu + delta / n_new
        mean[g] = mu
        m2[g] = sq + delta * (xr - mu)
    return n_hist, zscore, ratio


def _risk_offline(codes: np.ndarray, timestamps: np.ndarray, is_fraud: np.ndarray,
                  label_ts: np.ndarray, config: FeatureConfig
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row and risk window: transactions and *known* frauds of days
    [D - lag - w + 1, D - lag] at the row's entity. Arrays (n, n_windows)."""
    n = len(codes)
    n_w = len(config.risk_windows_days)
    n_tx = np.full((n, n_w), np.nan)
    n_fraud = np.full((n, n_w), np.nan)
    grouped = _group(codes)
    if len(grouped.order) == 0:
        return n_tx, n_fraud, np.full((n, n_w), np.nan)
    rows = grouped.order
    day = timestamps[rows] // SECONDS_PER_DAY
    ts = timestamps[rows]
    day_keys = grouped.codes * _GROUP_SHIFT + day
    time_keys = grouped.codes * (1 << 33) + ts - int(ts.min())  # ts span < 2**33 s
    # Frauds that will be labelled (label_ts < 0 means never labelled).
    labelled = (is_fraud[rows] == 1) & (label_ts[rows] >= 0)
    fraud_day_keys = day_keys[labelled]  # sorted: subsequence of a sorted array
    fraud_codes = grouped.codes[labelled]
    fraud_day = day[labelled]
    fraud_label_ts = label_ts[rows][labelled]
    lag = config.risk_lag_days
    for j, w in enumerate(config.risk_windows_days):
        # Day -1 as the upper end makes an empty range that stays inside the entity's keys.
        hi_keys = grouped.codes * _GROUP_SHIFT + np.maximum(day - lag, -1)
        lo_keys = grouped.codes * _GROUP_SHIFT + np.maximum(day - lag - w + 1, 0)
        count_tx = (np.searchsorted(day_keys, hi_keys, side="right")
                    - np.searchsorted(day_keys, lo_keys, side="left"))
        count_fraud = (np.searchsorted(fraud_day_keys, hi_keys, side="right")
                       - np.searchsorted(fraud_day_keys, lo_keys, side="left"))
        # Remove frauds in the window whose label is not yet known at the row's time:
        # fraud f is unknown for rows at its entity with day in [d_f + lag, d_f + lag + w - 1]
        # and timestamp < its label time: a contiguous run of the time-sorted rows.
        base = fraud_codes * (1 << 33) - int(ts.min())
        start = np.searchsorted(time_keys, base + (fraud_day + lag) * SECONDS_PER_DAY,
                                side="left")
        end_ts = np.minimum(fraud_label_ts, (fraud_day + lag + w) * SECONDS_PER_DAY)
        stop = np.searchsorted(time_keys, base + end_ts, side="left")
        stop = np.maximum(stop, start)
        diff = np.zeros(len(rows) + 1, dtype=np.int64)
        np.add.at(diff, start, 1)
        np.add.at(diff, stop, -1)
        unknown = np.cumsum(diff[:-1])
        n_tx[rows, j] = count_tx
        n_fraud[rows, j] = count_fraud - unknown
    risk = np.where(n_tx > 0, n_fraud / np.maximum(n_tx, 1), 0.0)
    risk[np.isnan(n_tx)] = np.nan
    return n_tx, n_fraud, risk


def compute_features_offline(events: pl.DataFrame,
                             config: FeatureConfig | None = None) -> np.ndarray:
    """Features for every row of a time-ordered event table, equal to a streaming replay.

    Columns: ``customer_id``, ``device_id``, ``merchant_id`` (required), ``card_id``,
    ``terminal_id`` (nullable), ``amount_minor`` (int), ``timestamp_s`` (int, unix s,
    non-decreasing), location ``grid_x``/``grid_y`` or ``lat``/``lon`` (nullable floats),
    and for labels ``is_fraud`` (0/1) with ``label_timestamp_s`` (null = never labelled).
    The replay equivalent screens rows in order and records each label just before the
    first row whose timestamp is >= its label time. Returns float64 (n_rows, n_features).
    """
    import polars as pl

    cfg = config or FeatureConfig()
    n = events.height
    names = feature_names(cfg)
    out = np.full((n, len(names)), np.nan)
    if n == 0:
        return out
    for column in ("customer_id", "device_id", "merchant_id", "amount_minor", "timestamp_s"):
        if column not in events.columns:
            raise ValidationError(f"missing column {column}", field=column)
        if events[column].null_count():
            raise ValidationError(f"column {column} has nulls", field=column)
    ts = events["timestamp_s"].cast(pl.Int64).to_numpy()
    if (np.diff(ts) < 0).any():
        raise ValidationError("events must be sorted by timestamp_s", field="timestamp_s")
    amounts = events["amount_minor"].cast(pl.Int64).to_numpy()
    local_s = ts + cfg.utc_offset_s
    hour = (local_s // 3_600) % 24
    out[:, 0] = amounts
    out[:, 1] = hour
    out[:, 2] = hour < cfg.night_end_hour
    out[:, 3] = (local_s // SECONDS_PER_DAY + 3) % 7 >= 5

    codes: dict[str, np.ndarray] = {}
    for kind in ENTITY_KINDS:
        column = kind + "_id"
        if column in events.columns:
            codes[kind] = _dense_codes(events[column])
        else:
            codes[kind] = np.full(n, -1, dtype=np.int64)

    nw = len(cfg.windows)
    base = 4
    customer_windows: tuple[np.ndarray, np.ndarray] | None = None
    for kind in cfg.entity_kinds:
        grouped = _group(codes[kind])
        for j, spec in enumerate(cfg.windows):
            counts, sums = _window_counts(grouped, ts, amounts, spec)
            out[grouped.order, base + j] = counts
            out[grouped.order, base + nw + j] = sums
        if kind == "customer":
            customer_windows = (out[:, base:base + nw], out[:, base + nw:base + 2 * nw])
        base += 2 * nw
    assert customer_windows is not None
    out[:, base:base + nw] = customer_windows[1] / customer_windows[0]
    base += nw

    grouped = _group(codes["customer"])
    rows = grouped.order
    n_hist, zscore, ratio = _welford_offline(grouped, amounts)
    out[rows, base] = n_hist
    out[rows, base + 1] = zscore
    out[rows, base + 2] = ratio
    ts_sorted = ts[rows]
    prev_ts = _shift_in_group(ts_sorted, grouped, 1, -1)
    has_prev = prev_ts >= 0
    out[rows[has_prev], base + 3] = (ts_sorted - prev_ts)[has_prev]

    device_hash = _device_code_column(events["device_id"])[rows]
    new_device = np.ones(len(rows), dtype=bool)
    for lag in range(1, cfg.recent_k + 1):
        new_device &= _shift_in_group(device_hash, grouped, lag, _EMPTY) != device_hash
    out[rows, base + 4] = new_device

    px, py = _coords_offline(events, cfg)
    px, py = px[rows], py[rows]
    located = ~np.isnan(px)
    cell = np.full(len(rows), _EMPTY, dtype=np.int64)
    cell[located] = (np.floor(px[located] / cfg.location_cell).astype(np.int64) * _CELL_Y_SPAN
                     + np.floor(py[located] / cfg.location_cell).astype(np.int64))
    new_location = np.ones(len(rows), dtype=bool)
    for lag in range(1, cfg.recent_k + 1):
        new_location &= _shift_in_group(cell, grouped, lag, _EMPTY) != cell
    out[rows[located], base + 5] = new_location[located]
    prev_x = _shift_in_group(px, grouped, 1, np.nan)
    prev_y = _shift_in_group(py, grouped, 1, np.nan)
    travel = located & ~np.isnan(prev_x)
    if cfg.coordinates == "geo":
        distance = np.array([_haversine_km(a, b, c, d) for a, b, c, d in zip(
            prev_x[travel].tolist(), prev_y[travel].tolist(), px[travel].tolist(),
            py[travel].tolist(), strict=True)], dtype=np.float64)
    else:
        dx = px[travel] - prev_x[travel]
        dy = py[travel] - prev_y[travel]
        distance = np.sqrt(dx * dx + dy * dy) * cfg.grid_unit_km
    speed = distance / np.maximum(ts_sorted[travel] - prev_ts[travel], 1) * 3_600.0
    out[rows[travel], base + 6] = distance
    out[rows[travel], base + 7] = speed
    out[rows[travel], base + 8] = ((speed > cfg.max_speed_kmh)
                                   & (distance > cfg.travel_min_distance_km))
    base += 9

    if cfg.risk_kinds:
        is_fraud = (events["is_fraud"].fill_null(0).cast(pl.Int8).to_numpy()
                    if "is_fraud" in events.columns else np.zeros(n, np.int8))
        label_ts = (events["label_timestamp_s"].fill_null(-1).cast(pl.Int64).to_numpy()
                    if "label_timestamp_s" in events.columns else np.full(n, -1, np.int64))
        for kind in cfg.risk_kinds:
            n_tx, n_fraud, risk = _risk_offline(codes[kind], ts, is_fraud, label_ts, cfg)
            for j in range(len(cfg.risk_windows_days)):
                out[:, base + 3 * j] = n_tx[:, j]
                out[:, base + 3 * j + 1] = n_fraud[:, j]
                out[:, base + 3 * j + 2] = risk[:, j]
            base += 3 * len(cfg.risk_windows_days)
    assert base == len(names)
    return out


def _device_code_column(series: pl.Series) -> np.ndarray:
    import polars as pl

    strings = series.cast(pl.Utf8)
    uniques = strings.unique().drop_nulls().to_list()
    mapping = {value: device_code(value) for value in uniques}
    hashed = strings.replace_strict(mapping, default=None, return_dtype=pl.Int64)
    return hashed.fill_null(_EMPTY).to_numpy()


def _coords_offline(events: pl.DataFrame, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    import polars as pl

    names = ("lat", "lon") if cfg.coordinates == "geo" else ("grid_x", "grid_y")
    if not all(name in events.columns for name in names):
        nan = np.full(events.height, np.nan)
        return nan, nan.copy()
    xs = events[names[0]].cast(pl.Float64).fill_null(np.nan).to_numpy().copy()
    ys = events[names[1]].cast(pl.Float64).fill_null(np.nan).to_numpy().copy()
    missing = np.isnan(xs) | np.isnan(ys)
    xs[missing] = np.nan
    ys[missing] = np.nan
    return xs, ys


def iter_stream(events: pl.DataFrame, config: FeatureConfig | None = None):
    """Replay an event table as the online system sees it: a time-ordered mix of
    :class:`PaymentEvent` (one per row) and :class:`FraudLabel` (one per labelled row,
    delivered just before the first payment at or after its label time).

    This is the order :func:`compute_features_offline` is defined against.
    """
    cfg = config or FeatureConfig()
    coords = ("lat", "lon") if cfg.coordinates == "geo" else ("grid_x", "grid_y")
    columns: dict[str, list[Any]] = {
        name: (events[name].to_list() if name in events.columns else [None] * events.height)
        for name in ("customer_id", "device_id", "merchant_id", "card_id",
                     "terminal_id", "amount_minor", "timestamp_s", "is_fraud",
                     "label_timestamp_s", "currency", "scenario", *coords)}

    def as_id(value: object) -> str | None:
        return None if value is None else str(value)

    labelled = [i for i, ts in enumerate(columns["label_timestamp_s"]) if ts is not None]
    labelled.sort(key=lambda i: columns["label_timestamp_s"][i])
    next_label = 0
    for i in range(events.height):
        ts = int(columns["timestamp_s"][i])
        while (next_label < len(labelled)
               and columns["label_timestamp_s"][labelled[next_label]] <= ts):
            j = labelled[next_label]
            next_label += 1
            yield FraudLabel(
                transaction_timestamp_s=int(columns["timestamp_s"][j]),
                label_timestamp_s=int(columns["label_timestamp_s"][j]),
                is_fraud=bool(columns["is_fraud"][j]),
                customer_id=str(columns["customer_id"][j]),
                merchant_id=as_id(columns["merchant_id"][j]),
                terminal_id=as_id(columns["terminal_id"][j]),
                card_id=as_id(columns["card_id"][j]),
                device_id=as_id(columns["device_id"][j]))
        location = {name: columns[name][i] for name in coords}
        yield PaymentEvent(
            customer_id=str(columns["customer_id"][i]),
            device_id=str(columns["device_id"][i]),
            merchant_id=str(columns["merchant_id"][i]),
            amount_minor=int(columns["amount_minor"][i]),
            timestamp_s=ts,
            currency=columns["currency"][i] or "CNY",
            scenario=columns["scenario"][i] or "offline_qr",
            card_id=as_id(columns["card_id"][i]),
            terminal_id=as_id(columns["terminal_id"][i]),
            **location)


class StateCheckpoint:
    """The state rows one event can touch, saved so :meth:`restore` puts them back
    (:meth:`StreamingFeatures.checkpoint`: screening decides on a tentative update and keeps
    it only when the payment's transaction commits).

    ``StreamingFeatures.update`` writes only the rows of the event's own entities (window,
    customer and risk stores) and may append keys for new entities; this saves those rows
    before the update and, on restore, writes them back, forgets the new keys (their rows
    go back to the fill value) and puts back the derived risk cache of the touched slots. The
    property test in tests/risk/fraud/test_fraud_journal.py checks the state bytes are
    identical after an evaluation, so a change of the engine's layout is caught there.
    """

    __slots__ = ("_engine", "_saved", "_key_counts", "_risk_cache")

    def __init__(self, engine: StreamingFeatures, event: PaymentEvent) -> None:
        self._engine = engine
        kind_index = engine._kind_index
        ids = [(kind_index[kind], entity) for kind in ENTITY_KINDS
               if (entity := event.entity_id(kind)) is not None]
        self._key_counts: dict[str, int] = {}
        slots_by_store: dict[str, list[int]] = {}
        for store, index in engine._indexes.items():
            self._key_counts[store] = len(index.keys)
            found = index.slots
            slots_by_store[store] = [found[key] for key in ids if key in found]
        cache = engine._risk_cache
        self._risk_cache = {slot: cache.get(slot) for slot in slots_by_store.get("risk", [])}
        # The rows the update may overwrite: one copy per array (a single row is copied
        # directly, several are gathered with ``take``, which copies).
        self._saved: list[tuple[str, Any, Any]] = []
        arrays = engine._arrays
        for name, store in _array_stores(engine):
            slots = slots_by_store[store]
            if len(slots) == 1:
                slot = slots[0]
                row = arrays[name][slot]
                self._saved.append((name, slot, row.copy() if isinstance(row, np.ndarray)
                                    else row))
            elif slots:
                self._saved.append((name, slots, arrays[name].take(slots, axis=0)))

    def restore(self) -> None:
        engine = self._engine
        arrays = engine._arrays
        for name, slots, rows in self._saved:
            arrays[name][slots] = rows
        for store, index in engine._indexes.items():
            before = self._key_counts[store]
            added = index.keys[before:]
            if not added:
                continue
            for key in added:
                del index.slots[key]
            del index.keys[before:]
            prefix = {"window": "win_", "customer": "cust_", "risk": "risk_"}[store]
            for name, (_, _, fill) in engine._specs.items():
                if name.startswith(prefix):
                    engine._arrays[name][before:before + len(added)] = fill
            if store == "risk":
                for slot in range(before, before + len(added)):
                    engine._risk_cache.pop(slot, None)
        for slot, entry in self._risk_cache.items():
            if entry is None:
                engine._risk_cache.pop(slot, None)
            else:
                engine._risk_cache[slot] = entry


_ARRAY_STORES: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}


def _array_stores(engine: StreamingFeatures) -> tuple[tuple[str, str], ...]:
    """(array name, store) pairs of an engine's state, worked out once per layout."""
    names = tuple(engine._arrays)
    pairs = _ARRAY_STORES.get(names)
    if pairs is None:
        store_of = _STORE_OF
        pairs = tuple((name, store_of[name.split("_", 1)[0]]) for name in names)
        _ARRAY_STORES[names] = pairs
    return pairs
