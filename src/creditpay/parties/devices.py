"""Read-only device history of one customer, for credit assessment (risk's features).

:func:`device_sightings` is the parties domain's public read of when a customer used which
of their devices: the device's registration and every sign-in session opened on it. Nothing
here writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, bindparam, select

from creditpay.errors import ValidationError
from creditpay.parties.tables import customer_devices, customer_sessions
from creditpay.platform.validators import check_aware

__all__ = ["SIGHTINGS_MAX", "device_sightings"]

SIGHTINGS_MAX = 20_000  # per source: a bound on one read


def device_sightings(conn: Connection, customer_id: str, *, before: dt.datetime,
                     since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """``[{"occurred_at", "device_id"}]`` in ``[since, before)``, oldest first: each device's
    first registration and each session opened on it. ``device_id`` is the internal device
    id (not the device fingerprint). At most :data:`SIGHTINGS_MAX` newest per source."""
    if not isinstance(customer_id, str) or not customer_id:
        raise ValidationError("customer_id must be a non-empty string", field="customer_id")
    check_aware(before, "before")
    if since is not None:
        check_aware(since, "since")
    rows: list[dict[str, Any]] = []
    params = {"customer_id": customer_id, "before": before}
    if since is not None:
        params["since"] = since
    for query in _SIGHTINGS[since is not None]:
        for row in conn.execute(query, params):
            rows.append({"occurred_at": row.created_at, "device_id": row.device_id})
    rows.sort(key=lambda item: (item["occurred_at"], item["device_id"]))
    return rows


def _sightings_statements(with_since: bool) -> tuple[Any, ...]:
    """device_sightings' reads (registrations, sessions), with ``since`` or without:
    constant statements built once (risk reads the sightings at every decision)."""
    statements = []
    for table in (customer_devices, customer_sessions):
        c = table.c
        device = c.id if table is customer_devices else c.device_id
        query = (select(c.created_at, device.label("device_id"))
                 .where(c.customer_id == bindparam("customer_id"),
                        c.created_at < bindparam("before")))
        if with_since:
            query = query.where(c.created_at >= bindparam("since"))
        statements.append(query.order_by(c.created_at.desc()).limit(SIGHTINGS_MAX))
    return tuple(statements)


_SIGHTINGS = {with_since: _sightings_statements(with_since) for with_since in (False, True)}
