"""Fraud case management: the analysts' alert queue and the fraud labels (issue #6).

* A payment (``payment_intent``) or a P2P transfer (``wallet_operation``) that screening
  holds for review opens one case (idempotent per subject) in the held transaction, with a priority from the screening score and the amount, and an
  SLA due time from a configurable SLA per priority (business time, from the clock).
* Analysts work the queue (most urgent first, then the nearest SLA), take or are given a
  case, and resolve it as ``fraud``, ``legitimate`` or ``unsure`` with a note (encrypted
  in the notes vault, :mod:`creditpay.platform.notes`; the case keeps its reference, so the
  customer's erasure erases it and no audit record holds the text). Resolving a
  held payment approves it (legitimate) or declines it (fraud, unsure) through the payments
  domain's public review, injected as a callback: risk never imports payments; a held
  transfer is released or voided the same way. The case is the one source of truth of a
  held subject: the older payment review endpoint goes through :func:`review_held_payment`,
  which resolves the open case (or reviews directly when screening opened none).
* Labels: an analyst's fraud / legitimate verdict, a chargeback or a consumer fraud report
  is stored in ``fraud_labels`` (append-only, idempotent per source reference);
  :func:`labels_since` and :func:`training_labels` read them for the next training set.
* Reporting: :func:`queue_precision` (share of resolved cases that were fraud) and
  :func:`sla_breaches` (cases past their SLA), both in business time.

Every staff action is audited with actor type ``staff``; opening a case is ``system``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, and_, func, or_, select, update

from creditpay.db.uow import Tx, inserted_id
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.platform import audit
from creditpay.risk.fraud.features import FraudLabel
from creditpay.risk.fraud.tables import fraud_cases, fraud_labels

if TYPE_CHECKING:
    from creditpay.platform.notes import Notes

__all__ = [
    "CasePolicy", "DEFAULT_CASE_POLICY", "PaymentReviewer", "VERDICTS", "STATUSES",
    "LABEL_SOURCES", "case_priority", "open_case", "open_payment_case", "get_case",
    "list_queue", "assign", "resolve", "ingest_chargeback", "ingest_consumer_report",
    "labels_since", "training_labels", "queue_precision", "sla_breaches", "queue_report",
    "merchant_chargebacks",
    "payment_reviewer", "review_held_payment", "case_for_subject", "SUBJECT_REVIEWED",
]

VERDICTS = ("fraud", "legitimate", "unsure")
# Subjects screening holds for review, each with a reviewer that releases or refuses it.
SUBJECT_REVIEWED = ("payment_intent", "wallet_operation")
STATUSES = ("open", "assigned", "resolved")
QUEUE_FILTERS = ("active", *STATUSES)  # active = open or assigned (not yet resolved)
LABEL_SOURCES = ("analyst_verdict", "chargeback", "consumer_report")
PRIORITIES = (1, 2, 3)
QUEUE_LIMIT_MAX = 100
LABELS_LIMIT_MAX = 10_000
NOTE_CHARS_MAX = 1000
ID_CHARS_MAX = 64
_SLUG = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class CasePolicy:
    """How urgent a case is and how long an analyst has (seconds of business time).

    Priority 1 when the screening score or the amount is high, 2 when either is medium,
    3 otherwise; amounts are minor units of the case's currency.
    """

    score_high: float = 0.8
    score_medium: float = 0.5
    amount_minor_high: int = 1_000_000  # 10 000.00 CNY
    amount_minor_medium: int = 200_000  # 2 000.00 CNY
    sla_s_by_priority: Mapping[int, int] = field(default_factory=lambda: {
        1: 3_600, 2: 4 * 3_600, 3: 24 * 3_600})

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_medium <= self.score_high <= 1.0:
            raise ValidationError("need 0 <= score_medium <= score_high <= 1",
                                  field="score_high")
        if not 0 < self.amount_minor_medium <= self.amount_minor_high:
            raise ValidationError("need 0 < amount_minor_medium <= amount_minor_high",
                                  field="amount_minor_high")
        if set(self.sla_s_by_priority) != set(PRIORITIES):
            raise ValidationError(f"must give an SLA for priorities {list(PRIORITIES)}",
                                  field="sla_s_by_priority")
        for priority, seconds in self.sla_s_by_priority.items():
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
                raise ValidationError("must be a positive number of seconds",
                                      field=f"sla_s_by_priority.{priority}")

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> CasePolicy:
        """From a configuration document (JSON/YAML); SLA keys may be strings."""
        values = dict(document)
        if "sla_s_by_priority" in values:
            values["sla_s_by_priority"] = {int(k): v for k, v in
                                           dict(values["sla_s_by_priority"]).items()}
        unknown = set(values) - {"score_high", "score_medium", "amount_minor_high",
                                 "amount_minor_medium", "sla_s_by_priority"}
        if unknown:
            raise ValidationError(f"unknown keys {sorted(unknown)}", field="case_policy")
        return cls(**values)


DEFAULT_CASE_POLICY = CasePolicy()


class PaymentReviewer(Protocol):
    """Approves or declines a held payment (the payments domain's public review)."""

    def __call__(self, tx: Tx, intent_id: str, approve: bool, note: str | None, /) -> Any: ...


# ------------------------------------------------------------------------ pure core
def case_priority(score: float | None, amount_minor: int | None,
                  policy: CasePolicy = DEFAULT_CASE_POLICY) -> int:
    """1 (most urgent) .. 3 from the fraud probability and the amount at stake."""
    score = score or 0.0
    amount = amount_minor or 0
    if score >= policy.score_high or amount >= policy.amount_minor_high:
        return 1
    if score >= policy.score_medium or amount >= policy.amount_minor_medium:
        return 2
    return 3


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _check_id(value: Any, name: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= ID_CHARS_MAX:
        raise ValidationError(f"must be a string of 1..{ID_CHARS_MAX} characters", field=name)
    return value


def _check_slug(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise ValidationError("must be a lower-case name like 'payment_intent'", field=name)
    return value


def _check_time(value: Any, name: str, now: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValidationError("must be a timezone-aware date-time", field=name)
    if value > now:
        raise ValidationError("must not be in the future (business time)", field=name)
    return value.astimezone(dt.UTC)


def _check_amount(value: Any, currency: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 0):
        raise ValidationError("must be a non-negative integer of minor units",
                              field="amount_minor")
    if currency is not None and (not isinstance(currency, str)
                                 or not re.fullmatch(r"[A-Z]{3}", currency)):
        raise ValidationError("must be an ISO 4217 code", field="currency")


def _case_view(row: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    view = {
        "id": row.id, "subject_type": row.subject_type, "subject_id": row.subject_id,
        "customer_id": row.customer_id, "merchant_id": row.merchant_id,
        "amount_minor": row.amount_minor, "currency": row.currency, "score": row.score,
        "reasons": list((row.reasons or {}).get("reasons", [])),
        "occurred_at": _iso(row.occurred_at), "opened_at": _iso(row.opened_at),
        "priority": row.priority, "sla_due_at": _iso(row.sla_due_at),
        "status": row.status, "assignee": row.assignee, "assigned_at": _iso(row.assigned_at),
        "verdict": row.verdict, "note": row.note, "resolved_by": row.resolved_by,
        "resolved_at": _iso(row.resolved_at), "payment_action": row.payment_action,
    }
    if now is not None:
        finished = row.resolved_at or now
        view["sla_breached"] = finished > row.sla_due_at
    return view


def _label_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "source": row.source, "reference": row.reference,
        "subject_type": row.subject_type, "subject_id": row.subject_id,
        "customer_id": row.customer_id, "merchant_id": row.merchant_id,
        "device_id": row.device_id, "transaction_at": _iso(row.transaction_at),
        "labelled_at": _iso(row.labelled_at), "is_fraud": bool(row.is_fraud),
        "amount_minor": row.amount_minor, "currency": row.currency,
        "reason_code": row.reason_code, "recorded_by": row.recorded_by,
    }


# ------------------------------------------------------------------------ cases
def _case_row(conn: Connection, case_id: Any, *, lock: bool = False) -> Any:
    _check_id(case_id, "case_id")
    query = select(fraud_cases).where(fraud_cases.c.id == case_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"no fraud case {case_id}", field="case_id")
    return row


def get_case(conn: Connection, case_id: str, *, now: dt.datetime | None = None
             ) -> dict[str, Any]:
    """One case; with ``now`` (business time) it says whether its SLA is breached."""
    return _case_view(_case_row(conn, case_id), now)


def open_case(tx: Tx, *, subject_type: str, subject_id: str, customer_id: str | None = None,
              merchant_id: str | None = None, device_id: str | None = None,
              amount_minor: int | None = None, currency: str | None = None,
              score: float | None = None, reasons: Sequence[str] = (),
              occurred_at: dt.datetime | None = None,
              policy: CasePolicy = DEFAULT_CASE_POLICY) -> dict[str, Any]:
    """Open the case of a held subject, or return the one already open for it.

    ``score`` is the screening model's fraud probability (0..1), ``amount_minor`` the amount
    at stake; ``occurred_at`` the transaction's time (default: now, business time).
    """
    _check_slug(subject_type, "subject_type")
    _check_id(subject_id, "subject_id")
    for name, value in (("customer_id", customer_id), ("merchant_id", merchant_id)):
        _check_id(value, name, optional=True)
    if device_id is not None and (not isinstance(device_id, str) or
                                  not 1 <= len(device_id) <= 128):
        raise ValidationError("must be a string of 1..128 characters", field="device_id")
    _check_amount(amount_minor, currency)
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)
                              or not 0.0 <= float(score) <= 1.0):
        raise ValidationError("must be a probability from 0 to 1", field="score")
    reasons_list = [str(r)[:64] for r in list(reasons)[:20]]
    existing = tx.conn.execute(select(fraud_cases).where(
        fraud_cases.c.subject_type == subject_type,
        fraud_cases.c.subject_id == subject_id)).first()
    if existing is not None:
        return _case_view(existing, tx.now)
    when = _check_time(occurred_at, "occurred_at", tx.now) if occurred_at else tx.now
    priority = case_priority(score, amount_minor, policy)
    sla_due_at = tx.now + dt.timedelta(seconds=policy.sla_s_by_priority[priority])
    case_id = f"fcase_{secrets.token_hex(10)}"  # 80 random bits, like every resource id
    tx.conn.execute(fraud_cases.insert().values(
        id=case_id, subject_type=subject_type, subject_id=subject_id,
        customer_id=customer_id, merchant_id=merchant_id, device_id=device_id,
        amount_minor=amount_minor, currency=currency,
        score=None if score is None else float(score), reasons={"reasons": reasons_list},
        occurred_at=when, opened_at=tx.now, priority=priority, sla_due_at=sla_due_at,
        status="open"))
    audit.append(tx, "system", "risk", "fraud_case.opened", "fraud_case", case_id,
                 {"subject_type": subject_type, "subject_id": subject_id,
                  "priority": priority, "sla_due_at": sla_due_at.isoformat()})
    tx.emit("risk.fraud_case.opened", "fraud_case", case_id,
            {"subject_type": subject_type, "subject_id": subject_id, "priority": priority})
    return _case_view(_case_row(tx.conn, case_id), tx.now)


def open_payment_case(tx: Tx, *, intent_id: str, customer_id: str | None,
                      merchant_id: str | None, amount_minor: int | None,
                      currency: str | None, device_id: str | None = None,
                      score: float | None = None, reasons: Sequence[str] = (),
                      subject_type: str = "payment_intent",
                      policy: CasePolicy = DEFAULT_CASE_POLICY) -> dict[str, Any]:
    """The ``Payments.on_review`` hook: a payment held by screening opens its case
    (``subject_type`` ``wallet_operation`` and the operation id for a held transfer, the
    payee in ``merchant_id``)."""
    if subject_type not in SUBJECT_REVIEWED:
        raise ValidationError(f"must be one of {list(SUBJECT_REVIEWED)}",
                              field="subject_type")
    return open_case(tx, subject_type=subject_type, subject_id=intent_id,
                     customer_id=customer_id, merchant_id=merchant_id, device_id=device_id,
                     amount_minor=amount_minor, currency=currency, score=score,
                     reasons=reasons, policy=policy)


def _encode_cursor(row: Any) -> str:
    text = json.dumps([row.priority, _iso(row.sla_due_at), row.id])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        priority, due, case_id = json.loads(raw)
        if not isinstance(priority, int) or not isinstance(case_id, str):
            raise ValueError
        return priority, dt.datetime.fromisoformat(due).astimezone(dt.UTC), case_id
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValidationError("is not a cursor this API returned", field="cursor") from exc


def list_queue(conn: Connection, *, status: str = "active", limit: int = 20,
               cursor: str | None = None, now: dt.datetime | None = None
               ) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the queue, most urgent first (priority, then SLA due time, then id).

    ``status`` is ``active`` (open or assigned), ``open``, ``assigned`` or ``resolved``;
    returns the cases and the cursor of the next page (None at the end). With ``now``
    (business time) each case says whether its SLA is breached.
    """
    if status not in QUEUE_FILTERS:
        raise ValidationError(f"must be one of {list(QUEUE_FILTERS)}", field="status")
    if isinstance(limit, bool) or not isinstance(limit, int) or \
            not 1 <= limit <= QUEUE_LIMIT_MAX:
        raise ValidationError(f"must be from 1 to {QUEUE_LIMIT_MAX}", field="limit")
    c = fraud_cases.c
    statuses = ("open", "assigned") if status == "active" else (status,)
    query = select(fraud_cases).where(c.status.in_(statuses))
    if cursor is not None:
        priority, due, case_id = _decode_cursor(cursor)
        query = query.where(or_(
            c.priority > priority,
            and_(c.priority == priority, c.sla_due_at > due),
            and_(c.priority == priority, c.sla_due_at == due, c.id > case_id)))
    rows = conn.execute(query.order_by(c.priority, c.sla_due_at, c.id).limit(limit + 1)).all()
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1]) if len(rows) > limit else None
    return [_case_view(r, now) for r in page], next_cursor


def assign(tx: Tx, case_id: str, staff_id: str, *, by: str | None = None) -> dict[str, Any]:
    """Give an unresolved case to ``staff_id`` (an operator id); ``by`` is who did it
    (default: the assignee taking it). Reassigning is allowed and audited."""
    _check_id(staff_id, "staff_id")
    actor = _check_id(by, "by", optional=True) or staff_id
    row = _case_row(tx.conn, case_id, lock=True)
    if row.status == "resolved":
        raise StateError("the case is already resolved", field="case_id")
    tx.conn.execute(update(fraud_cases).where(fraud_cases.c.id == row.id).values(
        status="assigned", assignee=staff_id, assigned_at=tx.now))
    audit.append(tx, "staff", actor, "fraud_case.assigned", "fraud_case", row.id,
                 {"assignee": staff_id, "previous_assignee": row.assignee})
    return _case_view(_case_row(tx.conn, row.id), tx.now)


def resolve(tx: Tx, case_id: str, staff_id: str, verdict: str, note: str | None = None, *,
            review_payment: PaymentReviewer | None = None,
            review_transfer: PaymentReviewer | None = None,
            notes: Notes | None = None) -> dict[str, Any]:
    """Close a case with a verdict and a note.

    The note is free text an analyst wrote, often about a person: it is encrypted in the
    notes vault (``notes``, required with a note; erased with the customer's data) and the
    case and its audit record keep only its reference ``note_id`` (the case view's
    ``note``), never the text.

    A ``fraud`` or ``legitimate`` verdict stores a label (``analyst_verdict``). A held
    payment is approved on ``legitimate`` and declined on ``fraud`` or ``unsure`` (no money
    moves on doubt; the customer may pay again) through ``review_payment``; a held P2P
    transfer is released (posted) or voided alike through ``review_transfer``. A subject no
    longer held (expired, cancelled) is left as it is and the case says so.
    """
    _check_id(staff_id, "staff_id")
    if verdict not in VERDICTS:
        raise ValidationError(f"must be one of {list(VERDICTS)}", field="verdict")
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_CHARS_MAX):
        raise ValidationError(f"must be text of at most {NOTE_CHARS_MAX} characters",
                              field="note")
    if note is not None and notes is None:
        raise ValidationError("a note is kept in the notes vault, and none was given",
                              field="note")
    row = _case_row(tx.conn, case_id, lock=True)
    if row.status == "resolved":
        raise StateError(f"the case is already resolved as {row.verdict}", field="case_id")
    payment_action = None
    reviewer = {"payment_intent": review_payment,
                "wallet_operation": review_transfer}.get(row.subject_type)
    if reviewer is not None:
        approve = verdict == "legitimate"
        try:
            reviewer(tx, row.subject_id, approve, note)
            payment_action = "approved" if approve else "declined"
        except StateError:
            # Raised before any write (the payment is no longer held): nothing to undo.
            payment_action = "not_in_review"
    note_id = None
    if note is not None and note.strip():
        note_id = notes.store(  # type: ignore[union-attr]
            tx, text=note, kind="fraud_case.note", about_type="fraud_case", about_id=row.id,
            author_id=staff_id, customer_id=row.customer_id)
    tx.conn.execute(update(fraud_cases).where(fraud_cases.c.id == row.id).values(
        status="resolved", verdict=verdict, note=note_id, resolved_by=staff_id,
        resolved_at=tx.now, payment_action=payment_action,
        assignee=row.assignee or staff_id, assigned_at=row.assigned_at or tx.now))
    label_id = None
    if verdict != "unsure":
        label_id = _store_label(
            tx, source="analyst_verdict", reference=row.id, subject_type=row.subject_type,
            subject_id=row.subject_id, customer_id=row.customer_id,
            merchant_id=row.merchant_id, device_id=row.device_id,
            transaction_at=row.occurred_at, is_fraud=verdict == "fraud",
            amount_minor=row.amount_minor, currency=row.currency, reason_code=None,
            recorded_by=staff_id)["id"]
    audit.append(tx, "staff", staff_id, "fraud_case.resolved", "fraud_case", row.id,
                 {"verdict": verdict, "note_given": note_id is not None, "note_id": note_id,
                  "payment_action": payment_action, "label_id": label_id,
                  "sla_breached": tx.now > row.sla_due_at})
    tx.emit("risk.fraud_case.resolved", "fraud_case", row.id,
            {"verdict": verdict, "subject_type": row.subject_type,
             "subject_id": row.subject_id})
    return _case_view(_case_row(tx.conn, row.id), tx.now)


# ------------------------------------------------------------------------ labels
def _store_label(tx: Tx, *, source: str, reference: str, subject_type: str,
                 subject_id: str, customer_id: str | None, merchant_id: str | None,
                 device_id: str | None, transaction_at: dt.datetime, is_fraud: bool,
                 amount_minor: int | None, currency: str | None, reason_code: str | None,
                 recorded_by: str) -> dict[str, Any]:
    """Insert a label, or return the one this source already stored under ``reference``."""
    assert source in LABEL_SOURCES
    c = fraud_labels.c
    existing = tx.conn.execute(select(fraud_labels).where(
        c.source == source, c.reference == reference)).first()
    if existing is not None:
        return {**_label_view(existing), "duplicate": True}
    label_id = inserted_id(tx.conn.execute(fraud_labels.insert().values(
        source=source, reference=reference, subject_type=subject_type,
        subject_id=subject_id, customer_id=customer_id, merchant_id=merchant_id,
        device_id=device_id, transaction_at=transaction_at, labelled_at=tx.now,
        is_fraud=bool(is_fraud), amount_minor=amount_minor, currency=currency,
        reason_code=reason_code, recorded_by=recorded_by)))
    row = tx.conn.execute(select(fraud_labels).where(c.id == label_id)).one()
    return {**_label_view(row), "duplicate": False}


def _external_label(tx: Tx, source: str, reference: Any, reference_field: str, *,
                    subject_type: str, subject_id: Any, customer_id: Any, merchant_id: Any,
                    device_id: Any, transaction_at: Any, is_fraud: Any, amount_minor: Any,
                    currency: Any, reason_code: Any, recorded_by: Any, actor_type: str,
                    action: str) -> dict[str, Any]:
    _check_id(reference, reference_field)
    _check_slug(subject_type, "subject_type")
    _check_id(subject_id, "subject_id")
    _check_id(customer_id, "customer_id", optional=True)
    _check_id(merchant_id, "merchant_id", optional=True)
    _check_id(recorded_by, "recorded_by")
    _check_amount(amount_minor, currency)
    if reason_code is not None and (not isinstance(reason_code, str)
                                    or not 1 <= len(reason_code) <= 32):
        raise ValidationError("must be a string of 1..32 characters", field="reason_code")
    if not isinstance(is_fraud, bool):
        raise ValidationError("must be true or false", field="is_fraud")
    when = _check_time(transaction_at, "transaction_at", tx.now)
    if device_id is None:
        # The device is known when screening held the same subject: take it from the case.
        device_id = tx.conn.execute(select(fraud_cases.c.device_id).where(
            fraud_cases.c.subject_type == subject_type,
            fraud_cases.c.subject_id == subject_id)).scalar_one_or_none()
    label = _store_label(tx, source=source, reference=reference, subject_type=subject_type,
                         subject_id=subject_id, customer_id=customer_id,
                         merchant_id=merchant_id, device_id=device_id, transaction_at=when,
                         is_fraud=is_fraud, amount_minor=amount_minor, currency=currency,
                         reason_code=reason_code, recorded_by=recorded_by)
    if not label["duplicate"]:
        audit.append(tx, actor_type, recorded_by, action, "fraud_label", str(label["id"]),
                     {"source": source, "reference": reference, "subject_type": subject_type,
                      "subject_id": subject_id, "is_fraud": is_fraud})
    return label


def ingest_chargeback(tx: Tx, *, chargeback_id: str, subject_id: str,
                      customer_id: str | None, merchant_id: str | None,
                      transaction_at: dt.datetime, amount_minor: int | None = None,
                      currency: str | None = None, reason_code: str | None = None,
                      is_fraud: bool = True, device_id: str | None = None,
                      subject_type: str = "payment_intent", recorded_by: str,
                      actor_type: str = "staff") -> dict[str, Any]:
    """Store a chargeback as a label (idempotent per ``chargeback_id``).

    ``is_fraud`` is False for a chargeback raised for a non-fraud reason (goods not
    received, ...): it is kept, but as a not-fraud label. ``transaction_at`` is the disputed
    payment's time (timezone-aware, not after now).
    """
    return _external_label(
        tx, "chargeback", chargeback_id, "chargeback_id", subject_type=subject_type,
        subject_id=subject_id, customer_id=customer_id, merchant_id=merchant_id,
        device_id=device_id, transaction_at=transaction_at, is_fraud=is_fraud,
        amount_minor=amount_minor, currency=currency, reason_code=reason_code,
        recorded_by=recorded_by, actor_type=actor_type,
        action="fraud_label.chargeback_ingested")


def ingest_consumer_report(tx: Tx, *, report_id: str, subject_id: str, customer_id: str,
                           merchant_id: str | None, transaction_at: dt.datetime,
                           amount_minor: int | None = None, currency: str | None = None,
                           device_id: str | None = None, subject_type: str = "payment_intent",
                           recorded_by: str, actor_type: str = "staff") -> dict[str, Any]:
    """Store a consumer's report that a payment was not theirs as a fraud label
    (idempotent per ``report_id``)."""
    return _external_label(
        tx, "consumer_report", report_id, "report_id", subject_type=subject_type,
        subject_id=subject_id, customer_id=customer_id, merchant_id=merchant_id,
        device_id=device_id, transaction_at=transaction_at, is_fraud=True,
        amount_minor=amount_minor, currency=currency, reason_code="not_authorised",
        recorded_by=recorded_by, actor_type=actor_type,
        action="fraud_label.consumer_report_ingested")


def labels_since(conn: Connection, *, since: dt.datetime, after_id: int = 0,
                 limit: int = LABELS_LIMIT_MAX) -> list[dict[str, Any]]:
    """Labels stored at or after ``since`` (business time), in storage order; page with
    ``after_id`` = the last id returned."""
    if not isinstance(since, dt.datetime) or since.tzinfo is None:
        raise ValidationError("must be a timezone-aware date-time", field="since")
    if isinstance(limit, bool) or not isinstance(limit, int) or \
            not 1 <= limit <= LABELS_LIMIT_MAX:
        raise ValidationError(f"must be from 1 to {LABELS_LIMIT_MAX}", field="limit")
    c = fraud_labels.c
    rows = conn.execute(select(fraud_labels).where(
        c.labelled_at >= since.astimezone(dt.UTC), c.id > after_id)
        .order_by(c.id).limit(limit)).all()
    return [_label_view(r) for r in rows]


def training_labels(labels: Iterable[Mapping[str, Any]]) -> list[FraudLabel]:
    """One :class:`FraudLabel` per subject for the next training set (pure).

    A fraud label from any source wins over a not-fraud one (a chargeback after a
    "legitimate" verdict means the analyst missed it); labels without a customer are
    skipped. Times are epoch seconds, as the streaming features expect.
    """
    by_subject: dict[tuple[str, str], Mapping[str, Any]] = {}
    for label in labels:
        if not label.get("customer_id"):
            continue
        key = (label["subject_type"], label["subject_id"])
        kept = by_subject.get(key)
        if kept is None or (label["is_fraud"] and not kept["is_fraud"]) or (
                label["is_fraud"] == kept["is_fraud"]
                and label["labelled_at"] > kept["labelled_at"]):
            by_subject[key] = label
    out = []
    for label in by_subject.values():
        out.append(FraudLabel(
            transaction_timestamp_s=int(dt.datetime.fromisoformat(
                label["transaction_at"]).timestamp()),
            label_timestamp_s=int(dt.datetime.fromisoformat(label["labelled_at"]).timestamp()),
            is_fraud=bool(label["is_fraud"]), customer_id=label["customer_id"],
            merchant_id=label.get("merchant_id"), device_id=label.get("device_id")))
    out.sort(key=lambda f: (f.label_timestamp_s, f.transaction_timestamp_s))
    return out


# ------------------------------------------------------------------------ reporting
def queue_precision(conn: Connection, since: dt.datetime,
                    until: dt.datetime | None = None) -> dict[str, Any]:
    """Of the cases resolved in [since, until), the share judged fraud (``precision``),
    and the same share among decided cases only (``precision_decided``: unsure left out)."""
    if not isinstance(since, dt.datetime) or since.tzinfo is None:
        raise ValidationError("must be a timezone-aware date-time", field="since")
    c = fraud_cases.c
    query = select(c.verdict, func.count()).where(
        c.status == "resolved", c.resolved_at >= since.astimezone(dt.UTC))
    if until is not None:
        query = query.where(c.resolved_at < until.astimezone(dt.UTC))
    counts = {v: 0 for v in VERDICTS}
    for verdict, n in conn.execute(query.group_by(c.verdict)).all():
        counts[verdict] = int(n)
    resolved = sum(counts.values())
    decided = counts["fraud"] + counts["legitimate"]
    return {"resolved": resolved, **counts,
            "precision": counts["fraud"] / resolved if resolved else None,
            "precision_decided": counts["fraud"] / decided if decided else None}


def sla_breaches(conn: Connection, *, now: dt.datetime,
                 since: dt.datetime | None = None) -> dict[str, int]:
    """Cases past their SLA at business time ``now``: unresolved and overdue, and resolved
    (at or after ``since``, when given) later than due."""
    if not isinstance(now, dt.datetime) or now.tzinfo is None:
        raise ValidationError("must be a timezone-aware date-time", field="now")
    c = fraud_cases.c
    now_utc = now.astimezone(dt.UTC)
    overdue = conn.execute(select(func.count()).where(
        c.status.in_(("open", "assigned")), c.sla_due_at < now_utc)).scalar_one()
    late_query = select(func.count()).where(c.status == "resolved",
                                            c.resolved_at > c.sla_due_at)
    if since is not None:
        late_query = late_query.where(c.resolved_at >= since.astimezone(dt.UTC))
    late = conn.execute(late_query).scalar_one()
    return {"open_overdue": int(overdue), "resolved_late": int(late),
            "total": int(overdue) + int(late)}


def queue_report(conn: Connection, *, now: dt.datetime, since: dt.datetime
                 ) -> dict[str, Any]:
    """What the queue's owner looks at: backlog, precision and SLA breaches since ``since``."""
    c = fraud_cases.c
    backlog: dict[str, int] = dict(conn.execute(select(c.status, func.count()).where(
        c.status.in_(("open", "assigned"))).group_by(c.status)).all())
    return {"since": since.astimezone(dt.UTC).isoformat(),
            "as_of": now.astimezone(dt.UTC).isoformat(),
            "open": int(backlog.get("open", 0)), "assigned": int(backlog.get("assigned", 0)),
            "precision": queue_precision(conn, since),
            "sla_breaches": sla_breaches(conn, now=now, since=since)}


def case_for_subject(conn: Connection, subject_type: str, subject_id: str
                     ) -> dict[str, Any] | None:
    """The case of a subject (None when screening opened none)."""
    _check_slug(subject_type, "subject_type")
    _check_id(subject_id, "subject_id")
    row = conn.execute(select(fraud_cases).where(
        fraud_cases.c.subject_type == subject_type,
        fraud_cases.c.subject_id == subject_id)).first()
    return None if row is None else _case_view(row)


def review_held_payment(tx: Tx, staff_id: str, intent_id: str, *, approve: bool,
                        note: str | None, review_payment: PaymentReviewer,
                        notes: Notes | None = None) -> Any:
    """The older "approve / decline a held payment" action, kept in step with the case.

    With an unresolved case for the payment, the case is resolved (``legitimate`` on
    approve, ``unsure`` on decline: a decline alone is not a fraud label), which reviews the
    payment; without one, the payment is reviewed directly. Returns what
    ``review_payment`` returned (the payment's view).
    """
    _check_id(intent_id, "intent_id")
    case = case_for_subject(tx.conn, "payment_intent", intent_id)
    if case is None or case["status"] == "resolved":
        return review_payment(tx, intent_id, approve, note)
    seen: dict[str, Any] = {}

    def reviewer(tx_: Tx, subject_id: str, approve_: bool, note_: str | None) -> Any:
        seen["result"] = review_payment(tx_, subject_id, approve_, note_)
        return seen["result"]

    resolved = resolve(tx, case["id"], staff_id, "legitimate" if approve else "unsure",
                       note, review_payment=reviewer, notes=notes)
    if resolved["payment_action"] == "not_in_review":
        return review_payment(tx, intent_id, approve, note)  # raises: not held any more
    return seen["result"]


def payment_reviewer(review: Callable[..., Any], operator: Any) -> PaymentReviewer:
    """Adapt ``Payments.review(tx, operator, intent_id, approve=, note=)`` for
    :func:`resolve` (the runtime / API layer builds it; risk never imports payments)."""
    def reviewer(tx: Tx, intent_id: str, approve: bool, note: str | None) -> Any:
        return review(tx, operator, intent_id, approve=approve,
                      note=note[:200] if note else note)
    return reviewer


# ------------------------------------------------------------------------ merchants
def merchant_chargebacks(conn: Connection, merchant_id: str, *, limit: int = 200
                         ) -> list[dict[str, Any]]:
    """The chargebacks recorded against ``merchant_id``'s payments (fraud or not), newest
    first: what the merchant dashboard shows as disputes (issue #16)."""
    c = fraud_labels.c
    rows = conn.execute(select(fraud_labels).where(
        c.source == "chargeback", c.merchant_id == merchant_id)
        .order_by(c.labelled_at.desc(), c.id.desc()).limit(limit)).all()
    return [_label_view(r) for r in rows]
