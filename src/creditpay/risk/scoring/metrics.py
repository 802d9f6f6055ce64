"""Discrimination, calibration and stability metrics of a credit model.

Convention: ``bad`` is a 0/1 array (1 = bad) and ``risk`` is any number that grows with the
risk of bad (a PD, or minus a score). All functions are pure numpy and vectorised.

- **AUC** is the Mann-Whitney probability that a random bad is riskier than a random good,
  ties counting one half; **Gini** = 2 · AUC − 1.
- **KS** is the largest gap between the cumulative risk distributions of bads and goods,
  taken over every distinct risk value.
- **Decile table**: rows are ranked riskiest first and cut at risk quantiles; equal risks
  always share a group (so a coarse score can yield fewer than ten groups, of unequal size).
  Per group: count, bads, bad rate, cumulative % of bads and goods, KS = their gap, lift =
  bad rate / overall bad rate, cumulative lift.
- **Calibration**: the same grouping on the predicted PD; mean predicted PD vs observed bad
  rate per band.
- **PSI** = Σ (a − e) · ln(a / e) over bins fixed on the development (expected) sample:
  numeric bins at its deciles plus a missing bin, categorical bins one per development
  category plus "missing" and "unseen". Proportions below ``PSI_EPSILON`` (1e-4) are raised
  to it before the logarithm, so an empty bin adds a large but finite term.
- **Bootstrap intervals** (:func:`bootstrap_intervals`): stratified percentile bootstrap:
  every replicate redraws the bads among the bads and the goods among the goods (with
  replacement, same counts), so each replicate keeps the sample's bad rate and AUC/KS are
  always defined; the interval is the (α/2, 1 − α/2) quantiles of the replicates. Seeded.
- **Reliability table**: :func:`calibration_table` with ten PD bands (deciles of the PD);
  **Brier score** = mean (PD − bad)².
- **PD calibration to a target bad rate** (:func:`intercept_shift_for_bad_rate`,
  :func:`shift_pd`): one constant δ added to every log-odds (PD' = σ(logit PD + δ)) such that
  the mean PD' over a reference sample equals the target. Ranking (AUC, KS) is unchanged;
  only the level moves, as when a development sample's bad rate differs from the
  portfolio's expected (central tendency) rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from creditpay.errors import ValidationError

__all__ = [
    "BOOTSTRAP_LEVEL",
    "BOOTSTRAP_REPLICATES",
    "PSI_EPSILON",
    "PsiResult",
    "bootstrap_intervals",
    "brier_score",
    "calibration_table",
    "categorical_psi_bins",
    "decile_table",
    "discrimination",
    "gini",
    "intercept_shift_for_bad_rate",
    "ks_curve",
    "ks_statistic",
    "numeric_psi_edges",
    "psi",
    "psi_against_baseline",
    "psi_baseline",
    "psi_from_proportions",
    "roc_auc",
    "roc_curve",
    "shift_pd",
]

PSI_EPSILON = 1e-4
BOOTSTRAP_REPLICATES = 1000
BOOTSTRAP_LEVEL = 0.95


def _checked(bad: Any, risk: Any) -> tuple[np.ndarray, np.ndarray]:
    bad = np.asarray(bad)
    risk = np.asarray(risk, dtype=np.float64)
    if bad.shape != risk.shape or bad.ndim != 1:
        raise ValidationError("bad and risk must be 1-D arrays of equal length", field="risk")
    if not np.all(np.isfinite(risk)):
        raise ValidationError("risk values must be finite", field="risk")
    if not np.all((bad == 0) | (bad == 1)):
        raise ValidationError("bad must be 0/1", field="bad")
    n_bad = int(bad.sum())
    if n_bad == 0 or n_bad == bad.size:
        raise ValidationError("need both goods and bads to measure discrimination",
                              field="target")
    return bad.astype(np.int64), risk


def roc_auc(bad: Any, risk: Any) -> float:
    """Area under the ROC curve (ties count one half)."""
    from scipy.stats import rankdata

    bad, risk = _checked(bad, risk)
    ranks = rankdata(risk)  # average ranks give ties half credit
    n_bad = bad.sum()
    n_good = bad.size - n_bad
    return float((ranks[bad == 1].sum() - n_bad * (n_bad + 1) / 2.0) / (n_bad * n_good))


def gini(bad: Any, risk: Any) -> float:
    """Gini (accuracy ratio) = 2 · AUC − 1."""
    return 2.0 * roc_auc(bad, risk) - 1.0


def _cumulative(bad: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per distinct risk, riskiest first: threshold, cumulative bads and goods (counts)."""
    order = np.argsort(-risk, kind="stable")
    sorted_risk, sorted_bad = risk[order], bad[order]
    last_of_value = np.r_[np.nonzero(np.diff(sorted_risk))[0], sorted_risk.size - 1]
    cum_bad = np.cumsum(sorted_bad)[last_of_value]
    cum_good = (last_of_value + 1) - cum_bad
    return sorted_risk[last_of_value], cum_bad, cum_good


def roc_curve(bad: Any, risk: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(false-positive rate, true-positive rate, threshold)``, starting at (0, 0)."""
    bad, risk = _checked(bad, risk)
    thresholds, cum_bad, cum_good = _cumulative(bad, risk)
    tpr = np.r_[0.0, cum_bad / cum_bad[-1]]
    fpr = np.r_[0.0, cum_good / cum_good[-1]]
    return fpr, tpr, np.r_[np.inf, thresholds]


def ks_curve(bad: Any, risk: Any) -> dict[str, np.ndarray]:
    """Cumulative share of bads and goods at or above each distinct risk (riskiest first)."""
    bad, risk = _checked(bad, risk)
    thresholds, cum_bad, cum_good = _cumulative(bad, risk)
    return {"threshold": thresholds, "cum_bad_share": cum_bad / cum_bad[-1],
            "cum_good_share": cum_good / cum_good[-1]}


def ks_statistic(bad: Any, risk: Any) -> float:
    """Kolmogorov-Smirnov distance between the risk distributions of bads and goods."""
    curve = ks_curve(bad, risk)
    return float(np.max(np.abs(curve["cum_bad_share"] - curve["cum_good_share"])))


def brier_score(bad: Any, pd: Any) -> float:
    """Mean squared error of the PD."""
    bad, pd = _checked(bad, pd)
    return float(np.mean((pd - bad) ** 2))


def _weighted_auc_ks(group: np.ndarray, n_groups: int, w_bad: np.ndarray,
                     w_good: np.ndarray) -> tuple[float, float]:
    """AUC and KS from per-row weights (bootstrap counts), rows grouped by distinct risk
    (``group`` ascending in risk): O(n), no sort, so a replicate costs two bincounts."""
    bads = np.bincount(group, weights=w_bad, minlength=n_groups)
    goods = np.bincount(group, weights=w_good, minlength=n_groups)
    n_bad, n_good = bads.sum(), goods.sum()
    goods_below = np.cumsum(goods) - goods
    auc = float(np.sum(bads * (goods_below + 0.5 * goods)) / (n_bad * n_good))
    ks = float(np.max(np.abs(np.cumsum(bads) / n_bad - np.cumsum(goods) / n_good)))
    return auc, ks


def bootstrap_intervals(bad: Any, risk: Any, *, replicates: int = BOOTSTRAP_REPLICATES,
                        level: float = BOOTSTRAP_LEVEL, seed: int = 0) -> dict[str, Any]:
    """Stratified percentile-bootstrap confidence intervals of AUC and KS (module docstring).

    Returns ``{"auc": {"estimate", "low", "high"}, "ks": {...}, "replicates", "level",
    "seed", "method"}``; the estimates are those of the full sample.
    """
    bad, risk = _checked(bad, risk)
    if replicates < 10:
        raise ValidationError("need at least 10 bootstrap replicates", field="replicates")
    if not 0.5 <= level < 1.0:
        raise ValidationError("level must be in [0.5, 1)", field="level")
    _, group = np.unique(risk, return_inverse=True)
    n_groups = int(group.max()) + 1
    bad_rows, good_rows = np.flatnonzero(bad == 1), np.flatnonzero(bad == 0)
    rng = np.random.default_rng(seed)
    aucs = np.empty(replicates)
    kss = np.empty(replicates)
    w_bad = np.zeros(bad.size)
    w_good = np.zeros(bad.size)
    for r in range(replicates):
        w_bad[:] = 0.0
        w_good[:] = 0.0
        # How many times each bad (good) row is drawn, stratum by stratum.
        w_bad[bad_rows] = np.bincount(rng.integers(0, bad_rows.size, bad_rows.size),
                                      minlength=bad_rows.size)
        w_good[good_rows] = np.bincount(rng.integers(0, good_rows.size, good_rows.size),
                                        minlength=good_rows.size)
        aucs[r], kss[r] = _weighted_auc_ks(group, n_groups, w_bad, w_good)
    alpha = (1.0 - level) / 2.0
    auc, ks = _weighted_auc_ks(group, n_groups, (bad == 1).astype(np.float64),
                               (bad == 0).astype(np.float64))

    def interval(estimate: float, values: np.ndarray) -> dict[str, float]:
        low, high = np.quantile(values, [alpha, 1.0 - alpha])
        return {"estimate": estimate, "low": float(low), "high": float(high)}

    return {"auc": interval(auc, aucs), "ks": interval(ks, kss), "replicates": replicates,
            "level": level, "seed": seed, "method": "stratified percentile bootstrap"}


def _logit(pd: np.ndarray) -> np.ndarray:
    clipped = np.clip(pd, 1e-12, 1.0 - 1e-12)  # a PD of exactly 0 or 1 has no log-odds
    return np.log(clipped / (1.0 - clipped))


def shift_pd(pd: Any, shift: float) -> np.ndarray:
    """PD' = σ(logit PD + ``shift``) (``shift`` in log-odds, natural log)."""
    values = np.asarray(pd, dtype=np.float64)
    if values.size and (np.any(~np.isfinite(values)) or np.any((values < 0) | (values > 1))):
        raise ValidationError("PD must lie in [0, 1]", field="pd")
    return 1.0 / (1.0 + np.exp(-(_logit(values) + shift)))


def intercept_shift_for_bad_rate(pd: Any, target_bad_rate: float) -> float:
    """The log-odds shift δ with mean(σ(logit PD + δ)) = ``target_bad_rate`` over ``pd``.

    The mean is strictly increasing in δ, so the root is unique; found by bisection to
    1e-12 in δ.
    """
    values = np.asarray(pd, dtype=np.float64)
    if values.size == 0:
        raise ValidationError("no PDs to calibrate", field="pd")
    if not 0.0 < target_bad_rate < 1.0:
        raise ValidationError("target bad rate must be strictly between 0 and 1",
                              field="target_bad_rate")
    base = _logit(values)
    shift_pd(values, 0.0)  # validates the range

    def mean_at(delta: float) -> float:
        return float(np.mean(1.0 / (1.0 + np.exp(-(base + delta)))))

    low, high = -60.0, 60.0  # beyond ±60 log-odds every PD is 0 or 1 in float64
    for _ in range(200):
        middle = (low + high) / 2.0
        if mean_at(middle) < target_bad_rate:
            low = middle
        else:
            high = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2.0


def discrimination(bad: Any, risk: Any) -> dict[str, float]:
    """``{"auc", "gini", "ks"}`` as floats."""
    auc = roc_auc(bad, risk)
    return {"auc": auc, "gini": 2.0 * auc - 1.0, "ks": ks_statistic(bad, risk)}


def _groups(risk: np.ndarray, n_groups: int) -> np.ndarray:
    """Group of every row, 0 = riskiest, cut at risk quantiles, ties kept together."""
    if n_groups < 1:
        raise ValidationError("need at least one group", field="n_groups")
    # Interior cut points of the descending ranking; unique so ties never straddle a cut.
    cuts = np.unique(np.quantile(risk, np.linspace(0.0, 1.0, n_groups + 1)[1:-1]))
    ascending_group = np.searchsorted(cuts, risk, side="left")
    return cuts.size - ascending_group


def decile_table(bad: Any, risk: Any, n_groups: int = 10) -> list[dict[str, Any]]:
    """Gains table, riskiest group first (module docstring)."""
    bad, risk = _checked(bad, risk)
    group = _groups(risk, n_groups)
    n_total, bad_total = bad.size, int(bad.sum())
    good_total = n_total - bad_total
    overall_rate = bad_total / n_total
    rows: list[dict[str, Any]] = []
    cum_bads, cum_goods, cum_count = 0, 0, 0
    for g in range(int(group.max()) + 1):
        members = group == g
        count = int(members.sum())
        if count == 0:
            continue
        bads = int(bad[members].sum())
        cum_bads += bads
        cum_goods += count - bads
        cum_count += count
        rate = bads / count
        rows.append({
            "group": len(rows) + 1,
            "risk_min": float(risk[members].min()),
            "risk_max": float(risk[members].max()),
            "count": count,
            "bads": bads,
            "goods": count - bads,
            "bad_rate": rate,
            "cum_bads_pct": cum_bads / bad_total,
            "cum_goods_pct": cum_goods / good_total,
            "ks": abs(cum_bads / bad_total - cum_goods / good_total),
            "lift": rate / overall_rate,
            "cum_lift": (cum_bads / cum_count) / overall_rate,
        })
    return rows


def calibration_table(bad: Any, pd: Any, n_bands: int = 10) -> list[dict[str, Any]]:
    """Predicted vs observed bad rate per PD band, highest PD first."""
    bad, pd = _checked(bad, pd)
    if np.any((pd < 0) | (pd > 1)):
        raise ValidationError("PD must lie in [0, 1]", field="pd")
    group = _groups(pd, n_bands)
    rows: list[dict[str, Any]] = []
    for g in range(int(group.max()) + 1):
        members = group == g
        count = int(members.sum())
        if count == 0:
            continue
        predicted = float(pd[members].mean())
        observed = float(bad[members].mean())
        rows.append({"band": len(rows) + 1, "pd_min": float(pd[members].min()),
                     "pd_max": float(pd[members].max()), "count": count,
                     "bads": int(bad[members].sum()), "predicted_pd": predicted,
                     "observed_bad_rate": observed, "difference": observed - predicted})
    return rows


# -- population stability ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PsiResult:
    """Total PSI and its per-bin terms."""

    psi: float
    bins: tuple[str, ...]
    expected: tuple[float, ...]
    actual: tuple[float, ...]
    contribution: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {"psi": self.psi, "bins": [
            {"bin": b, "expected": e, "actual": a, "contribution": c}
            for b, e, a, c in zip(self.bins, self.expected, self.actual, self.contribution,
                                  strict=True)]}


def psi_from_proportions(expected: Sequence[float] | np.ndarray,
                         actual: Sequence[float] | np.ndarray,
                         bins: Sequence[str] | None = None,
                         epsilon: float = PSI_EPSILON) -> PsiResult:
    """PSI of two distributions over the same bins (each sums to 1)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1 or e.size == 0:
        raise ValidationError("expected and actual need the same bins", field="bins")
    floored_e, floored_a = np.maximum(e, epsilon), np.maximum(a, epsilon)
    terms = (floored_a - floored_e) * np.log(floored_a / floored_e)
    labels = tuple(bins) if bins is not None else tuple(str(i) for i in range(e.size))
    return PsiResult(float(terms.sum()), labels, tuple(map(float, e)), tuple(map(float, a)),
                     tuple(map(float, terms)))


def numeric_psi_edges(development: Any, n_bins: int = 10) -> np.ndarray:
    """Interior bin edges at the development sample's quantiles (unique; NaN ignored)."""
    values = np.asarray(development, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.array([], dtype=np.float64)
    return np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))


def _numeric_distribution(values: Any, edges: np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    index = np.searchsorted(edges, x, side="right")
    index[np.isnan(x)] = edges.size + 1  # own missing bin after the value bins
    return np.bincount(index, minlength=edges.size + 2) / x.size


def _numeric_labels(edges: np.ndarray) -> list[str]:
    bounds = [-np.inf, *edges.tolist(), np.inf]
    return [f"[{lo:.6g}, {hi:.6g})" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)] + [
        "missing"]


def categorical_psi_bins(development: Any) -> list[str]:
    """Development categories (sorted); "missing" and "unseen" bins are added by :func:`psi`."""
    return sorted({str(v) for v in development if v is not None and v == v})


def _categorical_distribution(values: Any, categories: Sequence[str]) -> np.ndarray:
    position = {c: i for i, c in enumerate(categories)}
    counts = np.zeros(len(categories) + 2)
    for value in values:
        if value is None or value != value:  # None or NaN
            counts[len(categories)] += 1
        else:
            counts[position.get(str(value), len(categories) + 1)] += 1
    return counts / max(len(values), 1)


def psi(expected_values: Any, actual_values: Any, *, kind: str = "numeric", n_bins: int = 10,
        epsilon: float = PSI_EPSILON) -> PsiResult:
    """PSI of ``actual_values`` against the development sample ``expected_values``."""
    if kind == "numeric":
        edges = numeric_psi_edges(expected_values, n_bins)
        return psi_from_proportions(_numeric_distribution(expected_values, edges),
                                    _numeric_distribution(actual_values, edges),
                                    _numeric_labels(edges), epsilon)
    if kind == "categorical":
        categories = categorical_psi_bins(expected_values)
        expected = list(expected_values)
        actual = list(actual_values)
        return psi_from_proportions(_categorical_distribution(expected, categories),
                                    _categorical_distribution(actual, categories),
                                    [*categories, "missing", "unseen"], epsilon)
    raise ValidationError(f"unknown kind {kind!r}", field="kind")


def psi_baseline(values: Any, kind: str, n_bins: int = 10) -> dict[str, Any]:
    """Development-sample bins and proportions, storable in a model artifact (JSON)."""
    if kind == "numeric":
        edges = numeric_psi_edges(values, n_bins)
        return {"kind": kind, "edges": edges.tolist(),
                "expected": _numeric_distribution(values, edges).tolist()}
    categories = categorical_psi_bins(values)
    return {"kind": kind, "categories": categories,
            "expected": _categorical_distribution(list(values), categories).tolist()}


def psi_against_baseline(baseline: Mapping[str, Any], actual_values: Any,
                         epsilon: float = PSI_EPSILON) -> PsiResult:
    """PSI of ``actual_values`` against a stored :func:`psi_baseline`."""
    if baseline["kind"] == "numeric":
        edges = np.asarray(baseline["edges"], dtype=np.float64)
        return psi_from_proportions(baseline["expected"],
                                    _numeric_distribution(actual_values, edges),
                                    _numeric_labels(edges), epsilon)
    categories = list(baseline["categories"])
    return psi_from_proportions(baseline["expected"],
                                _categorical_distribution(list(actual_values), categories),
                                [*categories, "missing", "unseen"], epsilon)

