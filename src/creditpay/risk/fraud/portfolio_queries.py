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

__all__ = ["FraudMonth", "fraud_by_month", "fraud_losses_by_month", "FraudLossMonth",
           "fraud_not_charged_back_by_month"]


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


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first day of every month from ``first``'s to ``last``'s."""
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def _screenings_by_month(conn: Any, currency: str, day_from: dt.date | None,
                         day_to: dt.date | None) -> dict[str, dict[str, int]]:
    """The screening counts per month. One aggregate per month over its slice of the
    covering time index (``ix_fraud_screenings_time``) rather than one GROUP BY month over
    the whole range: the index is already in time order, and grouping by a month text
    expression made the database sort every screening (most of the time at 1,000,000)."""
    s = fraud_screenings.c
    if day_from is None or day_to is None:
        low, high = conn.execute(select(func.min(s.screened_at), func.max(s.screened_at))
                                 .where(s.currency == currency)).one()
        if low is None:
            return {}
        day_from = day_from if day_from is not None else low.astimezone(dt.UTC).date()
        day_to = day_to if day_to is not None else high.astimezone(dt.UTC).date()
    amount = func.coalesce(s.amount_minor, 0)
    declined, held = s.decision == "decline", s.decision == "review"
    found: dict[str, dict[str, int]] = {}
    for month in _months(day_from, day_to):
        after = (month + dt.timedelta(days=32)).replace(day=1)
        r = conn.execute(
            select(func.count().label("n"), func.sum(amount).label("a"),
                   func.sum(case((declined, 1), else_=0)).label("dn"),
                   func.sum(case((declined, amount), else_=0)).label("da"),
                   func.sum(case((held, 1), else_=0)).label("hn"),
                   func.sum(case((held, amount), else_=0)).label("ha"))
            .where(s.currency == currency,
                   *_time_bounds(s.screened_at, max(month, day_from),
                                 min(after - dt.timedelta(days=1), day_to)))).one()
        if r.n:
            found[month.strftime("%Y-%m")] = dict(
                screened=int(r.n), screened_minor=int(r.a), declined=int(r.dn),
                declined_minor=int(r.da), held=int(r.hn), held_minor=int(r.ha))
    return found


def _labels_by_month(conn: Any, currency: str, day_from: dt.date | None,
                     day_to: dt.date | None) -> dict[str, dict[str, int]]:
    """Fraud labels (is_fraud) per month of ``labelled_at``: analyst verdicts on held
    payments (caught) and the others, chargebacks and reports (lost). Few rows: grouped
    in SQL through ``ix_fraud_labels_since``."""
    lab = fraud_labels.c
    label_month = month_key(conn.dialect.name, lab.labelled_at, timestamp=True)
    label_amount = func.coalesce(lab.amount_minor, 0)
    caught = lab.source == "analyst_verdict"
    return {r.month: dict(confirmed_caught=int(r.cn), confirmed_caught_minor=int(r.ca),
                          lost=int(r.ln), lost_minor=int(r.la)) for r in conn.execute(
        select(label_month.label("month"),
               func.sum(case((caught, 1), else_=0)).label("cn"),
               func.sum(case((caught, label_amount), else_=0)).label("ca"),
               func.sum(case((caught, 0), else_=1)).label("ln"),
               func.sum(case((caught, 0), else_=label_amount)).label("la"))
        .where(lab.is_fraud.is_(True), lab.currency == currency,
               *_time_bounds(lab.labelled_at, day_from, day_to))
        .group_by(label_month))}


_FIELDS = ("screened", "screened_minor", "declined", "declined_minor", "held", "held_minor",
           "confirmed_caught", "confirmed_caught_minor", "lost", "lost_minor")


def fraud_by_month(conn: Any, *, currency: str, day_from: dt.date | None = None,
                   day_to: dt.date | None = None) -> list[FraudMonth]:
    """One row per month with any screening or label in [day_from, day_to] (UTC days),
    ordered by month."""
    _check(day_from, day_to)
    screened = _screenings_by_month(conn, currency, day_from, day_to)
    labelled = _labels_by_month(conn, currency, day_from, day_to)
    return [FraudMonth(month=key, **{**dict.fromkeys(_FIELDS, 0), **screened.get(key, {}),
                                     **labelled.get(key, {})})
            for key in sorted(set(screened) | set(labelled))]


def fraud_losses_by_month(conn: Any, *, currency: str, day_from: dt.date | None = None,
                          day_to: dt.date | None = None) -> list[FraudMonth]:
    """:func:`fraud_by_month` for what the labels say only (the screening fields are 0):
    for callers that need the losses (revenue and losses), without reading the screenings.
    One row per month with a fraud label in the range."""
    _check(day_from, day_to)
    labelled = _labels_by_month(conn, currency, day_from, day_to)
    return [FraudMonth(month=key, **{**dict.fromkeys(_FIELDS, 0), **labelled[key]})
            for key in sorted(labelled)]


@dataclass(frozen=True)
class FraudLossMonth:
    month: str  # YYYY-MM of the payment's first fraud label
    payments: int
    amount_minor: int


def fraud_not_charged_back_by_month(conn: Any, *, currency: str,
                                    day_from: dt.date | None = None,
                                    day_to: dt.date | None = None) -> list[FraudLossMonth]:
    """Fraud the platform bears: payments labelled fraud by a consumer report and not
    charged back to the merchant (no ``chargeback`` label on the same subject; a chargeback
    puts the loss on the merchant), per month of the payment's first such label in
    [day_from, day_to]. One payment counts once whatever the number of reports (its
    largest labelled amount). A chargeback arriving later takes the payment out of the
    month it was counted in: the figure is as of now."""
    from sqlalchemy import exists
    from sqlalchemy.orm import aliased

    _check(day_from, day_to)
    lab = fraud_labels.c
    back = aliased(fraud_labels)
    charged_back = exists().where(back.c.source == "chargeback",
                                  back.c.subject_type == lab.subject_type,
                                  back.c.subject_id == lab.subject_id)
    per_payment = (select(func.min(lab.labelled_at).label("first"),
                          func.max(func.coalesce(lab.amount_minor, 0)).label("amount"))
                   .where(lab.is_fraud.is_(True), lab.source == "consumer_report",
                          lab.currency == currency, ~charged_back)
                   .group_by(lab.subject_type, lab.subject_id).subquery())
    first = per_payment.c.first
    label_month = month_key(conn.dialect.name, first, timestamp=True)
    rows = conn.execute(select(label_month.label("month"), func.count().label("n"),
                               func.sum(per_payment.c.amount).label("a"))
                        .where(*_time_bounds(first, day_from, day_to))
                        .group_by(label_month).order_by(label_month))
    return [FraudLossMonth(r.month, int(r.n), int(r.a)) for r in rows]


def _check(day_from: dt.date | None, day_to: dt.date | None) -> None:
    if day_from is not None and day_to is not None and day_from > day_to:
        raise ValidationError("must not be after 'to'", field="from")
