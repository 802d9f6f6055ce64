"""Batches written on the assumption that every id is new (``_create_new_batch``).

The insert itself is the replay check: an id already in the journal makes it fail, the
call undoes its rows (a savepoint on PostgreSQL, its own rows by number on SQLite) and takes
the careful path, which returns each replay's stored transfer or names the field of a
conflict. These tests put replays and conflicts inside batches large enough for that path,
on both stores, and check the outbox event's shape.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text

from creditpay import ledger as L
from creditpay.db.tables import outbox_events
from creditpay.errors import IdempotencyConflictError, InsufficientFundsError
from creditpay.ledger import service as ledger_service
from creditpay.ledger.verify import verify_ledger
from tests.ledger.helpers import open_basic, snapshot

SIZE = 20  # above VECTORISED_MIN: the path that assumes new ids


def _batch(a: dict[str, L.Account], tag: str, count: int = SIZE, amount: int = 10,
           start: int = 0) -> list[L.TransferRequest]:
    return [L.TransferRequest(f"{tag}-{n}", "wallet.topup", debit_account_id=a["cash"].id,
                              credit_account_id=a["wallet"].id, amount_minor=amount + n,
                              reference=f"r{n}" if n % 2 else None)
            for n in range(start, start + count)]


def _events(uow) -> list[dict]:
    with uow.connect() as conn:
        return [row.payload for row in conn.execute(
            select(outbox_events.c.payload).where(
                outbox_events.c.topic == ledger_service.TOPIC_TRANSFER)
            .order_by(outbox_events.c.id))]


def _careful_calls(monkeypatch) -> list[int]:
    """Counts the careful path's reads (the id look-up before planning)."""
    calls: list[int] = []
    original = ledger_service._prepare
    monkeypatch.setattr(ledger_service, "_prepare",
                        lambda *args: calls.append(1) or original(*args))
    return calls


@pytest.mark.parametrize("half", [10, 20])  # PostgreSQL: 40 rows go by COPY, 20 by INSERT
def test_a_new_batch_skips_the_look_up_and_a_replay_inside_one_returns_the_stored(
        uow, monkeypatch, half):
    a = open_basic(uow)
    careful = _careful_calls(monkeypatch)
    with uow.begin() as tx:
        first = list(L.create_transfers(tx, _batch(a, "b", 2 * half)))
    assert careful == []  # all new: no look-up of the ids before the insert
    with uow.connect() as conn:
        wallet_before = L.get_accounts(conn, [a["wallet"].id])[a["wallet"].id]
    # Half replays of the first batch (same fields), half new, interleaved.
    mixed = [r for pair in zip(_batch(a, "b", half), _batch(a, "c", half), strict=True)
             for r in pair]
    with uow.begin() as tx:
        second = list(L.create_transfers(tx, mixed))
    assert careful == [1]  # the insert met the replays, the careful path answered
    assert [t.id for t in second] == [r.id for r in mixed]
    assert second[0::2] == first[:half]  # the stored transfers, seq and time included
    new = second[1::2]
    assert [t.amount_minor for t in new] == [10 + n for n in range(half)]
    assert all(t.seq > first[-1].seq for t in new)
    with uow.connect() as conn:
        wallet = L.get_accounts(conn, [a["wallet"].id])[a["wallet"].id]
        assert wallet.credits_posted - wallet_before.credits_posted == sum(
            t.amount_minor for t in new)  # the replays moved nothing
        assert [t.id for t in L.list_transfers(conn, account_id=a["wallet"].id,
                                               limit=1000)] == \
            [t.id for t in first] + [t.id for t in new]
        assert verify_ledger(conn).ok
    # One event per call; the second carries only what it created.
    events = _events(uow)
    assert len(events) == 2
    assert [row[1] for row in events[1]["transfers"]] == [t.id for t in new]


def test_a_whole_batch_replayed_moves_nothing(uow):
    a = open_basic(uow)
    requests = _batch(a, "w")
    with uow.begin() as tx:
        first = list(L.create_transfers(tx, requests))
    before = snapshot(uow)
    with uow.begin() as tx:
        again = list(L.create_transfers(tx, requests))
    assert again == first
    assert snapshot(uow) == before


@pytest.mark.parametrize(("field", "change"), [
    ("amount_minor", {"amount_minor": 999}),
    ("reference", {"reference": "other"}),
    ("credit_account_id", {"credit_account_id": None}),  # filled in below: the merchant
])
def test_a_conflict_inside_a_new_batch_names_the_field_and_changes_nothing(
        uow, field, change):
    a = open_basic(uow)
    with uow.begin() as tx:
        L.create_transfers(tx, _batch(a, "k"))
    before = snapshot(uow)
    requests = _batch(a, "n")
    if field == "credit_account_id":
        change = {"credit_account_id": a["merchant"].id}
    stored = _batch(a, "k")[3]
    fields = {"id": stored.id, "code": stored.code, "debit_account_id": stored.debit_account_id,
              "credit_account_id": stored.credit_account_id,
              "amount_minor": stored.amount_minor, "reference": stored.reference} | change
    requests[7] = L.TransferRequest(**fields)
    with pytest.raises(IdempotencyConflictError) as err, uow.begin() as tx:
        L.create_transfers(tx, requests)
    assert err.value.field == f"transfers[7].{field}"
    assert snapshot(uow) == before


def test_a_batch_that_breaks_a_flag_part_way_is_refused_whole(uow):
    """The numpy planner leaves it to the per-transfer path, which names the transfer."""
    a = open_basic(uow)
    with uow.begin() as tx:
        L.create_transfers(tx, _batch(a, "f", amount=10))  # the wallet holds 390
    before = snapshot(uow)
    spend = [L.TransferRequest(f"s-{n}", "purchase", debit_account_id=a["wallet"].id,
                               credit_account_id=a["merchant"].id, amount_minor=30)
             for n in range(SIZE)]  # 600 > 390: the 14th fails
    with pytest.raises(InsufficientFundsError) as err, uow.begin() as tx:
        L.create_transfers(tx, spend)
    assert err.value.field == "transfers[13].amount_minor"
    assert snapshot(uow) == before


@pytest.mark.parametrize(("accounts", "size"), [("same", SIZE), ("other", SIZE), ("same", 1)])
def test_two_concurrent_calls_with_the_same_new_ids_move_money_once(uow, accounts, size):
    """The second call waits for the first to commit (on the accounts' locks, or with
    other accounts on the journal's unique index; SQLite: the write lock), then meets its
    rows: the same fields return the first one's transfers, other fields are a conflict.
    A single transfer (the careful path) looks its id up after its locks are granted."""
    a = open_basic(uow)
    requests = _batch(a, "cc", size)
    retries = requests if accounts == "same" else [
        L.TransferRequest(r.id, r.code, debit_account_id=a["limit"].id,
                          credit_account_id=a["merchant"].id, amount_minor=r.amount_minor,
                          reference=r.reference) for r in requests]
    inserted, release = threading.Event(), threading.Event()
    results: dict[str, list[L.Transfer]] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with uow.begin() as tx:
                results["first"] = list(L.create_transfers(tx, requests))
                inserted.set()
                assert release.wait(30)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            inserted.set()

    def second() -> None:
        try:
            assert inserted.wait(30)
            with uow.begin() as tx:
                results["second"] = list(L.create_transfers(tx, retries))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert inserted.wait(30)
    time.sleep(0.3)  # the second call is now waiting for the first
    assert "second" not in results and errors == []
    release.set()
    for thread in threads:
        thread.join(60)
    if accounts == "same":
        assert errors == []
        assert results["second"] == results["first"]
    else:
        assert len(errors) == 1 and isinstance(errors[0], IdempotencyConflictError)
        assert errors[0].field == "transfers[0].debit_account_id"
    with uow.connect() as conn:
        wallet = L.get_accounts(conn, [a["wallet"].id])[a["wallet"].id]
        assert wallet.credits_posted == sum(r.amount_minor or 0 for r in requests)
        assert verify_ledger(conn).ok
    assert len(_events(uow)) == 1


def test_the_event_carries_every_transfer_of_a_call(uow, clock):
    """``same`` updated with each row zipped with ``fields`` gives each transfer."""
    a = open_basic(uow)
    requests = _batch(a, "e") + [
        L.TransferRequest("e-hold", "purchase", kind=L.TransferKind.PENDING,
                          debit_account_id=a["wallet"].id, credit_account_id=a["merchant"].id,
                          amount_minor=5, timeout_seconds=60)]
    with uow.begin() as tx:
        batch = list(L.create_transfers(tx, requests))
        single = L.create_transfer(tx, L.TransferRequest(
            "e-post", "purchase", kind=L.TransferKind.POST, pending_id="e-hold"))
    events = _events(uow)
    assert len(events) == 2
    for event, transfers in zip(events, (batch, [single]), strict=True):
        rebuilt = [event["same"] | dict(zip(event["fields"], row, strict=True))
                   for row in event["transfers"]]
        keys = ("seq", "id", "kind", "debit_account_id", "credit_account_id", "amount_minor",
                "pending_released_minor", "currency", "code", "pending_id", "reference")
        assert rebuilt == [{k: t.as_dict()[k] for k in keys} for t in transfers]
    assert events[0]["same"]["currency"] == "CNY"
    assert "kind" in events[0]["fields"]  # singles and a hold: the kind varies


def test_the_journal_sequence_is_drawn_by_its_name(store, uow):
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite numbers the journal from max(seq) under its write lock")
    with uow.connect() as conn:
        name = conn.execute(text(
            "SELECT pg_get_serial_sequence('ledger_transfers', 'seq')")).scalar_one()
    assert name in (ledger_service.JOURNAL_SEQUENCE, f"public.{ledger_service.JOURNAL_SEQUENCE}")


@pytest.mark.parametrize("changes", [
    {"amount_minor": 0}, {"amount_minor": 2**63}, {"amount_minor": 1.5},
    {"amount_minor": True}, {"id": ""}, {"id": "two\nlines"}, {"id": "x" * 129},
    {"id": None}, {"code": "Not A Code"}, {"credit_account_id": 2**64},
    {"debit_account_id": -1}, {"credit_account_id": 1}, {"kind": "refund"},
    {"kind": "single"}, {"timeout_seconds": 10}, {"pending_id": "p-1"},
    {"reference": "r" * 129}, {"reference": 7}, {"reference": ["r"]}, {"code": ["x"]},
    {"kind": ["single"]}, {"pending_id": ["p"]}, {"timeout_seconds": [1]},
])
def test_a_batch_is_validated_as_each_request_would_be(changes):
    """The column-wise check of a whole batch accepts exactly what the per-request check
    accepts: a fault anywhere raises the error that check raises, naming the request."""
    from creditpay.errors import ValidationError
    from creditpay.ledger.model import validate_request, validate_requests

    prefixes = [f"transfers[{i}]." for i in range(SIZE)]
    good = [L.TransferRequest(f"v-{n}", "purchase", debit_account_id=1, credit_account_id=2,
                              amount_minor=n + 1) for n in range(SIZE)]
    assert validate_requests(good, prefixes) == good
    bad = list(good)
    bad[11] = L.TransferRequest(**({"id": "v-11", "code": "purchase", "debit_account_id": 1,
                                    "credit_account_id": 2, "amount_minor": 5} | changes))
    try:
        expected = [validate_request(r, p) for r, p in zip(bad, prefixes, strict=True)]
    except ValidationError as exc:
        with pytest.raises(ValidationError) as err:
            validate_requests(bad, prefixes)
        assert (err.value.field, str(err.value)) == (exc.field, str(exc))
        assert err.value.field.startswith("transfers[11].")
    else:  # a plain string kind is accepted and made the enum, as one request at a time
        assert validate_requests(bad, prefixes) == expected


def test_a_new_single_transfer_skips_the_look_up(store, uow, monkeypatch):
    """A single new transfer is written without a look-up of its id first (PostgreSQL: one
    statement whose insert does nothing if the id is taken; SQLite: the insert meets the
    unique index); a retry then takes the careful path and gets the stored transfer back,
    with nothing changed."""
    a = open_basic(uow)
    careful = _careful_calls(monkeypatch)
    request = _batch(a, "one", 1)[0]
    with uow.begin() as tx:
        first = L.create_transfer(tx, request)
    before = snapshot(uow)
    with uow.begin() as tx:
        again = L.create_transfer(tx, request)
    assert again == first and again.seq == first.seq
    assert snapshot(uow) == before
    assert careful == [1]
    with pytest.raises(InsufficientFundsError) as err, uow.begin() as tx:
        L.create_transfer(tx, L.TransferRequest(
            "one-spend", "purchase", debit_account_id=a["wallet"].id,
            credit_account_id=a["merchant"].id, amount_minor=first.amount_minor + 1))
    assert err.value.field == "amount_minor"
    assert snapshot(uow) == before


def test_a_batch_that_breaks_a_flag_only_part_way_is_refused_whole(uow):
    """Its final totals keep the flag, so the accounts' update itself passes (on PostgreSQL
    it is applied while the batch is planned): the refusal must undo it."""
    a = open_basic(uow)
    before = snapshot(uow)
    spend_then_top_up = [
        L.TransferRequest("p-0", "purchase", debit_account_id=a["wallet"].id,
                          credit_account_id=a["merchant"].id, amount_minor=30),
        *_batch(a, "t", SIZE - 1, amount=100)]
    with pytest.raises(InsufficientFundsError) as err, uow.begin() as tx:
        L.create_transfers(tx, spend_then_top_up)
    assert err.value.field == "transfers[0].amount_minor"
    assert snapshot(uow) == before


def test_batches_in_one_transaction_each_stand_or_fall_back_alone(uow):
    """On PostgreSQL a written batch leaves its savepoint open until the next batch or the
    commit: a later batch of the same transaction that meets a taken id rolls back to its
    own savepoint only, and the earlier batch's rows and totals stay."""
    a = open_basic(uow)
    with uow.begin() as tx:
        first = list(L.create_transfers(tx, _batch(a, "one")))
        # Half replays of the first batch (written in this very transaction), half new.
        mixed = _batch(a, "one", SIZE // 2) + _batch(a, "two", SIZE // 2)
        second = list(L.create_transfers(tx, mixed))
        third = list(L.create_transfers(tx, _batch(a, "three")))
    assert second[:SIZE // 2] == first[:SIZE // 2]
    with uow.connect() as conn:
        assert verify_ledger(conn).ok
        ids = set(conn.execute(text("SELECT id FROM ledger_transfers")).scalars())
        wallet = L.get_account(conn, a["wallet"].id)
    assert {t.id for t in first + second + third} <= ids and len(ids) == 5 * SIZE // 2
    assert wallet.credits_posted == sum(t.amount_minor for t in {
        t.id: t for t in first + second + third}.values())


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_a_batch_inside_a_nested_transaction(uow, outcome):
    """Inside a savepoint SQLAlchemy manages, a batch releases its own at once: ending the
    outer one cannot leave the next batch releasing a savepoint that is gone."""
    a = open_basic(uow)
    with uow.begin() as tx:
        nested = tx.conn.begin_nested()
        inner = list(L.create_transfers(tx, _batch(a, "in")))
        getattr(nested, outcome)()
        after = list(L.create_transfers(tx, _batch(a, "out")))
    with uow.connect() as conn:
        assert verify_ledger(conn).ok
        ids = set(conn.execute(text("SELECT id FROM ledger_transfers")).scalars())
    expected = {t.id for t in after} | ({t.id for t in inner} if outcome == "commit" else set())
    assert ids == expected
