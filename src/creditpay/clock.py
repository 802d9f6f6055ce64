"""The business clock.

Domain code never reads the wall clock: it asks a :class:`Clock` for the business date and
time, so a month of servicing can be simulated in seconds and replayed exactly. The clock is
passed in (no global), and every service takes it from its unit of work.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "ShiftedClock", "SimulatedClock", "utc"]

utc = dt.UTC


@runtime_checkable
class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Business time, timezone-aware UTC."""

    def today(self) -> dt.date:
        """Business date."""


class SystemClock:
    """Business time equals wall time (production)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(utc)

    def today(self) -> dt.date:
        return self.now().date()

    def __repr__(self) -> str:
        return "SystemClock()"


class ShiftedClock:
    """Business time that starts at ``start`` and then runs with the wall clock: a server
    over a database that lives at its own business date (a simulation's), where a day in
    the app must not be a year in the past or the future of that database."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._offset = start - dt.datetime.now(utc)

    def now(self) -> dt.datetime:
        return dt.datetime.now(utc) + self._offset

    def today(self) -> dt.date:
        return self.now().date()

    def __repr__(self) -> str:
        return f"ShiftedClock(now={self.now().isoformat()})"


class SimulatedClock:
    """A clock that only moves when told to (simulation, tests, replays). Thread-safe."""

    def __init__(self, start: dt.datetime | dt.date | str = "2025-01-01T09:00:00+00:00") -> None:
        self._lock = threading.Lock()
        self._now = self._coerce(start)

    @staticmethod
    def _coerce(value: dt.datetime | dt.date | str) -> dt.datetime:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value) if "T" in value or " " in value else \
                dt.date.fromisoformat(value)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=utc)
        return dt.datetime(value.year, value.month, value.day, tzinfo=utc)

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def today(self) -> dt.date:
        return self.now().date()

    def advance(self, days: float = 0, hours: float = 0, minutes: float = 0,
                seconds: float = 0) -> dt.datetime:
        """Move business time forward; it never moves backward."""
        delta = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if delta < dt.timedelta(0):
            raise ValueError("the business clock never moves backward")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, value: dt.datetime | dt.date | str) -> dt.datetime:
        new = self._coerce(value)
        with self._lock:
            if new < self._now:
                raise ValueError("the business clock never moves backward")
            self._now = new
            return self._now

    def __repr__(self) -> str:
        return f"SimulatedClock({self._now.isoformat()})"
