"""Delinquency: days past due and buckets (pure, scalar and vectorised).

``dpd`` counts calendar days since the oldest due date still unpaid (for a revolving line:
whose minimum payment is unpaid). Buckets come from the product's ``bucket_bounds``, the
upper dpd of each bucket: with the default ``(0, 30, 60, 90, 120, 150, 180)`` dpd 0 is M0
(current), 1-30 M1, 31-60 M2, ... 151-180 M6 and beyond M6+. Grace days do not change dpd;
they delay lateness (late fee, penalty interest), see docs/servicing.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

__all__ = ["DEFAULT_BOUNDS", "bucket_labels", "bucket_for", "buckets_vectorised", "dpd_for"]

DEFAULT_BOUNDS: tuple[int, ...] = (0, 30, 60, 90, 120, 150, 180)


def bucket_labels(bounds: Sequence[int] = DEFAULT_BOUNDS) -> list[str]:
    """Labels M0..M<n-1> for the bounds and M<n-1>+ past the last one."""
    return [f"M{i}" for i in range(len(bounds))] + [f"M{len(bounds) - 1}+"]


def bucket_for(dpd: int, bounds: Sequence[int] = DEFAULT_BOUNDS) -> str:
    assert dpd >= 0
    index = int(np.searchsorted(np.asarray(bounds), dpd, side="left"))
    return bucket_labels(bounds)[index]


def buckets_vectorised(dpd: np.ndarray, bounds: Sequence[int] = DEFAULT_BOUNDS) -> np.ndarray:
    """Bucket labels of an int array of dpd (object array of str)."""
    labels = np.asarray(bucket_labels(bounds), dtype=object)
    return labels[np.searchsorted(np.asarray(bounds), dpd, side="left")]


def dpd_for(oldest_past_due: dt.date | None, today: dt.date) -> int:
    return 0 if oldest_past_due is None else max(0, (today - oldest_past_due).days)
