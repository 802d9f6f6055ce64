"""Payments: the :class:`Payments` facade over the use-case modules, and the ledger plan.

The use cases live by use case: :mod:`~creditpay.payments.wallet` (top-up, withdrawal,
P2P and its screening and review, rail callbacks, balance, history),
:mod:`~creditpay.payments.intents` (create, read, list, cancel, expire),
:mod:`~creditpay.payments.checkout` (offers, key facts, confirm, authorise, step-up,
capture, down payment, refund, review), :mod:`~creditpay.payments.qr` (QR pay, payment
codes, collect) and :mod:`~creditpay.payments.settlement`; what they share is in
:mod:`~creditpay.payments.common`. Opening a line and the affordability check are credit's
(:mod:`creditpay.credit.origination`).

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
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from creditpay.db.uow import Tx
from creditpay.parties.service import Principal
from creditpay.payments.checkout import Checkout
from creditpay.payments.common import (
    CREDIT_FUNDING,
    FUNDING_SOURCES,
    SCENARIOS,
    PaymentDeclinedError,
    PaymentsContext,
    PaymentsPolicy,
)
from creditpay.payments.cross_border import CrossBorder
from creditpay.payments.disputes import Disputes
from creditpay.payments.intents import Intents
from creditpay.payments.qr import QrPayments
from creditpay.payments.settlement import Settlement
from creditpay.payments.wallet import Wallet

__all__ = [
    "PaymentsPolicy",
    "Payments",
    "PaymentDeclinedError",
    "FUNDING_SOURCES",
    "SCENARIOS",
    "CREDIT_FUNDING",
]


@dataclass
class Payments(PaymentsContext):
    """The payments facade: the use cases of :mod:`~creditpay.payments.wallet`,
    :mod:`~creditpay.payments.intents`, :mod:`~creditpay.payments.checkout`,
    :mod:`~creditpay.payments.qr` and :mod:`~creditpay.payments.settlement`, composed on one
    shared :class:`~creditpay.payments.common.PaymentsContext` (this object), each method
    delegating to one of them with no logic of its own. It keeps the routes, the simulator,
    the bootstrap and the tests calling the methods they always called; new callers should
    use the use-case modules (``payments.wallet``, ``payments.checkout``...) directly, and
    credit's :mod:`creditpay.credit.origination` to open a line or check affordability."""

    wallet: Wallet = field(init=False, repr=False)
    intents: Intents = field(init=False, repr=False)
    checkout: Checkout = field(init=False, repr=False)
    cross_border: CrossBorder = field(init=False, repr=False)
    qr: QrPayments = field(init=False, repr=False)
    settlement: Settlement = field(init=False, repr=False)
    disputes: Disputes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.wallet = Wallet(self)
        self.intents = Intents(self)
        self.checkout = Checkout(self, self.intents, self.wallet)
        # Paying abroad (issue #21): the checkout's FX quotes; the intent views show them.
        self.cross_border = self.checkout.cross_border
        self.intents.fx_of = self.cross_border.fx_of
        self.qr = QrPayments(self, self.intents, self.checkout)
        self.settlement = Settlement(self)
        self.disputes = Disputes(self)

    def wallet_balance(self, conn: Connection, customer_id: str, currency: str) -> dict[str, Any]:
        return self.wallet.wallet_balance(conn, customer_id, currency)

    def top_up(
        self,
        tx: Tx,
        principal: Principal,
        *,
        card_id: str,
        amount_minor: int,
        currency: str = "CNY",
    ) -> dict[str, Any]:
        return self.wallet.top_up(
            tx, principal, card_id=card_id, amount_minor=amount_minor, currency=currency
        )

    def withdraw(
        self,
        tx: Tx,
        principal: Principal,
        *,
        card_id: str,
        amount_minor: int,
        currency: str = "CNY",
    ) -> dict[str, Any]:
        return self.wallet.withdraw(
            tx, principal, card_id=card_id, amount_minor=amount_minor, currency=currency
        )

    def handle_rail_callback(self, tx: Tx, operation_id: str) -> dict[str, Any]:
        return self.wallet.handle_rail_callback(tx, operation_id)

    def p2p(
        self,
        tx: Tx,
        principal: Principal,
        *,
        to: str,
        amount_minor: int,
        currency: str = "CNY",
        note: str | None = None,
        step_up_challenge_id: str | None = None,
        step_up_code: str | None = None,
    ) -> dict[str, Any]:
        return self.wallet.p2p(
            tx,
            principal,
            to=to,
            amount_minor=amount_minor,
            currency=currency,
            note=note,
            step_up_challenge_id=step_up_challenge_id,
            step_up_code=step_up_code,
        )

    def review_transfer(
        self,
        tx: Tx,
        operator: Principal,
        operation_id: str,
        *,
        approve: bool,
        note: str | None = None,
    ) -> dict[str, Any]:
        return self.wallet.review_transfer(tx, operator, operation_id, approve=approve, note=note)

    def history(
        self, conn: Connection, customer_id: str, *, before_seq: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        return self.wallet.history(conn, customer_id, before_seq=before_seq, limit=limit)

    def intent_view(self, row: Any, *, merchant_name: str | None = None) -> dict[str, Any]:
        return self.intents.intent_view(row, merchant_name=merchant_name)

    def intent_for(
        self, conn: Connection, principal: Principal, intent_id: str, *, lock: bool = False
    ) -> Any:
        return self.intents.intent_for(conn, principal, intent_id, lock=lock)

    def intent_customers(self, conn: Connection, intent_id: str) -> tuple[str, ...]:
        return self.intents.intent_customers(conn, intent_id)

    def wallet_operation_customers(self, conn: Connection, operation_id: str) -> tuple[str, ...]:
        return self.wallet.wallet_operation_customers(conn, operation_id)

    def get_intent_view(
        self, conn: Connection, principal: Principal, intent_id: str
    ) -> dict[str, Any]:
        return self.intents.get_intent_view(conn, principal, intent_id)

    def list_intents(
        self, conn: Connection, principal: Principal, *, before_seq: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        return self.intents.list_intents(conn, principal, before_seq=before_seq, limit=limit)

    def create_intent(
        self,
        tx: Tx,
        merchant: Principal,
        *,
        amount_minor: int,
        currency: str,
        order_id: str,
        scenario: str = "online",
        description: str | None = None,
        line_items: list[dict[str, Any]] | None = None,
        return_url: str | None = None,
        allow_loopback_http: bool = False,
    ) -> dict[str, Any]:
        return self.intents.create_intent(
            tx,
            merchant,
            amount_minor=amount_minor,
            currency=currency,
            order_id=order_id,
            scenario=scenario,
            description=description,
            line_items=line_items,
            return_url=return_url,
            allow_loopback_http=allow_loopback_http,
        )

    def quote_offers(
        self,
        tx: Tx,
        principal: Principal,
        intent_id: str,
        *,
        product_codes: list[str] | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:
        return self.checkout.quote_offers(
            tx, principal, intent_id, product_codes=product_codes, language=language
        )

    def key_facts_html(
        self,
        conn: Connection,
        principal: Principal,
        intent_id: str,
        offer_id: str,
        language: str | None = None,
    ) -> bytes:
        return self.checkout.key_facts_html(conn, principal, intent_id, offer_id, language)

    def confirm(
        self,
        tx: Tx,
        principal: Principal,
        intent_id: str,
        *,
        funding: str,
        card_id: str | None = None,
        offer_id: str | None = None,
        step_up_challenge_id: str | None = None,
        step_up_code: str | None = None,
        via: str = "checkout",
        key_facts_sha256: str | None = None,
        quote_id: str | None = None,
    ) -> dict[str, Any]:
        return self.checkout.confirm(
            tx,
            principal,
            intent_id,
            funding=funding,
            card_id=card_id,
            offer_id=offer_id,
            step_up_challenge_id=step_up_challenge_id,
            step_up_code=step_up_code,
            via=via,
            key_facts_sha256=key_facts_sha256,
            quote_id=quote_id,
        )

    def fx_quote(self, tx: Tx, principal: Principal, intent_id: str) -> dict[str, Any]:
        """The locked FX quote a customer sees for a foreign-currency intent (issue #21)."""
        return self.cross_border.fx_quote(tx, principal, intent_id)

    def review(
        self, tx: Tx, operator: Principal, intent_id: str, *, approve: bool, note: str | None = None
    ) -> dict[str, Any]:
        return self.checkout.review(tx, operator, intent_id, approve=approve, note=note)

    def capture(
        self, tx: Tx, merchant: Principal, intent_id: str, *, amount_minor: int | None = None
    ) -> dict[str, Any]:
        return self.checkout.capture(tx, merchant, intent_id, amount_minor=amount_minor)

    def cancel(self, tx: Tx, merchant: Principal, intent_id: str) -> dict[str, Any]:
        return self.intents.cancel(tx, merchant, intent_id)

    def expire_due(self, tx: Tx, *, limit: int = 1000) -> dict[str, int]:
        return self.intents.expire_due(tx, limit=limit)

    def refund(
        self,
        tx: Tx,
        merchant: Principal,
        intent_id: str,
        *,
        amount_minor: int | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        return self.checkout.refund(
            tx, merchant, intent_id, amount_minor=amount_minor, reason=reason
        )

    def pay_qr(
        self,
        tx: Tx,
        principal: Principal,
        *,
        qr_payload: str,
        funding: str,
        card_id: str | None = None,
        offer_id: str | None = None,
        step_up_challenge_id: str | None = None,
        step_up_code: str | None = None,
        key_facts_sha256: str | None = None,
    ) -> dict[str, Any]:
        return self.qr.pay_qr(
            tx,
            principal,
            qr_payload=qr_payload,
            funding=funding,
            card_id=card_id,
            offer_id=offer_id,
            step_up_challenge_id=step_up_challenge_id,
            step_up_code=step_up_code,
            key_facts_sha256=key_facts_sha256,
        )

    def create_payment_code(
        self, tx: Tx, principal: Principal, *, funding: str, card_id: str | None = None
    ) -> dict[str, Any]:
        return self.qr.create_payment_code(tx, principal, funding=funding, card_id=card_id)

    def collect(
        self, tx: Tx, merchant: Principal, intent_id: str, *, payment_code: str
    ) -> dict[str, Any]:
        return self.qr.collect(tx, merchant, intent_id, payment_code=payment_code)

    def settle(
        self, tx: Tx, business_date: dt.date, *, actor: tuple[str, str] = ("system", "settlement")
    ) -> list[dict[str, Any]]:
        return self.settlement.settle(tx, business_date, actor=actor)

    def settlement_view(self, row: Any) -> dict[str, Any]:
        return self.settlement.settlement_view(row)

    def settlement_report(
        self, conn: Connection, principal: Principal, settlement_id: str
    ) -> dict[str, Any]:
        return self.settlement.settlement_report(conn, principal, settlement_id)

    def list_settlements(
        self, conn: Connection, merchant_id: str, *, before_seq: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        return self.settlement.list_settlements(
            conn, merchant_id, before_seq=before_seq, limit=limit
        )

    # ================================================================== credit's use cases
    def check_affordability(
        self,
        tx: Tx,
        *,
        customer_id: str,
        currency: str,
        reference: str,
        principal_minor: int,
        monthly_payment_minor: int,
        is_installment_plan: bool,
    ) -> int:
        """Credit's :meth:`creditpay.credit.origination.Origination.check_affordability`."""
        return self.origination.check_affordability(
            tx,
            customer_id=customer_id,
            currency=currency,
            reference=reference,
            principal_minor=principal_minor,
            monthly_payment_minor=monthly_payment_minor,
            is_installment_plan=is_installment_plan,
        )

    def open_credit_line(
        self,
        tx: Tx,
        operator: Principal,
        customer_id: str,
        *,
        limit_minor: int,
        product_code: str,
        currency: str = "CNY",
    ) -> dict[str, Any]:
        """Credit's :meth:`creditpay.credit.origination.Origination.open_credit_line`."""
        return self.origination.open_credit_line(
            tx,
            operator,
            customer_id,
            limit_minor=limit_minor,
            product_code=product_code,
            currency=currency,
        )
