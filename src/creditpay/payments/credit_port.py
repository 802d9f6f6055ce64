"""The payments side of credit: the port payments needs and its implementations.

Payments never touches credit tables; it asks credit, inside its own transaction, for
offers, an authorisation (limit reservation), a capture, a void or a refund, through the
typed :class:`CreditPort`: an offer crosses it as a :class:`CheckoutOffer`, the rest as
credit's frozen dataclasses (CreditAuthorisation, CreditPurchase, RefundResult,
BorrowerPosition, CreditLineView). :class:`CreditFacade` implements it with
``creditpay.credit.service`` plus the key-facts document,
which is rendered here because it belongs to consumer protection (credit does not import
:mod:`creditpay.protection`). :class:`NoCredit` is the explicit "credit not offered"
implementation: every credit call answers 503 ``credit-unavailable`` while balance and card
payments keep working. The wiring (api/runtime.py, the simulator, the benchmarks) passes one
in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from creditpay.credit import service as credit_service
from creditpay.credit.funding import Funding
from creditpay.credit.origination import CreditNotOfferedError
from creditpay.credit.service import BorrowerLine, BorrowerPosition
from creditpay.db.uow import Tx
from creditpay.errors import ValidationError
from creditpay.protection import disclosure
from creditpay.protection.withdrawal import withdrawal_deadline

if TYPE_CHECKING:
    from creditpay.credit.lines import CreditLineView
    from creditpay.credit.offers import OfferCosts
    from creditpay.credit.pauses import PauseResult
    from creditpay.credit.products import Catalogue
    from creditpay.credit.quotes import StoredOffer
    from creditpay.credit.service import CreditAuthorisation, CreditPurchase, RefundResult

__all__ = ["CreditUnavailableError", "CreditPort", "CreditFacade", "NoCredit", "CheckoutOffer",
           "KeyFactsDocument", "BorrowerPosition", "BorrowerLine"]

# One error for "no credit here" (503 credit-unavailable), defined once by credit; the port
# keeps its name for payments' callers.
CreditUnavailableError = CreditNotOfferedError


@dataclasses.dataclass(frozen=True, slots=True)
class CheckoutOffer:
    """A credit offer for a checkout, as credit quoted and stored it and the checkout shows
    it: the figures payments acts on, typed, and ``figures``, every figure as shown (the
    JSON object the API returns and the intent keeps once accepted; minor units, rates as
    percent strings)."""

    offer_id: str
    quote_id: str
    funding: str  # "credit_line" (pay in full) | "installment_plan"
    product_code: str
    product_version: int
    periods: int
    financed_minor: int
    down_payment_minor: int
    key_facts_sha256: str | None
    figures: Mapping[str, Any]

    @classmethod
    def of(cls, stored_figures: Mapping[str, Any], quote_id: str) -> CheckoutOffer:
        """The offer of a stored quote's figures (credit's JSON object of one offer)."""
        figures = _shown(dict(stored_figures))
        return cls(offer_id=str(figures["offer_id"]), quote_id=quote_id,
                   funding=str(figures["funding"]), product_code=str(figures["product_code"]),
                   product_version=int(figures["product_version"]),
                   periods=int(figures["periods"]),
                   financed_minor=int(figures["financed_minor"]),
                   down_payment_minor=int(figures.get("down_payment_minor") or 0),
                   key_facts_sha256=figures.get("key_facts_sha256"), figures=figures)

    def shown(self) -> dict[str, Any]:
        """The figures as shown, a new dict the caller may extend."""
        return dict(self.figures)


def _shown(figures: Mapping[str, Any]) -> dict[str, Any]:
    """A stored offer's figures as the checkout shows them (funding named as the API does;
    the per-language hashes are credit's bookkeeping, not shown)."""
    shown = dict(figures)
    shown.pop("key_facts_sha256_by_language", None)
    shown.pop("exact_rates", None)
    funding = str(shown.get("funding"))
    shown["funding"] = {"line": "credit_line", "plan": "installment_plan"}.get(funding, funding)
    return shown


class CreditPort(Protocol):
    """What payments asks of credit at checkout (minor units throughout; each call runs
    in the caller's transaction ``tx``)."""

    @property
    def available(self) -> bool: ...

    def quote_offers(self, tx: Tx, *, customer_id: str, amount_minor: int, currency: str,
                     product_codes: list[str] | None = None, reference: str | None = None,
                     language: str = "zh-CN", lender_name: str = "creditpay",
                     ttl_seconds: int = 900,
                     conversion: disclosure.CurrencyConversion | None = None
                     ) -> tuple[str, dt.datetime, list[CheckoutOffer]]: ...

    def stored_offer(self, conn: Any, *, customer_id: str, reference: str, offer_id: str
                     ) -> tuple[StoredOffer, CheckoutOffer] | None: ...

    def capture_split(self, down_payment_minor: int, authorised_minor: int,
                      captured_minor: int) -> tuple[int, int]: ...

    def open_credit_line(self, tx: Tx, *, line_id: str, customer_id: str, currency: str,
                         limit_minor: int, product_code: str) -> CreditLineView: ...

    def authorise_purchase(self, tx: Tx, *, authorisation_id: str, customer_id: str,
                           amount_minor: int, currency: str, offer_id: str,
                           reference: str | None = None, quote_id: str | None = None,
                           key_facts_sha256: str | None = None,
                           key_facts_language: str | None = None,
                           stored: StoredOffer | None = None,
                           line: BorrowerLine | None = None) -> CreditAuthorisation: ...

    def borrower_line(self, tx: Tx, *, customer_id: str, currency: str) -> BorrowerLine: ...

    def capture_purchase(self, tx: Tx, *, authorisation_id: str, capture_id: str,
                         amount_minor: int, merchant_payable_account_id: int
                         ) -> CreditPurchase: ...

    def void_authorisation(self, tx: Tx, *, authorisation_id: str) -> CreditAuthorisation: ...

    def refund_purchase(self, tx: Tx, *, refund_id: str, purchase_id: str, amount_minor: int
                        ) -> RefundResult: ...

    # Disputes (issue #20): the plan that financed a disputed purchase is paused, and the
    # pause ends (its dates moved by the days paused) when the dispute does; a line
    # purchase's disputed amount is held in the line's disputed bucket meanwhile.
    def pause_purchase(self, tx: Tx, *, pause_id: str, purchase_id: str, amount_minor: int,
                       actor_id: str) -> PauseResult: ...

    def end_pause(self, tx: Tx, *, pause_id: str, outcome: str, actor_id: str
                  ) -> PauseResult: ...

    def key_facts(self, offer: CheckoutOffer, language: str, *, lender_name: str,
                  stored: StoredOffer | None = None,
                  conversion: disclosure.CurrencyConversion | None = None
                  ) -> KeyFactsDocument: ...

    def borrower_position(self, tx: Tx, *, customer_id: str, currency: str,
                          with_accounts: bool = True) -> BorrowerPosition: ...


class NoCredit:
    """The port when the platform offers no credit: balance and card payments work, every
    credit call answers 503 ``credit-unavailable`` (before anything is written)."""

    available = False

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise CreditUnavailableError(
            "credit is not offered on this platform; pay with balance or card")

    quote_offers = stored_offer = capture_split = open_credit_line = _refuse
    authorise_purchase = capture_purchase = void_authorisation = refund_purchase = _refuse
    key_facts = borrower_position = borrower_line = _refuse
    pause_purchase = end_pause = _refuse


class CreditFacade:
    """The port implemented with ``creditpay.credit.service`` (and the key-facts document
    rendered by consumer protection), pricing and servicing with the product catalogue (and
    its caps) it was built with: every call into credit is given ``catalogue``, so facades
    built with different catalogues in one process never see each other's products."""

    available = True

    def __init__(self, catalogue: Catalogue, funding: Funding | None = None) -> None:
        self.catalogue = catalogue
        # Partner funding of plans at capture (credit.funding); None: the platform funds all.
        self.funding = funding

    def quote_offers(self, tx: Tx, *, customer_id: str, amount_minor: int,
                     currency: str, product_codes: list[str] | None = None,
                     reference: str | None = None, language: str = "zh-CN",
                     lender_name: str = "creditpay", ttl_seconds: int = 900,
                     conversion: disclosure.CurrencyConversion | None = None
                     ) -> tuple[str, dt.datetime, list[CheckoutOffer]]:
        """Offers the checkout can accept, every figure exact: those whose financed part
        fits the available limit, quoted once and stored by credit (one quote, its id on
        each offer as ``quote_id``) with the SHA-256 of each offer's key-facts document in
        ``language`` (``key_facts_sha256``) and in every language it can be read in. An
        offer with a down payment (``down_payment_minor`` > 0) is shown too: confirming it
        holds the down payment on the wallet (the checkout refuses it, naming
        ``down_payment_minor``, when the balance is short)."""
        if language not in LANGUAGES:
            raise ValidationError(f"must be one of {', '.join(LANGUAGES)}", field="lang")

        def hashes(figures: dict[str, Any], costs: OfferCosts | None) -> dict[str, str]:
            # The schedule and rates are those credit just solved (``costs`` and the
            # figures' ``exact_rates``): nothing is solved here. Only the language shown is
            # rendered: a consumer who reads the offer in the other language (its
            # key_facts_url with ?lang=) and accepts that document has it rendered from
            # the stored figures at confirm, and checked there.
            facts = _key_facts_of(_shown(figures), str(figures["offer_id"]), lender_name,
                                  self.catalogue, costs, figures.get("exact_rates"))
            if conversion is not None:  # a payment abroad: its conversion is stated too
                facts = dataclasses.replace(facts, conversion=conversion)
            return {language: disclosure.render_document(facts, language).sha256}

        quote = credit_service.quote(
            tx, customer_id=customer_id, amount_minor=amount_minor, currency=currency,
            product_codes=product_codes, reference=reference, ttl_seconds=ttl_seconds,
            key_facts_by_language=hashes, shown_language=language, within_limit_only=True,
            catalogue=self.catalogue)
        return quote.quote_id, quote.expires_at, [CheckoutOffer.of(o.figures, quote.quote_id)
                                                  for o in quote.offers]

    def stored_offer(self, conn: Any, *, customer_id: str, reference: str, offer_id: str
                     ) -> tuple[StoredOffer, CheckoutOffer] | None:
        """(stored offer, the offer as shown) of offer ``offer_id`` quoted to
        ``customer_id`` for ``reference``, or None (one read)."""
        from creditpay.credit.quotes import find_offer

        stored = find_offer(conn, customer_id=customer_id, offer_id=offer_id,
                            reference=reference)
        if stored is None:
            return None
        return stored, CheckoutOffer.of(stored.offer, stored.quote_id)

    @staticmethod
    def capture_split(down_payment_minor: int, authorised_minor: int, captured_minor: int
                      ) -> tuple[int, int]:
        """(down payment, financed) parts of capturing ``captured_minor`` of a purchase of
        ``authorised_minor`` whose accepted offer took ``down_payment_minor`` down (minor
        units; they add up to the capture exactly, with the split the credit domain uses
        for the plan)."""
        from creditpay.credit.offers import capture_split

        return capture_split(down_payment_minor, authorised_minor, captured_minor)






    def open_credit_line(self, tx: Tx, *, line_id: str, customer_id: str, currency: str,
                         limit_minor: int, product_code: str) -> CreditLineView:
        return credit_service.open_credit_line(
            tx, line_id=line_id, customer_id=customer_id, currency=currency,
            limit_minor=limit_minor, product_code=product_code, catalogue=self.catalogue)

    def authorise_purchase(self, tx: Tx, *, authorisation_id: str, customer_id: str,
                           amount_minor: int, currency: str, offer_id: str,
                           reference: str | None = None, quote_id: str | None = None,
                           key_facts_sha256: str | None = None,
                           key_facts_language: str | None = None,
                           stored: StoredOffer | None = None,
                           line: BorrowerLine | None = None) -> CreditAuthorisation:
        return credit_service.authorise_purchase(
            tx, authorisation_id=authorisation_id, customer_id=customer_id,
            amount_minor=amount_minor, currency=currency, offer_id=offer_id,
            reference=reference, quote_id=quote_id, key_facts_sha256=key_facts_sha256,
            key_facts_language=key_facts_language, stored=stored, catalogue=self.catalogue,
            line=line)

    def borrower_line(self, tx: Tx, *, customer_id: str, currency: str) -> BorrowerLine:
        """The borrower's line with its exposure and plans, read once (locked on
        PostgreSQL) for a checkout's affordability check and authorisation."""
        return credit_service.borrower_line(tx, customer_id, currency)

    def capture_purchase(self, tx: Tx, *, authorisation_id: str, capture_id: str,
                         amount_minor: int, merchant_payable_account_id: int
                         ) -> CreditPurchase:
        return credit_service.capture_purchase(
            tx, authorisation_id=authorisation_id, capture_id=capture_id,
            amount_minor=amount_minor, merchant_payable_account_id=merchant_payable_account_id,
            catalogue=self.catalogue, funding=self.funding)

    def void_authorisation(self, tx: Tx, *, authorisation_id: str) -> CreditAuthorisation:
        return credit_service.void_authorisation(tx, authorisation_id=authorisation_id)

    def refund_purchase(self, tx: Tx, *, refund_id: str, purchase_id: str, amount_minor: int
                        ) -> RefundResult:
        return credit_service.refund_purchase(tx, refund_id=refund_id, purchase_id=purchase_id,
                                              amount_minor=amount_minor,
                                              catalogue=self.catalogue)

    def pause_purchase(self, tx: Tx, *, pause_id: str, purchase_id: str, amount_minor: int,
                       actor_id: str) -> PauseResult:
        from creditpay.credit import pauses

        return pauses.pause_purchase(tx, pause_id=pause_id, purchase_id=purchase_id,
                                     amount_minor=amount_minor, actor_id=actor_id,
                                     catalogue=self.catalogue)

    def end_pause(self, tx: Tx, *, pause_id: str, outcome: str, actor_id: str
                  ) -> PauseResult:
        from creditpay.credit import pauses

        return pauses.end_pause(tx, pause_id=pause_id, outcome=outcome, actor_id=actor_id)

    # ------------------------------------------------------------------ key facts
    def key_facts(self, offer: CheckoutOffer, language: str, *, lender_name: str,
                  stored: StoredOffer | None = None,
                  conversion: disclosure.CurrencyConversion | None = None
                  ) -> KeyFactsDocument:
        """The key-facts document of a shown offer (from :meth:`quote_offers` or
        :meth:`stored_offer`) in
        ``language``: its figures, the exact HTML bytes and their SHA-256; ``stored``, the
        stored offer, gives the exact rates solved when it was quoted.

        The schedule, cost and date figures are those of the offer; fees, late-fee and
        penalty rules come from the offer's product version. Rendered each time it is
        asked for (no memo): the offers are hashed once, when credit stores the quote, and
        acceptance renders the accepted one again to compare.
        """
        if language not in LANGUAGES:
            raise ValidationError(f"must be one of {', '.join(LANGUAGES)}", field="lang")
        rates = stored.offer.get("exact_rates") if stored is not None else None
        facts = _key_facts_of(offer.figures, offer.offer_id, lender_name, self.catalogue,
                              rates=rates)
        if conversion is not None:
            facts = dataclasses.replace(facts, conversion=conversion)
        return disclosure.render_document(facts, language)

    # ------------------------------------------------------------------ affordability inputs
    def borrower_position(self, tx: Tx, *, customer_id: str, currency: str,
                          with_accounts: bool = True) -> BorrowerPosition:
        """What the credit domain knows of the borrower (minor units): the line's limit and
        use, and (``with_accounts``) unsecured exposure and open installment plans."""
        return credit_service.borrower_position(tx.conn, customer_id, currency,
                                                with_accounts=with_accounts)


# A key-facts document as shown to the consumer (HTML) and the figures behind it.
KeyFactsDocument = disclosure.KeyFactsDocument


LANGUAGES = ("zh-CN", "en")


def _key_facts_of(offer: Mapping[str, Any], offer_id: str, lender_name: str,
                  catalogue: Catalogue, costs: OfferCosts | None = None,
                  rates: dict[str, str] | None = None) -> disclosure.KeyFacts:
    """Key facts of an offer (pure: its product version is read from ``catalogue``).

    ``costs``: what pricing the offer solved (its consumer schedule and all-in cost); given,
    the document's schedule is that very schedule. ``rates``: the exact rates credit
    stored with the quote (:func:`creditpay.credit.offers.exact_rates`); given, nothing is
    solved. Absent (a quote stored before they were), the rates are solved from the terms.
    """
    from creditpay.credit import products as P
    from creditpay.credit.apr import AprMethod, all_in_annual_cost, apr_of_schedule
    from creditpay.credit.schedule import Method, build_schedule, with_terms

    product = catalogue.get(offer["product_code"], offer["product_version"])
    quoted_on = dt.date.fromisoformat(str(offer["quoted_on"]))
    common: dict[str, Any] = {
        "offer_id": offer_id, "lender_name": lender_name,
        "principal_minor": int(offer["financed_minor"]),
        "currency": str(offer.get("currency") or product.currency),
        "periods": int(offer["periods"]), "start_date": quoted_on,
        "day_count": str(product.day_count), "late_fee_minor": product.late_fee_minor,
        "penalty_annual_rate": product.penalty_annual_rate,
        "grace_days": product.grace_days}
    if isinstance(product, P.InstallmentPlanProduct):
        option = product.option(int(offer["periods"]), offer.get("down_payment_rate"))
        # A merchant-paid fee is not the consumer's cost: the document shows what they pay.
        fee = option.fee_rate_per_period if product.fee_payer == "customer" else Decimal(0)
        # The down payment is cash paid at checkout: the document's credit (principal,
        # schedule, APR) is the financed part, and it states the down payment beside it.
        plan_terms = disclosure.OfferTerms(
            annual_rate=product.annual_rate, method=product.method,
            fee_rate_per_period=fee, frequency=product.frequency,
            down_payment_minor=int(offer.get("down_payment_minor") or 0), **common)
        if rates is not None:
            schedule = costs.consumer_schedule if costs is not None else \
                build_schedule(plan_terms.schedule_terms())
            return disclosure.build_key_facts_from(
                schedule, Decimal(rates["key_facts_apr"]),
                Decimal(rates["key_facts_effective_annual_rate"]), plan_terms)
        if costs is None or not (costs.consumer_schedule.totals.interest_minor
                                 + costs.consumer_schedule.totals.fee_minor):
            # A plan that costs nothing: pricing skipped its solve (cost 0), but the document
            # has always stated the solver's figure of its flows (a residue that prints as
            # "-0.00%"); it is solved as before so its bytes and hash do not change.
            return disclosure.build_key_facts(plan_terms)
        return disclosure.build_key_facts_from(
            costs.consumer_schedule, costs.all_in_annual_cost,
            apr_of_schedule(costs.consumer_schedule, AprMethod.EU), plan_terms)
    # Pay in full on the statement's due date: one repayment, no interest, no fee; the
    # schedule is due on the offer's due date, not a month after the purchase.
    terms = disclosure.OfferTerms(annual_rate=Decimal(0), method=Method.BULLET, **common)
    schedule = build_schedule(with_terms(
        terms.schedule_terms(), first_due_date=dt.date.fromisoformat(
            str(offer["first_due_date"]))))
    cost_minor = schedule.totals.interest_minor + schedule.totals.fee_minor
    return disclosure.KeyFacts(
        terms=terms, schedule=schedule,
        apr=all_in_annual_cost(schedule) if cost_minor else Decimal(0),
        effective_annual_rate=apr_of_schedule(schedule, AprMethod.EU) if cost_minor
        else Decimal(0),
        total_interest_minor=schedule.totals.interest_minor,
        total_fees_minor=schedule.totals.fee_minor,
        total_repayable_minor=schedule.totals.total_minor,
        withdrawal_deadline=withdrawal_deadline(quoted_on, terms.withdrawal_days))
