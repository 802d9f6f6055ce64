"""Data-subject rights: access (export everything held on a person) and erasure.

* :func:`export_subject` gathers, for one customer, the profile with the personal data
  decrypted (the export is for the person themself), devices and cards (no secrets), consents,
  accepted disclosures, credit lines and accounts, repayments, credit decisions, payments
  summary, affordability checks, complaints and collections contacts, as one JSON-ready dict;
  the access is audited (``subject.exported``) in the same transaction.
* :func:`erase_subject` anonymises what no retention duty requires any more. It refuses,
  naming the duty, while the person owes or may still draw credit, and within the regulatory
  retention period after the last financial activity; otherwise it replaces the personal-data
  ciphertexts with NULL and the blind indexes (and other linkable identifiers) with
  per-customer tombstones, revokes sessions, has the risk domain erase the raw inputs of
  its credit decisions (application, bureau reports, platform histories:
  :mod:`creditpay.risk.decisions.erasure`), drops the text of every vaulted note about the
  person (:mod:`creditpay.platform.notes`), and records the erasure (``subject.erased``
  audit record, holding the SHA-256 of the caller's key rather than the key, and an outbox
  event). Idempotent on the caller's key.

Every domain reads and erases its own rows; this module calls only their public functions
(one statement per export section, whatever the number of rows): parties
(:mod:`creditpay.parties.queries`, :mod:`creditpay.parties.erasure`), credit
(:mod:`creditpay.credit.queries`, :func:`creditpay.credit.service.list_accounts`), consumer
protection (:mod:`creditpay.protection.consent`, :func:`creditpay.protection.complaints.
customer_complaints`, :mod:`creditpay.protection.queries`, :mod:`creditpay.protection.
erasure`), payments (:mod:`creditpay.payments.reporting`, disputes:
:mod:`creditpay.payments.disputes_subject`), credit's hardship
(:func:`creditpay.credit.hardship.list_requests`, :func:`creditpay.credit.hardship.
customer_arrangements`), the assistant (:mod:`creditpay.assistant.subject`), risk
(:mod:`creditpay.risk.decisions.queries`, :mod:`creditpay.risk.decisions.bureau_pulls`,
:mod:`creditpay.risk.decisions.erasure`) and the platform services (audit, notes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from creditpay.assistant.subject import customer_transcripts, erase_customer_transcripts
from creditpay.credit.calendar import add_months
from creditpay.credit.hardship import customer_arrangements, list_requests
from creditpay.credit.queries import (
    OpenCredit,
    customer_affordability_checks,
    customer_lines,
    customer_repayments,
    last_credit_activity,
    open_credit,
)
from creditpay.credit.service import list_accounts
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.parties.erasure import erase_customer
from creditpay.parties.queries import (
    ERASED_PASSWORD,
    PERSONAL_DATA_FIELDS,
    CustomerRecord,
    customer_record,
    list_customer_cards,
    list_customer_devices,
    personal_data,
)
from creditpay.payments.disputes_subject import customer_disputes, erase_customer_disputes
from creditpay.payments.reporting import customer_payments, last_payment_activity
from creditpay.platform import audit
from creditpay.platform.notes import erase_customer_notes
from creditpay.platform.purposes import AccessPurpose, check_purpose
from creditpay.platform.queries import first_audit_payload
from creditpay.platform.tombstones import TOMBSTONE_PREFIX
from creditpay.platform.vault import Vault
from creditpay.protection.complaints import customer_complaints
from creditpay.protection.consent import consent_history, current_consents
from creditpay.protection.erasure import erase_customer_contacts
from creditpay.protection.queries import customer_acceptances, customer_contacts
from creditpay.risk.decisions.bureau_pulls import customer_inquiries
from creditpay.risk.decisions.erasure import erase_customer_inputs
from creditpay.risk.decisions.queries import decision_records, last_decided_at

__all__ = ["RetentionPolicy", "DEFAULT_RETENTION", "ErasureResult", "export_subject",
           "erase_subject", "retention_status", "EXPORT_FORMAT_VERSION", "PII_FIELDS",
           "TOMBSTONE_PREFIX", "ERASED_PASSWORD"]

EXPORT_FORMAT_VERSION = 1
ROWS_MAX = 10_000  # per section: a person has dozens of rows, a bound stops runaway exports
PII_FIELDS = PERSONAL_DATA_FIELDS  # the names this module has always exported them under
ACTION_EXPORTED = "subject.exported"
ACTION_ERASED = "subject.erased"
_KEY_CHARS_MAX = 64
# TOMBSTONE_PREFIX and ERASED_PASSWORD are re-exported: the values an erased customer's rows
# carry (written by parties.erasure and protection.erasure).


@dataclass(frozen=True)
class RetentionPolicy:
    """Regulatory retention of a customer's records after the relationship ends.

    ``retention_months`` (default 60: five years, the PRC anti-money-laundering record
    keeping duty for customer identity and transaction records after the business
    relationship ends) runs from the last financial activity: credit account or line change,
    repayment, payment, wallet operation or credit decision. A person who never had any
    keeps no duty.
    """

    version: int = 1
    retention_months: int = 60
    duty: str = "AML customer and transaction records retention (5 years after the" \
                " relationship ends)"

    def __post_init__(self) -> None:
        if isinstance(self.retention_months, bool) or not isinstance(
                self.retention_months, int) or not 0 <= self.retention_months <= 1200:
            raise ValidationError("must be 0..1200 months", field="retention_months")


DEFAULT_RETENTION = RetentionPolicy()


def _iso(value: Any) -> Any:
    # datetimes come back aware UTC from every store (db.metadata.UtcDateTime)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _customer(conn: Connection, customer_id: str) -> CustomerRecord:
    if not isinstance(customer_id, str) or not 1 <= len(customer_id) <= 32:
        raise ValidationError("must be a customer id (1-32 characters)", field="customer_id")
    record = customer_record(conn, customer_id)
    if record is None:
        raise NotFoundError(f"no customer {customer_id}", field="customer_id")
    return record


# ----------------------------------------------------------------------------- export
def _profile(record: CustomerRecord, vault: Vault) -> dict[str, Any]:
    return {"customer_id": record.customer_id, "status": record.status,
            "erased": record.erased, **personal_data(vault, record),
            "kyc_status": record.kyc_status, "kyc_verified_at": _iso(record.kyc_verified_at),
            "locale": record.locale, "created_at": _iso(record.created_at)}


def _rows(rows: list[Any]) -> list[dict[str, Any]]:
    """Typed rows (dataclasses) as JSON-ready dicts, fields in declaration order."""
    return [{f.name: _iso(getattr(row, f.name)) for f in dataclasses.fields(row)}
            for row in rows]


def _payments_summary(conn: Connection, customer_id: str) -> dict[str, Any]:
    totals = customer_payments(conn, customer_id)
    return {"payment_intents": _rows(totals.intents), "wallet_operations": _rows(totals.wallet)}


def export_subject(tx: Tx, vault: Vault, customer_id: str, *, actor_type: str = "customer",
                   actor_id: str | None = None,
                   purpose: str = AccessPurpose.DATA_SUBJECT_REQUEST.value) -> dict[str, Any]:
    """Everything held on ``customer_id`` as a JSON-ready dict, personal data decrypted.

    Only for delivery to the person themself (or staff acting on their verified request:
    ``actor_type="staff"``); the access is appended to the audit log in ``tx`` with
    ``purpose``, a code of :class:`~creditpay.platform.purposes.AccessPurpose`.
    """
    purpose = check_purpose(purpose)
    conn = tx.conn
    record = _customer(conn, customer_id)
    if actor_type not in ("customer", "staff"):
        raise ValidationError("must be customer or staff", field="actor_type")
    actor = actor_id or customer_id
    if actor_type == "customer" and actor != customer_id:
        raise ValidationError("a customer can only export their own data", field="actor_id")
    document: dict[str, Any] = {
        "format_version": EXPORT_FORMAT_VERSION,
        "generated_at": tx.now.isoformat(),
        "profile": _profile(record, vault),
        "devices": _rows(list_customer_devices(conn, customer_id, limit=ROWS_MAX)),
        "cards": _rows(list_customer_cards(conn, customer_id, limit=ROWS_MAX)),
        "consents": {
            "current": [{"purpose": s.purpose.value, "partner_id": s.partner_id,
                         "granted": s.granted, "valid": s.valid,
                         "text_version": s.text_version, "since": _iso(s.since)}
                        for s in current_consents(conn, customer_id)],
            "history": [{"id": r.id, "purpose": r.purpose.value, "partner_id": r.partner_id,
                         "partner_name": r.partner_name, "action": r.action,
                         "text_version": r.text_version, "language": r.language,
                         "text_sha256": r.text_sha256, "channel": r.channel,
                         "recorded_at": _iso(r.recorded_at)}
                        for r in consent_history(conn, customer_id)]},
        "disclosures_accepted": _rows(customer_acceptances(conn, customer_id, limit=ROWS_MAX)),
        "credit_lines": _rows(customer_lines(conn, customer_id, limit=ROWS_MAX)),
        "credit_accounts": [{k: _iso(v) for k, v in view.__dict__.items()}
                            for view in list_accounts(conn, customer_id)],
        "repayments": _rows(customer_repayments(conn, customer_id, limit=ROWS_MAX)),
        "credit_decisions": _rows(decision_records(conn, customer_id, limit=ROWS_MAX)),
        "bureau_inquiries": _rows(customer_inquiries(conn, customer_id, limit=ROWS_MAX)),
        "payments": _payments_summary(conn, customer_id),
        "affordability_checks": _rows(customer_affordability_checks(conn, customer_id,
                                                                    limit=ROWS_MAX)),
        "complaints": [complaint.as_dict() for complaint in
                       customer_complaints(conn, customer_id, limit=ROWS_MAX)],
        "collections_contacts": _rows(customer_contacts(conn, customer_id, limit=ROWS_MAX)),
        # Issue #20: hardship requests (the consumer's statement stays in the notes vault:
        # its reference here) and arrangements, disputes with their events, and the
        # assistant's conversations with their (masked) turns.
        "hardship_requests": list_requests(conn, customer_id=customer_id, limit=ROWS_MAX),
        "hardship_arrangements": customer_arrangements(conn, customer_id, limit=ROWS_MAX),
        "disputes": customer_disputes(conn, customer_id, limit=ROWS_MAX),
        "assistant_conversations": customer_transcripts(conn, customer_id, limit=ROWS_MAX),
    }
    sections = sorted(k for k in document if k not in ("format_version", "generated_at"))
    audit.append(tx, actor_type, actor, ACTION_EXPORTED, "customer", customer_id,
                 {"sections": sections, "purpose": purpose,
                  "personal_data_fields": [f for f in PII_FIELDS
                                           if document["profile"][f] is not None]})
    return document


# ----------------------------------------------------------------------------- retention
@dataclass(frozen=True)
class RetentionStatus:
    open_credit: list[str]  # what is still open, e.g. "account plan_x owes 1200"
    last_activity: dt.datetime | None
    retained_until: dt.date | None

    def blocking(self, today: dt.date) -> bool:
        return bool(self.open_credit) or (self.retained_until is not None
                                          and today < self.retained_until)


def _open_credit_text(item: OpenCredit) -> str:
    if item.kind == "account_owing":
        return (f"credit account {item.ref} is open with {item.amount_minor} minor units"
                " owed")
    if item.kind == "account_recoverable":
        return (f"credit account {item.ref} has {item.amount_minor} minor units written off"
                " and still recoverable")
    return (f"credit line {item.ref} is {item.status} with a limit of {item.amount_minor}"
            " minor units (lower it to 0 or close it)")


def retention_status(conn: Connection, customer_id: str,
                     policy: RetentionPolicy = DEFAULT_RETENTION) -> RetentionStatus:
    """Open credit of the customer and the end of the retention period (read-only)."""
    candidates = [
        last_credit_activity(conn, customer_id),
        last_payment_activity(conn, customer_id),
        # A credit application is a record of the relationship too, approved or not (the
        # lender must be able to show how it decided).
        last_decided_at(conn, customer_id),
    ]
    known = [c for c in candidates if c is not None]
    last = max(known) if known else None
    until = None if last is None else add_months(last.date(), policy.retention_months)
    return RetentionStatus([_open_credit_text(item) for item in open_credit(conn, customer_id)],
                           last, until)


# ----------------------------------------------------------------------------- erasure
@dataclass(frozen=True)
class ErasureResult:
    customer_id: str
    erased_at: str
    idempotency_key: str
    fields_erased: list[str]
    devices_erased: int
    cards_erased: int
    sessions_revoked: int
    collections_contacts_erased: int
    retention_policy_version: int
    replayed: bool = False
    # The risk domain's part (creditpay.risk.decisions.erasure); 0 in erasures recorded
    # before it existed.
    credit_decisions_anonymised: int = 0
    platform_histories_deleted: int = 0
    bureau_reports_erased: int = 0
    # Vaulted free-text notes about the person (platform.notes); 0 in older erasures.
    notes_erased: int = 0
    # Issue #20: disputes whose consumer's words were dropped (payments), assistant turns
    # emptied (assistant); 0 in older erasures. Hardship statements and decision notes are
    # vaulted notes (counted above).
    disputes_erased: int = 0
    assistant_turns_erased: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _key_digest(idempotency_key: str) -> str:
    # The caller chooses the key, so it is caller-supplied text: the chain keeps its digest.
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()


def erase_subject(tx: Tx, customer_id: str, *, idempotency_key: str,
                  actor_id: str = "compliance",
                  policy: RetentionPolicy = DEFAULT_RETENTION) -> ErasureResult:
    """Anonymise the customer's personal data if no retention duty remains.

    Refuses with StateError (``rule`` ``erasure.open_credit`` or ``erasure.retention``,
    naming the duty and the date it ends) and changes nothing otherwise. A repeat with the
    same key returns the first result; the customer already erased under another key is a
    StateError (``erasure.already_erased``) naming the first key's date. Each domain erases
    its own rows (parties, protection, risk, platform notes), all in ``tx``.
    """
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= _KEY_CHARS_MAX:
        raise ValidationError(f"must be 1-{_KEY_CHARS_MAX} characters",
                              field="idempotency_key")
    _customer(tx.conn, customer_id)
    stored = first_audit_payload(tx.conn, action=ACTION_ERASED, subject_type="customer",
                                 subject_id=customer_id)
    if stored is not None:
        # Erasures recorded before the digest kept the raw key.
        raw = stored.pop("idempotency_key", None)
        digest = stored.pop("idempotency_key_sha256", None)
        if (digest or _key_digest(str(raw))) != _key_digest(idempotency_key):
            raise StateError(f"customer {customer_id} was already erased on"
                             f" {stored['erased_at']}", field="customer_id",
                             rule="erasure.already_erased")
        return ErasureResult(**{**stored, "idempotency_key": idempotency_key,
                                "replayed": True})
    status = retention_status(tx.conn, customer_id, policy)
    if status.open_credit:
        raise StateError("cannot erase while credit is open (the lender must keep the"
                         " records of a credit agreement in force): "
                         + "; ".join(status.open_credit), field="customer_id",
                         rule="erasure.open_credit", duty="open credit agreement")
    if status.last_activity is not None and status.retained_until is not None \
            and tx.today < status.retained_until:
        raise StateError(f"cannot erase before {status.retained_until.isoformat()}:"
                         f" {policy.duty}; last financial activity"
                         f" {status.last_activity.date().isoformat()}",
                         field="customer_id", rule="erasure.retention", duty=policy.duty,
                         retained_until=status.retained_until.isoformat())
    party = erase_customer(tx, customer_id)
    contacts = erase_customer_contacts(tx, customer_id)
    risk = erase_customer_inputs(tx, customer_id)
    notes = erase_customer_notes(tx, customer_id)
    disputes = erase_customer_disputes(tx, customer_id)
    turns = erase_customer_transcripts(tx, customer_id)
    result = ErasureResult(customer_id, tx.now.isoformat(), idempotency_key,
                           party.fields_erased, party.devices_erased, party.cards_erased,
                           party.sessions_revoked, contacts, policy.version,
                           credit_decisions_anonymised=risk.decisions_anonymised,
                           platform_histories_deleted=risk.platform_histories_deleted,
                           bureau_reports_erased=risk.bureau_reports_erased,
                           notes_erased=notes, disputes_erased=disputes,
                           assistant_turns_erased=turns)
    payload = {k: v for k, v in result.as_dict().items()
               if k not in ("replayed", "idempotency_key")}
    payload["idempotency_key_sha256"] = _key_digest(idempotency_key)
    audit.append(tx, "staff", actor_id, ACTION_ERASED, "customer", customer_id, payload)
    tx.emit("compliance.subject.erased", "customer", customer_id, payload)
    return result
