"""The screenings journal's insert goes straight to the driver: the row it writes must be
the one SQLAlchemy Core writes for the same screening (the columns' own conversions:
UtcDateTime, JSON with nulls for NaN), on both stores, and the id returned must be the
row's."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from creditpay.payments.fraud import RulesOnlyModel
from creditpay.risk.fraud import records
from creditpay.risk.fraud.features import PaymentEvent
from creditpay.risk.fraud.rules import RuleSet
from creditpay.risk.fraud.screening import Screener
from creditpay.risk.fraud.tables import fraud_screenings

T0 = 1_700_000_000
RULES = {"version": "rules-d-1", "rules": [
    {"name": "big", "action": "challenge",
     "when": {"field": "amount_minor", "op": ">=", "value": 50_000}}]}


def _core_insert(conn, subject_id, event, result) -> None:
    """The insert as it was written before (a Core statement)."""
    versions = result.versions
    conn.execute(fraud_screenings.insert(), {
        "subject_type": "payment", "subject_id": subject_id,
        "customer_id": event.customer_id, "device_id": event.device_id,
        "merchant_id": event.merchant_id, "terminal_id": event.terminal_id,
        "card_id": event.card_id, "amount_minor": event.amount_minor,
        "currency": event.currency, "scenario": event.scenario,
        "screened_at": dt.datetime.fromtimestamp(event.timestamp_s, dt.UTC),
        "features": records._features_by_name(result), "rules_hit": list(result.rules_hit),
        "score": float(result.score), "decision": result.decision,
        "reasons": list(result.reasons), "model_version": versions["model"][:64],
        "features_version": versions["features"][:64],
        "rules_version": versions["rules"][:128],
        "thresholds": dict(result.thresholds or {}),
    })


def test_driver_insert_writes_the_core_row(uow):
    model = RulesOnlyModel()
    screener = Screener(model, RuleSet.from_dict(RULES, model.feature_names))
    events = [
        PaymentEvent(customer_id="c1", device_id="d1", merchant_id="m1", amount_minor=60_000,
                     timestamp_s=T0, card_id="k1", terminal_id="t1", scenario="online"),
        PaymentEvent(customer_id="c1", device_id="d2", merchant_id="m2", amount_minor=1_234,
                     timestamp_s=T0 + 61, currency="USD"),
    ]
    results = [screener.screen(event) for event in events]
    assert results[0].decision == "challenge" and results[1].decision == "approve"
    # Some features are not applicable (NaN, stored as JSON null).
    assert any(v != v for v in results[1].feature_vector.tolist())
    with uow.begin() as tx:
        ids = []
        for i, (event, result) in enumerate(zip(events, results, strict=True)):
            ids.append(records.record_screening(tx, subject_type="payment",
                                                subject_id=f"pi_d{i}", event=event,
                                                result=result))
            _core_insert(tx.conn, f"pi_d{i}", event, result)
    with uow.connect() as conn:
        rows = conn.execute(select(fraud_screenings).order_by(fraud_screenings.c.id)).all()
        raw = conn.exec_driver_sql(
            "SELECT features, rules_hit, reasons, thresholds, screened_at"
            " FROM fraud_screenings ORDER BY id").all()
        views = [records.screenings_for(conn, f"pi_d{i}") for i in range(2)]
    assert len(rows) == 4
    assert [rows[0].id, rows[2].id] == ids
    for driver_row, core_row in (rows[0:2], rows[2:4]):
        assert driver_row._asdict() | {"id": 0} == core_row._asdict() | {"id": 0}
    # Byte for byte as stored (the JSON text on SQLite, the jsonb values on PostgreSQL).
    assert raw[0] == raw[1] and raw[2] == raw[3]
    assert None in rows[2].features.values()
    assert rows[0].screened_at == dt.datetime.fromtimestamp(T0, dt.UTC)
    assert [v["id"] for v in views[0]] == [rows[0].id, rows[1].id]
    assert views[1][0]["features"] == rows[2].features
