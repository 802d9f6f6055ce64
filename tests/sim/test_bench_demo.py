"""``creditpay bench demo``: speed of the simulated economy and where its time goes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from creditpay.cli import app

runner = CliRunner()


def test_bench_demo_reports_speed_shares_and_the_commit_reference():
    result = runner.invoke(app, ["bench", "demo", "--customers", "30", "--merchants", "5",
                                 "--days", "3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["consumer_days_per_s"] > 0 and report["seconds"] > 0
    shares = report["shares"]
    for group in ("simulation", "platform_services", "close_of_business"):
        assert 0.0 <= shares[group] <= 1.0
    assert abs(sum(shares.values()) - 1.0) <= 0.01
    assert shares["platform_services"] > 0 and shares["close_of_business"] > 0
    phases = report["phases_s"]
    assert phases["total"] == report["seconds"]
    assert {"purchases", "topups", "close_of_business", "setup.models"} <= set(phases)
    assert report["simulation_separable"] is False and report["simulation_note"]
    sampled = report["sampled"]
    assert sampled["samples"] > 0
    assert 0.0 <= sampled["simulation_share"] <= 1.0 and sampled["platform_share"] > 0.5
    assert abs(sampled["simulation_share"] + sampled["platform_share"]
               + sampled["other_share"] - 1.0) <= 0.01
    assert report["raw_commits_per_s"] > 0 and report["transfers"] > 0
    assert report["ratio"] > 0
    transfers_per_s = report["transfers"] / report["seconds"]
    assert abs(report["ratio"] - transfers_per_s / report["raw_commits_per_s"]) < 1e-3
    assert report["ledger_ok"] is True
