"""Alembic environment: run migrations on the connection creditpay hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from creditpay.db.schema import load_all_tables

target_metadata = load_all_tables()
config = context.config


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
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
