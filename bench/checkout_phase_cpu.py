"""CPU ms per write transaction of an in-process SQLite credit checkout (intent, offers,
confirm, capture), and optionally a cProfile (thread CPU time) of the confirm and capture.

    PYTHONPATH=src .venv/bin/python bench/checkout_phase_cpu.py WARMUP MEASURED [PREFIX]

Runs ``creditpay.benchmarks.checkout``'s checkout (6-installment plan, fraud screening on)
WARMUP times, then MEASURED times timing each transaction with ``time.thread_time()``;
prints the median and mean per phase and the data statements of one confirm and capture.
With PREFIX, also writes PREFIX.confirm.pstats / PREFIX.capture.pstats and
PREFIX.stmts.txt (the statements). Run the same script on two trees, alternated, to compare
code on a shared machine (CPU time is barely moved by other processes; wall time is)."""

from __future__ import annotations

import cProfile
import statistics
import sys
import tempfile
import time

from creditpay.benchmarks import checkout as B
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes


def main() -> None:
    warmup, measured = int(sys.argv[1]), int(sys.argv[2])
    prefix = sys.argv[3] if len(sys.argv) > 3 else None
    folder = tempfile.mkdtemp()
    app, world = B._world(f"sqlite:///{folder}/bench.db", LocalMasterKey(generate_key_bytes()),
                          B._customers_for(warmup + measured) + 1)
    rt = app.state.runtime
    service, merchant, people = rt.payments, world["merchant_principal"], world["people"]
    counts = B.statements_per_checkout(rt, world, people[-1]["principal"], order_id="count-1")
    counts = B.statements_per_checkout(rt, world, people[-1]["principal"], order_id="count-2")
    print(f"data statements: confirm {counts['confirm']} (screening "
          f"{counts['confirm_screening']}), capture {counts['capture']}")
    confirm_profile = cProfile.Profile(time.thread_time)
    capture_profile = cProfile.Profile(time.thread_time)

    def one(i: int, profile: bool) -> tuple[float, ...]:
        customer = people[i // B.PLANS_PER_CUSTOMER]["principal"]
        c0 = time.thread_time()
        intent_id = rt.uow.run(lambda tx: service.create_intent(
            tx, merchant, amount_minor=B.AMOUNT_MINOR, currency="CNY", order_id=f"o{i}"))["id"]
        c1 = time.thread_time()
        picked = B._pick(rt.uow.run(lambda tx: service.quote_offers(tx, customer, intent_id))
                         ["offers"])
        c2 = time.thread_time()
        if profile:
            confirm_profile.enable()
        rt.uow.run(lambda tx: service.confirm(tx, customer, intent_id, **picked))
        if profile:
            confirm_profile.disable()
        c3 = time.thread_time()
        if profile:
            capture_profile.enable()
        rt.uow.run(lambda tx: service.capture(tx, merchant, intent_id))
        if profile:
            capture_profile.disable()
        c4 = time.thread_time()
        return c1 - c0, c2 - c1, c3 - c2, c4 - c3

    try:
        for i in range(warmup):
            one(i, False)
        samples = [one(i, prefix is not None) for i in range(warmup, warmup + measured)]
    finally:
        rt.close()
    for k, name in enumerate(("intent", "offers", "confirm", "capture")):
        values = [s[k] * 1000 for s in samples]
        print(f"{name}: CPU ms median {statistics.median(values):.2f} "
              f"mean {statistics.mean(values):.2f}")
    if prefix is not None:
        confirm_profile.dump_stats(f"{prefix}.confirm.pstats")
        capture_profile.dump_stats(f"{prefix}.capture.pstats")
        with open(f"{prefix}.stmts.txt", "w", encoding="utf-8") as out:
            out.write("CONFIRM\n" + "\n".join(counts["confirm_statements"]) + "\nCAPTURE\n"
                      + "\n".join(counts["capture_statements"]) + "\n")


if __name__ == "__main__":
    main()
