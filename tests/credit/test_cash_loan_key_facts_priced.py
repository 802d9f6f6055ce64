"""A cash-loan offer's key facts built from what pricing computed
(``protection.cash_loans.key_facts_of(..., priced=...)``: the offer's schedule and all-in
annual cost, not solved again) are the key facts built from the stored offer alone: the
same figures digit for digit and the same document bytes, for every cash-loan product,
term and method of the packaged catalogue at random amounts and dates."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit import products as P
from creditpay.credit.cash_loan_offers import PricedLoanOffer, _choices, _priced_figures
from creditpay.protection import disclosure
from creditpay.protection.cash_loans import key_facts_of

CATALOGUE = P.load_catalogue()
CHOICES = [(product, periods, method)
           for product in CATALOGUE.active(P.ProductKind.CASH_LOAN)
           if isinstance(product, P.CashLoanProduct)
           for periods, method in _choices(product)]


@settings(max_examples=40, deadline=None)
@given(choice=st.sampled_from(CHOICES), share=st.floats(0, 1),
       day=st.dates(dt.date(2024, 1, 1), dt.date(2030, 12, 31)))
def test_key_facts_from_pricing_equal_those_from_the_stored_offer(
        choice: tuple[P.CashLoanProduct, int, str], share: float, day: dt.date) -> None:
    product, periods, method = choice
    amount = product.amount_min_minor + int(
        share * (product.amount_max_minor - product.amount_min_minor))
    figures, schedule, cost = _priced_figures(product, periods, method, amount, day,
                                              product.currency,
                                              caps=CATALOGUE.caps(product.jurisdiction))
    figures.pop("within_caps")
    offer = {"offer_id": "clo_" + "0" * 32, **figures, "expires_at": "2030-01-01T00:00:00"}
    priced = key_facts_of(offer, "creditpay", catalogue=CATALOGUE,
                          priced=PricedLoanOffer(offer, schedule, cost))
    alone = key_facts_of(offer, "creditpay", catalogue=CATALOGUE)
    assert priced == alone
    assert (str(priced.apr), str(priced.effective_annual_rate)) == \
        (str(alone.apr), str(alone.effective_annual_rate))
    for language in ("zh-CN", "en"):
        assert disclosure.render_html(priced, language) == \
            disclosure.render_html(alone, language)
