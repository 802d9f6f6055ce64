"""``creditpay risk early-warning`` and ``creditpay risk alerts`` through Typer's CliRunner."""

from __future__ import annotations

import json

from sqlalchemy import select
from tests.risk.early_warning.conftest import add_alert
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.clock import SystemClock
from creditpay.db.schema import open_database
from creditpay.db.uow import UnitOfWork
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
    refused = runner.invoke(app, ["risk", "alerts", "act", alert_id, "--operator", "op_1",
                                  "--role", "support", "--db", path])
    assert refused.exit_code == 2 and "operator_roles" in refused.output
    acted = runner.invoke(app, ["risk", "alerts", "act", alert_id, "--operator", "op_1",
                                "--role", "risk_analyst", "--db", path])
    assert acted.exit_code == 0, acted.output
    view = json.loads(acted.output)
    assert view["status"] == "actioned" and view["action"]["result"]["fraud_case_id"]

    other = add_alert(uow, "lower_limits", metric="utilisation")
    wrong = runner.invoke(app, ["risk", "alerts", "act", other, "--operator", "op_1",
                                "--role", "admin", "--playbook-param", "share=2",
                                "--db", path])
    assert wrong.exit_code == 2 and "parameters.share" in wrong.output
    dismissed = runner.invoke(app, ["risk", "alerts", "dismiss", other, "--operator", "op_1",
                                    "--reason", "test data", "--db", path])
    assert dismissed.exit_code == 0, dismissed.output
    with uow.connect() as conn:
        statuses = dict(conn.execute(select(ew_alerts.c.id, ew_alerts.c.status)).all())
    assert statuses == {alert_id: "actioned", other: "dismissed"}
    monitors = runner.invoke(app, ["risk", "early-warning", "monitors"])
    assert monitors.exit_code == 0 and "roll_rate_m0_m1" in monitors.output
    uow.engine.dispose()
