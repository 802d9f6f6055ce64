"""Public reads of consumer-protection records of one customer, for the data-subject export
(:mod:`creditpay.reporting.subject_rights`), so nothing outside protection imports
:mod:`creditpay.protection.tables`.

Consents are read with :func:`creditpay.protection.consent.current_consents` and
:func:`~creditpay.protection.consent.consent_history`, complaints with
:func:`creditpay.protection.complaints.customer_complaints`; the disclosures the customer
accepted and the collection contacts attempted with them are read here, one statement each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select

from creditpay.protection.tables import collection_contacts, disclosure_acceptances

__all__ = ["AcceptanceRecord", "customer_acceptances", "ContactRecord",
           "customer_contacts"]


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC; an aware value is returned as stored.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class AcceptanceRecord:
    """A key-facts disclosure the customer accepted, with the document itself (the exact
    HTML shown, which is the customer's own record) and its SHA-256; ``accepted_at`` aware
    UTC."""

    id: int
    offer_id: str
    customer_id: str
    language: str
    template_version: str
    document_sha256: str
    document_html: str
    channel: str
    accepted_at: dt.datetime


def customer_acceptances(conn: Connection, customer_id: str, *, limit: int
                         ) -> list[AcceptanceRecord]:
    """The disclosures the customer accepted, in the order accepted, at most ``limit`` (one
    statement)."""
    a = disclosure_acceptances.c
    return [AcceptanceRecord(r.id, r.offer_id, r.customer_id, r.language, r.template_version,
                             r.document_sha256, r.document_html, r.channel,
                             _aware(r.accepted_at))
            for r in conn.execute(select(a.id, a.offer_id, a.customer_id, a.language,
                                         a.template_version, a.document_sha256,
                                         a.document_html, a.channel, a.accepted_at)
                                  .where(a.customer_id == customer_id)
                                  .order_by(a.id).limit(limit))]


@dataclass(frozen=True)
class ContactRecord:
    """A collection contact attempted with the customer: the account it was about, the
    channel, when (aware UTC), whether the fair-collections rules allowed it and the rule
    that decided (``allowed`` or the rule that refused). No contact reference."""

    account_id: str
    channel: str
    attempted_at: dt.datetime
    allowed: bool
    rule: str


def customer_contacts(conn: Connection, customer_id: str, *, limit: int
                      ) -> list[ContactRecord]:
    """The collection contacts attempted with the customer, in the order attempted, at most
    ``limit`` (one statement)."""
    c = collection_contacts.c
    return [ContactRecord(r.account_id, r.channel, _aware(r.attempted_at), r.allowed, r.rule)
            for r in conn.execute(select(c.account_id, c.channel, c.attempted_at, c.allowed,
                                         c.rule).where(c.customer_id == customer_id)
                                  .order_by(c.id).limit(limit))]
