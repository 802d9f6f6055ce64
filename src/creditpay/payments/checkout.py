"""Checkout use cases: credit offers and their key-facts documents, confirm (screening,
step-up, authorisation by balance, card or credit with the down payment and the
affordability check), the analyst's review, capture and refund."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select, update

from creditpay.credit import affordability as affordability_rules
from creditpay.credit import origination
from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx
from creditpay.errors import (
    DomainError,
    InsufficientFundsError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.ledger.chart import platform_key
from creditpay.ledger.model import TransferKind, TransferRequest
from creditpay.ledger.service import (
    create_transfer,
)
from creditpay.parties.security import new_id
from creditpay.parties.service import (
    Principal,
    StepUpRequired,
    WrongCode,
    commit_and_raise,
)
from creditpay.payments.common import (
    CREDIT_FUNDING,
    FUNDING_SOURCES,
    PaymentDeclinedError,
    PaymentsContext,
    check_amount,
)
from creditpay.payments.credit_port import (
    LANGUAGES,
    BorrowerLine,
    CheckoutOffer,
    KeyFactsDocument,
)
from creditpay.payments.cross_border import CrossBorder, FxLeg
from creditpay.payments.intents import Intents
from creditpay.payments.risk import Outcome, PaymentEvent
from creditpay.payments.tables import (
    payment_captures,
    payment_intents,
    payment_refunds,
)
from creditpay.payments.wallet import Wallet
from creditpay.platform import audit, metrics
from creditpay.protection.disclosure import CurrencyConversion, accept_disclosure

if TYPE_CHECKING:
    from creditpay.credit.quotes import StoredOffer

__all__ = ["Checkout"]


# A confirmed intent's status, as the checkout metric's outcome.
_CONFIRM_OUTCOMES = {"requires_capture": "approved", "succeeded": "approved",
                     "in_review": "review", "declined": "declined"}


def _set_intent(columns: tuple[str, ...]) -> Prepared:
    """A constant UPDATE of ``columns`` of one intent (parameters ``b_id`` and ``b_<column>``),
    run on the driver (creditpay.db.prepared), for the writes every checkout makes."""
    return Prepared(update(payment_intents).where(payment_intents.c.id == bindparam("b_id"))
                    .values({name: bindparam(f"b_{name}") for name in columns}))


_AUTHORISED_COLUMNS = ("status", "customer_id", "funding", "card_id", "accepted_offer",
                       "credit_authorisation_id", "confirmed_at", "capture_before",
                       "risk_outcome", "risk_reasons")
_SET_AUTHORISED = _set_intent(_AUTHORISED_COLUMNS)
_SET_CAPTURED = _set_intent(("status", "captured_minor"))
_INSERT_CAPTURE = Prepared(payment_captures.insert(), columns=(
    "id", "intent_id", "merchant_id", "amount_minor", "currency", "credit_purchase_id",
    "business_date", "settlement_id", "created_at", "home_amount_minor"))


def _intent_params(intent_id: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"b_id": intent_id, **{f"b_{name}": value for name, value in values.items()}}


@dataclass
class Checkout:
    """Checkout use cases (see the module docstring)."""

    ctx: PaymentsContext
    intents: Intents
    wallet: Wallet
    # Paying abroad (issue #21): an intent in a foreign merchant's currency is paid in the
    # home currency at a locked FX quote.
    cross_border: CrossBorder = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cross_border = CrossBorder(self.ctx, self.intents)

    # ================================================================== credit offers
    def quote_offers(self, tx: Tx, principal: Principal, intent_id: str, *,
                     product_codes: list[str] | None = None, language: str | None = None
                     ) -> dict[str, Any]:
        """The credit offers for this payment, each with the identity of its key-facts
        document in ``language`` (default: the customer's locale): ``key_facts_sha256``
        (confirming with the offer must carry it) and ``key_facts_url`` (the HTML); plus a
        ``spending_nudge`` when the line is mostly used (None otherwise)."""
        row = self.intents.intent_for(tx.conn, principal, intent_id)
        if row.status != "requires_confirmation":
            raise StateError(f"intent is {row.status}", field="intent_id")
        language = self._language(tx.conn, principal, language)
        amount_minor, currency, fx = int(row.amount_minor), str(row.currency), None
        if self.cross_border.is_foreign(row):
            # Credit for a payment abroad is on the home-currency amount of the quote the
            # consumer is shown (confirming needs that same quote).
            fx = self.cross_border.current_quote(tx, principal, row)
            amount_minor, currency = int(fx["sell_amount_minor"]), str(fx["sell_currency"])
        conversion = self.cross_border.conversion_for(
            tx.conn, row, principal.id, amount_minor, fx["quote_id"]) if fx else None
        quote_id, expires_at, offers = self.ctx.credit.quote_offers(
            tx, customer_id=principal.id, amount_minor=amount_minor, conversion=conversion,
            currency=currency, product_codes=product_codes, reference=intent_id,
            language=language, lender_name=self.ctx.policy.lender_name,
            ttl_seconds=self.ctx.policy.offer_ttl_s)
        shown = [{**offer.shown(), "key_facts_language": language,
                  "key_facts_url": f"/v1/payment_intents/{intent_id}/credit_offers/"
                                   f"{offer.offer_id}/key_facts?lang={language}"}
                 for offer in offers]
        nudge = self._spending_nudge(tx, principal.id, currency) if offers else None
        audit.append(tx, "customer", principal.id, "credit.offers_shown", "payment_intent",
                     intent_id, {"quote_id": quote_id,
                                 "offer_ids": [o.offer_id for o in offers]})
        result = {"quote_id": quote_id, "intent_id": intent_id, "offers": shown,
                  "expires_at": expires_at.isoformat(), "spending_nudge": nudge}
        if fx is not None:
            result["fx"] = fx
        return result

    def _language(self, conn: Connection, principal: Principal, language: str | None) -> str:
        if language is None:
            locale = self.ctx.parties.get_customer(conn, principal.id).locale
            return locale if locale in LANGUAGES else LANGUAGES[0]
        if language not in LANGUAGES:
            raise ValidationError(f"must be one of {', '.join(LANGUAGES)}", field="lang")
        return language

    def _spending_nudge(self, tx: Tx, customer_id: str, currency: str
                        ) -> dict[str, Any] | None:
        """The high-utilisation nudge (advisory: it never refuses), in zh-CN and en."""
        policy = self.ctx.origination.affordability_policies.get(currency)
        if policy is None:
            return None
        position = self.ctx.credit.borrower_position(tx, customer_id=customer_id,
                                                     currency=currency, with_accounts=False)
        nudge = affordability_rules.spending_nudge(
            origination.borrower_snapshot(position, None), policy)
        if nudge is None:
            return None
        return {"rule": nudge.rule, "utilisation": nudge.figures["utilisation"],
                "threshold": nudge.figures["threshold"],
                "message_zh_cn": nudge.message_zh_cn, "message_en": nudge.message_en}

    def _shown_offer(self, conn: Connection, customer_id: str, intent_id: str,
                     offer_id: str) -> tuple[StoredOffer, CheckoutOffer]:
        """(stored offer, figures as shown) of an offer shown to ``customer_id`` for this
        intent (credit stores the quote)."""
        found = self.ctx.credit.stored_offer(conn, customer_id=customer_id, reference=intent_id,
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
        row = self.intents.intent_for(conn, principal, intent_id)
        stored, offer = self._shown_offer(conn, principal.id, intent_id, offer_id)
        conversion = self.cross_border.conversion_for(
            conn, row, principal.id, offer.financed_minor + offer.down_payment_minor)
        return self.ctx.credit.key_facts(offer, self._language(conn, principal, language),
                                         lender_name=self.ctx.policy.lender_name,
                                         stored=stored, conversion=conversion).html

    def _shown_key_facts(self, offer: CheckoutOffer, key_facts_sha256: str | None,
                         stored: StoredOffer, conversion: CurrencyConversion | None = None
                         ) -> KeyFactsDocument:
        """The key-facts document the consumer saw for ``offer``: the one (in either
        language) whose SHA-256 they sent back; ValidationError naming
        ``key_facts_sha256`` otherwise (before anything is written). The quote stored the
        hash of the language it was shown in: when it matches, only that document is
        rendered (once: the acceptance keeps this very copy) and checked again; otherwise
        the languages the quote did not render are rendered from the stored figures and
        compared (the consumer may have read the document in the other language)."""
        if not isinstance(key_facts_sha256, str) or not key_facts_sha256:
            raise ValidationError("credit funding needs the key_facts_sha256 of the offer's "
                                  "key-facts document you were shown", field="key_facts_sha256")
        by_language = stored.offer.get("key_facts_sha256_by_language") or {}
        languages = [lang for lang, sha in by_language.items()
                     if hmac.compare_digest(str(sha), key_facts_sha256.lower())]
        if not languages:
            languages = [lang for lang in LANGUAGES if lang not in by_language]
        for language in languages:
            document = self.ctx.credit.key_facts(offer, language,
                                                 lender_name=self.ctx.policy.lender_name,
                                                 stored=stored, conversion=conversion)
            if hmac.compare_digest(document.sha256, key_facts_sha256.lower()):
                return document
        raise ValidationError("is not the SHA-256 of this offer's key-facts document; read "
                              "the document at key_facts_url and confirm again",
                              field="key_facts_sha256")

    def _accepted_offer(self, tx: Tx, principal: Principal, intent_id: str, offer_id: str,
                        funding: str) -> tuple[StoredOffer, CheckoutOffer]:
        """(stored offer, the offer as shown) of an offer shown for this intent and still
        good (StateError naming ``offer_id`` once expired)."""
        found = self.ctx.credit.stored_offer(tx.conn, customer_id=principal.id,
                                             reference=intent_id, offer_id=offer_id)
        if found is None:
            raise ValidationError("not an offer shown for this payment; ask for offers first",
                                  field="offer_id")
        stored, offer = found
        if stored.expires_at <= tx.now:
            raise StateError("the offer has expired; ask for offers again", field="offer_id")
        if offer.funding != funding:
            raise ValidationError(f"offer {offer_id} is a {offer.funding} offer",
                                  field="funding")
        return stored, offer

    # ================================================================== confirm
    def confirm(self, tx: Tx, principal: Principal, intent_id: str, *, funding: str,
                card_id: str | None = None, offer_id: str | None = None,
                step_up_challenge_id: str | None = None, step_up_code: str | None = None,
                via: str = "checkout", key_facts_sha256: str | None = None,
                quote_id: str | None = None) -> dict[str, Any]:
        """Pay the intent (:meth:`_confirm`), counted in ``creditpay_checkouts_total`` by
        outcome and funding once the transaction commits (a rolled-back or retried attempt
        is not counted)."""
        try:
            result = self._confirm(
                tx, principal, intent_id, funding=funding, card_id=card_id, offer_id=offer_id,
                step_up_challenge_id=step_up_challenge_id, step_up_code=step_up_code, via=via,
                key_facts_sha256=key_facts_sha256, quote_id=quote_id)
        except DomainError as exc:
            if getattr(exc, "commit_effects", False):  # a decline or a challenge is stored
                outcome = ("declined" if isinstance(exc, PaymentDeclinedError) else
                           "challenge" if isinstance(exc, StepUpRequired) else "refused")
                tx.after_commit(lambda: metrics.record_checkout("confirm", outcome, funding))
            raise
        counted = _CONFIRM_OUTCOMES.get(str(result.get("status")), "other")
        tx.after_commit(lambda: metrics.record_checkout("confirm", counted, funding))
        return result

    def _confirm(self, tx: Tx, principal: Principal, intent_id: str, *, funding: str,
                 card_id: str | None = None, offer_id: str | None = None,
                 step_up_challenge_id: str | None = None, step_up_code: str | None = None,
                 via: str = "checkout", key_facts_sha256: str | None = None,
                 quote_id: str | None = None) -> dict[str, Any]:
        """Pay the intent. An intent in a foreign currency needs ``quote_id``, the FX quote
        whose home-currency amount the consumer was shown and accepts (checked before
        anything is written, used once when the payment is authorised). Credit funding needs ``offer_id`` (an offer shown and picked)
        and ``key_facts_sha256``, the hash of that offer's key-facts document as shown
        (either language); the acceptance of that exact document, the affordability check
        and the authorisation are written in this one transaction."""
        if funding not in FUNDING_SOURCES:
            raise ValidationError(f"must be one of {list(FUNDING_SOURCES)}", field="funding")
        row = self.intents.intent_for(tx.conn, principal, intent_id, lock=True)
        if row.status != "requires_confirmation":
            raise StateError(f"intent is {row.status}", field="intent_id")
        if row.expires_at <= tx.now:
            raise StateError("intent has expired", field="intent_id")
        fx_shown = None
        pay_amount, pay_currency = int(row.amount_minor), str(row.currency)
        if self.cross_border.is_foreign(row):
            fx_shown = self.cross_border.checked_quote(tx.conn, principal, row, quote_id,
                                                       tx.now)
            self.cross_border.check_limits(tx, principal, fx_shown)
            pay_amount, pay_currency = int(fx_shown.sell_amount_minor), fx_shown.sell_currency
        elif quote_id:
            raise ValidationError(f"only a payment in a currency other than "
                                  f"{self.cross_border.home_currency} takes an FX quote",
                                  field="quote_id")
        offer: CheckoutOffer | None = None
        stored: StoredOffer | None = None
        key_facts = None
        if funding in CREDIT_FUNDING:
            # Credit is never the silent default: only an offer the customer was shown and
            # picked, by id, can fund the payment.
            if not offer_id:
                raise ValidationError("credit funding needs the id of an offer you picked",
                                      field="offer_id")
            stored, offer = self._accepted_offer(tx, principal, intent_id, offer_id, funding)
            if fx_shown is not None and \
                    offer.financed_minor + offer.down_payment_minor != pay_amount:
                raise StateError(f"the credit offers were for another {pay_currency} amount "
                                 f"than quote {fx_shown.quote_id}; ask for offers again",
                                 field="quote_id")
            # A payment abroad: the document states the conversion of the quote accepted.
            conversion = CrossBorder.conversion(fx_shown) if fx_shown is not None else None
            key_facts = self._shown_key_facts(offer, key_facts_sha256, stored, conversion)
        elif offer_id:
            raise ValidationError("only credit funding takes an offer", field="offer_id")
        elif key_facts_sha256:
            raise ValidationError("only credit funding takes a key-facts document",
                                  field="key_facts_sha256")
        card = None
        if funding == "card":
            if not card_id:
                raise ValidationError("card funding needs card_id", field="card_id")
            card = self.ctx.parties.get_card(tx.conn, principal.id, card_id)
        merchant = self.ctx.parties.get_merchant(tx.conn, row.merchant_id)
        screening = None
        if row.risk_outcome == "approved_by_review":
            decision_outcome, reasons, version = Outcome.APPROVE, ["approved_by_review"], "review"
        else:
            decision = self.ctx.risk.screen_payment(tx, PaymentEvent(
                intent_id=row.id, customer_id=principal.id, merchant_id=row.merchant_id,
                merchant_mcc=merchant.mcc, amount_minor=pay_amount,
                currency=pay_currency, funding=funding, scenario=row.scenario,
                device_id=principal.device_id, occurred_at=tx.now,
                extra={"card_id": card_id} if card is not None else {}))
            decision_outcome, reasons, version = (decision.outcome, list(decision.reasons),
                                                  decision.version)
            screening = self.ctx.record_screening(tx, "payment_intent", row.id, decision)
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
            self.intents.emit(tx, "payment_intent.declined", row.id, row.merchant_id)
            raise commit_and_raise(PaymentDeclinedError(
                "the payment was declined by risk screening", reasons=reasons), store=True)
        if decision_outcome == Outcome.REVIEW:
            tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id)
                            .values(status="in_review", customer_id=principal.id,
                                    funding=funding, card_id=card_id,
                                    accepted_offer=_accepted(offer, tx) if offer else None,
                                    **risk_values))
            audit.append(tx, "system", "risk", "payment.review", "payment_intent", row.id,
                         {"reasons": reasons, "version": version})
            if self.ctx.on_review is not None:
                self.ctx.on_review(tx, intent_id=row.id, customer_id=principal.id,
                                   merchant_id=row.merchant_id, amount_minor=row.amount_minor,
                                   currency=row.currency, device_id=principal.device_id,
                                   score=(screening or {}).get("score"), reasons=reasons)
            return self.intents.intent_view(self.intents.intent_row(tx.conn, row.id),
                                            merchant_name=merchant.name)
        needs_code = (decision_outcome == Outcome.CHALLENGE or
                      pay_amount >= self.ctx.policy.step_up_amount_minor)
        if needs_code:
            self._step_up(tx, principal, row, funding, via, step_up_challenge_id, step_up_code)
        return self._authorise(tx, principal, row, merchant, funding, card, offer, risk_values,
                               key_facts, stored, fx_shown)

    def _step_up(self, tx: Tx, principal: Principal, row: Any, funding: str, via: str,
                 challenge_id: str | None, code: str | None) -> None:
        reference = f"{row.id}:{row.amount_minor}:{funding}"
        if via == "payment_code":
            # Nobody at the point of sale can type the code: the customer must pay in-app.
            raise PaymentDeclinedError("this amount needs verification in the app",
                                       decline_code="verification_required")
        if not challenge_id or not code:
            new = self.ctx.parties.issue_challenge(tx, principal.id, "payment", reference)
            raise commit_and_raise(StepUpRequired(
                "enter the one-time code sent to you, then confirm again with it",
                challenge_id=new))
        if self.ctx.parties.check_challenge(tx, challenge_id, code, purpose="payment",
                                            reference=reference, customer_id=principal.id) is None:
            raise commit_and_raise(WrongCode("the code is wrong"))

    def _authorise(self, tx: Tx, principal: Principal, row: Any, merchant: Any, funding: str,
                   card: Any, offer: CheckoutOffer | None, risk_values: dict[str, Any],
                   key_facts: KeyFactsDocument | None = None,
                   stored: StoredOffer | None = None, fx_shown: Any = None
                   ) -> dict[str, Any]:
        hold_id = f"{row.id}.auth"
        window = self.ctx.policy.capture_window_s
        amount, currency = int(row.amount_minor), str(row.currency)
        if fx_shown is not None:
            amount, currency = int(fx_shown.sell_amount_minor), str(fx_shown.sell_currency)
            # The consumer's side is a home-currency purchase paid to the FX position.
            payable = self.cross_border.position_id(tx, currency)
        # Credit needs the merchant's payable only at capture (and for a down payment).
        elif funding not in CREDIT_FUNDING or (offer is not None and offer.down_payment_minor):
            payable = self.ctx.payable_id(tx, row.merchant_id, row.currency)
        else:
            payable = 0
        credit_authorisation_id = None
        accepted = None
        if funding == "balance":
            create_transfer(tx, TransferRequest(
                hold_id, "payment.authorise", TransferKind.PENDING,
                debit_account_id=self.ctx.wallet_id(tx, principal.id, currency),
                credit_account_id=payable, amount_minor=amount,
                timeout_seconds=window, reference=row.id))
        elif funding == "card":
            self.ctx.rail.authorise(tx, card.rail_token, amount, currency)
            create_transfer(tx, TransferRequest(
                hold_id, "payment.authorise", TransferKind.PENDING,
                debit_account_id=self.ctx.account_id(
                    tx.conn, platform_key("card_clearing", currency)),
                credit_account_id=payable, amount_minor=amount,
                timeout_seconds=window, reference=row.id))
        else:
            assert offer is not None and key_facts is not None
            down = offer.down_payment_minor
            if down:
                # Checked before anything is recorded: a short wallet refuses the offer and
                # changes nothing (the affordability refusal below commits its record).
                self._check_down_payment(tx, principal.id, currency, down)
            # The line, its exposure and plans, read once (locked on PostgreSQL) for the
            # affordability check and the authorisation.
            line = self.ctx.credit.borrower_line(tx, customer_id=principal.id,
                                                 currency=currency)
            check_id = self._check_affordability(tx, principal.id, row, funding, key_facts,
                                                 currency, line)
            # The consumer accepts the exact document shown (its hash is recorded with a copy
            # of it), in the transaction that uses the credit: no credit without it.
            acceptance = accept_disclosure(
                tx, customer_id=principal.id, document=key_facts,
                shown_sha256=key_facts.sha256, channel="app")
            accepted = {**_accepted(offer, tx), "key_facts_sha256": acceptance.document_sha256,
                        "key_facts_language": acceptance.language,
                        "key_facts_url": f"/v1/payment_intents/{row.id}/credit_offers/"
                                         f"{offer.offer_id}/key_facts?lang={acceptance.language}",
                        "disclosure_acceptance_id": acceptance.id,
                        "affordability_check_id": check_id}
            credit_authorisation_id = hold_id
            self.ctx.credit.authorise_purchase(
                tx, authorisation_id=hold_id, customer_id=principal.id,
                amount_minor=amount, currency=currency,
                offer_id=offer.offer_id, reference=row.id, quote_id=offer.quote_id,
                key_facts_sha256=key_facts.sha256, key_facts_language=key_facts.language,
                stored=stored, line=line)
            if down:
                # The down payment is held on the wallet, in this transaction with the
                # credit hold on the financed part; capture posts it to the merchant.
                create_transfer(tx, TransferRequest(
                    f"{row.id}.down", "payment.down_payment", TransferKind.PENDING,
                    debit_account_id=self.ctx.wallet_id(tx, principal.id, currency),
                    credit_account_id=payable, amount_minor=down, timeout_seconds=window,
                    reference=row.id))
        # The quote is used last, once nothing can refuse the payment any more (screening,
        # the step-up and the affordability check commit their records and raise): a
        # refused payment leaves it usable, and an intent has one accepted quote.
        leg: FxLeg | None = None
        if fx_shown is not None:
            leg = self.cross_border.accept(tx, principal, row, fx_shown)
        values = dict(
            status="requires_capture", customer_id=principal.id, funding=funding,
            card_id=card.id if card is not None else None, accepted_offer=accepted,
            credit_authorisation_id=credit_authorisation_id, confirmed_at=tx.now,
            capture_before=tx.now + dt.timedelta(seconds=window), **risk_values)
        assert tuple(values) == _AUTHORISED_COLUMNS, "the authorised intent's columns changed"
        _SET_AUTHORISED.run(tx.conn, _intent_params(row.id, values))
        payload: dict[str, Any] = {"amount_minor": row.amount_minor, "currency": row.currency,
                                   "funding": funding,
                                   "risk": risk_values["risk_outcome"]}
        if leg is not None:
            payload["fx"] = {"quote_id": leg.quote_id, "sell_currency": leg.sell_currency,
                             "sell_amount_minor": leg.sell_amount_minor}
        if accepted is not None:
            payload["offer"] = {k: accepted[k] for k in (
                "offer_id", "periods", "per_period_amount_minor", "total_repayable_minor",
                "total_fee_minor", "total_interest_minor", "apr_percent",
                "all_in_annual_cost_percent", "key_facts_sha256", "disclosure_acceptance_id")}
            payload["offer"].update(down_payment_minor=accepted.get("down_payment_minor", 0),
                                    financed_minor=accepted.get("financed_minor"))
        audit.append(tx, "customer", principal.id, "payment.authorised", "payment_intent",
                     row.id, payload)
        # The intent as written: the locked row with the values just set (no re-read).
        fresh = SimpleNamespace(**{**row._mapping, **values})
        self.intents.emit(tx, "payment_intent.authorised", row.id, row.merchant_id, row=fresh)
        view = self.intents.intent_view(fresh, merchant_name=merchant.name)
        if leg is not None:
            view["fx"] = self.cross_border.fx_of(tx.conn, fresh)
        return view

    def _check_down_payment(self, tx: Tx, customer_id: str, currency: str,
                            down_payment_minor: int) -> None:
        """Refuse (InsufficientFundsError naming ``down_payment_minor``) an offer whose down
        payment the wallet's available balance cannot hold. The down payment comes from
        the wallet only: top up first (a card top-up settles into the wallet)."""
        available = self.wallet.wallet_balance(tx.conn, customer_id, currency)["available_minor"]
        if available < down_payment_minor:
            raise InsufficientFundsError(
                f"this offer takes a down payment of {down_payment_minor} minor units from "
                f"your wallet, which has {available} available; top up or pick another offer",
                field="down_payment_minor", down_payment_minor=down_payment_minor,
                available_minor=available)

    def _check_affordability(self, tx: Tx, customer_id: str, row: Any, funding: str,
                             key_facts: KeyFactsDocument, currency: str,
                             line: BorrowerLine | None = None) -> int:
        """Affordability of the checkout's credit offer (see
        :meth:`creditpay.credit.origination.Origination.check_affordability`)."""
        return self.ctx.origination.check_affordability(
            tx, customer_id=customer_id, currency=currency, reference=row.id,
            principal_minor=key_facts.facts.terms.principal_minor,
            monthly_payment_minor=affordability_rules.monthly_payment_of(
                key_facts.facts.schedule),
            is_installment_plan=funding == "installment_plan", line=line)

    def review(self, tx: Tx, operator: Principal, intent_id: str, *, approve: bool,
               note: str | None = None) -> dict[str, Any]:
        row = self.intents.intent_row(tx.conn, intent_id, lock=True)
        if row.status != "in_review":
            raise StateError(f"intent is {row.status}", field="intent_id")
        values = ({"status": "requires_confirmation", "risk_outcome": "approved_by_review"}
                  if approve else {"status": "declined", "risk_outcome": "declined_by_review"})
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == intent_id)
                        .values(**values))
        audit.append(tx, "staff", operator.id, "payment.reviewed", "payment_intent",
                     intent_id, {"approve": approve, "note_given": bool(note)})
        if not approve:
            self.intents.emit(tx, "payment_intent.declined", intent_id, row.merchant_id)
        return self.intents.intent_view(self.intents.intent_row(tx.conn, intent_id))

    # ================================================================== capture / cancel
    def capture(self, tx: Tx, merchant: Principal, intent_id: str, *,
                amount_minor: int | None = None) -> dict[str, Any]:
        result = self._capture(tx, merchant, intent_id, amount_minor=amount_minor)
        funding = str(result.get("funding"))
        tx.after_commit(lambda: metrics.record_checkout("capture", "captured", funding))
        return result

    def _capture(self, tx: Tx, merchant: Principal, intent_id: str, *,
                 amount_minor: int | None = None) -> dict[str, Any]:
        row = self.intents.intent_for(tx.conn, merchant, intent_id, lock=True)
        if row.status != "requires_capture":
            raise StateError(f"intent is {row.status}", field="intent_id")
        if row.capture_before <= tx.now:
            self.intents.expire_one(tx, row)
            raise commit_and_raise(StateError(
                "the capture window has passed; the authorisation was released",
                field="intent_id"))
        amount = row.amount_minor if amount_minor is None else check_amount(
            amount_minor, "amount_minor", row.amount_minor)
        capture_id = new_id("cap")
        purchase_id = None
        leg = self.cross_border.accepted(tx.conn, row.id) \
            if self.cross_border.is_foreign(row) else None
        # The consumer's side: the home-currency share of a foreign capture, paid to the FX
        # position; the payment's own amount and the merchant's payable otherwise.
        if leg is not None:
            pay_amount, pay_authorised = leg.capture_sell_minor(amount), leg.sell_amount_minor
            counter_id = self.cross_border.position_id(tx, leg.sell_currency)
        else:
            pay_amount, pay_authorised = amount, int(row.amount_minor)
            counter_id = 0
        if row.funding in CREDIT_FUNDING:
            self._capture_down_payment(tx, row, pay_amount, pay_authorised)
            result = self.ctx.credit.capture_purchase(
                tx, authorisation_id=row.credit_authorisation_id, capture_id=capture_id,
                amount_minor=pay_amount,
                merchant_payable_account_id=counter_id or self.ctx.payable_id(
                    tx, row.merchant_id, row.currency))
            purchase_id = result.purchase_id
        else:
            # Posting less than the hold releases the rest (a partial capture is final).
            create_transfer(tx, TransferRequest(
                f"{row.id}.capture", "payment.capture", TransferKind.POST,
                pending_id=f"{row.id}.auth", amount_minor=pay_amount, reference=row.id))
        if leg is not None:
            # The merchant's side, in its currency: the FX position pays the merchant.
            create_transfer(tx, TransferRequest(
                f"{row.id}.fx_capture", "payment.fx_capture",
                debit_account_id=self.cross_border.position_id(tx, row.currency),
                credit_account_id=self.ctx.payable_id(tx, row.merchant_id, row.currency),
                amount_minor=amount, reference=row.id))
            self.cross_border.record_capture(tx, leg, pay_amount)
        _INSERT_CAPTURE.run(tx.conn, dict(
            id=capture_id, intent_id=row.id, merchant_id=row.merchant_id, amount_minor=amount,
            currency=row.currency, credit_purchase_id=purchase_id, business_date=tx.today,
            settlement_id=None, created_at=tx.now,
            home_amount_minor=pay_amount if leg is not None else None))
        values = {"status": "succeeded", "captured_minor": amount}
        _SET_CAPTURED.run(tx.conn, _intent_params(row.id, values))
        audit.append(tx, "merchant", merchant.id, "payment.captured", "payment_intent", row.id,
                     {"capture_id": capture_id, "amount_minor": amount})
        # The intent as written: the locked row with the values just set (no re-read).
        fresh = SimpleNamespace(**{**row._mapping, **values})
        self.intents.emit(tx, "payment_intent.succeeded", row.id, row.merchant_id, row=fresh)
        return self.intents.intent_view(fresh)

    def _capture_down_payment(self, tx: Tx, row: Any, amount_minor: int,
                              authorised_minor: int) -> None:
        """Post the down payment's share of a capture of ``amount_minor`` from the wallet
        hold to the merchant (the rest of the hold is released); the credit side finances
        the other part, so the merchant is credited the whole capture."""
        down_payment = _down_payment_of(row)
        if not down_payment:
            return
        down, _ = self.ctx.credit.capture_split(down_payment, authorised_minor, amount_minor)
        if down:
            create_transfer(tx, TransferRequest(
                f"{row.id}.down.capture", "payment.down_payment", TransferKind.POST,
                pending_id=f"{row.id}.down", amount_minor=down, reference=row.id))
        else:
            self.intents.void_hold(tx, row, f"{row.id}.down")

    # ================================================================== refunds
    def refund(self, tx: Tx, merchant: Principal, intent_id: str, *,
               amount_minor: int | None = None, reason: str | None = None) -> dict[str, Any]:
        row = self.intents.intent_for(tx.conn, merchant, intent_id, lock=True)
        if row.status != "succeeded":
            raise StateError(f"intent is {row.status}; only captured payments are refunded",
                             field="intent_id")
        refundable = row.captured_minor - row.refunded_minor
        if refundable <= 0:
            raise StateError("the payment is fully refunded", field="amount_minor")
        amount = refundable if amount_minor is None else check_amount(
            amount_minor, "amount_minor", refundable)
        if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
            raise ValidationError("must be at most 64 characters", field="reason")
        refund_id = new_id("re")
        payable = self.ctx.payable_id(tx, row.merchant_id, row.currency)
        leg = self.cross_border.accepted(tx.conn, row.id) \
            if self.cross_border.is_foreign(row) else None
        # The consumer's side (``pay_*``): for a foreign payment, the home-currency share of
        # this refund at the original rate, from the FX position (which absorbs any rate
        # movement since); the payment's own figures and the merchant's payable otherwise.
        if leg is not None:
            pay_amount = leg.refund_sell_minor(captured_buy_minor=int(row.captured_minor),
                                               refunded_buy_before_minor=int(row.refunded_minor),
                                               refund_buy_minor=amount)
            pay_currency = leg.sell_currency
            pay_authorised, pay_captured = leg.sell_amount_minor, leg.sell_captured_minor
            pay_refunded = leg.sell_refunded_minor
            counter = self.cross_border.position_id(tx, pay_currency)
            # The merchant's side, in its currency: back to the FX position.
            create_transfer(tx, TransferRequest(
                f"{refund_id}.fx", "payment.fx_refund", debit_account_id=payable,
                credit_account_id=self.cross_border.position_id(tx, row.currency),
                amount_minor=amount, reference=row.id))
            self.cross_border.record_refund(tx, leg, pay_amount)
        else:
            pay_amount, pay_currency = amount, str(row.currency)
            pay_authorised, pay_captured = int(row.amount_minor), int(row.captured_minor)
            pay_refunded = int(row.refunded_minor)
            counter = payable
        if row.funding == "balance":
            create_transfer(tx, TransferRequest(
                refund_id, "payment.refund", debit_account_id=counter,
                credit_account_id=self.ctx.wallet_id(tx, row.customer_id, pay_currency),
                amount_minor=pay_amount, reference=row.id))
        elif row.funding == "card":
            create_transfer(tx, TransferRequest(
                refund_id, "payment.refund", debit_account_id=counter,
                credit_account_id=self.ctx.account_id(
                    tx.conn, platform_key("card_clearing", pay_currency)),
                amount_minor=pay_amount, reference=row.id))
            card = self.ctx.parties.get_card(tx.conn, row.customer_id, row.card_id)
            self.ctx.rail.submit(tx, "payout", card.rail_token, pay_amount, pay_currency,
                                 refund_id)
        else:
            capture = tx.conn.execute(select(payment_captures).where(
                payment_captures.c.intent_id == row.id)).first()
            # Refund order with a down payment: the financed part first (what is owed
            # shrinks), then the down payment back to the wallet.
            _, financed = self.ctx.credit.capture_split(_down_payment_of(row), pay_authorised,
                                                        pay_captured)
            credit_part = (min(pay_refunded + pay_amount, financed)
                           - min(pay_refunded, financed))
            to_customer = pay_amount - credit_part  # the down payment's part
            if credit_part:
                # A succeeded credit payment has its capture row (written with the status).
                assert capture is not None
                result = self.ctx.credit.refund_purchase(tx, refund_id=refund_id,
                                                         purchase_id=capture.credit_purchase_id,
                                                         amount_minor=credit_part)
                # The credit side reduced what is owed; what the customer had already
                # repaid of this purchase comes back to the wallet, from the merchant.
                to_customer += result.to_customer_minor
            if to_customer > 0:
                create_transfer(tx, TransferRequest(
                    f"{refund_id}.to_wallet", "payment.refund", debit_account_id=counter,
                    credit_account_id=self.ctx.wallet_id(tx, row.customer_id, pay_currency),
                    amount_minor=to_customer, reference=row.id))
        tx.conn.execute(payment_refunds.insert().values(
            id=refund_id, intent_id=row.id, merchant_id=row.merchant_id, amount_minor=amount,
            currency=row.currency, reason=reason, business_date=tx.today, settlement_id=None,
            created_at=tx.now, home_amount_minor=pay_amount if leg is not None else None))
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id).values(
            refunded_minor=row.refunded_minor + amount))
        audit.append(tx, "merchant", merchant.id, "payment.refunded", "payment_intent", row.id,
                     {"refund_id": refund_id, "amount_minor": amount,
                      **({"fx": {"quote_id": leg.quote_id, "sell_currency": pay_currency,
                                 "sell_amount_minor": pay_amount}} if leg is not None else {})})
        self.intents.emit(tx, "refund.succeeded", row.id, row.merchant_id,
                          {"refund_id": refund_id, "refund_amount_minor": amount})
        refunded: dict[str, Any] = {
                "id": refund_id, "intent_id": row.id, "amount_minor": amount,
                "currency": row.currency, "reason": reason, "status": "succeeded",
                "created_at": tx.now.isoformat(),
                "intent": self.intents.intent_view(self.intents.intent_row(tx.conn, row.id))}
        if leg is not None:
            # What the consumer gets back, in the home currency, at the original rate.
            refunded["fx_refund"] = {"quote_id": leg.quote_id, "sell_currency": pay_currency,
                                     "sell_amount_minor": pay_amount}
        return refunded


def _accepted(offer: CheckoutOffer, tx: Tx) -> dict[str, Any]:
    """The offer's figures as the intent keeps them once the consumer picked it (the
    quote's id and the time of acceptance beside the figures shown)."""
    return {**offer.shown(), "quote_id": offer.quote_id, "accepted_at": tx.now.isoformat()}


def _down_payment_of(row: Any) -> int:
    """The down payment (minor units) of the offer accepted on intent ``row`` (0 without)."""
    return int((row.accepted_offer or {}).get("down_payment_minor") or 0)
