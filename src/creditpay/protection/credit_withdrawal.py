"""The consumer withdraws from a credit agreement: consumer protection's rule applied to
credit's account.

:func:`withdraw` is the use case (the API's withdraw route runs it): it hands the right-of-
withdrawal rule (:mod:`creditpay.protection.withdrawal`: the window, and principal plus
interest for the days used, nothing else) to credit's
:func:`creditpay.credit.withdrawals.withdraw`, which posts the ledger, closes the account,
restores the line and writes the record, the audit record and the outbox event.
"""

from __future__ import annotations

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit import withdrawals as credit_withdrawals
from creditpay.credit.withdrawals import WithdrawalResult, account_currency
from creditpay.db.uow import Tx
from creditpay.parties.service import wallet_spec
from creditpay.protection import withdrawal as rule
from creditpay.protection.withdrawal import WITHDRAWAL_DAYS_DEFAULT

__all__ = ["withdraw", "withdraw_from_wallet"]


def withdraw(tx: Tx, *, account_id: str, customer_id: str, withdrawal_id: str,
             source_account_id: int, catalogue: P.Catalogue,
             withdrawal_days: int = WITHDRAWAL_DAYS_DEFAULT) -> WithdrawalResult:
    """Withdraw ``customer_id`` from the plan or cash loan ``account_id`` today, paying
    from ledger account ``source_account_id``, within ``withdrawal_days`` days of its
    origination (refusals and idempotency: :func:`creditpay.credit.withdrawals.withdraw`)."""
    return credit_withdrawals.withdraw(
        tx, account_id=account_id, customer_id=customer_id, withdrawal_id=withdrawal_id,
        source_account_id=source_account_id, withdrawal_days=withdrawal_days, rule=rule,
        catalogue=catalogue)


def withdraw_from_wallet(tx: Tx, *, account_id: str, customer_id: str, withdrawal_id: str,
                         catalogue: P.Catalogue) -> WithdrawalResult:
    """:func:`withdraw`, paid from the customer's wallet in the account's currency (another
    customer's account is NotFoundError on ``account_id``, as if it did not exist)."""
    currency = account_currency(tx.conn, account_id, customer_id)
    wallet = L.open_account(tx, wallet_spec(customer_id, currency))
    return withdraw(tx, account_id=account_id, customer_id=customer_id,
                    withdrawal_id=withdrawal_id, source_account_id=int(wallet.id),
                    catalogue=catalogue)
