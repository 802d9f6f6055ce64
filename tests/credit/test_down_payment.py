"""Down payments on installment plans, in the credit domain: products validate them, offers
split the price exactly and price only the financed part, captures split partial amounts
exactly and record the down payment as the plan's installment 1, paid."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from creditpay.credit import products as P
from creditpay.credit import service as S
from creditpay.credit.apr import AprMethod, apr_of_schedule
from creditpay.credit.caps import activate_product
from creditpay.credit.offers import capture_split, down_payment_split
from creditpay.credit.schedule import build_schedule
from creditpay.errors import CapExceededError, ValidationError
from creditpay.formatting import percent_string
from creditpay.ledger.verify import verify_ledger
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, account, buy, items, new_customer, reconcile

D = dt.date
PLAN = {"code": "test_plan", "version": 1, "kind": "installment_plan", "pricing": "flat",
        "options": [{"periods": 3, "fee_rate_per_period": "0.005"}],
        "penalty_annual_rate": "0.1095"}


def test_pay_in_4_is_in_the_catalogue():
    product = CATALOGUE.get("payin4")
    assert isinstance(product, P.InstallmentPlanProduct)
    assert (product.frequency, product.down_payment_rate, product.fee_payer) == \
        ("biweekly", Decimal("0.25"), "merchant")
    [option] = product.options
    assert option.periods == 3  # + the down payment: 4 payments
    activate_product(product, CATALOGUE.caps("CN"))
    free = CATALOGUE.get("baitiao_free")
    assert [(o.periods, free.down_payment_rate_of(o)) for o in free.options] == \
        [(3, 0), (6, 0), (6, Decimal("0.2"))]
    assert free.option(6, "0.2") is free.options[2] and free.option(6) is free.options[1]
    with pytest.raises(ValidationError) as err:
        free.option(6, "0.3")
    assert err.value.field == "periods"


@pytest.mark.parametrize("change, field", [
    ({"down_payment_rate": "1"}, "down_payment_rate"),
    ({"down_payment_rate": 0.25}, "down_payment_rate"),  # a YAML float is refused
    ({"options": [{"periods": 3, "down_payment_rate": "1.5"}]},
     "options[0].down_payment_rate"),
    ({"options": [{"periods": 3}, {"periods": 3, "down_payment_rate": "0"}]}, "options"),
    ({"frequency": "daily"}, "frequency"),
    ({"pricing": "apr", "annual_rate": "0.12", "options": [{"periods": 3}],
      "frequency": "biweekly"}, "frequency"),
])
def test_bad_down_payment_products_name_the_field(change, field):
    with pytest.raises(ValidationError) as err:
        P.parse_product({**PLAN, **change})
    assert err.value.field == field


def test_caps_check_every_option_of_a_period_count():
    # The same period count twice: the dearer option (a customer-paid fee far above the
    # cap at a biweekly frequency) must be the one that refuses activation.
    product = P.parse_product({**PLAN, "frequency": "biweekly", "options": [
        {"periods": 3, "fee_rate_per_period": "0"},
        {"periods": 3, "fee_rate_per_period": "0.02", "down_payment_rate": "0.25"}]})
    with pytest.raises(CapExceededError) as err:
        activate_product(product, CATALOGUE.caps("CN"))
    assert err.value.extra["cap"] == "all_in_annual_cost_max"


prices = st.integers(min_value=1, max_value=10_000_000_000)
down_rates = st.integers(min_value=0, max_value=999_999).map(lambda m: Decimal(m) / 1_000_000)


@settings(max_examples=300, deadline=None)
@given(price=prices, rate=down_rates, captured=st.integers(min_value=0, max_value=10**6))
def test_down_payment_and_capture_splits_add_up(price, rate, captured):
    down, financed = down_payment_split(price, rate)
    assert down + financed == price and down >= 0 and financed >= 0
    assert abs(Decimal(down) - price * rate) <= Decimal("0.5")  # the nearest share
    if financed == 0:
        return  # never offered: a plan's amount_min_minor (at least 1) bounds the financed
    captured = min(captured, price)
    part_down, part_financed = capture_split(down, price, captured)
    assert part_down + part_financed == captured
    assert 0 <= part_down <= down and 0 <= part_financed <= financed
    assert capture_split(down, price, price) == (down, financed)


@settings(max_examples=150, deadline=None)
@given(price=st.integers(min_value=4_000, max_value=50_000_000), rate=down_rates,
       periods=st.sampled_from(P.PLAN_PERIODS),
       fee_micro=st.integers(min_value=0, max_value=20_000),
       frequency=st.sampled_from(["monthly", "biweekly", "weekly"]),
       annual_micro=st.integers(min_value=0, max_value=240_000),
       start=st.dates(min_value=D(2024, 1, 1), max_value=D(2030, 12, 31)))
def test_installments_add_up_to_the_financed_principal_and_costs(
        price, rate, periods, fee_micro, frequency, annual_micro, start):
    flat = annual_micro % 2 == 0
    product = P.parse_product({
        **PLAN, "pricing": "flat" if flat else "apr", "down_payment_rate": str(rate),
        "frequency": frequency if flat else "monthly",
        "annual_rate": "0" if flat else str(Decimal(annual_micro) / 1_000_000),
        "options": [{"periods": periods,
                     "fee_rate_per_period": str(Decimal(fee_micro) / 1_000_000) if flat
                     else "0"}]})
    down, financed = down_payment_split(price, product.down_payment_rate)
    assert down + financed == price
    # A rate a hair below 1 can leave nothing to finance on a small price: such a plan is
    # never offered (the plan's amount_min_minor, at least 1, bounds the financed part).
    assume(financed >= 1)
    schedule = build_schedule(P.plan_terms(product, periods, financed, start))
    rows = schedule.installments
    assert len(rows) == periods
    assert sum(r.principal_minor for r in rows) == financed
    assert sum(r.total_minor for r in rows) == \
        financed + schedule.totals.fee_minor + schedule.totals.interest_minor
    assert all(r.due_date > start for r in rows)  # the down payment alone is due at once


def test_offers_state_the_split_and_price_the_financed_part_only(uow, clock):
    new_customer(uow)
    with uow.begin() as tx:
        offers = S.quote_offers(tx, customer_id="c1", amount_minor=100_001, currency=CNY,
                                catalogue=CATALOGUE)
    apr = next(o for o in offers if o.product_code == "apr_plan" and o.periods == 12)
    assert (apr.down_payment_minor, apr.financed_minor) == (10_000, 90_001)
    assert (apr.installment_count, apr.down_payment_due_date) == (13, "2025-03-01")
    assert apr.schedule[0].kind == "down_payment" and apr.schedule[0].total_minor == 10_000
    credit_rows = apr.schedule[1:]
    assert [r.number for r in credit_rows] == list(range(2, 14))
    assert sum(r.principal_minor for r in credit_rows) == 90_001
    assert apr.total_repayable_minor == sum(r.total_minor for r in credit_rows)
    assert apr.total_payable_minor == 10_000 + apr.total_repayable_minor
    assert apr.per_period_amount_minor == credit_rows[0].total_minor
    # The APR is of the financed flows: the down payment at time 0 is not credit.
    product = CATALOGUE.get("apr_plan")
    financed = build_schedule(P.plan_terms(product, 12, 90_001, D(2025, 3, 1)))
    assert apr.apr_percent == percent_string(apr_of_schedule(financed, AprMethod.US))
    assert Decimal(apr.apr_percent) == pytest.approx(Decimal("15.0"), abs=Decimal("0.3"))
    payin4 = next(o for o in offers if o.product_code == "payin4")
    assert (payin4.down_payment_minor, payin4.financed_minor, payin4.installment_count) == \
        (25_000, 75_001, 4)
    assert [r.due_date for r in payin4.schedule] == \
        ["2025-03-01", "2025-03-15", "2025-03-29", "2025-04-12"]
    line = next(o for o in offers if o.funding == "line")
    assert (line.down_payment_minor, line.installment_count, line.total_payable_minor) == \
        (0, 1, 100_001)


def test_capture_records_the_down_payment_as_installment_1(uow, clock):
    who = new_customer(uow)
    offer, purchase = buy(uow, who, "p1", 80_000, funding="plan", product_code="payin4",
                          periods=3)
    assert (purchase.amount_minor, purchase.financed_minor) == (80_000, 60_000)
    rows = items(uow, purchase.account_id)
    assert [(r["number"], r["status"], r["principal_minor"], r["principal_paid_minor"])
            for r in rows] == [(1, "paid", 20_000, 20_000), (2, "scheduled", 20_000, 0),
                               (3, "scheduled", 20_000, 0), (4, "scheduled", 20_000, 0)]
    assert [r["due_date"] for r in rows] == [D(2025, 3, 1), D(2025, 3, 15), D(2025, 3, 29),
                                             D(2025, 4, 12)]
    plan = account(uow, purchase.account_id)
    assert plan["principal_original_minor"] == plan["principal_unbilled_minor"] == 60_000
    assert plan["next_due_date"] == D(2025, 3, 15)
    assert plan["subsidy_fee_minor"] == offer.merchant_fee_minor == 3 * 600
    for component, (state, ledger) in reconcile(uow, who.customer_id).items():
        assert state == ledger, component
    with uow.connect() as conn:
        assert verify_ledger(conn).ok
    # A credit refund of the whole financed part closes the plan; the paid down payment
    # row stays as it was (the payments side returns the down payment to the wallet).
    with uow.begin() as tx:
        result = S.refund_purchase(tx, refund_id="rf1", purchase_id="p1",
                                   amount_minor=60_000, catalogue=CATALOGUE)
    assert (result.principal_reduced_minor, result.to_customer_minor) == (60_000, 0)
    assert result.merchant_fee_reversed_minor == 1_800
    assert account(uow, purchase.account_id)["status"] == "closed"
    assert items(uow, purchase.account_id)[0]["status"] == "paid"


def test_partial_capture_split_in_the_credit_domain(uow, clock):
    who = new_customer(uow)
    with uow.begin() as tx:
        offer = next(o for o in S.quote_offers(tx, customer_id="c1", amount_minor=40_000,
                                                currency=CNY,
                                                catalogue=CATALOGUE) if o.product_code == "payin4")
        S.authorise_purchase(tx, authorisation_id="a1", customer_id="c1",
                             amount_minor=40_000, currency=CNY, offer_id=offer.offer_id,
                             catalogue=CATALOGUE)
        with pytest.raises(ValidationError) as err:
            S.capture_purchase(tx, authorisation_id="a1", capture_id="p1",
                               amount_minor=40_001, merchant_payable_account_id=who.merchant_id,
                               catalogue=CATALOGUE)
        assert err.value.field == "amount_minor"
        purchase = S.capture_purchase(tx, authorisation_id="a1", capture_id="p1",
                                      amount_minor=30_001,
                                      merchant_payable_account_id=who.merchant_id,
                                      catalogue=CATALOGUE)
    assert purchase.financed_minor == 22_501  # 7,500 down: the parts add up to 30,001
    assert items(uow, purchase.account_id)[0]["principal_minor"] == 7_500
    assert sum(r["principal_minor"] for r in items(uow, purchase.account_id)[1:]) == 22_501
