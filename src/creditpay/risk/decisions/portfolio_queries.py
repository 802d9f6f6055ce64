"""Credit decisions by grade for the operators' dashboard (issue #16), aggregated in SQL.

:func:`decisions_by_grade` counts decisions per grade and final outcome (a referred
application counts as approved or declined once a person reviewed it, and as referred
until then); :func:`approved_cohort` is the approved decisions' customers as a SQL
selectable (``customer_id``, ``grp`` = grade) that credit joins to its accounts
(:func:`creditpay.credit.portfolio_queries.customers_outcome`), so the bad rate by grade is
computed in the database without either domain reading the other's tables.

Time range: decisions with ``decided_at`` in [day_from 00:00 UTC, day_to + 1 day 00:00 UTC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, literal, select

from creditpay.errors import ValidationError
from creditpay.risk.decisions.tables import credit_decisions, credit_referral_reviews

__all__ = ["GradeDecisions", "decisions_by_grade", "approved_cohort", "NO_GRADE"]

NO_GRADE = "-"  # decisions without a grade (declined before scoring)


@dataclass(frozen=True)
class GradeDecisions:
    grade: str  # A..E, or NO_GRADE
    decisions: int
    approved: int  # approved by the engine, or on review
    declined: int  # declined by the engine, or on review
    referred: int  # referred and not reviewed yet


def _bounds(day_from: dt.date | None, day_to: dt.date | None) -> list[Any]:
    if day_from is not None and day_to is not None and day_from > day_to:
        raise ValidationError("must not be after 'to'", field="from")
    d = credit_decisions.c
    conditions: list[Any] = []
    if day_from is not None:
        conditions.append(d.decided_at >= dt.datetime.combine(day_from, dt.time(),
                                                              tzinfo=dt.UTC))
    if day_to is not None:
        conditions.append(d.decided_at < dt.datetime.combine(
            day_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
    return conditions


def _final_outcome() -> Any:
    d, r = credit_decisions.c, credit_referral_reviews.c
    return case((d.outcome != "refer", d.outcome), (r.verdict.is_not(None), r.verdict),
                else_=literal("refer"))


def decisions_by_grade(conn: Any, *, currency: str, day_from: dt.date | None = None,
                       day_to: dt.date | None = None,
                       product: str | None = None) -> list[GradeDecisions]:
    """Decisions in ``currency`` (of ``product`` when given) per grade, ordered by grade."""
    d, r = credit_decisions.c, credit_referral_reviews.c
    outcome = _final_outcome()
    grade = func.coalesce(d.grade, literal(NO_GRADE))
    conditions = [d.currency == currency, *_bounds(day_from, day_to)]
    if product is not None:
        conditions.append(d.product_code == product)
    rows = conn.execute(
        select(grade.label("grade"), func.count().label("n"),
               func.sum(case((outcome == "approve", 1), else_=0)).label("approved"),
               func.sum(case((outcome == "decline", 1), else_=0)).label("declined"))
        .select_from(credit_decisions.outerjoin(credit_referral_reviews,
                                                r.decision_id == d.id))
        .where(*conditions).group_by(grade).order_by(grade))
    return [GradeDecisions(str(x.grade), int(x.n), int(x.approved), int(x.declined),
                           int(x.n) - int(x.approved) - int(x.declined)) for x in rows]


def approved_cohort(*, currency: str, day_from: dt.date | None = None,
                    day_to: dt.date | None = None, product: str | None = None) -> Any:
    """A selectable (not executed): ``customer_id`` and ``grp`` (the grade) of every
    approved decision in the range, one row per customer and grade."""
    d, r = credit_decisions.c, credit_referral_reviews.c
    conditions = [d.currency == currency, d.grade.is_not(None), _final_outcome() == "approve",
                  *_bounds(day_from, day_to)]
    if product is not None:
        conditions.append(d.product_code == product)
    return (select(d.customer_id.label("customer_id"), d.grade.label("grp"))
            .select_from(credit_decisions.outerjoin(credit_referral_reviews,
                                                    r.decision_id == d.id))
            .where(*conditions).distinct())
