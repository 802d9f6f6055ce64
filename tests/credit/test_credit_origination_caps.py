"""Originations refused by the all-in cost cap name the cap and change nothing (plan
purchase at authorisation and at capture, cash loan, bill conversion); the close of
business releases expired credit holds and closes their authorisations. SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from creditpay.credit import service as S
from creditpay.credit.tables import credit_authorisations
from creditpay.errors import CapExceededError, StateError
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, close_days, close_until, new_customer
from .snapshot import snapshot

D = dt.date
CAP_MAX = Decimal("0.05")  # every packaged priced product costs more than 5 % all-in


# The packaged products under the jurisdiction's caps with the all-in cost cap lowered to
# 5 %: a catalogue of its own, passed to the call that must refuse (no global is patched).
STRICT = CATALOGUE.with_caps(CATALOGUE.caps("CN").model_copy(
    update={"all_in_annual_cost_max": CAP_MAX}))


def _offer(uow, who, amount_minor: int, code: str, periods: int):
    with uow.begin() as tx:
        offers = S.quote_offers(tx, customer_id=who.customer_id, amount_minor=amount_minor,
                                currency=CNY, catalogue=CATALOGUE)
    return next(o for o in offers if o.product_code == code and o.periods == periods)


def _assert_cost_cap(err: pytest.ExceptionInfo) -> None:
    assert err.value.extra["cap"] == "all_in_annual_cost_max"


def test_plan_purchase_refused_at_authorisation_names_the_cap(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    offer = _offer(uow, who, 60_000, "baitiao", 6)
    before = snapshot(uow)
    with pytest.raises(CapExceededError) as err, uow.begin() as tx:
        S.authorise_purchase(tx, authorisation_id="a1", customer_id=who.customer_id,
                             amount_minor=60_000, currency=CNY, offer_id=offer.offer_id,
                             catalogue=STRICT)
    _assert_cost_cap(err)
    assert snapshot(uow) == before


def test_plan_purchase_refused_at_capture_names_the_cap(uow, clock):
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    offer = _offer(uow, who, 60_000, "baitiao", 6)
    with uow.begin() as tx:
        S.authorise_purchase(tx, authorisation_id="a1", customer_id=who.customer_id,
                             amount_minor=60_000, currency=CNY, offer_id=offer.offer_id,
                             catalogue=CATALOGUE)
    before = snapshot(uow)
    with pytest.raises(CapExceededError) as err, uow.begin() as tx:
        S.capture_purchase(tx, authorisation_id="a1", capture_id="p1", amount_minor=60_000,
                           merchant_payable_account_id=who.merchant_id, catalogue=STRICT)
    _assert_cost_cap(err)
    assert snapshot(uow) == before


def test_cash_loan_refused_names_the_cap(uow, clock):
    who = new_customer(uow)
    before = snapshot(uow)
    with pytest.raises(CapExceededError) as err, uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan1", customer_id=who.customer_id, currency=CNY,
                             principal_minor=100_000, product_code="jiebei", periods=3,
                             method="equal_installment", wallet_account_id=who.wallet_id,
                             catalogue=STRICT)
    _assert_cost_cap(err)
    assert snapshot(uow) == before


def test_bill_conversion_refused_names_the_cap(uow, clock):
    from .servicing_helpers import buy

    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 120_000)
    close_until(uow, clock, D(2025, 4, 3))
    before = snapshot(uow)
    with pytest.raises(CapExceededError) as err, uow.begin() as tx:
        S.convert_statement_to_installments(
            tx, conversion_id="conv1", statement_id=f"{who.line_id}:2025-04-01",
            amount_minor=90_000, periods=3, catalogue=STRICT)
    _assert_cost_cap(err)
    assert snapshot(uow) == before


def test_cob_releases_an_expired_credit_hold_and_closes_its_authorisation(uow, clock):
    who = new_customer(uow, limit_minor=100_000)
    clock.set("2025-03-02T10:00:00+00:00")
    offer = _offer(uow, who, 40_000, "huabei", 1)
    with uow.begin() as tx:
        S.authorise_purchase(tx, authorisation_id="a1", customer_id=who.customer_id,
                             amount_minor=40_000, currency=CNY, offer_id=offer.offer_id,
                             catalogue=CATALOGUE)
    with uow.connect() as conn:
        assert S.line_of(conn, who.line_id).available_minor == 60_000
        assert S.exposure_minor(conn, who.customer_id, CNY) == 40_000
    # The hold lasts 7 days (to Mar 9 10:00); COB of Mar 8 runs at Mar 9 00:30.
    reports = close_days(uow, clock, 7)
    assert sum(r.holds_expired for r in reports) == 0
    [report] = close_days(uow, clock, 1)
    assert (report.holds_expired, report.authorisations_expired) == (1, 1)
    with uow.connect() as conn:
        assert S.line_of(conn, who.line_id).available_minor == 100_000
        status = conn.execute(select(credit_authorisations.c.status).where(
            credit_authorisations.c.authorisation_id == "a1")).scalar_one()
        assert status != "authorised"
        # An expired hold no longer counts toward the customer's exposure.
        assert S.exposure_minor(conn, who.customer_id, CNY) == 0
    with pytest.raises(StateError) as err, uow.begin() as tx:
        S.capture_purchase(tx, authorisation_id="a1", capture_id="p1", amount_minor=40_000,
                           merchant_payable_account_id=who.merchant_id, catalogue=CATALOGUE)
    assert err.value.field == "authorisation_id"
    # Voiding an expired authorisation is a no-op that returns it.
    with uow.begin() as tx:
        assert S.void_authorisation(tx, authorisation_id="a1").status == "voided"
    [again] = close_days(uow, clock, 1)
    assert (again.holds_expired, again.authorisations_expired) == (0, 0)
