"""CPU of the transaction plumbing and of the audit seal (issue #14, fourth pass, h14-tx).

    PYTHONPATH=<tree>/src .venv/bin/python bench/tx_micro.py [--txs 3000] [--url URL]

On a fresh migrated database (SQLite in a temporary folder with the demo's durability
"normal", or ``--url`` of an empty PostgreSQL database), this thread's CPU time
(``time.thread_time``) of:
- ``empty``: ``UnitOfWork.begin`` with nothing in it (pool checkout, BEGIN, COMMIT, return);
- ``checkout_like``: a transaction with one outbox event and three audit appends (what a
  checkout's confirm queues);
- ``seal``: :func:`audit.seal` of the records that wrote (per record);
- ``verify``: ``write_checkpoint``'s walk of them (:func:`audit.verify`, per record).
Prints one JSON line; run the before and after trees alternately and compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from creditpay.clock import SimulatedClock
from creditpay.db.engine import make_engine
from creditpay.db.schema import migrate
from creditpay.db.uow import UnitOfWork
from creditpay.platform import audit

_PAYLOADS = [
    {"payment_intent_id": "pi_0123456789abcdef", "amount_minor": 129_900, "currency": "CNY",
     "offer_id": "off_5f0e7c1a", "plan": "installments_6", "outcome": "approved"},
    {"account_id": "acc_00042", "decision": "accept", "reasons": ["score_ok", "dti_ok"],
     "score": 712, "version": "v3"},
    {"fields": ["amount_minor", "merchant_id"], "screening": "pass", "rule_set": "rs_7",
     "risk_score": 0.125},
]


def _per_call_us(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--txs", type=int, default=3000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{folder}/tx.db"
        engine = make_engine(url, durability="normal")
        migrate(engine)
        uow = UnitOfWork(engine, SimulatedClock("2025-03-01T09:00:00+00:00"))
        empty: list[float] = []
        full: list[float] = []
        for i in range(args.txs):
            start = time.thread_time()
            with uow.begin():
                pass
            empty.append(time.thread_time() - start)
            start = time.thread_time()
            with uow.begin() as tx:
                tx.emit("payments.checkout_confirmed", "payment_intent", f"pi_{i}",
                        {"amount_minor": 129_900 + i, "currency": "CNY", "n": i})
                for payload in _PAYLOADS:
                    audit.append(tx, "customer", f"cus_{i % 97}", "checkout.confirmed",
                                 "payment_intent", f"pi_{i}", payload)
            full.append(time.thread_time() - start)
        records = 3 * args.txs
        start = time.thread_time()
        sealed = audit.seal(uow, None)
        seal_s = time.thread_time() - start
        assert sealed.records_sealed == records
        start = time.thread_time()
        with audit.snapshot_connection(engine) as conn:
            result = audit.verify(conn)
        verify_s = time.thread_time() - start
        assert result.ok and result.records_checked == records
        engine.dispose()
    print(json.dumps({
        "store": url.split(":", 1)[0], "txs": args.txs,
        "empty_tx_cpu_us": _per_call_us(empty),
        "checkout_like_tx_cpu_us": _per_call_us(full),
        "seal_cpu_us_per_record": round(seal_s / records * 1e6, 1),
        "verify_cpu_us_per_record": round(verify_s / records * 1e6, 1),
    }))


if __name__ == "__main__":
    main()
