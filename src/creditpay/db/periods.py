"""Calendar-month keys of date and time columns in SQL, on both stores.

Dashboards group by month in the database (a million rows are never read into Python), and
the two stores spell "the month of" differently: SQLite keeps dates as ISO text
(``YYYY-MM-DD``) and times as UTC text (``YYYY-MM-DD HH:MM:SS...``, see
:class:`creditpay.db.metadata.UtcDateTime`), PostgreSQL has ``to_char``. The key is the
text ``YYYY-MM`` on both, so results compare and sort the same.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, func, type_coerce

__all__ = ["month_key"]


def month_key(dialect_name: str, column: Any, *, timestamp: bool = False) -> Any:
    """SQL expression: the ``YYYY-MM`` month of ``column`` (a ``Date``, or with
    ``timestamp=True`` a UTC time column, whose month is taken in UTC)."""
    if dialect_name == "postgresql":
        value = func.timezone("UTC", column) if timestamp else column
        return type_coerce(func.to_char(value, "YYYY-MM"), String)
    # SQLite: both kinds are stored as text beginning with the ISO date.
    return type_coerce(func.substr(type_coerce(column, String), 1, 7), String)
