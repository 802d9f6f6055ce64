"""The reads every payment, quote and ledger call makes execute constant statements, on
both stores.

A statement built per call (``select(...).where(col == value)``) costs SQLAlchemy more to
construct and to key for its compiled cache than SQLite needs to run it; the demo runs
these reads hundreds of thousands of times. A constant statement with bound parameters is
compiled once and keeps its cache key. These tests catch a hot read going back to a
statement built per call: two calls with different arguments must execute the very same
statement objects (the values travel as parameters).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection, event

from creditpay.bootstrap import ServiceOptions, Services, build_services
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.credit.lines import customer_line
from creditpay.credit.service import borrower_position, exposure_minor
from creditpay.db.uow import UnitOfWork
from creditpay.errors import DomainError, NotFoundError
from creditpay.ledger.service import get_accounts, get_transfer, open_accounts
from creditpay.parties.service import wallet_spec
from creditpay.platform.keys import generate_key_bytes
from creditpay.protection.consent import Purpose, require_consent
from creditpay.risk.decisions.service import declared_income
from tests.conftest import Store


@contextmanager
def _executed(conn: Connection) -> Iterator[list[Any]]:
    """The statement objects ``conn`` executes inside the block, in order."""
    seen: list[Any] = []

    def listener(_conn: Any, clause: Any, *_args: Any) -> None:
        seen.append(clause)

    event.listen(conn, "before_execute", listener)
    try:
        yield seen
    finally:
        event.remove(conn, "before_execute", listener)


def _statements(conn: Connection, call: Callable[[], Any]) -> list[Any]:
    with _executed(conn) as seen:
        try:
            call()
        except NotFoundError:
            pass  # the read ran; absent rows are fine here
    assert seen, "the call executed no statement through SQLAlchemy"
    assert not [s for s in seen if isinstance(s, str)], "plain SQL strings are not checked here"
    return seen


def _assert_same(first: list[Any], second: list[Any]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert a is b, f"a statement was built per call: {str(b)[:80]!r}"


@pytest.fixture
def services(store: Store, clock: SimulatedClock) -> Iterator[Services]:
    key = base64.b64encode(generate_key_bytes()).decode()
    built = build_services(Settings.of(database_url=store.url, master_key=key), clock,
                           ServiceOptions(pool_size=2)).start()
    try:
        yield built
    finally:
        built.close()


def test_ledger_reads_build_no_statement(uow: UnitOfWork) -> None:
    # The ledger's account and transfer reads, like open_accounts, send fixed text straight
    # to the driver: nothing for SQLAlchemy to build on any call
    # (tests/ledger/test_ledger_driver_reads.py checks they read what Core reads would).
    with uow.begin() as tx:
        open_accounts(tx, [wallet_spec("cus_a", "CNY"), wallet_spec("cus_b", "CNY")])
        ids = [a.id for a in open_accounts(tx, [wallet_spec("cus_a", "CNY")])]
        with _executed(tx.conn) as seen:
            assert sorted(get_accounts(tx.conn, ids)) == sorted(ids)
            with pytest.raises(NotFoundError):
                get_transfer(tx.conn, "t-1")
        assert seen == []


def test_credit_position_reads_build_no_statement(uow: UnitOfWork) -> None:
    # Prepared statements (creditpay.db.prepared): compiled once, nothing built per call.
    with uow.connect() as conn:
        with _executed(conn) as seen:
            for customer, currency in (("cus_a", "CNY"), ("cus_b", "EUR")):
                borrower_position(conn, customer, currency)
                borrower_position(conn, customer, currency, with_accounts=False)
                exposure_minor(conn, customer, currency)
                with pytest.raises(NotFoundError):
                    customer_line(conn, customer, currency)
                declared_income(conn, customer, currency)
        assert seen == []
        assert exposure_minor(conn, "cus_a", "CNY") == 0
        assert borrower_position(conn, "cus_a", "CNY").has_line is False


def test_party_and_intent_reads_are_constant(services: Services) -> None:
    parties = services.parties
    rail, wallet = services.payments.rail, services.payments.wallet
    with services.uow.connect() as conn:
        # Prepared statements (creditpay.db.prepared): compiled once, nothing built per
        # call (tests/db/test_prepared.py checks they read what Core reads would).
        with _executed(conn) as seen:
            for i in (1, 2):
                for read in (partial(parties.get_customer, conn, f"cus_{i}"),
                             partial(parties.get_merchant, conn, f"mer_{i}"),
                             partial(parties.get_card, conn, f"cus_{i}", f"card_{i}"),
                             partial(wallet._wallet_op, conn, f"wop_{i}")):
                    with pytest.raises(NotFoundError):
                        read()
        assert seen == []
        reads: list[Callable[[int], Any]] = [
            # intents.intent_row reads through the driver (no SQLAlchemy statement at
            # all): tests/payments/test_intent_read.py checks it.
            lambda i: rail.operation(conn, f"rop_{i}"),
            lambda i: rail.due_callbacks(conn, services.clock.now(), limit=10 * i)]
        for read in reads:
            _assert_same(_statements(conn, partial(read, 1)),
                         _statements(conn, partial(read, 2)))


def test_consent_check_is_constant(uow: UnitOfWork) -> None:
    with uow.connect() as conn:
        _assert_same(
            _statements(conn, lambda: _refused(require_consent, conn, "cus_a",
                                               Purpose.CREDIT_ASSESSMENT)),
            _statements(conn, lambda: _refused(require_consent, conn, "cus_b",
                                               Purpose.BUREAU_INQUIRY)))


def test_settlement_statements_are_constant(services: Services,
                                            clock: SimulatedClock) -> None:
    today = clock.today()
    with services.uow.begin() as tx:
        _assert_same(
            _statements(tx.conn, lambda: services.payments.settle(
                tx, today - dt.timedelta(days=1))),
            _statements(tx.conn, lambda: services.payments.settle(
                tx, today - dt.timedelta(days=2))))


def _refused(check: Callable[..., Any], *args: Any) -> None:
    """Run a check that refuses (no consent recorded): only its reads matter here."""
    with pytest.raises(DomainError):
        check(*args)


def test_credit_account_read_builds_no_statement(uow: UnitOfWork) -> None:
    # A prepared statement (creditpay.db.prepared), locked or not: nothing built per call.
    from creditpay.credit.accounts_repo import load_account

    with uow.begin() as tx, _executed(tx.conn) as seen:
        for lock in (False, True):
            for account_id in ("ca_1", "ca_2"):
                with pytest.raises(NotFoundError):
                    load_account(tx.conn, account_id, lock=lock)
    assert seen == []
