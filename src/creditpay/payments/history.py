"""Read-only payment history of one customer, for credit assessment (risk's features).

:func:`customer_activity` is the payments domain's public read of what a customer did with
their wallet and at checkouts; the risk domain turns it into point-in-time features only
when the customer consented to that use. It implements risk's
:class:`~creditpay.risk.features.platform.ActivitySource` (risk sits below payments, so the
decision's callers pass it in). Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BindParameter, Connection, and_, bindparam, func, or_, select

from creditpay.errors import ValidationError
from creditpay.payments.tables import payment_intents, payment_refunds, wallet_operations
from creditpay.platform.validators import check_aware
from creditpay.risk.features.platform import ActivityRow

__all__ = ["ACTIVITY_KINDS", "ACTIVITY_ROWS_MAX", "customer_activity"]

ACTIVITY_KINDS = ("payment", "refund", "top_up", "top_up_failed", "payment_declined")
ACTIVITY_ROWS_MAX = 20_000  # per source: a bound on one read, far above a year of activity


def customer_activity(conn: Connection, customer_id: str, *, before: dt.datetime,
                      since: dt.datetime | None = None) -> list[ActivityRow]:
    """The customer's payment activity in ``[since, before)``, oldest first.

    Rows ``{"occurred_at", "kind", "amount_minor", "currency", "category"}``, ``kind`` one of
    :data:`ACTIVITY_KINDS`: ``payment`` (an intent that succeeded, at its confirmation, for
    the amount captured; ``category`` is its scenario), ``refund`` (at the refund), ``top_up``
    and ``top_up_failed`` (card top-ups that succeeded or failed, at their completion) and
    ``payment_declined`` (an intent declined, at its confirmation attempt). Amounts in minor
    units of ``currency``. At most :data:`ACTIVITY_ROWS_MAX` newest rows per source.
    """
    if not isinstance(customer_id, str) or not customer_id:
        raise ValidationError("customer_id must be a non-empty string", field="customer_id")
    check_aware(before, "before")
    if since is not None:
        check_aware(since, "since")
    rows: list[ActivityRow] = []
    top_ups, intents, refunds = _ACTIVITY[since is not None]
    params = {"customer_id": customer_id, "before": before}
    if since is not None:
        params["since"] = since
    for row in conn.execute(top_ups, params):
        rows.append(_row(row.at, "top_up" if row.status == "succeeded" else "top_up_failed",
                         row.amount_minor, row.currency, None))
    for intent in conn.execute(intents, params):
        if intent.status == "declined":
            rows.append(_row(intent.at, "payment_declined", intent.amount_minor,
                             intent.currency, None))
        else:
            rows.append(_row(intent.at, "payment", intent.captured_minor, intent.currency,
                             intent.scenario))
    for refund in conn.execute(refunds, params):
        rows.append(_row(refund.at, "refund", refund.amount_minor, refund.currency, None))
    rows.sort(key=lambda item: (item["occurred_at"], item["kind"]))
    return rows


def _row(at: dt.datetime, kind: str, amount_minor: int, currency: str, category: str | None
         ) -> ActivityRow:
    return ActivityRow(occurred_at=at, kind=kind, amount_minor=int(amount_minor),
                       currency=currency, category=category)


def _activity_statements(with_since: bool) -> tuple[Any, Any, Any]:
    """customer_activity's three reads (top-ups, intents, refunds), with a lower bound
    ``since`` or without: constant statements built once (the values are parameters), so
    SQLAlchemy compiles and keys each once (risk reads the activity at every decision)."""
    customer: BindParameter[str] = bindparam("customer_id")
    before: BindParameter[dt.datetime] = bindparam("before")
    since: BindParameter[dt.datetime] = bindparam("since")
    w = wallet_operations.c
    done_at = func.coalesce(w.completed_at, w.created_at)
    window = [done_at < before] + ([done_at >= since] if with_since else [])
    top_ups = (select(done_at.label("at"), w.status, w.amount_minor, w.currency)
               .where(w.customer_id == customer, w.kind == "topup",
                      w.status.in_(("succeeded", "failed")), *window)
               .order_by(w.seq.desc()).limit(ACTIVITY_ROWS_MAX))
    i = payment_intents.c
    tried_at = func.coalesce(i.confirmed_at, i.created_at)
    window = [tried_at < before] + ([tried_at >= since] if with_since else [])
    intents = (select(tried_at.label("at"), i.status, i.amount_minor, i.captured_minor,
                      i.currency, i.scenario)
               .where(i.customer_id == customer, *window, or_(
                   i.status == "declined",
                   and_(i.status == "succeeded", i.captured_minor > 0)))
               .order_by(i.seq.desc()).limit(ACTIVITY_ROWS_MAX))
    r = payment_refunds.c
    window = [r.created_at < before] + ([r.created_at >= since] if with_since else [])
    refunds = (select(r.created_at.label("at"), r.amount_minor, r.currency)
               .select_from(payment_refunds.join(payment_intents, i.id == r.intent_id))
               .where(i.customer_id == customer, *window)
               .order_by(r.created_at.desc()).limit(ACTIVITY_ROWS_MAX))
    return top_ups, intents, refunds


_ACTIVITY = {with_since: _activity_statements(with_since) for with_since in (False, True)}
