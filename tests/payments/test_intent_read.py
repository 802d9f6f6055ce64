"""The intent's read through the driver (payments.intents._read_intent) gives what
``select(payment_intents)`` through SQLAlchemy gives: every column, equal values of the same
types (aware UTC datetimes, decoded JSON), on both stores, locked or not."""

from __future__ import annotations

from sqlalchemy import select

from creditpay.benchmarks.checkout import AMOUNT_MINOR, populate, statements_per_checkout
from creditpay.payments.intents import IntentRow, _read_intent
from creditpay.payments.tables import payment_intents
from tests.api.helpers import running_api


def _intents(rt, world):
    customer, merchant = world["people"][0]["principal"], world["merchant_principal"]
    service = rt.payments
    # A captured credit checkout (accepted offer, risk reasons, confirmation and capture
    # times), a new intent with line items and a return URL, and a cancelled one.
    statements_per_checkout(rt, world, customer, order_id="captured")
    items = [{"name": "茶 \"tea\"", "quantity": 3, "unit_amount_minor": AMOUNT_MINOR // 4},
             {"name": "cup", "quantity": 1, "unit_amount_minor": AMOUNT_MINOR // 4}]
    rt.uow.run(lambda tx: service.create_intent(
        tx, merchant, amount_minor=AMOUNT_MINOR, currency="CNY", order_id="items",
        line_items=items, description="two things", return_url="https://shop.example/back"))
    cancelled = rt.uow.run(lambda tx: service.create_intent(
        tx, merchant, amount_minor=AMOUNT_MINOR, currency="CNY", order_id="cancelled"))["id"]
    rt.uow.run(lambda tx: service.cancel(tx, merchant, cancelled))


def test_the_driver_read_gives_what_sqlalchemy_gives(store, clock):
    with running_api(store.url, clock, fraud_screening=False) as api:
        rt = api.runtime
        world = populate(rt, 1)
        _intents(rt, world)
        with rt.uow.engine.begin() as conn:
            rows = conn.execute(select(payment_intents).order_by(payment_intents.c.seq)).all()
            assert len(rows) == 3
            assert {row.status for row in rows} == {"succeeded", "requires_confirmation",
                                                    "canceled"}
            for row in rows:
                for lock in (False, True):
                    read = _read_intent(conn, row.id, lock=lock)
                    assert isinstance(read, IntentRow)
                    expected = dict(row._mapping)
                    got = read._mapping
                    assert list(got) == list(expected)
                    for name, value in expected.items():
                        assert got[name] == value, name
                        assert type(got[name]) is type(value), name
                        if hasattr(value, "tzinfo"):
                            assert got[name].tzinfo == value.tzinfo, name
                    assert read.accepted_offer == row.accepted_offer
            assert _read_intent(conn, "pi_none", lock=False) is None
