"""``creditpay risk early-warning`` and ``creditpay risk alerts`` through Typer's CliRunner."""

from __future__ import annotations

import json

from sqlalchemy import select
from tests.cli.staff import new_operator
from tests.risk.early_warning.conftest import add_alert
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.cli.common import services
from creditpay.clock import SystemClock
from creditpay.db.schema import open_database
from creditpay.db.uow import UnitOfWork
from creditpay.platform import approvals
from creditpay.platform.tables import audit_records
from creditpay.risk.early_warning.tables import ew_alerts, ew_runs

runner = CliRunner()


def _db(tmp_path):
    path = tmp_path / "ew.db"
    engine = open_database(f"sqlite:///{path}")
    return str(path), UnitOfWork(engine, SystemClock())


def test_run_is_idempotent_and_alerts_are_worked(tmp_path):
    path, uow = _db(tmp_path)
    first = runner.invoke(app, ["risk", "early-warning", "run", "--date", "2025-03-01",
                                "--db", path, "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert report["business_date"] == "2025-03-01" and report["already_ran"] is False
    again = runner.invoke(app, ["risk", "early-warning", "run", "--date", "2025-03-01",
                                "--db", path])
    assert again.exit_code == 0 and "already ran" in again.output
    with uow.connect() as conn:
        assert len(conn.execute(select(ew_runs)).all()) == 1
    bad = runner.invoke(app, ["risk", "early-warning", "run", "--date", "March", "--db", path])
    assert bad.exit_code != 0

    alert_id = add_alert(uow, "review_fraud_rules", metric="fraud_rate")
    listed = runner.invoke(app, ["risk", "alerts", "list", "--status", "open", "--db", path,
                                 "--json"])
    assert listed.exit_code == 0, listed.output
    assert [a["id"] for a in json.loads(listed.output)] == [alert_id]
    analyst = new_operator(uow, "risk_analyst")
    support = new_operator(uow, "support")
    refused = runner.invoke(app, ["risk", "alerts", "act", alert_id, "--token",
                                  support["token"], "--db", path])
    assert refused.exit_code == 2 and "roles ['admin', 'risk_analyst']" in refused.output
    # A playbook run from the shell is a four-eyes proposal too, made by the token's operator
    # (CREDITPAY_OPERATOR_TOKEN works as --token does).
    proposed = runner.invoke(app, ["risk", "alerts", "act", alert_id, "--db", path],
                             env={"CREDITPAY_OPERATOR_TOKEN": analyst["token"]})
    assert proposed.exit_code == 0, proposed.output
    proposal = json.loads(proposed.output)
    assert proposal["status"] == "pending" and proposal["kind"] == "playbook.run"
    assert (proposal["proposed_by"], proposal["proposer_role"]) == (analyst["id"],
                                                                    "risk_analyst")
    admin = new_operator(uow, "admin")
    built = services(path, read_only=False)
    try:
        approved = built.uow.run(lambda tx: approvals.approve(
            tx, proposal["approval_id"], approvals.Actor(admin["id"], "admin"),
            built.controlled_actions))
    finally:
        built.close()
    assert approved.status == "approved", approved
    assert approved.result["action"]["result"]["fraud_case_id"], approved.result

    other = add_alert(uow, "lower_limits", metric="utilisation")
    wrong = runner.invoke(app, ["risk", "alerts", "act", other, "--token", admin["token"],
                                "--playbook-param", "share=2", "--db", path])
    assert wrong.exit_code == 2 and "parameters.share" in wrong.output
    dismissed = runner.invoke(app, ["risk", "alerts", "dismiss", other, "--token",
                                    analyst["token"], "--reason", "test data", "--db", path])
    assert dismissed.exit_code == 0, dismissed.output
    assert json.loads(dismissed.output)["dismissed_by"] == analyst["id"]
    with uow.connect() as conn:
        statuses = dict(conn.execute(select(ew_alerts.c.id, ew_alerts.c.status)).all())
        actors = {r.action: r.actor_id for r in conn.execute(select(audit_records).where(
            audit_records.c.action.in_(["early_warning.alert_dismissed",
                                        "approval.proposed"])))}
    assert statuses == {alert_id: "actioned", other: "dismissed"}
    assert actors == {"early_warning.alert_dismissed": analyst["id"],
                      "approval.proposed": analyst["id"]}
    monitors = runner.invoke(app, ["risk", "early-warning", "monitors"])
    assert monitors.exit_code == 0 and "roll_rate_m0_m1" in monitors.output
    uow.engine.dispose()


def test_staff_commands_refuse_without_a_valid_operator_token(tmp_path):
    path, uow = _db(tmp_path)
    alert_id = add_alert(uow, "review_fraud_rules", metric="fraud_rate")
    analyst = new_operator(uow, "risk_analyst")
    for command in (["act", alert_id], ["acknowledge", alert_id],
                    ["dismiss", alert_id, "--reason", "r"]):
        missing = runner.invoke(app, ["risk", "alerts", *command, "--db", path],
                                env={"CREDITPAY_OPERATOR_TOKEN": ""})
        assert missing.exit_code == 2 and "--token" in missing.output, missing.output
        forged = runner.invoke(app, ["risk", "alerts", *command, "--db", path, "--token",
                                     analyst["token"][:-4] + "AAAA"])
        assert forged.exit_code == 2 and "invalid operator token" in forged.output
        # A typed-in identity is no longer an option.
        typed = runner.invoke(app, ["risk", "alerts", *command, "--db", path, "--operator",
                                    analyst["id"], "--role", "admin"])
        assert typed.exit_code == 2 and "--operator" in typed.output
    with uow.begin() as tx:
        from sqlalchemy import update

        from creditpay.parties.tables import operators

        tx.conn.execute(update(operators).values(disabled_at=tx.now))
    disabled = runner.invoke(app, ["risk", "alerts", "acknowledge", alert_id, "--db", path,
                                   "--token", analyst["token"]])
    assert disabled.exit_code == 2 and "disabled" in disabled.output
    with uow.connect() as conn:
        assert conn.execute(select(ew_alerts.c.status)).scalar_one() == "open"
        assert conn.execute(select(audit_records).where(
            audit_records.c.actor_type == "staff",
            audit_records.c.action != "operator.created")).first() is None
    uow.engine.dispose()
