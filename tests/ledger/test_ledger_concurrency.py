"""Concurrent holds never over-commit a limit; acknowledged transfers survive SIGKILL."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from creditpay import ledger as L
from creditpay.ledger.verify import verify_ledger

from .helpers import open_basic
from .workers import hold_worker

LIMIT_MINOR = 50_000  # 8 x 200 holds of mean ~200 ask for ~320,000: most must be refused


def _grant(uow, accounts, amount):
    with uow.begin() as tx:
        L.create_transfer(tx, L.TransferRequest(
            "grant", "credit.limit_grant", debit_account_id=accounts["limit"].id,
            credit_account_id=accounts["line"].id, amount_minor=amount))


def _check(uow, accounts, accepted):
    with uow.connect() as conn:
        line = L.balance(conn, accounts["line"].id)
        assert verify_ledger(conn).ok
        for transfer_id, amount in accepted:  # no accepted hold is lost
            stored = L.get_transfer(conn, transfer_id)
            assert stored.amount_minor == amount
    assert sum(a for _, a in accepted) == line.debits_pending <= LIMIT_MINOR
    assert line.available_minor >= 0
    assert line.available_minor < 400  # the limit was actually exhausted, not under-used


def test_threads_never_overcommit(store, uow):
    accounts = open_basic(uow)
    _grant(uow, accounts, LIMIT_MINOR)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(hold_worker, store.url, accounts["line"].id,
                               accounts["limit"].id, w, 200, seed=w) for w in range(8)]
        accepted = [item for f in futures for item in f.result()]
    _check(uow, accounts, accepted)


def test_processes_never_overcommit(store, uow):
    accounts = open_basic(uow)
    _grant(uow, accounts, LIMIT_MINOR // 4)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        results = pool.starmap(hold_worker, [
            (store.url, accounts["line"].id, accounts["limit"].id, w, 60, 100 + w)
            for w in range(4)])
    accepted = [item for part in results for item in part]
    with uow.connect() as conn:
        line = L.balance(conn, accounts["line"].id)
    assert sum(a for _, a in accepted) == line.debits_pending <= LIMIT_MINOR // 4


def test_sigkill_loses_no_acknowledged_transfer(store, uow):
    accounts = open_basic(uow)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.workers", "crash", store.url,
         str(accounts["cash"].id), str(accounts["merchant"].id)],
        stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    acknowledged: list[tuple[str, int]] = []
    target = random.Random(7).randint(40, 120)

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            transfer_id, amount = line.split()
            acknowledged.append((transfer_id, int(amount)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < target and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)  # mid-load: likely inside a transaction
    child.wait(timeout=30)
    reader.join(timeout=10)
    assert len(acknowledged) >= target
    # "Restart": a fresh engine on the same store.
    store.engine.dispose()
    with uow.connect() as conn:
        for transfer_id, amount in acknowledged:
            assert L.get_transfer(conn, transfer_id).amount_minor == amount
        report = verify_ledger(conn)
        assert report.ok, report.problems
        merchant = L.balance(conn, accounts["merchant"].id)
    # At most one transfer may have committed after its acknowledgement was cut off.
    acknowledged_total = sum(a for _, a in acknowledged)
    assert acknowledged_total <= merchant.balance_minor <= acknowledged_total + 97
