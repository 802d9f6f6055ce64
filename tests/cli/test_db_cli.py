"""``creditpay db upgrade`` / ``db current`` on both stores, and production mode's refusal
of a database behind this release's schema (it never migrates on open)."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditpay.bootstrap import DatabaseBehindError, ServiceOptions, build_services
from creditpay.cli import app
from creditpay.clock import SystemClock
from creditpay.config import Settings
from creditpay.db.engine import make_engine
from creditpay.db.schema import head_revisions, migrate

runner = CliRunner()
OLD = "0034_credit_funding"  # a revision on the credit branch, behind its head
_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def behind(request: pytest.FixtureRequest, tmp_path: Path):
    """A database migrated only to an older revision (one branch, not at head)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'behind.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        name = f"behind_{os.getpid()}_{next(_names)}"
        url = server.create_database(name)
    engine = make_engine(url)
    migrate(engine, OLD)
    engine.dispose()
    yield url
    if request.param == "postgresql":
        server.drop_database(name)


def _run(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env={"CREDITPAY_MODE": "development", **(env or {})})


def test_current_then_upgrade_then_current(behind):
    before = _run("db", "current", "--db", behind, "--json")
    assert before.exit_code == 1, before.output
    status = json.loads(before.stdout)
    assert status == {"current": [OLD], "head": list(head_revisions()), "at_head": False}
    assert _run("db", "current", "--db", behind).exit_code == 1  # read only: still behind

    upgraded = _run("db", "upgrade", "--db", behind, "--json")
    assert upgraded.exit_code == 0, upgraded.output
    out = json.loads(upgraded.stdout)
    assert out["from"] == [OLD] and out["to"] == list(head_revisions()) and out["upgraded"]

    after = _run("db", "current", "--db", behind, "--json")
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout)["at_head"] is True
    again = _run("db", "upgrade", "--db", behind)
    assert again.exit_code == 0 and "already at head" in again.stdout


def test_production_mode_refuses_a_database_behind_head_and_never_migrates(behind):
    settings = Settings.of(database_url=behind, mode="production")
    with pytest.raises(DatabaseBehindError, match="creditpay db upgrade"):
        build_services(settings, SystemClock(), ServiceOptions(pool_size=1))
    status = _run("db", "current", "--db", behind, "--json")
    assert json.loads(status.stdout)["current"] == [OLD]  # untouched
    # The same refusal through a command, with the environment's mode.
    result = _run("ledger", "verify", "--db", behind, env={"CREDITPAY_MODE": "production"})
    assert result.exit_code == 2 and "creditpay db upgrade" in result.output
    # Development mode still migrates on open (the embedded default).
    build_services(Settings.of(database_url=behind), SystemClock(),
                   ServiceOptions(pool_size=1)).close()
    assert json.loads(_run("db", "current", "--db", behind, "--json").stdout)["at_head"]


def test_current_never_creates_a_database(tmp_path):
    missing = tmp_path / "missing.db"
    result = _run("db", "current", "--db", str(missing), "--json")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = _run("db", "current", "--db", str(empty), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["current"] == []
    with sqlite3.connect(empty) as conn:  # no alembic_version table was made
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_production_mode_never_creates_a_database(tmp_path):
    missing = tmp_path / "new.db"
    result = _run("ledger", "verify", "--db", str(missing), env={"CREDITPAY_MODE": "production"})
    assert result.exit_code == 2 and not missing.exists()
    created = _run("db", "upgrade", "--db", str(missing), env={"CREDITPAY_MODE": "production"})
    assert created.exit_code == 0 and missing.exists()
    assert _run("ledger", "verify", "--db", str(missing),
                env={"CREDITPAY_MODE": "production"}).exit_code == 0
