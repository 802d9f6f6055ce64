"""The payments side of credit: every call goes through ``creditpay.credit.service``.

Payments never touches credit tables; it asks the servicing facade, inside its own
transaction, for offers, an authorisation (limit reservation), a capture, a void or a refund.
When the facade is not installed, credit funding answers 503 ``credit-unavailable`` and
balance and card payments keep working.

The facade also turns an offer into its key-facts document (:meth:`CreditFacade.key_facts`,
through :mod:`creditpay.protection.disclosure`) and reads what the affordability rules need
to know about the borrower (:meth:`CreditFacade.borrower_position`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from creditpay.db.uow import Tx
from creditpay.errors import DomainError, ValidationError
from creditpay.protection import disclosure
from creditpay.protection.withdrawal import withdrawal_deadline

if TYPE_CHECKING:
    from creditpay.credit.products import Catalogue

__all__ = ["CreditUnavailableError", "CreditFacade", "offer_to_dict", "KeyFactsDocument",
           "BorrowerPosition"]

OFFER_FIELDS = ("offer_id", "funding", "periods", "per_period_amount_minor",
                "total_repayable_minor", "total_fee_minor", "total_interest_minor",
                "apr_percent", "all_in_annual_cost_percent", "down_payment_minor",
                "financed_minor")


class CreditUnavailableError(DomainError):
    type_slug = "credit-unavailable"
    status = 503
    title = "Credit is not available"


_PLAIN_TYPES = frozenset({str, int, bool, float, type(None)})


def _json_value(value: Any) -> Any:
    if type(value) in _PLAIN_TYPES:  # most figures: returned as they are, checked first
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Field by field: ``dataclasses.asdict`` deep-copies every leaf first (slow).
        return {f.name: _json_value(getattr(value, f.name))
                for f in dataclasses.fields(value)}
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return value


def _shown(figures: dict[str, Any]) -> dict[str, Any]:
    """A stored offer's figures as the checkout shows them (funding named as the API does;
    the per-language hashes are credit's bookkeeping, not shown)."""
    shown = dict(figures)
    shown.pop("key_facts_sha256_by_language", None)
    shown["funding"] = {"line": "credit_line", "plan": "installment_plan"}.get(
        shown.get("funding"), shown.get("funding"))
    return shown


def offer_to_dict(offer: Any) -> dict[str, Any]:
    """Every figure the facade put on the offer, exactly (Decimals as strings)."""
    if dataclasses.is_dataclass(offer) and not isinstance(offer, type):
        raw = offer
    elif isinstance(offer, dict):
        raw = dict(offer)
    else:
        raw = {name: getattr(offer, name) for name in dir(offer)
               if not name.startswith("_") and not callable(getattr(offer, name))}
    result = _json_value(raw)
    # The facade names funding "line" / "plan"; the API names them as the checkout does.
    result["funding"] = {"line": "credit_line", "plan": "installment_plan"}.get(
        result.get("funding"), result.get("funding"))
    missing = [name for name in OFFER_FIELDS if name not in result]
    if missing:
        raise CreditUnavailableError(f"credit offer lacks {missing}")
    return result


class CreditFacade:
    """Thin adapter over ``creditpay.credit.service`` (resolved at first use), pricing and
    servicing with the product catalogue (and its caps) it was built with: every call into
    credit is given ``catalogue``, so facades built with different catalogues in one
    process never see each other's products."""

    def __init__(self, catalogue: Catalogue,
                 module_name: str = "creditpay.credit.service") -> None:
        self.catalogue = catalogue
        self._module_name = module_name
        self._module: Any = None
        # Rendered key-facts documents by figures; per facade, because the same product
        # code and version may mean other terms in another facade's catalogue.
        self._documents: OrderedDict[tuple[Any, ...], tuple[disclosure.KeyFacts, str]] = \
            OrderedDict()
        self._documents_lock = threading.Lock()

    def _service(self) -> Any:
        if self._module is None:
            try:
                self._module = importlib.import_module(self._module_name)
            except ImportError as exc:
                raise CreditUnavailableError(
                    "the credit servicing engine is not installed; pay with balance or card"
                ) from exc
        return self._module

    @property
    def available(self) -> bool:
        try:
            self._service()
        except CreditUnavailableError:
            return False
        return True

    def quote_offers(self, tx: Tx, *, customer_id: str, amount_minor: int,
                     currency: str, product_codes: list[str] | None = None,
                     reference: str | None = None, language: str = "zh-CN",
                     lender_name: str = "creditpay", ttl_seconds: int = 900
                     ) -> tuple[str, dt.datetime, list[dict[str, Any]]]:
        """Offers the checkout can accept, every figure exact: those whose financed part
        fits the available limit, quoted once and stored by credit (one quote, its id on
        each offer as ``quote_id``) with the SHA-256 of each offer's key-facts document in
        ``language`` (``key_facts_sha256``) and in every language it can be read in. An
        offer with a down payment (``down_payment_minor`` > 0) is shown too: confirming it
        holds the down payment on the wallet (the checkout refuses it, naming
        ``down_payment_minor``, when the balance is short)."""
        def key_facts_in(lang: str) -> Callable[[dict[str, Any]], str]:
            return lambda figures: self.key_facts(_shown(figures), lang,
                                                  lender_name=lender_name).sha256

        quote = self._service().quote(
            tx, customer_id=customer_id, amount_minor=amount_minor, currency=currency,
            product_codes=product_codes, reference=reference, ttl_seconds=ttl_seconds,
            key_facts=key_facts_in(language),
            key_facts_languages={lang: key_facts_in(lang) for lang in LANGUAGES},
            within_limit_only=True, catalogue=self.catalogue)
        return quote.quote_id, quote.expires_at, [_shown(o.as_dict()) for o in quote.offers]

    def stored_offer(self, conn: Any, *, customer_id: str, reference: str, offer_id: str
                     ) -> tuple[Any, dict[str, Any]] | None:
        """(stored offer, its figures as shown) of offer ``offer_id`` quoted to
        ``customer_id`` for ``reference``, or None (one read)."""
        from creditpay.credit.quotes import find_offer

        stored = find_offer(conn, customer_id=customer_id, offer_id=offer_id,
                            reference=reference)
        if stored is None:
            return None
        return stored, _shown(dict(stored.offer, quote_id=stored.quote_id))

    @staticmethod
    def capture_split(offer: dict[str, Any], authorised_minor: int, captured_minor: int
                      ) -> tuple[int, int]:
        """(down payment, financed) parts of capturing ``captured_minor`` of a purchase of
        ``authorised_minor`` with the accepted ``offer`` (minor units; they add up to the
        capture exactly, with the split the credit domain uses for the plan)."""
        from creditpay.credit.offers import capture_split

        return capture_split(int(offer.get("down_payment_minor") or 0), authorised_minor,
                             captured_minor)

    def open_credit_line(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().open_credit_line(tx, catalogue=self.catalogue, **kwargs)

    def authorise_purchase(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().authorise_purchase(tx, catalogue=self.catalogue, **kwargs)

    def capture_purchase(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().capture_purchase(tx, catalogue=self.catalogue, **kwargs)

    def void_authorisation(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().void_authorisation(tx, **kwargs)

    def refund_purchase(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().refund_purchase(tx, catalogue=self.catalogue, **kwargs)

    # ------------------------------------------------------------------ key facts
    def key_facts(self, offer: dict[str, Any], language: str, *, lender_name: str
                  ) -> KeyFactsDocument:
        """The key-facts document of a shown offer (a dict from :meth:`quote_offers`) in
        ``language``: its figures, the exact HTML bytes and their SHA-256.

        The schedule, cost and date figures are those of the offer; fees, late-fee and
        penalty rules come from the offer's product version. Documents that differ only by
        offer id are rendered once (bounded cache) and the id is put in afterwards, so
        quoting many offers costs a dictionary look-up and a hash each; the bytes equal
        :func:`creditpay.protection.disclosure.render_html` of the same facts (acceptance
        renders again and compares, so a difference could never be accepted).
        """
        if language not in LANGUAGES:
            raise ValidationError(f"must be one of {', '.join(LANGUAGES)}", field="lang")
        offer_id = str(offer["offer_id"])
        key = tuple(offer.get(name) for name in _KEY_FACTS_FIGURES) + (language, lender_name)
        with self._documents_lock:
            template = self._documents.get(key)
            if template is not None:
                self._documents.move_to_end(key)
        if template is None:
            facts = _key_facts_of(offer, _OFFER_ID_PLACEHOLDER, lender_name, self.catalogue)
            html = disclosure.render_html(facts, language).decode("utf-8")
            assert html.count(_OFFER_ID_PLACEHOLDER) >= 1
            template = (facts, html)
            with self._documents_lock:
                self._documents[key] = template
                while len(self._documents) > _DOCUMENTS_MAX:
                    self._documents.popitem(last=False)
        facts, html = template
        facts = dataclasses.replace(facts, terms=dataclasses.replace(facts.terms,
                                                                     offer_id=offer_id))
        document = html.replace(_OFFER_ID_PLACEHOLDER, offer_id).encode("utf-8")
        return KeyFactsDocument(facts, language, document, disclosure.document_sha256(document))

    # ------------------------------------------------------------------ affordability inputs
    def borrower_position(self, tx: Tx, *, customer_id: str, currency: str,
                          with_accounts: bool = True) -> BorrowerPosition:
        """What the credit domain knows of the borrower (minor units): the line's limit and
        use, and (``with_accounts``) unsecured exposure and open installment plans."""
        position = self._service().borrower_position(tx.conn, customer_id, currency)
        if not with_accounts:
            return BorrowerPosition(currency, position["credit_limit_minor"],
                                    position["used_minor"], 0, 0)
        return BorrowerPosition(currency, position["credit_limit_minor"],
                                position["used_minor"], position["exposure_minor"],
                                position["open_plans"])


@dataclasses.dataclass(frozen=True, slots=True)
class KeyFactsDocument:
    """A key-facts document as shown to the consumer (HTML) and the figures behind it."""

    facts: disclosure.KeyFacts
    language: str
    html: bytes
    sha256: str


@dataclasses.dataclass(frozen=True, slots=True)
class BorrowerPosition:
    currency: str
    credit_limit_minor: int
    used_minor: int  # limit - available: drawn and held
    exposure_minor: int  # principal outstanding with us + open authorisation holds
    open_plans: int  # active installment plans


LANGUAGES = ("zh-CN", "en")
# The figures of an offer a key-facts document depends on (the offer id aside).
_KEY_FACTS_FIGURES = ("funding", "product_code", "product_version", "periods",
                      "financed_minor", "quoted_on", "first_due_date", "currency",
                      "down_payment_minor", "down_payment_rate")
_OFFER_ID_PLACEHOLDER = "KEYFACTSOFFERIDPLACEHOLDER000000"
_DOCUMENTS_MAX = 2048


def _key_facts_of(offer: dict[str, Any], offer_id: str, lender_name: str,
                  catalogue: Catalogue) -> disclosure.KeyFacts:
    """Key facts of an offer (pure: its product version is read from ``catalogue``)."""
    from creditpay.credit import products as P
    from creditpay.credit.apr import AprMethod, all_in_annual_cost, apr_of_schedule
    from creditpay.credit.schedule import Method, build_schedule, with_terms

    product = catalogue.get(offer["product_code"], offer["product_version"])
    quoted_on = dt.date.fromisoformat(str(offer["quoted_on"]))
    common = {"offer_id": offer_id, "lender_name": lender_name,
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
        return disclosure.build_key_facts(disclosure.OfferTerms(
            annual_rate=product.annual_rate, method=product.method,
            fee_rate_per_period=fee, frequency=product.frequency,
            down_payment_minor=int(offer.get("down_payment_minor") or 0), **common))
    # Pay in full on the statement's due date: one repayment, no interest, no fee; the
    # schedule is due on the offer's due date, not a month after the purchase.
    terms = disclosure.OfferTerms(annual_rate=Decimal(0), method=Method.BULLET, **common)
    schedule = build_schedule(with_terms(
        terms.schedule_terms(), first_due_date=dt.date.fromisoformat(
            str(offer["first_due_date"]))))
    costs = schedule.totals.interest_minor + schedule.totals.fee_minor
    return disclosure.KeyFacts(
        terms=terms, schedule=schedule,
        apr=all_in_annual_cost(schedule) if costs else Decimal(0),
        effective_annual_rate=apr_of_schedule(schedule, AprMethod.EU) if costs else Decimal(0),
        total_interest_minor=schedule.totals.interest_minor,
        total_fees_minor=schedule.totals.fee_minor,
        total_repayable_minor=schedule.totals.total_minor,
        withdrawal_deadline=withdrawal_deadline(quoted_on, terms.withdrawal_days))
