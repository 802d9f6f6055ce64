"""Alembic environment: run migrations on the connection creditpay hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from creditpay.db.schema import load_all_tables

target_metadata = load_all_tables()
config = context.config


def include_object(obj: object, name: str | None, type_: str, reflected: bool,
                   compare_to: object) -> bool:
    """Autogenerate compares creditpay's tables only: the job queue's tables
    (``procrastinate_*``, migration 0038_jobs_queue) are procrastinate's schema, not ours."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # alembic CLI use: build an engine from the URL
        # The alembic command line is an entry point of its own, like creditpay's.
        from creditpay.config import Settings
        from creditpay.db.engine import make_engine

        url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
        with make_engine(url).connect() as conn:
            _run(conn)
            conn.commit()
        return
    _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
