"""Loading and typing a tabular credit data set.

A data set is one row per application, one column per characteristic and one target column
saying whether the account went bad. This module turns a CSV (or a pandas frame) into a
:class:`CreditDataset`: a feature frame with normalised types, a 0/1 ``bad`` vector and the
kind of every feature.

Feature-kind rule (documented in docs/risk-models.md):

- string, object, boolean and pandas ``category`` columns are **categorical**;
- integer-valued numeric columns (ints, or floats whose non-missing values are all whole
  numbers, which is how pandas reads an int column with gaps) with at most
  ``categorical_max_levels`` (default 5) distinct values are **categorical**: such columns
  are codes or small counts, and grouping their levels by bad rate subsumes any ordering;
- every other numeric column is **numeric** (float64, missing = NaN);
- a text column whose non-missing values are at least ``NUMERIC_LOOKING_SHARE`` (90 %)
  numbers but not all (``"12.5"`` … ``"n/a"``) is refused, naming the column and the
  offending values: it is a numeric column with bad entries, and typing it categorical would
  silently turn every amount into its own category;
- explicit ``categorical=`` / ``numeric=`` lists override the rule, ``exclude=`` drops columns.

Categorical values are normalised to strings by :func:`category_key` (``4`` and ``4.0`` both
become ``"4"``), missing to ``None``, so training and single-application scoring agree.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from creditpay.errors import ValidationError

__all__ = [
    "CATEGORICAL_MAX_LEVELS",
    "CreditDataset",
    "FeatureSpec",
    "category_key",
    "check_numeric_looking",
    "dataset_from_frame",
    "encode_target",
    "is_missing",
    "read_credit_csv",
    "read_frame",
    "typed_features",
]

CATEGORICAL_MAX_LEVELS = 5
NUMERIC_LOOKING_SHARE = 0.9
FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One model input: its column name and kind."""

    name: str
    kind: FeatureKind

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}


@dataclass(frozen=True)
class CreditDataset:
    """Features, the 0/1 bad flag (1 = bad) and provenance of one credit data set.

    ``frame`` holds only the feature columns: numeric ones as float64 with NaN for missing,
    categorical ones as object arrays of ``str`` or ``None``.
    """

    frame: Any  # pandas.DataFrame (kept untyped so importing this module stays cheap)
    bad: np.ndarray
    features: tuple[FeatureSpec, ...]
    target: str
    bad_value: str
    sha256: str | None = None

    @property
    def n_rows(self) -> int:
        return int(self.bad.shape[0])

    @property
    def bad_rate(self) -> float:
        return float(self.bad.mean())

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def subset(self, rows: np.ndarray) -> CreditDataset:
        """The same data set restricted to ``rows`` (integer positions)."""
        return CreditDataset(
            frame=self.frame.iloc[rows].reset_index(drop=True),
            bad=self.bad[rows],
            features=self.features,
            target=self.target,
            bad_value=self.bad_value,
            sha256=self.sha256,
        )


def category_key(value: Any) -> str | None:
    """Canonical string of a categorical value; ``None`` for missing.

    Whole floats lose their ``.0`` so a code read as ``4.0`` (int column with gaps) and a
    ``4`` sent by an API both match the bin trained on ``"4"``.
    """
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    text = str(value)
    return text


def _is_missing_label(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def encode_target(values: Any, target: str, bad_value: str | None) -> tuple[np.ndarray, str]:
    """Return ``(bad, bad_value_text)`` with ``bad`` an int8 array, 1 where the row is bad.

    ``bad_value`` is compared with the target as text (``"1"`` matches ``1`` and ``1.0``).
    When it is ``None`` the target must be numeric 0/1 and 1 means bad; anything else is
    ambiguous and rejected with a message listing the values found.
    """
    import pandas as pd

    series = pd.Series(values)
    missing = series.isna()
    if bool(missing.any()):
        raise ValidationError(
            f"target column {target!r} has {int(missing.sum())} missing value(s); "
            "drop or label those rows first",
            field="target",
        )
    labels = series.map(category_key)  # no missing left, so every label is a str
    levels = sorted(set(labels))
    if len(levels) < 2:
        raise ValidationError(
            f"target column {target!r} has a single class {levels!r}; need goods and bads",
            field="target",
        )
    if bad_value is None:
        if set(levels) != {"0", "1"}:
            raise ValidationError(
                f"target column {target!r} has values {levels[:10]!r}: say which one means "
                "bad with --bad-value",
                field="bad_value",
            )
        bad_text = "1"
    else:
        # Exact text first (keeps "007" distinct from 7), then as a number ("1" ↔ 1.0).
        candidate = bad_value if bad_value in levels else category_key(
            _parse_number_like(bad_value))
        if candidate is None or candidate not in levels:
            raise ValidationError(
                f"bad value {bad_value!r} does not occur in target column {target!r} "
                f"(values: {levels[:10]!r})",
                field="bad_value",
            )
        bad_text = candidate
    if len(levels) > 2:
        raise ValidationError(
            f"target column {target!r} has {len(levels)} classes {levels[:10]!r}; "
            "a binary good/bad target is required",
            field="target",
        )
    bad = (labels == bad_text).to_numpy(dtype=np.int8)
    return bad, bad_text


def _parse_number_like(text: str) -> Any:
    """``"1"``/``"1.0"`` → number (so it matches a numeric target); other text unchanged."""
    try:
        return float(text)
    except ValueError:
        return text


def check_numeric_looking(column: Any, name: str) -> None:
    """Refuse a text column that is numbers but for a few values (module docstring)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        return
    present = column.dropna()
    parsed = pd.to_numeric(present, errors="coerce")
    failed = present[parsed.isna()]
    if present.size and 0 < failed.size <= (1.0 - NUMERIC_LOOKING_SHARE) * present.size:
        examples = sorted({str(v) for v in failed})[:3]
        raise ValidationError(
            f"column {name!r} is numeric except for {failed.size} non-numeric value(s) "
            f"such as {examples!r}; fix or blank them, or declare the column categorical "
            "(--categorical) or drop it (--exclude)", field=name)


def _infer_kind(column: Any, max_levels: int, name: str = "") -> FeatureKind:
    import pandas as pd

    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if not pd.api.types.is_numeric_dtype(dtype):
        check_numeric_looking(column, name)
        return "categorical"
    values = column.dropna().to_numpy(dtype=np.float64)
    if values.size and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        if np.unique(values).size <= max_levels:
            return "categorical"
    return "numeric"


def dataset_from_frame(
    frame: Any,
    target: str,
    bad_value: str | None = None,
    *,
    categorical: Iterable[str] = (),
    numeric: Iterable[str] = (),
    exclude: Iterable[str] = (),
    categorical_max_levels: int = CATEGORICAL_MAX_LEVELS,
    features: Sequence[FeatureSpec] | None = None,
    sha256: str | None = None,
) -> CreditDataset:
    """Type a pandas frame into a :class:`CreditDataset` (pure: no I/O).

    When ``features`` is given (scoring with a trained model) those columns and kinds are
    used as-is and every one must be present; otherwise kinds are inferred (module docstring).
    """

    if target not in frame.columns:
        raise ValidationError(
            f"target column {target!r} not found; columns are {list(frame.columns)[:30]!r}",
            field="target",
        )
    if len(frame) == 0:
        raise ValidationError("data set has no rows", field="data")
    bad, bad_text = encode_target(frame[target], target, bad_value)

    if features is None:
        categorical, numeric, exclude = set(categorical), set(numeric), set(exclude)
        for name in sorted(categorical | numeric | exclude):
            if name not in frame.columns:
                raise ValidationError(f"column {name!r} not found", field=name)
            if name == target:
                raise ValidationError(f"{name!r} is the target column", field=name)
        both = categorical & numeric
        if both:
            raise ValidationError(f"declared both categorical and numeric: {sorted(both)}",
                                  field=sorted(both)[0])
        specs = []
        for name in frame.columns:
            if name == target or name in exclude:
                continue
            if name in categorical:
                kind: FeatureKind = "categorical"
            elif name in numeric:
                kind = "numeric"
            else:
                kind = _infer_kind(frame[name], categorical_max_levels, str(name))
            specs.append(FeatureSpec(str(name), kind))
        if not specs:
            raise ValidationError("no feature columns besides the target", field="data")
        features = tuple(specs)
    else:
        absent = [f.name for f in features if f.name not in frame.columns]
        if absent:
            raise ValidationError(f"column {absent[0]!r} required by the model is missing",
                                  field=absent[0])
        features = tuple(features)

    typed = typed_features(frame, features)
    return CreditDataset(typed, bad, features, target, bad_text, sha256)


def typed_features(frame: Any, features: Sequence[FeatureSpec]) -> Any:
    """The ``features`` columns of ``frame`` typed as a :class:`CreditDataset` holds them
    (numeric float64 with NaN, categorical canonical strings or None); no target needed, so
    unlabelled rows (declined applications) can be scored. A text value in a numeric column
    is a ValidationError naming the column and the value."""
    import pandas as pd

    absent = [f.name for f in features if f.name not in frame.columns]
    if absent:
        raise ValidationError(f"column {absent[0]!r} required by the model is missing",
                              field=absent[0])
    columns: dict[str, Any] = {}
    for spec in features:
        column = frame[spec.name]
        if spec.kind == "numeric":
            parsed = pd.to_numeric(column, errors="coerce")
            failed = column[parsed.isna() & column.notna()]
            if failed.size:
                examples = sorted({str(v) for v in failed})[:3]
                raise ValidationError(
                    f"numeric column {spec.name!r} has {failed.size} non-numeric value(s) "
                    f"such as {examples!r}", field=spec.name)
            columns[spec.name] = pd.Series(parsed.to_numpy(dtype=np.float64),
                                           index=pd.RangeIndex(len(frame)))
        else:
            missing = column.isna().to_numpy()
            # Explicit object dtype: pandas 3 would otherwise infer "str" and turn None
            # into NaN.
            columns[spec.name] = pd.Series(
                [None if gap else category_key(v) for v, gap in zip(column.tolist(), missing,
                                                                   strict=True)],
                dtype=object, index=pd.RangeIndex(len(frame)))
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))


def read_frame(path: str | Path) -> tuple[Any, str]:
    """``(frame, sha256 of the file's bytes)`` of a CSV; an unreadable file is a
    ValidationError naming ``data``."""
    import pandas as pd

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {str(path)!r}: {exc.strerror}", field="data") from exc
    try:
        # Strings stay object dtype so values like "01" keep their leading zero.
        frame = pd.read_csv(io.BytesIO(raw), low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{str(path)!r} is not a readable CSV: {exc}", field="data") from exc
    return frame, hashlib.sha256(raw).hexdigest()


def read_credit_csv(
    path: str | Path,
    target: str,
    bad_value: str | None = None,
    *,
    features: Sequence[FeatureSpec] | None = None,
    **typing_options: Any,
) -> CreditDataset:
    """Read a credit CSV (the shell side of :func:`dataset_from_frame`) and hash its bytes.

    The SHA-256 of the exact file bytes goes into a trained model's manifest so anyone can
    check which file a model was developed on.
    """
    frame, sha256 = read_frame(path)
    return dataset_from_frame(frame, target, bad_value, features=features, sha256=sha256,
                              **typing_options)


def is_missing(value: Any) -> bool:
    """True for ``None`` and float NaN: the values scoring treats as missing."""
    return _is_missing_label(value)
