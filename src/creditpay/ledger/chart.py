"""The platform's chart of accounts: the ledger accounts every domain posts against.

Account keys are namespaced by owner so any domain can find an account by key:

* platform accounts, one per currency, opened by :func:`ensure_platform_accounts`;
* per-party accounts, opened by the domain that owns the party's product (payments opens
  wallets and merchant payables, credit opens line and receivable accounts, partners opens
  partner funding accounts) with :func:`party_key`.

See docs/architecture.md, "Ledger account plan", for what each account means and which
transfers move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from creditpay.ledger.model import Account, AccountSpec, NormalSide

if TYPE_CHECKING:
    from creditpay.db.uow import Tx

__all__ = ["PlatformAccount", "PLATFORM_ACCOUNTS", "platform_key", "party_key",
           "ensure_platform_accounts"]


@dataclass(frozen=True)
class PlatformAccount:
    code: str
    normal_side: NormalSide
    meaning: str


PLATFORM_ACCOUNTS: tuple[PlatformAccount, ...] = (
    PlatformAccount("bank_settlement", NormalSide.DEBIT,
                    "cash at the settlement bank (asset)"),
    PlatformAccount("card_clearing", NormalSide.DEBIT,
                    "money in flight from/to card networks (asset)"),
    PlatformAccount("credit_limit_control", NormalSide.DEBIT,
                    "memo contra account for granted credit limits (off balance sheet)"),
    PlatformAccount("merchant_fee_income", NormalSide.CREDIT,
                    "merchant discount revenue (income)"),
    PlatformAccount("interest_income", NormalSide.CREDIT, "interest earned (income)"),
    PlatformAccount("fee_income", NormalSide.CREDIT,
                    "installment and late fees earned (income)"),
    PlatformAccount("penalty_income", NormalSide.CREDIT, "penalty interest earned (income)"),
    PlatformAccount("subsidy_receivable", NormalSide.DEBIT,
                    "merchant-subsidised fees due from merchants (asset)"),
    PlatformAccount("write_off_expense", NormalSide.DEBIT, "credit losses written off"),
    PlatformAccount("recovery_income", NormalSide.CREDIT,
                    "recoveries on written-off debt (income)"),
    PlatformAccount("loss_provision", NormalSide.CREDIT,
                    "risk reserve: IFRS 9 loss allowance (contra asset)"),
    PlatformAccount("provision_expense", NormalSide.DEBIT, "loss provision charges"),
    PlatformAccount("partner_funding", NormalSide.CREDIT,
                    "money owed to partner lenders for their funded shares (liability)"),
    PlatformAccount("partner_income_share", NormalSide.DEBIT,
                    "interest, fees and penalties passed to partner lenders (contra income)"),
    PlatformAccount("partner_loss_share", NormalSide.CREDIT,
                    "write-offs borne by partner lenders, net of recoveries (contra expense)"),
    PlatformAccount("equity", NormalSide.CREDIT, "platform capital (equity)"),
    # Issue #21: a payment abroad credits the CNY it takes from the consumer to the CNY
    # position and debits the merchant's currency it pays out to that currency's position,
    # each leg balanced in its own currency. Credit normal: a credit balance is what the
    # platform holds in the currency (long), a debit balance what it owes (short); valued
    # at mid rates the positions add up to the markup earned (creditpay.fx reports and
    # revalues them daily).
    PlatformAccount("fx_position", NormalSide.CREDIT,
                    "the platform's foreign-exchange position in this currency: credit "
                    "balance held (long), debit balance owed (short)"),
)


def platform_key(code: str, currency: str) -> str:
    return f"platform:{code}:{currency}"


def party_key(code: str, owner_id: str, currency: str) -> str:
    """Key of a party's account, e.g. ``wallet:cus_42:CNY``."""
    return f"{code}:{owner_id}:{currency}"


def ensure_platform_accounts(tx: Tx, currency: str) -> dict[str, Account]:
    """Open (idempotently) every platform account for ``currency``; returns them by code."""
    from creditpay.ledger.service import open_accounts

    accounts = open_accounts(tx, [
        AccountSpec(platform_key(a.code, currency), currency, a.code, "platform", "platform",
                    a.normal_side) for a in PLATFORM_ACCOUNTS])
    return {a.code: a for a in accounts}
