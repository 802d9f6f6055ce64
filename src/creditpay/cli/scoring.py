"""``creditpay model train|evaluate|report`` and ``creditpay bench german-credit|scoring|
scoring-public``.

This is the imperative shell: it reads files, reads the wall clock (for ``created_at``) and
prints. Heavy libraries load inside the commands so ``creditpay --help`` stays fast. Bad
input exits with status 2 and a message naming the option or column at fault.
"""

from __future__ import annotations

import enum
import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from creditpay.errors import ValidationError

__all__ = ["model_app", "register"]

model_app = typer.Typer(help="Credit scoring models: train, evaluate, report.",
                        no_args_is_help=True)

_OPTION_OF_FIELD = {
    "data": "--data", "target": "--target", "bad_value": "--bad-value", "model": "--model",
    "out": "--out", "kind": "--kind", "created_at": "--created-at", "monotone": "--monotone",
    "baseline": "--baseline", "validation_fraction": "--validation-fraction",
    "monotonic_trend": "--trend", "calibration": "--calibration",
    "time_column": "--time-column", "period": "--period",
    "reject_inference": "--reject-inference", "target_bad_rate": "--target-bad-rate",
    "parcel_factor": "--parcel-factor", "bootstrap": "--bootstrap",
    "approve_share": "--approve-share",
}
F = TypeVar("F", bound=Callable[..., Any])


class ModelKind(enum.StrEnum):
    scorecard = "scorecard"
    gbm = "gbm"


def _fail(error: ValidationError) -> None:
    field = error.field or ""
    where = _OPTION_OF_FIELD.get(field, f"column {field!r}" if field else "input")
    typer.echo(f"Error: {where}: {error.detail}", err=True)
    raise typer.Exit(code=2)


def _domain_errors(command: F) -> F:
    """Render :class:`ValidationError` as a one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ValidationError as error:
            _fail(error)

    return wrapper  # type: ignore[return-value]


def _status(message: str) -> Any:
    from rich.console import Console

    return Console(stderr=True).status(message)


def _parse_monotone(items: list[str]) -> dict[str, int]:
    constraints = {}
    for item in items:
        name, _, sign = item.partition("=")
        if not name or sign not in ("+1", "1", "-1", "0"):
            raise ValidationError(f"{item!r} is not NAME=+1, NAME=-1 or NAME=0", field="monotone")
        constraints[name] = int(sign)
    return constraints


def _now_iso() -> str:
    from creditpay.clock import SystemClock

    return SystemClock().now().isoformat(timespec="seconds")


DataOption = Annotated[Path, typer.Option("--data", help="CSV file, one row per application.")]
TargetOption = Annotated[str, typer.Option("--target", help="Column saying good or bad.")]
BadValueOption = Annotated[str | None, typer.Option(
    "--bad-value", help="Target value meaning bad (default: 1 for a 0/1 target; for an "
                        "existing model, the value it was trained with).")]


class RejectInference(enum.StrEnum):
    parcelling = "parcelling"
    fuzzy = "fuzzy"


def _say(message: str) -> None:
    """A line for the person at the terminal (stderr: stdout carries the JSON)."""
    typer.echo(message, err=True)


def _loud(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]WARNING: {message}[/bold red]", highlight=False)


@model_app.command("train")
@_domain_errors
def train(
    data: DataOption,
    target: TargetOption,
    kind: Annotated[ModelKind, typer.Option("--kind", help="scorecard or gbm.")
                    ] = ModelKind.scorecard,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Model directory to create (default: models/<kind>-<data file stem>).")
    ] = None,
    bad_value: BadValueOption = None,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    author: Annotated[str, typer.Option(help="Recorded in the manifest.")] = "creditpay",
    model_version: Annotated[str, typer.Option(help="Recorded in the manifest.")] = "1",
    created_at: Annotated[str | None, typer.Option(
        help="ISO 8601 time recorded in the manifest (default: now, UTC).")] = None,
    validation_fraction: Annotated[float, typer.Option(
        help="Share held out for validation: the latest periods when there is a time "
             "column, else a stratified random sample (0 = none, only with --allow-small)."
    )] = 0.2,
    time_column: Annotated[str | None, typer.Option(
        "--time-column", help="Date column for the out-of-time split (default: the first of "
        "application_date, application_month, decided_at present).")] = None,
    allow_small: Annotated[bool, typer.Option(
        "--allow-small", help="Train even below the minimum bads (50 training, 20 "
        "validation); the model and its report carry the warning.")] = False,
    target_bad_rate: Annotated[float | None, typer.Option(
        help="Calibrate the PD to this mean bad rate (log-odds intercept shift on the "
             "training sample), recorded in the manifest.")] = None,
    reject_inference: Annotated[RejectInference | None, typer.Option(
        "--reject-inference", help="Infer declined rows' outcomes: parcelling or fuzzy.")
    ] = None,
    parcel_factor: Annotated[float, typer.Option(
        help="Parcelling: declined bad rate = accepts' band bad rate × this.")] = 2.0,
    bootstrap: Annotated[int, typer.Option(
        help="Bootstrap replicates of the validation intervals (0 = none).")] = 1000,
    categorical: Annotated[list[str] | None, typer.Option(
        help="Force a column to be categorical (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        help="Column not to use as a feature (repeatable).")] = None,
    trend: Annotated[str, typer.Option(
        help="Scorecard bin trend: auto (monotone or one turning point), auto_asc_desc "
             "(strictly monotone), ascending, descending, peak, valley.")] = "auto",
    monotone: Annotated[list[str] | None, typer.Option(
        help="GBM constraint NAME=+1 (PD rises with NAME), NAME=-1 or NAME=0 (repeatable).")
    ] = None,
    calibration: Annotated[str, typer.Option(help="GBM calibration: platt or isotonic.")
                           ] = "platt",
) -> None:
    """Train a scorecard (default) or a GBM on a CSV and write a model directory.

    Rows with an empty target (declined, unmatured) are left out and counted; the old
    model's score and grade, approved, label_status and date columns are never features.
    """
    from creditpay.risk.scoring.artifact import development_baseline, save_model
    from creditpay.risk.scoring.dataset import read_frame
    from creditpay.risk.scoring.development import develop, prepare

    if not 0.0 <= validation_fraction < 0.9:
        raise ValidationError("must be in [0, 0.9)", field="validation_fraction")
    if bootstrap != 0 and not 10 <= bootstrap <= 100_000:
        raise ValidationError("0 or between 10 and 100000", field="bootstrap")
    if reject_inference is RejectInference.fuzzy and kind is ModelKind.gbm:
        # Fuzzy weights become row copies (the fit functions take no weights); the GBM's
        # early-stopping split would then see copies of one row on both sides.
        raise ValidationError("fuzzy augmentation is for the scorecard; use parcelling "
                              "with the GBM", field="reject_inference")
    out = out if out is not None else Path("models") / f"{kind.value}-{data.stem}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValidationError(f"{str(out)!r} exists and is not empty", field="out")
    stamp = created_at or _now_iso()
    monotone_constraints = _parse_monotone(monotone or [])
    frame, sha256 = read_frame(data)
    prepared = prepare(frame, target, bad_value, categorical=categorical or (),
                       exclude=exclude or (), time_column=time_column, sha256=sha256)
    if prepared.excluded_rows:
        counts = ", ".join(f"{status} {n}" for status, n in prepared.excluded_rows.items())
        _say(f"left out {sum(prepared.excluded_rows.values())} row(s) with an empty "
             f"{target!r} ({counts})")
    if prepared.excluded_columns:
        _say(f"not used as features: {', '.join(prepared.excluded_columns)}")

    def fit(sample: Any) -> Any:
        with _status(f"training {kind.value} on {sample.n_rows} rows"):
            if kind is ModelKind.scorecard:
                from creditpay.risk.scoring.scorecard import ScorecardConfig, fit_scorecard

                return fit_scorecard(sample, ScorecardConfig(monotonic_trend=trend, seed=seed))
            from creditpay.risk.scoring.gbm import GbmConfig, fit_gbm

            return fit_gbm(sample, GbmConfig(monotone=monotone_constraints,
                                             calibration=calibration, seed=seed))

    result = develop(prepared, fit, validation_fraction=validation_fraction, seed=seed,
                     allow_small=allow_small,
                     reject_inference=reject_inference.value if reject_inference else None,
                     parcel_factor=parcel_factor, target_bad_rate=target_bad_rate,
                     bootstrap=bootstrap)
    if result.warning:
        _loud(f"--allow-small: {result.warning}")
    save_model(out, result.model, data=prepared.dataset, created_at=stamp, author=author,
               model_version=model_version, metrics=result.metrics,
               baseline=development_baseline(result.model, result.development))
    _say(f"model written to {out}")
    shown = {key: value for key, value in result.metrics.items()
             if key not in ("training", "validation")}
    for sample in ("training", "validation"):
        figures = result.metrics[sample]
        shown[sample] = None if figures is None else {
            k: v for k, v in figures.items() if k not in ("reliability", "after_pd_calibration")}
    if shown.get("reject_inference"):
        shown["reject_inference"] = {k: v for k, v in shown["reject_inference"].items()
                                     if k != "bands"}
    typer.echo(json.dumps({"model": str(out), "kind": kind.value,
                           "rows": prepared.dataset.n_rows,
                           "features": len(result.model.feature_specs),
                           "metrics": _rounded(shown)}, indent=1))


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value


@dataclass(frozen=True)
class _Scored:
    loaded: Any
    dataset: Any
    labelled: Any  # raw labelled rows, aligned with dataset (age, sex, dates)
    sample: str  # which sample these rows are, as the output names it


def _load_for_scoring(model_dir: Path, data: Path, target: str, bad_value: str | None,
                      ) -> _Scored:
    from creditpay.risk.scoring.artifact import load_model
    from creditpay.risk.scoring.dataset import dataset_from_frame, read_frame
    from creditpay.risk.scoring.development import unlabelled_counts

    loaded = load_model(model_dir)
    bad_value = bad_value if bad_value is not None else loaded.manifest["target"]["bad_value"]
    frame, sha256 = read_frame(data)
    if target not in frame.columns:
        raise ValidationError(
            f"target column {target!r} not found; columns are {list(frame.columns)[:30]!r}",
            field="target")
    missing, counts = unlabelled_counts(frame, target)
    if missing.all():
        raise ValidationError(f"target column {target!r} is empty on every row", field="target")
    if counts:
        _say(f"left out {int(missing.sum())} row(s) with an empty {target!r} ("
             + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
    labelled = frame.loc[~missing].reset_index(drop=True)
    dataset = dataset_from_frame(labelled, target, bad_value,
                                 features=loaded.model.feature_specs, sha256=sha256)
    if sha256 == loaded.manifest["training_data"].get("sha256"):
        sample = ("training file (in-sample: includes the rows the model was fitted on, "
                  "not a performance measure)")
        _loud(f"{data.name} is the file this model was trained on: these figures are "
              "in-sample; the validation figures are in the model's manifest and report")
    else:
        sample = f"evaluation file {data.name}"
    return _Scored(loaded, dataset, labelled, sample)


@model_app.command("evaluate")
@_domain_errors
def evaluate(
    model: Annotated[Path, typer.Option("--model", help="Model directory.")],
    data: DataOption,
    target: TargetOption,
    bad_value: BadValueOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    bootstrap: Annotated[int, typer.Option(
        help="Bootstrap replicates of the 95 % intervals (0 = none).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """AUC, Gini and KS (with 95 % bootstrap intervals) and Brier of a model on a labelled
    CSV, naming the sample (rows with an empty target are left out and counted)."""
    from creditpay.risk.scoring import metrics as m
    from creditpay.risk.scoring.report import evaluate_model

    if bootstrap != 0 and not 10 <= bootstrap <= 100_000:
        raise ValidationError("0 or between 10 and 100000", field="bootstrap")
    scored = _load_for_scoring(model, data, target, bad_value)
    result = evaluate_model(scored.loaded.model, scored.dataset, scored.loaded.manifest)
    figures: dict[str, Any] = {
        "auc": round(result["auc"], 4), "gini": round(result["gini"], 4),
        "ks": round(result["ks"], 4), "rows": int(result["rows"]),
        "bads": int(scored.dataset.bad.sum()), "brier": round(result["brier"], 4),
        "sample": scored.sample}
    if bootstrap:
        intervals = m.bootstrap_intervals(scored.dataset.bad,
                                          scored.loaded.model.predict_pd(scored.dataset.frame),
                                          replicates=bootstrap, seed=seed)
        for name in ("auc", "ks"):
            figures[f"{name}_ci95"] = [round(intervals[name]["low"], 4),
                                       round(intervals[name]["high"], 4)]
    warning = scored.loaded.manifest["metrics"].get("small_sample_warning")
    if warning:
        figures["small_sample_warning"] = warning
    if as_json:
        typer.echo(json.dumps(figures))
        return
    for key, value in figures.items():
        typer.echo(f"{key:>6}: {value}")


@model_app.command("report")
@_domain_errors
def report(
    model: Annotated[Path, typer.Option("--model", help="Model directory.")],
    data: DataOption,
    target: TargetOption,
    out: Annotated[Path, typer.Option("--out", help="HTML file; a .json sibling is written.")],
    bad_value: BadValueOption = None,
    baseline: Annotated[Path | None, typer.Option(
        help="Second CSV whose distributions the PSI compares against (default: the "
             "development sample stored in the model).")] = None,
    time_column: Annotated[str | None, typer.Option(
        "--time-column",
        help="Date column for stability over time (per-period AUC, KS, bad rate, score "
             f"PSI). Default: the first of {', '.join(TIME_COLUMNS)} present, else none.")
    ] = None,
    period: Annotated[str, typer.Option(
        help="Period of the stability table: month, quarter or week.")] = "month",
    approve_share: Annotated[float, typer.Option(
        help="Fairness table: the model approves this share of the rows (lowest PDs).")
    ] = 0.8,
    bootstrap: Annotated[int, typer.Option(
        help="Bootstrap replicates of the 95 % intervals (0 = none).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """HTML + JSON report: ROC, KS (with intervals), score distribution, reliability and
    Brier, deciles, PSI, stability over time, fairness by age band and sex, and which
    sample every figure comes from."""
    from creditpay.risk.scoring.dataset import read_credit_csv
    from creditpay.risk.scoring.report import PERIODS, build_report, write_report

    if period not in PERIODS:
        raise ValidationError(f"period must be one of {list(PERIODS)}", field="period")
    if not 0.0 < approve_share <= 1.0:
        raise ValidationError("must be in (0, 1]", field="approve_share")
    if bootstrap != 0 and not 10 <= bootstrap <= 100_000:
        raise ValidationError("0 or between 10 and 100000", field="bootstrap")
    scored = _load_for_scoring(model, data, target, bad_value)
    loaded, dataset = scored.loaded, scored.dataset
    time_column, periods = _read_dates(scored.labelled, time_column)
    baseline_data = None
    if baseline is not None:
        try:
            baseline_data = read_credit_csv(baseline, target, loaded.manifest["target"][
                "bad_value"] if bad_value is None else bad_value,
                features=loaded.model.feature_specs)
        except ValidationError as error:
            raise ValidationError(f"baseline: {error}", field="baseline") from error
    with _status("building report"):
        built = build_report(loaded, dataset, baseline_data,
                             title=f"{loaded.kind} model report: {data.name}",
                             periods=periods, period=period, time_column=time_column,
                             sample=scored.sample, raw=scored.labelled,
                             approve_share=approve_share, bootstrap=bootstrap, seed=seed)
        html_path, json_path = write_report(built, out)
    typer.echo(json.dumps({"html": str(html_path), "json": str(json_path)}))


TIME_COLUMNS = ("decided_at", "application_date", "application_month", "as_of")


def _read_dates(frame: Any, time_column: str | None) -> tuple[str | None, list[Any] | None]:
    """The date column's values (as text) for the stability table, or (None, None)."""
    header = list(frame.columns)
    if time_column is None:
        time_column = next((c for c in TIME_COLUMNS if c in header), None)
        if time_column is None:
            return None, None
    elif time_column not in header:
        raise ValidationError(f"column {time_column!r} not found; columns are {header[:30]!r}",
                              field="time_column")
    values = frame[time_column]
    return time_column, [None if gap else str(v) for v, gap in zip(
        values.tolist(), values.isna().tolist(), strict=True)]


def bench_german_credit(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the fold shuffle and the models.")] = 42,
) -> None:
    """Scorecard and GBM vs OptBinning / LightGBM defaults on UCI German credit (10-fold CV)."""
    from rich.progress import Progress

    from creditpay.benchmarks.german_credit import run_german_credit

    if folds < 2:
        _fail(ValidationError("need at least 2 folds", field="folds"))
    with Progress(transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("cross-validating", total=folds)
        result = run_german_credit(folds, seed, progress=lambda done, _total: progress.update(
            task, completed=done))
    _print_bench(result, as_json)


def bench_scoring(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    rows: Annotated[int, typer.Option(help="Synthetic training applications.")] = 1_000_000,
    features: Annotated[int, typer.Option(help="Characteristics per application.")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic portfolio.")] = 7,
) -> None:
    """Training time, batch rows/s and single-application latency on synthetic data."""
    from creditpay.benchmarks.scoring import run_scoring_bench

    if rows < 20_000 or features < 28:
        _fail(ValidationError("need --rows ≥ 20000 and --features ≥ 28", field="rows"))
    console = _stderr_console()
    with console.status("scoring bench") as status:
        result = run_scoring_bench(rows, features, seed, test_rows=max(rows // 5, 10_000),
                                   progress=lambda step: status.update(f"scoring bench: {step}"))
    _print_bench(result, as_json)


def bench_scoring_public(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    repeats: Annotated[int, typer.Option(
        help="Repeats of stratified 4-fold CV (each fold a 75/25 split).")] = 5,
    max_rows: Annotated[int | None, typer.Option(
        "--max-rows", help="Stratified subsample of each set (default: every row).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the splits and the models.")] = 42,
) -> None:
    """Scorecard and GBM vs OptBinning + LogisticRegression and LightGBM defaults on every
    public credit set a package ships (the issue's 75/25 split and repeated CV)."""
    from creditpay.benchmarks.scoring_public import run_scoring_public

    for option, bad in (("--repeats", repeats < 1 and "need at least 1 repeat"),
                        ("--max-rows", max_rows is not None and max_rows < 200
                         and "need at least 200 rows")):
        if bad:
            typer.echo(f"Error: {option}: {bad}", err=True)
            raise typer.Exit(code=2)
    console = _stderr_console()
    with console.status("public credit sets") as status:
        result = run_scoring_public(
            repeats=repeats, max_rows=max_rows, seed=seed,
            progress=lambda name, done, total: status.update(
                f"public credit sets: {name} {done}/{total}"))
    _print_bench(result, as_json)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _print_bench(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result))
        return
    from rich.console import Console

    Console().print_json(json.dumps(result))


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Wire the ``model`` sub-app and the scoring benchmarks into the root CLI."""
    app.add_typer(model_app, name="model")
    bench_app.command("german-credit")(bench_german_credit)
    bench_app.command("scoring")(bench_scoring)
    bench_app.command("scoring-public")(bench_scoring_public)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(typer.main.get_command(model_app)())
