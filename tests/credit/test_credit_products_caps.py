"""Products and caps as data: validation names the field, caps refuse activation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from creditpay.credit import products as P
from creditpay.credit.caps import activate_product, check_exposure
from creditpay.errors import CapExceededError, ValidationError
from tests.catalogues import CATALOGUE

PLAN = {"code": "test_plan", "version": 1, "kind": "installment_plan", "pricing": "flat",
        "options": [{"periods": 3, "fee_rate_per_period": "0.005"}],
        "penalty_annual_rate": "0.1095"}


def test_packaged_catalogue_loads_and_versions_are_recorded():
    catalogue = CATALOGUE
    codes = {p.code for p in catalogue.active()}
    assert {"huabei", "revolver", "baitiao", "baitiao_free", "apr_plan", "jiebei",
            "flat_loan"} <= codes
    assert catalogue.get("huabei").version == 1
    assert isinstance(catalogue.get("jiebei"), P.CashLoanProduct)


@pytest.mark.parametrize("change, field", [
    ({"options": [{"periods": 5, "fee_rate_per_period": "0.005"}]}, "options[0].periods"),
    ({"penalty_annual_rate": 0.1}, "penalty_annual_rate"),  # a YAML float is refused
    ({"penalty_annual_rate": "0.1234567"}, "penalty_annual_rate"),  # finer than 1e-6
    ({"grace_days": 99}, "grace_days"),
    ({"currency": "XXY"}, "currency"),
    ({"surprise": 1}, "surprise"),
    ({"allocation": {"mode": "sideways"}}, "allocation"),
])
def test_bad_product_names_the_field(change, field):
    with pytest.raises(ValidationError) as err:
        P.parse_product({**PLAN, **change})
    assert err.value.field == field


def test_line_needs_exactly_one_due_rule():
    line = {"code": "l", "version": 1, "kind": "credit_line", "style": "no_revolve",
            "statement_day": 1, "due_day": 10, "due_days_after_statement": 9}
    with pytest.raises(ValidationError):
        P.parse_product(line)


def test_product_breaking_the_cost_cap_cannot_be_activated():
    dear = P.parse_product({**PLAN, "options": [{"periods": 12,
                                                 "fee_rate_per_period": "0.02"}]})
    with pytest.raises(CapExceededError) as err:
        activate_product(dear, CATALOGUE.caps("CN"))
    assert err.value.extra["cap"] == "all_in_annual_cost_max"
    fine = P.parse_product(PLAN)
    activate_product(fine, CATALOGUE.caps("CN"))  # 0.5 % a month flat is about 9 % all-in


def test_penalty_cap_follows_the_configured_lpr():
    product = P.parse_product({**PLAN, "penalty_annual_rate": "0.1095"})
    caps = CATALOGUE.caps("CN")
    assert caps.penalty_rate_max == Decimal("0.120")  # 4 x 3.0 %
    activate_product(product, caps)
    with pytest.raises(CapExceededError) as err:
        activate_product(product, caps.with_lpr(Decimal("0.025")))  # 4 x 2.5 % = 10 %
    assert err.value.extra["cap"] == "penalty_rate_max"


def test_exposure_cap():
    caps = CATALOGUE.caps("CN")
    check_exposure(19_000_000, 1_000_000, caps, "CNY")
    with pytest.raises(CapExceededError) as err:
        check_exposure(19_000_000, 1_000_001, caps, "CNY")
    assert err.value.extra["cap"] == "unsecured_exposure_max_minor"


APR_PLAN = {"code": "test_apr_plan", "version": 1, "kind": "installment_plan",
            "pricing": "apr", "annual_rate": "0.12", "options": [{"periods": 3}]}
REVOLVING_LINE = {"code": "test_line", "version": 1, "kind": "credit_line",
                  "style": "revolve", "statement_day": 15, "due_day": 5,
                  "interest_annual_rate": "0.18"}


@pytest.mark.parametrize("document", [APR_PLAN, REVOLVING_LINE],
                         ids=["apr_plan", "revolving_line"])
@pytest.mark.parametrize("day_count", ["30/360", "ACT/ACT"])
def test_interest_bearing_products_refuse_day_counts_servicing_cannot_accrue(document,
                                                                              day_count):
    # Servicing accrues actual days over a fixed 365/360 year: 30/360 or ACT/ACT would post
    # interest other than the disclosed schedule's.
    with pytest.raises(ValidationError) as err:
        P.parse_product({**document, "day_count": day_count})
    assert err.value.field == "day_count"
    assert "ACT/365 or ACT/360" in err.value.detail and day_count in err.value.detail


@pytest.mark.parametrize("day_count", ["ACT/365", "ACT/360"])
def test_interest_bearing_products_accept_actual_day_counts(day_count):
    for document in (APR_PLAN, REVOLVING_LINE):
        product = P.parse_product({**document, "day_count": day_count})
        assert product.year_basis_days == (365 if day_count == "ACT/365" else 360)


@pytest.mark.parametrize("day_count", ["30/360", "ACT/ACT"])
def test_products_without_interest_keep_any_day_count(day_count):
    # Fees and a non-revolving line's zero rate do not depend on the day count.
    assert P.parse_product({**PLAN, "day_count": day_count}).day_count == day_count
    line = {**REVOLVING_LINE, "style": "no_revolve", "interest_annual_rate": "0"}
    assert P.parse_product({**line, "day_count": day_count}).day_count == day_count


def test_cash_loan_day_count_error_names_the_field():
    loan = {"code": "test_loan", "version": 1, "kind": "cash_loan", "annual_rate": "0.1",
            "methods": ["equal_installment"], "terms": [{"months": 3}],
            "day_count": "30/360"}
    with pytest.raises(ValidationError) as err:
        P.parse_product(loan)
    assert err.value.field == "day_count"
