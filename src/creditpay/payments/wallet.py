"""Wallet use cases: top-up and withdrawal by card (rail callbacks post or void the
hold), P2P transfers with their fraud screening and review, the balance and the history.

Ledger plan: see :mod:`creditpay.payments.service`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx
from creditpay.errors import (
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.ledger.chart import party_key, platform_key
from creditpay.ledger.model import TransferKind, TransferRequest
from creditpay.ledger.service import (
    create_transfer,
    get_account_by_key,
)
from creditpay.parties.security import new_id
from creditpay.parties.service import (
    Principal,
    StepUpRequired,
    WrongCode,
    commit_and_raise,
)
from creditpay.payments.common import (
    PaymentDeclinedError,
    PaymentsContext,
    check_amount,
)
from creditpay.payments.risk import Decision, Outcome, PaymentEvent
from creditpay.payments.tables import (
    wallet_operations,
)
from creditpay.platform import audit

__all__ = ["Wallet", "NewerPage"]


# Prepared statements (creditpay.db.prepared: compiled once, run on the driver; the demo
# runs these thousands of times a day).
_INSERT_OPERATION = Prepared(wallet_operations.insert(), columns=(
    "id", "customer_id", "kind", "status", "amount_minor", "currency", "card_id",
    "counterparty_customer_id", "rail_operation_id", "created_at"))
_OPERATION_BY_ID = Prepared(select(wallet_operations).where(
    wallet_operations.c.id == bindparam("id")))
_COMPLETE_OPERATION = Prepared(update(wallet_operations).where(
    wallet_operations.c.id == bindparam("op_id")).values(
    status=bindparam("new_status"), completed_at=bindparam("now"),
    failure_reason=bindparam("reason")))
_w = wallet_operations.c
# A customer's operations, newest first: theirs, and P2P transfers paid to them.
_HISTORY = Prepared(select(wallet_operations).where(
    or_(_w.customer_id == bindparam("customer_id"),
        and_(_w.counterparty_customer_id == bindparam("customer_id"), _w.kind == "p2p"))
).order_by(_w.seq.desc()).limit(bindparam("rows")))
_HISTORY_BEFORE = Prepared(select(wallet_operations).where(
    or_(_w.customer_id == bindparam("customer_id"),
        and_(_w.counterparty_customer_id == bindparam("customer_id"), _w.kind == "p2p")),
    _w.seq < bindparam("before_seq")).order_by(_w.seq.desc()).limit(bindparam("rows")))


@dataclass(frozen=True)
class NewerPage:
    """The start of a newer page of the wallet history: read it with ``before_seq``
    (``None``: the newest page)."""

    before_seq: int | None


@dataclass
class Wallet:
    """Wallet use cases (see the module docstring)."""

    ctx: PaymentsContext

    def wallet_balance(self, conn: Connection, customer_id: str, currency: str
                       ) -> dict[str, Any]:
        self.ctx.operated_currency(currency)
        try:
            account = get_account_by_key(conn, party_key("wallet", customer_id, currency))
        except NotFoundError:
            return {"currency": currency, "balance_minor": 0, "available_minor": 0,
                    "incoming_pending_minor": 0}
        return {"currency": currency, "balance_minor": account.balance_minor,
                "available_minor": account.available_minor,
                "incoming_pending_minor": account.credits_pending}

    # ================================================================== wallet
    def _op_view(self, row: Any, viewer: str | None = None) -> dict[str, Any]:
        direction = "in" if row.kind == "topup" or (
            row.kind == "p2p" and viewer == row.counterparty_customer_id) else "out"
        return {"id": row.id, "kind": row.kind, "status": row.status,
                "direction": direction, "amount_minor": row.amount_minor,
                "currency": row.currency, "card_id": row.card_id,
                "counterparty_customer_id": row.counterparty_customer_id
                if row.kind == "p2p" else None,
                "failure_reason": row.failure_reason,
                "created_at": row.created_at.isoformat(),
                "completed_at": row.completed_at.isoformat() if row.completed_at
                else None}

    def _card_move(self, tx: Tx, principal: Principal, kind: str, card_id: str,
                   amount_minor: int, currency: str) -> dict[str, Any]:
        amount_minor = check_amount(amount_minor, "amount_minor", self.ctx.policy.amount_minor_max)
        self.ctx.operated_currency(currency)
        card = self.ctx.parties.get_card(tx.conn, principal.id, card_id)
        wallet = self.ctx.wallet_id(tx, principal.id, currency)
        clearing = self.ctx.account_id(tx.conn, platform_key("card_clearing", currency))
        op_id = new_id("wop")
        # The hold is placed before the rail is asked: a withdrawal beyond the balance is
        # refused here and never reaches the card network.
        debit, credit = (clearing, wallet) if kind == "topup" else (wallet, clearing)
        create_transfer(tx, TransferRequest(
            op_id, f"wallet.{kind}", TransferKind.PENDING, debit_account_id=debit,
            credit_account_id=credit, amount_minor=amount_minor, reference=op_id))
        rail_op = self.ctx.rail.submit(tx, "charge" if kind == "topup" else "payout",
                                       card.rail_token, amount_minor, currency, op_id)
        _INSERT_OPERATION.run(tx.conn, dict(
            id=op_id, customer_id=principal.id, kind=kind, status="pending",
            amount_minor=amount_minor, currency=currency, card_id=card_id,
            counterparty_customer_id=None, rail_operation_id=rail_op, created_at=tx.now))
        audit.append(tx, "customer", principal.id, f"wallet.{kind}_requested",
                     "wallet_operation", op_id,
                     {"amount_minor": amount_minor, "currency": currency, "card": card_id})
        tx.emit(f"payments.wallet.{kind}_requested", "wallet_operation", op_id,
                {"customer_id": principal.id, "amount_minor": amount_minor,
                 "currency": currency})
        # The view of the row just written, from the values written (not read back): the
        # columns left out are NULL, and created_at is stored in UTC.
        return self._op_view(SimpleNamespace(
            id=op_id, kind=kind, status="pending", amount_minor=amount_minor,
            currency=currency, card_id=card_id, counterparty_customer_id=None,
            failure_reason=None, created_at=tx.now.astimezone(dt.UTC), completed_at=None))

    def top_up(self, tx: Tx, principal: Principal, *, card_id: str, amount_minor: int,
               currency: str = "CNY") -> dict[str, Any]:
        return self._card_move(tx, principal, "topup", card_id, amount_minor, currency)

    def withdraw(self, tx: Tx, principal: Principal, *, card_id: str, amount_minor: int,
                 currency: str = "CNY") -> dict[str, Any]:
        return self._card_move(tx, principal, "withdrawal", card_id, amount_minor, currency)

    def _wallet_op(self, conn: Connection, op_id: str) -> Any:
        row = _OPERATION_BY_ID.first(conn, {"id": op_id})
        if row is None:
            raise NotFoundError(f"no wallet operation {op_id}", field="operation_id")
        return row

    def handle_rail_callback(self, tx: Tx, operation_id: str) -> dict[str, Any]:
        """Apply a card rail callback once: post or void the wallet hold."""
        callback = self.ctx.rail.operation(tx.conn, operation_id)
        if not self.ctx.rail.mark_delivered(tx, operation_id):
            return {"operation_id": operation_id, "applied": False}
        reference = callback["reference"]
        if not reference.startswith("wop_"):  # card refunds: nothing waits on them
            return {"operation_id": operation_id, "applied": True}
        op = self._wallet_op(tx.conn, reference)
        if op.status != "pending":
            return {"operation_id": operation_id, "applied": False}
        succeeded = callback["outcome"] == "succeeded"
        create_transfer(tx, TransferRequest(
            f"{op.id}.{'post' if succeeded else 'void'}", f"wallet.{op.kind}",
            TransferKind.POST if succeeded else TransferKind.VOID, pending_id=op.id,
            reference=op.id))
        status = "succeeded" if succeeded else "failed"
        _COMPLETE_OPERATION.run(tx.conn, {
            "op_id": op.id, "new_status": status, "now": tx.now,
            "reason": None if succeeded else "card_declined"})
        audit.append(tx, "system", "card_rail", f"wallet.{op.kind}_{status}",
                     "wallet_operation", op.id, {"rail_operation_id": operation_id})
        tx.emit(f"payments.wallet.{op.kind}_{status}", "wallet_operation", op.id,
                {"customer_id": op.customer_id, "amount_minor": op.amount_minor,
                 "currency": op.currency})
        return {"operation_id": operation_id, "applied": True, "status": status}

    def p2p(self, tx: Tx, principal: Principal, *, to: str, amount_minor: int,
            currency: str = "CNY", note: str | None = None,
            step_up_challenge_id: str | None = None, step_up_code: str | None = None
            ) -> dict[str, Any]:
        """Pay another customer from the wallet. Screening may ask for a one-time code
        (``challenge``: call again with ``step_up_challenge_id`` / ``step_up_code``) or
        hold the transfer for an analyst (``review``: a pending ledger hold, status
        ``pending``, posted or voided by :meth:`review_transfer`)."""
        amount_minor = check_amount(amount_minor, "amount_minor", self.ctx.policy.amount_minor_max)
        self.ctx.operated_currency(currency)
        payee = self.ctx.parties.find_by_identifier(tx.conn, to) if isinstance(to, str) else None
        if payee is None or payee.status != "active":
            raise NotFoundError("no customer with that phone or email", field="to")
        if payee.id == principal.id:
            raise ValidationError("cannot pay yourself", field="to")
        if note is not None and (not isinstance(note, str) or len(note) > 140):
            raise ValidationError("must be at most 140 characters", field="note")
        op_id = new_id("wop")
        decision = self._screen_p2p(tx, principal, op_id, payee.id, amount_minor, currency,
                                    step_up_challenge_id, step_up_code)
        held = decision.outcome == Outcome.REVIEW
        # Held for review: a pending hold (the payer's money is reserved, the payee sees it
        # incoming) until an analyst's verdict posts or voids it.
        create_transfer(tx, TransferRequest(
            op_id, "wallet.p2p", TransferKind.PENDING if held else TransferKind.SINGLE,
            debit_account_id=self.ctx.wallet_id(tx, principal.id, currency),
            credit_account_id=self.ctx.wallet_id(tx, payee.id, currency),
            amount_minor=amount_minor, reference=op_id))
        tx.conn.execute(wallet_operations.insert().values(
            id=op_id, customer_id=principal.id, kind="p2p",
            status="pending" if held else "succeeded",
            amount_minor=amount_minor, currency=currency, card_id=None,
            counterparty_customer_id=payee.id, rail_operation_id=None, created_at=tx.now,
            completed_at=None if held else tx.now))
        audit.append(tx, "customer", principal.id, "wallet.p2p_held" if held else "wallet.p2p",
                     "wallet_operation", op_id,
                     {"amount_minor": amount_minor, "currency": currency,
                      "payee": payee.id})
        if held:
            if self.ctx.on_review is not None:
                self.ctx.on_review(tx, intent_id=op_id, subject_type="wallet_operation",
                                   customer_id=principal.id, merchant_id=payee.id,
                                   amount_minor=amount_minor, currency=currency,
                                   device_id=principal.device_id,
                                   score=(decision.details or {}).get("score"),
                                   reasons=list(decision.reasons))
            tx.emit("payments.wallet.p2p_held", "wallet_operation", op_id,
                    {"payer": principal.id, "payee": payee.id,
                     "amount_minor": amount_minor, "currency": currency})
        else:
            tx.emit("payments.wallet.p2p", "wallet_operation", op_id,
                    {"payer": principal.id, "payee": payee.id, "amount_minor": amount_minor,
                     "currency": currency})
        return self._op_view(self._wallet_op(tx.conn, op_id), principal.id)

    def _screen_p2p(self, tx: Tx, principal: Principal, op_id: str, payee_id: str,
                    amount_minor: int, currency: str, challenge_id: str | None,
                    code: str | None) -> Decision:
        """Fraud screening of a transfer (scenario ``p2p``, the payee in the merchant's
        place), committed with its outcome. ``challenge`` asks for a one-time code as
        checkout does (the code unlocks this payee, amount and currency); ``review`` is
        returned for the caller to hold the transfer; ``decline`` refuses it."""
        decision = self.ctx.risk.screen_payment(tx, PaymentEvent(
            intent_id=op_id, customer_id=principal.id, merchant_id=payee_id,
            merchant_mcc="p2p", amount_minor=amount_minor, currency=currency,
            funding="balance", scenario="p2p", device_id=principal.device_id,
            occurred_at=tx.now))
        if decision.details or decision.outcome != Outcome.APPROVE:
            self.ctx.record_screening(tx, "wallet_operation", op_id, decision)
        if decision.outcome == Outcome.DECLINE:
            raise commit_and_raise(PaymentDeclinedError(
                "the transfer was declined by risk screening",
                reasons=list(decision.reasons)), store=True)
        if decision.outcome == Outcome.CHALLENGE:
            reference = f"p2p:{payee_id}:{amount_minor}:{currency}"
            if not challenge_id or not code:
                new = self.ctx.parties.issue_challenge(tx, principal.id, "payment", reference)
                raise commit_and_raise(StepUpRequired(
                    "enter the one-time code sent to you, then send the transfer again "
                    "with it", challenge_id=new))
            if self.ctx.parties.check_challenge(tx, challenge_id, code, purpose="payment",
                                                reference=reference,
                                                customer_id=principal.id) is None:
                raise commit_and_raise(WrongCode("the code is wrong"))
        return decision

    def review_transfer(self, tx: Tx, operator: Principal, operation_id: str, *,
                        approve: bool, note: str | None = None) -> dict[str, Any]:
        """Release (post) or void a P2P transfer held for review; the fraud case's verdict
        calls this (``legitimate`` releases it)."""
        op = self._wallet_op(tx.conn, operation_id)
        if op.kind != "p2p" or op.status != "pending":
            raise StateError(f"transfer is {op.status}", field="operation_id")
        create_transfer(tx, TransferRequest(
            f"{op.id}.{'post' if approve else 'void'}", "wallet.p2p",
            TransferKind.POST if approve else TransferKind.VOID, pending_id=op.id,
            reference=op.id))
        status = "succeeded" if approve else "failed"
        tx.conn.execute(update(wallet_operations).where(wallet_operations.c.id == op.id)
                        .values(status=status, completed_at=tx.now,
                                failure_reason=None if approve else "declined_by_review"))
        audit.append(tx, "staff", operator.id, "wallet.p2p_reviewed", "wallet_operation",
                     op.id, {"approve": approve, "note_given": bool(note)})
        tx.emit("payments.wallet.p2p" if approve else "payments.wallet.p2p_declined",
                "wallet_operation", op.id,
                {"payer": op.customer_id, "payee": op.counterparty_customer_id,
                 "amount_minor": op.amount_minor, "currency": op.currency})
        return self._op_view(self._wallet_op(tx.conn, op.id), op.customer_id)

    def history(self, conn: Connection, customer_id: str, *, before_seq: int | None,
                limit: int) -> tuple[list[dict[str, Any]], int | None]:
        if before_seq is None:
            rows = _HISTORY.rows(conn, {"customer_id": customer_id, "rows": limit + 1})
        else:
            rows = _HISTORY_BEFORE.rows(conn, {"customer_id": customer_id,
                                               "before_seq": before_seq, "rows": limit + 1})
        page = rows[:limit]
        next_seq = page[-1].seq if len(rows) > limit else None
        return [self._op_view(r, customer_id) for r in page], next_seq

    def history_newer_page(self, conn: Connection, customer_id: str, *,
                           before_seq: int | None, limit: int) -> NewerPage | None:
        """Where the page of :meth:`history` just newer than the one at ``before_seq``
        starts, for a "newer" link that carries a cursor of the same kind as the history's
        own ``next_seq`` (so paging back and forth shows the same pages): ``None`` when the
        page at ``before_seq`` is the newest; ``NewerPage(None)`` when the newer page is the
        first one (no cursor); else ``NewerPage(seq)``, to be read with ``before_seq=seq``."""
        if before_seq is None:
            return None
        w = wallet_operations.c
        seqs = conn.execute(select(w.seq).where(
            or_(w.customer_id == customer_id, and_(w.counterparty_customer_id == customer_id,
                                                   w.kind == "p2p")),
            w.seq >= before_seq).order_by(w.seq.asc()).limit(limit + 1)).scalars().all()
        if not seqs:
            return None
        # The newer page holds the ``limit`` operations from ``before_seq`` up; reading
        # before the next one up gives exactly those.
        return NewerPage(seqs[limit] if len(seqs) > limit else None)

    def wallet_operation_customers(self, conn: Connection, operation_id: str
                                   ) -> tuple[str, ...]:
        """The customers of a wallet operation: its owner, and a transfer's payee."""
        row = conn.execute(select(wallet_operations.c.customer_id,
                                  wallet_operations.c.counterparty_customer_id).where(
            wallet_operations.c.id == operation_id)).first()
        return tuple(c for c in row if c) if row is not None else ()

