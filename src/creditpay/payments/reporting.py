"""Read-only payment figures for other domains' reports (risk early warning).

Nothing here writes; each function is one aggregate statement per day over the payments
domain's own tables, so callers never read ``payment_intents`` themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from creditpay.errors import ValidationError
from creditpay.payments.tables import payment_intents
from creditpay.platform.validators import check_date

__all__ = ["ScreeningCounts", "daily_screening_counts", "SCREENING_DAYS_MAX"]

SCREENING_DAYS_MAX = 366
# Outcomes an analyst review leaves on a held intent: it was held (review) first.
_REVIEWED = {"approved_by_review": "review", "declined_by_review": "review"}
_OUTCOMES = ("approve", "challenge", "review", "decline")


@dataclass(frozen=True)
class ScreeningCounts:
    """Payment intents created on ``day`` (UTC business day) in ``scenario`` that fraud
    screening decided, by the screening outcome. An intent held for review and then
    approved or declined by an analyst counts under ``review``; a challenge counts only when
    its step-up was passed (an abandoned challenge leaves no outcome on the intent)."""

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


def daily_screening_counts(conn: Any, start: dt.date, end: dt.date) -> list[ScreeningCounts]:
    """Screening outcome counts per day in ``[start, end]`` (inclusive) and scenario, from
    ``payment_intents.risk_outcome`` by the intent's creation time (UTC day). Days and
    scenarios with no screened intent are left out."""
    for name, value in (("start", start), ("end", end)):
        check_date(value, name)
    if end < start:
        raise ValidationError("must not be before start", field="end")
    if (end - start).days >= SCREENING_DAYS_MAX:
        raise ValidationError(f"at most {SCREENING_DAYS_MAX} days", field="end")
    c = payment_intents.c
    out = []
    day = start
    while day <= end:
        since = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        # Bounds on the timestamp rather than a date function: the same statement on both
        # stores, and no per-row conversion.
        rows = conn.execute(select(c.scenario, c.risk_outcome, func.count()).where(
            c.created_at >= since, c.created_at < since + dt.timedelta(days=1),
            c.risk_outcome.is_not(None)).group_by(c.scenario, c.risk_outcome))
        by_scenario: dict[str, dict[str, int]] = {}
        for scenario, outcome, count in rows:
            outcome = _REVIEWED.get(outcome, outcome)
            if outcome not in _OUTCOMES:
                continue
            counts = by_scenario.setdefault(scenario, dict.fromkeys(_OUTCOMES, 0))
            counts[outcome] += int(count)
        out += [ScreeningCounts(day, scenario, **counts)
                for scenario, counts in sorted(by_scenario.items())]
        day += dt.timedelta(days=1)
    return out
