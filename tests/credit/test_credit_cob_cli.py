"""`creditpay cob run` on a SQLite file: runs, is idempotent, refuses a future date."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from creditpay.cli import app


def test_cob_run_command(tmp_path):
    db = str(tmp_path / "cob.db")
    runner = CliRunner()
    first = runner.invoke(app, ["cob", "run", "--date", "2020-01-01", "--db", db, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["business_date"] == "2020-01-01"
    again = runner.invoke(app, ["cob", "run", "--date", "2020-01-01", "--db", db, "--json"])
    assert json.loads(again.stdout)["already_done"] is True
    future = runner.invoke(app, ["cob", "run", "--date", "2999-01-01", "--db", db, "--json"])
    assert future.exit_code == 2 and future.stdout == ""


def test_close_of_business_seals_the_audit_chain(uow, clock):
    """Records appended during the day are chained by the night's close of business."""
    import datetime as dt

    from creditpay.compliance import audit
    from creditpay.credit.cob import run_close_of_business

    with uow.begin() as tx:
        audit.append(tx, "staff", "op1", "config.changed", "product", "huabei",
                     {"field": "grace_days", "to": 3})
    with uow.connect() as conn:
        assert audit.unsealed_count(conn) == 1
    run_close_of_business(uow, clock.today() - dt.timedelta(days=1))
    with uow.connect() as conn:
        assert audit.unsealed_count(conn) == 0
        assert audit.verify(conn).ok
