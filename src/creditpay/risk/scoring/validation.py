"""How a model's development data is split so its validation figures cannot flatter it.

Rules (docs/risk-models.md, "Validation"):

- **Out of time** whenever the data has a time column (``--time-column``, else the first of
  :data:`TIME_COLUMNS` present): the latest periods form the validation sample, the model
  trains on the earlier ones. Periods are never split between the two samples: the cut is
  the earliest period such that it and every later one hold at least ``fraction`` of the
  rows (a day for a date column, a month for ``application_month``). When every row falls in
  one period an out-of-time sample is impossible and the split falls back to a stratified
  random holdout, and says so.
- Otherwise a **stratified random holdout** of ``fraction`` of the rows (seeded), which keeps
  the bad rate the same in both samples.
- **Minimum bads**: at least :data:`MIN_BADS_TRAINING` bads to train on and
  :data:`MIN_BADS_VALIDATION` in validation. Below that, AUC and KS are noise (the standard
  error of an AUC with 20 bads is about 0.05) and binning cannot find stable bad rates, so
  training is refused unless the caller accepts small samples explicitly, and then the
  warning travels with the model (manifest and report).

Pure: arrays in, positions out; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from creditpay.errors import ValidationError

__all__ = [
    "MIN_BADS_TRAINING",
    "MIN_BADS_VALIDATION",
    "TIME_COLUMNS",
    "Split",
    "check_bad_counts",
    "detect_time_column",
    "out_of_time_split",
    "split_for_validation",
    "stratified_split",
    "timestamps",
]

TIME_COLUMNS = ("application_date", "application_month", "decided_at")
MIN_BADS_TRAINING = 50
MIN_BADS_VALIDATION = 20


@dataclass(frozen=True)
class Split:
    """Row positions (sorted) of the development and validation samples and the scheme."""

    development: np.ndarray
    validation: np.ndarray | None
    scheme: str  # "out_of_time" | "stratified_random" | "none"
    time_column: str | None = None
    validation_from: str | None = None  # first period of the out-of-time sample
    development_until: str | None = None  # last period of the development sample
    note: str | None = None  # why the scheme is not the one asked for

    def to_json(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "time_column": self.time_column,
                "validation_from": self.validation_from,
                "development_until": self.development_until, "note": self.note}


def detect_time_column(columns: Sequence[str], explicit: str | None = None) -> str | None:
    """``explicit`` if given (must be a column), else the first of :data:`TIME_COLUMNS`
    present, else None."""
    if explicit is not None:
        if explicit not in columns:
            raise ValidationError(f"column {explicit!r} not found; columns are "
                                  f"{list(columns)[:30]!r}", field="time_column")
        return explicit
    return next((c for c in TIME_COLUMNS if c in columns), None)


def timestamps(values: Any, column: str) -> np.ndarray:
    """Each value as a UTC timestamp in nanoseconds; a missing or unparsable one is an error
    naming the column (an undated row can be neither earlier nor later)."""
    import pandas as pd

    series = pd.Series(list(values), dtype=object)
    if bool(series.isna().any()):
        raise ValidationError(f"time column {column!r} has {int(series.isna().sum())} missing "
                              "value(s)", field="time_column")
    try:
        parsed = pd.to_datetime(series.astype(str), utc=True, errors="raise", format="mixed")
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"time column {column!r} has a value that is not a date: {exc}",
                              field="time_column") from exc
    return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def out_of_time_split(times: Any, fraction: float, column: str
                      ) -> tuple[np.ndarray, np.ndarray, Any, Any] | None:
    """``(development, validation, last development time, first validation time)`` with
    the latest periods in validation (module docstring), or None when the data has a single
    period. Times are compared as parsed; the returned bounds are the original values."""
    raw = list(times)
    stamps = timestamps(raw, column)
    distinct = np.unique(stamps)
    if distinct.size < 2:
        return None
    n = stamps.size
    target = fraction * n
    # Latest periods first: add whole periods until the validation share is reached, but
    # always keep at least the earliest period for development.
    counts = np.array([(stamps == d).sum() for d in distinct])
    from_end = np.cumsum(counts[::-1])
    reached = int(np.searchsorted(from_end, target, side="left"))
    n_validation_periods = min(reached + 1, distinct.size - 1)
    cut = distinct[distinct.size - n_validation_periods]
    validation = np.flatnonzero(stamps >= cut)
    development = np.flatnonzero(stamps < cut)
    first_validation = raw[int(validation[np.argmin(stamps[validation])])]
    last_development = raw[int(development[np.argmax(stamps[development])])]
    return development, validation, last_development, first_validation


def stratified_split(bad: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified holdout (scikit-learn's ``train_test_split``): sorted positions."""
    from sklearn.model_selection import train_test_split

    n_bad = int(bad.sum())
    if min(n_bad, bad.size - n_bad) * fraction < 1:
        raise ValidationError(f"too few goods or bads ({n_bad} bads of {bad.size} rows) to "
                              "hold out a validation sample", field="target")
    development, validation = train_test_split(np.arange(bad.size), test_size=fraction,
                                               stratify=bad, random_state=seed)
    return np.sort(development), np.sort(validation)


def split_for_validation(bad: np.ndarray, fraction: float, seed: int, times: Any = None,
                         time_column: str | None = None) -> Split:
    """The validation split of the module docstring (``fraction`` 0: no validation)."""
    if not 0.0 <= fraction < 0.9:
        raise ValidationError("must be in [0, 0.9)", field="validation_fraction")
    if fraction == 0.0:
        return Split(np.arange(bad.size), None, "none", time_column)
    note = None
    if times is not None and time_column is not None:
        oot = out_of_time_split(times, fraction, time_column)
        if oot is not None:
            development, validation, until, since = oot
            return Split(development, validation, "out_of_time", time_column, str(since),
                         str(until))
        note = (f"every row has the same {time_column!r}: no out-of-time sample possible, "
                "stratified random holdout instead")
    development, validation = stratified_split(bad, fraction, seed)
    return Split(development, validation, "stratified_random", time_column, note=note)


def check_bad_counts(target: str, development_bads: int, validation_bads: int | None,
                     allow_small: bool) -> str | None:
    """None when both samples have enough bads; else the warning text when
    ``allow_small``, else a ValidationError naming the target column and the counts."""
    problems = []
    if development_bads < MIN_BADS_TRAINING:
        problems.append(f"{development_bads} bad(s) in training (minimum {MIN_BADS_TRAINING})")
    if validation_bads is not None and validation_bads < MIN_BADS_VALIDATION:
        problems.append(f"{validation_bads} bad(s) in validation "
                        f"(minimum {MIN_BADS_VALIDATION})")
    if validation_bads is None:
        problems.append("no validation sample")
    if not problems:
        return None
    text = f"target column {target!r}: " + " and ".join(problems)
    if not allow_small:
        raise ValidationError(text + "; too few to train and validate a model honestly "
                              "(--allow-small trains anyway, marked as such)", field="target")
    return text + ": figures on samples this small are not evidence of performance"
