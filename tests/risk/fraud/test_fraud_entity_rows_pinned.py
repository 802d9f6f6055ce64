"""The rows and features of a seeded stream are pinned (the hash was computed on main at
a0b6904, before the window parts were updated on the rows directly instead of through the
engine's rings): the same bytes in every row and the same bits in every feature vector,
with labels, entities that come and go, coarse and fine time gaps, and refused events."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace

import pytest

from creditpay.errors import ValidationError
from creditpay.risk.fraud.entity_state import MemoryEntityStore
from creditpay.risk.fraud.features import FraudLabel, PaymentEvent

T0 = 1_700_000_000
PINNED = "1048a69057fc6b0fa72846e01e3bc7cf8eab0a1745a69119bc54f5a9a3f8333e"


def _digest() -> str:
    rng = random.Random(14)
    store = MemoryEntityStore()
    digest = hashlib.sha256()
    t = T0
    previous: PaymentEvent | None = None
    for i in range(1_500):
        t += rng.choice((0, 0, 3, 45, 600, 7_200, 86_400 * 3))
        located = rng.random() < 0.5
        event = PaymentEvent(
            customer_id=f"c{rng.randint(0, 40)}", device_id=f"d{rng.randint(0, 60)}",
            merchant_id=f"m{rng.randint(0, 8)}", amount_minor=rng.randint(1, 2_000_000),
            timestamp_s=t, card_id=rng.choice((None, f"k{rng.randint(0, 30)}")),
            terminal_id=rng.choice((None, f"t{rng.randint(0, 12)}")),
            grid_x=rng.uniform(-50, 50) if located else None,
            grid_y=rng.uniform(-50, 50) if located else None)
        if previous is not None and i % 97 == 5:  # older than its entities' windows: refused, nothing changes
            stale = replace(previous, timestamp_s=previous.timestamp_s - 90_000 + i)
            before = dict(store.rows)
            with pytest.raises(ValidationError) as error:
                store.update(stale)
            digest.update(f"{error.value.field}:{error.value}".encode())
            assert store.rows == before
        x = store.update(event)
        previous = event
        digest.update(x.tobytes())
        if i % 31 == 7:
            changed = store.record_label(FraudLabel(
                is_fraud=i % 2 == 1,
                transaction_timestamp_s=t - rng.randint(0, 86_400 * 5),
                label_timestamp_s=t, customer_id=event.customer_id,
                merchant_id=event.merchant_id, device_id=event.device_id,
                terminal_id=event.terminal_id, card_id=event.card_id))
            digest.update(b"1" if changed else b"0")
    for key in sorted(store.rows):
        digest.update(repr(key).encode())
        digest.update(store.rows[key])
    return digest.hexdigest()


def test_rows_and_features_of_a_seeded_stream_are_pinned():
    assert _digest() == PINNED


if __name__ == "__main__":
    print(_digest())
