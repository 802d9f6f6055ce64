"""The ``creditpay model`` contract (CliRunner and one real subprocess) and the benches."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from creditpay.benchmarks.german_credit import run_german_credit
from creditpay.benchmarks.scoring import make_applications, run_scoring_bench
from creditpay.cli import app

runner = CliRunner()
CREATED = "2025-03-01T09:00:00+00:00"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, german_path):
    root = tmp_path_factory.mktemp("cli")
    models = {}
    for kind in ("scorecard", "gbm"):
        out = root / kind
        result = runner.invoke(app, ["model", "train", "--data", str(german_path),
                                     "--target", "creditability", "--bad-value", "bad",
                                     "--kind", kind, "--out", str(out), "--seed", "3",
                                     "--author", "tester", "--created-at", CREATED])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["kind"] == kind and summary["rows"] == 1000
        assert summary["metrics"]["validation"]["rows"] == 200
        models[kind] = out
    return models


@pytest.mark.parametrize("kind", ["scorecard", "gbm"])
def test_train_then_evaluate_json_contract(trained, german_path, kind):
    result = runner.invoke(app, ["model", "evaluate", "--model", str(trained[kind]),
                                 "--data", str(german_path), "--target", "creditability",
                                 "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) == {"auc", "gini", "ks", "rows", "bads", "brier", "sample", "auc_ci95",
                            "ks_ci95"}
    assert figures["rows"] == 1000 and isinstance(figures["rows"], int)
    assert figures["bads"] == 300
    # The file is the one the model was trained on: its figures are named in-sample.
    assert "in-sample" in figures["sample"] and "in-sample" in result.stderr
    low, high = figures["auc_ci95"]
    assert low < figures["auc"] < high
    assert 0.7 < figures["auc"] < 1.0
    assert figures["gini"] == pytest.approx(2 * figures["auc"] - 1, abs=2e-4)
    assert all(round(figures[k], 4) == figures[k] for k in ("auc", "gini", "ks"))
    manifest = json.loads((trained[kind] / "manifest.json").read_text())
    assert manifest["author"] == "tester" and manifest["created_at"] == CREATED


def test_report_command(trained, german_path, tmp_path):
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["model", "report", "--model", str(trained["scorecard"]),
                                 "--data", str(german_path), "--target", "creditability",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.with_suffix(".json").is_file()


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--target", "missing_column"], "--target"),
        (["--target", "creditability", "--bad-value", "terrible"], "--bad-value"),
        (["--target", "creditability", "--data", "/nonexistent.csv"], "--data"),
        (["--target", "creditability", "--model", "/nonexistent-model"], "--model"),
    ],
)
def test_evaluate_bad_input_names_the_option(trained, german_path, arguments, fragment):
    base = {"--model": str(trained["scorecard"]), "--data": str(german_path)}
    pairs = dict(zip(arguments[::2], arguments[1::2], strict=True))
    command = ["model", "evaluate", "--json"]
    for option, value in (base | pairs).items():
        command += [option, value]
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert fragment in result.stderr


def test_train_bad_input(german_path, tmp_path):
    result = runner.invoke(app, ["model", "train", "--data", str(german_path), "--target",
                                 "creditability", "--kind", "scorecard",
                                 "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "--bad-value" in result.stderr
    result = runner.invoke(app, ["model", "train", "--data", str(german_path), "--target",
                                 "creditability", "--bad-value", "bad", "--kind", "forest",
                                 "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "--kind" in result.output + result.stderr
    one_class = tmp_path / "one.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 0, 0]}).to_csv(one_class, index=False)
    result = runner.invoke(app, ["model", "train", "--data", str(one_class), "--target", "y",
                                 "--kind", "gbm", "--out", str(tmp_path / "m2")])
    assert result.exit_code == 2 and "single class" in result.stderr


def test_real_subprocess_evaluate(trained, german_path):
    completed = subprocess.run(
        [sys.executable, "-m", "creditpay.cli", "model", "evaluate", "--model",
         str(trained["gbm"]), "--data", str(german_path), "--target", "creditability",
         "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert {"auc", "gini", "ks", "rows"} <= set(json.loads(completed.stdout))
    assert "HIGHS" not in completed.stderr  # solver-probe noise suppressed


def test_missing_values_csv_end_to_end(tmp_path):
    """A numeric 0/1 target and gaps in the data: default bad value, NaN handled."""
    frame, bad, _ = make_applications(4000, seed=11)
    frame["default_12m"] = bad
    path = tmp_path / "gappy.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "model"
    result = runner.invoke(app, ["model", "train", "--data", str(path), "--target",
                                 "default_12m", "--kind", "scorecard", "--out", str(out),
                                 "--created-at", CREATED])
    assert result.exit_code == 0, result.output
    assert np.isnan(frame["sparse_03"]).any()


def test_german_credit_bench_smoke():
    result = run_german_credit(folds=2, seed=1)
    assert set(result["models"]) == {"reference_scorecard", "scorecard", "scorecard_monotone",
                                     "reference_lightgbm", "gbm"}
    for model in result["models"].values():
        assert 0.65 < model["auc_mean"] < 0.9 and len(model["auc_folds"]) == 2
    assert result["ratios"]["scorecard_vs_reference"] == pytest.approx(
        result["models"]["scorecard"]["auc_mean"]
        / result["models"]["reference_scorecard"]["auc_mean"], abs=1e-3)


def test_scoring_bench_smoke():
    result = run_scoring_bench(n_rows=30_000, test_rows=10_000, repeats=1, latency_calls=300,
                               decision_applications=20)
    assert result["auc_test"]["oracle_true_pd"] >= result["auc_test"]["scorecard"] - 0.02
    assert result["batch_rows_per_second"]["scorecard"] > 0
    latency = result["single_application"]["scorecard_score_and_reasons"]
    assert latency["latency_ms_p50"] <= latency["latency_ms_p99"]
    decision = result["single_application"]["decision_features_score_policy_persistence"]
    assert decision["calls"] == 20 and decision["statements_per_decision"] == 7
    assert set(result["targets_met"]) == {"training", "scorecard_rows_per_second",
                                          "decision_latency_p99"}


def test_report_stability_over_time_by_month(trained, german_path, tmp_path):
    # German credit has no dates: give each row a decision month, the later half of the
    # year in a shifted population (long durations), so the score PSI must rise there.
    frame = pd.read_csv(german_path)
    order = np.argsort(frame["duration_in_month"].to_numpy(), kind="stable")
    months = np.empty(len(frame), dtype=object)
    months[order] = [f"2025-{1 + (i * 6) // len(frame):02d}-15T10:00:00+00:00"
                     for i in range(len(frame))]
    frame["decided_at"] = months
    data = tmp_path / "dated.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["model", "report", "--model", str(trained["scorecard"]),
                                 "--data", str(data), "--target", "creditability",
                                 "--out", str(out), "--time-column", "decided_at"])
    assert result.exit_code == 0, result.output
    document = json.loads(out.with_suffix(".json").read_text())
    stability = document["tables"]["stability"]
    assert stability["period"] == "month" and stability["time_column"] == "decided_at"
    rows = stability["rows"]
    assert [r["period"] for r in rows] == [f"2025-{m:02d}" for m in range(1, 7)]
    assert sum(r["rows"] for r in rows) == 1000
    assert sum(r["bads"] for r in rows) == 300  # German credit: 300 bads
    for row in rows:
        assert 0.0 <= row["bad_rate"] <= 1.0 and 0.0 < row["mean_pd"] < 1.0
        assert row["auc"] is None or 0.0 <= row["auc"] <= 1.0
    # Each month is one sixth of the durations: far from the development mix at both ends.
    assert rows[-1]["score_psi"] > 0.1 and rows[0]["score_psi"] > 0.1
    assert 'id="figure-stability"' in out.read_text()
    # The default picks up decided_at by itself; quarters group the same rows by two.
    result = runner.invoke(app, ["model", "report", "--model", str(trained["scorecard"]),
                                 "--data", str(data), "--target", "creditability",
                                 "--out", str(out), "--period", "quarter"])
    assert result.exit_code == 0, result.output
    quarters = json.loads(out.with_suffix(".json").read_text())["tables"]["stability"]["rows"]
    assert [(r["period"], r["rows"]) for r in quarters] == [("2025-Q1", 500), ("2025-Q2", 500)]


@pytest.mark.parametrize(("arguments", "fragment"), [
    (["--time-column", "no_such_column"], "--time-column"),
    (["--time-column", "purpose"], "--time-column"),  # text that is not a date
    (["--period", "fortnight"], "--period"),
])
def test_report_bad_time_options_name_the_option(trained, german_path, tmp_path, arguments,
                                                 fragment):
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["model", "report", "--model", str(trained["scorecard"]),
                                 "--data", str(german_path), "--target", "creditability",
                                 "--out", str(out), *arguments])
    assert result.exit_code == 2
    assert fragment in result.output
    assert not out.exists()
