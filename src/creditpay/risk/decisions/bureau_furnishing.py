"""The records of credit-bureau reporting (tables owned by risk.decisions): the platform's
submissions and their records (the furnisher's log) and the simulated bureau's store of what
it ingested. The one writer and the reads :mod:`creditpay.reporting.bureau_reporting` and
:class:`creditpay.risk.bureau.SimulatedBureau` use, so no other module imports the tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select

from creditpay.db.uow import Tx

__all__ = ["StoredSubmission", "ReportedRecord", "next_sequence", "record_submission",
           "month_submissions", "latest_records", "ingest", "customer_tradelines"]


@dataclass(frozen=True)
class StoredSubmission:
    submission_id: str
    month: str
    sequence: int
    kind: str  # original | correction
    bureau: str
    record_count: int
    corrections: int
    checksum: str
    file_name: str
    status: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ReportedRecord:
    """The latest record of an account for a month: its fields, indicator and submission."""

    submission_id: str
    correction_indicator: str
    record: dict[str, Any]
    content_sha256: str


def next_sequence(conn: Connection, month: str) -> int:
    """1 for the month's first submission, then 2, 3, ..."""
    from creditpay.risk.decisions.tables import bureau_submissions

    value = conn.execute(select(func.max(bureau_submissions.c.sequence))
                         .where(bureau_submissions.c.month == month)).scalar()
    return int(value or 0) + 1


def record_submission(tx: Tx, *, submission_id: str, month: str, sequence: int, kind: str,
                      bureau: str, checksum: str, file_name: str, status: str, actor: str,
                      records: Sequence[dict[str, Any]]) -> None:
    """Store a submission made at ``tx.now`` and its records (each: account_id, customer_id,
    correction_indicator, original_submission_id, record, content_sha256)."""
    from creditpay.risk.decisions.tables import bureau_submission_records, bureau_submissions

    tx.conn.execute(bureau_submissions.insert(), {
        "submission_id": submission_id, "month": month, "sequence": sequence, "kind": kind,
        "bureau": bureau, "record_count": len(records),
        "corrections": sum(1 for r in records if r["correction_indicator"]),
        "checksum": checksum, "file_name": file_name, "status": status,
        "created_at": tx.now, "created_by": actor})
    if records:
        tx.conn.execute(bureau_submission_records.insert(), [
            {**r, "submission_id": submission_id, "month": month} for r in records])


def month_submissions(conn: Connection, month: str) -> list[StoredSubmission]:
    """The month's submissions, first to last."""
    from creditpay.risk.decisions.tables import bureau_submissions

    s = bureau_submissions.c
    rows = conn.execute(select(bureau_submissions).where(s.month == month)
                        .order_by(s.sequence)).all()
    return [StoredSubmission(r.submission_id, r.month, int(r.sequence), r.kind, r.bureau,
                             int(r.record_count), int(r.corrections), r.checksum,
                             r.file_name, r.status, r.created_at) for r in rows]


def latest_records(conn: Connection, month: str) -> dict[str, ReportedRecord]:
    """Per account id, the latest record reported for ``month`` (one statement)."""
    from creditpay.risk.decisions.tables import bureau_submission_records

    r = bureau_submission_records.c
    last = (select(r.account_id.label("account_id"), func.max(r.id).label("id"))
            .where(r.month == month).group_by(r.account_id).subquery())
    rows = conn.execute(select(r.account_id, r.submission_id, r.correction_indicator,
                               r.record, r.content_sha256)
                        .join(last, last.c.id == r.id)).all()
    return {row.account_id: ReportedRecord(row.submission_id, row.correction_indicator,
                                           dict(row.record), row.content_sha256)
            for row in rows}


def ingest(tx: Tx, *, bureau: str, submission_id: str,
           records: Sequence[dict[str, Any]]) -> int:
    """The bureau's side: store each record as the account's tradeline for its month,
    replacing that month's row (a correction replaces it, a deletion marks it deleted).
    Each record: the furnished fields with ``correction_indicator``. Returns the count."""
    from creditpay.risk.decisions.tables import bureau_tradelines

    t = bureau_tradelines.c
    months = {record["month"] for record in records}
    for month in sorted(months):  # one month per submission: one pass
        of_month = [record for record in records if record["month"] == month]
        for start in range(0, len(of_month), 500):
            part = of_month[start:start + 500]
            tx.conn.execute(delete(bureau_tradelines).where(and_(
                t.bureau == bureau, t.month == month,
                t.account_id.in_([record["account_id"] for record in part]))))
            tx.conn.execute(bureau_tradelines.insert(), [
                {"bureau": bureau, "account_id": record["account_id"], "month": month,
                 "customer_id": record["customer_id"], "record": dict(record),
                 "deleted": record.get("correction_indicator") == "D",
                 "submission_id": submission_id, "ingested_at": tx.now} for record in part])
    return len(records)


def customer_tradelines(conn: Connection, *, bureau: str, customer_id: str,
                        first_month: str, last_month: str) -> list[dict[str, Any]]:
    """The customer's ingested, not deleted, tradeline records of months in
    ``[first_month, last_month]`` (``YYYY-MM``), by account then month."""
    from creditpay.risk.decisions.tables import bureau_tradelines

    t = bureau_tradelines.c
    rows = conn.execute(select(t.record).where(
        t.bureau == bureau, t.customer_id == customer_id, t.month >= first_month,
        t.month <= last_month, t.deleted.is_(False)).order_by(t.account_id, t.month)).all()
    return [dict(row.record) for row in rows]
