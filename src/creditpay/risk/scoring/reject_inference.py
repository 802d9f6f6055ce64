"""Reject inference: give declined applications an inferred outcome so a model trained on
accepts alone does not learn only the part of the population the old policy let through.

Both methods start from a model trained on the accepted (labelled) development rows and its
PD for every declined row (docs/risk-models.md, "Reject inference"):

- **Fuzzy augmentation** (:func:`fuzzy_augment`): each declined row enters the training
  sample twice, once as bad with weight PD and once as good with weight 1 − PD; accepts keep
  weight 1. The fit functions take no sample weights, so :func:`replicate_by_weight` turns
  weights into row copies at a resolution of :data:`FUZZY_RESOLUTION` copies per unit
  (weights rounded to 0.1); every row, accept or declined, is copied in the same proportion,
  so the weighted bad rate is kept.
- **Parcelling** (:func:`parcel`): the accepts are cut into PD bands (deciles of their
  PD); each band's observed bad rate times ``factor`` (default :data:`PARCEL_FACTOR`:
  declined applicants are riskier than accepts with the same score, the usual prudent
  assumption) is the share of the declined rows falling in that band labelled bad; which
  of them are bad is drawn at random (seeded), the count is exact (rounded).

Pure: arrays in, arrays out; a seed for every random choice.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from creditpay.errors import ValidationError

__all__ = ["FUZZY_RESOLUTION", "METHODS", "PARCEL_FACTOR", "fuzzy_augment", "parcel",
           "replicate_by_weight"]

METHODS = ("parcelling", "fuzzy")
FUZZY_RESOLUTION = 10
PARCEL_FACTOR = 2.0


def _pd_array(pd: Any, field: str) -> np.ndarray:
    values = np.asarray(pd, dtype=np.float64)
    if values.ndim != 1 or np.any(~np.isfinite(values)) or np.any((values < 0) | (values > 1)):
        raise ValidationError("PDs must be finite and in [0, 1]", field=field)
    return values


def fuzzy_augment(accept_bad: Any, declined_pd: Any
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, bad, weight)`` of the augmented sample over the stacked rows
    ``[accepts…, declined…]``: accepts once with their outcome and weight 1, then every
    declined row as bad (weight PD) and as good (weight 1 − PD)."""
    accept_bad = np.asarray(accept_bad, dtype=np.int8)
    pd = _pd_array(declined_pd, "declined_pd")
    n_accepts, n_declined = accept_bad.size, pd.size
    declined_rows = n_accepts + np.arange(n_declined)
    rows = np.concatenate([np.arange(n_accepts), declined_rows, declined_rows])
    bad = np.concatenate([accept_bad, np.ones(n_declined, np.int8),
                          np.zeros(n_declined, np.int8)])
    weight = np.concatenate([np.ones(n_accepts), pd, 1.0 - pd])
    return rows, bad, weight


def replicate_by_weight(rows: np.ndarray, bad: np.ndarray, weight: np.ndarray,
                        resolution: int = FUZZY_RESOLUTION) -> tuple[np.ndarray, np.ndarray]:
    """Rows and outcomes with each entry repeated round(weight · resolution) times (zero
    copies drop it): a weighted sample for fit functions that take no weights."""
    if resolution < 1:
        raise ValidationError("resolution must be at least 1", field="resolution")
    copies = np.rint(np.asarray(weight, dtype=np.float64) * resolution).astype(np.int64)
    if np.any(copies < 0):
        raise ValidationError("weights must not be negative", field="weight")
    return np.repeat(rows, copies), np.repeat(bad, copies)


def parcel(accept_pd: Any, accept_bad: Any, declined_pd: Any, *, factor: float = PARCEL_FACTOR,
           seed: int = 0, n_bands: int = 10) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Inferred 0/1 outcome of every declined row and the band table (module docstring):
    per band ``pd_from``/``pd_to`` (accepts' PD range), ``accepts``, ``accept_bad_rate``,
    ``declined``, ``inferred_bad_rate`` (capped at 1) and ``declined_bads``."""
    a_pd, d_pd = _pd_array(accept_pd, "accept_pd"), _pd_array(declined_pd, "declined_pd")
    a_bad = np.asarray(accept_bad, dtype=np.int8)
    if a_pd.size == 0 or a_bad.shape != a_pd.shape:
        raise ValidationError("need the accepts' PD and outcome, one per row", field="accept_pd")
    if not factor > 0:
        raise ValidationError("parcelling factor must be positive", field="parcel_factor")
    # Interior edges at the accepts' PD quantiles, unique so a band is never empty of accepts
    # unless the PD is constant.
    edges = np.unique(np.quantile(a_pd, np.linspace(0.0, 1.0, n_bands + 1)[1:-1]))
    a_band = np.searchsorted(edges, a_pd, side="right")
    d_band = np.searchsorted(edges, d_pd, side="right")
    rng = np.random.default_rng(seed)
    inferred = np.zeros(d_pd.size, dtype=np.int8)
    table = []
    bounds = [0.0, *edges.tolist(), 1.0]
    for band in range(edges.size + 1):
        accepts = a_band == band
        declined = np.flatnonzero(d_band == band)
        n_accepts = int(accepts.sum())
        rate = float(a_bad[accepts].mean()) if n_accepts else float(a_bad.mean())
        inferred_rate = min(1.0, rate * factor)
        n_bads = int(round(inferred_rate * declined.size))
        if n_bads:
            inferred[rng.choice(declined, size=n_bads, replace=False)] = 1
        table.append({"band": band + 1, "pd_from": bounds[band], "pd_to": bounds[band + 1],
                      "accepts": n_accepts, "accept_bad_rate": rate,
                      "declined": int(declined.size), "inferred_bad_rate": inferred_rate,
                      "declined_bads": n_bads})
    return inferred, table
