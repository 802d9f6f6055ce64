"""Disputes of a payment (issue #20): a consumer disputes a captured payment, or a card
network's chargeback opens (or joins) a dispute; the merchant answers with evidence by a
deadline; an operator decides; the outcome refunds through the payment's refund path
(:meth:`creditpay.payments.checkout.Checkout.refund`: a credit purchase reduces its plan
exactly as a merchant refund does) or ends the credit pause with the paused days honoured.

Each use case runs in the caller's transaction, with its audit record (ids, amounts and
codes only: statements and evidence stay in ``payment_dispute_events``) and the merchant's
webhook through the outbox (``dispute.opened`` with ``respond_by``, ``dispute.updated``,
``dispute.resolved``). The state machine and the deadlines are the pure
:mod:`creditpay.payments.disputes_core`; the credit pause is credit's
(:mod:`creditpay.credit.pauses`, through the credit port).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, func, select, update

from creditpay.db.uow import Tx
from creditpay.errors import ConflictError, NotFoundError, StateError, ValidationError
from creditpay.parties.security import new_id
from creditpay.parties.service import Principal
from creditpay.payments import disputes_core as core
from creditpay.payments.common import CREDIT_FUNDING
from creditpay.payments.disputes_tables import payment_dispute_events, payment_disputes
from creditpay.payments.tables import payment_captures, payment_intents
from creditpay.platform import audit
from creditpay.platform.validators import check_choice

__all__ = ["Disputes", "dispute_view", "sweep_deadlines", "LIST_LIMIT"]

LIST_LIMIT = 200
OUTCOMES = ("consumer", "merchant")
RESPONSE_ACTIONS = ("accept", "contest")


def _text(value: object, field: str, chars_max: int, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ValidationError("is required", field=field)
        return None
    if not isinstance(value, str):
        raise ValidationError("must be text", field=field)
    if len(value) > chars_max:
        raise ValidationError(f"must be at most {chars_max} characters", field=field)
    return value


def _documents(value: object, policy: core.DisputePolicy) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > policy.evidence_documents_max:
        raise ValidationError(f"must be a list of at most {policy.evidence_documents_max} "
                              "texts or ids", field="evidence_documents")
    for k, item in enumerate(value):
        if not isinstance(item, str) or not item or \
                len(item) > policy.evidence_document_chars_max:
            raise ValidationError(f"must be text of 1 to {policy.evidence_document_chars_max}"
                                  " characters", field=f"evidence_documents[{k}]")
    return list(value)


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def dispute_view(row: Any, events: Sequence[Any] | None = None) -> dict[str, Any]:
    """A dispute as the API shows it (amounts in minor units, dates ISO); with its events
    (both sides' statements and evidence) when given."""
    out: dict[str, Any] = {
        "dispute_id": row.id, "payment_intent_id": row.intent_id,
        "customer_id": row.customer_id, "merchant_id": row.merchant_id,
        "currency": row.currency, "amount_minor": int(row.amount_minor),
        "reason": row.reason, "status": row.status, "source": row.source,
        "description": row.description, "chargeback_id": row.chargeback_id,
        "network_reason_code": row.network_reason_code, "funding": row.funding,
        "credit_paused": bool(row.credit_paused), "policy_version": row.policy_version,
        "opened_on": _iso(row.opened_on), "respond_by": _iso(row.respond_by),
        "merchant_late": bool(row.merchant_late), "outcome": row.outcome,
        "refund_id": row.refund_id, "opened_at": _iso(row.opened_at),
        "updated_at": _iso(row.updated_at), "resolved_at": _iso(row.resolved_at)}
    if events is not None:
        out["events"] = [{"kind": e.kind, "actor_type": e.actor_type,
                          "statement": e.statement,
                          "evidence_documents": e.evidence_documents or [],
                          "details": e.details or {}, "created_at": _iso(e.created_at)}
                         for e in events]
    return out



def _disputable_statements() -> tuple[Any, Any]:
    """disputable_payments' reads (the customer's captured payments; the open disputes of
    some intents): constant statements built once (the consumer app lists them)."""
    p, c, d = payment_intents.c, payment_captures.c, payment_disputes.c
    payments = (select(
        p.id, p.merchant_id, p.amount_minor, p.currency, p.funding, p.captured_minor,
        p.refunded_minor, p.description, p.order_id, func.min(c.business_date).label("day"),
        func.max(c.credit_purchase_id).label("purchase_id"))
        .join(payment_captures, c.intent_id == p.id)
        .where(p.customer_id == bindparam("customer_id"), p.status == "succeeded")
        .group_by(p.id, p.seq, p.merchant_id, p.amount_minor, p.currency, p.funding,
                  p.captured_minor, p.refunded_minor, p.description, p.order_id)
        .order_by(p.seq.desc()).limit(bindparam("limit", type_=Integer)))
    disputes = select(d.open_intent_id, d.id).where(
        d.open_intent_id.in_(bindparam("intent_ids", expanding=True)))
    return payments, disputes


_DISPUTABLE, _OPEN_DISPUTES = _disputable_statements()

class Disputes:
    """The dispute use cases on a payments context (``Payments``: its intents, its refund
    path and its credit port)."""

    def __init__(self, payments: Any, policy: core.DisputePolicy | None = None) -> None:
        self.payments = payments
        self.policy = policy or core.load_policy()

    # ------------------------------------------------------------------ reads
    @staticmethod
    def _row(conn: Connection, dispute_id: str, *, lock: bool = False) -> Any:
        query = select(payment_disputes).where(payment_disputes.c.id == dispute_id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no dispute {dispute_id}", field="dispute_id")
        return row

    def _visible(self, conn: Connection, who: Principal, dispute_id: str, *,
                 lock: bool = False) -> Any:
        """The dispute if ``who`` may see it; 404 otherwise (ids cannot be probed)."""
        if not isinstance(dispute_id, str) or not dispute_id:
            raise NotFoundError("no such dispute", field="dispute_id")
        row = self._row(conn, dispute_id, lock=lock)
        if who.kind == "operator" or (who.kind == "customer" and row.customer_id == who.id) \
                or (who.kind == "merchant" and row.merchant_id == who.id):
            return row
        raise NotFoundError(f"no dispute {dispute_id}", field="dispute_id")

    @staticmethod
    def _events(conn: Connection, dispute_id: str) -> list[Any]:
        e = payment_dispute_events.c
        return list(conn.execute(select(payment_dispute_events).where(
            e.dispute_id == dispute_id).order_by(e.seq)).all())

    def get(self, conn: Connection, who: Principal, dispute_id: str) -> dict[str, Any]:
        """One dispute with its events, as ``who`` may see it."""
        row = self._visible(conn, who, dispute_id)
        return dispute_view(row, self._events(conn, row.id))

    def list_for(self, conn: Connection, who: Principal, *, status: str | None = None,
                 limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """The disputes ``who`` may see (a customer's own, a merchant's, every one for an
        operator), newest first, optionally in one ``status``."""
        d = payment_disputes.c
        query = select(payment_disputes).order_by(d.seq.desc()).limit(limit)
        if status is not None:
            query = query.where(d.status == check_choice(status, core.STATUSES, "status"))
        if who.kind == "customer":
            query = query.where(d.customer_id == who.id)
        elif who.kind == "merchant":
            query = query.where(d.merchant_id == who.id)
        elif who.kind != "operator":
            return []
        return [dispute_view(r) for r in conn.execute(query).all()]

    def merchant_rows(self, conn: Connection, merchant: Principal, *,
                      limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """The merchant's consumer disputes (not opened by a chargeback) in the shape of the
        merchant's chargeback list (``GET /v1/merchant/disputes``), newest first."""
        d = payment_disputes.c
        rows = conn.execute(select(payment_disputes, payment_intents.c.confirmed_at).join(
            payment_intents, payment_intents.c.id == d.intent_id).where(
            d.merchant_id == merchant.id, d.source == "consumer")
            .order_by(d.seq.desc()).limit(limit)).all()
        return [{"id": int(r.seq), "reference": r.id, "subject_type": "payment_intent",
                 "subject_id": r.intent_id, "transaction_at": _iso(r.confirmed_at),
                 "labelled_at": _iso(r.opened_at), "is_fraud": False,
                 "amount_minor": int(r.amount_minor), "currency": r.currency,
                 "reason_code": r.reason, "kind": "dispute", "dispute_id": r.id,
                 "dispute_status": r.status, "dispute_reason": r.reason,
                 "dispute_amount_minor": int(r.amount_minor),
                 "respond_by": _iso(r.respond_by), "merchant_late": bool(r.merchant_late),
                 "credit_paused": bool(r.credit_paused), "outcome": r.outcome}
                for r in rows]

    def disputable_payments(self, conn: Connection, customer: Principal, *,
                            limit: int = 50) -> list[dict[str, Any]]:
        """The customer's captured payments, newest first, each with what may still be
        disputed, the credit account that financed it (a plan or the line) and its open
        dispute (if any): what the consumer app offers to dispute."""
        from creditpay.credit.pauses import purchase_accounts

        rows = conn.execute(_DISPUTABLE, {"customer_id": customer.id, "limit": limit}).all()
        accounts = purchase_accounts(conn, [r.purchase_id for r in rows if r.purchase_id])
        open_disputes = {intent_id: dispute_id for intent_id, dispute_id in conn.execute(
            _OPEN_DISPUTES, {"intent_ids": [r.id for r in rows]})} if rows else {}
        return [{"payment_intent_id": r.id, "merchant_id": r.merchant_id,
                 "order_id": r.order_id, "description": r.description,
                 "amount_minor": int(r.amount_minor), "currency": r.currency,
                 "funding": r.funding, "captured_on": _iso(r.day),
                 "disputable_minor": core.disputable_minor(r.captured_minor,
                                                           r.refunded_minor),
                 "account_id": accounts.get(r.purchase_id) if r.purchase_id else None,
                 "open_dispute_id": open_disputes.get(r.id)} for r in rows]

    @staticmethod
    def by_chargeback(conn: Connection, chargeback_ids: Sequence[str]) -> dict[str, Any]:
        """Disputes joined by the chargebacks ``chargeback_ids``, by chargeback id."""
        if not chargeback_ids:
            return {}
        d = payment_disputes.c
        return {r.chargeback_id: dispute_view(r) for r in conn.execute(
            select(payment_disputes).where(d.chargeback_id.in_(list(chargeback_ids)))).all()}

    # ------------------------------------------------------------------ writes
    def _event(self, tx: Tx, dispute_id: str, kind: str, actor_type: str, actor_id: str, *,
               statement: str | None = None, documents: list[str] | None = None,
               details: dict[str, Any] | None = None) -> None:
        tx.conn.execute(payment_dispute_events.insert().values(
            dispute_id=dispute_id, kind=kind, actor_type=actor_type, actor_id=actor_id,
            statement=statement, evidence_documents=documents or None,
            details=details or None, created_at=tx.now))

    def _emit(self, tx: Tx, event_type: str, row: Any) -> None:
        """The merchant's webhook (``dispute.opened|updated|resolved``) via the outbox."""
        view = dispute_view(row)
        view.pop("customer_id")
        view.pop("description")  # the consumer's own words stay in creditpay
        order_id = tx.conn.execute(select(payment_intents.c.order_id).where(
            payment_intents.c.id == row.intent_id)).scalar_one()
        view.update(id=row.id, order_id=order_id)
        tx.emit(f"payments.{event_type}", "payment_dispute", row.id,
                {"merchant_id": row.merchant_id, "type": event_type, "object": view})

    def _update(self, tx: Tx, row: Any, **values: Any) -> Any:
        values["updated_at"] = tx.now
        if values.get("status") in core.FINAL_STATUSES:
            values.update(open_intent_id=None, resolved_at=tx.now)
        tx.conn.execute(update(payment_disputes).where(payment_disputes.c.seq == row.seq)
                        .values(values))
        return self._row(tx.conn, row.id)

    def _captured_on(self, conn: Connection, intent_id: str) -> tuple[dt.date | None,
                                                                       str | None]:
        c = payment_captures.c
        found = conn.execute(select(func.min(c.business_date), func.max(c.credit_purchase_id))
                             .where(c.intent_id == intent_id)).first()
        return (found[0], found[1]) if found is not None else (None, None)

    def _open(self, tx: Tx, intent: Any, *, reason: str, amount_minor: int | None,
              description: str | None, source: str, actor_type: str, actor_id: str,
              chargeback_id: str | None = None, network_reason_code: str | None = None,
              check_window: bool = True) -> Any:
        if intent.status != "succeeded":
            raise StateError(f"the payment is {intent.status}: only a captured payment can be "
                             "disputed", field="payment_intent_id")
        captured_on, purchase_id = self._captured_on(tx.conn, intent.id)
        if captured_on is None:
            raise StateError("the payment was not captured", field="payment_intent_id")
        if check_window and tx.today > core.opening_deadline(captured_on, self.policy):
            raise StateError(f"the dispute window closed {self.policy.opening_window_days} "
                             "days after capture", field="payment_intent_id")
        d = payment_disputes.c
        if tx.conn.execute(select(d.id).where(d.open_intent_id == intent.id)).first():
            raise ConflictError("a dispute is already open on this payment",
                                field="payment_intent_id")
        amount = core.check_amount(amount_minor, core.disputable_minor(
            intent.captured_minor, intent.refunded_minor))
        dispute_id = new_id("dp")
        credit_paused = False
        if intent.funding in CREDIT_FUNDING and purchase_id:
            paused_minor = amount
            leg = self.payments.cross_border.accepted(tx.conn, intent.id) \
                if self.payments.cross_border.is_foreign(intent) else None
            if leg is not None:
                # A payment abroad: the credit purchase is in CNY; pause the disputed part's
                # CNY share at the original rate (as a refund of it would return).
                paused_minor = leg.refund_sell_minor(
                    captured_buy_minor=int(intent.captured_minor),
                    refunded_buy_before_minor=int(intent.refunded_minor),
                    refund_buy_minor=amount)
            paused = self.payments.credit.pause_purchase(
                tx, pause_id=dispute_id, purchase_id=purchase_id, amount_minor=paused_minor,
                actor_id=actor_id)
            credit_paused = paused.paused
        tx.conn.execute(payment_disputes.insert().values(
            id=dispute_id, intent_id=intent.id, open_intent_id=intent.id,
            customer_id=intent.customer_id, merchant_id=intent.merchant_id,
            currency=intent.currency, amount_minor=amount, reason=reason, status="open",
            source=source, description=description, chargeback_id=chargeback_id,
            network_reason_code=network_reason_code, funding=intent.funding,
            credit_purchase_id=purchase_id if credit_paused else None,
            credit_paused=credit_paused, policy_version=self.policy.version,
            opened_on=tx.today, respond_by=core.respond_by(tx.today, self.policy),
            merchant_late=False, outcome=None, refund_id=None, opened_at=tx.now,
            updated_at=tx.now, resolved_at=None))
        self._event(tx, dispute_id, "opened" if source == "consumer" else "chargeback",
                    actor_type, actor_id, statement=description,
                    details={"reason": reason, "amount_minor": amount,
                             "network_reason_code": network_reason_code})
        audit.append(tx, "customer" if actor_type == "customer" else "staff", actor_id,
                     "dispute.opened", "payment_dispute", dispute_id,
                     {"intent_id": intent.id, "reason": reason, "amount_minor": amount,
                      "source": source, "credit_paused": credit_paused,
                      "policy_version": self.policy.version})
        row = self._row(tx.conn, dispute_id)
        self._emit(tx, "dispute.opened", row)
        return row

    def open_dispute(self, tx: Tx, customer: Principal, *, payment_intent_id: object,
                     reason: object, amount_minor: object = None,
                     description: object = None) -> dict[str, Any]:
        """A consumer disputes one of their captured payments: 404 for another customer's,
        409 naming ``payment_intent_id`` when one is already open or the window has
        passed; the plan that financed it is paused."""
        if customer.kind != "customer":
            raise NotFoundError("no such payment", field="payment_intent_id")
        if not isinstance(payment_intent_id, str) or not payment_intent_id:
            raise ValidationError("is required", field="payment_intent_id")
        check_choice(reason, core.REASONS, "reason")
        text = _text(description, "description", self.policy.description_chars_max)
        if amount_minor is not None and (isinstance(amount_minor, bool)
                                         or not isinstance(amount_minor, int)):
            raise ValidationError("must be an integer number of minor units",
                                  field="amount_minor")
        try:
            intent = self.payments.intents.intent_row(tx.conn, payment_intent_id, lock=True)
        except NotFoundError:
            raise NotFoundError("no such payment", field="payment_intent_id") from None
        if intent.customer_id != customer.id:
            raise NotFoundError("no such payment", field="payment_intent_id")
        row = self._open(tx, intent, reason=str(reason), amount_minor=amount_minor,
                         description=text, source="consumer", actor_type="customer",
                         actor_id=customer.id)
        return dispute_view(row, self._events(tx.conn, row.id))

    def join_chargeback(self, tx: Tx, *, chargeback_id: str, intent_id: str,
                        amount_minor: int | None, reason_code: str | None, is_fraud: bool,
                        recorded_by: str) -> dict[str, Any] | None:
        """A chargeback from the card rail on payment ``intent_id`` opens a dispute (reason
        mapped from the network's code; the plan paused the same way) or attaches to the one
        open; idempotent per ``chargeback_id``. None when the payment is not a captured
        payment of this platform (the fraud label is kept all the same)."""
        d = payment_disputes.c
        joined = tx.conn.execute(select(payment_disputes).where(
            d.chargeback_id == chargeback_id)).first()
        if joined is not None:
            return dispute_view(joined)
        try:
            intent = self.payments.intents.intent_row(tx.conn, intent_id, lock=True)
        except NotFoundError:
            return None
        if intent.status != "succeeded":
            return None
        reason = core.chargeback_reason(reason_code, is_fraud, self.policy)
        open_row = tx.conn.execute(select(payment_disputes).where(
            d.open_intent_id == intent.id)).first()
        if open_row is not None:
            if open_row.chargeback_id is not None:
                raise ConflictError(f"the open dispute already joins chargeback "
                                    f"{open_row.chargeback_id}", field="chargeback_id")
            row = self._update(tx, open_row, chargeback_id=chargeback_id,
                               network_reason_code=reason_code)
            self._event(tx, row.id, "chargeback", "operator", recorded_by,
                        details={"chargeback_id": chargeback_id,
                                 "network_reason_code": reason_code})
            audit.append(tx, "staff", recorded_by, "dispute.chargeback_joined",
                         "payment_dispute", row.id, {"chargeback_id": chargeback_id})
            self._emit(tx, "dispute.updated", row)
            return dispute_view(row)
        disputable = core.disputable_minor(intent.captured_minor, intent.refunded_minor)
        if disputable <= 0:
            return None
        amount = None if amount_minor is None else max(1, min(int(amount_minor), disputable))
        row = self._open(tx, intent, reason=reason, amount_minor=amount, description=None,
                         source="chargeback", actor_type="operator", actor_id=recorded_by,
                         chargeback_id=chargeback_id, network_reason_code=reason_code,
                         check_window=False)
        return dispute_view(row)

    def respond(self, tx: Tx, merchant: Principal, dispute_id: str, *, action: object,
                evidence: object = None, evidence_documents: object = None
                ) -> dict[str, Any]:
        """The merchant's answer: ``accept`` refunds at once through the refund path;
        ``contest`` (with evidence) moves the dispute to review."""
        check_choice(action, RESPONSE_ACTIONS, "action")
        statement = _text(evidence, "evidence", self.policy.evidence_chars_max,
                          required=action == "contest")
        documents = _documents(evidence_documents, self.policy)
        row = self._visible(tx.conn, merchant, dispute_id, lock=True)
        if merchant.kind != "merchant":
            raise NotFoundError(f"no dispute {dispute_id}", field="dispute_id")
        step = core.transition(row.status, f"merchant_{action}")
        self._event(tx, row.id, f"merchant_{action}", "merchant", merchant.id,
                    statement=statement, documents=documents)
        audit.append(tx, "merchant", merchant.id, f"dispute.merchant_{action}",
                     "payment_dispute", row.id,
                     {"status": step.status, "evidence_documents": len(documents)})
        row = self._apply(tx, row, step, actor_type="merchant", actor_id=merchant.id,
                          outcome="consumer" if action == "accept" else None)
        return dispute_view(row, self._events(tx.conn, row.id))

    def withdraw(self, tx: Tx, customer: Principal, dispute_id: str) -> dict[str, Any]:
        """The consumer withdraws: the plan resumes with the paused days honoured."""
        row = self._visible(tx.conn, customer, dispute_id, lock=True)
        if customer.kind != "customer":
            raise NotFoundError(f"no dispute {dispute_id}", field="dispute_id")
        step = core.transition(row.status, "withdraw")
        self._event(tx, row.id, "withdraw", "customer", customer.id)
        audit.append(tx, "customer", customer.id, "dispute.withdrawn", "payment_dispute",
                     row.id, {"status": step.status})
        row = self._apply(tx, row, step, actor_type="customer", actor_id=customer.id,
                          outcome=None)
        return dispute_view(row, self._events(tx.conn, row.id))

    def decide(self, tx: Tx, operator_id: str, dispute_id: str, *, outcome: object,
               note: object = None) -> dict[str, Any]:
        """An operator's decision on a dispute under review: ``consumer`` refunds the
        disputed amount through the refund path; ``merchant`` resumes the plan."""
        check_choice(outcome, OUTCOMES, "outcome")
        text = _text(note, "note", self.policy.evidence_chars_max)
        row = self._row(tx.conn, dispute_id, lock=True)
        step = core.transition(row.status, f"decide_{outcome}")
        self._event(tx, row.id, f"decide_{outcome}", "operator", operator_id, statement=text)
        audit.append(tx, "staff", operator_id, "dispute.decided", "payment_dispute", row.id,
                     {"outcome": str(outcome), "status": step.status,
                      "amount_minor": int(row.amount_minor)})
        row = self._apply(tx, row, step, actor_type="operator", actor_id=operator_id,
                          outcome=str(outcome))
        return dispute_view(row, self._events(tx.conn, row.id))

    def decidable_amount(self, conn: Connection, dispute_id: str, outcome: object) -> int:
        """The disputed amount of ``dispute_id`` if it can be decided ``outcome`` now (what
        the four-eyes threshold is compared with); 404 / 409 otherwise."""
        check_choice(outcome, OUTCOMES, "outcome")
        row = self._row(conn, dispute_id)
        core.transition(row.status, f"decide_{outcome}")
        return int(row.amount_minor)

    def ingest_chargeback(self, tx: Tx, operator: Principal, *, chargeback_id: str,
                          intent_id: str, reason_code: str | None, is_fraud: bool
                          ) -> dict[str, Any]:
        """A chargeback from the card rail: stored as the fraud label it always was
        (:func:`creditpay.risk.fraud.cases.ingest_chargeback`), and joined to the payment's
        dispute (opened if none is open). The label's view, with ``dispute``."""
        from creditpay.risk.fraud import cases

        intent = self.payments.intents.intent_row(tx.conn, intent_id)
        if intent.confirmed_at is None or intent.customer_id is None:
            raise ValidationError("this payment was never made", field="intent_id")
        label = cases.ingest_chargeback(
            tx, chargeback_id=chargeback_id, subject_id=intent_id,
            customer_id=intent.customer_id, merchant_id=intent.merchant_id,
            transaction_at=intent.confirmed_at, amount_minor=intent.amount_minor,
            currency=intent.currency, reason_code=reason_code, is_fraud=is_fraud,
            recorded_by=operator.id)
        dispute = self.join_chargeback(
            tx, chargeback_id=chargeback_id, intent_id=intent_id, amount_minor=None,
            reason_code=reason_code, is_fraud=is_fraud, recorded_by=operator.id)
        return {**label, "dispute": dispute}

    def sweep_deadlines(self, tx: Tx, business_date: dt.date) -> int:
        """Open disputes whose merchant did not answer by ``respond_by`` (on or before the
        closed ``business_date``) go to review, flagged ``merchant_late`` (idempotent: a
        swept dispute is no longer open)."""
        if business_date > tx.today:
            raise ValidationError(f"{business_date} has not begun", field="business_date")
        d = payment_disputes.c
        rows = tx.conn.execute(select(payment_disputes).where(
            d.status == "open", d.respond_by <= business_date).order_by(d.seq)).all()
        for row in rows:
            step = core.transition(row.status, "deadline")
            self._event(tx, row.id, "deadline", "system", "disputes",
                        details={"respond_by": row.respond_by.isoformat()})
            audit.append(tx, "system", "disputes", "dispute.deadline_passed",
                         "payment_dispute", row.id, {"status": step.status})
            updated = self._update(tx, row, status=step.status, merchant_late=True)
            self._emit(tx, "dispute.updated", updated)
        return len(rows)

    def _apply(self, tx: Tx, row: Any, step: core.Transition, *, actor_type: str,
               actor_id: str, outcome: str | None) -> Any:
        values: dict[str, Any] = {"status": step.status}
        if step.effect in ("refund", "resume") and step.status != "withdrawn":
            values["outcome"] = outcome
        if row.credit_paused and step.effect in ("refund", "resume"):
            self.payments.credit.end_pause(
                tx, pause_id=row.id, outcome="refunded" if step.effect == "refund"
                else "resumed", actor_id=actor_id)
        if step.effect == "refund":
            values["refund_id"] = self._refund(tx, row, actor_id)
        updated = self._update(tx, row, **values)
        self._emit(tx, "dispute.resolved" if step.status in core.FINAL_STATUSES
                   else "dispute.updated", updated)
        return updated

    def _refund(self, tx: Tx, row: Any, actor_id: str) -> str | None:
        """Refund the disputed amount (what is still refundable of it) through the
        payment's own refund path, as the merchant's refund."""
        intent = self.payments.intents.intent_row(tx.conn, row.intent_id, lock=True)
        amount = min(int(row.amount_minor), intent.captured_minor - intent.refunded_minor)
        if amount <= 0:
            return None
        refund = self.payments.checkout.refund(
            tx, Principal("merchant", row.merchant_id), row.intent_id, amount_minor=amount,
            reason=f"dispute:{row.id}")
        self._event(tx, row.id, "refund", "system", actor_id,
                    details={"refund_id": refund["id"], "amount_minor": amount})
        audit.append(tx, "system", "disputes", "dispute.refunded", "payment_dispute", row.id,
                     {"refund_id": refund["id"], "amount_minor": amount})
        refund_id: str = refund["id"]
        return refund_id


def sweep_deadlines(tx: Tx, business_date: dt.date) -> int:
    """The nightly deadline sweep (:meth:`Disputes.sweep_deadlines`): it moves no money and
    touches no credit, so it needs no payments context."""
    return Disputes(None).sweep_deadlines(tx, business_date)
