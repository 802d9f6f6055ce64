"""Metrics that cannot flatter: AUC and KS equal scikit-learn's, the bootstrap intervals
cover the truth at about the nominal rate, PD calibration to a target bad rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from creditpay.errors import ValidationError
from creditpay.risk.scoring import metrics as m


def _sample(seed: int, n: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bad = rng.integers(0, 2, n)
    bad[0], bad[1] = 0, 1  # both classes
    risk = rng.integers(0, levels, n) + rng.normal(0.0, 1.0) * bad  # ties, either direction
    return bad, risk.astype(np.float64)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 100_000), st.integers(4, 300), st.integers(1, 40))
def test_auc_and_ks_equal_sklearn_with_ties(seed, n, levels):
    bad, risk = _sample(seed, n, levels)
    fpr, tpr, _ = sk_roc_curve(bad, risk, drop_intermediate=False)
    assert m.roc_auc(bad, risk) == pytest.approx(roc_auc_score(bad, risk), abs=1e-12)
    # KS is the largest gap either way; for a model that ranks bads riskier (AUC ≥ 0.5)
    # it is the usual max(tpr − fpr).
    assert m.ks_statistic(bad, risk) == pytest.approx(float(np.max(np.abs(tpr - fpr))),
                                                      abs=1e-12)
    if roc_auc_score(bad, risk) >= 0.5 and np.max(tpr - fpr) >= np.max(fpr - tpr):
        assert m.ks_statistic(bad, risk) == pytest.approx(float(np.max(tpr - fpr)), abs=1e-12)
    intervals = m.bootstrap_intervals(bad, risk, replicates=20, seed=seed)
    assert intervals["auc"]["estimate"] == pytest.approx(roc_auc_score(bad, risk), abs=1e-12)
    assert intervals["ks"]["estimate"] == pytest.approx(m.ks_statistic(bad, risk), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100_000), st.integers(4, 120), st.integers(1, 12))
def test_weighted_replicate_equals_the_resampled_rows(seed, n, levels):
    """A bootstrap replicate computed from draw counts is the AUC/KS of the rows drawn."""
    bad, risk = _sample(seed, n, levels)
    rng = np.random.default_rng(seed + 1)
    counts = rng.integers(0, 3, n)
    counts[0] = counts[1] = 1  # both classes drawn
    _, group = np.unique(risk, return_inverse=True)
    auc, ks = m._weighted_auc_ks(group, int(group.max()) + 1, counts * (bad == 1),
                                 counts * (bad == 0))
    drawn_bad, drawn_risk = np.repeat(bad, counts), np.repeat(risk, counts)
    assert auc == pytest.approx(roc_auc_score(drawn_bad, drawn_risk), abs=1e-12)
    assert ks == pytest.approx(m.ks_statistic(drawn_bad, drawn_risk), abs=1e-12)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(5)
    bad = rng.integers(0, 2, 400)
    risk = rng.integers(0, 30, 400) + 8.0 * bad  # a real signal: KS well away from 0
    first = m.bootstrap_intervals(bad, risk, replicates=200, seed=9)
    assert first == m.bootstrap_intervals(bad, risk, replicates=200, seed=9)
    assert first != m.bootstrap_intervals(bad, risk, replicates=200, seed=10)
    for name in ("auc", "ks"):
        assert first[name]["low"] <= first[name]["estimate"] <= first[name]["high"]
        assert first[name]["low"] < first[name]["high"]
    assert first["level"] == 0.95 and first["method"] == "stratified percentile bootstrap"


def test_bootstrap_intervals_cover_the_true_auc_at_about_the_nominal_rate():
    """Goods' risk ~ N(0, 1), bads' ~ N(d, 1): the true AUC is Φ(d / √2). 200 small samples
    (60 bads, 240 goods), 200 replicates each: the 95 % interval must contain the truth in
    about 95 % of them. Bounds are loose (binomial sd ≈ 1.5 %; percentile intervals run a
    little narrow on small samples) but exclude both a too-narrow and a vacuous interval."""
    d = 1.0
    true_auc = 0.5 * (1.0 + math.erf(d / 2.0))  # Φ(d/√2)
    rng = np.random.default_rng(2024)
    covered, widths = 0, []
    simulations = 200
    for s in range(simulations):
        risk = np.r_[rng.normal(d, 1.0, 60), rng.normal(0.0, 1.0, 240)]
        bad = np.r_[np.ones(60, int), np.zeros(240, int)]
        auc = m.bootstrap_intervals(bad, risk, replicates=200, seed=s)["auc"]
        covered += auc["low"] <= true_auc <= auc["high"]
        widths.append(auc["high"] - auc["low"])
    coverage = covered / simulations
    assert 0.88 <= coverage <= 0.99
    # Hanley-McNeil standard error of this AUC at these sizes is about 0.039, so a 95 %
    # interval is about 0.15 wide: the bootstrap must be in that range, not vacuous.
    assert 0.10 < float(np.mean(widths)) < 0.20


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=200), st.floats(0.001, 0.999))
def test_intercept_shift_reaches_the_target_bad_rate_and_keeps_the_ranking(pds, target):
    pd = np.asarray(pds)
    shift = m.intercept_shift_for_bad_rate(pd, target)
    shifted = m.shift_pd(pd, shift)
    # PDs of exactly 0 or 1 are clipped to 1e-12 from the edge, so every target is reached.
    assert float(np.mean(shifted)) == pytest.approx(target, abs=1e-6)
    # Ranking kept: the order of distinct PDs never reverses.
    order = np.argsort(pd, kind="stable")
    assert np.all(np.diff(shifted[order]) >= -1e-15)


def test_intercept_shift_is_zero_at_the_current_mean_and_signed():
    pd = np.array([0.02, 0.05, 0.1, 0.3])
    assert m.intercept_shift_for_bad_rate(pd, float(pd.mean())) == pytest.approx(0.0, abs=1e-9)
    assert m.intercept_shift_for_bad_rate(pd, 0.2) > 0 > m.intercept_shift_for_bad_rate(pd, 0.05)
    with pytest.raises(ValidationError) as error:
        m.intercept_shift_for_bad_rate(pd, 1.0)
    assert error.value.field == "target_bad_rate"


def test_reliability_table_is_deciles_of_the_pd_and_brier_is_the_mean_square():
    rng = np.random.default_rng(1)
    pd = rng.uniform(0.0, 0.5, 1000)
    bad = (rng.uniform(size=1000) < pd).astype(int)
    rows = m.calibration_table(bad, pd)
    assert len(rows) == 10 and sum(r["count"] for r in rows) == 1000
    for row in rows:
        members = (pd >= row["pd_min"]) & (pd <= row["pd_max"])
        assert row["predicted_pd"] == pytest.approx(pd[members].mean())
        assert row["observed_bad_rate"] == pytest.approx(bad[members].mean())
    assert m.brier_score(bad, pd) == pytest.approx(float(np.mean((pd - bad) ** 2)))
