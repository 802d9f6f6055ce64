"""The key-facts document is byte for byte what it was before its texts moved into the
gettext catalogs (``creditpay.i18n``, domain ``creditpay``): the SHA-256 of reference
offers in both languages is pinned here, computed on the code before the move.

A consumer's acceptance records the SHA-256 of the exact document shown
(docs/compliance.md), so any change of a label, a sentence or a translation in the catalog
changes every new document: when that is intended, bump ``TEMPLATE_VERSION`` and re-pin
these digests in the same commit."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from creditpay.credit.schedule import Method
from creditpay.protection import disclosure


def _terms(offer_id: str, **changes: object) -> disclosure.OfferTerms:
    base: dict[str, object] = dict(
        offer_id=offer_id, lender_name="Example Consumer Finance Co.",
        principal_minor=600_000, currency="CNY", annual_rate=Decimal("0.12"), periods=6,
        start_date=dt.date(2025, 3, 1), fee_rate_per_period=Decimal("0.003"),
        late_fee_minor=2_000, penalty_annual_rate=Decimal("0.12"), grace_days=3)
    base.update(changes)
    return disclosure.OfferTerms(**base)  # type: ignore[arg-type]


# Every method name, every frequency unit, a down payment, a currency without decimals.
REFERENCE_OFFERS = {
    "annuity-monthly": _terms("ref-annuity"),
    "equal-principal-weekly": _terms("ref-ep", method=Method.EQUAL_PRINCIPAL,
                                     frequency="weekly", periods=8, day_count="ACT/365"),
    "flat-biweekly-down-payment": _terms("ref-flat", method=Method.FLAT,
                                         frequency="biweekly", periods=4,
                                         down_payment_minor=150_000, day_count="ACT/365"),
    "interest-only-quarterly": _terms("ref-io", method=Method.INTEREST_ONLY,
                                      frequency="quarterly", periods=4, withdrawal_days=7,
                                      late_fee_minor=0, grace_days=0),
    "bullet-annual-jpy": _terms("ref-bullet", method=Method.BULLET, frequency="annual",
                                periods=1, currency="JPY", principal_minor=90_000,
                                fee_rate_per_period=Decimal(0),
                                penalty_annual_rate=Decimal("0.18")),
    "annuity-semimonthly": _terms("ref-semi", frequency="semimonthly", periods=12),
    "annuity-daily": _terms("ref-daily", frequency="daily", periods=30, day_count="ACT/365"),
}

PINNED_SHA256 = {  # computed on main at 68d957c, before the move
    ("annuity-monthly", "zh-CN"):
        "851c97138ea526e7c26ce539148dde1beed09680e631b8cd4d1b095466ce092b",
    ("annuity-monthly", "en"):
        "28472a2dbd74353338f45ea8bbc98c7b4a4e5801c7480aaac68a6687d6267cfa",
    ("equal-principal-weekly", "zh-CN"):
        "492dd42fe5c24166ac9f9f7d1db5116e3a84f31c007e77868d41e74ba302ad8e",
    ("equal-principal-weekly", "en"):
        "030585e4a0308dcfc9486c1848abab5f432a8bc0142d37a392a7d2eea41699ab",
    ("flat-biweekly-down-payment", "zh-CN"):
        "09fd5c6756ca35eddcce3f1ff7b3b9513a63f288be34ea21a4014e3dd2ddf6b6",
    ("flat-biweekly-down-payment", "en"):
        "510c5a8affb37eb2d74a011084b9baab1a8f1ee495d743d3b1b9ebc2c037d740",
    ("interest-only-quarterly", "zh-CN"):
        "c2a16f5180d5f6e48a71421c35c8478146e138979437cf0077542626ff23141e",
    ("interest-only-quarterly", "en"):
        "cf875c5afa1d32d7b9d581146a676d37fa5941b1c32562be7b7ce46ecd7a2f70",
    ("bullet-annual-jpy", "zh-CN"):
        "82cc56a5356fe2bb0eba1c5d2e56acd9253676ff5639ea54602e43d4e6f35708",
    ("bullet-annual-jpy", "en"):
        "98d85ff58016f58308d79797680f715df78223782d91b2bd94986135a6f9281f",
    ("annuity-semimonthly", "zh-CN"):
        "2d269dbee7cfcd9f1716c389bb148eda47a384f1acd088c1a503685677f5d892",
    ("annuity-semimonthly", "en"):
        "d658f77f65618fa1b27804a131a1c0fa4fd40b3aafe6434129c15f00ce01fac5",
    ("annuity-daily", "zh-CN"):
        "1a26dd1fc476a7db582ef124ebb0a2139d454843027cab5a15c4fa6b4c8d5115",
    ("annuity-daily", "en"):
        "2b0b6190a402e2561f49ff03cd3abb8a18643cd5d01da0621dad184bf72a07c6",
}


@pytest.mark.parametrize(("offer", "language"), sorted(PINNED_SHA256))
def test_the_document_is_byte_identical_to_before_the_catalogs(offer: str,
                                                               language: str) -> None:
    facts = disclosure.build_key_facts(REFERENCE_OFFERS[offer])
    html = disclosure.render_html(facts, language)
    assert hashlib.sha256(html).hexdigest() == PINNED_SHA256[(offer, language)]


def test_every_reference_offer_is_pinned_in_both_languages() -> None:
    assert set(PINNED_SHA256) == {(offer, language) for offer in REFERENCE_OFFERS
                                  for language in ("zh-CN", "en")}
