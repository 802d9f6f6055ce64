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

# Computed for template key-facts/3 (key-facts/2 + a viewport meta and a narrow-screen rule);
# the catalogs' move was pinned byte for byte on key-facts/2 before it.
PINNED_SHA256 = {
    ("annuity-monthly", "zh-CN"):
        "81e93187113af2e4f43ec880516337d822f6dcc91216f8d8cb5465837b97b24a",
    ("annuity-monthly", "en"):
        "37817a9bffc9eed37874584b1036a6af34e96bd611c6b02e8b3a986f8f47d2e1",
    ("equal-principal-weekly", "zh-CN"):
        "425cbda9b29f3fbc6f757d2da0b645e1df880ce9fa97d53c0c5fd323b1744ecd",
    ("equal-principal-weekly", "en"):
        "483a8b5c78f08567937cb19cef56517d05882b62c1e5b080f6a6551325eb6e6a",
    ("flat-biweekly-down-payment", "zh-CN"):
        "a6d240e77f88eb0f417cc63ee5c6273b9329a848a7e83e6433fa66bebdfa76b4",
    ("flat-biweekly-down-payment", "en"):
        "0f6285714f68f4d1aa441bb9923fc9dbc60699aa20d67a8fef1a05e439e6a8f6",
    ("interest-only-quarterly", "zh-CN"):
        "b9d1e510a705ca34efb99d046c30b40bf05b12895f8bc9fd42add6e361e9e502",
    ("interest-only-quarterly", "en"):
        "9cea7a05c2de8d2ab98181120930757468c7faa20f7c470b1cdfb86da12e1930",
    ("bullet-annual-jpy", "zh-CN"):
        "808c030a90444427b9550f1a858d24008ab766818c55d7663d841d048e33b0c5",
    ("bullet-annual-jpy", "en"):
        "d5de560e2f45ace261e8c3430ebd3d1bdb47dc355cc125eb7fa644517676f75f",
    ("annuity-semimonthly", "zh-CN"):
        "49698d4e25eab070ebc26755f23c65384b5e4d1388810c6bbe4cdbccc45c8bc3",
    ("annuity-semimonthly", "en"):
        "094b9ee44b9c513d83cf3a20a6ada80f58f0adf56d413ecab4628db6d35e01e3",
    ("annuity-daily", "zh-CN"):
        "a52d91a5b155b555a308dea1aa0423670dfd5be2e7ceef028140e36af1ce290f",
    ("annuity-daily", "en"):
        "24d8d008d3735f633fee342f1208604420c6718010b8630334b9b15e69bf45a5",
}


@pytest.mark.parametrize(("offer", "language"), sorted(PINNED_SHA256))
def test_the_document_is_byte_identical_to_its_pinned_version(offer: str,
                                                               language: str) -> None:
    facts = disclosure.build_key_facts(REFERENCE_OFFERS[offer])
    html = disclosure.render_html(facts, language)
    assert hashlib.sha256(html).hexdigest() == PINNED_SHA256[(offer, language)]


def test_every_reference_offer_is_pinned_in_both_languages() -> None:
    assert set(PINNED_SHA256) == {(offer, language) for offer in REFERENCE_OFFERS
                                  for language in ("zh-CN", "en")}
