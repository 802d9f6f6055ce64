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
    assert set(figures) == {"auc", "gini", "ks", "rows"}
    assert figures["rows"] == 1000 and isinstance(figures["rows"], int)
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
    assert set(json.loads(completed.stdout)) == {"auc", "gini", "ks", "rows"}
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
    result = run_scoring_bench(n_rows=30_000, test_rows=10_000, repeats=1, latency_calls=300)
    assert result["auc_test"]["oracle_true_pd"] >= result["auc_test"]["scorecard"] - 0.02
    assert result["batch_rows_per_second"]["scorecard"] > 0
    latency = result["single_application"]["scorecard_score_and_reasons"]
    assert latency["latency_ms_p50"] <= latency["latency_ms_p99"]
