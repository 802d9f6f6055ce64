"""Fraud attempted, caught and lost per month, for the operators' dashboard (issue #16).

Aggregated in SQL over the screening journal (``fraud_screenings``, through its covering
time index) and the fraud labels (``fraud_labels``):

* screened: every screening of a payment or transfer in the month (``screened_at``);
* declined: screenings the screener declined outright (the payment never happened);
* held: screenings put in review (an analyst case);
* confirmed_caught: analyst verdicts "fraud" on held payments (labelled in the month);
* lost: fraud that got through: chargebacks and consumer fraud reports labelled fraud in
  the month (``labelled_at``: when the loss became known).

Counts and amounts in minor units of ``currency``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select

from creditpay.db.periods import month_key
from creditpay.errors import ValidationError
from creditpay.risk.fraud.tables import fraud_labels, fraud_screenings

__all__ = ["FraudMonth", "fraud_by_month"]


@dataclass(frozen=True)
class FraudMonth:
    month: str  # YYYY-MM
    screened: int
    screened_minor: int
    declined: int
    declined_minor: int
    held: int
    held_minor: int
    confirmed_caught: int
    confirmed_caught_minor: int
    lost: int
    lost_minor: int


def _time_bounds(column: Any, day_from: dt.date | None, day_to: dt.date | None) -> list[Any]:
    conditions: list[Any] = []
    if day_from is not None:
        conditions.append(column >= dt.datetime.combine(day_from, dt.time(), tzinfo=dt.UTC))
    if day_to is not None:
        conditions.append(column < dt.datetime.combine(day_to + dt.timedelta(days=1),
                                                       dt.time(), tzinfo=dt.UTC))
    return conditions


def fraud_by_month(conn: Any, *, currency: str, day_from: dt.date | None = None,
                   day_to: dt.date | None = None) -> list[FraudMonth]:
    """One row per month with any screening or label in [day_from, day_to] (UTC days),
    ordered by month."""
    if day_from is not None and day_to is not None and day_from > day_to:
        raise ValidationError("must not be after 'to'", field="from")
    dialect = conn.dialect.name
    s, lab = fraud_screenings.c, fraud_labels.c
    month = month_key(dialect, s.screened_at, timestamp=True)
    amount = func.coalesce(s.amount_minor, 0)
    months: dict[str, dict[str, int]] = {}

    def row(key: str) -> dict[str, int]:
        return months.setdefault(key, dict.fromkeys(
            ("screened", "screened_minor", "declined", "declined_minor", "held",
             "held_minor", "confirmed_caught", "confirmed_caught_minor", "lost",
             "lost_minor"), 0))

    for r in conn.execute(
            select(month.label("month"), func.count().label("n"), func.sum(amount).label("a"),
                   func.sum(case((s.decision == "decline", 1), else_=0)).label("dn"),
                   func.sum(case((s.decision == "decline", amount), else_=0)).label("da"),
                   func.sum(case((s.decision == "review", 1), else_=0)).label("hn"),
                   func.sum(case((s.decision == "review", amount), else_=0)).label("ha"))
            .where(s.currency == currency, *_time_bounds(s.screened_at, day_from, day_to))
            .group_by(month)):
        target = row(r.month)
        target.update(screened=int(r.n), screened_minor=int(r.a), declined=int(r.dn),
                      declined_minor=int(r.da), held=int(r.hn), held_minor=int(r.ha))
    label_month = month_key(dialect, lab.labelled_at, timestamp=True)
    label_amount = func.coalesce(lab.amount_minor, 0)
    caught = lab.source == "analyst_verdict"
    for r in conn.execute(
            select(label_month.label("month"),
                   func.sum(case((caught, 1), else_=0)).label("cn"),
                   func.sum(case((caught, label_amount), else_=0)).label("ca"),
                   func.sum(case((caught, 0), else_=1)).label("ln"),
                   func.sum(case((caught, 0), else_=label_amount)).label("la"))
            .where(lab.is_fraud.is_(True), lab.currency == currency,
                   *_time_bounds(lab.labelled_at, day_from, day_to))
            .group_by(label_month)):
        target = row(r.month)
        target.update(confirmed_caught=int(r.cn), confirmed_caught_minor=int(r.ca),
                      lost=int(r.ln), lost_minor=int(r.la))
    return [FraudMonth(month=key, **values) for key, values in sorted(months.items())]
