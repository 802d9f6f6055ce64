"""What storing every screening and folding it on commit adds to a checkout (issue #6).

Four timings per screening, in microseconds (p50 and p99 over ``screenings`` payments):

* ``screen_in_place``: ``Screener.screen`` (features, rules, model, state folded at once),
  the path before screenings were journalled;
* ``evaluate_then_apply``: ``Screener.evaluate`` then ``Screener.apply`` of the same event,
  what the gateway does around a commit;
* ``record_insert``: the one Core insert of the ``fraud_screenings`` row, inside an open
  transaction (no commit);
* ``gateway_transaction`` vs ``bare_transaction``: a whole unit of work with
  ``ScreeningRiskGateway.screen_payment`` (the entity rows read and locked, features,
  decision, the rows written back and the screening inserted) against the
  same unit of work with ``Screener.screen`` alone, both writing one outbox event as any
  checkout writes rows anyway; the difference is the added cost on the checkout path.

Run it with ``creditpay bench fraud-journal`` (JSON with ``--json``).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_fraud_journal_benchmark"]


def _stats_us(samples_ns: list[int]) -> dict[str, float]:
    values = np.array(samples_ns, dtype=np.float64) / 1_000.0
    return {"p50_us": round(float(np.percentile(values, 50)), 1),
            "p99_us": round(float(np.percentile(values, 99)), 1)}


def _events(n: int, customers: int, seed: int) -> list[Any]:
    from creditpay.risk.fraud.features import PaymentEvent

    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000
    gaps = rng.integers(0, 20, n).cumsum()
    return [PaymentEvent(customer_id=f"cus_{int(c)}", device_id=f"dev_{int(d)}",
                         merchant_id=f"mer_{int(m)}", amount_minor=int(a),
                         timestamp_s=t0 + int(g), card_id=f"card_{int(c)}")
            for c, d, m, a, g in zip(rng.integers(0, customers, n),
                                     rng.integers(0, customers, n), rng.integers(0, 200, n),
                                     rng.integers(100, 500_000, n), gaps, strict=True)]


def run_fraud_journal_benchmark(*, screenings: int = 2_000, customers: int = 2_000,
                                database_url: str | None = None, seed: int = 0,
                                durability: str = "full",
                                progress: Callable[[str], None] | None = None
                                ) -> dict[str, Any]:
    """Time the journalled screening path against the in-place one (see module doc).

    ``durability`` "normal" (SQLite) leaves the commit's disk sync out, so the two
    transactions' difference is the CPU cost alone."""
    from creditpay.bootstrap import ServiceOptions, build_services
    from creditpay.clock import SimulatedClock
    from creditpay.config import Settings
    from creditpay.payments.fraud import RulesOnlyModel, ScreeningRiskGateway
    from creditpay.payments.risk import PaymentEvent as CheckoutEvent
    from creditpay.risk.fraud import records, state_store
    from creditpay.risk.fraud.screening import Screener

    say = progress or (lambda _msg: None)
    if screenings < 10:
        raise ValueError("screenings must be at least 10")
    events = _events(4 * screenings, customers, seed)
    warm, a, b, c = (events[i * screenings:(i + 1) * screenings] for i in range(4))
    model = RulesOnlyModel()

    say("in-place screening vs evaluate-then-apply")
    in_place, journalled = Screener(model), Screener(model)
    for event in warm:
        in_place.screen(event)
        journalled.screen(event)
    screen_ns, evaluate_apply_ns = [], []
    for event in a:
        t = time.perf_counter_ns()
        in_place.screen(event)
        screen_ns.append(time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        journalled.evaluate(event)
        journalled.apply(event)
        evaluate_apply_ns.append(time.perf_counter_ns() - t)
    assert in_place.state_bytes() == journalled.state_bytes()

    with tempfile.TemporaryDirectory() as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'journal.db'}"
        clock = SimulatedClock(dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC))
        services = build_services(Settings.of(database_url=url), clock,
                                  ServiceOptions(pool_size=2, durability=durability))
        uow = services.uow
        try:
            say("one Core insert per screening")
            probe = journalled.evaluate(b[0])
            journalled.discard(b[0])
            insert_ns = []
            with uow.begin() as tx:
                for i, event in enumerate(b):
                    t = time.perf_counter_ns()
                    records.record_screening(tx, subject_type="payment",
                                             subject_id=f"pi_bench_{i}", event=event,
                                             result=probe)
                    insert_ns.append(time.perf_counter_ns() - t)

            say("whole transactions with and without the journal and shared state")
            gateway = ScreeningRiskGateway(Screener(model))
            with uow.begin() as tx:  # the shared state rows hold the same warm history
                for event in (*warm, *a):
                    state_store.fold_event(tx, gateway.state, event)
            bare = Screener(model, state=journalled.state_bytes())
            gateway_ns, bare_ns = [], []
            for i, event in enumerate(c):
                checkout = CheckoutEvent(
                    intent_id=f"pi_{i}", customer_id=event.customer_id,
                    merchant_id=event.merchant_id, merchant_mcc="5411",
                    amount_minor=event.amount_minor, currency="CNY", funding="balance",
                    scenario="online", device_id=event.device_id,
                    occurred_at=dt.datetime.fromtimestamp(event.timestamp_s, dt.UTC))
                # Both write what any checkout writes anyway (here one outbox event), so
                # both pay the commit's sync; the difference is the journal's own cost.
                t = time.perf_counter_ns()
                with uow.begin() as tx:
                    gateway.screen_payment(tx, checkout)
                    tx.emit("bench.checkout", "payment_intent", checkout.intent_id, {})
                gateway_ns.append(time.perf_counter_ns() - t)
                t = time.perf_counter_ns()
                with uow.begin() as tx:
                    bare.screen(event)
                    tx.emit("bench.checkout", "payment_intent", checkout.intent_id, {})
                bare_ns.append(time.perf_counter_ns() - t)
        finally:
            services.close()

    result: dict[str, Any] = {
        "screenings": screenings, "customers": customers,
        "database": url.split(":", 1)[0], "durability": durability,
        "screen_in_place": _stats_us(screen_ns),
        "evaluate_then_apply": _stats_us(evaluate_apply_ns),
        "record_insert": _stats_us(insert_ns),
        "gateway_transaction": _stats_us(gateway_ns),
        "bare_transaction": _stats_us(bare_ns),
    }
    result["added_per_screening_p50_us"] = round(
        result["gateway_transaction"]["p50_us"] - result["bare_transaction"]["p50_us"], 1)
    return result
