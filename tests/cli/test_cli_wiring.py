"""The command line as a whole: --version, a --help that imports no heavy library, one --db
option (a URL or a path) in every command, and read-only commands that never create a
database."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.cli.common import DB_HELP

runner = CliRunner()
KEY = "A" * 43 + "="  # base64 of 32 bytes
SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("numpy", "polars", "pyarrow", "sqlalchemy", "lightgbm", "sklearn", "fastapi",
         "uvicorn", "pydantic", "cryptography", "optbinning", "zen", "plotly", "weasyprint")
# Commands that only read: each must refuse a database that does not exist.
READ_ONLY = [
    ("ledger", "accounts"), ("ledger", "verify"), ("ledger", "transfers"),
    ("ledger", "balance", "wallet:x:CNY"), ("ledger", "export", "--out", "OUT.csv"),
    ("risk", "fraud-rules", "show"), ("risk", "fraud-rules", "history"),
    ("risk", "models", "list"), ("risk", "alerts", "list"), ("risk", "replay", "d-1"),
    ("audit", "verify"), ("consent", "list", "--customer", "c-1"), ("complaints", "stats"),
    ("reports", "daily", "--date", "2025-03-01", "--out", "OUT"),
    ("subject", "export", "--customer", "c-1", "--out", "OUT.json"),
    ("fx", "rates"), ("fx", "position", "--date", "2025-03-01"),
]


def _python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          check=False, cwd=cwd, env=env)


def test_version_prints_the_package_version():
    result = _python("-m", "creditpay.cli", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"creditpay {version('creditpay')}"


def test_help_imports_no_heavy_library():
    probe = ("import sys\nsys.argv = ['creditpay', '--help']\n"
             "from creditpay.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = _python("-c", probe)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _db_options(command, path=()):  # type: ignore[no-untyped-def]
    for param in getattr(command, "params", []):
        if "--db" in getattr(param, "opts", ()):
            yield " ".join(path), param
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _db_options(sub, (*path, name))


def test_every_command_has_the_same_db_option():
    options = list(_db_options(get_command(app)))
    assert len(options) > 25
    for path, param in options:
        if path.startswith("bench "):
            continue  # a benchmark's --db defaults to a scratch database of its own
        assert param.name == "db", path
        if path == "demo":
            assert param.help.startswith(DB_HELP), path
        else:
            assert param.help == DB_HELP, path


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
@pytest.mark.parametrize("form", ["path", "url"])
def test_a_read_only_command_never_creates_a_database(tmp_path, command, form):
    missing = tmp_path / "nowhere" / "x.db"
    db = str(missing) if form == "path" else f"sqlite:///{missing}"
    args = [part.replace("OUT", str(tmp_path / "out")) for part in command]
    # With key material, so that commands that need it get as far as the database.
    result = runner.invoke(app, [*args, "--db", db], env={"CREDITPAY_MASTER_KEY": KEY})
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.output
    assert not (tmp_path / "nowhere").exists()
    assert list(tmp_path.iterdir()) == [] or not missing.exists()


def test_a_read_only_command_on_a_missing_server_database_says_so(store):
    if store.kind != "postgresql":
        pytest.skip("a server database")
    url = store.url.rsplit("/", 1)[0] + "/creditpay_no_such_database"
    result = runner.invoke(app, ["ledger", "verify", "--db", url])
    assert result.exit_code == 2
    assert "creditpay_no_such_database" in result.output


def test_a_read_only_command_refuses_a_file_that_is_not_a_creditpay_database(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    result = runner.invoke(app, ["ledger", "verify", "--db", str(empty)])
    assert result.exit_code == 2 and "no creditpay" in result.output
    assert empty.stat().st_size == 0  # nothing was written into it


@pytest.mark.parametrize("bad", ["sqlite:x.db", "mysql://u@h/db"])
def test_a_db_that_is_neither_a_url_nor_a_path_is_refused(tmp_path, monkeypatch, bad):
    monkeypatch.chdir(tmp_path)
    for command in (["ledger", "verify"], ["risk", "models", "list"], ["demo", "--days", "1"]):
        result = runner.invoke(app, [*command, "--db", bad])
        assert result.exit_code == 2, result.output
        assert "--db" in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_same_database_as_a_url_or_a_path(store):
    """Any command reads the same database whether --db is its URL or (SQLite) its path."""
    forms = [store.url]
    if store.kind == "sqlite":
        forms.append(store.url.removeprefix("sqlite:///"))
    for db in forms:
        result = runner.invoke(app, ["risk", "models", "list", "--db", db, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["models"] == []
        result = runner.invoke(app, ["ledger", "verify", "--db", db, "--json"])
        assert result.exit_code == 0, result.output


def test_demo_takes_a_sqlite_url_or_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = ["demo", "--customers", "4", "--merchants", "1", "--days", "1", "--json"]
    result = runner.invoke(app, [*tiny, "--db", "sqlite:///runs/a.db", "--out", "out-a"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "a.db").is_file()
    assert not (tmp_path / "sqlite:").exists()
    result = runner.invoke(app, [*tiny, "--db", "runs/b.db", "--out", "out-b"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "b.db").is_file()
    verify = runner.invoke(app, ["ledger", "verify", "--db", "sqlite:///runs/a.db", "--json"])
    assert verify.exit_code == 0 and json.loads(verify.output)["ok"] is True
    refused = runner.invoke(app, [*tiny, "--db", "postgresql://u@h/db"])
    assert refused.exit_code == 2 and "SQLite" in refused.output
