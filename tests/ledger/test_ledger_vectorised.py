"""The numpy planner of large batches and the per-transfer planner agree exactly.

Two identical sets of accounts receive the same random batch, one planned each way: the
outcome must be the same error (type, field, message shape) or the same journal rows and the
same account totals. Batches are built to break flags part-way through, to mix holds with
posted transfers, to touch accounts twice, and now and then to cross currencies or name an
unknown account, so the fallback from the vectorised path is exercised as well.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from creditpay import ledger as L
from creditpay.errors import DomainError
from creditpay.ledger import service as ledger_service
from creditpay.ledger.tables import ledger_transfers
from creditpay.ledger.verify import verify_ledger

_runs = itertools.count()

# (normal side, debits_must_not_exceed_credits, credits_must_not_exceed_debits, currency)
KINDS = [("debit", False, False, "CNY"),  # cash
         ("credit", True, False, "CNY"),  # wallet: never below zero
         ("credit", True, False, "CNY"),  # another wallet
         ("debit", False, True, "CNY"),  # limit control: credits within debits
         ("credit", False, False, "CNY"),  # merchant payable
         ("credit", False, False, "USD")]  # a foreign account, for mismatches

transfer = st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 120),
                     st.booleans(), st.one_of(st.none(), st.integers(1, 3600)))


def _open(uow, tag: str) -> list[int]:
    with uow.begin() as tx:
        accounts = L.open_accounts(tx, [
            L.AccountSpec(f"{tag}:{i}", cur, "test", "test", tag, side,
                          debits_must_not_exceed_credits=dnec,
                          credits_must_not_exceed_debits=cned)
            for i, (side, dnec, cned, cur) in enumerate(KINDS)])
        ids = [a.id for a in accounts]
        # Opening balances: cash funds both wallets, the limit control is granted 500.
        L.create_transfers(tx, [
            L.TransferRequest(f"{tag}-fund1", "fund", debit_account_id=ids[0],
                              credit_account_id=ids[1], amount_minor=300),
            L.TransferRequest(f"{tag}-fund2", "fund", debit_account_id=ids[0],
                              credit_account_id=ids[2], amount_minor=150),
            L.TransferRequest(f"{tag}-grant", "fund", debit_account_id=ids[3],
                              credit_account_id=ids[0], amount_minor=500)])
    return ids


def _run(uow, tag: str, ids: list[int], batch, odd: str | None, vectorised: bool):
    requests = []
    for n, (d, c, amount, hold, timeout) in enumerate(batch):
        if d == c:
            c = (c + 1) % len(ids)
        last = n == len(batch) - 1
        debit = 10**12 if odd == "unknown" and last else ids[d]
        credit = ids[5] if odd == "foreign" and last else ids[c]
        requests.append(L.TransferRequest(
            f"{tag}-{n}", "test", debit_account_id=debit, credit_account_id=credit,
            amount_minor=amount, kind=L.TransferKind.PENDING if hold else L.TransferKind.SINGLE,
            timeout_seconds=timeout if hold else None, reference=f"r{n}" if n % 3 else None))
    saved = ledger_service.VECTORISED_MIN
    ledger_service.VECTORISED_MIN = 2 if vectorised else 10**9
    try:
        with uow.begin() as tx:
            result = L.create_transfers(tx, requests, batch_id=f"{tag}-batch")
            returned = [(t.kind, t.amount_minor, t.hold_status, t.expires_at, t.reference)
                        for t in result]
    except DomainError as exc:
        # Messages name account keys, which carry the run's tag: compare them untagged.
        return ("error", type(exc).__name__, exc.field, re.sub(rf"{tag}", "T", str(exc)))
    finally:
        ledger_service.VECTORISED_MIN = saved
    with uow.connect() as conn:
        accounts = L.get_accounts(conn, ids)
        totals = [(accounts[i].debits_posted, accounts[i].credits_posted,
                   accounts[i].debits_pending, accounts[i].credits_pending) for i in ids]
        rows = conn.execute(select(
            ledger_transfers.c.kind, ledger_transfers.c.debit_account_id,
            ledger_transfers.c.credit_account_id, ledger_transfers.c.amount_minor,
            ledger_transfers.c.hold_status, ledger_transfers.c.reference,
            ledger_transfers.c.batch_id).where(
            ledger_transfers.c.batch_id == f"{tag}-batch").order_by(ledger_transfers.c.seq)
        ).all()
    position = {account: k for k, account in enumerate(ids)}
    journal = [(r.kind, position[r.debit_account_id], position[r.credit_account_id],
                r.amount_minor, r.hold_status, r.reference) for r in rows]
    return ("ok", totals, journal, returned)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(batch=st.lists(transfer, min_size=2, max_size=40),
       odd=st.sampled_from([None, None, None, "unknown", "foreign"]))
def test_vectorised_and_per_transfer_planning_agree(uow, batch, odd):
    run = next(_runs)
    a, b = f"v{run}", f"s{run}"
    outcome_v = _run(uow, a, _open(uow, a), batch, odd, vectorised=True)
    outcome_s = _run(uow, b, _open(uow, b), batch, odd, vectorised=False)
    assert outcome_v == outcome_s
    with uow.connect() as conn:
        assert verify_ledger(conn).ok


@pytest.mark.parametrize("size", [16, 1000])
def test_large_batch_takes_the_vectorised_path(uow, size, monkeypatch):
    """A clean batch at or above VECTORISED_MIN is planned by numpy (the per-transfer planner
    is not called), and its results read back like any other."""
    ids = _open(uow, f"big{size}")
    calls = []
    original = ledger_service._plan_one
    monkeypatch.setattr(ledger_service, "_plan_one",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    requests = [L.TransferRequest(f"big{size}-{n}", "test", debit_account_id=ids[0],
                                  credit_account_id=ids[4], amount_minor=n + 1)
                for n in range(size)]
    with uow.begin() as tx:
        result = L.create_transfers(tx, requests)
    assert calls == []
    assert len(result) == size and result[-1].amount_minor == size
    assert [t.id for t in result[:3]] == [r.id for r in requests[:3]]
    with uow.connect() as conn:
        assert L.get_transfer(conn, requests[5].id) == result[5]
        merchant = L.get_accounts(conn, [ids[4]])[ids[4]]
        assert merchant.credits_posted == size * (size + 1) // 2
        assert verify_ledger(conn).ok
