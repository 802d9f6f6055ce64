"""The key-facts document of a checkout offer is made from the figures pricing just computed
(its consumer schedule and all-in annual cost), not solved again: one solve per figure per
offer, and the document (bytes, hash) is exactly the one computed from the offer's terms.
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from creditpay.credit import apr as A
from creditpay.credit import offers as price
from creditpay.payments.credit_port import LANGUAGES, CheckoutOffer, CreditFacade
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import CNY, new_customer


def _plan_offers(offers: list[CheckoutOffer]) -> list[CheckoutOffer]:
    return [o for o in offers if o.funding == "installment_plan"]


def test_a_quote_solves_each_offer_figure_once(uow, clock, monkeypatch):
    """Each plan offer costs two solves (the US / all-in cost of pricing, the EU rate of the
    document); pricing once solved the same APR twice and the document twice more."""
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    solves = []
    solve = A.apr_from_flows

    def counted(*args, **kwargs):
        solves.append(1)
        return solve(*args, **kwargs)

    monkeypatch.setattr(A, "apr_from_flows", counted)
    with uow.begin() as tx:
        _, _, offers = CreditFacade(CATALOGUE).quote_offers(
            tx, customer_id=who.customer_id, amount_minor=120_000, currency=CNY)
    plans = _plan_offers(offers)
    assert plans and any(int(o.figures["total_fee_minor"])
                         + int(o.figures["total_interest_minor"]) for o in plans)
    assert len(solves) == 2 * len(plans)


@pytest.mark.parametrize("amount_minor", [100, 33_333, 120_000, 40_001, 999_999])
def test_each_stored_hash_is_the_document_computed_from_the_offer_terms(uow, clock,
                                                                        amount_minor):
    """Every offer (line, plans, with or without down payment, customer- or merchant-paid
    fee), every language: the document made from what the quote stored (figures reused
    from pricing, the exact rates solved once) is byte for byte the document built from
    the offer's terms alone, solving every rate again; the quote stores the hash of the
    language shown (zh-CN by default), and only that one."""
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    port = CreditFacade(CATALOGUE)
    with uow.begin() as tx:
        _, _, offers = port.quote_offers(
            tx, customer_id=who.customer_id, amount_minor=amount_minor, currency=CNY,
            reference="order-1")
    assert offers
    for offer in offers:
        with uow.begin() as tx:
            found = port.stored_offer(tx.conn, customer_id=who.customer_id,
                                      reference="order-1", offer_id=offer.offer_id)
        assert found is not None
        stored, again = found
        assert again == offer  # the offer as quoted is the offer as stored
        by_language = stored.offer["key_facts_sha256_by_language"]
        assert set(by_language) == {"zh-CN"}
        for language in LANGUAGES:
            from_terms = port.key_facts(offer, language, lender_name="creditpay")
            from_stored = port.key_facts(offer, language, lender_name="creditpay",
                                         stored=stored)
            assert from_stored.html == from_terms.html
            if language == "zh-CN":
                assert by_language[language] == from_terms.sha256
        assert offer.key_facts_sha256 == by_language["zh-CN"]
        assert "exact_rates" not in offer.figures  # credit's bookkeeping, not shown
        assert "key_facts_sha256_by_language" not in offer.figures


def test_an_offers_stored_figures_are_its_fields_exactly(uow, clock):
    """The quote row stores each offer's fields as ``dataclasses.asdict`` gives them (same
    keys, order and values, the schedule as a list of rows), without the deep copy."""
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    with uow.begin() as tx:
        offers = price.quote_offers(tx, customer_id=who.customer_id, amount_minor=40_001,
                                    currency=CNY, catalogue=CATALOGUE)
    assert offers
    for offer in offers:
        expected = dataclasses.asdict(offer)
        expected["schedule"] = list(expected["schedule"])
        figures = offer.figures()
        assert figures == expected and list(figures) == list(expected)
