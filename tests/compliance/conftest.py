"""Fixtures for the compliance tests: they run on both stores (SQLite and the throwaway
PostgreSQL server of tests/conftest.py), on a fully migrated database."""

from __future__ import annotations

import pytest

from creditpay.clock import SimulatedClock
from creditpay.db.uow import UnitOfWork
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes


@pytest.fixture
def db_url(store):
    return store.url


@pytest.fixture
def engine(store):
    return store.engine


@pytest.fixture
def clock():
    return SimulatedClock("2025-03-01T08:00:00+00:00")


@pytest.fixture
def uow(engine, clock):
    return UnitOfWork(engine, clock)


@pytest.fixture
def master():
    # Generated per test: no key material is ever committed to the repository.
    return LocalMasterKey(generate_key_bytes())
