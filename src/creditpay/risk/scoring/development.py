"""Model development end to end, without I/O: which rows and columns a model may learn from,
the validation split, the minimum-bads rule, optional reject inference, the fit, and figures
that each say which sample they come from.

Used by ``creditpay model train``; the shell reads the CSV and writes the model directory.

- Rows whose target is empty are not training rows: they are counted by ``label_status``
  (``declined``, ``unmatured``) or as ``unlabelled``, and left out.
- Columns that are not characteristics of the applicant are excluded automatically:
  :data:`NON_FEATURE_COLUMNS` (the previous model's score and grade are its output, a
  leak; ``approved`` and ``label_status`` are outcomes of the old decision) and every time
  column (a date teaches the model the period, not the risk); so is a column empty on
  every labelled row.
- Figures: ``training`` is in-sample (named so, never the performance figure);
  ``validation`` is the held-out (out-of-time when possible) sample with bootstrap
  intervals, reliability table and Brier score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from creditpay.errors import ValidationError
from creditpay.risk.scoring import metrics as m
from creditpay.risk.scoring import reject_inference as ri
from creditpay.risk.scoring.dataset import (
    CreditDataset,
    check_numeric_looking,
    dataset_from_frame,
    typed_features,
)
from creditpay.risk.scoring.validation import (
    TIME_COLUMNS,
    Split,
    check_bad_counts,
    detect_time_column,
    split_for_validation,
    timestamps,
)

__all__ = ["NON_FEATURE_COLUMNS", "Development", "Prepared", "develop", "prepare",
           "sample_figures", "unlabelled_counts"]

NON_FEATURE_COLUMNS = ("score", "grade", "approved", "label_status")


@dataclass(frozen=True)
class Prepared:
    """The labelled data set and what was left out of it."""

    dataset: CreditDataset
    labelled: Any  # raw labelled rows (pandas), aligned with dataset
    declined: Any  # raw declined rows (pandas): reject inference's input
    excluded_rows: dict[str, int]
    excluded_columns: tuple[str, ...]
    time_column: str | None


def unlabelled_counts(frame: Any, target: str) -> tuple[Any, dict[str, int]]:
    """(mask of rows with an empty target, their count by ``label_status`` or
    ``unlabelled``)."""
    missing = frame[target].isna().to_numpy()
    counts: dict[str, int] = {}
    if missing.any():
        if "label_status" in frame.columns:
            statuses = frame.loc[missing, "label_status"].fillna("unlabelled").astype(str)
            counts = {str(k): int(v) for k, v in statuses.value_counts().sort_index().items()}
        else:
            counts = {"unlabelled": int(missing.sum())}
    return missing, counts


def _declined_mask(frame: Any, missing: np.ndarray) -> np.ndarray:
    if "label_status" in frame.columns:
        return (frame["label_status"].astype(str) == "declined").to_numpy() & missing
    if "approved" in frame.columns:
        approved = frame["approved"].astype(str).str.lower()
        return approved.isin(["0", "0.0", "false"]).to_numpy() & missing
    return np.zeros(len(frame), dtype=bool)


def prepare(frame: Any, target: str, bad_value: str | None = None, *,
            categorical: Iterable[str] = (), exclude: Iterable[str] = (),
            time_column: str | None = None, sha256: str | None = None) -> Prepared:
    """Labelled rows typed into a data set, automatic exclusions applied (module
    docstring). Every name in ``exclude`` / ``categorical`` must be a column."""
    if target not in frame.columns:
        raise ValidationError(
            f"target column {target!r} not found; columns are {list(frame.columns)[:30]!r}",
            field="target")
    exclude = set(exclude)
    for name in sorted(exclude | set(categorical)):
        if name not in frame.columns:
            raise ValidationError(f"column {name!r} not found", field=name)
    time_column = detect_time_column(list(frame.columns), time_column)
    missing, counts = unlabelled_counts(frame, target)
    if missing.all():
        raise ValidationError(f"target column {target!r} is empty on every row "
                              f"({', '.join(f'{k} {v}' for k, v in counts.items())})",
                              field="target")
    automatic = [c for c in (*NON_FEATURE_COLUMNS, *TIME_COLUMNS, time_column)
                 if c is not None and c in frame.columns and c != target
                 and c not in exclude and c not in set(categorical)]
    for name in frame.columns:
        # Over every row, labelled or not: a text value in a numeric column is a data error
        # even on a declined row, and would make the column look categorical.
        if name != target and name not in exclude and name not in set(categorical) \
                and name not in automatic:
            check_numeric_looking(frame[name], str(name))
    labelled = frame.loc[~missing].reset_index(drop=True)
    # A column with no value on any labelled row carries no information (and the binning
    # cannot fit on zero rows): left out, and said so with the other exclusions.
    automatic += [c for c in labelled.columns if c != target and c not in exclude
                  and c not in set(categorical) and bool(labelled[c].isna().all())]
    automatic = list(dict.fromkeys(automatic))
    declined = frame.loc[_declined_mask(frame, missing)].reset_index(drop=True)
    dataset = dataset_from_frame(labelled, target, bad_value, categorical=categorical,
                                 exclude=exclude | set(automatic), sha256=sha256)
    return Prepared(dataset, labelled, declined, counts, tuple(automatic), time_column)


@dataclass
class Development:
    """A fitted model and its figures."""

    model: Any
    development: CreditDataset  # accepted rows the model's figures call "training"
    split: Split
    metrics: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None


def sample_figures(model: Any, data: CreditDataset, sample: str, *, bootstrap: int,
                   seed: int, pd_shift: float | None = None) -> dict[str, Any]:
    """AUC, Gini, KS (with stratified bootstrap 95 % intervals when ``bootstrap`` > 0),
    Brier, reliability table, rows, bads and bad rate of ``model`` on ``data``, labelled
    with ``sample``. ``pd_shift``: also the Brier score and reliability table after that
    log-odds shift (PD calibration)."""
    probability = model.predict_pd(data.frame)
    n_bad = int(data.bad.sum())
    figures: dict[str, Any] = {"sample": sample, "rows": data.n_rows, "bads": n_bad,
                               "bad_rate": data.bad_rate}
    if not 0 < n_bad < data.n_rows:
        figures["note"] = "only one class in this sample: no AUC, KS or calibration"
        return figures
    figures.update(m.discrimination(data.bad, probability))
    figures["brier"] = m.brier_score(data.bad, probability)
    figures["mean_pd"] = float(np.mean(probability))
    figures["reliability"] = m.calibration_table(data.bad, probability)
    if bootstrap:
        figures["intervals"] = m.bootstrap_intervals(data.bad, probability,
                                                     replicates=bootstrap, seed=seed)
    if pd_shift is not None:
        shifted = m.shift_pd(probability, pd_shift)
        figures["after_pd_calibration"] = {
            "brier": m.brier_score(data.bad, shifted), "mean_pd": float(np.mean(shifted)),
            "reliability": m.calibration_table(data.bad, shifted)}
    return figures


def _augment(prepared: Prepared, development: CreditDataset, split: Split,
             base: Any, method: str, parcel_factor: float, seed: int,
             ) -> tuple[CreditDataset, dict[str, Any]]:
    """Development sample plus the declined rows with inferred outcomes."""
    import pandas as pd

    declined = prepared.declined
    if split.scheme == "out_of_time" and len(declined):
        # Declined rows of the validation periods are the future too: leave them out.
        column = split.time_column
        assert column is not None
        cut = timestamps([split.validation_from], column)[0]
        declined = declined.loc[timestamps(declined[column], column) < cut].reset_index(
            drop=True)
    if len(declined) == 0:
        raise ValidationError("no declined rows to infer outcomes for (need a label_status "
                              "or approved column marking them, in the development periods)",
                              field="reject_inference")
    declined_frame = typed_features(declined, development.features)
    declined_pd = base.predict_pd(declined_frame)
    stacked = pd.concat([development.frame, declined_frame], ignore_index=True)
    summary: dict[str, Any] = {"method": method, "declined_rows": len(declined),
                               "declined_mean_pd": float(np.mean(declined_pd))}
    if method == "fuzzy":
        rows, bad, weight = ri.fuzzy_augment(development.bad, declined_pd)
        rows, bad = ri.replicate_by_weight(rows, bad, weight)
        summary["resolution"] = ri.FUZZY_RESOLUTION
        summary["declined_weighted_bads"] = float(np.sum(declined_pd))
        frame = stacked.iloc[rows].reset_index(drop=True)
    else:
        accept_pd = base.predict_pd(development.frame)
        inferred, table = ri.parcel(accept_pd, development.bad, declined_pd,
                                    factor=parcel_factor, seed=seed)
        bad = np.concatenate([development.bad, inferred]).astype(np.int8)
        frame = stacked
        summary.update({"factor": parcel_factor, "declined_bads": int(inferred.sum()),
                        "bands": table})
    augmented = CreditDataset(frame, bad, development.features, development.target,
                              development.bad_value, development.sha256)
    return augmented, summary


def develop(prepared: Prepared, fit: Callable[[CreditDataset], Any], *,
            validation_fraction: float = 0.2, seed: int = 0, allow_small: bool = False,
            reject_inference: str | None = None, parcel_factor: float = ri.PARCEL_FACTOR,
            target_bad_rate: float | None = None,
            bootstrap: int = m.BOOTSTRAP_REPLICATES) -> Development:
    """Split, check the bad counts, fit (with reject inference when asked) and measure.

    Refuses (ValidationError naming the target) below the minimum bads unless
    ``allow_small``; then the warning is in the result's ``warning`` and ``metrics``.
    """
    if reject_inference is not None and reject_inference not in ri.METHODS:
        raise ValidationError(f"must be one of {list(ri.METHODS)}", field="reject_inference")
    dataset = prepared.dataset
    times = (prepared.labelled[prepared.time_column].tolist()
             if prepared.time_column is not None else None)
    try:
        split = split_for_validation(dataset.bad, validation_fraction, seed, times,
                                     prepared.time_column)
    except ValidationError as error:
        if error.field != "target":
            raise
        raise ValidationError(f"target column {dataset.target!r}: {error.detail}",
                              field="target") from error
    development = dataset.subset(split.development)
    validation = dataset.subset(split.validation) if split.validation is not None else None
    development_bads = int(development.bad.sum())
    validation_bads = int(validation.bad.sum()) if validation is not None else None
    warning = check_bad_counts(dataset.target, development_bads, validation_bads, allow_small)
    if not 0 < development_bads < development.n_rows:
        raise ValidationError(f"target column {dataset.target!r} has a single class in the "
                              f"training sample ({development.n_rows} rows)", field="target")

    inference = None
    if reject_inference is not None:
        base = fit(development)
        augmented, inference = _augment(prepared, development, split, base,
                                        reject_inference, parcel_factor, seed)
        model = fit(augmented)
    else:
        model = fit(development)

    pd_calibration = None
    shift = None
    if target_bad_rate is not None:
        development_pd = model.predict_pd(development.frame)
        shift = m.intercept_shift_for_bad_rate(development_pd, target_bad_rate)
        pd_calibration = {"target_bad_rate": target_bad_rate,
                          "intercept_shift_log_odds": shift,
                          "reference": "training sample (accepted rows)",
                          "mean_pd_before": float(np.mean(development_pd))}
    scheme_name = {"out_of_time": "out-of-time", "stratified_random": "random holdout"}
    metrics: dict[str, Any] = {
        "validation_scheme": split.to_json(),
        "validation_fraction": validation_fraction, "seed": seed,
        "excluded_rows": prepared.excluded_rows,
        "excluded_columns": list(prepared.excluded_columns),
        "training": sample_figures(model, development,
                                   "training (in-sample: not a performance measure)",
                                   bootstrap=0, seed=seed),
        "validation": (sample_figures(
            model, validation, f"validation ({scheme_name.get(split.scheme, split.scheme)})",
            bootstrap=bootstrap, seed=seed, pd_shift=shift)
            if validation is not None else None),
        "small_sample_warning": warning,
        "reject_inference": inference,
        "pd_calibration": pd_calibration,
    }
    return Development(model, development, split, metrics, warning)
