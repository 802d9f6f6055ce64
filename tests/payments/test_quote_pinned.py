"""A checkout's quote, as credit stores it and the checkout shows it, is byte for byte what
it was before the quote's CPU work (branch h14-quote, issue #14): for a few prices, both
languages shown and a payment abroad, every offer's stored figures (offer id, every amount,
the exact rates as full strings, the key-facts hashes) and the quote's offers read back from
``credit_quotes`` hash to the digests computed on main at 717bc04. SQLite and PostgreSQL.

The pure core is pinned offer by offer in tests/credit/test_quote_golden.py; this pins the
whole quote through the port (the hashes callback, what is stored, what is read back).
When a figure or the template is meant to change, re-pin in the same commit, saying why."""

from __future__ import annotations

import hashlib
import json

import pytest

from creditpay.credit.quotes import find_offer
from creditpay.payments.credit_port import CreditFacade
from creditpay.protection.disclosure import CurrencyConversion
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import CNY, new_customer

_ABROAD = CurrencyConversion(buy_amount_minor=20_000, buy_currency="JPY", mid_rate="0.0480",
                             client_rate="0.0485", markup_bps=100, markup_minor=97)
# (price, language shown, conversion): the pinned digest of each quote.
CASES = [(12_000, "zh-CN", None), (33_333, "en", None), (600_000, "zh-CN", None),
         (40_001, "en", _ABROAD)]


def _quote_digest(uow, clock, amount_minor: int, language: str,
                  conversion: CurrencyConversion | None) -> str:
    who = new_customer(uow)
    clock.set("2025-03-31T10:00:00+00:00")
    port = CreditFacade(CATALOGUE)
    with uow.begin() as tx:
        _, _, offers = port.quote_offers(
            tx, customer_id=who.customer_id, amount_minor=amount_minor, currency=CNY,
            reference="order-pin", language=language, conversion=conversion)
    shown, stored = [], []
    for offer in offers:
        shown.append({k: v for k, v in offer.figures.items() if k != "quote_id"})
        with uow.begin() as tx:
            found = find_offer(tx.conn, customer_id=who.customer_id,
                               offer_id=offer.offer_id, reference="order-pin")
        assert found is not None
        stored.append(found.offer)
    text = json.dumps([shown, stored], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("case", range(len(CASES)))
def test_a_quote_is_the_pinned_one(uow, clock, case):
    amount_minor, language, conversion = CASES[case]
    assert _quote_digest(uow, clock, amount_minor, language, conversion) == PINNED[case]


# Computed on main at 717bc04 (before the quote's CPU work), the same on both stores.
PINNED = ["dcf650d20fd17db819d70715f4bf0630821948b91e586212f13381da1f112a60",
          "fa969ef315228a06b0c3362ac79c72d02f5d4b40f6a5bde1bc5839b6437a106a",
          "114ed77a08462e8da2426989d789cd1e6a4088557a1d320fb25d6dee0ee29a42",
          "49f0599f7860c7a02736b1b290073dcf77bd31c85cab20fa4b501beae1f3433b"]
