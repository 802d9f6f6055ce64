"""The one SQLAlchemy ``MetaData`` every domain registers its tables on.

Each domain declares its tables in ``creditpay/<domain>/tables.py`` against this object and is
the only writer of them (one owner per table, see docs/architecture.md). Alembic migrations in
``creditpay/db/migrations`` create them; tests compare the migrated schema with this metadata.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, MetaData
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.base import SchemaEventTarget
from sqlalchemy.types import TypeDecorator

__all__ = ["metadata", "BigIntPK", "JSONType", "UtcDateTime", "JsonText", "fast_bind",
           "column_bind", "result_conversion"]

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


class UtcDateTime(TypeDecorator[dt.datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that only ever holds and returns aware UTC datetimes.

    The DDL is exactly ``DateTime(timezone=True)``; only the Python side differs. SQLite has
    no time zone type: SQLAlchemy stores the wall-clock digits and drops the offset, and
    reads back a naive datetime. So a naive value is refused on the way in (its zone is a
    guess), an aware one is converted to UTC before it is stored (so text comparison on
    SQLite orders instants, not wall clocks), and every value read back is aware UTC on
    both stores. Core expressions derived from such a column (``func.max(col)``,
    ``func.min(col)``) keep this type; raw ``text()`` needs ``columns(col=UtcDateTime())``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def __init__(self) -> None:
        super().__init__()
        self._column: Column[Any] | None = None

    def _set_parent(self, parent: SchemaEventTarget, outer: bool = False, **kw: Any) -> None:
        # A Column hands itself to its type when built: remembered only to name it in errors.
        if isinstance(parent, Column):
            self._column = parent
        super()._set_parent(parent, outer=outer, **kw)

    def _name(self) -> str:
        column = self._column
        if column is None:
            return "datetime value"
        table = getattr(column, "table", None)
        return f"{table.name}.{column.name}" if table is not None else str(column.name)

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise ValueError(f"{self._name()} must be a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{self._name()} must be timezone-aware, got naive {value!r}")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: the stored digits are UTC (see process_bind_param)
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class JsonText:
    """A JSON column's value already serialized by its producer, as the column's bind would
    serialize it (``json.dumps(value)``, SQLAlchemy's default serializer): a hot writer that
    has encoded a value once (the audit trail) queues this instead of the value, and the
    queued insert (``Tx.queue_insert``) sends the text as it is. On PostgreSQL the server
    parses it into the same JSONB value."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JsonText({self.text!r})"


_UTC = dt.UTC


def fast_bind(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The bind conversion of ``column_type`` on ``dialect`` as one plain function, for
    statements sent to the driver directly (the queued inserts): the type's own SQLAlchemy
    processor (None when there is none), except that the values hot writers send are
    converted here directly, to the very same output, without SQLAlchemy's layers of
    calls: an aware UTC datetime of a :class:`UtcDateTime` column (SQLite: the text of
    SQLAlchemy's SQLite ``DATETIME`` storage format; PostgreSQL: the value itself, which
    ``astimezone(UTC)`` would return unchanged) and :class:`JsonText` of a JSON column.
    Anything else (a naive or non-UTC datetime, None, a JSON value) goes through the
    processor, errors and all. ``tests/db/test_fast_bind.py`` checks both outputs agree."""
    impl = column_type.dialect_impl(dialect)
    processor = impl.bind_processor(dialect)
    sqlite = dialect.name == "sqlite"
    if isinstance(column_type, UtcDateTime) and processor is not None:
        slow = processor

        if sqlite:
            def utc_datetime(value: Any) -> Any:
                if type(value) is dt.datetime and value.tzinfo is _UTC:
                    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
                            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
                            f".{value.microsecond:06d}")
                return slow(value)
        else:
            def utc_datetime(value: Any) -> Any:
                if type(value) is dt.datetime and value.tzinfo is _UTC:
                    return value
                return slow(value)
        return utc_datetime
    if isinstance(impl, sqltypes.JSON) and processor is not None:
        slow_json = processor

        def json_value(value: Any) -> Any:
            if type(value) is JsonText:
                return value.text
            return slow_json(value)
        return json_value
    return processor


# For statements sent to the driver directly (the hot paths of the ledger, the fraud state,
# the audit chain, the checkout's reads): a column's conversions as SQLAlchemy applies them,
# taken once per dialect by the caller. One definition, so that every driver read and write
# converts as a Core statement would.
def column_bind(column: Any, dialect: Dialect) -> Callable[[Any], Any]:
    """The bind conversion of ``column`` on ``dialect`` as one function (:func:`fast_bind`;
    the identity when the type has none)."""
    return fast_bind(column.type, dialect) or _identity


def result_conversion(column: Any, dialect: Dialect, type_code: Any = None
                      ) -> Callable[[Any], Any] | None:
    """The conversion a Core result applies to ``column``'s driver value on ``dialect``
    (None when there is none). ``type_code``: the type the driver reports for the column
    (``cursor.description``), which some types need to choose it (PostgreSQL's Float and
    Numeric: a conversion only when the stored type differs from the one asked for);
    without it they raise (see :class:`creditpay.db.prepared.Prepared`)."""
    processor: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).result_processor(
        dialect, type_code)
    return processor


def _identity(value: Any) -> Any:
    return value
