"""Read-only payment figures for other domains' reports (risk early warning, data sharing,
the data-subject export and erasure of :mod:`creditpay.reporting.subject_rights`).

:func:`daily_screening_counts` implements risk's
:class:`~creditpay.risk.early_warning.ports.ScreeningSource` (the type it returns is
risk's: risk defines what it needs and may not import payments).

Nothing here writes; each function is one aggregate statement (per day, for the screening
counts) over the payments domain's own tables, so callers never read ``payment_intents``
or ``wallet_operations`` themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from creditpay.errors import ValidationError
from creditpay.payments.cross_border_tables import payment_fx
from creditpay.payments.tables import (
    payment_captures,
    payment_intents,
    payment_refunds,
    wallet_operations,
)
from creditpay.platform.validators import check_date
from creditpay.risk.early_warning.ports import ScreeningCounts

__all__ = ["ScreeningCounts", "daily_screening_counts", "SCREENING_DAYS_MAX",
           "CapturedTotal", "captured_totals", "IntentTotal", "WalletTotal",
           "CustomerPayments", "customer_payments", "last_payment_activity",
           "PaidIntent", "customer_paid_intents", "CrossBorderTotal", "cross_border_totals"]

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
        check_date(value, name)
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


@dataclass(frozen=True)
class IntentTotal:
    """The customer's payment intents of one currency, status and funding: how many, and
    the sums (minor units of ``currency``) asked, captured and refunded."""

    currency: str
    status: str
    funding: str
    count: int
    amount_minor: int
    captured_minor: int
    refunded_minor: int


@dataclass(frozen=True)
class WalletTotal:
    """The customer's wallet operations of one currency, kind and status: how many, and
    their sum in minor units of ``currency``."""

    currency: str
    kind: str
    status: str
    count: int
    amount_minor: int


@dataclass(frozen=True)
class CustomerPayments:
    """A summary of one customer's payments, each list in key order."""

    intents: list[IntentTotal]
    wallet: list[WalletTotal]


def customer_payments(conn: Connection, customer_id: str) -> CustomerPayments:
    """The customer's payment intents and wallet operations totalled per kind (two
    statements, whatever the number of payments)."""
    p, w = payment_intents.c, wallet_operations.c
    intents = [IntentTotal(r.currency, r.status, r.funding, int(r.n), int(r.amount),
                           int(r.captured), int(r.refunded))
               for r in conn.execute(
                   select(p.currency, p.status, p.funding, func.count().label("n"),
                          func.sum(p.amount_minor).label("amount"),
                          func.sum(p.captured_minor).label("captured"),
                          func.sum(p.refunded_minor).label("refunded"))
                   .where(p.customer_id == customer_id)
                   .group_by(p.currency, p.status, p.funding)
                   .order_by(p.currency, p.status, p.funding))]
    wallet = [WalletTotal(r.currency, r.kind, r.status, int(r.n), int(r.amount))
              for r in conn.execute(
                  select(w.currency, w.kind, w.status, func.count().label("n"),
                         func.sum(w.amount_minor).label("amount"))
                  .where(w.customer_id == customer_id)
                  .group_by(w.currency, w.kind, w.status)
                  .order_by(w.currency, w.kind, w.status))]
    return CustomerPayments(intents, wallet)


def last_payment_activity(conn: Connection, customer_id: str) -> dt.datetime | None:
    """When the customer's latest payment intent or wallet operation was created, aware
    UTC; None when there is none (one statement)."""
    p, w = payment_intents.c, wallet_operations.c
    row = conn.execute(select(
        select(func.max(p.created_at)).where(p.customer_id == customer_id)
        .scalar_subquery(),
        select(func.max(w.created_at)).where(w.customer_id == customer_id)
        .scalar_subquery())).one()
    # SQLite hands back naive UTC; an aware value is returned as stored.
    known = [value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
             for value in row if value is not None]
    return max(known) if known else None


@dataclass(frozen=True)
class PaidIntent:
    """One of a customer's payments that was captured (minor units of ``currency``)."""

    intent_id: str
    merchant_id: str
    currency: str
    captured_minor: int
    refunded_minor: int
    funding: str | None
    paid_at: dt.datetime  # confirmed (else created), aware UTC


def customer_paid_intents(conn: Connection, customer_id: str, *, limit: int
                          ) -> list[PaidIntent]:
    """The customer's latest ``limit`` captured payments, newest first (one statement):
    what the assistant proposes to dispute (issue #20)."""
    p = payment_intents.c
    paid_at = func.coalesce(p.confirmed_at, p.created_at)
    rows = conn.execute(select(p.id, p.merchant_id, p.currency, p.captured_minor,
                               p.refunded_minor, p.funding, paid_at.label("paid_at"))
                        .where(p.customer_id == customer_id, p.status == "succeeded",
                               p.captured_minor > 0)
                        .order_by(p.seq.desc()).limit(limit)).all()
    return [PaidIntent(r.id, r.merchant_id, r.currency, int(r.captured_minor),
                       int(r.refunded_minor), r.funding,
                       r.paid_at if r.paid_at.tzinfo is not None
                       else r.paid_at.replace(tzinfo=dt.UTC)) for r in rows]


@dataclass(frozen=True)
class CrossBorderTotal:
    """Payments abroad (issue #21) over a period, for one merchant country and currency:
    captures and refunds in the merchant's currency and in the consumer's home currency
    (CNY, at each payment's accepted quote), and the FX markup of the captured payments."""

    merchant_country: str
    currency: str
    home_currency: str
    payments: int
    amount_minor: int
    home_amount_minor: int
    refunds: int
    refunded_minor: int
    refunded_home_minor: int
    fx_markup_home_minor: int


def cross_border_totals(conn: Connection, start: dt.date, end: dt.date
                        ) -> list[CrossBorderTotal]:
    """Captures and refunds of payments in a foreign currency whose business date is in
    ``[start, end]`` (inclusive), by merchant country and currency (sorted)."""
    for name, value in (("start", start), ("end", end)):
        check_date(value, name)
    if end < start:
        raise ValidationError("must not be before start", field="end")
    f = payment_fx.c
    groups: dict[tuple[str, str, str], list[int]] = {}
    for table, offset in ((payment_captures, 0), (payment_refunds, 4)):
        t = table.c
        query = (select(f.merchant_country, t.currency, f.sell_currency, func.count(),
                        func.sum(t.amount_minor), func.sum(t.home_amount_minor),
                        func.sum(f.markup_minor))
                 .select_from(table.join(payment_fx, (f.intent_id == t.intent_id)
                                         & (f.status == "accepted")))
                 .where(t.business_date >= start, t.business_date <= end,
                        t.home_amount_minor.is_not(None))
                 .group_by(f.merchant_country, t.currency, f.sell_currency))
        for row in conn.execute(query):
            g = groups.setdefault((row[0], row[1], row[2]), [0] * 8)
            g[offset:offset + 3] = [int(row[3]), int(row[4] or 0), int(row[5] or 0)]
            if offset == 0:
                g[3] = int(row[6] or 0)  # one capture per payment: its quote's markup
    return [CrossBorderTotal(country, currency, home, g[0], g[1], g[2], g[4], g[5], g[6], g[3])
            for (country, currency, home), g in sorted(groups.items())]
