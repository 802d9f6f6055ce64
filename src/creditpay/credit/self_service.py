"""The customer's own credit use cases that need nothing above credit: converting a bill
into installments (账单分期) and repaying from the wallet.

Each runs in the caller's transaction, on the caller's own resources only (another
customer's statement or account is NotFoundError, as if it did not exist), and the API's
routes run them (:mod:`creditpay.api.routes_consumer_credit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit.repayments import RepaymentResult, repay
from creditpay.credit.statements import (
    ConversionResult,
    StatementView,
    convert_statement_to_installments,
    get_statement,
)
from creditpay.credit.withdrawals import account_currency
from creditpay.db.uow import Tx
from creditpay.errors import InsufficientFundsError, NotFoundError, ValidationError
from creditpay.parties.service import wallet_spec
from creditpay.platform import audit

__all__ = ["own_statement", "ConvertStatement", "convert_statement", "RepayFromWallet",
           "RepaidFromWallet", "repay_from_wallet", "wallet_available_minor"]


def own_statement(conn: Any, customer_id: str, statement_id: str) -> StatementView:
    """``customer_id``'s statement; NotFoundError naming ``statement_id`` for an unknown id
    or another customer's (never 403: that would tell them it exists)."""
    try:
        statement = get_statement(conn, statement_id)
        account_currency(conn, statement.account_id, customer_id)
    except NotFoundError:
        raise NotFoundError(f"no statement {statement_id}", field="statement_id") from None
    return statement


@dataclass(frozen=True)
class ConvertStatement:
    """Convert ``amount_minor`` of ``customer_id``'s statement into ``periods``
    installments."""

    customer_id: str
    statement_id: str
    conversion_id: str
    amount_minor: int
    periods: int


def convert_statement(tx: Tx, command: ConvertStatement, *, catalogue: P.Catalogue
                      ) -> ConversionResult:
    """Convert the caller's bill (under ``catalogue``'s product and caps) and audit
    ``credit.statement_converted``."""
    own_statement(tx.conn, command.customer_id, command.statement_id)
    result = convert_statement_to_installments(
        tx, conversion_id=command.conversion_id, statement_id=command.statement_id,
        amount_minor=command.amount_minor, periods=command.periods, catalogue=catalogue)
    shown = result.as_dict()
    audit.append(tx, "customer", command.customer_id, "credit.statement_converted",
                 "credit_statement", command.statement_id,
                 {"conversion_id": shown["conversion_id"],
                  "plan_account_id": shown["plan_account_id"],
                  "amount_minor": shown["amount_minor"], "periods": shown["periods"],
                  "total_fee_minor": shown["total_fee_minor"],
                  "all_in_annual_cost_percent": shown["all_in_annual_cost"]})
    return result


def wallet_available_minor(conn: Any, customer_id: str, currency: str) -> int:
    """What ``customer_id``'s wallet in ``currency`` can pay now (minor units; 0 without a
    wallet): the ledger's available balance, holds taken off."""
    from creditpay.ledger.chart import party_key
    from creditpay.ledger.service import get_account_by_key

    try:
        return int(get_account_by_key(conn, party_key("wallet", customer_id, currency))
                   .available_minor)
    except NotFoundError:
        return 0


@dataclass(frozen=True)
class RepayFromWallet:
    """``customer_id`` repays ``amount_minor`` of ``currency`` from their wallet: what is
    due first, or the account ``account_id`` (money beyond what is due prepays it)."""

    customer_id: str
    repayment_id: str
    currency: str
    amount_minor: int
    account_id: str | None = None


@dataclass(frozen=True)
class RepaidFromWallet:
    """The repayment and what the wallet can still pay afterwards (minor units)."""

    repayment: RepaymentResult
    wallet_available_minor: int


def repay_from_wallet(tx: Tx, command: RepayFromWallet, *, catalogue: P.Catalogue
                      ) -> RepaidFromWallet:
    """Repay from the caller's wallet. Refused: an account of another customer
    (NotFoundError on ``account_id``) or in another currency (ValidationError on
    ``currency``); a wallet short of the amount (InsufficientFundsError on
    ``amount_minor``, with ``available_minor``)."""
    customer_id, currency = command.customer_id, command.currency
    if command.account_id is not None and \
            account_currency(tx.conn, command.account_id, customer_id) != currency:
        raise ValidationError(f"account {command.account_id} is not in {currency}",
                              field="currency")
    available = wallet_available_minor(tx.conn, customer_id, currency)
    if available < command.amount_minor:
        raise InsufficientFundsError(
            f"your wallet has {available} minor units available, less than the "
            f"{command.amount_minor} to repay; top up first", field="amount_minor",
            available_minor=available)
    wallet = int(L.open_account(tx, wallet_spec(customer_id, currency)).id)
    try:
        result = repay(tx, repayment_id=command.repayment_id, customer_id=customer_id,
                       currency=currency, amount_minor=command.amount_minor,
                       source_account_id=wallet, target=command.account_id,
                       channel="customer", catalogue=catalogue)
    except InsufficientFundsError:  # a hold taken meanwhile: still the wallet's balance
        raise InsufficientFundsError("your wallet cannot pay this amount now",
                                     field="amount_minor") from None
    return RepaidFromWallet(result, wallet_available_minor(tx.conn, customer_id, currency))
