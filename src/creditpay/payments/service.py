"""Payments use cases: wallet top-up / withdrawal / P2P, payment intents (create, credit
offers, confirm, capture, cancel, refund), offline QR codes, merchant settlement.

Every use case runs in the caller's transaction and does all of it there: risk screening,
credit reservation, the ledger hold or posting, its own rows, the audit record and the outbox
event (DESIGN.md invariant 4). Ledger transfer ids are derived from the business object id
(``pi_x.auth``, ``pi_x.capture``, ``re_y``), so a retried use case replays instead of moving
money twice, on top of the API's idempotency keys.

Ledger plan (accounts in ``creditpay.ledger.chart``):

=====================  ==========================  =========================================
use case               debit                       credit
=====================  ==========================  =========================================
top-up (hold, post)    platform card_clearing      wallet:<customer>
withdrawal (hold)      wallet:<customer>           platform card_clearing
P2P                    wallet:<payer>              wallet:<payee>
pay by balance (hold)  wallet:<customer>           merchant_payable:<merchant>
pay by card (hold)     platform card_clearing      merchant_payable:<merchant>
pay by credit          (credit facade: line → merchant_payable on capture)
down payment (hold)    wallet:<customer>           merchant_payable:<merchant>
refund (balance)       merchant_payable            wallet:<customer>
refund (card)          merchant_payable            platform card_clearing (+ rail payout)
settlement fee         merchant_payable            platform merchant_fee_income
settlement payout      merchant_payable            platform bank_settlement
=====================  ==========================  =========================================
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from creditpay.credit import affordability as affordability_rules
from creditpay.db.uow import Tx
from creditpay.errors import (
    ConflictError,
    DomainError,
    InsufficientFundsError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
    ValidationError,
)
from creditpay.ledger.chart import party_key, platform_key
from creditpay.ledger.model import TransferKind, TransferRequest
from creditpay.ledger.service import (
    create_transfer,
    create_transfers,
    expire_holds,
    get_account_by_key,
    open_accounts,
)
from creditpay.money import AMOUNT_MINOR_MAX, validate_operated_currency
from creditpay.parties.security import new_id, sha256_hex
from creditpay.parties.service import (
    Parties,
    Principal,
    StepUpRequired,
    WrongCode,
    commit_and_raise,
    merchant_payable_spec,
    wallet_spec,
)
from creditpay.payments.credit_port import (
    LANGUAGES,
    BorrowerPosition,
    CreditPort,
    KeyFactsDocument,
    NoCredit,
)
from creditpay.payments.rail import CardRail
from creditpay.payments.risk import (
    AllowAllRiskGateway,
    Decision,
    Outcome,
    PaymentEvent,
    RiskGateway,
)
from creditpay.payments.tables import (
    merchant_settlements,
    payment_captures,
    payment_codes,
    payment_intents,
    payment_refunds,
    wallet_operations,
)
from creditpay.platform import audit
from creditpay.protection.disclosure import accept_disclosure

__all__ = ["PaymentsPolicy", "Payments", "PaymentDeclinedError", "FUNDING_SOURCES",
           "SCENARIOS", "CREDIT_FUNDING"]

FUNDING_SOURCES = ("balance", "card", "credit_line", "installment_plan")
CREDIT_FUNDING = ("credit_line", "installment_plan")
SCENARIOS = ("online", "offline_qr", "social", "rental")
LINE_ITEMS_MAX = 100


class PaymentDeclinedError(DomainError):
    type_slug = "payment-declined"
    status = 402
    title = "Payment declined"


@dataclass(frozen=True)
class PaymentsPolicy:
    """Limits and windows, in business time and minor units."""

    capture_window_s: int = 7 * 24 * 3600
    intent_ttl_s: int = 24 * 3600
    qr_ttl_s: int = 300
    payment_code_ttl_s: int = 60
    offer_ttl_s: int = 900
    step_up_amount_minor: int = 500_000  # 5 000.00 CNY and above needs a one-time code
    amount_minor_max: int = 10_000_000_000
    # Named as the lender on key-facts documents (the platform's licensed lending entity).
    lender_name: str = "creditpay"
    # The currencies the platform operates in (its ledger accounts, products and caps);
    # any other valid ISO code is refused as bad input naming the field.
    currencies: tuple[str, ...] = ("CNY",)


def _check_amount(value: object, field_name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
        raise ValidationError(f"must be an integer of minor units from 1 to {maximum}",
                              field=field_name)
    return value


@dataclass
class Payments:
    parties: Parties
    rail: CardRail
    risk: RiskGateway = field(default_factory=AllowAllRiskGateway)
    # No credit unless one is given: the bootstrap passes the credit port on its catalogue.
    credit: CreditPort = field(default_factory=NoCredit)
    policy: PaymentsPolicy = field(default_factory=PaymentsPolicy)
    # Affordability rules at origination, per currency; credit in a currency without a
    # policy is refused (the caps are amounts in that currency's minor units).
    affordability_policies: dict[str, affordability_rules.AffordabilityPolicy] = field(
        default_factory=lambda: {"CNY": affordability_rules.DEFAULT_POLICY})
    # (conn, customer_id, currency) -> (verified monthly income, monthly debt payments to
    # every lender), minor units, or None when unknown; the parties / risk domains wire
    # the declared income here. Unknown income skips the debt-to-income rule only.
    declared_income: Callable[[Connection, str, str], tuple[int, int] | None] | None = None
    # Called in the confirming transaction when screening holds a payment for review
    # (keywords: intent_id, customer_id, merchant_id, amount_minor, currency, device_id,
    # score, reasons; a held P2P transfer adds subject_type="wallet_operation", its
    # operation id as intent_id and the payee as merchant_id); the runtime wires the risk
    # domain's fraud case queue here.
    on_review: Callable[..., Any] | None = None

    # ================================================================== ledger helpers
    def _account_id(self, conn: Connection, key: str) -> int:
        return get_account_by_key(conn, key).id

    def _opened_id(self, tx: Tx, spec: Any) -> int:
        """The id of the account of ``spec``, opened idempotently: one read when it exists
        (wallets and merchant payables are opened at registration)."""
        return open_accounts(tx, [spec])[0].id

    def _wallet_id(self, tx: Tx, customer_id: str, currency: str) -> int:
        return self._opened_id(tx, wallet_spec(customer_id, currency))

    def _payable_id(self, tx: Tx, merchant_id: str, currency: str) -> int:
        return self._opened_id(tx, merchant_payable_spec(merchant_id, currency))

    def operated_currency(self, currency: object, field_name: str = "currency") -> str:
        """``currency`` if the platform operates in it, else ValidationError naming it."""
        return validate_operated_currency(currency, self.policy.currencies, field_name)

    def wallet_balance(self, conn: Connection, customer_id: str, currency: str
                       ) -> dict[str, Any]:
        self.operated_currency(currency)
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
        amount_minor = _check_amount(amount_minor, "amount_minor", self.policy.amount_minor_max)
        self.operated_currency(currency)
        card = self.parties.get_card(tx.conn, principal.id, card_id)
        wallet = self._wallet_id(tx, principal.id, currency)
        clearing = self._account_id(tx.conn, platform_key("card_clearing", currency))
        op_id = new_id("wop")
        # The hold is placed before the rail is asked: a withdrawal beyond the balance is
        # refused here and never reaches the card network.
        debit, credit = (clearing, wallet) if kind == "topup" else (wallet, clearing)
        create_transfer(tx, TransferRequest(
            op_id, f"wallet.{kind}", TransferKind.PENDING, debit_account_id=debit,
            credit_account_id=credit, amount_minor=amount_minor, reference=op_id))
        rail_op = self.rail.submit(tx, "charge" if kind == "topup" else "payout",
                                   card.rail_token, amount_minor, currency, op_id)
        tx.conn.execute(wallet_operations.insert().values(
            id=op_id, customer_id=principal.id, kind=kind, status="pending",
            amount_minor=amount_minor, currency=currency, card_id=card_id,
            counterparty_customer_id=None, rail_operation_id=rail_op, created_at=tx.now))
        audit.append(tx, "customer", principal.id, f"wallet.{kind}_requested",
                     "wallet_operation", op_id,
                     {"amount_minor": amount_minor, "currency": currency, "card": card_id})
        tx.emit(f"payments.wallet.{kind}_requested", "wallet_operation", op_id,
                {"customer_id": principal.id, "amount_minor": amount_minor,
                 "currency": currency})
        return self._op_view(self._wallet_op(tx.conn, op_id))

    def top_up(self, tx: Tx, principal: Principal, *, card_id: str, amount_minor: int,
               currency: str = "CNY") -> dict[str, Any]:
        return self._card_move(tx, principal, "topup", card_id, amount_minor, currency)

    def withdraw(self, tx: Tx, principal: Principal, *, card_id: str, amount_minor: int,
                 currency: str = "CNY") -> dict[str, Any]:
        return self._card_move(tx, principal, "withdrawal", card_id, amount_minor, currency)

    def _wallet_op(self, conn: Connection, op_id: str) -> Any:
        row = conn.execute(select(wallet_operations).where(wallet_operations.c.id == op_id)
                           ).first()
        if row is None:
            raise NotFoundError(f"no wallet operation {op_id}", field="operation_id")
        return row

    def handle_rail_callback(self, tx: Tx, operation_id: str) -> dict[str, Any]:
        """Apply a card rail callback once: post or void the wallet hold."""
        callback = self.rail.operation(tx.conn, operation_id)
        if not self.rail.mark_delivered(tx, operation_id):
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
        tx.conn.execute(update(wallet_operations).where(wallet_operations.c.id == op.id).values(
            status=status, completed_at=tx.now,
            failure_reason=None if succeeded else "card_declined"))
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
        amount_minor = _check_amount(amount_minor, "amount_minor", self.policy.amount_minor_max)
        self.operated_currency(currency)
        payee = self.parties.find_by_identifier(tx.conn, to) if isinstance(to, str) else None
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
            debit_account_id=self._wallet_id(tx, principal.id, currency),
            credit_account_id=self._wallet_id(tx, payee.id, currency),
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
            if self.on_review is not None:
                self.on_review(tx, intent_id=op_id, subject_type="wallet_operation",
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
        decision = self.risk.screen_payment(tx, PaymentEvent(
            intent_id=op_id, customer_id=principal.id, merchant_id=payee_id,
            merchant_mcc="p2p", amount_minor=amount_minor, currency=currency,
            funding="balance", scenario="p2p", device_id=principal.device_id,
            occurred_at=tx.now))
        if decision.details or decision.outcome != Outcome.APPROVE:
            self._record_screening(tx, "wallet_operation", op_id, decision)
        if decision.outcome == Outcome.DECLINE:
            raise commit_and_raise(PaymentDeclinedError(
                "the transfer was declined by risk screening",
                reasons=list(decision.reasons)), store=True)
        if decision.outcome == Outcome.CHALLENGE:
            reference = f"p2p:{payee_id}:{amount_minor}:{currency}"
            if not challenge_id or not code:
                new = self.parties.issue_challenge(tx, principal.id, "payment", reference)
                raise commit_and_raise(StepUpRequired(
                    "enter the one-time code sent to you, then send the transfer again "
                    "with it", challenge_id=new))
            if self.parties.check_challenge(tx, challenge_id, code, purpose="payment",
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
        w = wallet_operations.c
        query = select(wallet_operations).where(
            or_(w.customer_id == customer_id, and_(w.counterparty_customer_id == customer_id,
                                                   w.kind == "p2p")))
        if before_seq is not None:
            query = query.where(w.seq < before_seq)
        rows = conn.execute(query.order_by(w.seq.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        next_seq = page[-1].seq if len(rows) > limit else None
        return [self._op_view(r, customer_id) for r in page], next_seq

    # ================================================================== intents: views
    def intent_view(self, row: Any, *, merchant_name: str | None = None) -> dict[str, Any]:
        return {
            "id": row.id, "merchant_id": row.merchant_id, "merchant_name": merchant_name,
            "order_id": row.order_id, "amount_minor": row.amount_minor,
            "currency": row.currency, "scenario": row.scenario,
            "description": row.description, "line_items": row.line_items,
            "status": row.status, "customer_id": row.customer_id, "funding": row.funding,
            "card_id": row.card_id, "accepted_offer": row.accepted_offer,
            "risk_outcome": row.risk_outcome, "captured_minor": row.captured_minor,
            "refunded_minor": row.refunded_minor,
            "capture_before": row.capture_before.isoformat() if row.capture_before
            else None,
            "expires_at": row.expires_at.isoformat(),
            "created_at": row.created_at.isoformat(),
            "confirmed_at": row.confirmed_at.isoformat() if row.confirmed_at else None,
        }

    def _intent(self, conn: Connection, intent_id: str, *, lock: bool = False) -> Any:
        query = select(payment_intents).where(payment_intents.c.id == intent_id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no payment intent {intent_id}", field="intent_id")
        return row

    def intent_for(self, conn: Connection, principal: Principal, intent_id: str, *,
                   lock: bool = False) -> Any:
        """The intent if ``principal`` may see it; 404 (not 403) otherwise, so ids of other
        parties' intents cannot be probed."""
        row = self._intent(conn, intent_id, lock=lock)
        if principal.kind == "merchant" and row.merchant_id == principal.id:
            return row
        if principal.kind == "customer" and (
                row.customer_id == principal.id or (
                row.customer_id is None and row.status == "requires_confirmation")):
            return row
        if principal.kind == "operator":
            return row
        raise NotFoundError(f"no payment intent {intent_id}", field="intent_id")

    def intent_customers(self, conn: Connection, intent_id: str) -> tuple[str, ...]:
        """The customer who paid (or is paying) intent ``intent_id``, if any."""
        customer = conn.execute(select(payment_intents.c.customer_id).where(
            payment_intents.c.id == intent_id)).scalar_one_or_none()
        return (customer,) if customer else ()

    def wallet_operation_customers(self, conn: Connection, operation_id: str
                                   ) -> tuple[str, ...]:
        """The customers of a wallet operation: its owner, and a transfer's payee."""
        row = conn.execute(select(wallet_operations.c.customer_id,
                                  wallet_operations.c.counterparty_customer_id).where(
            wallet_operations.c.id == operation_id)).first()
        return tuple(c for c in row if c) if row is not None else ()

    def get_intent_view(self, conn: Connection, principal: Principal, intent_id: str
                        ) -> dict[str, Any]:
        row = self.intent_for(conn, principal, intent_id)
        merchant = self.parties.get_merchant(conn, row.merchant_id)
        return self.intent_view(row, merchant_name=merchant.name)

    def list_intents(self, conn: Connection, principal: Principal, *, before_seq: int | None,
                     limit: int) -> tuple[list[dict[str, Any]], int | None]:
        p = payment_intents.c
        column = p.merchant_id if principal.kind == "merchant" else p.customer_id
        query = select(payment_intents).where(column == principal.id)
        if before_seq is not None:
            query = query.where(p.seq < before_seq)
        rows = conn.execute(query.order_by(p.seq.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        return [self.intent_view(r) for r in page], (page[-1].seq if len(rows) > limit
                                                     else None)

    # ================================================================== intents: create
    def create_intent(self, tx: Tx, merchant: Principal, *, amount_minor: int, currency: str,
                      order_id: str, scenario: str = "online", description: str | None = None,
                      line_items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        amount_minor = _check_amount(amount_minor, "amount_minor", self.policy.amount_minor_max)
        self.operated_currency(currency)
        merchant_row = self.parties.get_merchant(tx.conn, merchant.id)
        if merchant_row.status != "active":
            raise PermissionDeniedError("the merchant is suspended")
        if currency != merchant_row.settlement_currency:
            raise ValidationError(f"this merchant settles in {merchant_row.settlement_currency}",
                                  field="currency")
        if scenario not in SCENARIOS:
            raise ValidationError(f"must be one of {list(SCENARIOS)}", field="scenario")
        items = line_items or []
        if len(items) > LINE_ITEMS_MAX:
            raise ValidationError(f"at most {LINE_ITEMS_MAX} items", field="line_items")
        if items:
            total = sum(int(i["quantity"]) * int(i["unit_amount_minor"]) for i in items)
            if total != amount_minor:
                raise ValidationError(f"line items add up to {total}, not {amount_minor}",
                                      field="line_items")
        existing = tx.conn.execute(select(payment_intents.c.id).where(
            payment_intents.c.merchant_id == merchant.id,
            payment_intents.c.order_id == order_id)).first()
        if existing is not None:
            raise ConflictError(f"order {order_id} already has intent {existing.id}",
                                field="order_id", intent_id=existing.id)
        intent_id = new_id("pi")
        tx.conn.execute(payment_intents.insert().values(
            id=intent_id, merchant_id=merchant.id, order_id=order_id,
            amount_minor=amount_minor, currency=currency, scenario=scenario,
            description=description, line_items=items, status="requires_confirmation",
            captured_minor=0, refunded_minor=0,
            expires_at=tx.now + dt.timedelta(seconds=self.policy.intent_ttl_s),
            created_at=tx.now))
        audit.append(tx, "merchant", merchant.id, "payment_intent.created", "payment_intent",
                     intent_id, {"amount_minor": amount_minor, "currency": currency,
                                 "scenario": scenario})
        row = self._intent(tx.conn, intent_id)
        self._emit_intent(tx, "payment_intent.created", intent_id, merchant.id, row=row)
        view = self.intent_view(row, merchant_name=merchant_row.name)
        if scenario == "offline_qr":
            view["qr_payload"] = self.parties.signer.sign(
                "qr", {"pi": intent_id},
                tx.now + dt.timedelta(seconds=self.policy.qr_ttl_s))
        return view

    def _emit_intent(self, tx: Tx, event_type: str, intent_id: str, merchant_id: str,
                     extra: dict[str, Any] | None = None, *, row: Any = None) -> None:
        """Queue the merchant event; ``row`` is the intent as it is now (read if absent)."""
        if row is None:
            row = self._intent(tx.conn, intent_id)
        tx.emit(f"payments.{event_type}", "payment_intent", intent_id, {
            "merchant_id": merchant_id, "type": event_type,
            "object": {"id": row.id, "order_id": row.order_id, "status": row.status,
                       "amount_minor": row.amount_minor, "currency": row.currency,
                       "captured_minor": row.captured_minor,
                       "refunded_minor": row.refunded_minor, "funding": row.funding,
                       **(extra or {})}})

    # ================================================================== credit offers
    def quote_offers(self, tx: Tx, principal: Principal, intent_id: str, *,
                     product_codes: list[str] | None = None, language: str | None = None
                     ) -> dict[str, Any]:
        """The credit offers for this payment, each with the identity of its key-facts
        document in ``language`` (default: the customer's locale): ``key_facts_sha256``
        (confirming with the offer must carry it) and ``key_facts_url`` (the HTML); plus a
        ``spending_nudge`` when the line is mostly used (None otherwise)."""
        row = self.intent_for(tx.conn, principal, intent_id)
        if row.status != "requires_confirmation":
            raise StateError(f"intent is {row.status}", field="intent_id")
        language = self._language(tx.conn, principal, language)
        quote_id, expires_at, offers = self.credit.quote_offers(
            tx, customer_id=principal.id, amount_minor=row.amount_minor,
            currency=row.currency, product_codes=product_codes, reference=intent_id,
            language=language, lender_name=self.policy.lender_name,
            ttl_seconds=self.policy.offer_ttl_s)
        for offer in offers:
            offer.pop("quote_id", None)
            offer["key_facts_language"] = language
            offer["key_facts_url"] = (f"/v1/payment_intents/{intent_id}/credit_offers/"
                                      f"{offer['offer_id']}/key_facts?lang={language}")
        nudge = self._spending_nudge(tx, principal.id, row.currency) if offers else None
        audit.append(tx, "customer", principal.id, "credit.offers_shown", "payment_intent",
                     intent_id, {"quote_id": quote_id,
                                 "offer_ids": [o["offer_id"] for o in offers]})
        return {"quote_id": quote_id, "intent_id": intent_id, "offers": offers,
                "expires_at": expires_at.isoformat(), "spending_nudge": nudge}

    def _language(self, conn: Connection, principal: Principal, language: str | None) -> str:
        if language is None:
            locale = self.parties.get_customer(conn, principal.id).locale
            return locale if locale in LANGUAGES else LANGUAGES[0]
        if language not in LANGUAGES:
            raise ValidationError(f"must be one of {', '.join(LANGUAGES)}", field="lang")
        return language

    def _spending_nudge(self, tx: Tx, customer_id: str, currency: str
                        ) -> dict[str, Any] | None:
        """The high-utilisation nudge (advisory: it never refuses), in zh-CN and en."""
        policy = self.affordability_policies.get(currency)
        if policy is None:
            return None
        position = self.credit.borrower_position(tx, customer_id=customer_id,
                                                 currency=currency, with_accounts=False)
        nudge = affordability_rules.spending_nudge(
            self._snapshot(tx, customer_id, position, None), policy)
        if nudge is None:
            return None
        return {"rule": nudge.rule, "utilisation": nudge.figures["utilisation"],
                "threshold": nudge.figures["threshold"],
                "message_zh_cn": nudge.message_zh_cn, "message_en": nudge.message_en}

    def _snapshot(self, tx: Tx, customer_id: str, position: BorrowerPosition,
                  income: tuple[int, int] | None) -> affordability_rules.BorrowerSnapshot:
        monthly_income, monthly_debts = income or (0, 0)
        return affordability_rules.BorrowerSnapshot(
            currency=position.currency, monthly_income_minor=monthly_income,
            monthly_debt_payments_minor=monthly_debts, exposure_minor=position.exposure_minor,
            open_plans=position.open_plans, credit_limit_minor=position.credit_limit_minor,
            used_minor=position.used_minor)

    def _shown_offer(self, conn: Connection, customer_id: str, intent_id: str,
                     offer_id: str) -> tuple[Any, dict[str, Any]]:
        """(stored offer, figures as shown) of an offer shown to ``customer_id`` for this
        intent (credit stores the quote)."""
        found = self.credit.stored_offer(conn, customer_id=customer_id, reference=intent_id,
                                         offer_id=offer_id)
        if found is None:
            raise NotFoundError("not an offer shown for this payment; ask for offers first",
                                field="offer_id")
        return found

    def key_facts_html(self, conn: Connection, principal: Principal, intent_id: str,
                       offer_id: str, language: str | None = None) -> bytes:
        """The key-facts document (HTML bytes) of an offer shown to this customer; 404 for
        anyone else (the intent's merchant included: the document is the consumer's)."""
        if principal.kind != "customer":
            raise NotFoundError(f"no payment intent {intent_id}", field="intent_id")
        self.intent_for(conn, principal, intent_id)
        _, offer = self._shown_offer(conn, principal.id, intent_id, offer_id)
        return self.credit.key_facts(offer, self._language(conn, principal, language),
                                     lender_name=self.policy.lender_name).html

    def _shown_key_facts(self, offer: dict[str, Any], key_facts_sha256: str | None,
                         stored: Any = None) -> KeyFactsDocument:
        """The key-facts document the consumer saw for ``offer``: the one (in either
        language) whose SHA-256 they sent back; ValidationError naming
        ``key_facts_sha256`` otherwise (before anything is written). The quote stored each
        language's hash: only the matching document is rendered (once, for the copy the
        acceptance keeps), and checked again against the hash."""
        if not isinstance(key_facts_sha256, str) or not key_facts_sha256:
            raise ValidationError("credit funding needs the key_facts_sha256 of the offer's "
                                  "key-facts document you were shown", field="key_facts_sha256")
        by_language = (stored.offer.get("key_facts_sha256_by_language") or {}) \
            if stored is not None else {}
        languages = [lang for lang, sha in by_language.items()
                     if hmac.compare_digest(str(sha), key_facts_sha256.lower())]
        if not by_language:
            shown = offer.get("key_facts_language")
            languages = sorted(LANGUAGES, key=lambda lang: lang != shown)
        for language in languages:
            document = self.credit.key_facts(offer, language,
                                             lender_name=self.policy.lender_name)
            if hmac.compare_digest(document.sha256, key_facts_sha256.lower()):
                return document
        raise ValidationError("is not the SHA-256 of this offer's key-facts document; read "
                              "the document at key_facts_url and confirm again",
                              field="key_facts_sha256")

    def _accepted_offer(self, tx: Tx, principal: Principal, intent_id: str, offer_id: str,
                        funding: str) -> tuple[Any, dict[str, Any]]:
        """(stored offer, figures as accepted) of an offer shown for this intent and still
        good (StateError naming ``offer_id`` once expired)."""
        found = self.credit.stored_offer(tx.conn, customer_id=principal.id,
                                         reference=intent_id, offer_id=offer_id)
        if found is None:
            raise ValidationError("not an offer shown for this payment; ask for offers first",
                                  field="offer_id")
        stored, offer = found
        if stored.expires_at <= tx.now:
            raise StateError("the offer has expired; ask for offers again", field="offer_id")
        if offer["funding"] != funding:
            raise ValidationError(f"offer {offer_id} is a {offer['funding']} offer",
                                  field="funding")
        return stored, {**offer, "accepted_at": tx.now.isoformat()}

    # ================================================================== confirm
    def confirm(self, tx: Tx, principal: Principal, intent_id: str, *, funding: str,
                card_id: str | None = None, offer_id: str | None = None,
                step_up_challenge_id: str | None = None, step_up_code: str | None = None,
                via: str = "checkout", key_facts_sha256: str | None = None
                ) -> dict[str, Any]:
        """Pay the intent. Credit funding needs ``offer_id`` (an offer shown and picked)
        and ``key_facts_sha256``, the hash of that offer's key-facts document as shown
        (either language); the acceptance of that exact document, the affordability check
        and the authorisation are written in this one transaction."""
        if funding not in FUNDING_SOURCES:
            raise ValidationError(f"must be one of {list(FUNDING_SOURCES)}", field="funding")
        row = self.intent_for(tx.conn, principal, intent_id, lock=True)
        if row.status != "requires_confirmation":
            raise StateError(f"intent is {row.status}", field="intent_id")
        if row.expires_at <= tx.now:
            raise StateError("intent has expired", field="intent_id")
        offer = None
        stored = None
        key_facts = None
        if funding in CREDIT_FUNDING:
            # Credit is never the silent default: only an offer the customer was shown and
            # picked, by id, can fund the payment.
            if not offer_id:
                raise ValidationError("credit funding needs the id of an offer you picked",
                                      field="offer_id")
            stored, offer = self._accepted_offer(tx, principal, intent_id, offer_id, funding)
            key_facts = self._shown_key_facts(offer, key_facts_sha256, stored)
        elif offer_id:
            raise ValidationError("only credit funding takes an offer", field="offer_id")
        elif key_facts_sha256:
            raise ValidationError("only credit funding takes a key-facts document",
                                  field="key_facts_sha256")
        card = None
        if funding == "card":
            if not card_id:
                raise ValidationError("card funding needs card_id", field="card_id")
            card = self.parties.get_card(tx.conn, principal.id, card_id)
        merchant = self.parties.get_merchant(tx.conn, row.merchant_id)
        screening = None
        if row.risk_outcome == "approved_by_review":
            decision_outcome, reasons, version = Outcome.APPROVE, ["approved_by_review"], "review"
        else:
            decision = self.risk.screen_payment(tx, PaymentEvent(
                intent_id=row.id, customer_id=principal.id, merchant_id=row.merchant_id,
                merchant_mcc=merchant.mcc, amount_minor=row.amount_minor,
                currency=row.currency, funding=funding, scenario=row.scenario,
                device_id=principal.device_id, occurred_at=tx.now,
                extra={"card_id": card_id} if card is not None else {}))
            decision_outcome, reasons, version = (decision.outcome, list(decision.reasons),
                                                  decision.version)
            screening = self._record_screening(tx, "payment_intent", row.id, decision)
        risk_values: dict[str, Any] = {
            "risk_outcome": str(decision_outcome),
            "risk_reasons": {"reasons": reasons, "version": version}}
        if screening is not None:
            risk_values["risk_reasons"]["screening"] = screening
        if decision_outcome == Outcome.DECLINE:
            tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id)
                            .values(status="declined", customer_id=principal.id,
                                    funding=funding, **risk_values))
            audit.append(tx, "system", "risk", "payment.declined", "payment_intent", row.id,
                         {"reasons": reasons, "version": version})
            self._emit_intent(tx, "payment_intent.declined", row.id, row.merchant_id)
            raise commit_and_raise(PaymentDeclinedError(
                "the payment was declined by risk screening", reasons=reasons), store=True)
        if decision_outcome == Outcome.REVIEW:
            tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id)
                            .values(status="in_review", customer_id=principal.id,
                                    funding=funding, card_id=card_id,
                                    accepted_offer=offer, **risk_values))
            audit.append(tx, "system", "risk", "payment.review", "payment_intent", row.id,
                         {"reasons": reasons, "version": version})
            if self.on_review is not None:
                self.on_review(tx, intent_id=row.id, customer_id=principal.id,
                               merchant_id=row.merchant_id, amount_minor=row.amount_minor,
                               currency=row.currency, device_id=principal.device_id,
                               score=(screening or {}).get("score"), reasons=reasons)
            return self.intent_view(self._intent(tx.conn, row.id), merchant_name=merchant.name)
        needs_code = (decision_outcome == Outcome.CHALLENGE or
                      row.amount_minor >= self.policy.step_up_amount_minor)
        if needs_code:
            self._step_up(tx, principal, row, funding, via, step_up_challenge_id, step_up_code)
        return self._authorise(tx, principal, row, merchant, funding, card, offer, risk_values,
                               key_facts, stored)

    def _record_screening(self, tx: Tx, subject_type: str, subject_id: str,
                          decision: Decision) -> dict[str, Any] | None:
        """Keep a fraud screening's record in the audit trail (committed with the decision,
        including a challenge or a decline); returns it for the intent's risk_reasons."""
        if not decision.details:
            return None
        record = {**decision.details, "outcome": str(decision.outcome),
                  "version": decision.version}
        audit.append(tx, "system", "risk", "payment.screened", subject_type, subject_id,
                      record)
        return record

    def _step_up(self, tx: Tx, principal: Principal, row: Any, funding: str, via: str,
                 challenge_id: str | None, code: str | None) -> None:
        reference = f"{row.id}:{row.amount_minor}:{funding}"
        if via == "payment_code":
            # Nobody at the point of sale can type the code: the customer must pay in-app.
            raise PaymentDeclinedError("this amount needs verification in the app",
                                       decline_code="verification_required")
        if not challenge_id or not code:
            new = self.parties.issue_challenge(tx, principal.id, "payment", reference)
            raise commit_and_raise(StepUpRequired(
                "enter the one-time code sent to you, then confirm again with it",
                challenge_id=new))
        if self.parties.check_challenge(tx, challenge_id, code, purpose="payment",
                                        reference=reference, customer_id=principal.id) is None:
            raise commit_and_raise(WrongCode("the code is wrong"))

    def _authorise(self, tx: Tx, principal: Principal, row: Any, merchant: Any, funding: str,
                   card: Any, offer: dict[str, Any] | None, risk_values: dict[str, Any],
                   key_facts: KeyFactsDocument | None = None, stored: Any = None
                   ) -> dict[str, Any]:
        hold_id = f"{row.id}.auth"
        window = self.policy.capture_window_s
        # Credit needs the merchant's payable only at capture (and for a down payment).
        payable = self._payable_id(tx, row.merchant_id, row.currency) \
            if funding not in CREDIT_FUNDING or (offer or {}).get("down_payment_minor") else 0
        credit_authorisation_id = None
        if funding == "balance":
            create_transfer(tx, TransferRequest(
                hold_id, "payment.authorise", TransferKind.PENDING,
                debit_account_id=self._wallet_id(tx, principal.id, row.currency),
                credit_account_id=payable, amount_minor=row.amount_minor,
                timeout_seconds=window, reference=row.id))
        elif funding == "card":
            self.rail.authorise(tx, card.rail_token, row.amount_minor, row.currency)
            create_transfer(tx, TransferRequest(
                hold_id, "payment.authorise", TransferKind.PENDING,
                debit_account_id=self._account_id(
                    tx.conn, platform_key("card_clearing", row.currency)),
                credit_account_id=payable, amount_minor=row.amount_minor,
                timeout_seconds=window, reference=row.id))
        else:
            assert offer is not None and key_facts is not None
            down = int(offer.get("down_payment_minor") or 0)
            if down:
                # Checked before anything is recorded: a short wallet refuses the offer and
                # changes nothing (the affordability refusal below commits its record).
                self._check_down_payment(tx, principal.id, row.currency, down)
            check_id = self._check_affordability(tx, principal.id, row, funding, key_facts)
            # The consumer accepts the exact document shown (its hash is recorded with a copy
            # of it), in the transaction that uses the credit: no credit without it.
            acceptance = accept_disclosure(
                tx, customer_id=principal.id, facts=key_facts.facts,
                language=key_facts.language, shown_sha256=key_facts.sha256, channel="app")
            offer = {**offer, "key_facts_sha256": acceptance.document_sha256,
                     "key_facts_language": acceptance.language,
                     "key_facts_url": f"/v1/payment_intents/{row.id}/credit_offers/"
                                      f"{offer['offer_id']}/key_facts?lang={acceptance.language}",
                     "disclosure_acceptance_id": acceptance.id,
                     "affordability_check_id": check_id}
            credit_authorisation_id = hold_id
            self.credit.authorise_purchase(
                tx, authorisation_id=hold_id, customer_id=principal.id,
                amount_minor=row.amount_minor, currency=row.currency,
                offer_id=offer["offer_id"], reference=row.id, quote_id=offer["quote_id"],
                key_facts_sha256=key_facts.sha256, stored=stored)
            if down:
                # The down payment is held on the wallet, in this transaction with the
                # credit hold on the financed part; capture posts it to the merchant.
                create_transfer(tx, TransferRequest(
                    f"{row.id}.down", "payment.down_payment", TransferKind.PENDING,
                    debit_account_id=self._wallet_id(tx, principal.id, row.currency),
                    credit_account_id=payable, amount_minor=down, timeout_seconds=window,
                    reference=row.id))
        values = dict(
            status="requires_capture", customer_id=principal.id, funding=funding,
            card_id=card.id if card is not None else None, accepted_offer=offer,
            credit_authorisation_id=credit_authorisation_id, confirmed_at=tx.now,
            capture_before=tx.now + dt.timedelta(seconds=window), **risk_values)
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id)
                        .values(**values))
        payload: dict[str, Any] = {"amount_minor": row.amount_minor, "currency": row.currency,
                                   "funding": funding,
                                   "risk": risk_values["risk_outcome"]}
        if offer is not None:
            payload["offer"] = {k: offer[k] for k in (
                "offer_id", "periods", "per_period_amount_minor", "total_repayable_minor",
                "total_fee_minor", "total_interest_minor", "apr_percent",
                "all_in_annual_cost_percent", "key_facts_sha256", "disclosure_acceptance_id")}
            payload["offer"].update(down_payment_minor=offer.get("down_payment_minor", 0),
                                    financed_minor=offer.get("financed_minor"))
        audit.append(tx, "customer", principal.id, "payment.authorised", "payment_intent",
                     row.id, payload)
        # The intent as written: the locked row with the values just set (no re-read).
        fresh = SimpleNamespace(**{**row._mapping, **values})
        self._emit_intent(tx, "payment_intent.authorised", row.id, row.merchant_id, row=fresh)
        return self.intent_view(fresh, merchant_name=merchant.name)

    def _check_down_payment(self, tx: Tx, customer_id: str, currency: str,
                            down_payment_minor: int) -> None:
        """Refuse (InsufficientFundsError naming ``down_payment_minor``) an offer whose down
        payment the wallet's available balance cannot hold. The down payment comes from
        the wallet only: top up first (a card top-up settles into the wallet)."""
        available = self.wallet_balance(tx.conn, customer_id, currency)["available_minor"]
        if available < down_payment_minor:
            raise InsufficientFundsError(
                f"this offer takes a down payment of {down_payment_minor} minor units from "
                f"your wallet, which has {available} available; top up or pick another offer",
                field="down_payment_minor", down_payment_minor=down_payment_minor,
                available_minor=available)

    def _check_affordability(self, tx: Tx, customer_id: str, row: Any, funding: str,
                             key_facts: KeyFactsDocument) -> int:
        """Affordability of the checkout's credit offer (see :meth:`check_affordability`)."""
        return self.check_affordability(
            tx, customer_id=customer_id, currency=row.currency, reference=row.id,
            principal_minor=key_facts.facts.terms.principal_minor,
            monthly_payment_minor=affordability_rules.monthly_payment_of(
                key_facts.facts.schedule),
            is_installment_plan=funding == "installment_plan")

    def check_affordability(self, tx: Tx, *, customer_id: str, currency: str, reference: str,
                            principal_minor: int, monthly_payment_minor: int,
                            is_installment_plan: bool) -> int:
        """Run the new-credit affordability rules for new credit of ``principal_minor``
        repaid at ``monthly_payment_minor`` a month, record the check (its id is returned),
        and refuse with LimitExceededError naming the failing rule; the refusal commits the
        record (and nothing else). Checkout and cash loans both go through it."""
        policy = self.affordability_policies.get(currency)
        if policy is None:
            raise ValidationError(f"credit in {currency} is not offered", field="currency")
        position = self.credit.borrower_position(tx, customer_id=customer_id,
                                                 currency=currency)
        income = self.declared_income(tx.conn, customer_id, currency) \
            if self.declared_income is not None else None
        result = affordability_rules.assess_new_credit(
            self._snapshot(tx, customer_id, position, income), principal_minor,
            monthly_payment_minor, is_installment_plan=is_installment_plan, policy=policy)
        if income is None or income[0] <= 0:
            # Income unknown (none declared / verified): the debt-to-income rule cannot be
            # computed, so it is skipped, and recorded as skipped; the exposure cap and the
            # concurrent-plans rule still apply. Refusing all credit for want of an income
            # figure the platform never asked for would refuse every checkout.
            skipped = affordability_rules.RuleOutcome(
                "debt_to_income", True, True, {"skipped": "income_unknown"},
                "未登记收入，本次未计算负债收入比。",
                "No income on file: the debt-to-income ratio was not computed.")
            rules = tuple(skipped if r.rule == "debt_to_income" else r for r in result.rules
                          if r.rule != "income_verified")
            result = affordability_rules.AffordabilityResult(result.kind, rules,
                                                             result.policy_version)
        check_id = affordability_rules.record_check(tx, customer_id=customer_id,
                                                    reference=reference, result=result)
        try:
            result.refuse()
        except LimitExceededError as exc:
            exc.extra["affordability_check_id"] = check_id
            raise commit_and_raise(exc, store=True) from None
        return check_id

    def open_credit_line(self, tx: Tx, operator: Principal, customer_id: str, *,
                         limit_minor: int, product_code: str, currency: str = "CNY"
                         ) -> dict[str, Any]:
        """Grant a pay-later line (through the credit facade) to a verified customer."""
        customer = self.parties.get_customer(tx.conn, customer_id)
        if customer.kyc_status != "verified":
            raise StateError("the customer's identity is not verified", field="customer_id")
        limit_minor = _check_amount(limit_minor, "limit_minor", self.policy.amount_minor_max)
        view = self.credit.open_credit_line(
            tx, line_id=f"line_{customer_id}_{currency}", customer_id=customer_id,
            currency=currency, limit_minor=limit_minor, product_code=product_code)
        audit.append(tx, "staff", operator.id, "credit_line.granted", "customer", customer_id,
                     {"limit_minor": limit_minor, "product_code": product_code})
        return {"line_id": view.line_id, "customer_id": customer_id, "currency": currency,
                "product_code": view.product_code, "limit_minor": view.limit_minor,
                "available_minor": view.available_minor, "status": view.status}

    def review(self, tx: Tx, operator: Principal, intent_id: str, *, approve: bool,
               note: str | None = None) -> dict[str, Any]:
        row = self._intent(tx.conn, intent_id, lock=True)
        if row.status != "in_review":
            raise StateError(f"intent is {row.status}", field="intent_id")
        values = ({"status": "requires_confirmation", "risk_outcome": "approved_by_review"}
                  if approve else {"status": "declined", "risk_outcome": "declined_by_review"})
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == intent_id)
                        .values(**values))
        audit.append(tx, "staff", operator.id, "payment.reviewed", "payment_intent",
                     intent_id, {"approve": approve, "note_given": bool(note)})
        if not approve:
            self._emit_intent(tx, "payment_intent.declined", intent_id, row.merchant_id)
        return self.intent_view(self._intent(tx.conn, intent_id))

    # ================================================================== capture / cancel
    def capture(self, tx: Tx, merchant: Principal, intent_id: str, *,
                amount_minor: int | None = None) -> dict[str, Any]:
        row = self.intent_for(tx.conn, merchant, intent_id, lock=True)
        if row.status != "requires_capture":
            raise StateError(f"intent is {row.status}", field="intent_id")
        if row.capture_before <= tx.now:
            self._expire_one(tx, row)
            raise commit_and_raise(StateError(
                "the capture window has passed; the authorisation was released",
                field="intent_id"))
        amount = row.amount_minor if amount_minor is None else _check_amount(
            amount_minor, "amount_minor", row.amount_minor)
        capture_id = new_id("cap")
        purchase_id = None
        if row.funding in CREDIT_FUNDING:
            self._capture_down_payment(tx, row, amount)
            result = self.credit.capture_purchase(
                tx, authorisation_id=row.credit_authorisation_id, capture_id=capture_id,
                amount_minor=amount,
                merchant_payable_account_id=self._payable_id(tx, row.merchant_id,
                                                             row.currency))
            purchase_id = _purchase_id(result, capture_id)
        else:
            # Posting less than the hold releases the rest (a partial capture is final).
            create_transfer(tx, TransferRequest(
                f"{row.id}.capture", "payment.capture", TransferKind.POST,
                pending_id=f"{row.id}.auth", amount_minor=amount, reference=row.id))
        tx.conn.execute(payment_captures.insert().values(
            id=capture_id, intent_id=row.id, merchant_id=row.merchant_id, amount_minor=amount,
            currency=row.currency, credit_purchase_id=purchase_id, business_date=tx.today,
            settlement_id=None, created_at=tx.now))
        values = {"status": "succeeded", "captured_minor": amount}
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id).values(
            **values))
        audit.append(tx, "merchant", merchant.id, "payment.captured", "payment_intent", row.id,
                     {"capture_id": capture_id, "amount_minor": amount})
        # The intent as written: the locked row with the values just set (no re-read).
        fresh = SimpleNamespace(**{**row._mapping, **values})
        self._emit_intent(tx, "payment_intent.succeeded", row.id, row.merchant_id, row=fresh)
        return self.intent_view(fresh)

    def _capture_down_payment(self, tx: Tx, row: Any, amount_minor: int) -> None:
        """Post the down payment's share of a capture of ``amount_minor`` from the wallet
        hold to the merchant (the rest of the hold is released); the credit side finances
        the other part, so the merchant is credited the whole capture."""
        offer = row.accepted_offer or {}
        if not offer.get("down_payment_minor"):
            return
        down, _ = self.credit.capture_split(offer, row.amount_minor, amount_minor)
        if down:
            create_transfer(tx, TransferRequest(
                f"{row.id}.down.capture", "payment.down_payment", TransferKind.POST,
                pending_id=f"{row.id}.down", amount_minor=down, reference=row.id))
        else:
            self._void_hold(tx, row, f"{row.id}.down")

    def _void_hold(self, tx: Tx, row: Any, hold_id: str) -> None:
        """Void a pending ledger hold still live (one past its timeout is already
        released)."""
        from creditpay.ledger.service import get_transfer

        hold = get_transfer(tx.conn, hold_id)
        if str(hold.hold_status) == "pending" and (
                hold.expires_at is None or hold.expires_at > tx.now):
            create_transfer(tx, TransferRequest(f"{hold_id}.void", "payment.void",
                                                TransferKind.VOID, pending_id=hold.id,
                                                reference=row.id))

    def cancel(self, tx: Tx, merchant: Principal, intent_id: str) -> dict[str, Any]:
        row = self.intent_for(tx.conn, merchant, intent_id, lock=True)
        if row.status in ("requires_confirmation", "in_review"):
            pass
        elif row.status == "requires_capture":
            self._release(tx, row)
        else:
            raise StateError(f"intent is {row.status}", field="intent_id")
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id)
                        .values(status="canceled"))
        audit.append(tx, "merchant", merchant.id, "payment.canceled", "payment_intent", row.id,
                     {})
        self._emit_intent(tx, "payment_intent.canceled", row.id, row.merchant_id)
        return self.intent_view(self._intent(tx.conn, row.id))

    def _release(self, tx: Tx, row: Any) -> None:
        if row.funding in CREDIT_FUNDING:
            self.credit.void_authorisation(tx, authorisation_id=row.credit_authorisation_id)
            if (row.accepted_offer or {}).get("down_payment_minor"):
                self._void_hold(tx, row, f"{row.id}.down")
            return
        from creditpay.ledger.service import get_transfer

        hold = get_transfer(tx.conn, f"{row.id}.auth")
        if str(hold.hold_status) == "pending" and (
                hold.expires_at is None or hold.expires_at > tx.now):
            create_transfer(tx, TransferRequest(f"{row.id}.void", "payment.void",
                                                TransferKind.VOID, pending_id=hold.id,
                                                reference=row.id))

    def _expire_one(self, tx: Tx, row: Any) -> None:
        if row.status == "requires_capture":
            self._release(tx, row)
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id)
                        .values(status="expired"))
        audit.append(tx, "system", "expiry", "payment.expired", "payment_intent", row.id, {})
        self._emit_intent(tx, "payment_intent.expired", row.id, row.merchant_id)

    def expire_due(self, tx: Tx, *, limit: int = 1000) -> dict[str, int]:
        """Close-of-business sweep: ledger holds past their timeout, then the intents."""
        holds = expire_holds(tx)
        p = payment_intents.c
        rows = tx.conn.execute(select(payment_intents).where(or_(
            and_(p.status == "requires_capture", p.capture_before <= tx.now),
            and_(p.status.in_(("requires_confirmation", "in_review")), p.expires_at <= tx.now)))
            .order_by(p.seq).limit(limit)).all()
        for row in rows:
            self._expire_one(tx, row)
        return {"holds_expired": holds, "intents_expired": len(rows)}

    # ================================================================== refunds
    def refund(self, tx: Tx, merchant: Principal, intent_id: str, *,
               amount_minor: int | None = None, reason: str | None = None) -> dict[str, Any]:
        row = self.intent_for(tx.conn, merchant, intent_id, lock=True)
        if row.status != "succeeded":
            raise StateError(f"intent is {row.status}; only captured payments are refunded",
                             field="intent_id")
        refundable = row.captured_minor - row.refunded_minor
        if refundable <= 0:
            raise StateError("the payment is fully refunded", field="amount_minor")
        amount = refundable if amount_minor is None else _check_amount(
            amount_minor, "amount_minor", refundable)
        if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
            raise ValidationError("must be at most 64 characters", field="reason")
        refund_id = new_id("re")
        payable = self._payable_id(tx, row.merchant_id, row.currency)
        if row.funding == "balance":
            create_transfer(tx, TransferRequest(
                refund_id, "payment.refund", debit_account_id=payable,
                credit_account_id=self._wallet_id(tx, row.customer_id, row.currency),
                amount_minor=amount, reference=row.id))
        elif row.funding == "card":
            create_transfer(tx, TransferRequest(
                refund_id, "payment.refund", debit_account_id=payable,
                credit_account_id=self._account_id(
                    tx.conn, platform_key("card_clearing", row.currency)),
                amount_minor=amount, reference=row.id))
            card = self.parties.get_card(tx.conn, row.customer_id, row.card_id)
            self.rail.submit(tx, "payout", card.rail_token, amount, row.currency, refund_id)
        else:
            capture = tx.conn.execute(select(payment_captures).where(
                payment_captures.c.intent_id == row.id)).first()
            assert capture is not None  # a refundable credit payment was captured
            # Refund order with a down payment: the financed part first (what is owed
            # shrinks), then the down payment back to the wallet.
            _, financed = self.credit.capture_split(row.accepted_offer or {}, row.amount_minor,
                                                    row.captured_minor)
            credit_part = (min(row.refunded_minor + amount, financed)
                           - min(row.refunded_minor, financed))
            to_customer = amount - credit_part  # the down payment's part
            if credit_part:
                result = self.credit.refund_purchase(tx, refund_id=refund_id,
                                                     purchase_id=capture.credit_purchase_id,
                                                     amount_minor=credit_part)
                # The credit side reduced what is owed; what the customer had already
                # repaid of this purchase comes back to the wallet, from the merchant.
                to_customer += int(getattr(result, "to_customer_minor", 0) or 0)
            if to_customer > 0:
                create_transfer(tx, TransferRequest(
                    f"{refund_id}.to_wallet", "payment.refund", debit_account_id=payable,
                    credit_account_id=self._wallet_id(tx, row.customer_id, row.currency),
                    amount_minor=to_customer, reference=row.id))
        tx.conn.execute(payment_refunds.insert().values(
            id=refund_id, intent_id=row.id, merchant_id=row.merchant_id, amount_minor=amount,
            currency=row.currency, reason=reason, business_date=tx.today, settlement_id=None,
            created_at=tx.now))
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id).values(
            refunded_minor=row.refunded_minor + amount))
        audit.append(tx, "merchant", merchant.id, "payment.refunded", "payment_intent", row.id,
                     {"refund_id": refund_id, "amount_minor": amount})
        self._emit_intent(tx, "refund.succeeded", row.id, row.merchant_id,
                          {"refund_id": refund_id, "refund_amount_minor": amount})
        return {"id": refund_id, "intent_id": row.id, "amount_minor": amount,
                "currency": row.currency, "reason": reason, "status": "succeeded",
                "created_at": tx.now.isoformat(),
                "intent": self.intent_view(self._intent(tx.conn, row.id))}

    # ================================================================== QR codes
    def pay_qr(self, tx: Tx, principal: Principal, *, qr_payload: str, funding: str,
               card_id: str | None = None, offer_id: str | None = None,
               step_up_challenge_id: str | None = None, step_up_code: str | None = None,
               key_facts_sha256: str | None = None) -> dict[str, Any]:
        """Pay a merchant-presented QR: signed, expiring; single use because the intent can
        be confirmed only once."""
        claims = self.parties.signer.verify(qr_payload, "qr", tx.now)
        return self.confirm(tx, principal, claims["pi"], funding=funding, card_id=card_id,
                            offer_id=offer_id, step_up_challenge_id=step_up_challenge_id,
                            step_up_code=step_up_code, key_facts_sha256=key_facts_sha256)

    def create_payment_code(self, tx: Tx, principal: Principal, *, funding: str,
                            card_id: str | None = None) -> dict[str, Any]:
        """A consumer-presented code (shown as a QR / barcode at the till): signed,
        single use, valid ``payment_code_ttl_s`` seconds; balance or card only."""
        if funding not in ("balance", "card"):
            raise ValidationError("payment codes pay from balance or card; credit needs an "
                                  "explicit offer at checkout", field="funding")
        if funding == "card":
            if not card_id:
                raise ValidationError("card funding needs card_id", field="card_id")
            self.parties.get_card(tx.conn, principal.id, card_id)
        code_id = new_id("pc")
        nonce = new_id("n")
        expires_at = tx.now + dt.timedelta(seconds=self.policy.payment_code_ttl_s)
        tx.conn.execute(payment_codes.insert().values(
            id=code_id, customer_id=principal.id, nonce_hash=sha256_hex(nonce),
            funding=funding, card_id=card_id, expires_at=expires_at, used_at=None,
            intent_id=None, created_at=tx.now))
        code = self.parties.signer.sign("paycode", {"pc": code_id, "n": nonce}, expires_at)
        return {"id": code_id, "payment_code": code, "funding": funding,
                "expires_at": expires_at.isoformat()}

    def collect(self, tx: Tx, merchant: Principal, intent_id: str, *, payment_code: str
                ) -> dict[str, Any]:
        claims = self.parties.signer.verify(payment_code, "paycode", tx.now)
        row = tx.conn.execute(select(payment_codes).where(
            payment_codes.c.id == claims.get("pc"))).first()
        if row is None or not hmac.compare_digest(row.nonce_hash,
                                                  sha256_hex(str(claims.get("n")))):
            raise PaymentDeclinedError("unknown payment code", field="payment_code")
        if row.used_at is not None:
            raise PaymentDeclinedError("this payment code was already used",
                                       field="payment_code")
        intent = self.intent_for(tx.conn, merchant, intent_id)
        result = tx.conn.execute(update(payment_codes).where(
            payment_codes.c.id == row.id, payment_codes.c.used_at.is_(None)).values(
            used_at=tx.now, intent_id=intent.id))
        if result.rowcount != 1:
            raise PaymentDeclinedError("this payment code was already used",
                                       field="payment_code")
        customer = Principal("customer", row.customer_id)
        return self.confirm(tx, customer, intent.id, funding=row.funding, card_id=row.card_id,
                            via="payment_code")

    # ================================================================== settlement
    def settle(self, tx: Tx, business_date: dt.date, *, actor: tuple[str, str] = (
            "system", "settlement")) -> list[dict[str, Any]]:
        """Settle every merchant's captures and refunds of ``business_date`` (T+1: only once
        that day is over). Fee = discount rate x (captures - refunds), half-up to the minor
        unit, never negative; net = captures - refunds - fee, paid out when positive (a
        negative net stays on the payable and is netted next time)."""
        if business_date >= tx.today:
            raise ValidationError("a business day is settled from the next day on (T+1)",
                                  field="business_date")
        c, r = payment_captures.c, payment_refunds.c
        totals: dict[tuple[str, str], dict[str, int]] = {}
        for row in tx.conn.execute(select(c.merchant_id, c.currency, func.sum(c.amount_minor),
                                          func.count()).where(
                c.business_date == business_date, c.settlement_id.is_(None)).group_by(
                c.merchant_id, c.currency)):
            totals.setdefault((row[0], row[1]), {"g": 0, "gc": 0, "r": 0, "rc": 0}).update(
                g=int(row[2]), gc=int(row[3]))
        for row in tx.conn.execute(select(r.merchant_id, r.currency, func.sum(r.amount_minor),
                                          func.count()).where(
                r.business_date == business_date, r.settlement_id.is_(None)).group_by(
                r.merchant_id, r.currency)):
            totals.setdefault((row[0], row[1]), {"g": 0, "gc": 0, "r": 0, "rc": 0}).update(
                r=int(row[2]), rc=int(row[3]))
        results = []
        for (merchant_id, currency), t in sorted(totals.items()):
            merchant = self.parties.get_merchant(tx.conn, merchant_id)
            rate = Decimal(merchant.discount_rate)
            base = t["g"] - t["r"]
            fee = int((Decimal(base) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP)) \
                if base > 0 else 0
            net = base - fee
            settlement_id = new_id("set")
            payable = self._payable_id(tx, merchant_id, currency)
            requests = []
            if fee > 0:
                requests.append(TransferRequest(
                    f"{settlement_id}.fee", "settlement.fee", debit_account_id=payable,
                    credit_account_id=self._account_id(
                        tx.conn, platform_key("merchant_fee_income", currency)),
                    amount_minor=fee, reference=settlement_id))
            if net > 0:
                requests.append(TransferRequest(
                    f"{settlement_id}.payout", "settlement.payout", debit_account_id=payable,
                    credit_account_id=self._account_id(
                        tx.conn, platform_key("bank_settlement", currency)),
                    amount_minor=net, reference=settlement_id))
            if requests:
                create_transfers(tx, requests)
            tx.conn.execute(merchant_settlements.insert().values(
                id=settlement_id, merchant_id=merchant_id, currency=currency,
                business_date=business_date, settled_on=tx.today, gross_minor=t["g"],
                refunds_minor=t["r"], fee_minor=fee, net_minor=net, discount_rate=str(rate),
                capture_count=t["gc"], refund_count=t["rc"], created_at=tx.now))
            for table in (payment_captures, payment_refunds):
                tx.conn.execute(update(table).where(
                    table.c.merchant_id == merchant_id, table.c.currency == currency,
                    table.c.business_date == business_date, table.c.settlement_id.is_(None))
                    .values(settlement_id=settlement_id))
            audit.append(tx, actor[0], actor[1], "settlement.paid", "merchant", merchant_id,
                         {"settlement_id": settlement_id, "net_minor": net, "fee_minor": fee})
            view = self.settlement_view(self._settlement(tx.conn, settlement_id))
            tx.emit("payments.settlement.paid", "settlement", settlement_id,
                    {"merchant_id": merchant_id, "type": "settlement.paid", "object": view})
            results.append(view)
        return results

    def _settlement(self, conn: Connection, settlement_id: str) -> Any:
        row = conn.execute(select(merchant_settlements).where(
            merchant_settlements.c.id == settlement_id)).first()
        if row is None:
            raise NotFoundError(f"no settlement {settlement_id}", field="settlement_id")
        return row

    def settlement_view(self, row: Any) -> dict[str, Any]:
        return {"id": row.id, "merchant_id": row.merchant_id, "currency": row.currency,
                "business_date": _date_text(row.business_date),
                "settled_on": _date_text(row.settled_on), "gross_minor": row.gross_minor,
                "refunds_minor": row.refunds_minor, "fee_minor": row.fee_minor,
                "net_minor": row.net_minor, "discount_rate": row.discount_rate,
                "capture_count": row.capture_count, "refund_count": row.refund_count}

    def settlement_report(self, conn: Connection, principal: Principal, settlement_id: str
                          ) -> dict[str, Any]:
        row = self._settlement(conn, settlement_id)
        if principal.kind == "merchant" and row.merchant_id != principal.id:
            raise NotFoundError(f"no settlement {settlement_id}", field="settlement_id")
        lines = []
        for kind, table in (("capture", payment_captures), ("refund", payment_refunds)):
            for line in conn.execute(select(table, payment_intents.c.order_id).join(
                    payment_intents, payment_intents.c.id == table.c.intent_id).where(
                    table.c.settlement_id == settlement_id).order_by(table.c.created_at,
                                                                      table.c.id)):
                lines.append({"kind": kind, "id": line.id, "intent_id": line.intent_id,
                              "order_id": line.order_id,
                              "amount_minor": line.amount_minor if kind == "capture"
                              else -line.amount_minor,
                              "created_at": line.created_at.isoformat()})
        return {**self.settlement_view(row), "lines": lines}

    def list_settlements(self, conn: Connection, merchant_id: str, *,
                         before_seq: int | None, limit: int
                         ) -> tuple[list[dict[str, Any]], int | None]:
        s = merchant_settlements.c
        query = select(merchant_settlements).where(s.merchant_id == merchant_id)
        if before_seq is not None:
            query = query.where(s.seq < before_seq)
        rows = conn.execute(query.order_by(s.seq.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        return [self.settlement_view(r) for r in page], (page[-1].seq if len(rows) > limit
                                                         else None)


def _date_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _purchase_id(result: Any, default: str) -> str:
    """The credit purchase id a capture returned (object attribute, dict key or str)."""
    if isinstance(result, str):
        return result
    for name in ("purchase_id", "id"):
        value = result.get(name) if isinstance(result, dict) else getattr(result, name, None)
        if isinstance(value, str):
            return value
    return default


assert AMOUNT_MINOR_MAX > PaymentsPolicy().amount_minor_max
