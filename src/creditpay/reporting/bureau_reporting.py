"""Monthly credit-bureau reporting (征信报送; issue #17 item 7; docs/bureau-reporting.md).

:func:`report_month` reports, for a month whose month end is closed, every credit account of
every customer whose consent to bureau reporting (``Purpose.BUREAU_INQUIRY``, "credit bureau
inquiry and reporting") is in force, in one transaction: the records are built by the pure
mapper (:mod:`creditpay.reporting.bureau_mapper`) from credit's month-end read
(:func:`creditpay.credit.bureau_source.month_end_accounts`), stored as a submission with
its records, handed to the bureau (:class:`creditpay.risk.bureau.BureauFurnishing`, which
for the simulator ingests them into its store) and audited.

Run again for a month already reported, it reports only the differences, as corrections
referencing the submission of the record they replace: a record whose content changed
("C"), the records of a customer whose consent is no longer in force (deletions, "D").
Nothing changed: nothing is submitted. Consent is not retroactive: a customer who consents
after a month's first submission is reported from the next month on.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from creditpay.credit.bureau_source import MonthEndAccount, month_end_accounts
from creditpay.credit.queries import last_closed_business_date
from creditpay.db.uow import Tx
from creditpay.errors import StateError, ValidationError
from creditpay.platform import audit
from creditpay.protection.consent import Purpose, consent_histories, in_force_refusal
from creditpay.reporting.bureau_mapper import to_record
from creditpay.risk.bureau import RECORD_FIELDS, BureauFurnishing, TradelineRecord
from creditpay.risk.decisions.bureau_furnishing import (
    latest_records,
    month_submissions,
    next_sequence,
    record_submission,
)

__all__ = ["BureauSubmission", "report_month", "parse_month", "csv_text", "file_name",
           "CSV_COLUMNS", "AUDIT_ACTION"]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CSV_COLUMNS = (*RECORD_FIELDS, "correction_indicator", "original_submission_id")
AUDIT_ACTION = "bureau.submitted"


@dataclass(frozen=True)
class BureauSubmission:
    """The outcome of :func:`report_month`. ``submission_id`` None: nothing to submit (a
    re-run with no difference). ``records``: records submitted, of which ``corrections``
    are corrections or deletions; ``skipped_no_consent``: accounts of the month not reported
    because their customer's consent is not in force."""

    month: str
    submission_id: str | None
    records: int
    corrections: int
    skipped_no_consent: int
    file_name: str | None
    checksum: str | None
    status: str | None
    csv: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, "submission_id": self.submission_id,
                "records": self.records, "corrections": self.corrections,
                "skipped_no_consent": self.skipped_no_consent, "file_name": self.file_name,
                "checksum": self.checksum, "status": self.status}


def parse_month(month: object) -> tuple[str, dt.date]:
    """``YYYY-MM`` and its last day, or ValidationError naming ``month``."""
    if not isinstance(month, str) or _MONTH.match(month) is None:
        raise ValidationError("must be a month as YYYY-MM", field="month")
    year, number = int(month[:4]), int(month[5:7])
    return month, dt.date(year, number, calendar.monthrange(year, number)[1])


def file_name(month: str, sequence: int) -> str:
    """``creditpay_bureau_<YYYYMM>_<NNN>.csv``: NNN 001 the original, then corrections."""
    return f"creditpay_bureau_{month.replace('-', '')}_{sequence:03d}.csv"


def csv_text(records: Sequence[TradelineRecord]) -> str:
    """The submission file: a header row, then one row per record (UTF-8, ``\\n`` line
    ends, fields in :data:`CSV_COLUMNS` order)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow([getattr(record, name) for name in CSV_COLUMNS])
    return out.getvalue()


def _consented(tx: Tx, customer_ids: Sequence[str]) -> set[str]:
    histories = consent_histories(tx.conn, customer_ids)
    return {customer for customer, records in histories.items()
            if in_force_refusal(records, Purpose.BUREAU_INQUIRY) is None}


def _reportable(account: MonthEndAccount) -> bool:
    # A closed account is reported in the month it closed, not every month after.
    return account.status != "closed" or account.open_at_previous_month_end


def report_month(tx: Tx, *, month: str, bureau: BureauFurnishing,
                 actor: str = "bureau_reporting") -> BureauSubmission:
    """Report ``month`` (``YYYY-MM``) to ``bureau`` in the caller's transaction (see the
    module docstring). Refused, changing nothing: a malformed month (ValidationError,
    field ``month``), a month whose month end is not closed or has no stored positions
    (StateError, field ``month``, rule ``bureau.month_not_closed``), a submission the bureau
    rejects (StateError, rule ``bureau.rejected``)."""
    month, month_end = parse_month(month)
    closed = last_closed_business_date(tx.conn)
    accounts = month_end_accounts(tx.conn, month_end) if closed is not None and \
        closed >= month_end else None
    if accounts is None:
        raise StateError(f"the month end {month_end.isoformat()} is not closed (or has no"
                         " stored day-end positions)", field="month",
                         rule="bureau.month_not_closed")
    accounts = [account for account in accounts if _reportable(account)]
    consented = _consented(tx, sorted({account.customer_id for account in accounts}))
    previous = latest_records(tx.conn, month)
    first = not month_submissions(tx.conn, month)
    records: list[TradelineRecord] = []
    skipped = 0
    for account in accounts:
        prior = previous.get(account.account_id)
        if account.customer_id not in consented:
            skipped += 1
            if prior is not None and prior.correction_indicator != "D":
                records.append(replace(TradelineRecord.from_json(prior.record),
                                       correction_indicator="D",
                                       original_submission_id=prior.submission_id))
            continue
        if prior is None:
            if first:
                records.append(to_record(account, month, month_end))
            continue
        if prior.correction_indicator == "D":
            continue  # deleted at the customer's withdrawal: not reported again
        earlier = TradelineRecord.from_json(prior.record)
        # What the month end's positions do not keep is kept as first reported: the limit
        # of a line (limits have no history), the past-due amount once the night is over.
        if account.kind == "line":
            account = replace(account, limit_minor=earlier.credit_limit_minor)
        if account.past_due_minor is None and account.status == "active":
            account = replace(account, past_due_minor=earlier.amount_past_due_minor)
        record = to_record(account, month, month_end)
        if record.content_sha256() != prior.content_sha256:
            records.append(replace(record, correction_indicator="C",
                                   original_submission_id=prior.submission_id))
    corrections = sum(1 for record in records if record.correction_indicator)
    if not records:
        return BureauSubmission(month, None, 0, 0, skipped, None, None, None, None)
    sequence = next_sequence(tx.conn, month)
    submission_id = f"BR{month.replace('-', '')}-{sequence:03d}"
    text = csv_text(records)
    checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
    name = file_name(month, sequence)
    receipt = bureau.submit(tx, submission_id, records)
    if receipt.status != "accepted":
        raise StateError(f"the bureau rejected submission {submission_id}: "
                         + "; ".join(receipt.errors), field="records", rule="bureau.rejected")
    record_submission(
        tx, submission_id=submission_id, month=month, sequence=sequence,
        kind="original" if first else "correction", bureau=bureau.name, checksum=checksum,
        file_name=name, status=receipt.status, actor=actor,
        records=[{"account_id": r.account_id, "customer_id": r.customer_id,
                  "correction_indicator": r.correction_indicator,
                  "original_submission_id": r.original_submission_id or None,
                  "record": r.content(), "content_sha256": r.content_sha256()}
                 for r in records])
    audit.append(tx, "system", actor, AUDIT_ACTION, "bureau_submission", submission_id, {
        "month": month, "records": len(records), "corrections": corrections,
        # the checksum stays in bureau_submissions: a hex digest can hold a run of digits
        # the audit's personal-data scan would take for a phone number
        "skipped_no_consent": skipped, "bureau": bureau.name})
    return BureauSubmission(month, submission_id, len(records), corrections, skipped, name,
                            checksum, receipt.status, text)
