"""The wheel ships what an installed creditpay needs: ``py.typed`` (typed for its users),
the Alembic migrations (``creditpay db upgrade`` from an installed package) and the shipped
fraud rules. Built from a copy of the sources with the project's own backend, no network."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "src" / "creditpay" / "db" / "migrations"


def test_the_wheel_ships_py_typed_the_migrations_and_the_default_rules(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("creditpay-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "creditpay/py.typed" in names
    assert "creditpay/risk/fraud/default_rules.json" in names
    for path in ("env.py", "script.py.mako"):
        assert f"creditpay/db/migrations/{path}" in names
    versions = {p.name for p in (MIGRATIONS / "versions").glob("*.py")}
    shipped = {Path(n).name for n in names if n.startswith("creditpay/db/migrations/versions/")
               and n.endswith(".py")}
    assert versions and shipped == versions
