"""Ledger behaviour on both stores: transfers, holds, batches, idempotency, bad input."""

from __future__ import annotations

import csv
import datetime as dt

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select, update

from creditpay import ledger as L
from creditpay.db.tables import outbox_events
from creditpay.errors import (
    CurrencyMismatchError,
    IdempotencyConflictError,
    InsufficientFundsError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.ledger.export import export_journal
from creditpay.ledger.tables import ledger_accounts
from creditpay.ledger.verify import verify_ledger

from .helpers import open_basic, snapshot

TR = L.TransferRequest


def _bal(uow, account, **kw):
    with uow.connect() as conn:
        return L.balance(conn, account.id, **kw)


def test_single_transfer_and_flags(uow):
    a = open_basic(uow)
    with uow.begin() as tx:
        L.create_transfer(tx, TR("topup-1", "wallet.topup", debit_account_id=a["cash"].id,
                                 credit_account_id=a["wallet"].id, amount_minor=10_000))
    assert _bal(uow, a["wallet"]).balance_minor == 10_000
    assert _bal(uow, a["cash"]).balance_minor == 10_000
    before = snapshot(uow)
    with pytest.raises(InsufficientFundsError) as err, uow.begin() as tx:
        L.create_transfer(tx, TR("pay-1", "purchase", debit_account_id=a["wallet"].id,
                                 credit_account_id=a["merchant"].id, amount_minor=10_001))
    assert err.value.field == "amount_minor"
    assert snapshot(uow) == before
    with uow.begin() as tx:
        L.create_transfer(tx, TR("pay-2", "purchase", debit_account_id=a["wallet"].id,
                                 credit_account_id=a["merchant"].id, amount_minor=10_000))
    assert _bal(uow, a["wallet"]).available_minor == 0


def test_two_phase_post_partial_void_and_expiry(uow, clock):
    a = open_basic(uow)
    with uow.begin() as tx:
        L.create_transfer(tx, TR("limit-grant", "credit.limit_grant",
                                 debit_account_id=a["limit"].id,
                                 credit_account_id=a["line"].id, amount_minor=5_000))
        L.create_transfer(tx, TR("hold-1", "credit.purchase_hold", kind=L.TransferKind.PENDING,
                                 debit_account_id=a["line"].id,
                                 credit_account_id=a["limit"].id, amount_minor=3_000,
                                 timeout_seconds=3600))
    line = _bal(uow, a["line"])
    assert (line.balance_minor, line.available_minor, line.debits_pending) == (5000, 2000, 3000)
    # A second hold beyond what is available is refused.
    with pytest.raises(InsufficientFundsError), uow.begin() as tx:
        L.create_transfer(tx, TR("hold-2", "credit.purchase_hold", kind="pending",
                                 debit_account_id=a["line"].id,
                                 credit_account_id=a["limit"].id, amount_minor=2_001))
    with uow.begin() as tx:
        posted = L.create_transfer(tx, TR("post-1", "credit.purchase_hold", kind="post",
                                          pending_id="hold-1", amount_minor=1_200))
    assert posted.amount_minor == 1_200 and posted.pending_released_minor == 3_000
    line = _bal(uow, a["line"])
    assert (line.balance_minor, line.available_minor, line.debits_pending) == (3800, 3800, 0)
    with pytest.raises(StateError), uow.begin() as tx:
        L.create_transfer(tx, TR("void-1", "credit.purchase_hold", kind="void",
                                 pending_id="hold-1"))
    # Void and expiry.
    with uow.begin() as tx:
        L.create_transfer(tx, TR("hold-3", "credit.purchase_hold", kind="pending",
                                 debit_account_id=a["line"].id,
                                 credit_account_id=a["limit"].id, amount_minor=800))
        L.create_transfer(tx, TR("hold-4", "credit.purchase_hold", kind="pending",
                                 debit_account_id=a["line"].id,
                                 credit_account_id=a["limit"].id, amount_minor=900,
                                 timeout_seconds=60))
        L.create_transfer(tx, TR("void-3", "credit.purchase_hold", kind="void",
                                 pending_id="hold-3"))
    assert _bal(uow, a["line"]).debits_pending == 900
    clock.advance(seconds=61)
    # Posting after the timeout fails even before the expiry sweep has run.
    with pytest.raises(StateError), uow.begin() as tx:
        L.create_transfer(tx, TR("post-4", "credit.purchase_hold", kind="post",
                                 pending_id="hold-4"))
    with uow.begin() as tx:
        assert L.expire_holds(tx) == 1
    with uow.begin() as tx:
        assert L.expire_holds(tx) == 0
    with uow.connect() as conn:
        assert L.get_transfer(conn, "hold-4").hold_status == L.HoldStatus.EXPIRED
        assert L.get_transfer(conn, "hold-3").hold_status == L.HoldStatus.VOIDED
        assert verify_ledger(conn).ok
    assert _bal(uow, a["line"]).debits_pending == 0


def test_linked_batch_is_all_or_nothing(uow):
    a = open_basic(uow)
    with uow.begin() as tx:
        L.create_transfer(tx, TR("topup", "wallet.topup", debit_account_id=a["cash"].id,
                                 credit_account_id=a["wallet"].id, amount_minor=1_000))
    before = snapshot(uow)
    with pytest.raises(InsufficientFundsError) as err, uow.begin() as tx:
        L.create_transfers(tx, [
            TR("b-1", "purchase", debit_account_id=a["wallet"].id,
               credit_account_id=a["merchant"].id, amount_minor=600),
            TR("b-2", "purchase", debit_account_id=a["wallet"].id,
               credit_account_id=a["merchant"].id, amount_minor=600),
        ])
    assert err.value.field == "transfers[1].amount_minor"
    assert snapshot(uow) == before
    # Hold and post inside one batch.
    with uow.begin() as tx:
        out = L.create_transfers(tx, [
            TR("b-3", "purchase", kind="pending", debit_account_id=a["wallet"].id,
               credit_account_id=a["merchant"].id, amount_minor=700),
            TR("b-4", "purchase", kind="post", pending_id="b-3", amount_minor=500),
        ])
    assert [t.kind for t in out] == [L.TransferKind.PENDING, L.TransferKind.POST]
    assert _bal(uow, a["wallet"]).balance_minor == 500
    with uow.connect() as conn:
        assert L.get_transfer(conn, "b-3").hold_status == L.HoldStatus.POSTED
        assert verify_ledger(conn).ok


def test_unlinked_batch_reports_each_result(uow):
    a = open_basic(uow)
    with uow.begin() as tx:
        L.create_transfer(tx, TR("topup", "wallet.topup", debit_account_id=a["cash"].id,
                                 credit_account_id=a["wallet"].id, amount_minor=1_000))
        results = L.create_transfers_unlinked(tx, [
            TR("u-1", "purchase", debit_account_id=a["wallet"].id,
               credit_account_id=a["merchant"].id, amount_minor=600),
            TR("u-2", "purchase", debit_account_id=a["wallet"].id,
               credit_account_id=a["merchant"].id, amount_minor=600),
            TR("u-3", "purchase", debit_account_id=a["wallet"].id,
               credit_account_id=a["merchant"].id, amount_minor=400),
        ])
    assert isinstance(results[0], L.Transfer)
    assert isinstance(results[1], InsufficientFundsError)
    assert isinstance(results[2], L.Transfer)
    assert _bal(uow, a["wallet"]).balance_minor == 0


def test_idempotent_replay_and_conflict(uow):
    a = open_basic(uow)
    request = TR("topup-x", "wallet.topup", debit_account_id=a["cash"].id,
                 credit_account_id=a["wallet"].id, amount_minor=2_500, reference="order-9")
    with uow.begin() as tx:
        first = L.create_transfer(tx, request)
    before = snapshot(uow)
    with uow.begin() as tx:
        again = L.create_transfer(tx, request)
    assert again == first
    assert snapshot(uow) == before  # no money moved twice, no second event
    with pytest.raises(IdempotencyConflictError) as err, uow.begin() as tx:
        L.create_transfer(tx, TR("topup-x", "wallet.topup", debit_account_id=a["cash"].id,
                                 credit_account_id=a["wallet"].id, amount_minor=2_501,
                                 reference="order-9"))
    assert err.value.field == "amount_minor"
    # Opening an account again is idempotent; with other fields it is refused.
    with uow.begin() as tx:
        assert L.open_account(tx, L.AccountSpec("cash:CNY", "CNY", "cash", "platform",
                                                "platform", "debit")).id == a["cash"].id
    with pytest.raises(IdempotencyConflictError) as err, uow.begin() as tx:
        L.open_account(tx, L.AccountSpec("cash:CNY", "CNY", "cash", "platform", "platform",
                                         "credit"))
    assert err.value.field == "normal_side"


@pytest.mark.parametrize(("changes", "field", "error"), [
    ({"amount_minor": 0}, "amount_minor", ValidationError),
    ({"amount_minor": -5}, "amount_minor", ValidationError),
    ({"amount_minor": 2**63}, "amount_minor", ValidationError),
    ({"amount_minor": 10**30}, "amount_minor", ValidationError),
    ({"amount_minor": 1.5}, "amount_minor", ValidationError),
    ({"amount_minor": "100"}, "amount_minor", ValidationError),
    ({"id": ""}, "id", ValidationError),
    ({"id": "bad id with spaces"}, "id", ValidationError),
    ({"id": "x" * 129}, "id", ValidationError),
    ({"id": None}, "id", ValidationError),
    ({"code": "Not A Code"}, "code", ValidationError),
    ({"debit_account_id": 999_999}, "debit_account_id", NotFoundError),
    ({"credit_account_id": 2**64}, "credit_account_id", ValidationError),
    ({"credit_account_id": -1}, "credit_account_id", ValidationError),
    ({"kind": "refund"}, "kind", ValidationError),
    ({"timeout_seconds": 10}, "timeout_seconds", ValidationError),
])
def test_bad_input_names_the_field_and_changes_nothing(uow, changes, field, error):
    a = open_basic(uow)
    with uow.begin() as tx:
        L.create_transfer(tx, TR("topup", "wallet.topup", debit_account_id=a["cash"].id,
                                 credit_account_id=a["wallet"].id, amount_minor=1_000))
    before = snapshot(uow)
    fields = {"id": "t-bad", "code": "purchase", "debit_account_id": a["wallet"].id,
              "credit_account_id": a["merchant"].id, "amount_minor": 100} | changes
    with pytest.raises(error) as err, uow.begin() as tx:
        L.create_transfer(tx, TR(**fields))
    assert err.value.field == field
    assert field in str(err.value)
    assert snapshot(uow) == before


def test_currency_mismatch_is_refused(uow):
    a = open_basic(uow)
    usd = open_basic(uow, "USD", suffix="-usd")
    before = snapshot(uow)
    with pytest.raises(CurrencyMismatchError) as err, uow.begin() as tx:
        L.create_transfer(tx, TR("fx", "purchase", debit_account_id=a["cash"].id,
                                 credit_account_id=usd["wallet"].id, amount_minor=1))
    assert err.value.field == "credit_account_id"
    assert snapshot(uow) == before


def test_as_of_balances_and_outbox(uow, clock):
    a = open_basic(uow)
    times = []
    for i in range(3):
        with uow.begin() as tx:
            L.create_transfer(tx, TR(f"t{i}", "wallet.topup", debit_account_id=a["cash"].id,
                                     credit_account_id=a["wallet"].id, amount_minor=100))
        times.append(clock.now())
        clock.advance(hours=1)
    assert _bal(uow, a["wallet"], as_of=times[0]).balance_minor == 100
    assert _bal(uow, a["wallet"], as_of=times[1]).balance_minor == 200
    assert _bal(uow, a["wallet"], as_of=times[0] - dt.timedelta(seconds=1)).balance_minor == 0
    assert _bal(uow, a["wallet"], as_of=clock.now()) == _bal(uow, a["wallet"])
    with uow.connect() as conn:
        topics = conn.execute(select(outbox_events.c.topic, func.count())
                              .group_by(outbox_events.c.topic)).all()
    assert dict(topics) == {"ledger.transfers.created": 3}


def test_export_and_verify_detects_tampering(uow, tmp_path):
    a = open_basic(uow)
    with uow.begin() as tx:
        for i in range(5):
            L.create_transfer(tx, TR(f"t{i}", "wallet.topup", debit_account_id=a["cash"].id,
                                     credit_account_id=a["wallet"].id, amount_minor=10 + i))
    with uow.connect() as conn:
        assert export_journal(conn, tmp_path / "j.csv") == 5
        assert export_journal(conn, tmp_path / "j.parquet") == 5
    rows = list(csv.DictReader(open(tmp_path / "j.csv")))
    assert [int(r["amount_minor"]) for r in rows] == [10, 11, 12, 13, 14]
    assert pq.read_table(tmp_path / "j.parquet").column("amount_minor").to_pylist() == \
        [10, 11, 12, 13, 14]
    with uow.begin() as tx:  # someone edits a running total behind the ledger's back
        tx.conn.execute(update(ledger_accounts).where(ledger_accounts.c.id == a["wallet"].id)
                        .values(credits_posted=ledger_accounts.c.credits_posted + 1))
    with uow.connect() as conn:
        report = verify_ledger(conn)
    assert not report.ok
    assert any("credits_posted" in p for p in report.problems)
