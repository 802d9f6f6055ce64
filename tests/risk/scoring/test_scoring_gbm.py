"""GBM challenger: calibration, monotone constraints, reasons, encoding, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from creditpay.errors import ValidationError
from creditpay.risk.scoring.dataset import dataset_from_frame
from creditpay.risk.scoring.gbm import Calibrator, GbmConfig, fit_calibrator, fit_gbm
from creditpay.risk.scoring.metrics import roc_auc


def _margins(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    margin = rng.normal(-1.0, 1.5, n)
    bad = (rng.random(n) < 1 / (1 + np.exp(-(0.7 * margin + 0.2)))).astype(int)
    return margin, bad


def test_platt_matches_sklearn_logistic_on_the_margin():
    margin, bad = _margins()
    ours = fit_calibrator(margin, bad, "platt")
    reference = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), bad)
    np.testing.assert_allclose(ours(margin), reference.predict_proba(margin.reshape(-1, 1))[:, 1],
                               rtol=1e-12)
    assert ours.slope == pytest.approx(0.7, abs=0.1)  # recovers the generating slope


def test_isotonic_matches_sklearn_inside_the_clip():
    margin, bad = _margins(seed=1)
    ours = fit_calibrator(margin, bad, "isotonic")
    reference = IsotonicRegression(out_of_bounds="clip").fit(margin, bad)
    probe = np.linspace(-8, 8, 1001)
    np.testing.assert_allclose(ours(probe), np.clip(reference.predict(probe), 1e-6, 1 - 1e-6),
                               rtol=1e-12)
    assert np.all(np.diff(ours(probe)) >= 0)


def test_calibrator_json_round_trip_and_validation():
    margin, bad = _margins()
    for method in ("platt", "isotonic"):
        calibrator = fit_calibrator(margin, bad, method)
        again = Calibrator.from_json(calibrator.to_json())
        np.testing.assert_array_equal(again(margin), calibrator(margin))
    with pytest.raises(ValidationError):
        Calibrator.from_json({"method": "platt", "slope": -1, "intercept": 0,
                              "x_thresholds": [], "y_thresholds": []})
    with pytest.raises(ValidationError):
        Calibrator.from_json({"method": "isotonic", "slope": 1, "intercept": 0,
                              "x_thresholds": [0, 1], "y_thresholds": [0.5, 0.1]})


def test_out_of_fold_calibration_is_honest(german_gbm, german):
    """Platt on out-of-fold margins: mean PD ≈ bad rate, without memorising the training set."""
    probability = german_gbm.predict_pd(german.frame)
    assert probability.mean() == pytest.approx(german.bad_rate, abs=0.03)
    assert german_gbm.config["rounds"] >= 1
    assert german_gbm.calibrator.method == "platt"


def test_reasons_are_the_largest_positive_contributions(german_gbm, german):
    frame = german.frame.iloc[:50]
    reasons = german_gbm.reasons(frame)
    contributions = german_gbm.booster.predict(german_gbm.matrix(frame), pred_contrib=True)
    margin = german_gbm.predict_margin(frame)
    # TreeSHAP is exact: contributions + bias add up to the margin.
    np.testing.assert_allclose(contributions.sum(axis=1), margin, rtol=1e-9, atol=1e-9)
    names = [f.name for f in german_gbm.features]
    for row, row_reasons in enumerate(reasons):
        assert len(row_reasons) <= 4
        values = [r.contribution for r in row_reasons]
        assert values == sorted(values, reverse=True) and all(v > 0 for v in values)
        positive = sorted((c for c in contributions[row, :-1] if c > 0), reverse=True)[:4]
        assert values == pytest.approx(positive)
        for reason in row_reasons:
            assert contributions[row, names.index(reason.feature)] == pytest.approx(
                reason.contribution)


def test_single_application_matches_batch(german_gbm, german):
    batch = german_gbm.predict_pd(german.frame.iloc[:20])
    for i in range(20):
        single = german_gbm.score_application(german.frame.iloc[i].to_dict())
        assert single.pd == pytest.approx(batch[i], rel=1e-12)


def test_unseen_and_missing_categories_are_scored(german_gbm, german):
    frame = german.frame.iloc[:3].copy()
    frame["purpose"] = pd.Series(["brand new purpose", None, "car (new)"], dtype=object)
    matrix = german_gbm.matrix(frame)
    column = [f.name for f in german_gbm.features].index("purpose")
    assert np.isnan(matrix[0, column]) and np.isnan(matrix[1, column])
    assert not np.isnan(matrix[2, column])
    assert np.all(np.isfinite(german_gbm.predict_pd(frame)))


def _monotone_data(n=6000, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    z = rng.normal(size=n)
    # A bump: risk rises with x overall but dips in the middle; unconstrained trees follow it.
    logit = -2 + 0.3 * x - 1.5 * np.exp(-((x - 5) ** 2)) + 0.5 * z
    bad = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x": x, "z": z, "y": bad})


def test_monotone_constraint_is_enforced():
    frame = _monotone_data()
    data = dataset_from_frame(frame, "y")
    model = fit_gbm(data, GbmConfig(monotone={"x": 1}, learning_rate=0.1, max_rounds=300))
    grid = np.linspace(0, 10, 201)
    for z in (-1.5, 0.0, 1.5):
        probe = pd.DataFrame({"x": grid, "z": np.full_like(grid, z)})
        assert np.all(np.diff(model.predict_pd(probe)) >= -1e-12)


def test_monotone_constraint_validation(german):
    with pytest.raises(ValidationError) as info:
        fit_gbm(german, GbmConfig(monotone={"purpose": 1}))
    assert info.value.field == "monotone"
    with pytest.raises(ValidationError) as info:
        fit_gbm(german, GbmConfig(monotone={"no_such_column": -1}))
    assert info.value.field == "monotone"
    with pytest.raises(ValidationError):
        GbmConfig(monotone={"x": 2})
    with pytest.raises(ValidationError):
        GbmConfig(num_threads=4)


def test_large_data_path_uses_a_holdout():
    frame = _monotone_data(n=3000)
    data = dataset_from_frame(frame, "y")
    model = fit_gbm(data, GbmConfig(holdout_threshold_rows=1000, learning_rate=0.1))
    assert model.booster.num_trees() == model.config["rounds"]
    assert roc_auc(data.bad, model.predict_pd(frame)) > 0.6
