"""The record of bureau pulls (``bureau_pulls``, owned by risk.decisions): the one writer,
the reads :mod:`creditpay.risk.bureau` uses and the list of a customer's inquiries the
data-subject export shows, so no other module imports the table.

Reports are stored as the bureau's JSON document with its SHA-256; an erased report is
``{"erased": True}`` (:mod:`creditpay.risk.decisions.erasure`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select

from creditpay.db.uow import Tx
from creditpay.risk.decisions.tables import bureau_pulls

__all__ = ["StoredPull", "record_pull", "stored_pull", "BureauInquiry", "customer_inquiries"]


@dataclass(frozen=True)
class StoredPull:
    """One recorded pull; ``pulled_at`` aware UTC; ``report`` the stored JSON document."""

    id: int
    customer_id: str
    purpose: str
    bureau: str
    consent_reference: str | None
    pulled_at: dt.datetime
    report: dict[str, Any]
    report_sha256: str


# Constant statements built once (a pull is stored and read back at every application).
_INSERT_PULL = bureau_pulls.insert().returning(bureau_pulls.c.id)
_PULL_BY_ID = select(bureau_pulls).where(bureau_pulls.c.id == bindparam("id"))


def record_pull(tx: Tx, *, customer_id: str, purpose: str, bureau: str,
                consent_reference: str | None, report: dict[str, Any],
                report_sha256: str) -> int:
    """Store a pull made at ``tx.now``; returns its id."""
    return int(tx.conn.execute(_INSERT_PULL, {
        "customer_id": customer_id, "purpose": purpose, "bureau": bureau,
        "consent_reference": consent_reference, "pulled_at": tx.now, "report": report,
        "report_sha256": report_sha256}).scalar_one())


def stored_pull(conn: Connection, pull_id: int) -> StoredPull | None:
    """The pull ``pull_id`` as stored, None when there is none."""
    row = conn.execute(_PULL_BY_ID, {"id": pull_id}).first()
    if row is None:
        return None
    pulled_at = row.pulled_at if row.pulled_at.tzinfo is not None else \
        row.pulled_at.replace(tzinfo=dt.UTC)  # SQLite hands back naive UTC
    return StoredPull(int(row.id), row.customer_id, row.purpose, row.bureau,
                      row.consent_reference, pulled_at, dict(row.report or {}),
                      row.report_sha256)


@dataclass(frozen=True)
class BureauInquiry:
    """A pull as the person it was about sees it: who was asked, when and why (not the
    report); ``pulled_at`` aware UTC."""

    id: int
    purpose: str
    bureau: str
    pulled_at: dt.datetime


def customer_inquiries(conn: Connection, customer_id: str, *, limit: int
                       ) -> list[BureauInquiry]:
    """The bureau pulls about ``customer_id`` in the order they were made, at most ``limit``
    (one statement)."""
    p = bureau_pulls.c
    return [BureauInquiry(r.id, r.purpose, r.bureau, r.pulled_at if r.pulled_at.tzinfo
                          is not None else r.pulled_at.replace(tzinfo=dt.UTC))
            for r in conn.execute(select(p.id, p.purpose, p.bureau, p.pulled_at)
                                  .where(p.customer_id == customer_id)
                                  .order_by(p.id).limit(limit))]
