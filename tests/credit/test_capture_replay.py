"""A capture id is used once: the same capture again returns the stored purchase and writes
nothing; the same id with other content is refused naming ``capture_id`` (also when it
names an authorisation that does not exist), changing nothing. On both stores."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from creditpay.credit import service as S
from creditpay.credit.tables import credit_accounts, credit_installments, credit_purchases
from creditpay.errors import IdempotencyConflictError
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import buy, new_customer


def _counts(uow):
    with uow.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (credit_purchases, credit_accounts, credit_installments))


def test_a_capture_id_is_captured_once(uow):
    who = new_customer(uow)
    _, first = buy(uow, who, "p1", 60_000, funding="plan", periods=6)
    before = _counts(uow)
    with uow.begin() as tx:
        again = S.capture_purchase(tx, authorisation_id="auth_p1", capture_id="p1",
                                   amount_minor=60_000,
                                   merchant_payable_account_id=who.merchant_id,
                                   catalogue=CATALOGUE)
    assert again == first
    assert _counts(uow) == before
    for authorisation_id, amount in (("auth_p1", 50_000), ("no_such_auth", 60_000)):
        with pytest.raises(IdempotencyConflictError) as caught, uow.begin() as tx:
            S.capture_purchase(tx, authorisation_id=authorisation_id, capture_id="p1",
                               amount_minor=amount,
                               merchant_payable_account_id=who.merchant_id,
                               catalogue=CATALOGUE)
        assert caught.value.field == "capture_id"
    assert _counts(uow) == before
