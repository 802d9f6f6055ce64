"""What the early-warning job needs from domains above risk, defined here and implemented
there (risk sits below payments and may not import it).

:class:`ScreeningSource` is the daily fraud-screening count the ``fraud_rate`` metric
divides; :func:`creditpay.payments.reporting.daily_screening_counts` implements it and the
job's callers (``creditpay nightly``, ``creditpay early-warning run``) pass it in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

__all__ = ["ScreeningCounts", "ScreeningSource"]


@dataclass(frozen=True)
class ScreeningCounts:
    """Payments created on ``day`` (UTC business day) in ``scenario`` that fraud screening
    decided, by the screening outcome. A payment held for review and then approved or
    declined by an analyst counts under ``review``; a challenge counts only when its step-up
    was passed (an abandoned challenge leaves no outcome)."""

    day: dt.date
    scenario: str
    approve: int
    challenge: int
    review: int
    decline: int

    @property
    def screened(self) -> int:
        return self.approve + self.challenge + self.review + self.decline

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "scenario": self.scenario,
                "approve": self.approve, "challenge": self.challenge, "review": self.review,
                "decline": self.decline, "screened": self.screened}


class ScreeningSource(Protocol):
    """Screening outcome counts per day in ``[start, end]`` (inclusive) and scenario; days
    and scenarios with nothing screened left out. Read-only, on the caller's connection."""

    def __call__(self, conn: Connection, start: dt.date, end: dt.date
                 ) -> Sequence[ScreeningCounts]: ...
