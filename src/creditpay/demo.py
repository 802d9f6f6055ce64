"""``creditpay demo``: the simulated economy (issue #7) on the embedded default (SQLite).

It creates a fresh database and runs :mod:`creditpay.sim.economy` through the real services:
merchants onboarded, consumers registered and KYC'd, credit applications decided by the risk
engine over the run and lines opened for the approved, then business days of card top-ups,
checkouts paid by balance, card, pay-later line or installment plan (explicit offers), each
screened for fraud while fraudsters attack (account takeover, compromised terminals, and a
fraud ring with ``--fraud-ring``), captures, refunds, chargebacks, repayments whose timing
follows each consumer's latent creditworthiness (and an unemployment shock with ``--shock``),
T+1 merchant settlement, the close of business each night and early-warning monitors. It ends
with the books verified, the figures printed, ``figures.json`` and a self-contained
``report.html`` written, and exit code 1 when the books do not balance. The same seed gives
the same figures.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

__all__ = ["run_demo", "write_key_file", "CUSTOMERS_DEFAULT", "MERCHANTS_DEFAULT",
           "DAYS_DEFAULT"]

# The size issue #14 set: 1,000 consumers and 50 merchants over 180 business days, in under
# five minutes on a quiet 2-core machine (283-290 s measured, bench/RESULTS.md, fifth pass).
# Every payment runs the whole checkout (intent, offers, screening, hold, capture); the
# flags scale the run.
CUSTOMERS_DEFAULT = 1000
MERCHANTS_DEFAULT = 50
DAYS_DEFAULT = 180


def run_demo(db_path: Path, *, customers: int, merchants: int, days: int, seed: int,
             progress: bool = True, shock: str | None = None, shock_day: int | None = None,
             fraud_ring: bool = False, policy: Path | None = None,
             training_data: Path | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the economy into a fresh SQLite database at ``db_path``: (figures, timings_s)."""
    from creditpay.config import default_checkpoint_dir
    from creditpay.sim.economy import EconomyConfig, run_economy

    config = EconomyConfig(customers=customers, merchants=merchants, days=days, seed=seed,
                           database_url=f"sqlite:///{db_path}", progress=progress,
                           shock=shock, shock_day=shock_day, fraud_ring=fraud_ring,
                           policy_path=policy, training_data_path=training_data,
                           demo_checkout=True)
    # (the configuration is validated above, before the old file goes)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    # The old file's audit checkpoints go with it: the run seals into the file's own store
    # (config.default_checkpoint_dir; the demo's settings never take the environment's), and
    # the new chain would be refused there as the old one cut short.
    checkpoints = default_checkpoint_dir(config.database_url)
    if checkpoints.exists():
        shutil.rmtree(checkpoints)
    return run_economy(config)


def write_key_file(db_path: Path, seed: int) -> Path:
    """The run's master key next to its database (owner-only), for ``creditpay serve``.
    It protects synthetic people only; ``*.key`` files are never committed."""
    import os

    from creditpay.platform.keys import encode_key
    from creditpay.sim.economy import master_key_bytes

    path = db_path.with_suffix(".key")
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(encode_key(master_key_bytes(seed)) + "\n")
    return path
