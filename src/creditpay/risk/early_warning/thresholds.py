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
  plain rolling band;
* ``trend_band``: the least-squares line through the previous ``window`` days, extended to
  today, ± k·(its prediction standard error): a series that climbs steadily (utilisation of
  a book that is still being drawn) is judged against where its own trend puts it, not
  against its past level.

Sampling noise of a proportion (``samples``: how many accounts, decisions, payments the
day's rate is a share of): the band is never narrower than the binomial band of the day's
sample around the pooled rate of the history (the exact binomial quantiles at the
one-sided probability of a k-σ normal bound, Jeffreys-smoothed rate). Without it a history
of small samples with no event (σ = 0) flags the first single event, and a history of
large samples flags a small day's ordinary noise.

:func:`clipped` bounds a band to the values the metric can take (a rate's bounds in
[0, 1], a count's or an index's never below 0): a bound outside them means nothing.

Every function returns, for each day, the bounds that applied to it (NaN while the history
is too short to judge), so an alert can show its evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Band", "rolling_band", "ewma_limits", "seasonal_band", "trend_band",
           "binomial_bounds", "clipped", "SIGMA_FLOOR"]

# A perfectly flat history has σ = 0 and would flag any wiggle; the floor is a share of the
# level (or an absolute floor near zero) below which variation is treated as noise.
SIGMA_FLOOR = 1e-9
SIGMA_FLOOR_RELATIVE = 0.01
# A rate's day further than this many σ of its own sample from the reference rate does not
# join the self-starting EWMA's reference.
REFERENCE_K = 3.0


@dataclass(frozen=True)
class Band:
    """Per-day centre and bounds (NaN where there was not enough history)."""

    centre: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    statistic: np.ndarray  # what is compared with the bounds (the value, or the EWMA)
    # The EWMA of a rate only: the day's own value as a signed normal-equivalent z (from
    # the exact binomial tail of its sample around the reference, divided by √φ), for the
    # Shewhart check of a combined Shewhart-EWMA chart (Lucas & Saccucci 1990): a jump the
    # EWMA's smoothing would take days to show. None for the other bands.
    day_z: np.ndarray | None = None


def _floor(sigma: np.ndarray, level: np.ndarray) -> np.ndarray:
    return np.maximum(sigma, np.maximum(np.abs(level) * SIGMA_FLOOR_RELATIVE, SIGMA_FLOOR))


def _series(values: object) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError("a monitor series is one value per day")
    return x


def _samples(samples: object, size: int) -> np.ndarray | None:
    if samples is None:
        return None
    n = np.asarray(samples, dtype=float)
    if n.shape != (size,):
        raise ValueError("one sample size per value")
    return n


def binomial_bounds(rate: float, trials: float, k: float) -> tuple[float, float]:
    """(lower, upper) share of ``trials`` within which a binomial count with success
    probability ``rate`` stays with the one-sided probability Φ(k) each side (the exact
    quantiles, divided by ``trials``). NaN when either is unknown or ``trials`` < 1."""
    if not (math.isfinite(rate) and math.isfinite(trials)) or trials < 1:
        return math.nan, math.nan
    from scipy import stats  # imported when used: ~0.8 s of every API process's start-up

    n = int(round(trials))
    p = min(max(rate, 0.0), 1.0)
    q = float(stats.norm.cdf(k))
    return (float(stats.binom.ppf(1 - q, n, p)) / n, float(stats.binom.ppf(q, n, p)) / n)


def _pooled_rate(values: np.ndarray, trials: np.ndarray) -> float:
    """Events over trials of the history, Jeffreys-smoothed ((x + ½) / (n + 1)) so that a
    history with no event is not read as a rate of exactly 0."""
    ok = ~(np.isnan(values) | np.isnan(trials))
    n = float(trials[ok].sum())
    return (float((values[ok] * trials[ok]).sum()) + 0.5) / (n + 1.0)


def _widen_to_binomial(band: Band, x: np.ndarray, n: np.ndarray | None, k: float,
                       window: int, centre_rate: np.ndarray | None = None) -> Band:
    """``band`` widened, day by day, to at least the binomial band of that day's sample
    around the pooled rate of the previous ``window`` days (or ``centre_rate``)."""
    if n is None:
        return band
    lower, upper = band.lower.copy(), band.upper.copy()
    for t in range(x.size):
        if math.isnan(lower[t]) or math.isnan(n[t]):
            continue
        if centre_rate is not None:
            rate = float(centre_rate[t])
        else:
            rate = _pooled_rate(x[max(0, t - window):t], n[max(0, t - window):t])
        low, high = binomial_bounds(rate, float(n[t]), k)
        if not math.isnan(low):
            lower[t], upper[t] = min(lower[t], low), max(upper[t], high)
    return Band(band.centre, lower, upper, band.statistic)


def clipped(band: Band, low: float, high: float) -> Band:
    """``band`` with its bounds kept within [low, high], what the metric can take (a
    rate's lower bound is never below 0; NaN stays NaN)."""
    with np.errstate(invalid="ignore"):
        lower = np.where(np.isnan(band.lower), np.nan, np.clip(band.lower, low, high))
        upper = np.where(np.isnan(band.upper), np.nan, np.clip(band.upper, low, high))
    return Band(band.centre, lower, upper, band.statistic, band.day_z)


def rolling_band(values: object, *, window: int = 28, k: float = 3.0,
                 history_min: int = 7, samples: object = None) -> Band:
    """mean ± k·σ over the previous ``window`` days (missing days, NaN, are skipped).

    With ``samples`` (a rate's denominators, all known): centre the pooled rate p̄ of the
    window, σ = √(φ·p̄(1−p̄)·(1/nₜ + 1/Σnᵢ)) with φ ≥ 1 the window's overdispersion
    (Laney's p′ chart; the second term is the uncertainty of p̄), and never narrower than
    the day's exact binomial band (module docstring).

    Days that were outside their own band are left out of the later days' bands while
    they are fewer than half of the window: a shock does not widen the band the next
    days are judged by (so it can be confirmed), and a lasting new level becomes the
    norm once it fills half the window."""
    x = _series(values)
    n = _samples(samples, x.size)
    if not 2 <= history_min <= window:
        raise ValueError("need 2 <= history_min <= window")
    centre = np.full(x.size, np.nan)
    lower = np.full(x.size, np.nan)
    upper = np.full(x.size, np.nan)
    outside = np.zeros(x.size, dtype=bool)
    for t in range(x.size):
        first = max(0, t - window)
        measured = ~np.isnan(x[first:t])
        past = x[first:t][measured]
        if past.size < history_min:
            continue
        keep = measured & ~outside[first:t]
        if keep.sum() < max(history_min, past.size / 2):
            keep = measured
        past = x[first:t][keep]
        trials = None if n is None else n[first:t][keep]
        if n is not None and trials is not None and (trials >= 1).all() and n[t] >= 1:
            # A rate of known samples: Laney's p′ chart, σ of today's sample scaled by the
            # history's overdispersion, so old small days do not widen today's band.
            rate = _pooled_rate(past, trials)
            binomial = rate * (1 - rate)
            dispersion = max(1.0, float(((past - rate) ** 2 * trials).sum()) / binomial
                             / max(past.size - 1, 1))
            sigma = math.sqrt(dispersion * binomial * (1 / float(n[t])
                                                       + 1 / float(trials.sum())))
            centre[t] = rate
        else:
            centre[t] = past.mean()
            sigma = float(_floor(np.array([past.std(ddof=1)]), np.array([centre[t]]))[0])
        lower[t], upper[t] = centre[t] - k * sigma, centre[t] + k * sigma
        if n is not None and not math.isnan(n[t]):
            low, high = binomial_bounds(_pooled_rate(past, n[first:t][keep]), float(n[t]), k)
            if not math.isnan(low):
                lower[t], upper[t] = min(lower[t], low), max(upper[t], high)
        outside[t] = bool(x[t] < lower[t] or x[t] > upper[t])
    return Band(centre, lower, upper, x.copy())


def ewma_limits(values: object, *, smoothing: float = 0.2, width: float = 3.0,
                baseline_days: int = 28, samples: object = None) -> Band:
    """EWMA control chart; μ₀ and σ₀ from the first ``baseline_days`` measured days (days
    with no value do not count towards the baseline, and the chart starts after it).

    With ``samples`` (the day's denominators, for a rate) it is a self-starting EWMA for
    proportions with varying sample sizes: the centre of day t is the pooled rate p̂ of
    every earlier measured day that was inside its band (the baseline days included), so
    the reference keeps learning from a young book instead of freezing its small first
    weeks; each day's variance is φ·p̂(1−p̂)/nₛ with φ ≥ 1 the overdispersion of those
    days (Pearson χ²/(m−1), as in Laney's p′ chart), so the limits narrow as the book
    grows; and the variance of p̂ itself is added, so a reference that happens to read
    low does not turn every later day into a breach. Days outside their band are left
    out of the reference (a shock does not become the norm)."""
    x = _series(values)
    n = _samples(samples, x.size)
    if not 0 < smoothing <= 1:
        raise ValueError("smoothing (lambda) must be in (0, 1]")
    nan = np.full(x.size, np.nan)
    measured = np.flatnonzero(~np.isnan(x))
    if measured.size < max(2, baseline_days):
        return Band(nan, nan.copy(), nan.copy(), nan.copy())
    start = int(measured[baseline_days - 1]) + 1  # the first day judged
    baseline = x[measured[:baseline_days]]
    mu0 = float(baseline.mean())
    if n is not None and (n[measured] >= 1).all():
        return _ewma_of_rates(x, n, measured, start, smoothing, width)
    sigma0 = float(_floor(np.array([baseline.std(ddof=1)]), np.array([mu0]))[0])
    z = np.full(x.size, np.nan)
    previous = mu0
    for t, value in enumerate(x):
        if t < measured[0]:
            continue
        previous = previous if np.isnan(value) else smoothing * value + (1 - smoothing) * previous
        z[t] = previous
    # The chart's variance grows from its first value, not from day 0 of the series.
    steps = np.maximum(np.arange(1, x.size + 1) - int(measured[0]), 1)
    spread = width * sigma0 * np.sqrt(
        smoothing / (2 - smoothing) * (1 - (1 - smoothing) ** (2 * steps)))
    centre = np.full(x.size, mu0)
    lower, upper = centre - spread, centre + spread
    lower[:start] = np.nan  # the baseline is not judged against itself
    upper[:start] = np.nan
    return Band(centre, lower, upper, z)


def _ewma_of_rates(x: np.ndarray, n: np.ndarray, measured: np.ndarray, start: int,
                   smoothing: float, width: float) -> Band:
    """The self-starting EWMA of :func:`ewma_limits` for a rate with known samples."""
    centre = np.full(x.size, np.nan)
    lower = np.full(x.size, np.nan)
    upper = np.full(x.size, np.nan)
    z = np.full(x.size, np.nan)
    day_z = np.full(x.size, np.nan)
    reference = np.zeros(x.size, dtype=bool)  # days the centre is estimated from
    reference[measured[measured < start]] = True
    z_days: list[int] = []
    previous = math.nan
    for t in range(int(measured[0]), x.size):
        if not math.isnan(x[t]):
            z_days.append(t)
            previous = x[t] if math.isnan(previous) else (
                smoothing * x[t] + (1 - smoothing) * previous)
        z[t] = previous
        if t < start or math.isnan(x[t]):
            continue
        used = np.flatnonzero(reference[:t])
        rate = _pooled_rate(x[used], n[used])
        binomial = rate * (1 - rate)
        dispersion = max(1.0, float(((x[used] - rate) ** 2 * n[used]).sum()) / binomial
                         / max(used.size - 1, 1))
        # Var(z_t) = Σ_s w_s² Var(x_s) over the measured days so far, w_s = λ(1-λ)^{k},
        # k = measured days after s (the first value enters with weight (1-λ)^k).
        ages = np.arange(len(z_days) - 1, -1, -1)
        weights = smoothing * (1 - smoothing) ** ages
        weights[0] = (1 - smoothing) ** ages[0]
        variance = dispersion * binomial * float((weights ** 2 / n[z_days]).sum())
        variance += dispersion * binomial / float(n[used].sum())
        centre[t] = rate
        spread = width * math.sqrt(variance)
        lower[t], upper[t] = rate - spread, rate + spread
        # The day joins the reference only if neither the chart nor the day itself is
        # unusual (the chart lags a shock by days; its first days must not teach it).
        day_sigma = math.sqrt(dispersion * binomial
                              * (1 / float(n[t]) + 1 / float(n[used].sum())))
        reference[t] = bool(lower[t] <= z[t] <= upper[t]
                            and abs(x[t] - rate) <= REFERENCE_K * day_sigma)
        day_z[t] = _binomial_z(x[t], float(n[t]), rate) / math.sqrt(dispersion)
    return Band(centre, lower, upper, z, day_z)


def _binomial_z(value: float, trials: float, rate: float) -> float:
    """A share ``value`` of ``trials`` as a signed normal-equivalent z under a binomial
    with probability ``rate``: Φ⁻¹ of the exact tail on its side (positive above)."""
    from scipy import stats  # imported when used (see binomial_bounds)

    n = int(round(trials))
    events = int(round(value * n))
    mean = rate * n
    if events > mean:
        tail = float(stats.binom.sf(events - 1, n, rate))  # P(X >= events)
        return float(-stats.norm.ppf(max(tail, 1e-300)))
    if events < mean:
        tail = float(stats.binom.cdf(events, n, rate))  # P(X <= events)
        return float(stats.norm.ppf(max(tail, 1e-300)))
    return 0.0


def seasonal_band(values: object, weekdays: object, *, weeks: int = 6, k: float = 3.0,
                  weeks_min: int = 4, window: int = 28, samples: object = None) -> Band:
    """Band from the same weekday of the previous ``weeks`` weeks when ``weeks_min`` exist;
    otherwise the plain rolling band for that day. ``samples``: as :func:`rolling_band`."""
    x = _series(values)
    n = _samples(samples, x.size)
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
    return _widen_to_binomial(Band(centre, lower, upper, x.copy()), x, n, k, window)


def trend_band(values: object, *, window: int = 28, k: float = 3.0, history_min: int = 7,
               samples: object = None) -> Band:
    """Today's value against the ordinary least-squares line through the previous
    ``window`` measured days: centre = the line extended to today, bounds ± k·s·√(1 + 1/m
    + (t − t̄)²/Σ(tᵢ − t̄)²) (the prediction interval of a new observation; s the residual
    standard deviation with m − 2 degrees of freedom, floored as the other bands). A steady
    climb is expected, a jump off the trend is not. ``samples``: as :func:`rolling_band`,
    around the rate the line predicts."""
    x = _series(values)
    n = _samples(samples, x.size)
    if not 3 <= history_min <= window:
        raise ValueError("need 3 <= history_min <= window")
    centre = np.full(x.size, np.nan)
    spread = np.full(x.size, np.nan)
    for t in range(x.size):
        first = max(0, t - window)
        past = x[first:t]
        when = np.arange(first, t, dtype=float)[~np.isnan(past)]
        past = past[~np.isnan(past)]
        if past.size < history_min:
            continue
        mean_t = when.mean()
        sxx = float(((when - mean_t) ** 2).sum())
        slope = float(((when - mean_t) * (past - past.mean())).sum()) / sxx
        intercept = float(past.mean()) - slope * mean_t
        residuals = past - (intercept + slope * when)
        s_res = math.sqrt(float((residuals ** 2).sum()) / (past.size - 2))
        forecast = intercept + slope * t
        sigma = float(_floor(np.array([s_res]), np.array([forecast]))[0])
        centre[t] = forecast
        spread[t] = k * sigma * math.sqrt(1 + 1 / past.size + (t - mean_t) ** 2 / sxx)
    band = Band(centre, centre - spread, centre + spread, x.copy())
    return _widen_to_binomial(band, x, n, k, window, centre_rate=centre)
