"""The one SQLAlchemy ``MetaData`` every domain registers its tables on.

Each domain declares its tables in ``creditpay/<domain>/tables.py`` against this object and is
the only writer of them (one owner per table, see docs/architecture.md). Alembic migrations in
``creditpay/db/migrations`` create them; tests compare the migrated schema with this metadata.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, MetaData
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["metadata", "BigIntPK", "JSONType"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT identity.
BigIntPK = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")

from sqlalchemy import JSON  # noqa: E402

# JSON stored as JSONB on PostgreSQL (indexable), TEXT-backed JSON on SQLite.
JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
