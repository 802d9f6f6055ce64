"""The close-of-business benchmark in two halves, to compare code versions on one seeding.

    python bench/cob_split.py seed 1000000 /tmp/cob-1m.db   # seed once (minutes at 1M)
    cp /tmp/cob-1m.db /tmp/run.db && python bench/cob_split.py run /tmp/run.db

``run`` times the same call as ``creditpay bench cob`` (its top-level ``seconds``: the run,
not the seeding) and adds its CPU time (``time.process_time``): on a shared, loaded machine
wall time mostly measures the other processes, so compare code versions by paired runs on
copies of one seeded database, and by CPU time. Each run changes its database: copy first.
``run PATH --profile OUT`` writes a cProfile (CPU-time clock) of the run to OUT.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import json
import sys
import time

from creditpay.benchmarks import cob as B
from creditpay.clock import SimulatedClock
from creditpay.credit import products as P
from creditpay.credit.cob import run_close_of_business
from creditpay.db.engine import make_engine
from creditpay.db.uow import UnitOfWork
from creditpay.protection.auto_debit_consents import ReferencedAutoDebitConsents


def seed(accounts: int, path: str) -> dict[str, object]:
    clock = SimulatedClock(dt.datetime.combine(B.BUSINESS_DATE, dt.time(12), tzinfo=dt.UTC))
    started = time.perf_counter()
    seeded = B.seed_database(f"sqlite:///{path}", accounts, clock,
                             catalogue=P.load_catalogue())
    return {"seed_seconds": round(time.perf_counter() - started, 1), "seeded": seeded}


def run(path: str, profile: str | None = None) -> dict[str, object]:
    engine = make_engine(f"sqlite:///{path}")
    clock = SimulatedClock(dt.datetime.combine(B.BUSINESS_DATE + dt.timedelta(days=1),
                                               dt.time(0, 30), tzinfo=dt.UTC))
    profiler = (cProfile.Profile(time.perf_counter) if "wall" in profile else
                cProfile.Profile(time.process_time)) if profile else None
    if profiler:
        profiler.enable()
    started, cpu = time.perf_counter(), time.process_time()
    report = run_close_of_business(UnitOfWork(engine, clock), B.BUSINESS_DATE,
                                   chunk_size=50_000, audit_checkpointer=None,
                                   auto_debit_consents=ReferencedAutoDebitConsents(),
                                   catalogue=P.load_catalogue())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    counts = {k: v for k, v in report.as_dict().items() if k != "by_bucket"}
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "report": counts}


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "seed":
        print(json.dumps(seed(int(rest[0]), rest[1])))
    else:
        print(json.dumps(run(rest[0], rest[2] if rest[1:2] == ["--profile"] else None)))
