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


# ----------------------------------------------------------------------------- find_offer
def _old_find_offer(conn, *, customer_id, offer_id, reference=None, quote_id=None):
    """find_offer as it was before the store picked the offer out: every quote row of the
    customer read whole, newest first, its offers searched in Python."""
    from sqlalchemy import select

    from creditpay.credit.tables import credit_quotes

    q = credit_quotes.c
    query = select(q.quote_id, q.customer_id, q.currency, q.amount_minor, q.reference,
                   q.expires_at, q.offers).where(q.customer_id == customer_id)
    if quote_id is not None:
        query = query.where(q.quote_id == quote_id)
    if reference is not None:
        query = query.where(q.reference == reference)
    for row in conn.execute(query.order_by(q.created_at.desc(), q.quote_id.desc())):
        for offer in row.offers:
            if offer.get("offer_id") == offer_id:
                expires = row.expires_at if row.expires_at.tzinfo is not None \
                    else row.expires_at.replace(tzinfo=dt.UTC)
                return StoredOffer(row.quote_id, row.customer_id, row.currency,
                                   int(row.amount_minor), row.reference, expires, offer)
    return None


def _offer(offer_id, n):
    return {"offer_id": offer_id, "funding": "plan", "periods": n, "financed_minor": 10 ** 12 + n,
            "apr": "0.123456789012345678901234567890", "label_zh_cn": "分期 ✓ \"引号\"",
            "schedule": [{"number": i, "due_date": f"2025-0{i}-28", "amount_minor": 100 * i}
                         for i in range(1, n + 1)],
            "nested": {"b": [1, None, True, False], "a": {"z": "", "y": -7}},
            "key_facts_sha256_by_language": {"zh-CN": ZH, "en": EN}}


def test_find_offer_returns_what_the_old_read_did(uow, clock):
    """The store picks the one offer out of the quote's JSON: the same stored offer (every
    figure, nested values and key order included) as reading every offer and searching in
    Python, for each way the checkout asks (by reference, by quote id, neither), on both
    stores; None where the old read found nothing."""
    from creditpay.credit.quotes import find_offer, record_quote

    def record(customer, reference, offers):
        return uow.run(lambda tx: record_quote(
            tx, customer_id=customer, currency="CNY", amount_minor=12_000,
            reference=reference, offers=offers))[0]

    first = record("cus_1", "pi_1", [_offer("off_a", 3), _offer("off_b", 6)])
    # The same offer id quoted again for the same intent, a second later, and at the same
    # instant (the quote id breaks the tie), and for another intent and another customer.
    clock.advance(seconds=1)
    again = record("cus_1", "pi_1", [_offer("off_b", 12), _offer("off_a", 4),
                                     _offer("off_a", 5)])
    same_instant = record("cus_1", "pi_1", [_offer("off_a", 9)])
    other_ref = record("cus_1", "pi_2", [_offer("off_a", 2), _offer("off_c", 1)])
    record("cus_2", "pi_1", [_offer("off_a", 7)])
    asked = []
    for customer in ("cus_1", "cus_2", "cus_3"):
        for offer_id in ("off_a", "off_b", "off_c", "off_x", ""):
            for reference in (None, "pi_1", "pi_2", "pi_9"):
                for quote_id in (None, first, again, same_instant, other_ref, "quo_none"):
                    asked.append(dict(customer_id=customer, offer_id=offer_id,
                                      reference=reference, quote_id=quote_id))
    found = 0
    with uow.engine.connect() as conn:
        for args in asked:
            new, old = find_offer(conn, **args), _old_find_offer(conn, **args)
            assert new == old, args
            if new is not None:
                found += 1
                assert list(new.offer) == list(old.offer), args  # key order kept
    assert found > 20
