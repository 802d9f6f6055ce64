"""What a consumer may see of their own consent and complaint records (read-only views for
the API's ``/v1/me`` routes; the records themselves are written by
:mod:`creditpay.protection.consent` and :mod:`creditpay.protection.complaints`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select

from creditpay.errors import NotFoundError, ValidationError
from creditpay.platform.validators import check_reference
from creditpay.protection.complaints import Complaint, _complaint
from creditpay.protection.consent import ConsentRecord, Purpose, _load_texts, consent_history
from creditpay.protection.tables import complaints

__all__ = ["ConsentView", "consent_views", "own_consent_record", "list_complaints",
           "COMPLAINTS_LISTED_MAX"]

COMPLAINTS_LISTED_MAX = 100


@dataclass(frozen=True, slots=True)
class ConsentView:
    """One (purpose, partner) as the consumer sees it: its latest record and when it was
    last granted and revoked."""

    id: int  # the latest record (grant or revoke)
    purpose: Purpose
    partner_id: str | None
    partner_name: str | None
    granted: bool  # in force now
    valid: bool  # in force and given to a text version still accepted
    text_version: int
    language: str
    text_sha256: str
    granted_at: dt.datetime | None  # latest grant
    revoked_at: dt.datetime | None  # latest revocation, if it is the current state


def consent_views(conn: Connection, customer_id: str) -> list[ConsentView]:
    """The customer's consents, one per (purpose, partner), sorted by purpose."""
    latest: dict[tuple[Purpose, str | None], ConsentRecord] = {}
    granted_at: dict[tuple[Purpose, str | None], dt.datetime] = {}
    for record in consent_history(conn, customer_id):
        key = (record.purpose, record.partner_id)
        latest[key] = record
        if record.action == "grant":
            granted_at[key] = record.recorded_at
    texts = _load_texts()
    views = []
    for key, record in sorted(latest.items(), key=lambda item: (item[0][0].value,
                                                                item[0][1] or "")):
        granted = record.action == "grant"
        views.append(ConsentView(
            id=record.id, purpose=record.purpose, partner_id=record.partner_id,
            partner_name=record.partner_name, granted=granted,
            valid=granted and record.text_version >= texts[record.purpose].minimum_valid_version,
            text_version=record.text_version, language=record.language,
            text_sha256=record.text_sha256, granted_at=granted_at.get(key),
            revoked_at=None if granted else record.recorded_at))
    return views


def own_consent_record(conn: Connection, customer_id: str, record_id: int) -> ConsentRecord:
    """One of the customer's own consent records; another customer's is NotFoundError."""
    for record in consent_history(conn, customer_id):
        if record.id == record_id:
            return record
    raise NotFoundError(f"no consent {record_id}", field="consent_id")


def list_complaints(conn: Connection, customer_id: str, *,
                    limit: int = COMPLAINTS_LISTED_MAX) -> list[Complaint]:
    """The customer's own complaints, newest first (at most ``limit``)."""
    check_reference(customer_id, "customer_id")
    if isinstance(limit, bool) or not isinstance(limit, int) or \
            not 1 <= limit <= COMPLAINTS_LISTED_MAX:
        raise ValidationError(f"must be from 1 to {COMPLAINTS_LISTED_MAX}", field="limit")
    rows = conn.execute(select(complaints).where(complaints.c.customer_id == customer_id)
                        .order_by(complaints.c.opened_at.desc(), complaints.c.id)
                        .limit(limit)).all()
    return [_complaint(row) for row in rows]
