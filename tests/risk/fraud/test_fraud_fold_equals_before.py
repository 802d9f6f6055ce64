"""The fold of one event on its entities' rows (plain Python since the fifth pass) gives
what the previous engine gave (numpy windows, the customer and risk parts through a scratch
engine: ``entity_state_before.py``, a frozen copy): the same feature bits, the same row
bytes, the same refusals (field and message) and label results, on generated streams:
times near the epoch and today, gaps on and around every bucket width, events older than
their entities' state, entities that come and go, labels, with and without locations, on
the default configuration and on one whose risk kinds include the customer."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.risk.fraud import entity_state_before

from creditpay.errors import ValidationError
from creditpay.risk.fraud.entity_state import EntityStateEngine
from creditpay.risk.fraud.features import FeatureConfig, FraudLabel, PaymentEvent, WindowSpec

_CONFIGS = (
    FeatureConfig(),
    FeatureConfig(entity_kinds=("customer", "device", "merchant"),
                  windows=(WindowSpec("2m", 120, 4), WindowSpec("1d", 86_400, 3),
                           WindowSpec("9d", 9 * 86_400, 9)),
                  risk_kinds=("merchant", "customer", "device"), risk_windows_days=(2, 5),
                  label_delay_days=1, risk_lag_days=2, recent_k=3, coordinates="geo"),
)
_GAPS = st.sampled_from([0, 0, 1, 9, 10, 11, 59, 60, 299, 300, 301, 3_599, 3_600, 3_601,
                         43_199, 43_200, 86_400, 172_800, 7 * 86_400, 30 * 86_400,
                         31 * 86_400, 400 * 86_400])
_STEP = st.tuples(
    _GAPS,
    st.integers(0, 3), st.integers(0, 3), st.integers(0, 2),  # customer, device, merchant
    st.one_of(st.none(), st.integers(0, 2)), st.one_of(st.none(), st.integers(0, 2)),
    st.integers(1, 10**12),
    st.one_of(st.none(), st.tuples(st.floats(-89, 89), st.floats(-179, 179))),
    st.sampled_from(["pay", "pay", "pay", "stale", "label", "fraud"]),
    st.integers(0, 40 * 86_400),
)


def _apply(engine: Any, rows: dict, event: PaymentEvent) -> tuple[str, Any]:
    keys = engine.event_keys(event)
    try:
        x, new_rows = engine.update(event, {key: rows.get(key) for key in keys})
    except ValidationError as error:
        return "refused", (error.field, str(error))
    rows.update(new_rows)
    return "features", x.tobytes()


def _label(engine: Any, rows: dict, label: FraudLabel) -> tuple[str, Any]:
    keys = engine.label_keys(label)
    try:
        changed = engine.record_label(label, {key: rows.get(key) for key in keys})
    except ValidationError as error:
        return "refused", (error.field, str(error))
    rows.update(changed)
    return "label", sorted(changed)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from([0, 1_700_000_000]), st.integers(0, 1), st.lists(_STEP, max_size=40))
def test_the_fold_equals_the_previous_engine(start: int, config_index: int,
                                             steps: list[tuple[Any, ...]]) -> None:
    config = _CONFIGS[config_index]
    new, old = EntityStateEngine(config), entity_state_before.EntityStateEngine(config)
    new_rows: dict = {}
    old_rows: dict = {}
    t = start
    previous: PaymentEvent | None = None
    for gap, c, d, m, card, terminal, amount, where, action, back in steps:
        t += gap
        if action == "stale" and previous is not None:
            event = PaymentEvent(**{**{f: getattr(previous, f) for f in
                                       previous.__slots__}, "timestamp_s": max(0, t - back)})
        else:
            event = PaymentEvent(
                customer_id=f"c{c}", device_id=f"d{d}", merchant_id=f"m{m}",
                amount_minor=amount, timestamp_s=t,
                card_id=None if card is None else f"k{card}",
                terminal_id=None if terminal is None else f"t{terminal}",
                lat=None if where is None else where[0],
                lon=None if where is None else where[1],
                grid_x=None if where is None else where[1],
                grid_y=None if where is None else where[0])
        if action in ("label", "fraud") and previous is not None:
            label = FraudLabel(
                transaction_timestamp_s=max(0, previous.timestamp_s - back),
                label_timestamp_s=t, is_fraud=action == "fraud",
                customer_id=previous.customer_id, merchant_id=previous.merchant_id,
                terminal_id=previous.terminal_id, card_id=previous.card_id,
                device_id=previous.device_id)
            assert _label(new, new_rows, label) == _label(old, old_rows, label)
        assert _apply(new, new_rows, event) == _apply(old, old_rows, event)
        assert new_rows == old_rows
        if action != "stale":
            previous = event
