import numpy as np
import polars as pl
import pytest

from creditpay.errors import ValidationError
from creditpay.risk.fraud.features import (
    FeatureConfig,
    FraudLabel,
    PaymentEvent,
    StreamingFeatures,
    compute_features_offline,
    feature_names,
    iter_stream,
)


def _replay(events, cfg, engine=None, stop=None):
    engine = engine or StreamingFeatures(cfg)
    rows = []
    for item in iter_stream(events, cfg):
        if isinstance(item, PaymentEvent):
            rows.append(engine.update(item))
            if stop is not None and len(rows) == stop:
                break
        else:
            engine.record_label(item)
    return engine, np.array(rows)


def _assert_identical(online, offline, names):
    for j, name in enumerate(names):
        a, b = online[:, j], offline[:, j]
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        assert same.all(), f"{name}: {np.count_nonzero(~same)} rows differ"


@pytest.mark.parametrize("coordinates", ["grid", "geo"])
def test_streaming_equals_offline_exactly(mixed_events, coordinates):
    events = mixed_events.head(6_000)
    if coordinates == "geo":
        # Grid -> plausible lat/lon around Shanghai, far apart enough to trigger travel rules.
        events = events.with_columns((pl.col("grid_x") * 0.3 + 20).alias("lat"),
                                     (pl.col("grid_y") * 0.3 + 100).alias("lon"))
    cfg = FeatureConfig(coordinates=coordinates, location_cell=1.0 if coordinates == "grid"
                        else 0.1, utc_offset_s=8 * 3600)
    offline = compute_features_offline(events, cfg)
    _, online = _replay(events, cfg)
    names = feature_names(cfg)
    assert online.shape == offline.shape == (events.height, len(names))
    _assert_identical(online, offline, names)
    # Every feature is informative somewhere (not constant NaN).
    assert not np.isnan(offline).all(axis=0).any()
    if coordinates == "geo":
        assert np.nansum(offline[:, names.index("impossible_travel")]) > 0


def test_restored_state_continues_identically(mixed_events):
    events = mixed_events.head(3_000)
    cfg = FeatureConfig()
    _, full = _replay(events, cfg)
    engine = StreamingFeatures(cfg)
    items = list(iter_stream(events, cfg))
    half = len(items) // 2
    for item in items[:half]:
        (engine.update if isinstance(item, PaymentEvent) else engine.record_label)(item)
    restored = StreamingFeatures.from_bytes(engine.to_bytes())
    done = sum(isinstance(i, PaymentEvent) for i in items[:half])
    rest_a, rest_b = [], []
    for item in items[half:]:
        if isinstance(item, PaymentEvent):
            rest_a.append(engine.update(item))
            rest_b.append(restored.update(item))
        else:
            engine.record_label(item)
            restored.record_label(item)
    np.testing.assert_array_equal(np.array(rest_b), full[done:])
    np.testing.assert_array_equal(np.array(rest_a), np.array(rest_b))
    assert restored.to_bytes() == engine.to_bytes()


def _event(ts, amount=1_000, device="d1", customer="c1", **kw):
    return PaymentEvent(customer_id=customer, device_id=device, merchant_id="m1",
                        amount_minor=amount, timestamp_s=ts, terminal_id="t1", **kw)


def test_window_semantics_and_customer_history():
    cfg = FeatureConfig()
    names = feature_names(cfg)
    engine = StreamingFeatures(cfg)
    t0 = 1_700_000_000 - 1_700_000_000 % 86_400  # midnight UTC, a Tuesday
    first = engine.update(_event(t0, 1_000))
    assert first[names.index("customer_count_1m")] == 1
    assert np.isnan(first[names.index("seconds_since_last_payment")])
    assert first[names.index("new_device")] == 1
    assert first[names.index("is_night")] == 1
    second = engine.update(_event(t0 + 5, 3_000))
    assert second[names.index("customer_count_1m")] == 2
    assert second[names.index("customer_amount_minor_sum_1m")] == 4_000
    assert second[names.index("seconds_since_last_payment")] == 5
    assert second[names.index("new_device")] == 0
    assert second[names.index("customer_amount_ratio_to_mean")] == 3.0
    # 70 s later the 1-minute window (6 buckets of 10 s) has dropped both.
    third = engine.update(_event(t0 + 75, 2_000, device="d2"))
    assert third[names.index("customer_count_1m")] == 1
    assert third[names.index("customer_count_1h")] == 3
    assert third[names.index("new_device")] == 1
    # Welford z-score against the two earlier amounts (mean 2000, sd 1414.2).
    big = engine.update(_event(t0 + 90, 9_000))
    history = np.array([1_000, 3_000, 2_000])
    expected = (9_000 - history.mean()) / history.std(ddof=1)
    assert big[names.index("customer_amount_zscore")] == pytest.approx(expected, rel=1e-12)


def test_label_delay_is_respected():
    cfg = FeatureConfig(label_delay_days=7, risk_lag_days=8)
    names = feature_names(cfg)
    engine = StreamingFeatures(cfg)
    day0 = 1_700_006_400 - 1_700_006_400 % 86_400
    engine.update(_event(day0 + 3_600, customer="victim"))
    label = FraudLabel(transaction_timestamp_s=day0 + 3_600,
                       label_timestamp_s=day0 + 7 * 86_400 + 3_600, is_fraud=True,
                       customer_id="victim", terminal_id="t1", merchant_id="m1")
    # Day 8, before the label is known: the transaction counts, the fraud does not.
    before = engine.update(_event(day0 + 8 * 86_400 + 60, customer="other"))
    assert before[names.index("terminal_tx_count_lag_1d")] == 1
    assert before[names.index("terminal_fraud_count_lag_1d")] == 0
    assert engine.record_label(label)
    after = engine.update(_event(day0 + 8 * 86_400 + 120, customer="other2"))
    assert after[names.index("terminal_fraud_count_lag_1d")] == 1
    assert after[names.index("terminal_risk_lag_1d")] == 1.0
    assert after[names.index("merchant_risk_lag_7d")] == 1.0
    # Day 7 is still inside the lag: nothing from day 0 visible in the 1-day window yet.
    with pytest.raises(ValidationError) as err:
        engine.record_label(FraudLabel(transaction_timestamp_s=day0 + 10,
                                       label_timestamp_s=day0, is_fraud=True,
                                       customer_id="x", terminal_id="t1"))
    assert err.value.field == "label_timestamp_s"


def test_out_of_order_event_is_refused_without_change():
    engine = StreamingFeatures()
    engine.update(_event(1_700_000_000))
    snapshot = engine.to_bytes()
    with pytest.raises(ValidationError) as err:
        engine.update(_event(1_699_000_000))
    assert err.value.field == "timestamp_s"
    # The check runs before any write: the refused event left no trace.
    assert engine.to_bytes() == snapshot


def test_offline_rejects_unsorted_input():
    frame = pl.DataFrame({"customer_id": [1, 1], "device_id": [1, 1], "merchant_id": [1, 1],
                          "amount_minor": [5, 6], "timestamp_s": [10, 5]})
    with pytest.raises(ValidationError) as err:
        compute_features_offline(frame)
    assert err.value.field == "timestamp_s"


def test_time_caches_follow_each_event_not_the_last_one():
    """Streams are ordered per entity, not globally: an earlier payment of another
    customer after a later one must get its own buckets (the hot-path time cache is keyed
    by the event's time, never assumed monotonic)."""
    cfg = FeatureConfig()
    shared = StreamingFeatures(cfg)
    t = 1_700_000_000
    shared.update(PaymentEvent(customer_id="late", device_id="dl", merchant_id="m9",
                               amount_minor=5_000, timestamp_s=t + 3 * 86_400,
                               terminal_id="t9"))
    shared.update(_event(t, customer="late2", device="dl2"))
    mixed = shared.update(_event(t + 30, customer="early", device="de"))
    fresh = StreamingFeatures(cfg)
    fresh.update(_event(t, customer="late2", device="dl2"))
    expected = fresh.update(_event(t + 30, customer="early", device="de"))
    names = feature_names(cfg)
    # Customer windows only see the customer's own payment; terminal / merchant windows
    # of the shared ids see the late2 payment 30 s earlier, exactly as in a fresh engine.
    _assert_identical(mixed[None, :], expected[None, :], names)
    assert mixed[names.index("customer_count_1m")] == 1
