"""Child-process workers for the concurrency and crash tests (run with ``python -m``)."""

from __future__ import annotations

import random
import sys

from creditpay import ledger as L
from creditpay.clock import SimulatedClock
from creditpay.db.engine import make_engine
from creditpay.db.uow import UnitOfWork
from creditpay.errors import InsufficientFundsError


def hold_worker(url: str, line_id: int, limit_id: int, worker: int, count: int,
                seed: int) -> list[tuple[str, int]]:
    """Place ``count`` holds of random size; return the (id, amount) of those accepted."""
    rng = random.Random(seed)
    engine = make_engine(url, pool_size=1)
    uow = UnitOfWork(engine, SimulatedClock("2025-03-01T09:00:00+00:00"))
    accepted = []
    try:
        for i in range(count):
            amount = rng.randint(1, 400)
            request = L.TransferRequest(f"w{worker}-h{i}", "credit.purchase_hold",
                                        kind="pending", debit_account_id=line_id,
                                        credit_account_id=limit_id, amount_minor=amount)
            try:
                uow.run(lambda tx, r=request: L.create_transfer(tx, r))
            except InsufficientFundsError:
                continue
            accepted.append((request.id, amount))
    finally:
        engine.dispose()
    return accepted


def crash_worker(url: str, debit_id: int, credit_id: int) -> None:
    """Post transfers one per transaction forever, printing each id once its call returned.
    The parent kills this process with SIGKILL at a random moment."""
    engine = make_engine(url, pool_size=1)
    uow = UnitOfWork(engine, SimulatedClock("2025-03-01T09:00:00+00:00"))
    i = 0
    while True:
        request = L.TransferRequest(f"crash-{i}", "test", debit_account_id=debit_id,
                                    credit_account_id=credit_id, amount_minor=1 + i % 97)
        with uow.begin() as tx:
            L.create_transfer(tx, request)
        sys.stdout.write(f"{request.id} {request.amount_minor}\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    if sys.argv[1] == "crash":
        crash_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
