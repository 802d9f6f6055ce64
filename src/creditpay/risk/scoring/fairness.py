"""Approval and bad rates by age band and by sex, with the adverse-impact ratio.

Own code rather than fairlearn: fairlearn is not installed, and what a credit report needs
here is three counts per group and a ratio (``MetricFrame`` over ``selection_rate`` would give
the same numbers through a pandas pipeline); a few lines of numpy are easier to audit than a
new dependency.

Definitions (docs/risk-models.md, "Fairness"):

- groups: age bands :data:`AGE_BANDS` (years at application) from an age column, and each
  value of a sex column; rows with the attribute missing form a ``missing`` group;
- **approval rate** of a group = share of its rows the model approves at the cut-off
  (PD ≤ the cut-off);
- **bad rate** = observed share of bads among its labelled rows (all of them, approved or
  not: the report's data is labelled outcomes);
- **adverse-impact ratio** (AIR) = group's approval rate / the highest group approval rate;
  below :data:`FOUR_FIFTHS` (0.8) the group is flagged (the US EEOC "four-fifths rule", a
  screening threshold, not a legal finding). Groups with fewer than
  :data:`MIN_GROUP_ROWS` rows are reported but not flagged: their rate is too noisy.

Pure: arrays in, rows out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from creditpay.errors import ValidationError

__all__ = ["AGE_BANDS", "AGE_COLUMNS", "FOUR_FIFTHS", "MIN_GROUP_ROWS", "SEX_COLUMNS",
           "age_bands", "approval_cutoff", "group_rates", "sex_column", "sex_labels"]

AGE_COLUMNS = ("age_years", "age", "age_in_years")
SEX_COLUMNS = ("sex", "gender")
AGE_BANDS = ((18, 25), (25, 35), (35, 45), (45, 55), (55, 65), (65, 200))
FOUR_FIFTHS = 0.8
MIN_GROUP_ROWS = 30
MISSING = "missing"


# "female" before "male": the test is startswith, and "female" does not start with "male",
# but checking the longer word first keeps that true whatever words are added.
_SEX_PREFIXES = ("female", "male")


def sex_column(columns: Sequence[str]) -> str | None:
    """The column holding sex: ``sex`` or ``gender``, else a combined column whose name
    has the word ``sex`` or ``gender`` (UCI German credit's ``personal_status_and_sex``: "male : single",
    "female : divorced/separated/married"), or None."""
    names = list(columns)
    exact = next((c for c in SEX_COLUMNS if c in names), None)
    return exact or next((c for c in names
                          if {"sex", "gender"} & set(re.split(r"[^a-z]+", c.lower()))), None)


def sex_labels(values: Sequence[Any]) -> list[str]:
    """Group label of each value: a combined value's leading ``female`` / ``male`` (case
    and the rest ignored), otherwise the value itself; missing → ``missing``."""
    labels = []
    for value in values:
        if value is None or value != value:  # None or NaN
            labels.append(MISSING)
            continue
        text = str(value).strip()
        prefix = next((p for p in _SEX_PREFIXES if text.lower().startswith(p)), None)
        labels.append(prefix or text)
    return labels


def _band_label(low: int, high: int) -> str:
    return f"{low}+" if high >= 200 else f"{low}-{high - 1}"


def age_bands(ages: Any, column: str = "age") -> list[str]:
    """Band label of each age (``18-24`` … ``65+``); missing → ``missing``; under 18 →
    ``under 18``. A non-numeric age is a ValidationError naming ``column``."""
    import pandas as pd

    try:
        values = pd.to_numeric(pd.Series(list(ages), dtype=object), errors="raise").to_numpy(
            dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"age column {column!r} has non-numeric values",
                              field=column) from exc
    labels = []
    for age in values:
        if np.isnan(age):
            labels.append(MISSING)
        elif age < AGE_BANDS[0][0]:
            labels.append(f"under {AGE_BANDS[0][0]}")
        else:
            labels.append(next(_band_label(lo, hi) for lo, hi in AGE_BANDS if lo <= age < hi))
    return labels


def approval_cutoff(pd: Any, approve_share: float) -> float:
    """The PD at or below which ``approve_share`` of the rows are approved."""
    if not 0.0 < approve_share <= 1.0:
        raise ValidationError("approval share must be in (0, 1]", field="approve_share")
    return float(np.quantile(np.asarray(pd, dtype=np.float64), approve_share))


def group_rates(groups: Sequence[str], approved: Any, bad: Any) -> list[dict[str, Any]]:
    """One row per group (sorted by label, ``missing`` last): rows, approved,
    approval_rate, bads, bad_rate, air (approval rate / highest group's) and flagged
    (air < 0.8 with at least :data:`MIN_GROUP_ROWS` rows)."""
    labels = np.asarray(list(groups), dtype=object)
    approved = np.asarray(approved, dtype=bool)
    bad = np.asarray(bad)
    if not labels.shape == approved.shape == bad.shape:
        raise ValidationError("one group, approval and outcome per row", field="groups")
    rows = []
    for label in sorted(set(labels.tolist()), key=lambda g: (g == MISSING, g)):
        mask = labels == label
        n = int(mask.sum())
        rows.append({"group": label, "rows": n, "approved": int(approved[mask].sum()),
                     "approval_rate": float(approved[mask].mean()),
                     "bads": int(bad[mask].sum()), "bad_rate": float(bad[mask].mean())})
    eligible = [r["approval_rate"] for r in rows if r["group"] != MISSING] or [0.0]
    best = max(eligible)
    for row in rows:
        row["air"] = row["approval_rate"] / best if best > 0 else None
        row["flagged"] = bool(row["air"] is not None and row["air"] < FOUR_FIFTHS
                              and row["rows"] >= MIN_GROUP_ROWS and row["group"] != MISSING)
    return rows
