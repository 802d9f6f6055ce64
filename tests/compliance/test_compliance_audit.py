"""The tamper-evident audit chain: append, seal, verify, tampering, checkpoints, concurrency."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import types

import pytest
from sqlalchemy import delete, func, select, text, update

from creditpay.db.uow import UnitOfWork
from creditpay.errors import StateError, ValidationError
from creditpay.platform import audit
from creditpay.platform.checkpoints import (
    AuditChainBrokenError,
    AuditCheckpointer,
    CheckpointStoreError,
    DirectoryCheckpointStore,
)
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes, load_audit_signing_key
from creditpay.platform.tables import audit_chain_head, audit_records


def _append_many(uow, count, start=0):
    ids = []
    for i in range(start, start + count):
        with uow.begin() as tx:
            ids.append(audit.append(tx, "system", "decision-engine", "loan.approved", "loan",
                                    f"loan_{i}", {"amount_minor": 10_000 + i, "policy": "v3",
                                                  "reasons": ["score_ok", i]}))
    return ids


def _verify(engine):
    return audit.verify_database(engine)


def _id_at(engine, chain_index):
    with engine.connect() as conn:
        return conn.execute(select(audit_records.c.id).where(
            audit_records.c.chain_index == chain_index)).scalar_one()


@pytest.fixture
def sealed(uow, engine):
    _append_many(uow, 10)
    result = audit.seal(uow, None)
    assert result.records_sealed == 10 and result.last_chain_index == 9
    return engine


def test_untouched_chain_verifies(sealed):
    result = _verify(sealed)
    assert result.ok and result.records_checked == 10 and result.head_index == 9
    assert result.first_broken_index is None and result.unsealed == 0


def test_empty_chain_verifies(engine, uow):
    assert _verify(engine).ok
    assert audit.seal(uow, None).records_sealed == 0
    assert _verify(engine).ok


def test_append_is_part_of_the_business_transaction(uow, engine):
    with pytest.raises(RuntimeError), uow.begin() as tx:
        audit.append(tx, "staff", "op_7", "limit.changed", "credit_line", "cl_1", {"to": 1})
        raise RuntimeError("business rule failed after the audit append")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_records)).scalar_one() == 0


def test_recorded_at_is_business_time(uow, engine, clock):
    clock.set("2031-06-30T23:59:59.123456+08:00")
    _append_many(uow, 1)
    audit.seal(uow, None)
    with engine.connect() as conn:
        row = conn.execute(select(audit_records)).one()
    assert row.recorded_at.isoformat().startswith("2031-06-30T15:59:59.123456")
    assert _verify(engine).ok


def test_unsealed_records_are_reported_then_sealed_once(uow, engine):
    _append_many(uow, 3)
    audit.seal(uow, None)
    _append_many(uow, 2, start=3)
    result = _verify(engine)
    assert result.ok and result.records_checked == 3 and result.unsealed == 2
    assert audit.seal(uow, None).records_sealed == 2
    assert audit.seal(uow, None).records_sealed == 0
    assert _verify(engine).records_checked == 5


def test_seal_in_small_batches_gives_the_same_chain(uow, engine):
    _append_many(uow, 7)
    result = audit.seal(uow, None, batch_max=3)
    assert result.records_sealed == 7 and result.last_chain_index == 6
    assert _verify(engine).ok


def test_edited_payload_is_detected(sealed):
    with sealed.begin() as conn:
        conn.execute(text("UPDATE audit_records SET payload = :p WHERE chain_index = 4"),
                     {"p": '{"amount_minor": 1, "policy": "v3", "reasons": ["score_ok", 3]}'})
    result = _verify(sealed)
    assert not result.ok and result.first_broken_index == 4
    assert result.first_broken_id == _id_at(sealed, 4) and "hash" in result.reason


def test_edited_actor_is_detected(sealed):
    with sealed.begin() as conn:
        conn.execute(update(audit_records).where(audit_records.c.chain_index == 2)
                     .values(actor_id="someone-else"))
    result = _verify(sealed)
    assert (result.ok, result.first_broken_index) == (False, 2)


def test_deleted_middle_record_is_detected(sealed):
    victim = _id_at(sealed, 5)
    with sealed.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE id = :id"), {"id": victim})
    result = _verify(sealed)
    assert not result.ok and result.first_broken_index == 5
    assert result.first_broken_id == _id_at(sealed, 6) and "missing" in result.reason


def test_deleted_middle_record_with_renumbered_tail_is_detected(sealed):
    # A cleverer attacker closes the gap; the prev_hash link still breaks.
    with sealed.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE chain_index = 5"))
        for index in range(6, 10):
            conn.execute(update(audit_records).where(audit_records.c.chain_index == index)
                         .values(chain_index=index - 1))
    result = _verify(sealed)
    assert (result.ok, result.first_broken_index) == (False, 5)
    assert "prev_hash" in result.reason


def test_deleted_last_record_is_detected(sealed):
    with sealed.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE chain_index = 9"))
    result = _verify(sealed)
    assert (result.ok, result.first_broken_index) == (False, 9)
    assert "tail deleted" in result.reason


def test_swapped_contents_are_detected(sealed):
    with sealed.connect() as conn:
        a, b = (conn.execute(select(audit_records).where(audit_records.c.chain_index == i))
                .mappings().one() for i in (3, 4))
    content = ("actor_id", "action", "subject_id", "payload")
    with sealed.begin() as conn:
        conn.execute(update(audit_records).where(audit_records.c.id == a["id"])
                     .values({k: b[k] for k in content}))
        conn.execute(update(audit_records).where(audit_records.c.id == b["id"])
                     .values({k: a[k] for k in content}))
    result = _verify(sealed)
    assert (result.ok, result.first_broken_index, result.first_broken_id) == (
        False, 3, a["id"])


def test_swapped_order_is_detected(sealed):
    first, second = _id_at(sealed, 3), _id_at(sealed, 4)
    with sealed.begin() as conn:  # move 3 out of the way to respect the unique constraint
        conn.execute(update(audit_records).where(audit_records.c.id == first)
                     .values(chain_index=-1))
        conn.execute(update(audit_records).where(audit_records.c.id == second)
                     .values(chain_index=3))
        conn.execute(update(audit_records).where(audit_records.c.id == first)
                     .values(chain_index=4))
    result = _verify(sealed)
    assert (result.ok, result.first_broken_index, result.first_broken_id) == (
        False, 3, second)


def test_edited_head_is_detected(sealed):
    with sealed.begin() as conn:
        conn.execute(update(audit_chain_head).values(head_hash="ab" * 32))
    result = _verify(sealed)
    assert (result.ok, result.first_broken_index) == (False, 9)
    assert result.first_broken_id == _id_at(sealed, 9) and "head" in result.reason


def test_head_rolled_back_is_detected(sealed):
    with sealed.begin() as conn:
        conn.execute(update(audit_chain_head).values(last_chain_index=7))
    result = _verify(sealed)
    assert (result.ok, result.first_broken_index) == (False, 8)


def test_describe_names_index_and_id(sealed):
    with sealed.begin() as conn:
        conn.execute(update(audit_records).where(audit_records.c.chain_index == 6)
                     .values(action="loan.rejected"))
    line = _verify(sealed).describe()
    assert f"chain_index 6 (record id {_id_at(sealed, 6)})" in line and "BROKEN" in line


@pytest.mark.parametrize("payload, key", [
    ({"note": "called 13812345678"}, "payload.note"),
    ({"customer": {"id_card": "11010519491231002X"}}, "payload.customer.id_card"),
    ({"items": [{"pan": "4111 1111 1111 1111"}]}, "payload.items[0].pan"),
    ({"contact": "alice@example.com"}, "payload.contact"),
    ({"phone": 13812345678}, "payload.phone"),
    ({"13812345678": True}, "payload.13812345678"),
])
def test_plaintext_pii_in_payload_is_rejected_naming_the_key(uow, payload, key):
    with uow.begin() as tx, pytest.raises(ValidationError) as info:
        audit.append(tx, "staff", "op_1", "customer.viewed", "customer", "cust_1", payload)
    assert info.value.field == key


def test_ids_amounts_and_masked_values_are_accepted(uow):
    with uow.begin() as tx:
        audit.append(tx, "system", "cob", "statement.issued", "credit_line", "cl_9", {
            "amount_minor": 19_999_999_999, "occurred_at_ms": 1735722000000,
            "phone_masked": "138****5678", "phone_blind_index": "a3f1" * 8,
            "request_hash": "3f13812345678ab" + "0" * 49, "rate": 0.0005})


@pytest.mark.parametrize("kwargs, field", [
    ({"actor_type": "robot"}, "actor_type"),
    ({"action": "Loan Approved"}, "action"),
    ({"subject_id": "13812345678"}, "subject_id"),
    ({"actor_id": ""}, "actor_id"),
    ({"payload": {"x": float("nan")}}, "payload.x"),
    ({"payload": {"x": b"bytes"}}, "payload.x"),
    ({"payload": {"x": "y" * 20_000}}, "payload"),
])
def test_malformed_append_is_rejected(uow, kwargs, field):
    args = {"actor_type": "staff", "actor_id": "op_1", "action": "loan.approved",
            "subject_type": "loan", "subject_id": "loan_1", "payload": {}} | kwargs
    with uow.begin() as tx, pytest.raises(ValidationError) as info:
        audit.append(tx, **args)
    assert info.value.field == field


def test_personal_data_access_helper(uow, engine):
    with uow.begin() as tx:
        audit.record_personal_data_access(tx, "op_3", "customer", "cust_5",
                                          ["phone", "id_number"], "complaint_handling")
    audit.seal(uow, None)
    with engine.connect() as conn:
        row = conn.execute(select(audit_records)).one()
    assert (row.actor_type, row.action, row.payload["fields"]) == (
        "staff", "personal_data.read", ["id_number", "phone"])


# ----- checkpoints --------------------------------------------------------------------------
@pytest.fixture
def signing_key():
    return load_audit_signing_key(LocalMasterKey(generate_key_bytes()))


def test_checkpoint_stays_valid_as_the_chain_grows(sealed, uow, signing_key):
    with audit.snapshot_connection(sealed) as conn:
        doc = audit.checkpoint(conn, signing_key)
    assert doc["chain_index"] == 9 and len(doc["head_hash"]) == 64
    _append_many(uow, 5, start=10)
    audit.seal(uow, None)
    with audit.snapshot_connection(sealed) as conn:
        result = audit.verify_checkpoint(doc, conn, trusted_public_keys={doc["public_key"]})
    assert result.ok and result.records_checked == 10


def test_checkpoint_detects_rewritten_and_rehashed_history(sealed, uow, signing_key):
    with audit.snapshot_connection(sealed) as conn:
        doc = audit.checkpoint(conn, signing_key)
    # An attacker with full database access deletes everything and re-seals a forged history
    # whose hashes are all internally consistent: verify() passes, the checkpoint does not.
    with sealed.begin() as conn:
        conn.execute(text("DELETE FROM audit_records"))
        conn.execute(text("DELETE FROM audit_chain_head"))
    _append_many(uow, 10, start=100)
    audit.seal(uow, None)
    assert _verify(sealed).ok
    with audit.snapshot_connection(sealed) as conn:
        result = audit.verify_checkpoint(doc, conn, trusted_public_keys={doc["public_key"]})
    assert not result.ok and "rewritten" in result.reason


def test_checkpoint_signature_and_trust(sealed, signing_key):
    with audit.snapshot_connection(sealed) as conn:
        doc = audit.checkpoint(conn, signing_key)
        trusted = {doc["public_key"]}
        forged = dict(doc, chain_index=3)
        assert "signature" in audit.verify_checkpoint(forged, conn,
                                                      trusted_public_keys=trusted).reason
        assert not audit.verify_checkpoint(doc, conn, trusted_public_keys={"00" * 32}).ok
        with pytest.raises(ValidationError):
            audit.verify_checkpoint({"chain_index": 1}, conn, trusted_public_keys=trusted)


def test_checkpoint_refuses_a_broken_chain(sealed, signing_key):
    with sealed.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE chain_index = 2"))
    with audit.snapshot_connection(sealed) as conn, pytest.raises(StateError):
        audit.checkpoint(conn, signing_key)


# ----- concurrency --------------------------------------------------------------------------
def test_concurrent_appends_and_seals_seal_every_record_exactly_once(engine, clock,
                                                                     checkpointer):
    uow = UnitOfWork(engine, clock)
    writers, per_writer = 4, 40
    stop = threading.Event()
    sealed_counts: list[int] = []
    errors: list[BaseException] = []

    def writer(number):
        try:
            for i in range(per_writer):
                uow.run(lambda tx, i=i: audit.append(
                    tx, "customer", f"cust_{number}", "payment.captured", "payment",
                    f"pay_{number}_{i}", {"amount_minor": i}))
        except BaseException as exc:  # surfaced below: a thread must not fail silently
            errors.append(exc)

    def sealer():
        try:
            while not stop.is_set():
                # Both sealers checkpoint into one store: they must never see each other's
                # newer checkpoint as a head moved back, nor fork it.
                sealed_counts.append(audit.seal(uow, checkpointer,
                                                batch_max=16).records_sealed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    threads += [threading.Thread(target=sealer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads[:writers]:
        thread.join()
    stop.set()
    for thread in threads[writers:]:
        thread.join()
    sealed_counts.append(audit.seal(uow, checkpointer).records_sealed)
    assert errors == []

    total = writers * per_writer
    assert sum(sealed_counts) == total  # no record sealed twice, none left out
    with engine.connect() as conn:
        indexes = conn.execute(select(audit_records.c.chain_index)).scalars().all()
    assert sorted(indexes) == list(range(total))
    result = _against_store(engine, checkpointer)
    assert result.ok and result.records_checked == total and result.unsealed == 0
    assert result.checkpoint_index == total - 1


# ----- checkpoints outside the database (issue 13, item 5) ----------------------------------
@pytest.fixture
def checkpointer(signing_key, tmp_path):
    return AuditCheckpointer(signing_key, DirectoryCheckpointStore(tmp_path / "checkpoints"))


def _trusted(checkpointer):
    return checkpointer.trusted_keys()


def _cut_tail(engine, keep_through):
    """The clean cut: delete every record after ``keep_through`` and move the head back so
    the shorter chain is perfectly consistent (-1 empties the chain and resets the head)."""
    with engine.begin() as conn:
        conn.execute(delete(audit_records).where(audit_records.c.chain_index > keep_through))
        if keep_through < 0:
            conn.execute(update(audit_chain_head).values(
                last_chain_index=-1, last_record_id=None, head_hash=audit.GENESIS_HASH,
                sealed_at=None))
            return
        last = conn.execute(select(audit_records).where(
            audit_records.c.chain_index == keep_through)).one()
        conn.execute(update(audit_chain_head).values(
            last_chain_index=keep_through, last_record_id=last.id, head_hash=last.hash))


def _against_store(engine, checkpointer):
    with audit.snapshot_connection(engine) as conn:
        return audit.verify_against_store(conn, checkpointer.store,
                                          trusted_public_keys=_trusted(checkpointer))


def test_every_seal_that_moves_the_head_writes_a_signed_checkpoint(uow, engine, checkpointer):
    _append_many(uow, 10)
    first = audit.seal(uow, checkpointer)
    doc = first.checkpoint
    assert doc["chain_index"] == 9 and doc["head_hash"] == first.head_hash
    assert checkpointer.store.latest() == doc
    assert audit.checkpoint_problem(doc, _trusted(checkpointer)) is None
    path = checkpointer.store.path / "checkpoint-000000000009.json"
    assert json.loads(path.read_text()) == doc
    if os.name == "posix":
        assert not os.stat(path).st_mode & 0o222  # evidence: read-only
    assert audit.seal(uow, checkpointer).checkpoint is None  # head did not move: no file
    _append_many(uow, 3, start=10)
    assert audit.seal(uow, checkpointer).checkpoint["chain_index"] == 12
    assert sorted(p.name for p in checkpointer.store.path.iterdir()) == [
        "checkpoint-000000000009.json", "checkpoint-000000000012.json"]
    result = _against_store(engine, checkpointer)
    assert result.ok and result.checkpoint_index == 12


@pytest.mark.parametrize("keep_through, words", [
    (6, "tail deleted and head moved back"),
    (-1, "chain emptied and head reset"),
])
def test_clean_cut_verifies_alone_but_fails_against_the_stored_checkpoint(
        uow, engine, checkpointer, keep_through, words):
    _append_many(uow, 10)
    audit.seal(uow, checkpointer)
    _cut_tail(engine, keep_through)
    assert _verify(engine).ok  # the chain alone cannot see a clean cut
    result = _against_store(engine, checkpointer)
    assert not result.ok and words in result.reason
    assert result.first_broken_index == keep_through + 1
    # The next seal refuses to sign the cut chain, loudly, and writes nothing.
    _append_many(uow, 1, start=50)
    with pytest.raises(AuditChainBrokenError):
        audit.seal(uow, checkpointer)
    assert checkpointer.store.latest()["chain_index"] == 9


def test_clean_cut_with_the_head_row_deleted_fails(uow, engine, checkpointer):
    _append_many(uow, 4)
    audit.seal(uow, checkpointer)
    with engine.begin() as conn:
        conn.execute(delete(audit_records))
        conn.execute(delete(audit_chain_head))
    assert _verify(engine).ok
    result = _against_store(engine, checkpointer)
    assert not result.ok and "chain emptied" in result.reason


def test_tail_regrown_past_the_checkpoint_fails(uow, engine, checkpointer):
    """Delete the tail, then append and seal new records until the head index is past the
    checkpoint again: the checkpointed index now holds another record, with another hash."""
    _append_many(uow, 10)
    audit.seal(uow, checkpointer)
    _cut_tail(engine, 5)
    _append_many(uow, 8, start=100)
    audit.seal(uow, None)  # the attacker's own seal: the chain is consistent again
    assert _verify(engine).ok and _verify(engine).head_index == 13
    result = _against_store(engine, checkpointer)
    assert (result.ok, result.first_broken_index) == (False, 9)
    assert "checkpointed hash" in result.reason
    with pytest.raises(AuditChainBrokenError, match="rewritten"):
        audit.seal(uow, checkpointer)


def test_checkpoint_signed_by_another_key_is_refused(uow, engine, checkpointer, tmp_path):
    _append_many(uow, 3)
    audit.seal(uow, checkpointer)
    _cut_tail(engine, 0)
    # Whoever cut the tail re-signs the shorter head with a key of their own...
    intruder = AuditCheckpointer(load_audit_signing_key(LocalMasterKey(generate_key_bytes())),
                                 DirectoryCheckpointStore(tmp_path / "forged"))
    _append_many(uow, 5, start=10)
    audit.seal(uow, intruder)
    forged = intruder.store.latest()
    with audit.snapshot_connection(engine) as conn:
        alone = audit.verify_against_store(conn, intruder.store,
                                           trusted_public_keys=_trusted(checkpointer))
        assert (alone.ok, alone.reason) == (False, "checkpoint signed by an untrusted key")
        assert audit.verify_checkpoint(forged, conn, trusted_public_keys=_trusted(
            checkpointer)).reason == "checkpoint signed by an untrusted key"
    # ...and even slipped into the platform's store it convinces neither verify nor a seal.
    os.link(intruder.store.path / "checkpoint-000000000005.json",
            checkpointer.store.path / "checkpoint-000000000005.json")
    result = _against_store(engine, checkpointer)
    assert (result.ok, result.reason) == (False, "checkpoint signed by an untrusted key")
    with pytest.raises(AuditChainBrokenError, match="untrusted key"):
        audit.seal(uow, checkpointer)


def test_an_earlier_platform_key_can_stay_trusted(uow, engine, checkpointer, tmp_path):
    _append_many(uow, 2)
    audit.seal(uow, checkpointer)
    rotated = AuditCheckpointer(load_audit_signing_key(LocalMasterKey(generate_key_bytes())),
                                checkpointer.store, frozenset({checkpointer.public_key}))
    _append_many(uow, 2, start=2)
    assert audit.seal(uow, rotated).checkpoint["public_key"] == rotated.public_key
    with audit.snapshot_connection(engine) as conn:
        assert audit.verify_against_store(conn, rotated.store,
                                          trusted_public_keys=rotated.trusted_keys()).ok


def test_no_checkpoint_for_a_sealed_chain_cannot_pass(uow, engine, checkpointer):
    assert _against_store(engine, checkpointer).ok  # empty chain, no store: nothing to cut
    _append_many(uow, 2)
    audit.seal(uow, None)
    with pytest.raises(CheckpointStoreError, match="does not exist"):
        _against_store(engine, checkpointer)


def test_a_checkpoint_that_cannot_be_written_is_raised_then_caught_up(
        uow, engine, signing_key, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    _append_many(uow, 3)
    with pytest.raises(CheckpointStoreError):
        audit.seal(uow, AuditCheckpointer(signing_key, DirectoryCheckpointStore(blocked)))
    with engine.connect() as conn:
        assert audit.unsealed_count(conn) == 0  # the records are sealed all the same
    working = AuditCheckpointer(signing_key, DirectoryCheckpointStore(tmp_path / "cp"))
    result = audit.seal(uow, working)  # nothing new to seal: the checkpoint catches up
    assert (result.records_sealed, result.checkpoint["chain_index"]) == (0, 2)


def test_directory_store_never_replaces_a_checkpoint(uow, checkpointer, signing_key):
    _append_many(uow, 2)
    doc = audit.seal(uow, checkpointer).checkpoint
    store = checkpointer.store
    assert store.put(doc) == str(store.path / "checkpoint-000000000001.json")  # same: no-op
    other = audit._signed_head(types.SimpleNamespace(
        last_chain_index=1, head_hash="ab" * 32, last_record_id=7, sealed_at=None),
        signing_key)
    with pytest.raises(AuditChainBrokenError, match="forked"):
        store.put(other)
    assert store.latest() == doc
    assert not [p for p in store.path.iterdir() if p.name.startswith(".")]  # no temp left


def test_directory_store_keeps_recent_and_one_per_day(tmp_path, signing_key):
    store = DirectoryCheckpointStore(tmp_path / "cp", keep_recent=3)
    for index in range(10):
        day = 1 + index // 4  # four checkpoints a day
        store.put(audit._signed_head(types.SimpleNamespace(
            last_chain_index=index, head_hash=f"{index:064x}", last_record_id=index,
            sealed_at=dt.datetime(2025, 3, day, 1, index, tzinfo=dt.UTC)), signing_key))
    assert store.prune() == 5
    kept = sorted(int(p.name[11:23]) for p in store.path.iterdir())
    assert kept == [3, 6, 7, 8, 9]  # last of day 1 and of day 2, then the newest three
    assert store.latest()["chain_index"] == 9
