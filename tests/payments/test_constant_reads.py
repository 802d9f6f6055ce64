"""Reads converted to constant statements in the fourth pass of issue #14 (the checkout's
and the daily work's per-statement cost): two calls with different arguments execute the
very same statement objects, on both stores (the values travel as parameters). See
tests/db/test_constant_statements.py for the earlier ones. (The stored offer's read,
credit.quotes.find_offer, and the intent's go to the driver: tests/credit/test_credit_quotes.py
and tests/payments/test_intent_read.py compare them with SQLAlchemy's reads.)"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest

from creditpay.credit.accounts_repo import load_items
from creditpay.credit.lines import get_line
from creditpay.credit.pauses import purchase_accounts
from creditpay.credit.service import portfolio
from creditpay.db.uow import UnitOfWork
from creditpay.errors import DomainError
from creditpay.parties.devices import device_sightings
from creditpay.parties.partners import get_partner
from creditpay.payments.history import customer_activity
from creditpay.protection.consent import consent_history
from creditpay.risk.decisions.bureau_pulls import stored_pull
from tests.db.test_constant_statements import _assert_same, _executed, _statements

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def _quietly(call: Any) -> None:
    try:
        call()
    except DomainError:
        pass  # absent rows refuse; the read ran


def test_fourth_pass_reads_are_constant(uow: UnitOfWork) -> None:
    reads: list[Any] = [
        lambda i: _quietly(partial(get_partner, uow_conn[0], f"par_{i}")),
        lambda i: consent_history(uow_conn[0], f"cus_{i}"),
        lambda i: stored_pull(uow_conn[0], i),
        lambda i: device_sightings(uow_conn[0], f"cus_{i}", before=T0 + dt.timedelta(days=i)),
        lambda i: device_sightings(uow_conn[0], f"cus_{i}", before=T0 + dt.timedelta(days=i),
                                   since=T0),
        lambda i: customer_activity(uow_conn[0], f"cus_{i}", before=T0 + dt.timedelta(days=i)),
        lambda i: customer_activity(uow_conn[0], f"cus_{i}", before=T0 + dt.timedelta(days=i),
                                    since=T0),
        lambda i: _quietly(partial(get_line, uow_conn[0], f"line_{i}")),
        lambda i: _quietly(partial(get_line, uow_conn[0], f"line_{i}", lock=True)),
        lambda i: portfolio(uow_conn[0], ("CNY", "EUR")[i % 2]),
        lambda i: purchase_accounts(uow_conn[0], [f"cap_{j}" for j in range(i)]),
    ]
    uow_conn: list[Any] = []
    with uow.begin() as tx:
        uow_conn.append(tx.conn)
        for read in reads:
            _assert_same(_statements(tx.conn, partial(read, 1)),
                         _statements(tx.conn, partial(read, 2)))
        # An account's installments: prepared statements (creditpay.db.prepared), nothing
        # built per call.
        with _executed(tx.conn) as seen:
            for i in (1, 2):
                load_items(tx.conn, i)
                load_items(tx.conn, i, open_only=False)
        assert seen == []


@pytest.mark.parametrize("with_rows", [False, True])
def test_disputable_payments_reads_are_constant(store, clock, with_rows) -> None:
    from creditpay.benchmarks.checkout import populate, statements_per_checkout
    from tests.api.helpers import running_api

    with running_api(store.url, clock, fraud_screening=False) as api:
        rt = api.runtime
        world = populate(rt, 2)
        first, second = (p["principal"] for p in world["people"])
        if with_rows:  # captured payments: the open disputes' read runs too
            statements_per_checkout(rt, world, first, order_id="a")
            statements_per_checkout(rt, world, second, order_id="b")
        disputes = rt.payments.disputes
        with rt.uow.engine.connect() as conn:
            _assert_same(
                _statements(conn, lambda: disputes.disputable_payments(conn, first)),
                _statements(conn, lambda: disputes.disputable_payments(conn, second, limit=5)))
