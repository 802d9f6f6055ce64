"""Scorecard: equality with OptBinning, scaling, selection, reasons, batch = single."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditpay.benchmarks.scoring import make_applications
from creditpay.errors import ValidationError
from creditpay.risk.scoring._optbinning import binning_process_class
from creditpay.risk.scoring.dataset import dataset_from_frame
from creditpay.risk.scoring.scorecard import (
    PointsScaling,
    Scorecard,
    ScorecardConfig,
    fit_bins,
    fit_scorecard,
    information_value,
    woe_from_counts,
)


@pytest.mark.filterwarnings("ignore:Setting an item of incompatible dtype")
def test_bins_and_woe_equal_optbinning_transform(german_gappy):
    """Our searchsorted/lookup WoE equals BinningProcess.transform on every row and column."""
    config = ScorecardConfig()
    ours = {c.name: c for c in fit_bins(german_gappy, config)}
    names = german_gappy.feature_names
    categorical = [f.name for f in german_gappy.features if f.kind == "categorical"]
    numeric = [f.name for f in german_gappy.features if f.kind == "numeric"]
    process = binning_process_class()(
        names, categorical_variables=categorical,
        binning_fit_params={n: {"monotonic_trend": config.monotonic_trend} for n in numeric})
    process.fit(german_gappy.frame[names], german_gappy.bad)
    expected = process.transform(german_gappy.frame[names], metric="woe",
                                 metric_missing="empirical")
    for name in names:
        reference = np.asarray(process.get_binned_variable(name).splits, dtype=object)
        if name in numeric:
            np.testing.assert_array_equal(ours[name].splits, reference.astype(float))
        got = ours[name].woe_of(german_gappy.frame[name].to_numpy())
        np.testing.assert_allclose(got, expected[name].to_numpy(), rtol=0, atol=1e-12,
                                   err_msg=name)
        table = process.get_binned_variable(name).binning_table.build()
        assert ours[name].iv == pytest.approx(table.loc["Totals", "IV"], abs=1e-9)
    # Missing values really were exercised: they sit in their own bin with their own WoE.
    duration = ours["duration_in_month"]
    assert duration.counts[-1] > 0 and duration.woe[-1] != 0


def test_unseen_category_is_neutral_like_optbinning(german_gappy):
    purpose = {c.name: c for c in fit_bins(german_gappy, ScorecardConfig())}["purpose"]
    assert purpose.woe_of(np.array(["never seen"], dtype=object))[0] == 0.0


def test_woe_and_iv_by_hand():
    counts, bads = np.array([50, 50]), np.array([10, 40])
    woe = woe_from_counts(counts, bads)
    # goods 40/50 and 10/50; bads 10/50 and 40/50
    assert woe == pytest.approx([math.log(0.8 / 0.2), math.log(0.2 / 0.8)])
    assert information_value(counts, bads) == pytest.approx(2 * 0.6 * math.log(4))
    assert woe_from_counts(np.array([5, 5]), np.array([0, 5])).tolist() == [0.0, 0.0]


@given(base_points=st.floats(300, 900), base_odds=st.floats(0.5, 200), pdo=st.floats(5, 80),
       log_odds=st.floats(-8, 8))
def test_scaling_anchor_and_doubling(base_points, base_odds, pdo, log_odds):
    scaling = PointsScaling(base_points, base_odds, pdo)
    # base_points at base_odds (good:bad), i.e. ln(PD/(1-PD)) = -ln(base_odds)
    assert scaling.score_from_log_odds_bad(-math.log(base_odds)) == pytest.approx(base_points)
    score = scaling.score_from_log_odds_bad(log_odds)
    doubled = scaling.score_from_log_odds_bad(log_odds - math.log(2))  # good odds doubled
    assert doubled - score == pytest.approx(pdo)
    pd_back = float(scaling.pd_from_score(score))
    assert pd_back == pytest.approx(1 / (1 + math.exp(-log_odds)), rel=1e-9)


def test_scaling_rejects_nonsense():
    with pytest.raises(ValidationError) as info:
        PointsScaling(pdo=0)
    assert info.value.field == "pdo"
    with pytest.raises(ValidationError):
        PointsScaling(base_odds=-1)


def test_points_reproduce_the_logistic_model(german_scorecard, german):
    """Σ points ↔ PD of the fitted regression: the scaling loses nothing."""
    woe = np.column_stack([c.woe_of(german.frame[c.name].to_numpy())
                           for c in german_scorecard.characteristics])
    beta = np.array([c.coefficient for c in german_scorecard.characteristics])
    logit = german_scorecard.intercept + woe @ beta
    expected = 1 / (1 + np.exp(-logit))
    np.testing.assert_allclose(german_scorecard.predict_pd(german.frame), expected, rtol=1e-10)
    assert all(c.coefficient < 0 for c in german_scorecard.characteristics)


def test_selection_drops_weak_and_redundant_characteristics(german):
    frame = german.frame.copy()
    rng = np.random.default_rng(0)
    frame["constant"] = 1.5
    frame["duration_copy"] = frame["duration_in_month"] + rng.normal(0, 0.01, len(frame))
    frame["y"] = german.bad
    data = dataset_from_frame(frame, "y")
    scorecard = fit_scorecard(data)
    status = {r.name: r.status for r in scorecard.selection}
    assert status["constant"] == "low_iv"
    # Exactly one of the twins survives, the other is dropped for correlation.
    twins = sorted([status["duration_in_month"], status["duration_copy"]])
    assert twins == ["correlated", "selected"]
    selected = {c.name for c in scorecard.characteristics}
    assert selected == {r.name for r in scorecard.selection if r.status == "selected"}
    assert all(r.iv >= 0.02 for r in scorecard.selection if r.status == "selected")


def test_selection_on_a_known_generating_model():
    """Pure-noise columns fall below the IV floor; noisy copies never join their source."""
    frame, bad, _ = make_applications(30_000, seed=5)
    frame["y"] = bad
    scorecard = fit_scorecard(dataset_from_frame(frame, "y"))
    status = {r.name: r.status for r in scorecard.selection}
    assert all(status[n] == "low_iv" for n in status if n.startswith("noise_"))
    assert status["driver_00"] == "selected"  # the strongest driver
    drivers = [n for n in frame.columns if n.startswith(("driver_", "sparse_"))]
    for j in range(8):
        assert not (status[f"copy_{j:02d}"] == "selected" and status[drivers[j]] == "selected")


def test_batch_equals_single_application(gappy_scorecard, german_gappy_frame):
    batch = gappy_scorecard.score(german_gappy_frame)
    for i in range(0, len(german_gappy_frame), 37):
        single = gappy_scorecard.score_application(german_gappy_frame.iloc[i].to_dict())
        assert single.score == pytest.approx(batch[i], abs=1e-9)
        assert single.pd == pytest.approx(float(gappy_scorecard.scaling.pd_from_score(batch[i])))


def test_reason_codes(german_scorecard, german):
    table = german.frame
    for i in range(0, 1000, 53):
        result = german_scorecard.score_application(table.iloc[i].to_dict())
        assert len(result.reasons) <= 4
        shortfalls = [r.points_below_best for r in result.reasons]
        assert shortfalls == sorted(shortfalls, reverse=True)
        assert all(s > 0 for s in shortfalls)
        for reason in result.reasons:
            characteristic = next(c for c in german_scorecard.characteristics
                                  if c.name == reason.characteristic)
            assert reason.best_points == pytest.approx(max(characteristic.points[:-1]))
            assert reason.points == pytest.approx(result.points[reason.characteristic])
            assert reason.label[0].isupper() and "_" not in reason.label
        # Every characteristic below its best that is not listed costs no more than the last.
        others = [german_scorecard.characteristics[k] for k in
                  range(len(german_scorecard.characteristics))]
        listed = {r.characteristic for r in result.reasons}
        floor = shortfalls[-1] if len(shortfalls) == 4 else 0.0
        for c in others:
            if c.name not in listed:
                assert c.best_points - result.points[c.name] <= floor + 1e-9


def test_best_applicant_has_no_reasons(german_scorecard):
    best = {}
    for c in german_scorecard.characteristics:
        index = int(np.argmax(c.points[:-1]))
        if c.kind == "numeric":
            edges = [-1e9, *c.splits, 1e9]
            best[c.name] = (edges[index] + edges[index + 1]) / 2
        else:
            best[c.name] = c.categories[index][0]
    result = german_scorecard.score_application(best)
    assert result.reasons == ()
    assert result.score == pytest.approx(sum(c.best_points for c in
                                             german_scorecard.characteristics))


def test_application_errors_name_the_field(german_scorecard, german):
    row = german.frame.iloc[0].to_dict()
    name = german_scorecard.characteristics[0].name
    del row[name]
    with pytest.raises(ValidationError) as info:
        german_scorecard.score_application(row)
    assert info.value.field == name
    numeric = next(c.name for c in german_scorecard.characteristics if c.kind == "numeric")
    row = german.frame.iloc[0].to_dict() | {numeric: "lots"}
    with pytest.raises(ValidationError) as info:
        german_scorecard.score_application(row)
    assert info.value.field == numeric


def test_json_round_trip_scores_identically(gappy_scorecard, german_gappy_frame):
    rebuilt = Scorecard.from_json(gappy_scorecard.to_json())
    np.testing.assert_array_equal(rebuilt.score(german_gappy_frame),
                                  gappy_scorecard.score(german_gappy_frame))
    broken = gappy_scorecard.to_json()
    broken["characteristics"][0]["points"] = broken["characteristics"][0]["points"][:-1]
    with pytest.raises(ValidationError):
        Scorecard.from_json(broken)


def test_points_table_covers_every_bin(german_scorecard):
    rows = german_scorecard.points_table()
    assert len(rows) == sum(len(c.points) for c in german_scorecard.characteristics)
    assert {r["bin"] for r in rows if r["characteristic"] == "duration_in_month"} >= {"missing"}


def test_config_validation():
    with pytest.raises(ValidationError) as info:
        ScorecardConfig(monotonic_trend="wiggly")
    assert info.value.field == "monotonic_trend"
    with pytest.raises(ValidationError):
        ScorecardConfig(n_jobs=8)


def test_batch_scoring_is_vectorised(german_scorecard):
    """Loose floor (a per-row Python loop would be ~50x slower); the real figure is in bench/."""
    numeric = pd.DataFrame({c.name: np.random.default_rng(1).normal(20, 10, 200_000)
                            for c in german_scorecard.characteristics if c.kind == "numeric"})
    only_numeric = Scorecard(tuple(c for c in german_scorecard.characteristics
                                   if c.kind == "numeric"),
                             german_scorecard.intercept, german_scorecard.scaling)
    only_numeric.score(numeric)
    started = time.perf_counter()
    only_numeric.score(numeric)
    rows_per_second = len(numeric) / (time.perf_counter() - started)
    assert rows_per_second > 300_000
