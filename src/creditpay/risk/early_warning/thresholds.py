"""Dynamic thresholds for portfolio monitors (pure functions over daily series).

Fixed lines ("alert when the roll rate passes 5%") either fire every day or never; these move
with the data:

* ``rolling_band``: mean ± k·σ of the previous ``window`` days (today excluded, so a shock
  cannot widen its own band);
* ``ewma_limits``: an EWMA control chart (Roberts 1959; NIST/SEMATECH e-Handbook 6.3.2.4):
  z_t = λ·x_t + (1-λ)·z_{t-1}, limits μ₀ ± L·σ₀·sqrt(λ/(2-λ)·(1-(1-λ)^{2t})) with μ₀, σ₀
  from a baseline window; it sees small persistent shifts a band misses;
* ``seasonal_band``: the band computed from the same weekday only, when at least
  ``weeks_min`` weeks of history exist (payment volumes have a weekly rhythm), else the
  plain rolling band.

Every function returns, for each day, the bounds that applied to it (NaN while the history
is too short to judge), so an alert can show its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Band", "rolling_band", "ewma_limits", "seasonal_band", "SIGMA_FLOOR"]

# A perfectly flat history has σ = 0 and would flag any wiggle; the floor is a share of the
# level (or an absolute floor near zero) below which variation is treated as noise.
SIGMA_FLOOR = 1e-9
SIGMA_FLOOR_RELATIVE = 0.01


@dataclass(frozen=True)
class Band:
    """Per-day centre and bounds (NaN where there was not enough history)."""

    centre: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    statistic: np.ndarray  # what is compared with the bounds (the value, or the EWMA)


def _floor(sigma: np.ndarray, level: np.ndarray) -> np.ndarray:
    return np.maximum(sigma, np.maximum(np.abs(level) * SIGMA_FLOOR_RELATIVE, SIGMA_FLOOR))


def _series(values: object) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError("a monitor series is one value per day")
    return x


def rolling_band(values: object, *, window: int = 28, k: float = 3.0,
                 history_min: int = 7) -> Band:
    """mean ± k·σ over the previous ``window`` days (missing days, NaN, are skipped)."""
    x = _series(values)
    if not 2 <= history_min <= window:
        raise ValueError("need 2 <= history_min <= window")
    centre = np.full(x.size, np.nan)
    sigma = np.full(x.size, np.nan)
    for t in range(x.size):
        past = x[max(0, t - window):t]
        past = past[~np.isnan(past)]
        if past.size >= history_min:
            centre[t] = past.mean()
            sigma[t] = past.std(ddof=1)
    sigma = _floor(sigma, centre)
    return Band(centre, centre - k * sigma, centre + k * sigma, x.copy())


def ewma_limits(values: object, *, smoothing: float = 0.2, width: float = 3.0,
                baseline_days: int = 28) -> Band:
    """EWMA control chart; μ₀ and σ₀ from the first ``baseline_days`` days."""
    x = _series(values)
    if not 0 < smoothing <= 1:
        raise ValueError("smoothing (lambda) must be in (0, 1]")
    nan = np.full(x.size, np.nan)
    baseline = x[:baseline_days]
    baseline = baseline[~np.isnan(baseline)]
    if baseline.size < 2:
        return Band(nan, nan.copy(), nan.copy(), nan.copy())
    mu0 = float(baseline.mean())
    sigma0 = float(_floor(np.array([baseline.std(ddof=1)]), np.array([mu0]))[0])
    z = np.empty(x.size)
    previous = mu0
    for t, value in enumerate(x):
        previous = previous if np.isnan(value) else smoothing * value + (1 - smoothing) * previous
        z[t] = previous
    steps = np.arange(1, x.size + 1)
    spread = width * sigma0 * np.sqrt(
        smoothing / (2 - smoothing) * (1 - (1 - smoothing) ** (2 * steps)))
    centre = np.full(x.size, mu0)
    lower, upper = centre - spread, centre + spread
    lower[:min(baseline_days, x.size)] = np.nan  # the baseline is not judged against itself
    upper[:min(baseline_days, x.size)] = np.nan
    return Band(centre, lower, upper, z)


def seasonal_band(values: object, weekdays: object, *, weeks: int = 6, k: float = 3.0,
                  weeks_min: int = 4, window: int = 28) -> Band:
    """Band from the same weekday of the previous ``weeks`` weeks when ``weeks_min`` exist;
    otherwise the plain rolling band for that day."""
    x = _series(values)
    day = np.asarray(weekdays, dtype=int)
    if day.shape != x.shape:
        raise ValueError("one weekday per value")
    plain = rolling_band(x, window=window, k=k, history_min=min(7, window))
    centre, lower, upper = plain.centre.copy(), plain.lower.copy(), plain.upper.copy()
    for t in range(x.size):
        same = [s for s in range(t - 1, -1, -1) if day[s] == day[t]][:weeks]
        past = x[same]
        past = past[~np.isnan(past)]
        if past.size >= weeks_min:
            mean = past.mean()
            sigma = float(_floor(np.array([past.std(ddof=1)]), np.array([mean]))[0])
            centre[t], lower[t], upper[t] = mean, mean - k * sigma, mean + k * sigma
    return Band(centre, lower, upper, x.copy())
