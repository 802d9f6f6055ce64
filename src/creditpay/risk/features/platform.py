"""The platform event table of one customer, read through the owning domains' public reads.

:func:`platform_events` builds the table :func:`creditpay.risk.decisions.service.decide`
takes as ``platform_events`` from :func:`creditpay.payments.history.customer_activity`
(payments, refunds, top-ups, failed top-ups, declined payments) and
:func:`creditpay.parties.devices.device_sightings` (device registrations and sign-ins). The
risk domain reads no other domain's table. Repayment history (``credit_drawdown``,
``repayment``, ``repayment_late``) is not exposed by the credit domain yet; a caller that has
it appends those rows itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

__all__ = ["LOOKBACK_DAYS", "platform_events"]

# The longest look-back a feature needs is 180 days, but tenure needs the first event: read
# two years, enough for tenure up to the figures the scorecards bin (older is "long").
LOOKBACK_DAYS = 730


def platform_events(conn: Connection, customer_id: str, *, as_of: dt.datetime
                    ) -> list[dict[str, Any]]:
    """Rows ``customer_id, occurred_at, kind, amount_minor, merchant_category, device_id`` of
    the customer's activity in ``[as_of − LOOKBACK_DAYS, as_of)``, oldest first."""
    from creditpay.parties.devices import device_sightings
    from creditpay.payments.history import customer_activity

    since = as_of - dt.timedelta(days=LOOKBACK_DAYS)
    rows = [{"customer_id": customer_id, "occurred_at": a["occurred_at"], "kind": a["kind"],
             "amount_minor": a["amount_minor"], "merchant_category": a["category"],
             "device_id": None}
            for a in customer_activity(conn, customer_id, before=as_of, since=since)]
    rows += [{"customer_id": customer_id, "occurred_at": s["occurred_at"],
              "kind": "device_seen", "amount_minor": 0, "merchant_category": None,
              "device_id": s["device_id"]}
             for s in device_sightings(conn, customer_id, before=as_of, since=since)]
    rows.sort(key=lambda row: row["occurred_at"])
    return rows
