"""Shared fixtures: every storage, ledger and service test runs on SQLite and PostgreSQL.

PostgreSQL is a real server started here on loopback (one per test session / xdist worker)
from the machine's PostgreSQL binaries. If it cannot start, the PostgreSQL tests fail: they
are never skipped silently.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from creditpay.clock import SimulatedClock
from creditpay.credit.products import Catalogue
from creditpay.db.engine import make_engine
from creditpay.db.schema import migrate
from creditpay.db.uow import UnitOfWork
from creditpay.devtools.pgserver import PostgresServer
from tests.catalogues import CATALOGUE

STORES = ("sqlite", "postgresql")
_counter = itertools.count()


@dataclass
class Store:
    kind: str
    url: str
    engine: Engine


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    # fsync off: this server is thrown away; durability is measured in bench/, not here.
    server = PostgresServer(fsync=False)
    try:
        server.start()
        engine = make_engine(server.create_database("creditpay_template"))
        migrate(engine)
        engine.dispose()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the main file
    assert not Path(str(path) + "-wal").exists()
    return path


def _new_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if kind == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / f"store-{next(_counter)}.db"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        try:
            yield Store(kind, url, engine)
        finally:
            engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"t_{os.getpid()}_{next(_counter)}"
    url = server.create_database(name, template="creditpay_template")
    engine = make_engine(url)
    try:
        yield Store(kind, url, engine)
    finally:
        engine.dispose()
        server.drop_database(name)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A freshly migrated, empty database on each store."""
    yield from _new_store(request.param, request, tmp_path)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock("2025-03-01T09:00:00+00:00")


@pytest.fixture
def uow(store: Store, clock: SimulatedClock) -> UnitOfWork:
    return UnitOfWork(store.engine, clock)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The packaged products and caps, loaded once for the session and passed to the
    services explicitly (creditpay keeps no process-global catalogue)."""
    return CATALOGUE


_SHARED_SCOPES = frozenset({"module", "class", "package"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the tests that share a module-, class- or package-scoped fixture on one worker.

    ``make test`` distributes tests with ``--dist loadgroup``: a test without an
    ``xdist_group`` goes to whichever worker is free, so a module's expensive shared fixture
    (a seeded server, a simulated economy, a trained model) was built once on each worker.
    Giving such tests their module's (or package's) group builds it once. xdist sends the
    groups with the most tests first and the single tests last, so the workers still finish
    together. Runs before xdist's own hook, which turns the group into the scheduling scope.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        scopes = {defs[-1].scope for defs in info.name2fixturedefs.values() if defs}
        if not scopes & _SHARED_SCOPES:
            continue
        module = item.nodeid.split("::", 1)[0]
        group = module.rsplit("/", 1)[0] if "package" in scopes else module
        item.add_marker(pytest.mark.xdist_group(group))
