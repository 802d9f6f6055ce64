"""The command line: --help everywhere, the ledger group, and a deterministic demo."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from creditpay.cli import app

runner = CliRunner()


def _all_commands(command, path: tuple[str, ...] = ()):
    yield path
    # Typer may ship its own click; a group is whatever has sub-commands.
    if getattr(command, "commands", None):
        for name, sub in command.commands.items():
            yield from _all_commands(sub, (*path, name))


@pytest.mark.parametrize("path", list(_all_commands(get_command(app))),
                         ids=lambda p: " ".join(p) or "creditpay")
def test_every_command_has_help(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_ledger_commands_read_the_demo_database(tmp_path):
    """The demo's figures agree with what the ledger commands read back from its file
    (same-seed determinism is tests/sim's)."""
    db = str(tmp_path / "demo.db")
    result = runner.invoke(app, ["demo", "--customers", "60", "--merchants", "5", "--days", "6",
                                 "--seed", "7", "--db", db, "--out", str(tmp_path / "out"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert (tmp_path / "out" / "figures.json").exists()
    assert figures["ledger_ok"] is True
    assert figures["transfers"] > 100
    assert figures["purchases_credit_minor"] > 0 and figures["topups_minor"] > 0
    verify = runner.invoke(app, ["ledger", "verify", "--db", db, "--json"])
    assert verify.exit_code == 0 and json.loads(verify.output)["ok"] is True
    accounts = json.loads(runner.invoke(app, ["ledger", "accounts", "--db", db, "--json",
                                              "--limit", "1000"]).output)
    wallets = [a for a in accounts if a["code"] == "wallet"]
    assert len(wallets) == 60
    assert sum(a["balance_minor"] for a in wallets) == figures["balances"]["wallets_total"]
    balance = runner.invoke(app, ["ledger", "balance", wallets[0]["key"], "--db", db, "--json"])
    assert balance.exit_code == 0, balance.output
    assert json.loads(balance.output)["available_minor"] >= 0
    missing = runner.invoke(app, ["ledger", "balance", "nope:x:CNY", "--db", db])
    assert missing.exit_code == 2 and "key" in missing.output
    transfers = json.loads(runner.invoke(app, ["ledger", "transfers", "--db", db, "--json",
                                               "--limit", "5"]).output)
    assert [t["seq"] for t in transfers] == [1, 2, 3, 4, 5]
    export = runner.invoke(app, ["ledger", "export", "--db", db, "--out",
                                 str(tmp_path / "journal.parquet")])
    assert export.exit_code == 0 and (tmp_path / "journal.parquet").exists()


def test_installed_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "creditpay.cli", "--help"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "ledger" in result.stdout


def test_domain_errors_print_one_line_and_exit_2(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith("CREDITPAY_MASTER_KEY")}
    result = subprocess.run([sys.executable, "-m", "creditpay.cli", "serve", "--db",
                             str(tmp_path / "s.db"), "--port", "1"],
                            capture_output=True, text=True, timeout=120, check=False, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # Log lines (one JSON object each: the migrations that ran) may come first; the error
    # is the one plain line.
    plain = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(plain) == 1 and plain[0].startswith("error: "), result.stderr
    for line in result.stderr.splitlines():
        if line.startswith("{"):
            json.loads(line)


def test_the_demo_runs_again_on_the_same_database(tmp_path):
    """A second `creditpay demo` on the same file (as `make demo` twice in one checkout)
    recreates the database and its audit checkpoints: the new chain is not refused as the
    old one cut short."""
    db = str(tmp_path / "demo.db")
    for _ in range(2):
        result = runner.invoke(app, ["demo", "--customers", "30", "--merchants", "3",
                                     "--days", "3", "--db", db,
                                     "--out", str(tmp_path / "out"), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output.strip().splitlines()[-1])["ledger_ok"] is True
    assert (tmp_path / "demo.audit-checkpoints").is_dir()
    verify = runner.invoke(app, ["audit", "verify", "--db", db],
                           env={"CREDITPAY_MASTER_KEY_FILE": str(tmp_path / "demo.key")})
    assert verify.exit_code == 0, verify.output
