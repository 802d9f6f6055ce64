"""A consumer reports fraud on their account, and may freeze and later unfreeze their credit.

One use case per function, each in the caller's transaction:

* :func:`report_fraud`: "someone else paid with my account". In one transaction it records the
  report as a fraud label on the payment named (the fraud models learn from it, as from a
  chargeback), opens a ``fraud_dispute`` complaint so a person follows it up within that
  category's SLA, and, when asked, freezes the consumer's credit lines (no new credit until
  lifted; the wallet and repayments go on). Audited.
* :func:`unfreeze_credit`: the consumer lifts their own freeze after a one-time code sent to
  them (a thief holding the session cannot lift it without the consumer's phone or email).
  A freeze the lender set (a write-off) is not theirs to lift.

The assistant proposes these as actions; the consumer's confirmation is the API call.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from creditpay.credit.lines import freeze_lines_by_customer, unfreeze_lines_by_customer
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, ValidationError
from creditpay.parties.service import Principal, StepUpRequired, WrongCode, commit_and_raise
from creditpay.payments.common import PaymentsContext
from creditpay.payments.intents import Intents
from creditpay.platform import audit
from creditpay.platform.notes import Notes
from creditpay.protection.complaints import ComplaintSubjects, open_complaint
from creditpay.risk.fraud.cases import ingest_consumer_report

__all__ = ["DESCRIPTION_CHARS_MAX", "FraudReport", "report_fraud", "unfreeze_credit"]

DESCRIPTION_CHARS_MAX = 2000
UNFREEZE_PURPOSE = "unfreeze"


@dataclass(frozen=True)
class FraudReport:
    report_id: str
    complaint_id: str
    payment_intent_id: str | None
    labelled: bool  # the payment was recorded as fraud for the models
    lines: list[dict[str, Any]]  # each line after the call (see credit.lines.LineFreeze)
    resolve_due_at: dt.datetime
    description_note_id: str  # the consumer's words, in the notes vault (encrypted)

    def as_dict(self) -> dict[str, Any]:
        return {"report_id": self.report_id, "complaint_id": self.complaint_id,
                "payment_intent_id": self.payment_intent_id, "labelled": self.labelled,
                "credit_frozen": any(line["status"] == "frozen" for line in self.lines),
                "lines": self.lines, "resolve_due_at": self.resolve_due_at.isoformat(),
                "description_note_id": self.description_note_id}


def _description(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("say in a few words what happened", field="description")
    if len(value) > DESCRIPTION_CHARS_MAX:
        raise ValidationError(f"at most {DESCRIPTION_CHARS_MAX} characters",
                              field="description")
    return value.strip()


def report_fraud(tx: Tx, ctx: PaymentsContext, principal: Principal, *, description: object,
                 payment_intent_id: str | None, freeze: bool, subjects: ComplaintSubjects,
                 notes: Notes) -> FraudReport:
    """Record the consumer's fraud report (see the module's docstring). A payment named must
    be one the consumer paid: another's is NotFoundError naming ``payment_intent_id``. The
    consumer's words go to the notes vault (encrypted, erased with the customer's data),
    about the complaint, for the person who follows it up to read."""
    text = _description(description)
    if not isinstance(freeze, bool):
        raise ValidationError("must be true or false", field="freeze")
    report_id = "frr_" + secrets.token_hex(10)
    labelled = False
    if payment_intent_id is not None:
        intent = _own_paid_intent(tx.conn, ctx, principal, payment_intent_id)
        ingest_consumer_report(
            tx, report_id=report_id, subject_id=intent.id, customer_id=principal.id,
            merchant_id=intent.merchant_id, transaction_at=intent.confirmed_at
            or intent.created_at, amount_minor=intent.amount_minor, currency=intent.currency,
            device_id=principal.device_id, recorded_by=principal.id, actor_type="customer")
        labelled = True
    complaint = open_complaint(
        tx, customer_id=principal.id,
        subject_type="payment_intent" if payment_intent_id else "customer",
        subject_id=payment_intent_id or principal.id, category="fraud_dispute",
        channel="app", subjects=subjects)
    note_id = notes.store(tx, text=text, kind="fraud_report.description",
                          about_type="complaint", about_id=complaint.id,
                          author_id=principal.id, customer_id=principal.id,
                          field="description")
    lines = [line.as_dict() for line in freeze_lines_by_customer(
        tx, customer_id=principal.id, reason=f"fraud report {report_id}")] if freeze else []
    audit.append(tx, "customer", principal.id, "fraud_report.received", "customer",
                 principal.id, {"report_id": report_id, "complaint_id": complaint.id,
                                "payment_intent_id": payment_intent_id,
                                "freeze": freeze, "description_note_id": note_id,
                                "frozen_lines": [line["line_id"] for line in lines
                                                 if line["changed"]]})
    return FraudReport(report_id, complaint.id, payment_intent_id, labelled, lines,
                       complaint.resolve_due_at, note_id)


def _own_paid_intent(conn: Connection, ctx: PaymentsContext, principal: Principal,
                     intent_id: object) -> Any:
    """The consumer's own paid intent; NotFoundError naming ``payment_intent_id`` otherwise
    (another's id cannot be probed; an intent never confirmed was not paid by anyone)."""
    if not isinstance(intent_id, str) or not intent_id:
        raise ValidationError("must be a payment intent id", field="payment_intent_id")
    try:
        row = Intents(ctx).intent_row(conn, intent_id)
    except NotFoundError:
        row = None
    if row is None or row.customer_id != principal.id:
        raise NotFoundError(f"you have no payment {intent_id}", field="payment_intent_id")
    return row


def unfreeze_credit(tx: Tx, ctx: PaymentsContext, principal: Principal, *,
                    challenge_id: str | None, code: str | None) -> list[dict[str, Any]]:
    """Lift the consumer's own freeze. Without ``challenge_id`` and ``code`` a one-time code
    is sent and StepUpRequired raised (committed, so the challenge exists); with them the
    code is checked first (a wrong one is counted and refused)."""
    reference = f"unfreeze:{principal.id}"
    if not challenge_id or not code:
        new = ctx.parties.issue_challenge(tx, principal.id, UNFREEZE_PURPOSE, reference)
        raise commit_and_raise(StepUpRequired(
            "enter the one-time code sent to you, then send the request again with it",
            challenge_id=new))
    if ctx.parties.check_challenge(tx, challenge_id, code, purpose=UNFREEZE_PURPOSE,
                                   reference=reference, customer_id=principal.id) is None:
        raise commit_and_raise(WrongCode("the code is wrong"))
    lines = [line.as_dict() for line in unfreeze_lines_by_customer(
        tx, customer_id=principal.id)]
    audit.append(tx, "customer", principal.id, "credit.freeze_lifted", "customer",
                 principal.id, {"lines": [line["line_id"] for line in lines
                                          if line["changed"]]})
    return lines
