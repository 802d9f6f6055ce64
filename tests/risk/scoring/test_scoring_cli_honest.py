"""``creditpay model train|evaluate|report`` on a demo-shaped applications file: no flag
beyond --data and --target, out-of-time validation, the minimum-bads refusal, reject
inference, a report that names every sample, and bad input named column by column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from creditpay.cli import app

runner = CliRunner()
CREATED = "2025-03-01T09:00:00+00:00"


def applications(n: int = 1600, seed: int = 0, bad_share: float = 1.0) -> pd.DataFrame:
    """Shaped like the demo's applications.csv: the old model's score and grade, approved,
    bad (empty unless labelled), label_status, dates over twelve months, features."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.0, 0.5, n)
    dti = rng.uniform(0.0, 0.8, n)
    age = rng.integers(18, 75, n)
    housing = rng.choice(["own", "rent", "family"], n)
    logit = -2.2 + 3.0 * dti - 0.6 * (np.log(income) - 8.0) + 0.4 * (housing == "rent")
    pd_true = 1.0 / (1.0 + np.exp(-logit))
    bad = (rng.uniform(size=n) < pd_true * bad_share).astype(int)
    score = 600 - 80 * logit + rng.normal(0, 5, n)
    approved = score > np.quantile(score, 0.15)
    days = np.sort(rng.integers(0, 365, n))
    dates = [str(np.datetime64("2024-01-01") + int(d)) for d in days]
    status = np.where(~approved, "declined", np.where(bad == 1, "bad", "good")).astype(object)
    status[days > 340] = np.where(approved[days > 340], "unmatured", "declined")
    labelled = np.isin(status, ["good", "bad"])
    return pd.DataFrame({
        "application_month": [d[:7] for d in dates], "grade": np.where(score > 600, "A", "B"),
        "score": np.round(score, 2), "approved": approved.astype(int),
        "bad": pd.Series(bad, dtype="Int64").where(labelled, pd.NA),
        "label_status": status, "application_date": dates,
        "age_years": age, "monthly_income_minor": np.round(income * 100).astype(int),
        "debt_to_income": np.round(dti, 4), "housing": housing})


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("apps") / "applications.csv"
    applications().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained_default(demo_csv, tmp_path_factory):
    """``model train --data applications.csv --target bad``, nothing else, in a fresh
    directory: it writes models/scorecard-applications there."""
    cwd = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        result = runner.invoke(app, ["model", "train", "--data", str(demo_csv),
                                     "--target", "bad", "--bootstrap", "200"])
    return cwd, result


def test_train_with_no_other_flag(trained_default, demo_csv):
    cwd, result = trained_default
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    out = cwd / "models" / "scorecard-applications"
    assert summary["model"] == str(Path("models") / "scorecard-applications")
    assert summary["kind"] == "scorecard" and (out / "manifest.json").is_file()
    assert f"model written to {Path('models') / 'scorecard-applications'}" in result.stderr
    frame = pd.read_csv(demo_csv)
    unlabelled = frame["bad"].isna()
    counts = frame.loc[unlabelled, "label_status"].value_counts()
    assert (f"left out {int(unlabelled.sum())} row(s) with an empty 'bad' "
            f"(declined {counts['declined']}, unmatured {counts['unmatured']})") in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    features = {f["name"] for f in manifest["features"]}
    # The old model's score and grade (leakage), decisions and dates are never features.
    assert features == {"age_years", "monthly_income_minor", "debt_to_income", "housing"}
    assert manifest["training_data"]["rows"] == int((~unlabelled).sum())
    metrics = manifest["metrics"]
    scheme = metrics["validation_scheme"]
    assert scheme["scheme"] == "out_of_time" and scheme["time_column"] == "application_date"
    assert scheme["development_until"] < scheme["validation_from"]
    assert metrics["validation"]["sample"] == "validation (out-of-time)"
    assert metrics["training"]["sample"].startswith("training (in-sample")
    assert metrics["validation"]["bads"] >= 20 and metrics["training"]["bads"] >= 50
    assert metrics["small_sample_warning"] is None
    auc = metrics["validation"]["intervals"]["auc"]
    assert auc["low"] < metrics["validation"]["auc"] < auc["high"]
    assert len(metrics["validation"]["reliability"]) == 10
    assert 0 < metrics["validation"]["brier"] < 0.25


def test_too_few_bads_refused_naming_the_target_then_allowed_loudly(tmp_path):
    data = tmp_path / "small.csv"
    applications(n=400, seed=1, bad_share=0.3).to_csv(data, index=False)
    out = tmp_path / "m"
    result = runner.invoke(app, ["model", "train", "--data", str(data), "--target", "bad",
                                 "--out", str(out)])
    assert result.exit_code == 2
    assert "--target: target column 'bad':" in result.stderr
    assert "bad(s) in training (minimum 50)" in result.stderr
    assert not out.exists()
    result = runner.invoke(app, ["model", "train", "--data", str(data), "--target", "bad",
                                 "--out", str(out), "--allow-small", "--bootstrap", "50",
                                 "--created-at", CREATED])
    assert result.exit_code == 0, result.output
    assert "WARNING: --allow-small" in result.stderr
    warning = json.loads((out / "manifest.json").read_text())["metrics"]["small_sample_warning"]
    assert "minimum 50" in warning
    report = tmp_path / "report.html"
    result = runner.invoke(app, ["model", "report", "--model", str(out), "--data", str(data),
                                 "--target", "bad", "--out", str(report), "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    document = json.loads(report.with_suffix(".json").read_text())
    assert any("--allow-small" in note for note in document["notes"])
    assert "WARNING: Trained with --allow-small" in report.read_text()


def test_report_names_every_sample_and_shows_fairness(trained_default, demo_csv, tmp_path):
    cwd, _ = trained_default
    model = cwd / "models" / "scorecard-applications"
    other = tmp_path / "later.csv"
    applications(n=1200, seed=7).to_csv(other, index=False)
    report = tmp_path / "report.html"
    result = runner.invoke(app, ["model", "report", "--model", str(model), "--data",
                                 str(other), "--target", "bad", "--out", str(report),
                                 "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    document = json.loads(report.with_suffix(".json").read_text())
    summary, tables = document["summary"], document["tables"]
    assert summary["sample"] == "evaluation file later.csv" and document["notes"] == []
    provenance = tables["provenance"]
    assert provenance[0]["sample"] == "evaluation file later.csv"
    assert provenance[0]["rows"] == summary["rows"] and provenance[0]["bads"] == summary["bads"]
    assert {row["sample"] for row in provenance[1:]} == {
        "validation (out-of-time)", "training (in-sample: not a performance measure)"}
    assert all(isinstance(row["rows"], int) and isinstance(row["bads"], int)
               for row in provenance)
    intervals = tables["intervals"]
    assert intervals["auc"]["low"] <= summary["auc"] <= intervals["auc"]["high"]
    fairness = tables["fairness"]
    bands = fairness["by_age_band"]
    assert bands["column"] == "age_years" and "by_sex" not in fairness
    assert sum(r["rows"] for r in bands["rows"]) == summary["rows"]
    assert max(r["air"] for r in bands["rows"]) == 1.0
    assert 'id="figure-fairness_by_age_band"' in report.read_text()
    # The same model on its own training file: in-sample, and said so before anything else.
    result = runner.invoke(app, ["model", "report", "--model", str(model), "--data",
                                 str(demo_csv), "--target", "bad", "--out", str(report),
                                 "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    document = json.loads(report.with_suffix(".json").read_text())
    assert "in-sample" in document["summary"]["sample"]
    assert any("in-sample" in note for note in document["notes"])


@pytest.mark.parametrize("method", ["parcelling", "fuzzy"])
def test_reject_inference(demo_csv, tmp_path, method):
    out = tmp_path / method
    result = runner.invoke(app, ["model", "train", "--data", str(demo_csv), "--target", "bad",
                                 "--out", str(out), "--reject-inference", method,
                                 "--bootstrap", "0", "--created-at", CREATED])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "manifest.json").read_text())["metrics"]
    inference = metrics["reject_inference"]
    frame = pd.read_csv(demo_csv)
    cut = metrics["validation_scheme"]["validation_from"]
    declined = frame[(frame["label_status"] == "declined") & (frame["application_date"] < cut)]
    # Only declined rows of the development periods: the later ones are the future.
    assert inference["method"] == method and inference["declined_rows"] == len(declined)
    if method == "parcelling":
        assert inference["declined_bads"] == sum(b["declined_bads"] for b in
                                                 inference["bands"])
    # Validation stays accepts-only: the only rows with real outcomes.
    assert metrics["validation"]["rows"] + metrics["training"]["rows"] == int(
        frame["bad"].notna().sum())


def test_target_bad_rate_shifts_the_pd(demo_csv, tmp_path):
    out = tmp_path / "calibrated"
    result = runner.invoke(app, ["model", "train", "--data", str(demo_csv), "--target", "bad",
                                 "--out", str(out), "--target-bad-rate", "0.3",
                                 "--bootstrap", "0", "--created-at", CREATED])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "manifest.json").read_text())["metrics"]
    calibration = metrics["pd_calibration"]
    assert calibration["target_bad_rate"] == 0.3 and calibration["intercept_shift_log_odds"] > 0
    after = metrics["validation"]["after_pd_calibration"]
    assert after["mean_pd"] > metrics["validation"]["mean_pd"]


# -- bad input to every model command: exit 2, the column named, nothing written ----------


def _broken(tmp_path: Path, change) -> Path:
    frame = applications(n=600, seed=3)
    frame = change(frame)
    path = tmp_path / "broken.csv"
    frame.to_csv(path, index=False)
    return path


def _set(frame: pd.DataFrame, column: str, values) -> pd.DataFrame:
    frame = frame.copy()
    frame[column] = values
    return frame


def _text_in_income(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy().astype({"monthly_income_minor": object})
    frame.loc[int(np.flatnonzero(frame["bad"].notna())[3]), "monthly_income_minor"] = "unknown"
    return frame


TRAIN_CASES = [
    ("missing target", lambda f: f.drop(columns=["bad"]), [], "target column 'bad' not found"),
    ("one class", lambda f: _set(f, "bad", f["bad"].where(f["bad"].isna(), 0)), [],
     "target column 'bad' has a single class"),
    ("too few bads", lambda f: _set(f, "bad", f["bad"].where(
        f["bad"].isna() | (np.arange(len(f)) % 40 != 0), 1).where(
        f["bad"].isna() | (np.arange(len(f)) % 40 == 0), 0)), [],
     "target column 'bad': "),
    ("non-numeric in a numeric column", _text_in_income, [],
     "column 'monthly_income_minor' is numeric except for 1 non-numeric value(s) such as "
     "['unknown']"),
    ("three bads, undated", lambda f: _set(
        f.drop(columns=["application_date", "application_month"]), "bad",
        f["bad"].where(f["bad"].isna(), (np.arange(len(f)) < 3).astype(int))), [],
     "target column 'bad': too few goods or bads (3 bads"),
    ("unknown --exclude", lambda f: f, ["--exclude", "no_such_column"],
     "column 'no_such_column' not found"),
    ("empty target everywhere", lambda f: _set(f, "bad", pd.NA), [],
     "target column 'bad' is empty on every row"),
]


@pytest.mark.parametrize(("case", "change", "extra", "message"), TRAIN_CASES,
                         ids=[c[0] for c in TRAIN_CASES])
def test_train_bad_input_names_the_column(tmp_path, case, change, extra, message):
    data = _broken(tmp_path, change)
    out = tmp_path / "model"
    result = runner.invoke(app, ["model", "train", "--data", str(data), "--target", "bad",
                                 "--out", str(out), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not out.exists()


EVALUATE_CASES = [
    ("missing target", lambda f: f.drop(columns=["bad"]), "target column 'bad' not found"),
    ("one class", lambda f: _set(f, "bad", f["bad"].where(f["bad"].isna(), 0)),
     "target column 'bad' has a single class"),
    ("non-numeric in a numeric column", _text_in_income,
     "numeric column 'monthly_income_minor' has 1 non-numeric value(s) such as ['unknown']"),
    ("model column missing", lambda f: f.drop(columns=["debt_to_income"]),
     "column 'debt_to_income' required by the model is missing"),
]


@pytest.mark.parametrize("command", ["evaluate", "report"])
@pytest.mark.parametrize(("case", "change", "message"), EVALUATE_CASES,
                         ids=[c[0] for c in EVALUATE_CASES])
def test_evaluate_and_report_bad_input_name_the_column(trained_default, tmp_path, command,
                                                       case, change, message):
    cwd, _ = trained_default
    data = _broken(tmp_path, change)
    out = tmp_path / "report.html"
    arguments = ["model", command, "--model", str(cwd / "models" / "scorecard-applications"),
                 "--data", str(data), "--target", "bad", "--bootstrap", "0"]
    if command == "report":
        arguments += ["--out", str(out)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_fuzzy_with_the_gbm_is_refused_before_anything_is_written(demo_csv, tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(app, ["model", "train", "--data", str(demo_csv), "--target", "bad",
                                 "--kind", "gbm", "--reject-inference", "fuzzy",
                                 "--out", str(out)])
    assert result.exit_code == 2 and "--reject-inference" in result.stderr
    assert not out.exists()
