"""``creditpay sandbox``: one simulated population under two credit policies, compared."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.risk.decisions.policy import bundled_policy_path, load_policy_file

runner = CliRunner()
DEFAULT = bundled_policy_path("application")
STRICT = DEFAULT.with_name("application_strict_v1.json")


def test_strict_policy_is_valid_and_distinct():
    default, strict = load_policy_file(DEFAULT), load_policy_file(STRICT)
    assert strict.kind == "application"
    assert (strict.policy_id, strict.version) != (default.policy_id, default.version)
    assert strict.content_hash != default.content_hash


def test_sandbox_compares_default_and_strict_on_one_population(tmp_path):
    out = tmp_path / "sandbox"
    result = runner.invoke(app, ["sandbox", "--policy", str(DEFAULT), "--policy", str(STRICT),
                                 "--customers", "60", "--merchants", "6", "--days", "8",
                                 "--seed", "7", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.output.strip().splitlines()[-1])
    default, strict = comparison["policies"]
    assert (default["label"], strict["label"]) == ("application_v1", "application_strict_v1")
    assert default["policy_id"] != strict["policy_id"]
    # Same seed, same applicants: only the policy differs.
    assert comparison["sandbox"]["same_applicants"] is True
    assert default["applications"] == strict["applications"] > 0
    assert strict["approval_rate"] <= default["approval_rate"]
    # The strict policy declines every score below 580 (grades C and D of the default one);
    # with seed 7 the default approves some of those, so the strict one approves fewer.
    cut = sum(default["approval_by_grade"].get(g, {}).get("approved", 0) for g in ("C", "D"))
    assert cut > 0
    assert strict["approvals"] < default["approvals"]
    assert strict["approval_rate"] < default["approval_rate"]
    assert strict["credit_limit_granted_minor"] < default["credit_limit_granted_minor"]
    for policy in (default, strict):
        assert policy["ledger_ok"] is True
        assert 0.0 <= policy["bad_rate"] <= 1.0
        assert policy["expected_profit_minor"] == (
            policy["revenue_minor"] - policy["funding_cost_minor"]
            - policy["credit_losses_minor"] - policy["fraud_losses_minor"]
            - policy["expected_loss_minor"])
        assert policy["expected_loss_minor"] > 0  # the balances are still outstanding
        assert policy["horizon"]["status"] == "too_short"  # 8 days show no bad rate
    assert comparison["ranking"][0] == comparison["best"]
    assert sorted(comparison["ranking"]) == sorted(p["label"] for p in comparison["policies"])
    assert comparison["horizon"]["status"] == "too_short"
    (diff,) = comparison["differences"]
    assert (diff["policy"], diff["baseline"]) == ("application_strict_v1", "application_v1")
    assert diff["approvals"] == strict["approvals"] - default["approvals"]
    assert diff["approval_rate"] == round(strict["approval_rate"] - default["approval_rate"], 4)
    assert diff["expected_profit_minor"] == (strict["expected_profit_minor"]
                                             - default["expected_profit_minor"])
    stored = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert stored["policies"] == comparison["policies"]
    page = (out / "sandbox.html").read_text(encoding="utf-8")
    assert "plotly" in page.lower() and "Expected profit" in page
    assert not re.search(r"<script[^>]*\bsrc=", page)  # self-contained: opens offline
    assert page.count("Plotly=") + page.count("plotly.js v") >= 1


def test_sandbox_needs_two_existing_application_policies(tmp_path):
    out = str(tmp_path / "out")
    one = runner.invoke(app, ["sandbox", "--policy", str(DEFAULT), "--out", out])
    assert one.exit_code == 2 and "--policy" in one.output and "at least two" in one.output
    missing = runner.invoke(app, ["sandbox", "--policy", str(DEFAULT), "--policy",
                                  str(tmp_path / "nope.json"), "--out", out])
    assert missing.exit_code == 2 and "--policy" in missing.output
    assert "does not exist" in missing.output
    review = runner.invoke(app, ["sandbox", "--policy", str(DEFAULT), "--policy",
                                 str(bundled_policy_path("limit_review")), "--out", out])
    assert review.exit_code == 2 and "--policy" in review.output
    assert "application" in review.output
    for option in ("--lgd-bps", "--funding-rate-bps"):
        for value in ("10001", "-1", "x"):
            bad = runner.invoke(app, ["sandbox", "--policy", str(DEFAULT), "--policy",
                                      str(STRICT), option, value, "--out", out])
            assert bad.exit_code == 2 and option in bad.output, (option, value)
    assert not (tmp_path / "out").exists()  # refused before any run


# ------------------------------------------------- deciding: expected loss, horizon, clean output

def _figures(*, days: int, approvals: int, revenue_minor: int, partner_share_minor: int,
             funding_cost_minor: int, fraud_losses_minor: int, exposure_minor: int,
             pd: str) -> dict:
    """A run's figures as the economy reports them, for a short horizon: nothing written
    off and nothing 31+ days past due yet, the balances still outstanding."""
    from decimal import Decimal

    from creditpay.sim import pnl

    lgd_bps = pnl.LGD_BPS_DEFAULT
    expected_loss = pnl.expected_loss_minor([(exposure_minor, Decimal(pd))],
                                            Decimal(lgd_bps) / 10_000)
    income = {"merchant_fees": revenue_minor // 2, "interest": revenue_minor // 3,
              "credit_fees": revenue_minor - revenue_minor // 2 - revenue_minor // 3,
              "penalty": 0}
    return {
        "days": days, "applications": 100, "approvals": approvals,
        "approval_rate": approvals / 100,
        "approval_by_grade": {"A": {"applications": 50, "approved": 50, "rate": 1.0}},
        "credit_limit_granted_minor": approvals * 1_000_000,
        "purchases_credit_minor": exposure_minor, "ledger_ok": True,
        "outstanding_by_product_minor": {"credit_line": exposure_minor},
        "delinquency_by_bucket": {"M0": {"accounts": approvals,
                                         "principal_minor": exposure_minor}},
        "write_offs": {"accounts": 0, "amount_minor": 0},
        "revenue_by_source_minor": {**income, "recoveries": 0},
        "installment_plans_by_periods": {"12": 3}, "cash_loans": 0,
        "pnl": pnl.platform_pnl(income_by_source_minor=income,
                                partner_income_share_minor=partner_share_minor,
                                write_offs_minor=0, partner_loss_share_minor=0,
                                recoveries_minor=0, funding_cost_minor=funding_cost_minor,
                                fraud_lost_minor=fraud_losses_minor,
                                fraud_charged_back_minor=0),
        "expected_loss_at_end": {"expected_loss_minor": expected_loss,
                                 "exposure_minor": exposure_minor, "lgd_bps": lgd_bps},
    }


# The looser policy lends half as much again, to worse risks (average PD 12 % against 3 %),
# and on a 40-day horizon has earned more revenue and lost nothing yet.
LOOSE = _figures(days=40, approvals=90, revenue_minor=600_000, partner_share_minor=40_000,
                 funding_cost_minor=40_000, fraud_losses_minor=5_000,
                 exposure_minor=20_000_000, pd="0.12")
STRICT_RUN = _figures(days=40, approvals=60, revenue_minor=380_000, partner_share_minor=0,
                      funding_cost_minor=25_000, fraud_losses_minor=0,
                      exposure_minor=12_000_000, pd="0.03")


def test_a_looser_policy_with_more_revenue_is_not_ranked_first_once_expected_loss_counts():
    from types import SimpleNamespace

    from creditpay.sim import sandbox

    def summary(figures, label):
        policy = SimpleNamespace(policy_id=label, version="1", content_hash=label)
        return sandbox.summarise_run(figures, label=label, path=Path(f"{label}.json"),
                                     policy=policy, seconds=0.0)

    loose, strict = summary(LOOSE, "loose"), summary(STRICT_RUN, "strict")
    assert sum(LOOSE["revenue_by_source_minor"].values()) \
        > sum(STRICT_RUN["revenue_by_source_minor"].values())
    assert loose["write_offs_minor"] == loose["past_due_m2plus_principal_minor"] == 0
    # Revenue minus realised losses alone would put the looser policy first.
    assert strict["expected_profit_minor"] > loose["expected_profit_minor"]
    assert loose["expected_loss_minor"] == 1_920_000  # 20,000,000 x 12 % x 80 %
    assert loose["expected_profit_minor"] == (560_000 - 40_000 - 0 - 5_000 - 1_920_000)
    assert sandbox.rank([loose, strict]) == ["strict", "loose"]
    assert sandbox.rank([strict, loose]) == ["strict", "loose"]
    assert loose["horizon"]["status"] == "too_short"


def test_horizon_rule():
    from creditpay.sim.sandbox import horizon_check

    plans12 = {"installment_plans_by_periods": {"3": 1, "12": 2}, "cash_loans": 0}
    short = horizon_check(70, plans12)
    assert short["status"] == "too_short" and short["days_for_first_bads"] == 71
    assert "71 days" in short["message"]
    early = horizon_check(71, plans12)
    assert early["status"] == "early_read"
    assert early["longest_term_days"] == 12 * 31
    assert early["days_for_lifetime_bad_rate"] == 12 * 31 + 30
    assert horizon_check(12 * 31 + 30, plans12)["status"] == "ok"
    # Lines only: one cycle and its grace, then 30 days past due.
    assert horizon_check(71, {})["status"] == "ok"
    # A cash loan counts with the longest term on offer.
    assert horizon_check(100, {"cash_loans": 1})["status"] == "early_read"


def test_sandbox_output_has_no_log_lines_and_says_what_decides(tmp_path, monkeypatch, capfd):
    import logging
    import os

    from creditpay.sim import economy, sandbox

    def noisy_run(config):
        print("a library's print")
        os.write(1, b"[LightGBM] [Warning] native noise\n")
        logging.getLogger("creditpay.sim").warning("a warning log line")
        return (STRICT_RUN if "strict" in config.policy_path.name else LOOSE), {}

    monkeypatch.setattr(economy, "run_economy", noisy_run)
    comparison = sandbox.run_sandbox([DEFAULT, STRICT], customers=10, merchants=2, days=40,
                                     seed=1, workdir=tmp_path / "out", progress=True)
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "native noise" in captured.err and "a library's print" in captured.err
    assert comparison["ranking"] == ["application_strict_v1", "application_v1"]
    assert comparison["best"] == "application_strict_v1"
    assert comparison["horizon"]["status"] == "too_short"
    sandbox.print_table(comparison)
    out = capfd.readouterr().out
    assert "expected loss on outstanding" in out and "= expected profit" in out
    assert "Best by expected profit: application_strict_v1" in out
    assert "WARNING: 40 days is too short for any bad rate" in out
    assert "native noise" not in out and "warning log line" not in out
    page = (tmp_path / "out" / "sandbox.html").read_text(encoding="utf-8")
    assert "Expected loss" in page and "Best by expected profit" in page
    stored = json.loads((tmp_path / "out" / "comparison.json").read_text(encoding="utf-8"))
    assert stored["ranking"] == comparison["ranking"]
