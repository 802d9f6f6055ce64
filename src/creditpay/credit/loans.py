"""Cash loans (借呗-style): disbursed to the wallet, interest accrued daily on the actual
outstanding principal (so a prepayment costs only the days used), billed on due dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit.caps import check_all_in_cost, check_exposure
from creditpay.credit.funding import Funding, fund_loan
from creditpay.credit.lines import (
    check_id,
    customer_line,
    get_line,
    new_account_row,
    platform_and_receivable_accounts,
    post,
    transfer,
)
from creditpay.credit.plans import (
    insert_account,
    insert_schedule,
    interest_base_for,
    load_account,
)
from creditpay.credit.schedule import Method, Schedule, build_schedule
from creditpay.db.uow import Tx
from creditpay.errors import (
    IdempotencyConflictError,
    InsufficientFundsError,
    LimitExceededError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.money import validate_currency
from creditpay.platform.validators import check_minor

__all__ = ["disburse_cash_loan", "loan_schedule"]


def _active_line(tx: Tx, customer_id: str, currency: str) -> dict[str, Any]:
    """The customer's line in ``currency``, locked, which must be active."""
    try:
        line = get_line(tx.conn, customer_line(tx.conn, customer_id, currency)["line_id"],
                        lock=True)
    except NotFoundError:
        raise StateError(f"a cash loan draws on a {currency} credit line: the customer has "
                         "none", field="customer_id", rule="cash_loan.no_credit_line") from None
    if line["status"] != "active":
        raise StateError(f"the credit line is {line['status']}", field="customer_id",
                         rule="cash_loan.line_not_active")
    return line


def loan_schedule(product: P.CashLoanProduct, periods: int, method: Method | str,
                  principal_minor: int, start_date: dt.date, currency: str) -> Schedule:
    """Pure: the schedule of a cash loan of the product, disbursed on ``start_date``. Offers
    and the disbursement both build it here, so the loan booked is the loan quoted."""
    return build_schedule(P.loan_terms(product, periods, method, principal_minor, start_date,
                                       currency))


def disburse_cash_loan(tx: Tx, *, loan_id: str, customer_id: str, currency: str,
                       principal_minor: int, product_code: str, periods: int,
                       method: str, wallet_account_id: int, catalogue: P.Catalogue,
                       funding: Funding | None = None) -> Any:
    """Originate a cash loan and pay ``principal_minor`` into the wallet (ledger account
    ``wallet_account_id``). Idempotent on ``loan_id``. Returns the AccountView.

    A cash loan draws on the customer's credit line: its principal takes the line's
    available credit in the ledger (``credit.loan_limit_use``, in the same linked batch as
    the disbursement) and repaid principal gives it back, as a purchase does. So a loan and
    purchases together never exceed the granted limit, in any order and under concurrency:
    the ledger's balance flag on the line's available account refuses the one that would
    (LimitExceededError naming ``principal_minor``). Without an active line there is no
    granted limit to draw on (StateError naming ``customer_id``)."""
    from creditpay.credit.service import exposure_minor, get_account_view

    check_id(loan_id, "loan_id")
    check_id(customer_id, "customer_id")
    validate_currency(currency)
    check_minor(principal_minor, "principal_minor", minimum=1)
    if isinstance(wallet_account_id, bool) or not isinstance(wallet_account_id, int) or \
            wallet_account_id <= 0:
        raise ValidationError("must be the wallet's ledger account id",
                              field="wallet_account_id")
    try:
        existing = load_account(tx.conn, loan_id)
    except NotFoundError:
        existing = None
    if existing is not None:
        same = (existing["kind"] == "loan" and existing["customer_id"] == customer_id
                and existing["currency"] == currency
                and existing["principal_original_minor"] == principal_minor
                and existing["product_code"] == product_code
                and existing["method"] == str(method))
        if not same:
            raise IdempotencyConflictError(f"loan {loan_id} exists with other content",
                                           field="loan_id")
        return get_account_view(tx.conn, loan_id)
    product = catalogue.get(product_code)
    if not isinstance(product, P.CashLoanProduct):
        raise ValidationError(f"{product_code} is not a cash loan product",
                              field="product_code")
    if product.currency != currency:
        raise ValidationError(f"{product_code} is a {product.currency} product",
                              field="currency")
    if not product.amount_min_minor <= principal_minor <= product.amount_max_minor:
        raise ValidationError(f"must be from {product.amount_min_minor} to"
                              f" {product.amount_max_minor}", field="principal_minor")
    if isinstance(periods, bool) or not isinstance(periods, int):
        raise ValidationError("must be an integer", field="periods")
    schedule = loan_schedule(product, periods, method, principal_minor, tx.today, currency)
    terms = schedule.terms
    caps = catalogue.caps(product.jurisdiction)
    check_all_in_cost(schedule, caps, what="this loan")
    check_exposure(exposure_minor(tx.conn, customer_id, currency), principal_minor, caps,
                   currency)
    wallet = L.get_account(tx.conn, wallet_account_id)
    if wallet.currency != currency:
        raise ValidationError(f"is a {wallet.currency} account", field="wallet_account_id")
    line = _active_line(tx, customer_id, currency)
    # Partner funding: funders chosen (and each partner's own decision taken) before the
    # money moves; a product that falls back to decline refuses the loan here.
    arrangement = catalogue.arrangement(product.code, product.version)
    routed = funding.route(tx, reference=loan_id, customer_id=customer_id, product=product,
                           principal_minor=principal_minor, caps=caps,
                           arrangement=arrangement) \
        if funding is not None and arrangement is not None else None
    platform, receivables = platform_and_receivable_accounts(
        tx, customer_id, currency, ("credit_limit_control",))
    try:
        post(tx, [
            transfer(f"credit:loan:{loan_id}:limit", "credit.loan_limit_use",
                     line["available_account_id"], platform["credit_limit_control"],
                     principal_minor, loan_id),
            transfer(f"credit:loan:{loan_id}:disburse", "credit.loan_disbursement",
                     receivables["principal"], wallet_account_id, principal_minor, loan_id)])
    except InsufficientFundsError:
        available = L.get_account(tx.conn, line["available_account_id"]).available_minor
        raise LimitExceededError(
            f"exceeds the credit available on your line ({available} minor units: its limit "
            f"less purchases, plans and loans not yet repaid)", field="principal_minor",
            available_minor=available) from None
    method_value = Method(terms.method)
    account = insert_account(tx, new_account_row(
        account_id=loan_id, kind="loan", customer_id=customer_id, currency=currency,
        line_id=None, product=product, opened_on=tx.today, now=tx.now,
        principal_minor=principal_minor, receivables=receivables,
        # Repaid (or withdrawn) principal flows back to the line it was drawn from.
        line_available_account_id=line["available_account_id"], method=str(method_value),
        interest_rate=product.annual_rate,
        interest_base=interest_base_for(method_value, True),
        schedule_level_minor=schedule.level_payment_minor or
        schedule.installments[0].principal_minor, anchor_day=tx.today.day,
        principal_unbilled_minor=principal_minor,
        next_due_date=schedule.installments[0].due_date))
    insert_schedule(tx, account, schedule)
    if routed is not None:
        fund_loan(tx, routed, account_id=loan_id, customer_id=customer_id, product=product,
                  principal_minor=principal_minor, reference=loan_id)
    tx.emit("credit.loan.disbursed", "credit_account", loan_id, {
        "customer_id": customer_id, "principal_minor": principal_minor,
        "product_code": product.code, "product_version": product.version,
        "periods": periods, "method": str(method_value)})
    return get_account_view(tx.conn, loan_id)
