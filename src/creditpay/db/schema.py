"""Import every domain's tables so the shared metadata is complete, and migrate a database."""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, MetaData

from creditpay.db.metadata import metadata

if TYPE_CHECKING:  # alembic is imported when a migration runs, not with this module
    from alembic.config import Config

__all__ = ["TABLE_MODULES", "load_all_tables", "migrate", "alembic_config", "open_database",
           "head_revisions", "current_revisions"]

# One module per owner; each declares its tables on the shared metadata.
TABLE_MODULES: tuple[str, ...] = (
    "creditpay.db.tables",
    "creditpay.ledger.tables",
    "creditpay.platform.tables",
    "creditpay.protection.tables",
    "creditpay.parties.tables",
    "creditpay.payments.tables",
    "creditpay.credit.tables",
    "creditpay.credit.collections_tables",
    "creditpay.credit.hardship_tables",
    "creditpay.risk.decisions.tables",
    "creditpay.risk.fraud.tables",
    "creditpay.risk.early_warning.tables",
    "creditpay.assistant.tables",
    "creditpay.credit.pauses_tables",
    "creditpay.payments.disputes_tables",
    "creditpay.payments.cross_border_tables",
    "creditpay.fx.tables",
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def load_all_tables() -> MetaData:
    for name in TABLE_MODULES:
        importlib.import_module(name)
    return metadata


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revisions() -> tuple[str, ...]:
    """The revisions this code's schema is at: one head per domain branch, sorted.

    Read once per process: the migration scripts are part of the installed code (they do not
    change while it runs), and reading them all costs ~0.1 s of CPU.
    """
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions the database on ``connection`` is at (sorted; empty when it holds no
    creditpay schema). Reads only: Alembic's version table is not created."""
    from alembic.runtime.migration import MigrationContext

    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def migrate(engine: Engine, revision: str = "heads") -> None:
    """Apply Alembic migrations up to ``revision`` (development mode does this when it opens
    a database; production mode only through ``creditpay db upgrade``).

    Each domain's migrations form their own branch off the shared foundation (revision 0002),
    so ``heads`` applies every branch; a domain never edits another's revisions.
    """
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def open_database(url: str, *, pool_size: int = 10, durability: str = "full") -> Engine:
    """Engine for ``url`` with every migration applied (what each command does on start)."""
    from creditpay.db.engine import make_engine

    engine = make_engine(url, pool_size=pool_size, durability=durability)
    # A database already at every head needs no upgrade: checking is one read of Alembic's
    # version table, where running the upgrade would load every migration script again.
    with engine.connect().execution_options(read_only=True) as connection:
        at_heads = current_revisions(connection) == head_revisions()
    if not at_heads:
        migrate(engine)
    return engine
