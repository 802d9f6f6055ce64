"""Constant Core statements compiled once per dialect and run straight on the driver.

Why this exists (and is not SQLAlchemy's own ``conn.execute``): a checkout runs a few dozen
short statements, each taking SQLite tens of microseconds, while SQLAlchemy's per-execution
work around it (coercing the statement, its cache key, the compiled-cache lookup,
``construct_params``, the execution context and the result object) costs several times
that: measured in #14's profiles it was a quarter of the demo's CPU. The statements on the
hot paths never change, so that work can be done once.

A :class:`Prepared` wraps a Core statement built once (a module constant, its values as
named ``bindparam``s). On first use with a dialect it is compiled by SQLAlchemy itself,
and the plan kept: the SQL text, the order of its parameters, each parameter's bind
conversion (:func:`creditpay.db.metadata.fast_bind`, the type's own processor) and each
result column's conversion (:func:`creditpay.db.metadata.result_conversion`). Executing
it then converts the parameters, runs the text on the same DB-API connection (same
transaction) and converts the result: the values are the ones ``conn.execute`` gives
(``tests/db/test_prepared.py`` compares both on both stores).

What is refused when the plan is made, rather than silently done differently:
- parameters SQLAlchemy would expand or render at execution (``IN`` lists with
  ``expanding``, ``literal_execute``);
- an INSERT or UPDATE whose columns get a Python-side default at execution (the caller
  passes every value);
- result columns with the same key twice (a column without a key is read by position).

Driver errors are raised through SQLAlchemy's own error handling
(``sqlalchemy.exc.IntegrityError`` and so on, with the driver's error as ``orig``; a lost
connection invalidated), so callers and the unit of work's retry see the same exceptions.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.elements import BindParameter

from creditpay.db.engine import driver_connection
from creditpay.db.metadata import fast_bind, result_conversion

__all__ = ["Prepared"]

_REQUIRED = object()


class _Plan:
    """One statement compiled for one dialect (see the module docstring)."""

    __slots__ = ("sql", "positional", "names", "binds", "row", "conversions", "returns_rows",
                 "deferred", "_columns", "_dialect")

    def __init__(self, statement: ClauseElement, dialect: Dialect,
                 columns: tuple[str, ...] | None) -> None:
        compiled = (statement.compile(dialect=dialect) if columns is None else
                    statement.compile(dialect=dialect, column_keys=list(columns)))
        if compiled.insert_prefetch or compiled.update_prefetch:  # type: ignore[attr-defined]
            raise ValueError("Prepared: a column would get a Python-side default at "
                             "execution; pass every value: " + str(statement))
        names_of: dict[BindParameter[Any], str] = compiled.bind_names  # type: ignore[attr-defined]
        by_name = {name: bind for bind, name in names_of.items()}
        for bind in by_name.values():
            if bind.expanding or bind.literal_execute:
                raise ValueError(f"Prepared: parameter {bind.key!r} is expanded at "
                                 "execution; not supported")
        self.positional = bool(compiled.positional)  # type: ignore[attr-defined]
        order: Sequence[str] = (compiled.positiontup  # type: ignore[attr-defined]
                                if self.positional else list(by_name))
        binds = []
        for name in order:
            bind = by_name[name]
            default = _REQUIRED if bind.required else bind.effective_value
            binds.append((bind.key, default, fast_bind(bind.type, dialect)))
        self.names = tuple(order)
        self.binds: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...] = tuple(binds)
        self.sql: str = compiled.string
        result_columns: list[Any] = list(getattr(statement, "exported_columns", ()))
        self.returns_rows = bool(result_columns)
        keys = [column.key for column in result_columns]
        named = [key for key in keys if key]
        if len(set(named)) != len(named):
            raise ValueError(f"Prepared: result columns share a key: {keys}")
        self.row = _row_class(keys) if keys else None
        conversions, deferred = [], []
        for i, column in enumerate(result_columns):
            try:
                conversion = result_conversion(column, dialect)
            except (TypeError, exc.InvalidRequestError):
                # A type whose conversion depends on the type the driver reports
                # (PostgreSQL's Float and Numeric, as a Core result chooses it from
                # cursor.description): chosen on the first execution (resolve).
                deferred.append(i)
                continue
            if conversion is not None:
                conversions.append((i, conversion))
        self.conversions: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(conversions)
        self.deferred = tuple(deferred)
        self._columns, self._dialect = result_columns, dialect

    def resolve(self, description: Sequence[Any]) -> None:
        """Choose the deferred conversions from the driver's description of a result. The
        reported types of a constant statement's columns do not change, so this runs once;
        two threads doing it at once compute the same tuple."""
        conversions = list(self.conversions)
        for i in self.deferred:
            conversion = result_conversion(self._columns[i], self._dialect, description[i][1])
            if conversion is not None:
                conversions.append((i, conversion))
        self.conversions = tuple(sorted(conversions, key=lambda pair: pair[0]))
        self.deferred = ()

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters (a tuple for a positional style, else a dict)."""
        converted = []
        for key, default, process in self.binds:
            value = values.get(key, default)
            if value is _REQUIRED:
                raise KeyError(f"Prepared: no value for parameter {key!r}")
            if process is not None:  # None too: a JSON column stores None as JSON null
                value = process(value)
            converted.append(value)
        if self.positional:
            return tuple(converted)
        return dict(zip(self.names, converted, strict=True))

    def convert(self, found: Sequence[Any]) -> Any:
        if self.conversions:
            values = list(found)
            for i, conversion in self.conversions:
                if values[i] is not None:
                    values[i] = conversion(values[i])
            found = values
        assert self.row is not None
        return self.row._make(found)


class Prepared:
    """A constant Core statement run straight on the driver (see the module docstring).

    ``rows`` / ``first`` / ``scalar`` return rows as named tuples (attribute and index
    access, ``_asdict()``, and ``_mapping`` as a Core row has it); ``run`` returns the row
    count of a write; ``run_many`` runs a write once per parameter set (the driver's
    ``executemany``)."""

    __slots__ = ("statement", "columns", "_plans", "_lock")

    def __init__(self, statement: ClauseElement, *, columns: Iterable[str] | None = None
                 ) -> None:
        """``columns``: for an INSERT or UPDATE without ``values()``, the columns it writes,
        each a parameter of the column's name (as ``conn.execute(insert(t), {...})`` with
        those keys)."""
        self.statement: Any = statement
        self.columns = None if columns is None else tuple(columns)
        self._plans: dict[Any, _Plan] = {}
        self._lock = threading.Lock()

    def plan(self, dialect: Dialect) -> _Plan:
        """The statement compiled for ``dialect`` (compiled on first use, then kept: a
        pure function of the statement and the dialect)."""
        key = (type(dialect), dialect.paramstyle, dialect.server_version_info)
        found = self._plans.get(key)
        if found is None:
            with self._lock:
                found = self._plans.get(key)
                if found is None:
                    found = _Plan(self.statement, dialect, self.columns)
                    self._plans[key] = found
        return found

    def _execute(self, conn: Connection, plan: _Plan, values: Mapping[str, Any]) -> Any:
        parameters = plan.parameters(values)
        cursor = driver_connection(conn).cursor()
        try:
            cursor.execute(plan.sql, parameters)
        except conn.dialect.loaded_dbapi.Error as exc:
            _raise_as_sqlalchemy(conn, plan.sql, parameters, cursor, exc)
        return cursor

    def _query(self, conn: Connection, values: Mapping[str, Any] | None
               ) -> tuple[_Plan, Any]:
        """The plan and the cursor of a read, its deferred conversions resolved."""
        plan = self.plan(conn.dialect)
        cursor = self._execute(conn, plan, values or {})
        if plan.deferred:
            plan.resolve(cursor.description)
        return plan, cursor

    def rows(self, conn: Connection, values: Mapping[str, Any] | None = None) -> list[Any]:
        plan, cursor = self._query(conn, values)
        try:
            return [plan.convert(found) for found in cursor.fetchall()]
        finally:
            cursor.close()

    def first(self, conn: Connection, values: Mapping[str, Any] | None = None) -> Any | None:
        plan, cursor = self._query(conn, values)
        try:
            found = cursor.fetchone()
        finally:
            cursor.close()
        return None if found is None else plan.convert(found)

    def one(self, conn: Connection, values: Mapping[str, Any] | None = None) -> Any:
        """The first row; a statement that returned none is an error (as ``Result.one``
        raises, without its check for a second row: for reads that always return one)."""
        row = self.first(conn, values)
        if row is None:
            raise LookupError("Prepared.one: the statement returned no row")
        return row

    def scalar(self, conn: Connection, values: Mapping[str, Any] | None = None) -> Any:
        row = self.first(conn, values)
        return None if row is None else row[0]

    def run(self, conn: Connection, values: Mapping[str, Any] | None = None) -> int:
        plan = self.plan(conn.dialect)
        cursor = self._execute(conn, plan, values or {})
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def run_many(self, conn: Connection, values: Iterable[Mapping[str, Any]]) -> None:
        plan = self.plan(conn.dialect)
        parameters = [plan.parameters(one) for one in values]
        if not parameters:
            return
        cursor = driver_connection(conn).cursor()
        try:
            cursor.executemany(plan.sql, parameters)
        except conn.dialect.loaded_dbapi.Error as exc:
            _raise_as_sqlalchemy(conn, plan.sql, parameters, cursor, exc)
        cursor.close()


def _row_class(keys: list[str | None]) -> Any:
    """A named tuple of ``keys`` that also answers ``_mapping`` as a Core row does (a column
    without a key, e.g. an unlabelled scalar subquery, is read by position; its field is
    named ``_<position>``)."""
    base = namedtuple("PreparedRow", [key or "" for key in keys],  # type: ignore[misc]
                      rename=True)
    return type("PreparedRow", (base,), {
        "__slots__": (),
        "_mapping": property(lambda self: dict(zip(self._fields, self, strict=True)))})


def _raise_as_sqlalchemy(conn: Connection, sql: str, parameters: Any, cursor: Any,
                         exc: Exception) -> NoReturn:
    """Raise the driver's error as ``conn.execute`` would, through SQLAlchemy's own error
    path (a private method, on purpose: it wraps the error in its DBAPIError class, runs
    the ``handle_error`` events, closes the cursor, and on a lost connection invalidates
    it and the pool's older ones, so the unit of work retries on a fresh connection;
    ``tests/db/test_lost_connection.py`` checks that through a prepared statement)."""
    conn._handle_dbapi_exception(exc, sql, parameters, cursor, None)
