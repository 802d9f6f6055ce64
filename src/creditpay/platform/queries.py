"""Public reads of the platform services' tables for packages above them (reporting).

Nothing outside platform imports :mod:`creditpay.platform.tables`; the audit chain is
written by :func:`creditpay.platform.audit.append` and read here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from creditpay.platform.tables import audit_records

__all__ = ["first_audit_payload"]


def first_audit_payload(conn: Connection, *, action: str, subject_type: str,
                        subject_id: str) -> dict[str, Any] | None:
    """The payload of the oldest audit record of ``action`` on the subject, None when there
    is none (a use case that records its result once reads it back to replay)."""
    r = audit_records.c
    row = conn.execute(select(r.payload).where(r.action == action,
                                               r.subject_type == subject_type,
                                               r.subject_id == subject_id)
                       .order_by(r.id).limit(1)).first()
    return None if row is None else dict(row.payload)
