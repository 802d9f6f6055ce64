"""Speed bench: training and scoring on a synthetic portfolio with a known PD model.

Synthetic data (:func:`make_applications`): ``n_features`` numeric characteristics, of which
16 drive a known logistic PD through monotone, partly non-linear effects (log income,
capped utilisation, counts, a threshold on tenure), four carry missing values with their own
risk, eight are noisy copies of drivers (correlated, redundant) and the rest are pure noise.
The true PD of every row is returned, so the oracle AUC bounds what any model can reach.

Measured in one run: scorecard and GBM training time (the scorecard searches bins on a
200,000-row subsample and counts WoE and fits the regression on every row; the GBM uses a 20 %
early-stopping holdout, see :mod:`creditpay.risk.scoring.gbm`), batch scoring throughput of
both next to two references on the same data (a numpy pass summing the same columns: the
memory-bound floor of any per-row scoring; bare LightGBM ``Booster.predict`` on the prebuilt
matrix), and single-application latency in process: the model alone (score + reasons) and
the whole decision (platform events validated and stored, features, score, policy, the
decision row, commit) as :mod:`creditpay.benchmarks.decision` measures it, which is what the
issue's p99 target is about.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["make_applications", "run_scoring_bench", "single_decision_latency"]

_DRIVERS = 16
_MISSING = 4
_COPIES = 8


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_applications(n_rows: int, n_features: int = 40, seed: int = 0,
                      bad_rate: float = 0.08) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(frame, bad, true_pd)``: a pandas frame of numeric features, 0/1 bads, the true PD."""
    import pandas as pd

    if n_features < _DRIVERS + _MISSING + _COPIES:
        raise ValueError(f"need at least {_DRIVERS + _MISSING + _COPIES} features")
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    logit = np.zeros(n_rows)
    for j in range(_DRIVERS):
        shape = j % 4
        effect: np.ndarray
        if shape == 0:    # income-like: lognormal, risk falls with log income
            x = rng.lognormal(mean=8.5, sigma=0.6, size=n_rows)
            effect = -0.55 * (np.log(x) - 8.5) / 0.6
        elif shape == 1:  # utilisation-like: risk rises, saturating above 90 %
            x = rng.beta(2.0, 3.0, size=n_rows)
            effect = 1.6 * np.minimum(x, 0.9)
        elif shape == 2:  # count-like: enquiries, delinquencies
            x = rng.poisson(2.0 + j / 4, size=n_rows).astype(np.float64)
            effect = 0.35 * np.sqrt(x)
        else:             # tenure-like: a step at 12 months, then flat
            x = rng.gamma(2.0, 15.0, size=n_rows)
            effect = -0.7 * (x >= 12.0)
        weight = 1.0 / (1.0 + j / 6)  # later drivers matter less
        columns[f"driver_{j:02d}"] = x
        logit += weight * (effect - effect.mean())
    for j in range(_MISSING):
        x = rng.normal(0.0, 1.0, size=n_rows)
        missing = rng.random(n_rows) < 0.05 + 0.03 * j
        effect = np.where(missing, 0.6, 0.3 * x)  # missing is itself a (bad) signal
        logit += effect - effect.mean()
        columns[f"sparse_{j:02d}"] = np.where(missing, np.nan, x)
    drivers = list(columns)
    for j in range(_COPIES):
        source = columns[drivers[j]]
        noise = rng.normal(0.0, np.nanstd(source) * 0.3, size=n_rows)
        columns[f"copy_{j:02d}"] = source + noise
    for j in range(n_features - len(columns)):
        columns[f"noise_{j:02d}"] = rng.normal(0.0, 1.0, size=n_rows)
    # Intercept solved so the mean true PD hits bad_rate.
    low, high = -10.0, 5.0
    for _ in range(60):
        middle = (low + high) / 2
        if _sigmoid(logit + middle).mean() < bad_rate:
            low = middle
        else:
            high = middle
    true_pd = _sigmoid(logit + (low + high) / 2)
    bad = (rng.random(n_rows) < true_pd).astype(np.int8)
    return pd.DataFrame(columns), bad, true_pd


def single_decision_latency(decide: Callable[[Mapping[str, Any]], Any],
                            applications: Iterable[Mapping[str, Any]],
                            warmup: int = 200) -> dict[str, float]:
    """Per-call latency of ``decide`` over ``applications``: p50, p99, max in milliseconds.

    ``decide`` is any one-application function (a model's ``score_application``, a whole
    decision). The first ``warmup`` applications are run once untimed and then timed with
    the rest: pass ``warmup=0`` when a second call of the same application is not the same
    work (a stored decision's retry is a read).
    """
    applications = list(applications)
    for application in applications[:warmup]:
        decide(application)
    gc.collect()  # start from a clean heap, not the garbage of the batch phase before
    timings = np.empty(len(applications))
    clock = time.perf_counter_ns
    for i, application in enumerate(applications):
        started = clock()
        decide(application)
        timings[i] = clock() - started
    timings /= 1e6
    return {"calls": len(applications),
            "latency_ms_p50": round(float(np.percentile(timings, 50)), 4),
            "latency_ms_p99": round(float(np.percentile(timings, 99)), 4),
            "latency_ms_max": round(float(timings.max()), 4)}


def _best_seconds(run: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def run_scoring_bench(n_rows: int = 1_000_000, n_features: int = 40, seed: int = 7,
                      test_rows: int = 200_000, repeats: int = 3,
                      latency_calls: int = 5000, decision_applications: int = 2000,
                      progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the whole bench; return a JSON-ready dict (module docstring)."""
    from creditpay.risk.scoring.dataset import FeatureSpec, dataset_from_frame
    from creditpay.risk.scoring.gbm import GbmConfig, fit_gbm
    from creditpay.risk.scoring.metrics import roc_auc
    from creditpay.risk.scoring.scorecard import ScorecardConfig, fit_scorecard

    def step(message: str) -> None:
        if progress is not None:
            progress(message)

    step("generating data")
    frame, bad, _ = make_applications(n_rows, n_features, seed)
    test_frame, test_bad, test_pd = make_applications(test_rows, n_features, seed + 1)
    features = tuple(FeatureSpec(name, "numeric") for name in frame.columns)
    frame["bad"] = bad
    data = dataset_from_frame(frame, "bad", features=features)
    frame = frame.drop(columns=["bad"])

    step("training scorecard")
    started = time.perf_counter()
    scorecard = fit_scorecard(data, ScorecardConfig(binning_sample_rows=200_000, seed=seed))
    scorecard_train_s = time.perf_counter() - started

    step("training GBM")
    # Large-data settings, fixed a priori: coarser histograms (63 bins) and half-row bagging
    # halve the cost of a round on 1M rows at no measurable AUC cost.
    gbm_config = GbmConfig(learning_rate=0.1, num_leaves=31, min_data_in_leaf=200, max_bin=63,
                           bagging_fraction=0.5, max_rounds=400, early_stopping_rounds=20,
                           seed=seed)
    started = time.perf_counter()
    gbm = fit_gbm(data, gbm_config)
    gbm_train_s = time.perf_counter() - started
    del data

    step("batch scoring")
    scorecard_s = _best_seconds(lambda: scorecard.score(frame), repeats)
    used = [c.name for c in scorecard.characteristics]
    numpy_s = _best_seconds(lambda: np.sum([frame[name].to_numpy() for name in used], axis=0),
                            repeats)
    matrix = gbm.matrix(frame)
    gbm_s = _best_seconds(lambda: gbm.predict_pd(frame), repeats)
    bare_s = _best_seconds(lambda: gbm.booster.predict(matrix, raw_score=True), repeats)

    step("single-application latency")
    rows = test_frame.iloc[:latency_calls].to_dict(orient="records")
    latency = single_decision_latency(scorecard.score_application, rows)
    gbm_latency = single_decision_latency(gbm.score_application, rows[:500], warmup=50)

    step("whole decisions (features + score + policy + persistence)")
    from creditpay.benchmarks.decision import run_decision_bench

    decision = run_decision_bench(decision_applications, seed=0,
                                  warmup=min(200, decision_applications))

    return {
        "benchmark": "scoring",
        "data": {"train_rows": n_rows, "test_rows": test_rows, "features": n_features,
                 "bad_rate": round(float(bad.mean()), 4), "seed": seed},
        "auc_test": {"oracle_true_pd": round(roc_auc(test_bad, test_pd), 4),
                     "scorecard": round(roc_auc(test_bad, scorecard.predict_pd(test_frame)), 4),
                     "gbm": round(roc_auc(test_bad, gbm.predict_pd(test_frame)), 4)},
        "training_seconds": {"scorecard": round(scorecard_train_s, 2),
                             "scorecard_binning_sample_rows": 200_000,
                             "scorecard_characteristics": len(scorecard.characteristics),
                             "gbm": round(gbm_train_s, 2),
                             "gbm_rounds": gbm.config["rounds"],
                             "gbm_num_threads": gbm.config["num_threads"]},
        "batch_rows_per_second": {
            "scorecard": round(n_rows / scorecard_s),
            "reference_numpy_column_sum": round(n_rows / numpy_s),
            "scorecard_vs_numpy_ratio": round(numpy_s / scorecard_s, 4),
            "gbm_calibrated_pd": round(n_rows / gbm_s),
            "reference_lightgbm_predict": round(n_rows / bare_s),
            "gbm_vs_lightgbm_ratio": round(bare_s / gbm_s, 4),
        },
        "single_application": {
            "scorecard_score_and_reasons": latency,
            "gbm_score_and_reasons": gbm_latency,
            "decision_features_score_policy_persistence": {
                **decision["decision"], "store": decision["store"],
                "events_per_application_mean": decision["events_per_application_mean"],
                "reference_commit_ms_p50": decision["reference_commit"]["latency_ms_p50"],
                "statements_per_decision": decision["statements_per_decision"]}},
        "targets": {"training_seconds_max": 120, "scorecard_rows_per_second_min": 500_000,
                    "decision_latency_ms_p99_max": 10},
        "targets_met": {
            "training": max(scorecard_train_s, gbm_train_s) <= 120,
            "scorecard_rows_per_second": n_rows / scorecard_s >= 500_000,
            "decision_latency_p99": decision["decision"]["latency_ms_p99"] <= 10},
    }
