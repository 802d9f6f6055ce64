"""CPU per screening of a checkout's confirm (issue #14, fifth pass, branch h15-screen), on a
throw-away SQLite file; run it on two trees to compare:

    PYTHONPATH=<tree>/src .venv/bin/python bench/screen_micro.py [CALLS]

A :class:`~creditpay.payments.fraud.ScreeningRiskGateway` with the simulator's rules
(``sim/fraud_rules.json``, rules only, as the demo before its first retraining) screens a
seeded stream of payments (300 customers, 400 devices, 40 merchants, a card on a third),
each in its own transaction, then keeps the screening's audit record as the checkout does
(``payment.screened``: the same record ``PaymentsContext.record_screening`` builds).

Printed: thread CPU (``time.thread_time``) per call in us, median of 5 rounds, of
``screen_payment`` (fold, decision, journal insert) and of the audit append; then a digest
of every decision's details, every state row and every journal row, so two trees can be
checked to compute the same bytes (the digest does not depend on timings).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time

from sqlalchemy import select

from creditpay.clock import SimulatedClock
from creditpay.db.engine import make_engine
from creditpay.db.schema import migrate
from creditpay.db.uow import UnitOfWork
from creditpay.payments.fraud import FraudScreeningConfig, ScreeningRiskGateway
from creditpay.payments.risk import PaymentEvent
from creditpay.platform import audit
from creditpay.risk.fraud.tables import fraud_entity_state, fraud_screenings
from creditpay.sim.economy import FRAUD_RULES

ROUNDS = 5


def main(calls: int) -> None:
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/screen.db")
    migrate(engine)
    clock = SimulatedClock("2025-03-01T09:00:00+00:00")
    uow = UnitOfWork(engine, clock)
    gateway = ScreeningRiskGateway.from_config(FraudScreeningConfig(rules_path=FRAUD_RULES))
    rng = random.Random(3)
    digest = hashlib.sha256()
    screen_us: list[float] = []
    audit_us: list[float] = []
    k = 0
    for round_ in range(ROUNDS + 1):  # the first round warms up
        screen = appended = 0.0
        for _ in range(calls):
            k += 1
            clock.advance(seconds=rng.randint(0, 240))
            card = rng.random() < 0.33
            event = PaymentEvent(
                intent_id=f"pi_{k:08d}", customer_id=f"cus_{rng.randint(0, 300):06d}",
                merchant_id=f"mer_{rng.randint(0, 40):04d}", merchant_mcc="5411",
                amount_minor=rng.randint(100, 800_000), currency="CNY",
                funding="card" if card else "balance",
                scenario=rng.choice(("online", "offline_qr", "social")),
                device_id=rng.choice((None, f"dev_{rng.randint(0, 400):06d}")),
                occurred_at=clock.now(),
                extra={"card_id": f"card_{rng.randint(0, 300):05d}"} if card else {})
            with uow.begin() as tx:
                started = time.thread_time()
                decision = gateway.screen_payment(tx, event)
                middle = time.thread_time()
                assert decision.details is not None
                record = {**decision.details, "outcome": str(decision.outcome),
                          "version": decision.version}
                audit.append(tx, "system", "risk", "payment.screened", "payment_intent",
                             event.intent_id, record)
                ended = time.thread_time()
            screen += middle - started
            appended += ended - middle
            digest.update(json.dumps(record, sort_keys=True).encode())
        if round_:
            screen_us.append(screen / calls * 1e6)
            audit_us.append(appended / calls * 1e6)
    with engine.connect() as conn:
        for row in conn.execute(select(fraud_entity_state).order_by(
                fraud_entity_state.c.entity_hash, fraud_entity_state.c.kind)):
            digest.update(repr((row.entity_hash, row.kind, row.version)).encode())
            digest.update(row.state)
        for row in conn.execute(select(fraud_screenings).order_by(fraud_screenings.c.id)):
            values = dict(row._mapping)
            values["screened_at"] = values["screened_at"].astimezone(dt.UTC).isoformat()
            digest.update(json.dumps(values, sort_keys=True, default=str).encode())
    print(f"screen_payment   {statistics.median(screen_us):8.1f} us  "
          f"(rounds {', '.join(f'{v:.1f}' for v in screen_us)})")
    print(f"audit append     {statistics.median(audit_us):8.1f} us  "
          f"(rounds {', '.join(f'{v:.1f}' for v in audit_us)})")
    print(f"digest {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
