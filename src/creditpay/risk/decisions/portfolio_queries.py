"""Credit decisions by grade for the operators' dashboard (issue #16), aggregated in SQL.

:func:`decisions_by_grade` counts decisions per grade and final outcome (a referred
application counts as approved or declined once a person reviewed it, and as referred
until then); :func:`approved_customers_by_grade` counts the distinct customers approved per
grade, optionally only those in a caller's selectable of customer ids (credit's bad
customers, :func:`creditpay.credit.portfolio_queries.bad_customers`), so the bad rate by
grade is computed in the database without either domain reading the other's tables.

How it stays fast over a million decisions: everything reads the covering index
``ix_credit_decisions_grade`` (currency, grade, outcome, customer_id, decided_at,
product_code) one grade at a time, so each query is one index range read in order (no
table row, no sort); the referral reviews are joined only to the referred decisions, which
are few. The grades are found by a loose index scan (one seek each).

Time range: decisions with ``decided_at`` in [day_from 00:00 UTC, day_to + 1 day 00:00 UTC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select

from creditpay.errors import ValidationError
from creditpay.risk.decisions.tables import credit_decisions, credit_referral_reviews

__all__ = ["GradeDecisions", "decisions_by_grade", "approved_customers_by_grade", "NO_GRADE"]

NO_GRADE = "-"  # decisions without a grade (declined before scoring)


@dataclass(frozen=True)
class GradeDecisions:
    grade: str  # A..E, or NO_GRADE
    decisions: int
    approved: int  # approved by the engine, or on review
    declined: int  # declined by the engine, or on review
    referred: int  # referred and not reviewed yet


def _check(day_from: dt.date | None, day_to: dt.date | None) -> None:
    if day_from is not None and day_to is not None and day_from > day_to:
        raise ValidationError("must not be after 'to'", field="from")


def _scope(d: Any, *, currency: str, day_from: dt.date | None, day_to: dt.date | None,
           product: str | None) -> list[Any]:
    """The range, currency and product conditions on decisions table (or alias) ``d``."""
    conditions: list[Any] = [d.c.currency == currency]
    if day_from is not None:
        conditions.append(d.c.decided_at >= dt.datetime.combine(day_from, dt.time(),
                                                                tzinfo=dt.UTC))
    if day_to is not None:
        conditions.append(d.c.decided_at < dt.datetime.combine(
            day_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
    if product is not None:
        conditions.append(d.c.product_code == product)
    return conditions


def _grades(conn: Any, currency: str) -> list[str]:
    """The non-null grades of the decisions in ``currency``, in order: a loose index scan
    (one ``min(grade) > previous`` seek per grade) instead of reading every decision."""
    d = credit_decisions.c
    found: list[str] = []
    while True:
        conditions = [d.currency == currency, d.grade.is_not(None)]
        if found:
            conditions.append(d.grade > found[-1])
        grade = conn.execute(select(func.min(d.grade)).where(*conditions)).scalar()
        if grade is None:
            return found
        found.append(str(grade))


def _grade_is(grade: str | None) -> Any:
    d = credit_decisions.c
    return d.grade.is_(None) if grade is None else d.grade == grade


def decisions_by_grade(conn: Any, *, currency: str, day_from: dt.date | None = None,
                       day_to: dt.date | None = None,
                       product: str | None = None) -> list[GradeDecisions]:
    """Decisions in ``currency`` (of ``product`` when given) per grade (NO_GRADE first when
    there are any, then the grades in order); grades without a decision in the range are
    left out."""
    _check(day_from, day_to)
    d, r = credit_decisions, credit_referral_reviews.c
    scope = _scope(d, currency=currency, day_from=day_from, day_to=day_to, product=product)
    result = []
    for grade in (None, *_grades(conn, currency)):
        by_outcome = {str(o): int(n) for o, n in conn.execute(
            select(d.c.outcome, func.count()).where(*scope, _grade_is(grade))
            .group_by(d.c.outcome))}
        total = sum(by_outcome.values())
        if not total:
            continue
        reviewed = {str(v): int(n) for v, n in conn.execute(
            select(r.verdict, func.count())
            .select_from(d.join(credit_referral_reviews, r.decision_id == d.c.id))
            .where(*scope, _grade_is(grade), d.c.outcome == "refer").group_by(r.verdict))}
        approved = by_outcome.get("approve", 0) + reviewed.get("approve", 0)
        declined = by_outcome.get("decline", 0) + reviewed.get("decline", 0)
        result.append(GradeDecisions(NO_GRADE if grade is None else grade, total, approved,
                                     declined, total - approved - declined))
    return result


def approved_customers_by_grade(conn: Any, *, currency: str,
                                day_from: dt.date | None = None,
                                day_to: dt.date | None = None, product: str | None = None,
                                among: Any = None) -> dict[str, int]:
    """Per grade (not NO_GRADE): how many distinct customers had a decision in the range
    approved, by the engine or on review; only customers whose id is in ``among`` (a
    selectable of one column of customer ids, e.g. credit's bad customers) when given.
    Grades without one are left out."""
    _check(day_from, day_to)
    d, r = credit_decisions, credit_referral_reviews.c
    other = credit_decisions.alias("other")
    scope = _scope(d, currency=currency, day_from=day_from, day_to=day_to, product=product)
    other_scope = _scope(other, currency=currency, day_from=day_from, day_to=day_to,
                         product=product)
    chosen = [] if among is None else [d.c.customer_id.in_(among)]
    counts: dict[str, int] = {}
    for grade in _grades(conn, currency):
        # Approved by the engine: one group per customer, read in index order.
        by_engine = conn.execute(select(func.count()).select_from(
            select(d.c.customer_id).where(*scope, *chosen, d.c.grade == grade,
                                          d.c.outcome == "approve")
            .group_by(d.c.customer_id).subquery())).scalar_one()
        # Approved on review, and not already counted as approved by the engine.
        on_review = conn.execute(
            select(func.count(d.c.customer_id.distinct()))
            .select_from(d.join(credit_referral_reviews, r.decision_id == d.c.id))
            .where(*scope, *chosen, d.c.grade == grade, d.c.outcome == "refer",
                   r.verdict == "approve",
                   ~exists().where(*other_scope, other.c.grade == grade,
                                   other.c.outcome == "approve",
                                   other.c.customer_id == d.c.customer_id))).scalar_one()
        if by_engine + on_review:
            counts[grade] = int(by_engine) + int(on_review)
    return counts
