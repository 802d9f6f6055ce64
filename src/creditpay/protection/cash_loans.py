"""Cash loans (借呗) as the consumer meets them: offers shown with their key facts, and an
offer accepted on the key facts the consumer read.

Both are use cases at this layer because the key-facts document (disclosure) is consumer
protection's: credit quotes, stores offers and disburses the loan; this module builds the
key facts of a stored offer (:func:`key_facts_of`), renders them, and records the
acceptance. The API's cash-loan routes run :func:`show_cash_loan_offers` and
:func:`take_cash_loan`, each in one transaction, with the audit record inside.

The affordability check is passed in (:class:`AffordabilityCheck`): today it is credit's
origination (``credit.origination.Origination``, the one checkout runs too), bound to the
process's policies and declared-income source by the bootstrap.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit.affordability import monthly_payment_of
from creditpay.credit.apr import AprMethod, apr_of_schedule
from creditpay.credit.cash_loan_offers import (
    PricedLoanOffer,
    loan_headroom,
    mark_accepted,
    price_cash_loans,
    shown_offer,
)
from creditpay.credit.funding import Funding
from creditpay.credit.service import AccountView, disburse_cash_loan
from creditpay.db.uow import Tx
from creditpay.errors import LimitExceededError, StateError, ValidationError
from creditpay.parties.service import wallet_spec
from creditpay.platform import audit
from creditpay.protection import disclosure

__all__ = ["AffordabilityCheck", "KeyFactsDocument", "key_facts_of", "key_facts_document",
           "ShowCashLoanOffers", "ShownCashLoanOffers", "show_cash_loan_offers",
           "TakeCashLoan", "CashLoanTaken", "take_cash_loan"]


class AffordabilityCheck(Protocol):
    """Runs and records the new-credit affordability rules (today :meth:`creditpay.credit.
    origination.Origination.check_affordability`); returns the check id; a refusal is
    LimitExceededError whose record commits."""

    def __call__(self, tx: Tx, *, customer_id: str, currency: str, reference: str,
                 principal_minor: int, monthly_payment_minor: int,
                 is_installment_plan: bool) -> int: ...


# A stored offer's key facts in one language (figures, HTML bytes, SHA-256): the
# disclosure module's document, which is what the consumer accepts.
KeyFactsDocument = disclosure.KeyFactsDocument


def key_facts_of(offer: dict[str, Any], lender_name: str, *, catalogue: P.Catalogue,
                 priced: PricedLoanOffer | None = None) -> disclosure.KeyFacts:
    """The key-facts figures of a stored cash-loan offer: the loan's own schedule terms as of
    the quote date, the late-payment rules of the offer's product version.

    ``priced``: what pricing computed for this very offer when it was quoted in this
    call (:func:`creditpay.credit.cash_loan_offers.price_cash_loans`): its schedule (checked
    to be the one of these terms) and, for an offer that costs something, its all-in annual
    cost, the same solve of the same schedule the document states as its APR, so it is not
    solved again. An offer that costs nothing has its APR solved here as before (the
    document states the solver's figure of its flows, which pricing did not solve)."""
    product = catalogue.get(offer["product_code"], int(offer["product_version"]))
    if not isinstance(product, P.CashLoanProduct):
        raise ValidationError(f"{offer['product_code']} is not a cash loan product",
                              field="product_code")
    quoted_on = dt.date.fromisoformat(str(offer["quoted_on"]))
    terms = P.loan_terms(product, int(offer["periods"]), offer["method"],
                         int(offer["amount_minor"]), quoted_on, offer["currency"])
    offer_terms = disclosure.OfferTerms(
        offer_id=str(offer["offer_id"]), lender_name=lender_name,
        principal_minor=terms.principal_minor, currency=terms.currency,
        annual_rate=terms.annual_rate, periods=terms.periods, start_date=quoted_on,
        method=terms.method, frequency=str(terms.frequency), day_count=str(terms.day_count),
        late_fee_minor=product.late_fee_minor,
        penalty_annual_rate=product.penalty_annual_rate, grace_days=product.grace_days)
    if priced is not None and priced.offer is offer:
        schedule = priced.schedule
        if schedule.totals.interest_minor + schedule.totals.fee_minor:
            return disclosure.build_key_facts_from(
                schedule, priced.all_in_annual_cost,
                apr_of_schedule(schedule, AprMethod.EU), offer_terms)
    return disclosure.build_key_facts(offer_terms)


def key_facts_document(offer: dict[str, Any], language: str, lender_name: str, *,
                       catalogue: P.Catalogue, priced: PricedLoanOffer | None = None
                       ) -> KeyFactsDocument:
    """The key-facts document of a stored offer in ``language`` (zh-CN or en);
    ``priced``: see :func:`key_facts_of`."""
    return disclosure.render_document(key_facts_of(offer, lender_name, catalogue=catalogue,
                                                   priced=priced), language)


@dataclass(frozen=True)
class ShowCashLoanOffers:
    """``customer_id`` asks what borrowing ``amount_minor`` of ``currency`` costs; the
    offers are valid ``ttl_s`` seconds and shown in ``language``."""

    customer_id: str
    amount_minor: int
    currency: str
    language: str
    ttl_s: int
    lender_name: str


@dataclass(frozen=True)
class ShownCashLoanOffers:
    """The offers shown (stored offers, each with the SHA-256 of its key facts in the
    language shown) and the line headroom they were quoted against (minor units)."""

    amount_minor: int
    currency: str
    headroom_minor: int
    offers: tuple[tuple[dict[str, Any], str], ...]


def show_cash_loan_offers(tx: Tx, command: ShowCashLoanOffers, *, catalogue: P.Catalogue
                          ) -> ShownCashLoanOffers:
    """Quote and store the offers of ``catalogue``, and audit
    ``credit.cash_loan_offers_shown``."""
    headroom = loan_headroom(tx.conn, command.customer_id, command.currency)
    offers = price_cash_loans(tx, customer_id=command.customer_id,
                              amount_minor=command.amount_minor, currency=command.currency,
                              ttl_s=command.ttl_s, catalogue=catalogue, headroom=headroom)
    shown = tuple((p.offer, key_facts_document(p.offer, command.language, command.lender_name,
                                               catalogue=catalogue, priced=p).sha256)
                  for p in offers)
    audit.append(tx, "customer", command.customer_id, "credit.cash_loan_offers_shown",
                 "customer", command.customer_id,
                 {"amount_minor": command.amount_minor, "currency": command.currency,
                  "offer_ids": [o["offer_id"] for o, _ in shown]})
    return ShownCashLoanOffers(command.amount_minor, command.currency,
                               headroom.headroom_minor, shown)


@dataclass(frozen=True)
class TakeCashLoan:
    """``customer_id`` accepts offer ``offer_id`` whose key-facts document (in one of
    ``languages``) has SHA-256 ``key_facts_sha256``; the loan is ``loan_id``."""

    customer_id: str
    offer_id: str
    key_facts_sha256: str
    loan_id: str
    lender_name: str
    languages: Sequence[str] = ("zh-CN", "en")


@dataclass(frozen=True)
class CashLoanTaken:
    """The loan disbursed into the wallet, the offer it came from, the language of the key
    facts accepted, and the ids of the acceptance and affordability records."""

    loan: AccountView
    offer: dict[str, Any]
    language: str
    key_facts_sha256: str
    disclosure_acceptance_id: int
    affordability_check_id: int


def take_cash_loan(tx: Tx, command: TakeCashLoan, *, check_affordability: AffordabilityCheck,
                   catalogue: P.Catalogue, funding: Funding | None = None) -> CashLoanTaken:
    """Accept a shown offer and pay the principal into the wallet, in the caller's
    transaction. Refused (StateError on ``offer_id``): accepted already, expired or quoted
    on another day, the product's terms changed since; ValidationError on
    ``key_facts_sha256`` when it is not the hash of the offer's document; LimitExceededError
    on ``offer_id`` beyond the line's headroom; the affordability check's refusal."""
    customer_id, offer_id = command.customer_id, command.offer_id
    offer = shown_offer(tx.conn, customer_id, offer_id)
    if offer["loan_id"] is not None:
        raise StateError("this offer was already accepted", field="offer_id",
                         loan_id=offer["loan_id"])
    if offer["expires_at_dt"] <= tx.now or offer["quoted_on_date"] != tx.today:
        raise StateError("the offer has expired; ask for offers again", field="offer_id")
    current = catalogue.get(offer["product_code"])
    if current.version != int(offer["product_version"]):
        raise StateError("the product's terms changed since this offer; ask for offers "
                         "again", field="offer_id")
    shown = None
    for language in command.languages:
        document = key_facts_document(offer, language, command.lender_name,
                                      catalogue=catalogue)
        if hmac.compare_digest(document.sha256, command.key_facts_sha256.lower()):
            shown = (document, language)
            break
    if shown is None:
        raise ValidationError("is not the SHA-256 of this offer's key-facts document; read "
                              "the document at key_facts_url and accept again",
                              field="key_facts_sha256")
    document, language = shown
    principal, currency = int(offer["amount_minor"]), offer["currency"]
    headroom = loan_headroom(tx.conn, customer_id, currency)
    if principal > headroom.headroom_minor:
        raise LimitExceededError(
            f"you can borrow at most {headroom.headroom_minor} minor units now (your line's "
            f"limit less what you owe and hold)", field="offer_id",
            rule="cash_loan.line_headroom", available_minor=headroom.headroom_minor)
    # The new-credit affordability rules, as checkout runs them (recorded; a refusal
    # commits its record and nothing else).
    check_id = int(check_affordability(
        tx, customer_id=customer_id, currency=currency, reference=offer["offer_id"],
        principal_minor=principal,
        monthly_payment_minor=monthly_payment_of(document.facts.schedule),
        is_installment_plan=False))
    acceptance = disclosure.accept_disclosure(tx, customer_id=customer_id, document=document,
                                              shown_sha256=document.sha256, channel="app")
    wallet = int(L.open_account(tx, wallet_spec(customer_id, currency)).id)
    view = disburse_cash_loan(tx, loan_id=command.loan_id, customer_id=customer_id,
                              currency=currency, principal_minor=principal,
                              product_code=offer["product_code"],
                              periods=int(offer["periods"]), method=offer["method"],
                              wallet_account_id=wallet, catalogue=catalogue,
                              funding=funding)
    mark_accepted(tx, offer_id, command.loan_id)
    audit.append(tx, "customer", customer_id, "credit.cash_loan_accepted", "credit_account",
                 command.loan_id, {"offer_id": offer_id,
                                   "product_code": offer["product_code"],
                                   "product_version": int(offer["product_version"]),
                                   "principal_minor": principal, "currency": currency,
                                   "periods": int(offer["periods"]),
                                   "method": offer["method"],
                                   "apr_percent": offer["apr_percent"],
                                   "total_repayable_minor": offer["total_repayable_minor"],
                                   "key_facts_sha256": document.sha256,
                                   "disclosure_acceptance_id": acceptance.id,
                                   "affordability_check_id": check_id})
    return CashLoanTaken(view, offer, language, document.sha256, int(acceptance.id), check_id)
