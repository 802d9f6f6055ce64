"""Migrations create exactly the schema the code declares, on both stores."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from creditpay.db.engine import SQLITE_WAL_AUTOCHECKPOINT_PAGES
from creditpay.db.schema import load_all_tables, migrate


def test_migrated_schema_matches_metadata(store):
    metadata = load_all_tables()
    migrate(store.engine)  # applying again is a no-op
    with store.engine.connect() as conn:
        # The job queue's tables are procrastinate's schema (migration 0038_jobs_queue).
        context = MigrationContext.configure(conn, opts={
            "compare_type": False,
            "include_object": lambda obj, name, type_, reflected, compare_to: not (
                type_ == "table" and (name or "").startswith("procrastinate_"))})
        diff = compare_metadata(context, metadata)
    assert diff == [], diff


def test_sqlite_is_in_wal_mode(store):
    if store.kind != "sqlite":
        return
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == \
            SQLITE_WAL_AUTOCHECKPOINT_PAGES
