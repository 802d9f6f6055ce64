"""The audit chain's bytes are fixed: a chain written by earlier code verifies, and the same
records appended and sealed today get the very same hashes.

``audit_chain_v1_golden.json`` was written by the code of main at a0b6904 (before the seal
and the append went to the driver) running :func:`_write_scenario` on SQLite, then dumping
every row of ``audit_records`` and the head (``python -m tests.compliance.test_audit_chain_golden
OUT.json``). Its payloads cover what the canonical JSON must keep byte for byte: nested
objects and lists, tuples, non-ASCII and astral characters, escapes, floats, large and
negative integers, booleans and nulls (not a float PostgreSQL's JSONB reads back as an
integer, such as 1e21: such a record hashes differently on the two stores, by design of
the stores, not of the chain); its times a zone other than UTC, whole seconds and
microseconds; its seals a batch limit that splits them.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from creditpay.clock import SimulatedClock
from creditpay.db.uow import UnitOfWork
from creditpay.platform import audit
from creditpay.platform.tables import audit_chain_head, audit_records

GOLDEN = Path(__file__).with_name("audit_chain_v1_golden.json")
_COLUMNS = ("id", "recorded_at", "actor_type", "actor_id", "action", "subject_type",
            "subject_id", "payload", "chain_index", "prev_hash", "hash", "sealed_at")

_PAYLOADS: list[dict[str, Any]] = [
    {"amount_minor": 10_000, "policy": "v3", "reasons": ["score_ok", 7]},
    {},
    {"z": 1, "a": {"y": [1, 2, {"b": None, "a": True}], "x": False}, "m": (3, "four")},
    {"currency": "CNY", "merchant_label": "\u6df1\u5733\u5496\u5561\u9986",
     "emoji": "\U0001f600 ok", "quote": "say \"hi\"\\ then\ttab"},
    {"rate": 0.1, "tiny": 1e-07, "large": 12345678.875, "neg": -12.5, "zero": 0.0, "third": 1 / 3},
    {"big": 2 ** 63 - 1, "negative_minor": -987_654_321, "count": 0},
    {"reason": "limit_exceeded", "note_id": "note_0123456789abcdef01234567",
     "flags": [True, False, None]},
    {"\u00e9t\u00e9": "caf\u00e9", "A": 1, "a": 2, "_": 3, "\u4e2d": "\u6587"},
]


def _write_scenario(uow: UnitOfWork, clock: SimulatedClock) -> None:
    """Appends and seals with the times, actors and batches the golden file holds."""
    actors = [("system", "decision-engine"), ("staff", "op_17"), ("customer", "cus_42"),
              ("merchant", "mer_9"), ("partner_lender", "pl_1"), ("regulator", "reg_cn")]
    index = 0
    for round_number in range(3):
        for payload in _PAYLOADS:
            actor_type, actor_id = actors[index % len(actors)]
            with uow.begin() as tx:
                audit.append(tx, actor_type, actor_id, f"golden.step_{index % 5}",
                             "loan", f"loan_{index}", payload)
                if index % 3 == 0:  # two records in one transaction
                    audit.append(tx, "system", "cob", "golden.extra", "account",
                                 f"acc_{index}", {"index": index})
            index += 1
            clock.advance(minutes=7)
            if index % 5 == 0:
                clock.set(clock.now() + dt.timedelta(microseconds=123_457 * index))
        audit.seal(uow, None, batch_max=4 + round_number)
        clock.advance(hours=5)


def _clock() -> SimulatedClock:
    # A zone other than UTC: the stored and hashed times are UTC all the same.
    return SimulatedClock("2025-03-01T09:00:00+08:00")


def _dump(engine: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_records).order_by(audit_records.c.id)).mappings().all()
        head = conn.execute(select(audit_chain_head)).mappings().one()
    return {
        "records": [{name: (row[name].isoformat() if isinstance(row[name], dt.datetime)
                            else row[name]) for name in _COLUMNS} for row in rows],
        "head": {name: (value.isoformat() if isinstance(value, dt.datetime) else value)
                 for name, value in head.items()},
    }


def _golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


def _as_row(record: dict[str, Any]) -> dict[str, Any]:
    row = dict(record)
    for name in ("recorded_at", "sealed_at"):
        if row.get(name) is not None:
            row[name] = dt.datetime.fromisoformat(row[name])
    return row


def test_a_chain_written_by_the_earlier_code_verifies(store) -> None:
    golden = _golden()
    with store.engine.begin() as conn:
        conn.execute(insert(audit_records), [_as_row(r) for r in golden["records"]])
        conn.execute(insert(audit_chain_head), _as_row(golden["head"]))
        if store.kind == "postgresql":  # ids given explicitly do not move the identity
            conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_records', 'id'),"
                              " (SELECT max(id) FROM audit_records))"))
    result = audit.verify_database(store.engine)
    assert result.ok, result.describe()
    assert result.records_checked == len(golden["records"])
    assert result.head_hash == golden["head"]["head_hash"]
    # ... and a new seal extends it from the old head.
    uow = UnitOfWork(store.engine, _clock())
    with uow.begin() as tx:
        audit.append(tx, "system", "cob", "golden.after", "loan", "loan_x", {"n": 1})
    sealed = audit.seal(uow, None)
    assert sealed.records_sealed == 1
    assert sealed.last_chain_index == golden["head"]["last_chain_index"] + 1
    assert audit.verify_database(store.engine).ok


def test_records_appended_and_sealed_today_hash_as_the_earlier_code_did(store) -> None:
    golden = _golden()
    _write_scenario(UnitOfWork(store.engine, clock := _clock()), clock)
    assert _dump(store.engine) == golden


if __name__ == "__main__":  # regenerate (only ever with the code that defines the format)
    import tempfile

    from creditpay.db.engine import make_engine
    from creditpay.db.schema import migrate

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/golden.db")
        migrate(engine)
        _write_scenario(UnitOfWork(engine, clock := _clock()), clock)
        Path(sys.argv[1]).write_text(json.dumps(_dump(engine), indent=1, ensure_ascii=False)
                                     + "\n", encoding="utf-8")
        engine.dispose()
