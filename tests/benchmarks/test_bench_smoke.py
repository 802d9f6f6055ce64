"""The benchmarks still run and print their contract (no timing is asserted here)."""

import json

import pytest
from typer.testing import CliRunner

from creditpay.cli import app


def test_bench_ledger_prints_one_json_object_per_store():
    result = CliRunner().invoke(app, ["bench", "ledger", "--json", "--stores", "sqlite",
                                      "--single", "20", "--batches", "2"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["store"] == "sqlite"
    for part, keys in (("single", ("transfers_per_s", "raw_commits_per_s", "ratio")),
                       ("batched", ("transfers_per_s", "raw_inserts_per_s", "ratio",
                                    "raw_same_shape_inserts_per_s"))):
        for key in keys:
            assert figures[part][key] > 0


def test_bench_checkout_prints_its_contract_on_sqlite():
    """Smallest run (two checkouts in process, two over HTTP, one client): every figure of the
    JSON contract is there and consistent; about 15 s, mostly the raw-commit reference."""
    result = CliRunner().invoke(app, ["bench", "checkout", "--json", "--stores", "sqlite",
                                      "--payments", "2", "--http-payments", "2",
                                      "--concurrency", "1"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert [r["store"] for r in runs] == ["sqlite"]
    figures = runs[0]
    assert figures["bench"] == "checkout" and figures["funding"]
    assert figures["write_transactions_per_checkout"] > 0
    for part in ("in_process", "http"):
        run = figures[part]
        assert run["checkouts"] == 2 and run["concurrency"] == 1, run
        assert run.get("errors", 0) == 0, run
        assert run["checkouts_per_s"] > 0 and run["raw_commits_per_s"] > 0
        assert 0 < run["latency_ms_p50"] <= run["latency_ms_p99"]
        # The ratio is the figure over the same run's reference, raw commits/s divided by
        # the checkout's write transactions (both rounded when printed).
        per = figures["write_transactions_per_checkout"]
        assert run["reference_checkouts_per_s"] == pytest.approx(
            run["raw_commits_per_s"] / per, rel=0.05, abs=0.1)
        assert run["ratio"] == pytest.approx(
            run["checkouts_per_s"] / (run["raw_commits_per_s"] / per), rel=0.05, abs=1e-4)
    # Data statements, counted (deterministic): the steady state within the budget, and a
    # first confirm costing no less than it.
    # The checkout's own statements within #14's budget; fraud screening (on by default)
    # reported apart: its state rows, journal row and rule-set look.
    screening = figures["sql_statements_per_confirm_screening"]
    assert 0 < screening <= 7
    assert 0 < figures["sql_statements_per_confirm"] - screening <= 20
    assert 0 < figures["sql_statements_per_capture"] <= 20
    assert figures["sql_statements_per_first_confirm"] >= figures["sql_statements_per_confirm"]
    # The pure work alone (pricing, rates, documents: no storage) and the reference that
    # adds it to the four commits: a checkout can never be faster than that floor.
    inproc = figures["in_process"]
    assert figures["pure_work_cpu_ms_per_checkout"] > 0
    floor = 1 / (per / inproc["raw_commits_per_s"]
                 + figures["pure_work_cpu_ms_per_checkout"] / 1000)
    assert inproc["commits_and_pure_work_checkouts_per_s"] == pytest.approx(floor, rel=0.05)
    assert inproc["cpu_ms_per_checkout_p50"] > 0


def test_bench_web_prints_each_page_beside_its_json_routes():
    """Smallest run (20 rounds): a real server, the pages logged in by cookie and the JSON
    routes by token; every page answered and every figure of the contract is there."""
    from creditpay.benchmarks.web import PAGES

    result = CliRunner().invoke(app, ["bench", "web", "--json", "--rounds", "20"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["benchmark"] == "web" and figures["target_p99_ms"] == 100
    assert set(figures["pages"]) == set(PAGES)
    for page in figures["pages"].values():
        assert 0 < page["p50_ms"] <= page["p99_ms"]
        assert 0 < page["json_p50_ms"] <= page["json_p99_ms"]
        assert page["ratio_p99"] > 0 and isinstance(page["meets_target"], bool)
