"""CPU per call of the ledger's hot calls and of a screening's pure fold (issue #14, fourth
pass, branch h14-screen), on a throw-away SQLite file; run it on two trees to compare:

    PYTHONPATH=<tree>/src .venv/bin/python bench/screen_ledger_micro.py

* ``create_transfer``: one single transfer (a top-up) in its own transaction;
* ``post_pending``: the capture of a hold (the pending transfer is read, locked on
  PostgreSQL, and resolved);
* ``get_account_by_key``: one account by key (a wallet balance shown, an account looked up);
* ``open_accounts_1`` / ``open_accounts_22``: accounts that already exist, opened again by
  key (one, and the 22 platform and receivable accounts a capture asks for);
* ``fold_event``: the features of one payment and its entities' new rows from their rows
  (:class:`~creditpay.risk.fraud.entity_state.MemoryEntityStore`, no database), over a
  seeded stream; its digest of every feature vector and row is printed so two trees can be
  checked to compute the same bytes.

Thread CPU time (``time.thread_time``) of the calls alone, median of 5 rounds, in us.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import tempfile
import time

from creditpay import ledger as L
from creditpay.clock import SimulatedClock
from creditpay.db.engine import make_engine
from creditpay.db.schema import migrate
from creditpay.db.uow import UnitOfWork
from creditpay.risk.fraud.entity_state import MemoryEntityStore
from creditpay.risk.fraud.features import PaymentEvent

ROUNDS = 5
CALLS = 300


def ledger_calls() -> dict[str, float]:
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/ledger.db")
    migrate(engine)
    uow = UnitOfWork(engine, SimulatedClock("2025-03-01T09:00:00+00:00"))
    specs = [L.AccountSpec(f"w{i}", "CNY", "wallet", "customer", f"c{i}", L.NormalSide.CREDIT)
             for i in range(200)]
    platform = [L.AccountSpec(f"platform:x{i}:CNY", "CNY", f"code{i}", "platform", "platform",
                              L.NormalSide.DEBIT, debits_must_not_exceed_credits=i % 3 == 0)
                for i in range(22)]
    with uow.begin() as tx:
        accounts = L.open_accounts(tx, [*specs, L.AccountSpec(
            "cash", "CNY", "cash", "platform", "platform", L.NormalSide.DEBIT), *platform])
    cash = accounts[200].id
    times: dict[str, list[float]] = {name: [] for name in (
        "create_transfer", "post_pending", "get_account_by_key", "open_accounts_1",
        "open_accounts_22")}
    k = 0
    for _ in range(ROUNDS):
        spent = 0.0
        for i in range(CALLS):
            k += 1
            with uow.begin() as tx:
                started = time.thread_time()
                L.create_transfer(tx, L.TransferRequest(
                    f"t{k}", "top_up", debit_account_id=cash,
                    credit_account_id=accounts[i % 200].id, amount_minor=100))
                spent += time.thread_time() - started
        times["create_transfer"].append(spent / CALLS)
        spent = 0.0
        for i in range(CALLS):
            k += 1
            with uow.begin() as tx:
                L.create_transfer(tx, L.TransferRequest(
                    f"h{k}", "hold", L.TransferKind.PENDING,
                    debit_account_id=accounts[i % 200].id, credit_account_id=cash,
                    amount_minor=10))
            with uow.begin() as tx:
                started = time.thread_time()
                L.create_transfer(tx, L.TransferRequest(
                    f"h{k}:post", "capture", L.TransferKind.POST, pending_id=f"h{k}"))
                spent += time.thread_time() - started
        times["post_pending"].append(spent / CALLS)
        with uow.begin() as tx:
            started = time.thread_time()
            for i in range(CALLS):
                L.get_account_by_key(tx.conn, f"w{i % 200}")
            times["get_account_by_key"].append((time.thread_time() - started) / CALLS)
            started = time.thread_time()
            for i in range(CALLS):
                L.open_accounts(tx, [specs[i % 200]])
            times["open_accounts_1"].append((time.thread_time() - started) / CALLS)
            started = time.thread_time()
            for _ in range(CALLS):
                L.open_accounts(tx, platform)
            times["open_accounts_22"].append((time.thread_time() - started) / CALLS)
    return {name: statistics.median(values) * 1e6 for name, values in times.items()}


def fold_events() -> tuple[float, str]:
    rng = random.Random(1)
    events = []
    t = 1_700_000_000
    for _ in range(6_000):
        t += rng.randint(0, 600)
        events.append(PaymentEvent(
            customer_id=f"c{rng.randint(0, 300)}", device_id=f"d{rng.randint(0, 400)}",
            merchant_id=f"m{rng.randint(0, 50)}", amount_minor=rng.randint(100, 100_000),
            timestamp_s=t, card_id=rng.choice([None, f"k{rng.randint(0, 300)}"]),
            terminal_id=rng.choice([None, f"t{rng.randint(0, 80)}"])))
    store = MemoryEntityStore()
    for event in events[:1_000]:
        store.update(event)
    digest = hashlib.sha256()
    started = time.thread_time()
    for event in events[1_000:]:
        digest.update(store.update(event).tobytes())
    spent = time.thread_time() - started
    for key in sorted(store.rows):
        digest.update(repr(key).encode())
        digest.update(store.rows[key])
    return spent / (len(events) - 1_000) * 1e6, digest.hexdigest()[:16]


if __name__ == "__main__":
    for name, us in ledger_calls().items():
        print(f"{name:20s} {us:8.1f} us")
    us, digest = fold_events()
    print(f"{'fold_event':20s} {us:8.1f} us  (digest {digest})")
