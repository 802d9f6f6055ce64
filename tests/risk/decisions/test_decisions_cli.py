"""``creditpay risk ...`` end to end on a SQLite file (the CLI is the shell over the service)."""

from __future__ import annotations

import json

from tests.cli.staff import new_operator
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.clock import SystemClock
from creditpay.db.engine import make_engine
from creditpay.db.schema import open_database
from creditpay.db.uow import UnitOfWork
from creditpay.risk.decisions.policy import bundled_policy_path

from .conftest import GOOD_APPLICATION, grant

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _analyst_token(db, role: str = "risk_analyst") -> str:
    """A ``role`` operator's token on ``db`` (created and migrated here)."""
    engine = open_database(f"sqlite:///{db}")
    try:
        return new_operator(UnitOfWork(engine, SystemClock()), role)["token"]
    finally:
        engine.dispose()


def _activate_policy(db, maker: str, checker: str) -> dict:
    """Put the bundled application policy in force the four-eyes way: proposed by
    ``maker`` (nothing in force yet), refused to its proposer, approved by ``checker``."""
    proposed = _run("risk", "policy", "activate", bundled_policy_path("application"),
                    "--token", maker, "--db", db)
    assert proposed.exit_code == 0, proposed.output
    approval = json.loads(proposed.output)
    assert approval["kind"] == "credit_policy.activate" and approval["status"] == "pending"
    own = _run("approvals", "approve", approval["approval_id"], "--token", maker, "--db", db)
    assert own.exit_code == 2 and "another operator" in own.output
    done = _run("approvals", "approve", approval["approval_id"], "--token", checker,
                "--db", db)
    assert done.exit_code == 0, done.output
    approved = json.loads(done.output)
    assert approved["status"] == "approved"
    assert approved["result"]["policy_id"] == approval["payload"]["policy_id"]
    return approved


def _promote(db, maker: str, checker: str, version: int, reason: str) -> dict:
    """Promote ``version`` of the application model the four-eyes way: proposed by
    ``maker`` (nothing changes yet), refused to its proposer, approved by ``checker``."""
    proposed = _run("risk", "models", "promote", "application", version, "--token", maker,
                    "--reason", reason, "--db", db)
    assert proposed.exit_code == 0, proposed.output
    approval = json.loads(proposed.output)
    assert approval["kind"] == "model.promote" and approval["status"] == "pending"
    assert approval["payload"]["version"] == version
    own = _run("approvals", "approve", approval["approval_id"], "--token", maker, "--db", db)
    assert own.exit_code == 2 and "another operator" in own.output
    done = _run("approvals", "approve", approval["approval_id"], "--token", checker,
                "--db", db)
    assert done.exit_code == 0, done.output
    approved = json.loads(done.output)
    assert approved["result"]["champion_version"] == version
    return approved


def test_register_promote_decide_replay_rollback(tmp_path, model_dirs):
    db = tmp_path / "cli.db"
    ops = _analyst_token(db)
    checker = _analyst_token(db, "admin")
    for folder in (model_dirs["application"], model_dirs["application_challenger"]):
        result = _run("risk", "models", "register", folder, "--name", "application",
                      "--token", ops, "--db", db)
        assert result.exit_code == 0, result.output
    _promote(db, ops, checker, 1, "first")
    # Nothing decides before the policy is in force: its activation is a proposal first.
    _activate_policy(db, ops, checker)
    engine = make_engine(f"sqlite:///{db}")
    try:
        with UnitOfWork(engine, SystemClock()).begin() as tx:
            consent_reference = grant(tx, "c1", "bureau_inquiry")
    finally:
        engine.dispose()
    request = {"application_id": "cli-1", "customer_id": "c1", "product_code": "credit_line",
               "application": GOOD_APPLICATION, "platform_events": [],
               "bureau_consent_reference": consent_reference}
    path = tmp_path / "app.json"
    path.write_text(json.dumps(request))
    result = _run("risk", "decide", "--application", path, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["outcome"] in ("approve", "decline", "refer")
    assert decision["policy"]["version"] == "2025.1"
    result = _run("risk", "replay", decision["decision_id"], "--db", db, "--json")
    assert result.exit_code == 0 and json.loads(result.output)["matches"] is True
    _promote(db, ops, checker, 2, "v2")
    result = _run("risk", "models", "rollback", "application", "--token", ops, "--reason",
                  "oops", "--db", db)
    assert result.exit_code == 0 and json.loads(result.output)["champion_version"] == 1
    listing = json.loads(_run("risk", "models", "list", "--db", db, "--json").output)
    assert [m["version"] for m in listing["models"]] == [1, 2]
    assert listing["assignments"]["application"]["champion_version"] == 1


def test_errors_name_the_field_and_exit_2(tmp_path):
    broken = json.loads(bundled_policy_path("application").read_text(encoding="utf-8"))
    broken["parameters"]["apr_cap_bps"] = -5
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(broken))
    result = _run("risk", "policy", "check", path)
    assert result.exit_code == 2 and "parameters.apr_cap_bps" in result.output
    request = tmp_path / "app.json"
    request.write_text(json.dumps({"application_id": "x", "surprise": 1}))
    result = _run("risk", "decide", "--application", request, "--db", tmp_path / "d.db")
    assert result.exit_code == 2 and "surprise" in result.output
    result = _run("risk", "decide", "--application", tmp_path / "missing.json", "--db",
                  tmp_path / "d.db")
    assert result.exit_code == 2
    # A read-only command never creates the database: replay names the missing file ...
    result = _run("risk", "replay", "nope", "--db", tmp_path / "d.db")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "d.db").exists()
    # ... and, in a database that exists, the unknown decision.
    ops = _analyst_token(tmp_path / "d.db")
    _activate_policy(tmp_path / "d.db", ops, _analyst_token(tmp_path / "d.db", "admin"))
    result = _run("risk", "replay", "nope", "--db", tmp_path / "d.db")
    assert result.exit_code == 2 and "decision_id" in result.output


def test_decide_names_a_missing_key_and_creates_no_database(tmp_path):
    request = {"application_id": "cli-2", "customer_id": "c1", "product_code": "credit_line",
               "application": {}}
    for key in ("application_id", "customer_id", "product_code", "application"):
        path = tmp_path / f"without-{key}.json"
        path.write_text(json.dumps({k: v for k, v in request.items() if k != key}))
        db = tmp_path / f"without-{key}.db"
        result = _run("risk", "decide", "--application", path, "--db", db)
        assert result.exit_code == 2, result.output
        assert key in result.output and "is required" in result.output
        assert not db.exists()  # refused before anything is opened


def test_policy_and_model_changes_need_a_risk_operators_token(tmp_path, model_dirs):
    db = tmp_path / "staff.db"
    engine = open_database(f"sqlite:///{db}")
    try:
        support = new_operator(UnitOfWork(engine, SystemClock()), "support")["token"]
    finally:
        engine.dispose()
    for args in (("risk", "policy", "activate", bundled_policy_path("application")),
                 ("risk", "models", "register", model_dirs["application"], "--name",
                  "application"),
                 ("risk", "models", "rollback", "application", "--reason", "r")):
        missing = runner.invoke(app, [str(a) for a in (*args, "--db", db)],
                                env={"CREDITPAY_OPERATOR_TOKEN": ""})
        assert missing.exit_code == 2 and "--token" in missing.output, missing.output
        wrong_role = _run(*args, "--token", support, "--db", db)
        assert wrong_role.exit_code == 2 and "roles" in wrong_role.output
        typed = _run(*args, "--actor", "ops", "--db", db)
        assert typed.exit_code == 2 and "--actor" in typed.output
    listing = json.loads(_run("risk", "models", "list", "--db", db, "--json").output)
    assert listing["models"] == []


def test_approvals_cli_lists_rejects_and_refuses_a_decided_proposal(tmp_path):
    db = tmp_path / "approvals.db"
    maker, checker = _analyst_token(db), _analyst_token(db, "admin")
    proposed = json.loads(_run("risk", "policy", "activate",
                               bundled_policy_path("application"), "--token", maker,
                               "--db", db).output)
    listed = json.loads(_run("approvals", "list", "--token", checker, "--db", db).output)
    assert [a["approval_id"] for a in listed["data"]] == [proposed["approval_id"]]
    no_reason = _run("approvals", "reject", proposed["approval_id"], "--token", checker,
                     "--reason", " ", "--db", db)
    assert no_reason.exit_code == 2 and "reason" in no_reason.output
    rejected = _run("approvals", "reject", proposed["approval_id"], "--token", checker,
                    "--reason", "wrong version", "--db", db)
    assert rejected.exit_code == 0 and json.loads(rejected.output)["status"] == "rejected"
    again = _run("approvals", "approve", proposed["approval_id"], "--token", checker,
                 "--db", db)
    assert again.exit_code == 2 and "rejected" in again.output
    support = _analyst_token(db, "support")
    assert _run("approvals", "list", "--token", support, "--db", db).exit_code == 2
    # Nothing was put in force: deciding still needs a policy.
    pending = json.loads(_run("approvals", "list", "--status", "pending", "--token",
                              checker, "--db", db).output)
    assert pending["data"] == []


def test_fraud_rules_go_live_only_once_a_second_operator_approves(tmp_path):
    db = tmp_path / "rules.db"
    maker, checker = _analyst_token(db), _analyst_token(db, "admin")
    document = {"version": "rules-cli-1", "blocklists": {}, "rules": [
        {"name": "big", "action": "review",
         "when": {"field": "amount_minor", "op": ">=", "value": 1_000_000}}]}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(document))
    assert _run("risk", "fraud-rules", "load", path, "--token", maker, "--db", db
                ).exit_code == 0
    missing = _run("risk", "fraud-rules", "activate", "rules-missing", "--token", maker,
                   "--db", db)
    assert missing.exit_code == 2 and "version" in missing.output
    proposed = _run("risk", "fraud-rules", "activate", "rules-cli-1", "--token", maker,
                    "--db", db)
    assert proposed.exit_code == 0, proposed.output
    approval = json.loads(proposed.output)
    assert approval["kind"] == "fraud_rules.activate"
    assert "no rule set" in _run("risk", "fraud-rules", "show", "--db", db).output.lower() \
        or "rules-cli-1" not in _run("risk", "fraud-rules", "show", "--db", db).output
    done = _run("approvals", "approve", approval["approval_id"], "--token", checker,
                "--db", db)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["result"]["version"] == "rules-cli-1"
    assert "rules-cli-1" in _run("risk", "fraud-rules", "show", "--db", db).output


def test_a_promotion_approved_after_the_assignment_changed_is_stale(tmp_path, model_dirs):
    db = tmp_path / "stale.db"
    ops = _analyst_token(db)
    checker = _analyst_token(db, "admin")
    for folder in (model_dirs["application"], model_dirs["application_challenger"]):
        assert _run("risk", "models", "register", folder, "--name", "application",
                    "--token", ops, "--db", db).exit_code == 0
    _promote(db, ops, checker, 1, "first")
    late = json.loads(_run("risk", "models", "promote", "application", 2, "--token", ops,
                           "--reason", "v2", "--db", db).output)
    assert late["payload"]["in_force"]["champion_version"] == 1
    _promote(db, ops, checker, 2, "v2 sooner")
    assert _run("risk", "models", "rollback", "application", "--token", ops, "--reason",
                "back to 1", "--db", db).exit_code == 0
    stale = _run("approvals", "approve", late["approval_id"], "--token", checker, "--db", db)
    assert stale.exit_code == 2 and "changed since the proposal" in stale.output
    listing = json.loads(_run("risk", "models", "list", "--db", db, "--json").output)
    assert listing["assignments"]["application"]["champion_version"] == 1
    missing = _run("risk", "models", "promote", "application", 9, "--token", ops,
                   "--reason", "x", "--db", db)
    assert missing.exit_code == 2 and "version 9" in missing.output
