"""Stored quotes: which key-facts hash authorisation accepts (pure: ``check_usable`` on a
stored offer; the checkout's own tests drive the same rule through the API)."""

from __future__ import annotations

import datetime as dt

import pytest

from creditpay.credit.quotes import StoredOffer, check_usable
from creditpay.errors import StateError, ValidationError
from tests.catalogues import CATALOGUE

NOW = dt.datetime(2025, 3, 2, 10, tzinfo=dt.UTC)
ZH, EN, OTHER = "a" * 64, "b" * 64, "c" * 64


def _stored(by_language: dict[str, str] | None, expires_in_s: int = 600) -> StoredOffer:
    product = CATALOGUE.get("huabei")
    offer = {"offer_id": "off_1", "product_code": product.code,
             "product_version": product.version, "key_facts_sha256": ZH}
    if by_language is not None:
        offer["key_facts_sha256_by_language"] = by_language
    return StoredOffer("quo_1", "cus_1", "CNY", 12_000, "pi_1",
                       NOW + dt.timedelta(seconds=expires_in_s), offer)


def test_the_hash_of_a_recorded_language_must_be_that_languages():
    stored = _stored({"zh-CN": ZH})
    assert check_usable(stored, NOW, catalogue=CATALOGUE, key_facts_sha256=ZH,
                        key_facts_language="zh-CN") is stored
    with pytest.raises(ValidationError) as err:
        check_usable(stored, NOW, catalogue=CATALOGUE, key_facts_sha256=OTHER,
                     key_facts_language="zh-CN")
    assert err.value.field == "key_facts_sha256"


def test_a_language_the_quote_did_not_render_is_left_to_the_caller():
    """The consumer read the offer in English: the quote rendered only zh-CN, so there is
    no English hash to compare (the checkout rendered the English document from the stored
    figures and matched it)."""
    stored = _stored({"zh-CN": ZH})
    assert check_usable(stored, NOW, catalogue=CATALOGUE, key_facts_sha256=EN,
                        key_facts_language="en") is stored


def test_without_a_language_the_hash_must_be_one_recorded():
    stored = _stored({"zh-CN": ZH, "en": EN})
    for sha in (ZH, EN, EN.upper()):
        assert check_usable(stored, NOW, catalogue=CATALOGUE, key_facts_sha256=sha)
    with pytest.raises(ValidationError):
        check_usable(stored, NOW, catalogue=CATALOGUE, key_facts_sha256=OTHER)
    with pytest.raises(ValidationError):  # a quote from before hashes were kept by language
        check_usable(_stored(None), NOW, catalogue=CATALOGUE, key_facts_sha256=EN,
                     key_facts_language="en")


def test_an_expired_or_unknown_offer_is_refused_naming_offer_id():
    for stored in (None, _stored({"zh-CN": ZH}, expires_in_s=0)):
        with pytest.raises(StateError) as err:
            check_usable(stored, NOW, catalogue=CATALOGUE, key_facts_sha256=ZH)
        assert err.value.field == "offer_id"
