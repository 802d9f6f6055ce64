"""jobs: the PostgreSQL job queue's schema (procrastinate), issue #19

`creditpay worker` and `creditpay scheduler` keep their jobs in procrastinate's tables
(procrastinate_jobs, _events, _periodic_defers, _workers, with their types, functions and
triggers) in creditpay's own database: the schema is procrastinate's own SQL, as the
installed version ships it. Applied here rather than by a separate step so no operator can
forget it: `creditpay db upgrade` (and the embedded default's migrate-on-open) creates it
with everything else. SQLite has no queue (the in-process runner): nothing there.

A later procrastinate release that changes its schema ships its migration SQL
(procrastinate.schema.SchemaManager.get_migrations_path()); creditpay applies it in a
migration of its own, as here.

Revision ID: 0038_jobs_queue
Revises: 0035_credit_month_end_lent
Create Date: 2026-12-07 02:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0038_jobs_queue'
down_revision: str | None = '0037_fraud_entity_state'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
          "procrastinate_workers")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    # Straight to the driver: the SQL holds `%` and `:name` text that SQLAlchemy's text()
    # and parameter styles would read as placeholders.
    driver = bind.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    driver = bind.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        cursor.execute("""
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
    LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || item.signature || ' CASCADE';
    END LOOP;
    FOR item IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%'
                  AND t.typtype = 'e'
    LOOP
        EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(item.typname) || ' CASCADE';
    END LOOP;
END $$;
""")
