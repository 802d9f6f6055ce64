"""The fraud screener's streaming state as compact rows every worker shares (issue #19).

* replaying a stream through the rows (in memory, and through the ``fraud_entity_state``
  table on SQLite and PostgreSQL) gives the offline twin's features bit for bit;
* a customer's row stays within 1 KB whatever its history;
* two screeners on one database see the same features whichever screened before;
* concurrent screenings of one customer on PostgreSQL lose no update;
* a transaction that fails after screening leaves the rows equal to a replay of the
  committed payments.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import func, select

from creditpay.errors import ValidationError
from creditpay.payments.fraud import FraudScreeningConfig, ScreeningRiskGateway
from creditpay.payments.risk import PaymentEvent as CheckoutEvent
from creditpay.risk.fraud import state_store
from creditpay.risk.fraud.entity_state import EntityLayout, EntityStateEngine, MemoryEntityStore
from creditpay.risk.fraud.features import (
    FeatureConfig,
    FraudLabel,
    PaymentEvent,
    compute_features_offline,
    feature_names,
    iter_stream,
)
from creditpay.risk.fraud.tables import fraud_entity_state

T0 = 1_700_000_000


def _assert_identical(online: np.ndarray, offline: np.ndarray, names) -> None:
    for j, name in enumerate(names):
        a, b = online[:, j], offline[:, j]
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        assert same.all(), f"{name}: {np.count_nonzero(~same)} rows differ"


def test_rows_replay_equals_offline_exactly(mixed_events):
    events = mixed_events.head(4_000)
    cfg = FeatureConfig(utc_offset_s=8 * 3600)
    store = MemoryEntityStore(cfg)
    rows = []
    for item in iter_stream(events, cfg):
        if isinstance(item, PaymentEvent):
            rows.append(store.update(item))
        else:
            store.record_label(item)
    offline = compute_features_offline(events, cfg)
    _assert_identical(np.array(rows), offline, feature_names(cfg))
    layout = store.engine.layout
    for (kind, _), data in store.rows.items():
        assert len(data) == layout.nbytes(kind)


def test_row_sizes_of_the_default_configuration():
    layout = EntityLayout(FeatureConfig())
    assert layout.nbytes("customer") == 996
    assert layout.nbytes("device") == layout.nbytes("card") == 860
    assert layout.nbytes("merchant") == layout.nbytes("terminal") == 1_396


def test_customer_row_stays_within_1_kb_over_a_long_busy_history():
    store = MemoryEntityStore()
    rng = np.random.default_rng(3)
    t = T0
    sizes = set()
    # 4,000 payments over ~40 days, bursts of several per second, many devices, places.
    for i in range(4_000):
        t += int(rng.choice([0, 1, 2, 30, 600, 3_600, 4 * 3_600]))
        store.update(PaymentEvent(
            customer_id="busy", device_id=f"d{int(rng.integers(0, 50))}",
            merchant_id=f"m{int(rng.integers(0, 5))}", amount_minor=int(rng.integers(1, 10**9)),
            timestamp_s=t, card_id=f"k{i % 7}", terminal_id=f"t{i % 3}",
            grid_x=float(rng.normal()) * 100, grid_y=float(rng.normal()) * 100))
        sizes.add(len(store.rows[("customer", "busy")]))
    assert sizes == {996}
    assert max(len(v) for (k, _), v in store.rows.items() if k in ("device", "card")) <= 1_024


def test_a_corrupt_row_is_refused_naming_the_field():
    engine = EntityStateEngine(FeatureConfig())
    event = PaymentEvent("c1", "d1", "m1", 1_000, T0)
    with pytest.raises(ValidationError) as err:
        engine.update(event, {("customer", "c1"): b"\x00" * 10})
    assert err.value.field == "fraud_state"


# ------------------------------------------------------------------ in the database
def test_replay_through_the_table_equals_offline_exactly(store, uow, mixed_events):
    events = mixed_events.head(500)
    cfg = FeatureConfig()
    engine = EntityStateEngine(cfg)
    items = list(iter_stream(events, cfg))
    rows = []
    for start in range(0, len(items), 50):  # 50 screenings per transaction
        with uow.begin() as tx:
            for item in items[start:start + 50]:
                if isinstance(item, PaymentEvent):
                    rows.append(state_store.fold_event(tx, engine, item))
                else:
                    state_store.fold_label(tx, engine, item)
    _assert_identical(np.array(rows), compute_features_offline(events, cfg), feature_names(cfg))
    with uow.connect() as conn:
        sizes = state_store.state_sizes(conn, cfg.version)
    assert sizes["customer"]["state_bytes"] == 996 * sizes["customer"]["rows"]


def _checkout(intent_id: str, now, customer: str = "cus_1", merchant: str = "mer_1",
              amount: int = 1_000, device: str = "dev-1"):
    return CheckoutEvent(intent_id=intent_id, customer_id=customer, merchant_id=merchant,
                         merchant_mcc="5411", amount_minor=amount, currency="CNY",
                         funding="balance", scenario="online", device_id=device,
                         occurred_at=now)


def test_two_workers_see_the_same_features(store, clock):
    from creditpay.db.engine import make_engine
    from creditpay.db.uow import UnitOfWork

    engines = [make_engine(store.url), make_engine(store.url)]
    try:
        workers = [(UnitOfWork(e, clock),
                    ScreeningRiskGateway.from_config(FraudScreeningConfig()))
                   for e in engines]
        reference = MemoryEntityStore()
        for n in range(12):
            uow_n, gateway = workers[n % 3 % 2]  # 0, 1, 0, 0, 1, 0, ...
            clock.advance(seconds=37 * n)
            checkout = _checkout(f"pi_{n}", clock.now(), merchant=f"mer_{n % 2}",
                                 amount=1_000 + n, device=f"dev-{n % 4}")
            decision = uow_n.run(lambda tx, g=gateway, c=checkout: g.screen_payment(tx, c))
            served = decision.details["features"]
            expected = reference.update(PaymentEvent(
                "cus_1", f"dev-{n % 4}", f"mer_{n % 2}", 1_000 + n,
                int(clock.now().timestamp())))
            names = reference.engine.names
            for name, value in served.items():
                assert value == pytest.approx(expected[names.index(name)], abs=1e-6), name
        assert served["customer_count_24h"] == 12
    finally:
        for e in engines:
            e.dispose()


def test_concurrent_screenings_of_one_customer_lose_no_update(store, clock):
    if store.kind == "sqlite":
        pytest.skip("SQLite has one writer at a time: transactions cannot overlap")
    from creditpay.db.engine import make_engine
    from creditpay.db.uow import UnitOfWork

    per_worker = 15
    engines = [make_engine(store.url), make_engine(store.url)]
    seen: list[float] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(index: int) -> None:
        try:
            uow_w = UnitOfWork(engines[index], clock)
            state = EntityStateEngine(FeatureConfig())
            barrier.wait()
            for n in range(per_worker):
                event = PaymentEvent("cus_hot", f"dev-{index}", "mer_hot", 100 + n, T0)
                x = uow_w.run(lambda tx, e=event: state_store.fold_event(tx, state, e))
                seen.append(float(x[state.names.index("customer_history_count")]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        for e in engines:
            e.dispose()
    assert not errors, errors
    # Every screening saw a different history: none was computed from a stale row.
    assert sorted(seen) == [float(i) for i in range(2 * per_worker)]
    uow = UnitOfWork(store.engine, clock)
    state = EntityStateEngine(FeatureConfig())
    with uow.connect() as conn:
        rows = state_store.read_rows(conn, state.config.version, [("customer", "cus_hot"),
                                                                  ("merchant", "mer_hot")])
        version = conn.execute(select(func.max(fraud_entity_state.c.version))).scalar()
    customer = state.layout.decode("customer", rows[("customer", "cus_hot")])
    assert int(customer["n"][0]) == 2 * per_worker
    assert int(customer["counts"][0].sum()) == 5 * 2 * per_worker  # 5 windows, same bucket
    assert version == 2 * per_worker


class _Crash(Exception):
    pass


def test_a_failure_after_screening_leaves_the_state_of_the_committed_payments(store, uow,
                                                                               clock):
    gateway = ScreeningRiskGateway.from_config(FraudScreeningConfig())
    reference = MemoryEntityStore()
    committed_events = []
    for n in range(6):
        clock.advance(seconds=120)
        checkout = _checkout(f"pi_{n}", clock.now(), amount=500 * (n + 1),
                             device=f"dev-{n % 3}", merchant=f"mer_{n % 2}")
        event = PaymentEvent("cus_1", f"dev-{n % 3}", f"mer_{n % 2}", 500 * (n + 1),
                             int(clock.now().timestamp()))
        if n % 2:
            with pytest.raises(_Crash):
                with uow.begin() as tx:
                    gateway.screen_payment(tx, checkout)
                    raise _Crash  # e.g. the process dies before the commit
        else:
            uow.run(lambda tx, c=checkout: gateway.screen_payment(tx, c))
            committed_events.append(event)
            reference.update(event)
    with uow.connect() as conn:
        for event in committed_events:
            assert gateway.state_rows(conn, event) == {
                key: reference.rows[key] for key in reference.engine.event_keys(event)}
    # A label lands on the merchant's row in its own transaction.
    label = FraudLabel(committed_events[0].timestamp_s, committed_events[0].timestamp_s + 60,
                       True, "cus_1", merchant_id="mer_0")
    assert uow.run(lambda tx: gateway.record_label(tx, label))
    reference.record_label(label)
    with uow.connect() as conn:
        assert gateway.state_rows(conn, committed_events[0])[("merchant", "mer_0")] == \
            reference.rows[("merchant", "mer_0")]


def test_a_busy_merchant_row_is_locked_for_the_commit_only(store, clock):
    """Two customers pay one merchant at once on PostgreSQL: the second's screening and
    commit do not wait for the first's transaction (the merchant row is written as the
    transaction's last step), and both payments end in the merchant's row, the first one
    (older, committed last, across a window bucket) counted in the newer bucket."""
    if store.kind == "sqlite":
        pytest.skip("SQLite has one writer at a time: transactions cannot overlap")
    from creditpay.db.engine import make_engine
    from creditpay.db.uow import UnitOfWork

    engines = [make_engine(store.url), make_engine(store.url)]
    state = EntityStateEngine(FeatureConfig())
    first_screened, second_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    # 59 s apart: the 1-minute window's buckets differ, so the first committing last must
    # not be refused as "older than the window state".
    early = PaymentEvent("cus_a", "dev-a", "mer_busy", 100, T0)
    late = PaymentEvent("cus_b", "dev-b", "mer_busy", 200, T0 + 59)

    def first() -> None:
        try:
            with UnitOfWork(engines[0], clock).begin() as tx:
                state_store.fold_event(tx, state, early)
                first_screened.set()
                # Held open until the other customer's checkout has committed.
                assert second_done.wait(timeout=30), "the second checkout waited on the first"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_screened.set()

    thread = threading.Thread(target=first)
    try:
        thread.start()
        assert first_screened.wait(timeout=30)
        UnitOfWork(engines[1], clock).run(lambda tx: state_store.fold_event(tx, state, late))
        second_done.set()
        thread.join()
    finally:
        second_done.set()
        for e in engines:
            e.dispose()
    assert not errors, errors
    with UnitOfWork(store.engine, clock).connect() as conn:
        rows = state_store.read_rows(conn, state.config.version, [("merchant", "mer_busy")])
    merchant = state.layout.decode("merchant", rows[("merchant", "mer_busy")])
    assert int(merchant["t_last"][0]) == T0 + 59
    assert int(merchant["counts"][0].sum()) == 5 * 2  # 5 windows, both payments, one bucket
    # The same two payments in one order, in memory: the same merchant row.
    reference = MemoryEntityStore()
    reference.update(PaymentEvent("cus_b", "dev-b", "mer_busy", 200, T0 + 59))
    reference.update(PaymentEvent("cus_a", "dev-a", "mer_busy", 100, T0 + 59))
    assert reference.rows[("merchant", "mer_busy")] == rows[("merchant", "mer_busy")]


def test_screenings_at_one_merchant_in_one_transaction_see_each_other(store, uow):
    state = EntityStateEngine(FeatureConfig())
    names = state.names
    with uow.begin() as tx:
        counts = [state_store.fold_event(tx, state, PaymentEvent(
            f"cus_{n}", f"dev-{n}", "mer_one", 100 + n, T0 + n))[names.index(
                "merchant_count_1h")] for n in range(3)]
    assert counts == [1.0, 2.0, 3.0]


def test_payments_without_a_device_do_not_share_one(store, uow, clock):
    """A payment that names no device is on its customer's unknown device: customers
    without devices never add up on one shared device (whose count would trip the
    shared-device rule for all of them, and whose row every checkout would queue on)."""
    gateway = ScreeningRiskGateway.from_config(FraudScreeningConfig())
    served = []
    for n in range(3):
        checkout = _checkout(f"pi_nodev_{n}", clock.now(), customer=f"cus_nodev_{n}",
                             device=None)
        served.append(uow.run(lambda tx, c=checkout: gateway.screen_payment(tx, c))
                      .details["features"]["device_count_1h"])
    assert served == [1.0, 1.0, 1.0]


def test_two_engines_in_one_transaction_count_each_payment_once(store, uow):
    """Two screeners (engines) writing one merchant's row in the same transaction: each
    one's pending writes are committed once, so each payment counts once."""
    engines = [EntityStateEngine(FeatureConfig()), EntityStateEngine(FeatureConfig())]
    with uow.begin() as tx:
        for n, engine in enumerate(engines):
            state_store.fold_event(tx, engine, PaymentEvent(
                f"cus_two_{n}", f"dev-two-{n}", "mer_two", 100, T0 + n))
    with uow.connect() as conn:
        rows = state_store.read_rows(conn, engines[0].config.version, [("merchant", "mer_two")])
    merchant = engines[0].layout.decode("merchant", rows[("merchant", "mer_two")])
    assert int(merchant["counts"][0].sum()) == 5 * 2  # 5 windows, two payments
