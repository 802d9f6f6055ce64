"""GBM challenger: LightGBM with optional monotone constraints, calibrated PD, reasons.

Training (docs/risk-models.md has the rationale):

- **Rounds chosen on training data only.** Up to ``holdout_threshold_rows`` rows, a stratified
  ``inner_folds``-fold CV with early stopping picks the number of boosting rounds; the final
  booster is refitted on all rows with that many rounds. Above it, one stratified holdout
  (``holdout_fraction``) serves early stopping and the booster trained on the rest is final
  (refitting a large sample costs more than the few per cent of rows it would add).
- **Calibration to PD on predictions the booster did not train on**: the out-of-fold margins
  of the CV (small data) or the holdout margins (large data). ``"platt"`` (default) fits
  ``PD = σ(a · margin + b)``: two numbers, strictly increasing, so it never changes the
  ranking (AUC) and stays stable on a few hundred bads. ``"isotonic"`` fits a step function
  (more flexible, needs many bads; ties can cost a little AUC); its output is clipped to
  ``[1e-6, 1 − 1e-6]`` so a PD never claims certainty.
- **Monotone constraints** map a numeric feature to ``+1`` (PD may only rise with it), ``−1``
  (only fall) or ``0``; LightGBM enforces them on the margin, and the calibrator is monotone,
  so the PD obeys them too.
- **Reasons** come from LightGBM's exact TreeSHAP contributions (``pred_contrib=True``) on the
  margin (log-odds of bad): the up-to-four features pushing this applicant most towards bad.
  The calibrator is monotone, so it preserves the direction of every push.

**No tuning on test data**: the LightGBM settings are fixed a priori (``GbmConfig``) and the
only data-driven choices (rounds, calibrator) use the training rows passed to :func:`fit_gbm`.
``creditpay bench scoring-public`` measures these defaults against ``LGBMClassifier()`` on
public sets (docs/risk-models.md, "Defaults and how they compare").

Categorical features are integer-coded against the training vocabulary and handled natively
by LightGBM; unseen and missing categories become NaN (LightGBM's missing branch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from creditpay.errors import ValidationError
from creditpay.risk.scoring.dataset import CreditDataset, FeatureSpec, category_key
from creditpay.risk.scoring.scorecard import PointsScaling, readable_name

__all__ = [
    "Calibrator",
    "GbmApplicationScore",
    "GbmConfig",
    "GbmModel",
    "GbmReason",
    "fit_calibrator",
    "fit_gbm",
]

_PD_FLOOR = 1e-6
SINGLE_THREAD_ROWS_MAX = 50_000
SMALL_BATCH_ROWS = 1_000


@dataclass(frozen=True)
class GbmConfig:
    """LightGBM and calibration settings.

    Defaults are fixed a priori for application data of a few thousand to a few hundred
    thousand rows: shallow trees (8 leaves), slow learning rate, row and feature subsampling
    and L2 on leaf values; the number of rounds is always chosen by early stopping.
    """

    learning_rate: float = 0.03
    num_leaves: int = 8
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_bin: int = 255
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    inner_folds: int = 5
    holdout_threshold_rows: int = 200_000
    holdout_fraction: float = 0.2
    calibration: str = "platt"
    monotone: Mapping[str, int] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    scaling: PointsScaling = field(default_factory=PointsScaling)
    max_reasons: int = 4
    num_threads: int | None = None  # None: 1 below SINGLE_THREAD_ROWS_MAX rows, else 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.calibration not in ("platt", "isotonic"):
            raise ValidationError("calibration must be 'platt' or 'isotonic'",
                                  field="calibration")
        if self.num_threads is not None and not 1 <= self.num_threads <= 2:
            # shared 2-core machines: never more
            raise ValidationError("num_threads must be 1 or 2", field="num_threads")
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValidationError("learning rate must be in (0, 1]", field="learning_rate")
        if self.num_leaves < 2 or self.max_rounds < 1 or self.inner_folds < 2:
            raise ValidationError("num_leaves ≥ 2, max_rounds ≥ 1, inner_folds ≥ 2",
                                  field="gbm")
        if not 0.05 <= self.holdout_fraction <= 0.5:
            raise ValidationError("holdout fraction must be in [0.05, 0.5]",
                                  field="holdout_fraction")
        for name, sign in self.monotone.items():
            if sign not in (-1, 0, 1):
                raise ValidationError(f"monotone constraint of {name!r} must be -1, 0 or 1",
                                      field="monotone")

    def threads_for(self, n_rows: int) -> int:
        """Threads to train on ``n_rows``: on small data OpenMP start-up and contention cost
        more than a second thread gains (and on a busy shared machine, much more)."""
        if self.num_threads is not None:
            return self.num_threads
        return 1 if n_rows <= SINGLE_THREAD_ROWS_MAX else 2

    def lightgbm_params(self, n_rows: int = 0) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "num_threads": self.threads_for(n_rows),
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbose": -1,
        }

    def to_json(self) -> dict[str, Any]:
        data = self.lightgbm_params()
        data.update({
            "max_rounds": self.max_rounds,
            "early_stopping_rounds": self.early_stopping_rounds,
            "inner_folds": self.inner_folds,
            "holdout_threshold_rows": self.holdout_threshold_rows,
            "holdout_fraction": self.holdout_fraction,
            "calibration": self.calibration,
            "monotone": dict(self.monotone),
            "max_reasons": self.max_reasons,
        })
        return data


@dataclass(frozen=True)
class Calibrator:
    """Monotone map from LightGBM margin (log-odds) to PD; JSON-serialisable, no pickle."""

    method: str
    slope: float = 1.0
    intercept: float = 0.0
    x_thresholds: tuple[float, ...] = ()
    y_thresholds: tuple[float, ...] = ()

    def __call__(self, margin: Any) -> np.ndarray:
        margin = np.asarray(margin, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.slope * margin + self.intercept)))
        # np.interp clamps outside the fitted range, as IsotonicRegression(out_of_bounds="clip").
        fitted = np.interp(margin, self.x_thresholds, self.y_thresholds)
        return np.clip(fitted, _PD_FLOOR, 1.0 - _PD_FLOOR)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "slope": self.slope, "intercept": self.intercept,
                "x_thresholds": list(self.x_thresholds),
                "y_thresholds": list(self.y_thresholds)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibrator:
        try:
            calibrator = cls(str(data["method"]), float(data["slope"]), float(data["intercept"]),
                             tuple(float(x) for x in data["x_thresholds"]),
                             tuple(float(y) for y in data["y_thresholds"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"calibrator is malformed: {exc!r}", field="model") from exc
        if calibrator.method == "platt":
            if not (math.isfinite(calibrator.slope) and calibrator.slope > 0):
                raise ValidationError("Platt slope must be positive", field="model")
        elif calibrator.method == "isotonic":
            x, y = np.asarray(calibrator.x_thresholds), np.asarray(calibrator.y_thresholds)
            if x.size < 1 or x.size != y.size or np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                raise ValidationError("isotonic thresholds must be non-decreasing pairs",
                                      field="model")
        else:
            raise ValidationError(f"unknown calibration {calibrator.method!r}", field="model")
        return calibrator


def fit_calibrator(margin: np.ndarray, bad: np.ndarray, method: str) -> Calibrator:
    """Fit a :class:`Calibrator` on margins the booster did not train on."""
    margin = np.asarray(margin, dtype=np.float64)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        # Essentially unpenalised: two parameters on thousands of rows need no shrinkage.
        model = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), bad)
        slope = float(model.coef_[0, 0])
        if slope <= 0:
            raise ValidationError("the GBM margin does not rank bads above goods out of fold",
                                  field="data")
        return Calibrator("platt", slope=slope, intercept=float(model.intercept_[0]))
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(margin, bad)
        return Calibrator("isotonic", x_thresholds=tuple(map(float, iso.X_thresholds_)),
                          y_thresholds=tuple(map(float, iso.y_thresholds_)))
    raise ValidationError(f"unknown calibration {method!r}", field="calibration")


@dataclass(frozen=True, slots=True)
class GbmReason:
    """A feature pushing the applicant towards bad, in log-odds of bad (margin units)."""

    rank: int
    feature: str
    label: str
    value: Any
    contribution: float

    @property
    def text(self) -> str:
        return f"{self.label} = {self.value!r} raises the risk (+{self.contribution:.3f} log-odds)"

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "feature": self.feature, "label": self.label,
                "value": self.value, "contribution": round(self.contribution, 6),
                "text": self.text}


@dataclass(frozen=True, slots=True)
class GbmApplicationScore:
    score: float
    pd: float
    reasons: tuple[GbmReason, ...]

    def to_json(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "pd": self.pd,
                "reasons": [r.to_json() for r in self.reasons]}


@dataclass(frozen=True)
class GbmModel:
    """A trained booster with its feature encoding and PD calibrator."""

    booster: Any  # lightgbm.Booster
    features: tuple[FeatureSpec, ...]
    vocabularies: Mapping[str, tuple[str, ...]]
    calibrator: Calibrator
    scaling: PointsScaling
    labels: Mapping[str, str] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    max_reasons: int = 4

    kind = "gbm"

    @property
    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        return self.features

    def matrix(self, frame: Any) -> np.ndarray:
        """Float64 design matrix: numeric as-is, categories as vocabulary codes (NaN = none)."""
        import pandas as pd

        columns = []
        for spec in self.features:
            try:
                column = frame[spec.name]
            except KeyError as exc:
                raise ValidationError(f"column {spec.name!r} required by the model is missing",
                                      field=spec.name) from exc
            if spec.kind == "numeric":
                try:
                    columns.append(np.asarray(column, dtype=np.float64))
                except (TypeError, ValueError) as exc:
                    raise ValidationError(f"numeric column {spec.name!r} has non-numeric values",
                                          field=spec.name) from exc
            else:
                lookup: dict[str | None, float] = {
                    c: float(i) for i, c in enumerate(self.vocabularies[spec.name])}
                codes, uniques = pd.factorize(np.asarray(column, dtype=object))
                table = np.array([lookup.get(category_key(u), np.nan) for u in uniques]
                                 + [np.nan], dtype=np.float64)
                columns.append(table[codes])
        return np.column_stack(columns)

    def predict_margin(self, frame: Any) -> np.ndarray:
        matrix = self.matrix(frame)
        return self.booster.predict(matrix, raw_score=True, **_predict_threads(matrix))

    def predict_pd(self, frame: Any) -> np.ndarray:
        """Calibrated probability of bad of every row."""
        return self.calibrator(self.predict_margin(frame))

    def score(self, frame: Any) -> np.ndarray:
        """PD expressed as points on the scorecard scale (higher is safer)."""
        return _points_from_pd(self.predict_pd(frame), self.scaling)

    def reasons(self, frame: Any) -> list[tuple[GbmReason, ...]]:
        """Top features pushing each row towards bad (vectorised TreeSHAP)."""
        matrix = self.matrix(frame)
        contributions = self.booster.predict(matrix, pred_contrib=True,
                                             **_predict_threads(matrix))[:, :-1]  # drop bias
        order = np.argsort(-contributions, axis=1, kind="stable")[:, : self.max_reasons]
        result = []
        for row in range(matrix.shape[0]):
            reasons: list[GbmReason] = []
            for j in order[row]:
                value = float(contributions[row, j])
                if value <= 0:
                    break
                spec = self.features[j]
                reasons.append(GbmReason(len(reasons) + 1, spec.name,
                                         readable_name(spec.name, self.labels),
                                         _display_value(frame, spec, row), value))
            result.append(tuple(reasons))
        return result

    def score_application(self, applicant: Mapping[str, Any]) -> GbmApplicationScore:
        """Score one application (column → value) with its reasons."""
        for spec in self.features:
            if spec.name not in applicant:
                raise ValidationError(f"application lacks {spec.name!r}", field=spec.name)
        frame = {spec.name: [applicant[spec.name]] for spec in self.features}
        probability = float(self.predict_pd(frame)[0])
        score = float(_points_from_pd(np.array([probability]), self.scaling)[0])
        return GbmApplicationScore(score, probability, self.reasons(frame)[0])


def dense_prediction(prediction: object) -> np.ndarray:
    """A lightgbm prediction as the array it is: lightgbm types ``predict`` for sparse
    inputs too (a sparse matrix or a list of them); every input here is a dense array."""
    assert isinstance(prediction, np.ndarray), type(prediction)
    return prediction


def _predict_threads(matrix: np.ndarray) -> dict[str, int]:
    """One thread for small batches: waking an OpenMP team costs more than it saves on a
    few rows (milliseconds on a busy machine); large batches use two. Always explicit, so
    one call's setting never leaks into the next."""
    return {"num_threads": 1 if matrix.shape[0] < SMALL_BATCH_ROWS else 2}


def _display_value(frame: Any, spec: FeatureSpec, row: int) -> Any:
    """The applicant's raw value of ``spec`` as plain JSON (None when missing)."""
    column = frame[spec.name]
    value = column.iloc[row] if hasattr(column, "iloc") else column[row]
    if spec.kind == "categorical":
        return category_key(value)
    value = float(value) if value is not None else math.nan
    return None if math.isnan(value) else value


def _points_from_pd(probability: np.ndarray, scaling: PointsScaling) -> np.ndarray:
    p = np.clip(probability, _PD_FLOOR, 1.0 - _PD_FLOOR)
    return scaling.score_from_log_odds_bad(np.log(p / (1.0 - p)))


def _monotone_vector(features: tuple[FeatureSpec, ...], monotone: Mapping[str, int]) -> list[int]:
    names = {f.name: f for f in features}
    for name in monotone:
        if name not in names:
            raise ValidationError(f"monotone constraint on unknown feature {name!r}",
                                  field="monotone")
        if names[name].kind != "numeric" and monotone[name] != 0:
            raise ValidationError(f"monotone constraint on categorical feature {name!r}",
                                  field="monotone")
    return [int(monotone.get(f.name, 0)) for f in features]


def fit_gbm(data: CreditDataset, config: GbmConfig | None = None) -> GbmModel:
    """Train, choose rounds by early stopping and calibrate (module docstring)."""
    import lightgbm as lgb
    from sklearn.model_selection import StratifiedKFold, train_test_split

    config = config or GbmConfig()
    if data.bad.min() == data.bad.max():
        raise ValidationError("training data holds a single class", field="target")
    vocabularies = {
        f.name: tuple(sorted({v for v in data.frame[f.name] if v is not None}))
        for f in data.features if f.kind == "categorical"
    }
    draft = GbmModel(None, data.features, vocabularies, Calibrator("platt"), config.scaling)
    matrix = draft.matrix(data.frame)
    categorical = [i for i, f in enumerate(data.features) if f.kind == "categorical"]
    params = config.lightgbm_params(data.n_rows)
    monotone = _monotone_vector(data.features, config.monotone)
    if any(monotone):
        params["monotone_constraints"] = monotone
    y = data.bad.astype(np.float64)
    stop = lgb.early_stopping(config.early_stopping_rounds, verbose=False)

    if data.n_rows <= config.holdout_threshold_rows:
        folds = list(StratifiedKFold(config.inner_folds, shuffle=True, random_state=config.seed)
                     .split(matrix, data.bad))
        dataset = lgb.Dataset(matrix, y, categorical_feature=categorical or "auto",
                              free_raw_data=False, params={"max_bin": config.max_bin})
        result = lgb.cv(params, dataset, num_boost_round=config.max_rounds, folds=folds,
                        callbacks=[stop], return_cvbooster=True)
        curve, cv_booster = result["valid binary_logloss-mean"], result["cvbooster"]
        # lightgbm types every value of cv()'s dict as either; return_cvbooster sets these.
        assert isinstance(curve, list) and isinstance(cv_booster, lgb.CVBooster)
        rounds = len(curve)
        out_of_fold = np.empty(data.n_rows)
        for booster, (_, held) in zip(cv_booster.boosters, folds, strict=True):
            out_of_fold[held] = dense_prediction(booster.predict(
                matrix[held], num_iteration=rounds, raw_score=True))
        calibrator = fit_calibrator(out_of_fold, data.bad, config.calibration)
        booster = lgb.train(params, dataset, num_boost_round=rounds)
    else:
        fit_rows, held = train_test_split(np.arange(data.n_rows), test_size=config.holdout_fraction,
                                          stratify=data.bad, random_state=config.seed)
        train_set = lgb.Dataset(matrix[fit_rows], y[fit_rows],
                                categorical_feature=categorical or "auto",
                                params={"max_bin": config.max_bin})
        valid_set = lgb.Dataset(matrix[held], y[held], reference=train_set)
        booster = lgb.train(params, train_set, num_boost_round=config.max_rounds,
                            valid_sets=[valid_set], callbacks=[stop])
        rounds = booster.best_iteration or booster.current_iteration()
        booster = _truncate(booster, rounds)
        calibrator = fit_calibrator(booster.predict(matrix[held], raw_score=True),
                                    data.bad[held], config.calibration)

    settings = config.to_json()
    settings["rounds"] = int(rounds)
    settings["num_threads"] = params["num_threads"]
    return GbmModel(booster, data.features, vocabularies, calibrator, config.scaling,
                    dict(config.labels), settings, config.max_reasons)


def _truncate(booster: Any, rounds: int) -> Any:
    """A booster holding only the first ``rounds`` trees (what early stopping chose)."""
    import lightgbm as lgb

    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))
