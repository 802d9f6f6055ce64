"""Rate limits shared by every API process: GCRA buckets in the database (issue #19).

``creditpay serve --workers N`` runs N processes behind one port; a limit each process kept
in its memory would admit a client N times over. Here a limit is one row of
``platform_rate_limits`` and a check is ONE statement on both stores, an atomic upsert::

    INSERT ... VALUES (key, now + T, tau, true), ... ON CONFLICT (key) DO UPDATE
      SET tat_us = <GCRA>, admitted = <GCRA> RETURNING key, tat_us, admitted

GCRA (the generic cell rate algorithm, the token bucket written with one number): a limit
of ``capacity`` requests at once, refilled at ``rate`` per second, has the emission interval
``T = 1/rate`` and the burst tolerance ``tau = (capacity - 1) * T``. A bucket is its
theoretical arrival time ``tat``; a request at ``now`` is admitted when
``max(tat, now) - now <= tau``, which moves ``tat`` to ``max(tat, now) + T``; a refused one
changes nothing and may retry in ``max(tat, now) - now - tau``. In any window of ``t``
seconds at most ``capacity + rate * t`` requests are admitted (tests/platform, Hypothesis),
the same bound as the in-process token buckets this replaces.

Several limits are checked by one statement (an API request: its client IP and its
credential); each row carries its own ``tau`` and its ``T`` is read from the inserted
``tat`` (``EXCLUDED.tat_us - now``). A request refused by one limit still counts against the
others (the statement cannot see its other rows): a client over one limit spends a little
of another, never admits more.

Keys are stored as a digest (no client address or identifier in the table). A row whose
``tat`` has passed is a full bucket, exactly like a missing row, so :meth:`RateLimits.take`
deletes such rows at most once every ``purge_period_s``: the table holds only the keys seen
in the last ``capacity / rate`` seconds. Time is the wall clock (shared by the processes of
one machine; several machines need synchronised clocks, as NTP gives, to a few
milliseconds), never the business clock, which a demo may freeze.

Nothing here is written by hand that a maintained library does for this store pair: the
usual GCRA libraries keep their state in Redis or in memory.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from creditpay.db.uow import UnitOfWork

__all__ = ["Limit", "RateLimits", "gcra", "PURGE_PERIOD_S"]

PURGE_PERIOD_S = 60.0
_MICROS = 1_000_000


@dataclass(frozen=True)
class Limit:
    """``capacity`` requests at once, refilled at ``refill_per_s`` per second."""

    capacity: int
    refill_per_s: float

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1")
        if not self.refill_per_s > 0:
            raise ValueError("refill_per_s must be positive")

    @property
    def interval_us(self) -> int:
        """T: the emission interval, microseconds (at least 1)."""
        return max(1, round(_MICROS / self.refill_per_s))

    @property
    def tolerance_us(self) -> int:
        """tau: how far ahead of ``now`` the bucket may run and still admit."""
        return (self.capacity - 1) * self.interval_us


def gcra(tat_us: int | None, now_us: int, interval_us: int, tolerance_us: int
         ) -> tuple[bool, int, int]:
    """One check of a GCRA bucket (pure): ``(admitted, new tat, wait µs)``; ``tat_us`` None
    is a bucket never seen (full). The SQL of :class:`RateLimits` computes the same."""
    base = now_us if tat_us is None or tat_us < now_us else tat_us
    if base - now_us <= tolerance_us:
        return True, base + interval_us, 0
    return False, base, base - now_us - tolerance_us


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# The GCRA of gcra() in SQL that SQLite (3.35+) and PostgreSQL both run: CASE instead of
# GREATEST/max(), and every right-hand side reads the row before the update.
_BASE = "(CASE WHEN platform_rate_limits.tat_us > :now THEN platform_rate_limits.tat_us ELSE :now END)"
_FITS = f"({_BASE} - :now <= EXCLUDED.tolerance_us)"
_UPSERT = (  # constant fragments only: every value is a bound parameter
    "INSERT INTO platform_rate_limits (key, tat_us, tolerance_us, admitted) VALUES {rows} "  # nosec B608
    "ON CONFLICT (key) DO UPDATE SET "
    f"tat_us = CASE WHEN {_FITS} THEN {_BASE} + (EXCLUDED.tat_us - :now) "
    "ELSE platform_rate_limits.tat_us END, "
    "tolerance_us = EXCLUDED.tolerance_us, "
    f"admitted = {_FITS} "
    "RETURNING key, tat_us, tolerance_us, admitted")


_PURGE = "DELETE FROM platform_rate_limits WHERE tat_us <= :now"


class RateLimits:
    """Shared GCRA limits on ``uow``'s database (the only writer of
    ``platform_rate_limits``). Thread-safe; one instance per process."""

    def __init__(self, uow: UnitOfWork, *, now_s: Callable[[], float] = time.time,
                 purge_period_s: float = PURGE_PERIOD_S) -> None:
        self._uow = uow
        self._now_s = now_s
        self._purge_period_s = purge_period_s
        self._next_purge_us = 0
        self._purge_lock = threading.Lock()
        # The statement's text for 1, 2, ... rows, built once.
        self._statements = [text(_UPSERT.format(rows=", ".join(
            f"(:k{i}, :t{i}, :tau{i}, true)" for i in range(n)))) for n in range(1, 4)]
        self._postgres = uow.engine.dialect.name == "postgresql"
        # The same statements in psycopg's placeholders, run on the driver's connection.
        self._pg_statements = [
            re.sub(r":(\w+)", r"%(\1)s", _UPSERT.format(rows=", ".join(
                f"(:k{i}, :t{i}, :tau{i}, true)" for i in range(n))))
            for n in range(1, 4)]

    def _take_postgres(self, n: int, params: dict[str, object], purge: bool
                       ) -> Sequence[Sequence[Any]]:
        """On PostgreSQL the check runs on the pooled driver connection directly: through
        SQLAlchemy's statement layer and the unit of work it cost 280 µs of CPU per
        request, on the driver about a third of that (bench checkout,
        ``rate_limit_check``). One autocommitted statement, no business transaction."""
        connection = self._uow.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self._pg_statements[n - 1], params)
                rows = [tuple(row) for row in cursor.fetchall()]
                if purge:
                    cursor.execute(_PURGE.replace(":now", "%(now)s"), params)
            finally:
                cursor.close()
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()  # back to the pool
        return rows

    def take(self, checks: Sequence[tuple[str, Limit]]) -> float:
        """Check and count one request against each ``(key, limit)`` (at most 3, distinct
        keys) in one statement: 0.0 if every limit admits it, else the seconds until all
        would (the longest wait)."""
        if not checks:
            return 0.0
        if len(checks) > len(self._statements):
            raise ValueError(f"at most {len(self._statements)} limits per check")
        now_us = int(self._now_s() * _MICROS)
        params: dict[str, object] = {"now": now_us}
        for i, (key, limit) in enumerate(checks):
            params[f"k{i}"] = _digest(key)
            params[f"t{i}"] = now_us + limit.interval_us
            params[f"tau{i}"] = limit.tolerance_us
        purge = self._purge_due(now_us)
        rows: Sequence[Sequence[Any]]
        if self._postgres:
            rows = self._take_postgres(len(checks), params, purge)
        else:
            with self._uow.begin() as tx:
                rows = tx.conn.execute(self._statements[len(checks) - 1], params).all()
                if purge:
                    tx.conn.execute(text(_PURGE), {"now": now_us})
        wait_us = max((0 if admitted else max(tat - now_us - tolerance, 1)
                       for _key, tat, tolerance, admitted in rows), default=0)
        return wait_us / _MICROS

    def take_one(self, key: str, limit: Limit) -> float:
        return self.take([(key, limit)])

    def _purge_due(self, now_us: int) -> bool:
        with self._purge_lock:
            if now_us < self._next_purge_us:
                return False
            self._next_purge_us = now_us + int(self._purge_period_s * _MICROS)
            return True

    def rows(self) -> int:
        """How many keys the table holds (the bound the purge keeps)."""
        with self._uow.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM platform_rate_limits"))
                       .scalar_one())
