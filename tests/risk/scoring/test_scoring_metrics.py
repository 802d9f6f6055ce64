"""Metrics against scikit-learn / SciPy and against hand-computed tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from creditpay.errors import ValidationError
from creditpay.risk.scoring import metrics as m


def test_auc_by_hand():
    bad = [1, 1, 0, 0]
    risk = [0.9, 0.4, 0.5, 0.1]
    # pairs (bad, good): (.9,.5) (.9,.1) (.4,.5) (.4,.1) → 3 of 4 ordered right
    assert m.roc_auc(bad, risk) == pytest.approx(0.75)
    assert m.gini(bad, risk) == pytest.approx(0.5)
    # a tie counts one half
    assert m.roc_auc([1, 0], [0.3, 0.3]) == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(20, 400), st.integers(2, 50))
def test_auc_ks_roc_match_sklearn_and_scipy(seed, n, levels):
    rng = np.random.default_rng(seed)
    bad = rng.integers(0, 2, n)
    if bad.min() == bad.max():
        bad[0] = 1 - bad[0]
    risk = rng.integers(0, levels, n) + 0.3 * bad  # coarse: plenty of ties
    assert m.roc_auc(bad, risk) == pytest.approx(roc_auc_score(bad, risk), abs=1e-12)
    expected_ks = ks_2samp(risk[bad == 1], risk[bad == 0]).statistic
    assert m.ks_statistic(bad, risk) == pytest.approx(expected_ks, abs=1e-12)
    fpr, tpr, _ = m.roc_curve(bad, risk)
    sk_fpr, sk_tpr, _ = sk_roc_curve(bad, risk, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)


def test_ks_by_hand():
    bad = [1, 1, 0, 1, 0, 0]
    risk = [6, 5, 4, 3, 2, 1]
    # riskiest first: cum bads 1/3, 2/3, 2/3, 1, 1, 1; goods 0, 0, 1/3, 1/3, 2/3, 1
    assert m.ks_statistic(bad, risk) == pytest.approx(2 / 3)


def test_decile_table_by_hand():
    bad = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    risk = np.array([8, 7, 6, 5, 4, 3, 2, 1], dtype=float)
    rows = m.decile_table(bad, risk, n_groups=2)
    assert [r["count"] for r in rows] == [4, 4]
    assert [r["bads"] for r in rows] == [3, 0]
    top = rows[0]
    assert top["bad_rate"] == pytest.approx(0.75)
    assert top["cum_bads_pct"] == pytest.approx(1.0)
    assert top["cum_goods_pct"] == pytest.approx(1 / 5)
    assert top["ks"] == pytest.approx(0.8)
    assert top["lift"] == pytest.approx(0.75 / (3 / 8))
    assert rows[1]["cum_lift"] == pytest.approx(1.0)
    assert rows[-1]["cum_bads_pct"] == pytest.approx(1.0)
    assert rows[-1]["cum_goods_pct"] == pytest.approx(1.0)


def test_decile_table_keeps_ties_together():
    rng = np.random.default_rng(0)
    risk = rng.integers(0, 4, 1000).astype(float)  # only four distinct scores
    bad = (rng.random(1000) < 0.1 + 0.05 * risk).astype(int)
    rows = m.decile_table(bad, risk)
    assert len(rows) <= 4
    assert sum(r["count"] for r in rows) == 1000
    for upper, lower in zip(rows, rows[1:], strict=False):
        assert upper["risk_min"] > lower["risk_max"]  # no score split across groups
    assert max(r["ks"] for r in rows) == pytest.approx(m.ks_statistic(bad, risk))


def test_calibration_table_and_brier():
    rng = np.random.default_rng(4)
    pd_ = rng.uniform(0.01, 0.5, 50_000)
    bad = (rng.random(pd_.size) < pd_).astype(int)
    rows = m.calibration_table(bad, pd_)
    assert len(rows) == 10 and sum(r["count"] for r in rows) == pd_.size
    for row in rows:  # a calibrated PD is observed within sampling error
        assert abs(row["difference"]) < 4 * math.sqrt(row["predicted_pd"] / row["count"])
    assert rows[0]["predicted_pd"] > rows[-1]["predicted_pd"]
    assert m.brier_score(bad, pd_) == pytest.approx(brier_score_loss(bad, pd_))


def test_psi_by_hand():
    result = m.psi_from_proportions([0.5, 0.5], [0.25, 0.75])
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert result.psi == pytest.approx(expected)
    assert m.psi_from_proportions([0.2, 0.8], [0.2, 0.8]).psi == 0.0
    # empty expected bin: floored at epsilon = 1e-4
    empty = m.psi_from_proportions([0.5, 0.5, 0.0], [0.5, 0.4, 0.1])
    tail = (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert empty.psi == pytest.approx((0.4 - 0.5) * math.log(0.4 / 0.5) + tail)


def test_numeric_psi_bins_come_from_the_development_sample():
    rng = np.random.default_rng(1)
    development = rng.normal(0, 1, 20_000)
    same = m.psi(development, rng.normal(0, 1, 20_000))
    shifted = m.psi(development, rng.normal(0.5, 1, 20_000))
    assert same.psi < 0.01 < 0.1 < shifted.psi
    assert len(same.bins) == 11  # ten decile bins + missing
    assert same.expected[:10] == pytest.approx([0.1] * 10, abs=1e-3)
    with_gaps = np.where(rng.random(20_000) < 0.2, np.nan, rng.normal(0, 1, 20_000))
    gappy = m.psi(development, with_gaps)
    assert gappy.actual[-1] == pytest.approx(0.2, abs=0.01)
    assert gappy.psi > 0.25  # 20 % in a bin that held none


def test_categorical_psi_and_stored_baseline():
    development = ["a"] * 50 + ["b"] * 50
    actual = ["a"] * 40 + ["b"] * 40 + ["c"] * 10 + [None] * 10
    result = m.psi(development, actual, kind="categorical")
    assert result.bins == ("a", "b", "missing", "unseen")
    assert result.actual == pytest.approx((0.4, 0.4, 0.1, 0.1))
    baseline = m.psi_baseline(np.array(development, dtype=object), "categorical")
    again = m.psi_against_baseline(baseline, np.array(actual, dtype=object))
    assert again.psi == pytest.approx(result.psi)
    values = np.random.default_rng(2).normal(size=5000)
    stored = m.psi_baseline(values, "numeric")
    assert m.psi_against_baseline(stored, values).psi == pytest.approx(0.0)


def test_metric_input_errors():
    with pytest.raises(ValidationError):
        m.roc_auc([1, 1], [0.2, 0.3])  # one class
    with pytest.raises(ValidationError):
        m.roc_auc([1, 0], [0.2])
    with pytest.raises(ValidationError):
        m.roc_auc([1, 0], [np.nan, 0.1])
    with pytest.raises(ValidationError):
        m.calibration_table([1, 0], [1.5, 0.2])
