"""The population and behaviour core: pure, seeded, within the platform's rules."""

from __future__ import annotations

import datetime as dt
import random

from creditpay.sim import behaviour as B
from creditpay.sim.population import MERCHANT_CATEGORIES, build_population

TODAY = dt.date(2025, 1, 1)


def test_same_seed_same_people_and_ids_are_valid_and_unique():
    first = build_population(3000, 20, seed=5, today=TODAY)
    assert first == build_population(3000, 20, seed=5, today=TODAY)
    assert first != build_population(3000, 20, seed=6, today=TODAY)
    ids = {c.resident_id for c in first.consumers}
    phones = {c.phone for c in first.consumers}
    assert len(ids) == len(phones) == 3000
    for c in first.consumers:
        assert (TODAY - c.date_of_birth).days >= 18 * 365.25
        assert c.resident_id[6:14] == c.date_of_birth.strftime("%Y%m%d")
        assert 0.0 <= c.creditworthiness <= 1.0 and c.monthly_income_minor > 0
    assert {m.category.name for m in first.merchants} == {c.name for c in MERCHANT_CATEGORIES}
    never_pay = [c for c in first.consumers if c.creditworthiness == 0.0]
    assert 0 < len(never_pay) < 300


def test_credit_is_only_ever_an_offer_the_consumer_picked():
    people = build_population(200, 7, seed=1, today=TODAY)
    rng = random.Random(0)
    offers = [{"offer_id": "o-line", "funding": "credit_line", "periods": 1,
               "total_repayable_minor": 90_000},
              {"offer_id": "o-6a", "funding": "installment_plan", "periods": 6,
               "total_repayable_minor": 92_700},
              {"offer_id": "o-6b", "funding": "installment_plan", "periods": 6,
               "total_repayable_minor": 90_000}]
    for c in people.consumers:
        choice = B.choose_funding(c, 90_000, 0, offers, rng)
        assert choice.offer_id in {"o-line", "o-6b"}  # never the dearer 6-month offer
        assert B.choose_funding(c, 90_000, 100_000, [], rng) == B.Choice("balance")
        assert B.choose_funding(c, 90_000, 10, [], rng) == B.Choice("card")
        amount = B.purchase_amount(c, people.merchants[c.index % 7], rng)
        assert B.AMOUNT_MINOR_MIN <= amount <= B.AMOUNT_MINOR_MAX
        if c.creditworthiness == 0.0:
            assert not B.repayment_today(c, 10_000, True, rng)
