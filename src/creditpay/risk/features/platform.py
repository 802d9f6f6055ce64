"""The platform event table of one customer, read through the owning domains' public reads.

:func:`platform_events` builds the table :func:`creditpay.risk.decisions.service.decide`
takes as ``platform_events`` from the caller's :class:`ActivitySource` (payments, refunds,
top-ups, failed top-ups, declined payments: :func:`creditpay.payments.history
.customer_activity` implements it; risk sits below payments, so the caller passes it in)
and :func:`creditpay.parties.devices.device_sightings` (device registrations and sign-ins).
The risk domain reads no other domain's table. Repayment history (``credit_drawdown``,
``repayment``, ``repayment_late``) is not exposed by the credit domain yet; a caller that has
it appends those rows itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol, TypedDict

from sqlalchemy import Connection

__all__ = ["LOOKBACK_DAYS", "ActivityRow", "ActivitySource", "platform_events"]

# The longest look-back a feature needs is 180 days, but tenure needs the first event: read
# two years, enough for tenure up to the figures the scorecards bin (older is "long").
LOOKBACK_DAYS = 730


class ActivityRow(TypedDict):
    """One thing the customer did with their wallet or at a checkout. ``kind``: ``payment``,
    ``refund``, ``top_up``, ``top_up_failed`` or ``payment_declined``; ``amount_minor`` in
    minor units of ``currency``; ``category``: the payment's scenario (payments only)."""

    occurred_at: dt.datetime
    kind: str
    amount_minor: int
    currency: str
    category: str | None


class ActivitySource(Protocol):
    """The customer's payment activity in ``[since, before)``, oldest first (aware times)."""

    def __call__(self, conn: Connection, customer_id: str, *, before: dt.datetime,
                 since: dt.datetime | None = None) -> Sequence[ActivityRow]: ...


def platform_events(conn: Connection, customer_id: str, *, as_of: dt.datetime,
                    activity: ActivitySource) -> list[dict[str, Any]]:
    """Rows ``customer_id, occurred_at, kind, amount_minor, merchant_category, device_id`` of
    the customer's activity in ``[as_of − LOOKBACK_DAYS, as_of)``, oldest first.
    ``activity``: the payments domain's read (``payments.history.customer_activity``)."""
    from creditpay.parties.devices import device_sightings

    since = as_of - dt.timedelta(days=LOOKBACK_DAYS)
    rows: list[dict[str, Any]] = [
        {"customer_id": customer_id, "occurred_at": a["occurred_at"], "kind": a["kind"],
         "amount_minor": a["amount_minor"], "merchant_category": a["category"],
         "device_id": None}
        for a in activity(conn, customer_id, before=as_of, since=since)]
    rows += [{"customer_id": customer_id, "occurred_at": s["occurred_at"],
              "kind": "device_seen", "amount_minor": 0, "merchant_category": None,
              "device_id": s["device_id"]}
             for s in device_sightings(conn, customer_id, before=as_of, since=since)]
    rows.sort(key=lambda row: row["occurred_at"])
    return rows
