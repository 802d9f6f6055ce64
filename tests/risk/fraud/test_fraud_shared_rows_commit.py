"""The shared rows (merchant, terminal) written at commit: on SQLite without being read
again unless the transaction itself changed them (a label, another engine's screenings), on
PostgreSQL locked and read again; the committed rows are the same on both stores, those of
the engine applying the label to the committed row and the transaction's payments after it
(the commit's replay), and unchanged rows are written without an extra read."""

from __future__ import annotations

from creditpay.risk.fraud import state_store
from creditpay.risk.fraud.entity_state import EntityStateEngine
from creditpay.risk.fraud.features import FeatureConfig, FraudLabel, PaymentEvent

T0 = 1_700_000_000


def _events(prefix: str) -> list[PaymentEvent]:
    return [PaymentEvent(f"cus_{prefix}_{n}", f"dev_{prefix}_{n}", f"mer_{prefix}", 100 + n,
                         T0 + 40 * 86_400 + n, terminal_id=f"ter_{prefix}") for n in range(2)]


def test_a_label_between_two_screenings_is_replayed_under_them(store, uow):
    engine = EntityStateEngine(FeatureConfig())
    version = engine.config.version
    first, second = _events("lab")
    label = FraudLabel(transaction_timestamp_s=T0 + 35 * 86_400,
                       label_timestamp_s=T0 + 40 * 86_400, is_fraud=True,
                       customer_id="cus_x", merchant_id="mer_lab", terminal_id="ter_lab")
    shared = [("merchant", "mer_lab"), ("terminal", "ter_lab")]
    with uow.begin() as tx:  # the rows exist, committed, before the transaction under test
        state_store.fold_event(tx, engine, PaymentEvent("cus_0", "dev_0", "mer_lab", 50, T0,
                                                        terminal_id="ter_lab"))
    with uow.connect() as conn:
        committed = state_store.read_rows(conn, version, shared)
    with uow.begin() as tx:
        state_store.fold_event(tx, engine, first)
        assert state_store.fold_label(tx, engine, label)
        state_store.fold_event(tx, engine, second)
    with uow.connect() as conn:
        rows = state_store.read_rows(conn, version, shared)
    # The commit's replay: the label on the committed rows, then the two payments.
    reference = EntityStateEngine(FeatureConfig())
    expected = dict(committed)
    expected.update(reference.record_label(label, expected))
    for event in (first, second):
        keys = reference.event_keys(event)
        _, new_rows = reference.update(event, {key: expected.get(key) for key in keys})
        expected.update({key: row for key, row in new_rows.items() if key in shared})
    assert rows == expected


def test_unchanged_shared_rows_are_written_as_computed(store, uow):
    engine = EntityStateEngine(FeatureConfig())
    version = engine.config.version
    events = _events("plain")
    with uow.begin() as tx:
        for event in events:
            state_store.fold_event(tx, engine, event)
    reference = EntityStateEngine(FeatureConfig())
    expected: dict = {}
    for event in events:
        keys = reference.event_keys(event)
        _, new_rows = reference.update(event, {key: expected.get(key) for key in keys})
        expected.update(new_rows)
    with uow.connect() as conn:
        assert state_store.read_rows(conn, version, list(expected)) == expected
