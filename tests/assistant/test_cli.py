"""``creditpay assistant ask --db DB --customer CUSTOMER_ID --json TEXT`` in a real
process, on both stores: one JSON object with exactly the contract's keys; a missing
SQLite database is exit 2 and is not created; an unknown customer is exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("CREDITPAY_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "creditpay.cli", "assistant", "ask", *args],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_ask_prints_the_contract(world):
    a = world.people["a"]
    done = _cli("--db", world.store.url, "--customer", a["customer_id"], "--json",
                "what is my minimum payment")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"intent", "answer", "language", "sources", "actions"}
    assert out["intent"] == "minimum_payment" and out["language"] == "en"
    unknown = _cli("--db", world.store.url, "--customer", "cus_nobody", "--json", "hi")
    assert unknown.returncode == 2 and "customer" in unknown.stderr


def test_a_missing_database_is_not_created(tmp_path):
    path = tmp_path / "none.db"
    done = _cli("--db", str(path), "--customer", "cus_x", "--json", "hi")
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert not path.exists()
