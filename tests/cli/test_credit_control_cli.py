"""``creditpay credit limit`` on a SQLite file: applied at or below the four-eyes threshold,
proposed above it and applied once when another operator approves it with ``creditpay
approvals approve``; a refusal names the field and writes nothing; no token, no change."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.clock import SystemClock
from creditpay.credit.lines import get_line
from creditpay.db.schema import open_database
from creditpay.db.uow import UnitOfWork
from creditpay.platform.tables import approvals
from tests.cli.staff import new_operator
from tests.credit.servicing_helpers import new_customer

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args], env={"CREDITPAY_OPERATOR_TOKEN": ""})


def _world(db) -> tuple[str, str, str]:
    engine = open_database(f"sqlite:///{db}")
    try:
        uow = UnitOfWork(engine, SystemClock())
        line_id = new_customer(uow, "cus_cli_limit").line_id
        return line_id, new_operator(uow, "risk_analyst")["token"], \
            new_operator(uow, "admin")["token"]
    finally:
        engine.dispose()


def _state(db, line_id: str) -> tuple[int, int, int]:
    engine = open_database(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            line = get_line(conn, line_id)
            count = conn.execute(select(func.count()).select_from(approvals)).scalar_one()
        return line["limit_minor"], line["limit_version"], int(count)
    finally:
        engine.dispose()


def test_credit_limit_applies_or_proposes(tmp_path):
    db = tmp_path / "limit.db"
    line_id, maker, checker = _world(db)
    applied = _run("credit", "limit", "--line", line_id, "--limit-minor", 2_000_000,
                   "--reason", "review", "--token", maker, "--db", db)
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.output)["limit_minor"] == 2_000_000
    proposed = _run("credit", "limit", "--line", line_id, "--limit-minor", 7_000_000,
                    "--reason", "income verified", "--token", maker, "--db", db)
    assert proposed.exit_code == 0, proposed.output
    proposal = json.loads(proposed.output)
    assert proposal["kind"] == "credit_line.limit" and proposal["status"] == "pending"
    assert _state(db, line_id) == (2_000_000, 2, 1)
    own = _run("approvals", "approve", proposal["approval_id"], "--token", maker, "--db", db)
    assert own.exit_code == 2 and "another operator" in own.output
    done = _run("approvals", "approve", proposal["approval_id"], "--token", checker,
                "--db", db)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["result"]["limit_minor"] == 7_000_000
    assert _state(db, line_id) == (7_000_000, 3, 1)


def test_credit_limit_refusals_change_nothing(tmp_path):
    db = tmp_path / "refused.db"
    line_id, maker, _checker = _world(db)
    capped = _run("credit", "limit", "--line", line_id, "--limit-minor", 20_000_001,
                  "--reason", "too much", "--token", maker, "--db", db)
    assert capped.exit_code == 2 and "limit_minor" in capped.output
    missing = _run("credit", "limit", "--line", "line_nobody", "--limit-minor", 100,
                   "--reason", "x", "--token", maker, "--db", db)
    assert missing.exit_code == 2 and "line_id" in missing.output
    anonymous = _run("credit", "limit", "--line", line_id, "--limit-minor", 100,
                     "--reason", "x", "--db", db)
    assert anonymous.exit_code == 2 and "--token" in anonymous.output
    assert _state(db, line_id) == (1_000_000, 1, 0)


def test_write_off_reverse_is_always_proposed(tmp_path):
    from creditpay.clock import SimulatedClock
    from tests.credit.servicing_helpers import buy, close_days
    from tests.credit.test_write_off_reversal import FAST

    db = tmp_path / "wo.db"
    engine = open_database(f"sqlite:///{db}")
    try:
        clock = SimulatedClock("2025-03-01T09:00:00+00:00")
        uow = UnitOfWork(engine, clock)
        who = new_customer(uow, "cus_cli_wo", catalogue=FAST)
        buy(uow, who, "cli-wo-p1", 50_000, catalogue=FAST)
        close_days(uow, clock, 80, catalogue=FAST)
        maker = new_operator(uow, "risk_analyst")["token"]
        checker = new_operator(uow, "admin")["token"]
        with engine.connect() as conn:
            line = get_line(conn, who.line_id)
            # Written off: frozen by the lender, not a freeze the consumer may lift.
            assert (line["status"], line["frozen_reason"]) == ("frozen", "write_off")
    finally:
        engine.dispose()
    proposed = _run("credit", "write-off-reverse", "--account", who.line_id, "--reason",
                    "misposted repayment", "--token", maker, "--db", db)
    assert proposed.exit_code == 0, proposed.output
    proposal = json.loads(proposed.output)
    assert proposal["kind"] == "write_off.reverse" and proposal["status"] == "pending"
    done = _run("approvals", "approve", proposal["approval_id"], "--token", checker,
                "--db", db)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["result"]["status"] == "active"
    engine = open_database(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            line = get_line(conn, who.line_id)
            assert (line["status"], line["frozen_reason"]) == ("active", None)
    finally:
        engine.dispose()
    refused = _run("credit", "write-off-reverse", "--account", who.line_id, "--reason", "x",
                   "--token", maker, "--db", db)
    assert refused.exit_code == 2 and "account_id" in refused.output


def _operators(db) -> tuple[str, str, str]:
    engine = open_database(f"sqlite:///{db}")
    try:
        uow = UnitOfWork(engine, SystemClock())
        return (new_operator(uow, "risk_analyst")["token"], new_operator(uow, "admin")["token"],
                new_operator(uow, "compliance_officer")["token"])
    finally:
        engine.dispose()


def test_products_and_caps_are_proposed_from_a_file_and_listed(tmp_path):
    import yaml

    from creditpay.credit.products import PRODUCTS_DIR

    db = tmp_path / "catalogue.db"
    maker, checker, compliance = _operators(db)
    document = yaml.safe_load((PRODUCTS_DIR / "jiebei_v1.yaml").read_text(encoding="utf-8"))
    del document["version"]
    path = tmp_path / "jiebei.yaml"
    path.write_text(yaml.safe_dump({**document, "annual_rate": "0.146"}), encoding="utf-8")
    proposed = _run("credit", "products", "propose", path, "--token", maker, "--db", db)
    assert proposed.exit_code == 0, proposed.output
    proposal = json.loads(proposed.output)
    assert (proposal["kind"], proposal["payload"]["version"]) == ("product.change", 2)
    refused = _run("credit", "products", "propose", path, "--token", compliance, "--db", db)
    assert refused.exit_code == 2  # compliance reads, never proposes
    done = _run("approvals", "approve", proposal["approval_id"], "--token", checker,
                "--db", db)
    assert done.exit_code == 0, done.output
    listed = _run("credit", "products", "list", "--token", compliance, "--db", db)
    assert listed.exit_code == 0, listed.output
    jiebei = {r["version"]: r for r in json.loads(listed.output) if r["code"] == "jiebei"}
    assert (jiebei[2]["source"], jiebei[2]["active_for_new_business"]) == ("stored", True)

    path.write_text(yaml.safe_dump({**document, "annual_rate": "0.30"}), encoding="utf-8")
    capped = _run("credit", "products", "propose", path, "--token", maker, "--db", db)
    assert capped.exit_code == 2 and "annual_rate" in capped.output
    caps = tmp_path / "CN.yaml"
    caps.write_text(yaml.safe_dump({"jurisdiction": "CN", "currency": "CNY",
                                    "all_in_annual_cost_max": "0.10", "lpr_one_year": "0.03",
                                    "penalty_lpr_multiple": "4",
                                    "unsecured_exposure_max_minor": 20_000_000}),
                    encoding="utf-8")
    low = _run("credit", "caps", "propose", caps, "--token", maker, "--db", db)
    assert low.exit_code == 2 and "all_in_annual_cost_max" in low.output
    listed_caps = _run("credit", "caps", "list", "--token", maker, "--db", db)
    assert [c["version"] for c in json.loads(listed_caps.output)] == [1]
