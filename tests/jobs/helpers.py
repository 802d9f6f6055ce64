"""What the job tests share: settings with short periods, services, a seeded credit book,
and the environment a real `creditpay worker` / `scheduler` subprocess runs with."""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from creditpay.bootstrap import ServiceOptions, Services, build_services
from creditpay.clock import Clock
from creditpay.config import Settings
from creditpay.credit.tables import credit_accounts
from creditpay.ledger.tables import ledger_accounts, ledger_transfers
from creditpay.platform.keys import generate_key_bytes
from tests.api.helpers import FAST_PASSWORDS

REPO = Path(__file__).resolve().parents[2]
SHORT = {"jobs_period_s": 1, "audit_seal_period_s": 1, "jobs_stalled_after_s": 2}


def job_settings(url: str, tmp_path: Path, **values: Any) -> Settings:
    values.setdefault("master_key", base64.b64encode(generate_key_bytes()).decode())
    return Settings.of(database_url=url, audit_checkpoint_dir=tmp_path / "checkpoints",
                       webhooks_allow_private=True, **{**SHORT, **values})


def job_services(settings: Settings, clock: Clock, **options: Any) -> Services:
    return build_services(settings, clock, ServiceOptions(pool_size=4, passwords=FAST_PASSWORDS,
                                                          **options))


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """A subprocess's environment: these settings as CREDITPAY_* variables, nothing else of
    the shell's CREDITPAY_* (and our sources first on the path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITPAY_")}
    for name in ("database_url", "master_key", "token_key", "blind_index_key",
                 "audit_checkpoint_dir",
                 "webhooks_allow_private", "jobs_period_s", "audit_seal_period_s",
                 "jobs_stalled_after_s", "nightly_at", "business_date", "mode"):
        value = getattr(settings, name)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"CREDITPAY_{name.upper()}"] = str(value).lower() if isinstance(value, bool) \
            else str(value)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + str(REPO)
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``creditpay ARGS`` as a real process, its output in ``log``."""
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "creditpay.cli", *args], env=env,
                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30) -> int:
    if process.poll() is None:
        process.terminate()
    return process.wait(timeout_s)


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 60,
             every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


def book_state(engine: Any) -> dict[str, Any]:
    """What the nightly batch changes, to compare two runs: ledger transfers (count and sum
    per pair of accounts' currencies), every account's ledger balances, and the credit
    accounts' state columns."""
    with engine.connect() as conn:
        transfers = conn.execute(select(func.count(), func.sum(ledger_transfers.c.amount_minor))
                                 .select_from(ledger_transfers)).one()
        balances = sorted(conn.execute(select(
            ledger_accounts.c.key, ledger_accounts.c.debits_posted,
            ledger_accounts.c.credits_posted)).all())
        accounts = sorted(conn.execute(select(
            credit_accounts.c.account_id, credit_accounts.c.dpd, credit_accounts.c.bucket,
            credit_accounts.c.last_cob_date)).all())
    return {"transfers": tuple(transfers), "balances": balances, "accounts": accounts}


def next_day(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1)
