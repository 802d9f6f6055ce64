"""Credit's origination use cases (credit.origination), called directly with what they need:
opening a customer's line with its audit record, and the new-credit affordability check.
Before issue #14 item 5 both lived in payments (``Payments.open_credit_line`` /
``check_affordability``) and could not be called without a payments service."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from creditpay.credit import affordability as A
from creditpay.credit.origination import (
    CreditNotOfferedError,
    Origination,
    check_affordability,
    open_line_for_customer,
)
from creditpay.credit.tables import affordability_checks, credit_lines
from creditpay.db.uow import UnitOfWork
from creditpay.errors import LimitExceededError, StateError, ValidationError
from creditpay.ledger.chart import ensure_platform_accounts
from creditpay.parties.service import Principal
from creditpay.platform.tables import audit_records
from tests.catalogues import CATALOGUE

ADMIN = Principal("operator", "op_admin")


class Customers:
    """A customer register with fixed KYC statuses (the Parties service's shape)."""

    def __init__(self, **kyc: str) -> None:
        self.kyc = kyc

    def get_customer(self, conn: Connection, customer_id: str) -> Any:
        return SimpleNamespace(id=customer_id, kyc_status=self.kyc[customer_id])


def _counts(uow: UnitOfWork) -> tuple[int, int, int]:
    with uow.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (credit_lines, audit_records, affordability_checks))


def _platform(uow: UnitOfWork) -> None:
    uow.run(lambda tx: ensure_platform_accounts(tx, "CNY"))


def test_a_verified_customer_gets_a_line_and_its_audit_record(uow):
    _platform(uow)
    origination = Origination(CATALOGUE, Customers(c1="verified"))
    line = uow.run(lambda tx: origination.open_credit_line(
        tx, ADMIN, "c1", limit_minor=100_000, product_code="huabei"))
    assert line == {"line_id": "line_c1_CNY", "customer_id": "c1", "currency": "CNY",
                    "product_code": "huabei", "limit_minor": 100_000,
                    "available_minor": 100_000, "status": "active"}
    with uow.engine.connect() as conn:
        granted = conn.execute(select(audit_records).where(
            audit_records.c.action == "credit_line.granted")).mappings().one()
    assert (granted["actor_type"], granted["actor_id"], granted["subject_id"]) == (
        "staff", "op_admin", "c1")


@pytest.mark.parametrize("kyc, limit, field", [
    ("pending", 100_000, "customer_id"),  # identity not verified
    ("verified", 0, "limit_minor"),
    ("verified", 1_000_001, "limit_minor"),  # above the limit cap given
    ("verified", True, "limit_minor"),
])
def test_refusals_name_the_field_and_write_nothing(uow, kyc, limit, field):
    _platform(uow)
    before = _counts(uow)
    with pytest.raises((StateError, ValidationError)) as refused:
        uow.run(lambda tx: open_line_for_customer(
            tx, ADMIN, "c1", limit_minor=limit, product_code="huabei", catalogue=CATALOGUE,
            customers=Customers(c1=kyc), limit_max_minor=1_000_000))
    assert refused.value.field == field
    assert _counts(uow) == before


def test_without_a_catalogue_no_line_is_opened(uow):
    _platform(uow)
    before = _counts(uow)
    origination = Origination(None, Customers(c1="verified"))
    with pytest.raises(CreditNotOfferedError) as refused:
        uow.run(lambda tx: origination.open_credit_line(
            tx, ADMIN, "c1", limit_minor=100_000, product_code="huabei"))
    assert (refused.value.status, refused.value.type_slug) == (503, "credit-unavailable")
    assert _counts(uow) == before


def _check(uow: UnitOfWork, **kwargs: Any) -> int:
    args: dict[str, Any] = dict(customer_id="c1", currency="CNY", reference="pi_1",
                                principal_minor=10_000, monthly_payment_minor=2_000,
                                is_installment_plan=True,
                                policies={"CNY": A.DEFAULT_POLICY}, declared_income=None)
    args.update(kwargs)
    return uow.run(lambda tx: check_affordability(tx, **args))


def test_unknown_income_skips_only_the_debt_to_income_rule_and_is_recorded(uow):
    check_id = _check(uow)
    with uow.engine.connect() as conn:
        row = conn.execute(select(affordability_checks).where(
            affordability_checks.c.id == check_id)).mappings().one()
    assert row["passed"] and row["reference"] == "pi_1"
    dti = next(o for o in row["outcomes"] if o["rule"] == "debt_to_income")
    assert dti["figures"] == {"skipped": "income_unknown"}
    assert "income_verified" not in {o["rule"] for o in row["outcomes"]}


def test_the_income_source_and_policy_are_the_ones_passed_in(uow):
    # Repayments of 2 000 against an income of 3 000: above half of it.
    with pytest.raises(LimitExceededError) as refused:
        _check(uow, declared_income=lambda conn, customer, currency: (3_000, 0))
    assert "debt_to_income" in refused.value.extra["rules"]
    # The refusal is marked for its record to commit (the API's unit of work commits it).
    assert getattr(refused.value, "commit_effects", False)
    assert isinstance(refused.value.extra["affordability_check_id"], int)
    strict = dataclasses.replace(A.DEFAULT_POLICY, exposure_max_minor=5_000)
    with pytest.raises(LimitExceededError) as refused:
        _check(uow, policies={"CNY": strict})
    assert refused.value.extra["rules"] == ["exposure_cap"]
    assert _counts(uow)[2] == 0  # a plain unit of work rolls it back
    # The same borrower passes with an income that carries the repayments.
    assert _check(uow, declared_income=lambda conn, customer, currency: (100_000, 0)) > 0


def test_credit_in_a_currency_without_a_policy_is_refused_naming_currency(uow):
    with pytest.raises(ValidationError) as refused:
        _check(uow, currency="USD")
    assert refused.value.field == "currency"
    assert _counts(uow)[2] == 0
