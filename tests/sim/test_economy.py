"""The simulated economy: deterministic by seed, books balanced, both credit outcomes, reports."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.sim.economy import EconomyConfig, run_economy

runner = CliRunner()


def _demo(tmp_path, run: int) -> dict:
    result = runner.invoke(app, ["demo", "--customers", "60", "--merchants", "8", "--days",
                                 "10", "--seed", "7", "--db", str(tmp_path / f"sim{run}.db"),
                                 "--out", str(tmp_path / f"out{run}"), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_same_seed_same_figures_books_balance_and_reports(tmp_path):
    first, second = _demo(tmp_path, 0), _demo(tmp_path, 1)
    assert first == second
    assert first["ledger_ok"] is True and first["transfers"] > 100
    assert first["approvals"] > 0 and first["declines"] > 0
    assert first["applications"] == first["approvals"] + first["declines"]
    assert first["purchases"].get("credit_line", 0) > 0
    assert first["purchases"].get("balance", 0) + first["purchases"].get("card", 0) > 0
    assert first["topups"] > 0 and first["settlements"] > 0
    assert sum(first["outstanding_by_product_minor"].values()) > 0
    assert first["series"] and first["series"][-1]["day"] == 10
    complaints = first["complaints"]
    assert complaints["total"] == sum(complaints["by_category"].values())
    assert complaints["acknowledge_breached"] == 0  # staff acknowledge the same day
    stored = json.loads((tmp_path / "out0" / "figures.json").read_text(encoding="utf-8"))
    assert stored == first
    page = (tmp_path / "out0" / "report.html").read_text(encoding="utf-8")
    assert "plotly" in page.lower() and "Approval rate by risk grade" in page
    assert not re.search(r"<script[^>]*\bsrc=", page)  # self-contained: opens offline
    verify = runner.invoke(app, ["ledger", "verify", "--db", str(tmp_path / "sim0.db"),
                                 "--json"])
    assert verify.exit_code == 0 and json.loads(verify.output)["ok"] is True


def test_risky_consumers_fall_behind_and_are_charged(tmp_path):
    """Past the first statement's due date, consumers who do not pay become delinquent."""
    figures, _ = run_economy(EconomyConfig(
        customers=80, merchants=8, days=26, seed=3, progress=False,
        start="2025-01-20T08:00:00+00:00",  # the first statement (1 Feb) is due on 10 Feb
        database_url=f"sqlite:///{tmp_path / 'late.db'}", snapshot_every_days=10))
    assert figures["ledger_ok"] is True
    late = {b: v for b, v in figures["delinquency_by_bucket"].items() if b != "M0"}
    assert late and sum(v["principal_minor"] for v in late.values()) > 0
    assert figures["repayments"] > 0
    assert figures["revenue_by_source_minor"]["merchant_fees"] > 0


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_runs_on_postgresql(store):
    from creditpay.db.schema import open_database
    from creditpay.ledger import verify_ledger

    figures, _ = run_economy(EconomyConfig(customers=30, merchants=6, days=4, seed=11,
                                           database_url=store.url, progress=False))
    assert figures["ledger_ok"] is True and figures["approvals"] > 0
    engine = open_database(store.url, pool_size=1)
    try:
        with engine.connect() as conn:
            assert verify_ledger(conn).ok
    finally:
        engine.dispose()
