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

Access to other domains: read-only queries on their tables where they expose no public
listing (credit, risk, payments), documented in docs/regulatory-reports.md. The erasure
writes the parties tables (``customers``, ``customer_devices``, ``customer_cards``,
``customer_sessions``) because ``creditpay.parties`` has no erasure function yet; those
writes are confined to :func:`_tombstone_party_rows`, to move into parties when it has one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from creditpay.credit.calendar import add_months
from creditpay.credit.service import list_accounts
from creditpay.credit.tables import (
    affordability_checks,
    credit_accounts,
    credit_lines,
    credit_repayments,
)
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.parties.tables import (
    customer_cards,
    customer_devices,
    customer_sessions,
    customers,
)
from creditpay.platform import audit
from creditpay.platform.notes import erase_customer_notes
from creditpay.platform.purposes import AccessPurpose, check_purpose
from creditpay.platform.tables import audit_records
from creditpay.platform.vault import Vault
from creditpay.protection.complaints import get_complaint
from creditpay.protection.consent import consent_history, current_consents
from creditpay.protection.tables import (
    collection_contacts,
    complaints,
    disclosure_acceptances,
)
from creditpay.risk.decisions.erasure import erase_customer_inputs

__all__ = ["RetentionPolicy", "DEFAULT_RETENTION", "ErasureResult", "export_subject",
           "erase_subject", "retention_status", "EXPORT_FORMAT_VERSION"]

EXPORT_FORMAT_VERSION = 1
ROWS_MAX = 10_000  # per section: a person has dozens of rows, a bound stops runaway exports
PII_FIELDS = ("phone", "email", "legal_name", "id_number", "date_of_birth")
TOMBSTONE_PREFIX = "erased:"
ERASED_PASSWORD = "!erased"  # nosec B105 - not a PHC string: no password ever verifies against it
ACTION_EXPORTED = "subject.exported"
ACTION_ERASED = "subject.erased"
_KEY_CHARS_MAX = 64


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


def _customer(conn: Connection, customer_id: str) -> Any:
    if not isinstance(customer_id, str) or not 1 <= len(customer_id) <= 32:
        raise ValidationError("must be a customer id (1-32 characters)", field="customer_id")
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).first()
    if row is None:
        raise NotFoundError(f"no customer {customer_id}", field="customer_id")
    return row


def _is_erased(row: Any) -> bool:
    return row.password_hash == ERASED_PASSWORD


# ----------------------------------------------------------------------------- export
def _profile(row: Any, vault: Vault) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in PII_FIELDS:
        ciphertext = getattr(row, f"{name}_ct")
        values[name] = vault.decrypt(f"customers.{name}", row.id, ciphertext) \
            if ciphertext else None
    return {"customer_id": row.id, "status": row.status, "erased": _is_erased(row),
            **values, "kyc_status": row.kyc_status,
            "kyc_verified_at": _iso(row.kyc_verified_at), "locale": row.locale,
            "created_at": _iso(row.created_at)}


def _rows(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [{k: _iso(v) for k, v in dict(r).items()}
            for r in conn.execute(query.limit(ROWS_MAX)).mappings()]


def _payments_summary(conn: Connection, customer_id: str) -> dict[str, Any]:
    from creditpay.payments.tables import payment_intents, wallet_operations

    p, w = payment_intents.c, wallet_operations.c
    intents = [{"currency": r.currency, "status": r.status, "funding": r.funding,
                "count": int(r.n), "amount_minor": int(r.amount),
                "captured_minor": int(r.captured), "refunded_minor": int(r.refunded)}
               for r in conn.execute(
                   select(p.currency, p.status, p.funding, func.count().label("n"),
                          func.sum(p.amount_minor).label("amount"),
                          func.sum(p.captured_minor).label("captured"),
                          func.sum(p.refunded_minor).label("refunded"))
                   .where(p.customer_id == customer_id)
                   .group_by(p.currency, p.status, p.funding)
                   .order_by(p.currency, p.status, p.funding))]
    wallet = [{"currency": r.currency, "kind": r.kind, "status": r.status, "count": int(r.n),
               "amount_minor": int(r.amount)}
              for r in conn.execute(
                  select(w.currency, w.kind, w.status, func.count().label("n"),
                         func.sum(w.amount_minor).label("amount"))
                  .where(w.customer_id == customer_id)
                  .group_by(w.currency, w.kind, w.status)
                  .order_by(w.currency, w.kind, w.status))]
    return {"payment_intents": intents, "wallet_operations": wallet}


def export_subject(tx: Tx, vault: Vault, customer_id: str, *, actor_type: str = "customer",
                   actor_id: str | None = None,
                   purpose: str = AccessPurpose.DATA_SUBJECT_REQUEST.value) -> dict[str, Any]:
    """Everything held on ``customer_id`` as a JSON-ready dict, personal data decrypted.

    Only for delivery to the person themself (or staff acting on their verified request:
    ``actor_type="staff"``); the access is appended to the audit log in ``tx`` with
    ``purpose``, a code of :class:`~creditpay.platform.purposes.AccessPurpose`.
    """
    from creditpay.risk.decisions.tables import bureau_pulls, credit_decisions

    purpose = check_purpose(purpose)
    conn = tx.conn
    row = _customer(conn, customer_id)
    if actor_type not in ("customer", "staff"):
        raise ValidationError("must be customer or staff", field="actor_type")
    actor = actor_id or customer_id
    if actor_type == "customer" and actor != customer_id:
        raise ValidationError("a customer can only export their own data", field="actor_id")
    d, cards, dev = credit_decisions.c, customer_cards.c, customer_devices.c
    document: dict[str, Any] = {
        "format_version": EXPORT_FORMAT_VERSION,
        "generated_at": tx.now.isoformat(),
        "profile": _profile(row, vault),
        "devices": _rows(conn, select(dev.id, dev.label, dev.trusted_at, dev.last_seen_at,
                                      dev.created_at).where(dev.customer_id == customer_id)
                         .order_by(dev.created_at, dev.id)),
        "cards": _rows(conn, select(cards.id, cards.brand, cards.last4, cards.expiry_month,
                                    cards.expiry_year, cards.status, cards.created_at)
                       .where(cards.customer_id == customer_id)
                       .order_by(cards.created_at, cards.id)),
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
        "disclosures_accepted": _rows(conn, select(disclosure_acceptances).where(
            disclosure_acceptances.c.customer_id == customer_id)
            .order_by(disclosure_acceptances.c.id)),
        "credit_lines": _rows(conn, select(
            credit_lines.c.line_id, credit_lines.c.currency, credit_lines.c.product_code,
            credit_lines.c.product_version, credit_lines.c.limit_minor, credit_lines.c.status,
            credit_lines.c.created_at).where(credit_lines.c.customer_id == customer_id)
            .order_by(credit_lines.c.created_at)),
        "credit_accounts": [{k: _iso(v) for k, v in view.__dict__.items()}
                            for view in list_accounts(conn, customer_id)],
        "repayments": _rows(conn, select(
            credit_repayments.c.repayment_id, credit_repayments.c.currency,
            credit_repayments.c.amount_minor, credit_repayments.c.channel,
            credit_repayments.c.created_at).where(
            credit_repayments.c.customer_id == customer_id)
            .order_by(credit_repayments.c.created_at)),
        "credit_decisions": _rows(conn, select(
            d.id, d.application_id, d.product_code, d.decided_at, d.outcome, d.grade, d.score,
            d.pd, d.limit_minor, d.apr_bps, d.currency, d.reasons)
            .where(d.customer_id == customer_id).order_by(d.decided_at, d.id)),
        "bureau_inquiries": _rows(conn, select(bureau_pulls.c.id, bureau_pulls.c.purpose,
                                         bureau_pulls.c.bureau, bureau_pulls.c.pulled_at)
                                  .where(bureau_pulls.c.customer_id == customer_id)
                                  .order_by(bureau_pulls.c.id)),
        "payments": _payments_summary(conn, customer_id),
        "affordability_checks": _rows(conn, select(
            affordability_checks.c.id, affordability_checks.c.kind,
            affordability_checks.c.reference, affordability_checks.c.passed,
            affordability_checks.c.failed_rules, affordability_checks.c.policy_version,
            affordability_checks.c.checked_at).where(
            affordability_checks.c.customer_id == customer_id)
            .order_by(affordability_checks.c.id)),
        "complaints": [get_complaint(conn, complaint_id).as_dict() for complaint_id in
                       conn.execute(select(complaints.c.id)
                                    .where(complaints.c.customer_id == customer_id)
                                    .order_by(complaints.c.opened_at, complaints.c.id)
                                    .limit(ROWS_MAX)).scalars()],
        "collections_contacts": _rows(conn, select(
            collection_contacts.c.account_id, collection_contacts.c.channel,
            collection_contacts.c.attempted_at, collection_contacts.c.allowed,
            collection_contacts.c.rule).where(collection_contacts.c.customer_id == customer_id)
            .order_by(collection_contacts.c.id)),
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


def _latest(conn: Connection, column: Any, *where: Any) -> dt.datetime | None:
    # func.max keeps the column's UtcDateTime type, so the result is aware UTC
    latest: dt.datetime | None = conn.execute(select(func.max(column)).where(*where)).scalar_one()
    return latest


def retention_status(conn: Connection, customer_id: str,
                     policy: RetentionPolicy = DEFAULT_RETENTION) -> RetentionStatus:
    """Open credit of the customer and the end of the retention period (read-only)."""
    from creditpay.payments.tables import payment_intents, wallet_operations
    from creditpay.risk.decisions.tables import credit_decisions

    a, line = credit_accounts.c, credit_lines.c
    open_credit = []
    for r in conn.execute(select(a.account_id, a.status, a.principal_unbilled_minor,
                                 a.principal_billed_minor, a.principal_past_due_minor,
                                 a.penalty_unpaid_minor, a.late_fee_unpaid_minor,
                                 a.interest_accrual_num, a.penalty_accrual_num,
                                 a.written_off_minor, a.recovered_minor)
                          .where(a.customer_id == customer_id).order_by(a.seq)):
        if r.status == "active":
            owed = (r.principal_unbilled_minor + r.principal_billed_minor
                    + r.principal_past_due_minor + r.penalty_unpaid_minor
                    + r.late_fee_unpaid_minor)
            if owed or r.interest_accrual_num or r.penalty_accrual_num:
                open_credit.append(f"credit account {r.account_id} is open with"
                                   f" {owed} minor units owed")
        elif r.status == "written_off" and r.written_off_minor > r.recovered_minor:
            open_credit.append(f"credit account {r.account_id} has"
                               f" {r.written_off_minor - r.recovered_minor} minor units"
                               " written off and still recoverable")
    for r in conn.execute(select(line.line_id, line.status, line.limit_minor)
                          .where(line.customer_id == customer_id)):
        if r.status != "closed" and r.limit_minor > 0:
            open_credit.append(f"credit line {r.line_id} is {r.status} with a limit of"
                               f" {r.limit_minor} minor units (lower it to 0 or close it)")
    candidates = [
        _latest(conn, a.updated_at, a.customer_id == customer_id),
        _latest(conn, line.updated_at, line.customer_id == customer_id),
        _latest(conn, credit_repayments.c.created_at,
                credit_repayments.c.customer_id == customer_id),
        _latest(conn, payment_intents.c.created_at,
                payment_intents.c.customer_id == customer_id),
        _latest(conn, wallet_operations.c.created_at,
                wallet_operations.c.customer_id == customer_id),
        # A credit application is a record of the relationship too, approved or not (the
        # lender must be able to show how it decided).
        _latest(conn, credit_decisions.c.decided_at,
                credit_decisions.c.customer_id == customer_id),
    ]
    known = [c for c in candidates if c is not None]
    last = max(known) if known else None
    until = None if last is None else add_months(last.date(), policy.retention_months)
    return RetentionStatus(open_credit, last, until)


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
    # Vaulted free-text notes about the person (compliance.notes); 0 in older erasures.
    notes_erased: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _tombstone(kind: str, customer_id: str, extra: str = "") -> str:
    """Unique per customer and column (the blind-index columns are UNIQUE), derived from
    nothing personal: 'erased:' + 24 hex characters (fits String(32))."""
    digest = hashlib.sha256(f"{kind}\x00{customer_id}\x00{extra}".encode()).hexdigest()
    return TOMBSTONE_PREFIX + digest[:24]


def _tombstone_party_rows(tx: Tx, row: Any) -> dict[str, Any]:
    """The only writes to parties tables (see the module docstring)."""
    customer_id = row.id
    values: dict[str, Any] = {"status": "closed", "password_hash": ERASED_PASSWORD,
                              "failed_logins": 0, "locked_until": None}
    fields = []
    for name in PII_FIELDS:
        if getattr(row, f"{name}_ct") is not None:
            fields.append(name)
        values[f"{name}_ct"] = None
    for name in ("phone", "email", "id_number"):
        if getattr(row, f"{name}_bidx") is not None:
            values[f"{name}_bidx"] = _tombstone(f"customers.{name}_bidx", customer_id)
    if values.get("phone_bidx") is None and values.get("email_bidx") is None:
        # the table requires one login identifier: keep a tombstone in its place
        values["phone_bidx"] = _tombstone("customers.phone_bidx", customer_id)
    tx.conn.execute(update(customers).where(customers.c.id == customer_id).values(**values))
    devices = tx.conn.execute(select(customer_devices.c.id).where(
        customer_devices.c.customer_id == customer_id)).scalars().all()
    for device_id in devices:
        tx.conn.execute(update(customer_devices).where(customer_devices.c.id == device_id)
                        .values(device_hash=_tombstone("device", customer_id, device_id),
                                label=None, trusted_at=None))
    cards = tx.conn.execute(select(customer_cards.c.id).where(
        customer_cards.c.customer_id == customer_id)).scalars().all()
    for card_id in cards:
        tx.conn.execute(update(customer_cards).where(customer_cards.c.id == card_id).values(
            rail_token=_tombstone("card", customer_id, card_id), last4="****",
            status="removed"))
    sessions = tx.conn.execute(update(customer_sessions).where(
        customer_sessions.c.customer_id == customer_id,
        customer_sessions.c.status != "revoked").values(status="revoked")).rowcount
    return {"fields": fields, "devices": len(devices), "cards": len(cards),
            "sessions": int(sessions or 0)}


def _key_digest(idempotency_key: str) -> str:
    # The caller chooses the key, so it is caller-supplied text: the chain keeps its digest.
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()


def _stored_erasure(conn: Connection, customer_id: str) -> dict[str, Any] | None:
    r = audit_records.c
    row = conn.execute(select(r.payload).where(
        r.action == ACTION_ERASED, r.subject_type == "customer",
        r.subject_id == customer_id).order_by(r.id).limit(1)).first()
    return None if row is None else dict(row.payload)


def erase_subject(tx: Tx, customer_id: str, *, idempotency_key: str,
                  actor_id: str = "compliance",
                  policy: RetentionPolicy = DEFAULT_RETENTION) -> ErasureResult:
    """Anonymise the customer's personal data if no retention duty remains.

    Refuses with StateError (``rule`` ``erasure.open_credit`` or ``erasure.retention``,
    naming the duty and the date it ends) and changes nothing otherwise. A repeat with the
    same key returns the first result; the customer already erased under another key is a
    StateError (``erasure.already_erased``) naming the first key's date.
    """
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= _KEY_CHARS_MAX:
        raise ValidationError(f"must be 1-{_KEY_CHARS_MAX} characters",
                              field="idempotency_key")
    row = _customer(tx.conn, customer_id)
    stored = _stored_erasure(tx.conn, customer_id)
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
    if status.retained_until is not None and tx.today < status.retained_until:
        raise StateError(f"cannot erase before {status.retained_until.isoformat()}:"
                         f" {policy.duty}; last financial activity"
                         f" {status.last_activity.date().isoformat()}",  # type: ignore[union-attr]
                         field="customer_id", rule="erasure.retention", duty=policy.duty,
                         retained_until=status.retained_until.isoformat())
    done = _tombstone_party_rows(tx, row)
    contacts = tx.conn.execute(update(collection_contacts).where(
        collection_contacts.c.customer_id == customer_id).values(
        channel_ref=_tombstone("collection_contact", customer_id))).rowcount
    risk = erase_customer_inputs(tx, customer_id)
    notes = erase_customer_notes(tx, customer_id)
    result = ErasureResult(customer_id, tx.now.isoformat(), idempotency_key, done["fields"],
                           done["devices"], done["cards"], done["sessions"],
                           int(contacts or 0), policy.version,
                           credit_decisions_anonymised=risk.decisions_anonymised,
                           platform_histories_deleted=risk.platform_histories_deleted,
                           bureau_reports_erased=risk.bureau_reports_erased,
                           notes_erased=notes)
    payload = {k: v for k, v in result.as_dict().items()
               if k not in ("replayed", "idempotency_key")}
    payload["idempotency_key_sha256"] = _key_digest(idempotency_key)
    audit.append(tx, "staff", actor_id, ACTION_ERASED, "customer", customer_id, payload)
    tx.emit("compliance.subject.erased", "customer", customer_id, payload)
    return result
