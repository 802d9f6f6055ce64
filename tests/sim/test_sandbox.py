"""``creditpay sandbox``: one simulated population under two credit policies, compared."""

from __future__ import annotations

import json
import re

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
        assert policy["expected_profit_minor"] == policy["revenue_minor"] - policy["losses_minor"]
        assert policy["losses_minor"] == (policy["write_offs_minor"]
                                          + policy["past_due_m2plus_principal_minor"])
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
    assert not (tmp_path / "out").exists()  # refused before any run
