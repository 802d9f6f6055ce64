"""Credit origination use cases: opening a customer's pay-later line (with its audit record)
and the new-credit affordability check (its rules are :mod:`creditpay.credit.affordability`).

Both functions take what they need explicitly: the product catalogue, where the customer's
identity status is read, the affordability policy per currency, the declared-income source.
:class:`Origination` binds them to one process's configuration (the bootstrap builds it):
its ``open_credit_line`` is the ``risk.decisions.applications.LineOpener`` the API routes
and the simulator pass, its ``check_affordability`` the
``protection.cash_loans.AffordabilityCheck``; checkout (``payments.checkout``) uses the
same one. Amounts in minor units.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection

from creditpay.credit import affordability as affordability_rules
from creditpay.credit.lines import open_credit_line
from creditpay.credit.products import Catalogue, CreditLineProduct
from creditpay.credit.service import BorrowerLine, BorrowerPosition, borrower_position
from creditpay.db.uow import Tx
from creditpay.errors import DomainError, LimitExceededError, StateError, ValidationError
from creditpay.i18n import N_
from creditpay.parties.service import Principal, commit_and_raise
from creditpay.platform import audit

__all__ = ["CustomerRegister", "DeclaredIncome", "LIMIT_MINOR_MAX", "CreditNotOfferedError",
           "Origination", "borrower_snapshot", "check_affordability", "check_line_grant",
           "income_unknown_outcome", "open_line_for_customer"]

# The largest line limit granted (minor units): the payments policy's amount cap.
LIMIT_MINOR_MAX = 10_000_000_000

# (conn, customer_id, currency) -> (verified monthly income, monthly debt payments to every
# lender), minor units, or None when unknown.
DeclaredIncome = Callable[[Connection, str, str], "tuple[int, int] | None"]


class CustomerRegister(Protocol):
    """Where a customer's record (its ``kyc_status``) is read
    (:class:`creditpay.parties.service.Parties`)."""

    def get_customer(self, conn: Connection, customer_id: str) -> Any: ...


def borrower_snapshot(position: BorrowerPosition, income: tuple[int, int] | None
                      ) -> affordability_rules.BorrowerSnapshot:
    """The affordability rules' view of a borrower: credit's position plus the declared
    monthly income and debts (``None``: unknown, taken as 0 / 0)."""
    monthly_income, monthly_debts = income or (0, 0)
    return affordability_rules.BorrowerSnapshot(
        currency=position.currency, monthly_income_minor=monthly_income,
        monthly_debt_payments_minor=monthly_debts, exposure_minor=position.exposure_minor,
        open_plans=position.open_plans, credit_limit_minor=position.credit_limit_minor,
        used_minor=position.used_minor)


def income_unknown_outcome() -> affordability_rules.RuleOutcome:
    """The debt-to-income rule recorded as skipped (advisory, passed) for a borrower with no
    income on file, with its zh-CN / en message."""
    return affordability_rules.outcome(
        "debt_to_income", True, True, {"skipped": "income_unknown"},
        N_("No income on file: the debt-to-income ratio was not computed."))


def check_affordability(tx: Tx, *, customer_id: str, currency: str, reference: str,
                        principal_minor: int, monthly_payment_minor: int,
                        is_installment_plan: bool,
                        policies: Mapping[str, affordability_rules.AffordabilityPolicy],
                        declared_income: DeclaredIncome | None,
                        line: BorrowerLine | None = None) -> int:
    """Run the new-credit affordability rules for new credit of ``principal_minor``
    repaid at ``monthly_payment_minor`` a month, record the check (its id is returned),
    and refuse with LimitExceededError naming the failing rule; the refusal commits the
    record (and nothing else). Checkout and cash loans both go through it.

    ``policies`` holds the rules per currency (credit in a currency without one is refused,
    naming ``currency``); ``declared_income`` gives the borrower's income and other debts
    (unknown income skips the debt-to-income rule only); ``line``, the borrower's line as
    :func:`creditpay.credit.service.borrower_line` read it in this transaction (a checkout
    reads it once for this check and its authorisation)."""
    policy = policies.get(currency)
    if policy is None:
        raise ValidationError(f"credit in {currency} is not offered", field="currency")
    position = borrower_position(tx.conn, customer_id, currency, line=line)
    income = declared_income(tx.conn, customer_id, currency) \
        if declared_income is not None else None
    result = affordability_rules.assess_new_credit(
        borrower_snapshot(position, income), principal_minor,
        monthly_payment_minor, is_installment_plan=is_installment_plan, policy=policy)
    if income is None or income[0] <= 0:
        # Income unknown (none declared / verified): the debt-to-income rule cannot be
        # computed, so it is skipped, and recorded as skipped; the exposure cap and the
        # concurrent-plans rule still apply. Refusing all credit for want of an income
        # figure the platform never asked for would refuse every checkout.
        skipped = income_unknown_outcome()
        rules = tuple(skipped if r.rule == "debt_to_income" else r for r in result.rules
                      if r.rule != "income_verified")
        result = affordability_rules.AffordabilityResult(result.kind, rules,
                                                         result.policy_version)
    check_id = affordability_rules.record_check(tx, customer_id=customer_id,
                                                reference=reference, result=result)
    try:
        result.refuse()
    except LimitExceededError as exc:
        exc.extra["affordability_check_id"] = check_id
        raise commit_and_raise(exc, store=True) from None
    return check_id


def check_line_grant(conn: Any, customer_id: str, *, limit_minor: int, product_code: str,
                     currency: str, catalogue: Catalogue, customers: CustomerRegister,
                     limit_max_minor: int = LIMIT_MINOR_MAX) -> None:
    """Refuse, changing nothing, a line grant :func:`open_line_for_customer` would refuse
    for the customer, the limit or the product: StateError on ``customer_id`` (identity not
    verified), ValidationError on ``limit_minor``, ``product_code`` or ``currency``. (A
    four-eyes proposal of a grant is checked with it before anyone is asked to approve.)"""
    customer = customers.get_customer(conn, customer_id)
    if customer.kyc_status != "verified":
        raise StateError("the customer's identity is not verified", field="customer_id")
    if isinstance(limit_minor, bool) or not isinstance(limit_minor, int) or \
            not 0 < limit_minor <= limit_max_minor:
        raise ValidationError(f"must be an integer of minor units from 1 to {limit_max_minor}",
                              field="limit_minor")
    product = catalogue.get(product_code)
    if not isinstance(product, CreditLineProduct):
        raise ValidationError(f"{product_code} is not a credit line product",
                              field="product_code")
    if product.currency != currency:
        raise ValidationError(f"{product_code} is a {product.currency} product",
                              field="currency")


def open_line_for_customer(tx: Tx, granted_by: Principal, customer_id: str, *,
                           limit_minor: int, product_code: str, currency: str = "CNY",
                           catalogue: Catalogue, customers: CustomerRegister,
                           limit_max_minor: int = LIMIT_MINOR_MAX) -> dict[str, Any]:
    """Grant a pay-later line of ``limit_minor`` (1 to ``limit_max_minor``) on product
    ``product_code`` of ``catalogue`` to a verified customer, and audit
    ``credit_line.granted`` by staff ``granted_by``. Refusals write nothing: StateError on
    ``customer_id`` (identity not verified), ValidationError on ``limit_minor``, and
    :func:`creditpay.credit.lines.open_credit_line`'s own (product, one line per customer)."""
    check_line_grant(tx.conn, customer_id, limit_minor=limit_minor, product_code=product_code,
                     currency=currency, catalogue=catalogue, customers=customers,
                     limit_max_minor=limit_max_minor)
    view = open_credit_line(
        tx, line_id=f"line_{customer_id}_{currency}", customer_id=customer_id,
        currency=currency, limit_minor=limit_minor, product_code=product_code,
        catalogue=catalogue)
    audit.append(tx, "staff", granted_by.id, "credit_line.granted", "customer", customer_id,
                 {"limit_minor": limit_minor, "product_code": product_code})
    return {"line_id": view.line_id, "customer_id": customer_id, "currency": currency,
            "product_code": view.product_code, "limit_minor": view.limit_minor,
            "available_minor": view.available_minor, "status": view.status}


class CreditNotOfferedError(DomainError):
    """The platform offers no credit (503 ``credit-unavailable``; the payments port's
    ``NoCredit`` raises it too, as ``CreditUnavailableError``): refused before anything is
    written."""

    type_slug = "credit-unavailable"
    status = 503
    title = "Credit is not available"


@dataclass(frozen=True)
class Origination:
    """The origination use cases on one process's configuration: ``catalogue`` (None: the
    platform offers no credit), where customers are read, the affordability rules per
    currency, the declared-income source (the risk domain's latest decision, wired by the
    bootstrap) and the largest limit granted (minor units)."""

    catalogue: Catalogue | None
    customers: CustomerRegister
    # Affordability rules at origination, per currency; credit in a currency without a
    # policy is refused (the caps are amounts in that currency's minor units).
    affordability_policies: Mapping[str, affordability_rules.AffordabilityPolicy] = field(
        default_factory=lambda: {"CNY": affordability_rules.DEFAULT_POLICY})
    # Unknown income (None, or no source) skips the debt-to-income rule only.
    declared_income: DeclaredIncome | None = None
    limit_max_minor: int = LIMIT_MINOR_MAX

    def open_credit_line(self, tx: Tx, granted_by: Principal, customer_id: str, *,
                         limit_minor: int, product_code: str, currency: str = "CNY"
                         ) -> dict[str, Any]:
        """:func:`open_line_for_customer` on this configuration (a ``LineOpener``);
        CreditNotOfferedError when the platform offers no credit."""
        if self.catalogue is None:
            raise CreditNotOfferedError(
                "credit is not offered on this platform; pay with balance or card")
        return open_line_for_customer(
            tx, granted_by, customer_id, limit_minor=limit_minor, product_code=product_code,
            currency=currency, catalogue=self.catalogue, customers=self.customers,
            limit_max_minor=self.limit_max_minor)

    def check_credit_line(self, conn: Any, customer_id: str, *, limit_minor: int,
                          product_code: str, currency: str = "CNY") -> None:
        """:func:`check_line_grant` on this configuration (nothing is written)."""
        if self.catalogue is None:
            raise CreditNotOfferedError(
                "credit is not offered on this platform; pay with balance or card")
        check_line_grant(conn, customer_id, limit_minor=limit_minor,
                         product_code=product_code, currency=currency,
                         catalogue=self.catalogue, customers=self.customers,
                         limit_max_minor=self.limit_max_minor)

    def check_affordability(self, tx: Tx, *, customer_id: str, currency: str, reference: str,
                            principal_minor: int, monthly_payment_minor: int,
                            is_installment_plan: bool, line: BorrowerLine | None = None) -> int:
        """:func:`check_affordability` with this configuration's policies and income source
        (an ``AffordabilityCheck``); returns the recorded check's id."""
        return check_affordability(
            tx, customer_id=customer_id, currency=currency, reference=reference,
            principal_minor=principal_minor, monthly_payment_minor=monthly_payment_minor,
            is_installment_plan=is_installment_plan, policies=self.affordability_policies,
            declared_income=self.declared_income, line=line)
