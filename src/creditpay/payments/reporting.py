"""Read-only payment figures for other domains' reports (risk early warning).

:func:`daily_screening_counts` implements risk's
:class:`~creditpay.risk.early_warning.ports.ScreeningSource` (the type it returns is
risk's: risk defines what it needs and may not import payments).

Nothing here writes; each function is one aggregate statement per day over the payments
domain's own tables, so callers never read ``payment_intents`` themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from creditpay.errors import ValidationError
from creditpay.payments.tables import payment_intents
from creditpay.risk.early_warning.ports import ScreeningCounts

__all__ = ["ScreeningCounts", "daily_screening_counts", "SCREENING_DAYS_MAX",
           "CapturedTotal", "captured_totals"]

SCREENING_DAYS_MAX = 366
# Outcomes an analyst review leaves on a held intent: it was held (review) first.
_REVIEWED = {"approved_by_review": "review", "declined_by_review": "review"}
_OUTCOMES = ("approve", "challenge", "review", "decline")


def daily_screening_counts(conn: Connection, start: dt.date, end: dt.date
                           ) -> list[ScreeningCounts]:
    """Screening outcome counts per day in ``[start, end]`` (inclusive) and scenario, from
    ``payment_intents.risk_outcome`` by the intent's creation time (UTC day). Days and
    scenarios with no screened intent are left out."""
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise ValidationError("must be a date", field=name)
    if end < start:
        raise ValidationError("must not be before start", field="end")
    if (end - start).days >= SCREENING_DAYS_MAX:
        raise ValidationError(f"at most {SCREENING_DAYS_MAX} days", field="end")
    c = payment_intents.c
    out: list[ScreeningCounts] = []
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


@dataclass(frozen=True)
class CapturedTotal:
    """Payments of one customer in one currency with something captured: how many, and the
    captured sum in minor units of ``currency``."""

    currency: str
    count: int
    captured_minor: int


def captured_totals(conn: Connection, customer_id: str, *, since: dt.datetime,
                    before: dt.datetime) -> list[CapturedTotal]:
    """The customer's captured payments created in ``[since, before)`` per currency, the
    currency with the most payments first (then by code). One statement."""
    p = payment_intents.c
    rows = conn.execute(
        select(p.currency, func.count().label("n"),
               func.coalesce(func.sum(p.captured_minor), 0).label("amount"))
        .where(p.customer_id == customer_id, p.captured_minor > 0, p.created_at >= since,
               p.created_at < before)
        .group_by(p.currency).order_by(func.count().desc(), p.currency)).all()
    return [CapturedTotal(row.currency, int(row.n), int(row.amount)) for row in rows]
