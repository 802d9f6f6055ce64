"""Double-entry ledger with TigerBeetle's semantics: accounts with balance flags, transfers,
linked batches, two-phase holds (pending, post, void, expiry), idempotent transfer ids."""

from creditpay.ledger.model import (
    Account,
    AccountSpec,
    Balance,
    HoldStatus,
    NormalSide,
    Transfer,
    TransferKind,
    TransferRequest,
)
from creditpay.ledger.service import (
    balance,
    create_transfer,
    create_transfers,
    create_transfers_unlinked,
    expire_holds,
    get_account,
    get_account_by_key,
    get_accounts,
    get_transfer,
    list_transfers,
    open_account,
    open_accounts,
)
from creditpay.ledger.verify import VerifyReport, verify_ledger

__all__ = [
    "Account", "AccountSpec", "Balance", "HoldStatus", "NormalSide", "Transfer",
    "TransferKind", "TransferRequest", "balance", "create_transfer", "create_transfers",
    "create_transfers_unlinked", "expire_holds", "get_account", "get_account_by_key",
    "get_accounts", "get_transfer", "list_transfers", "open_account", "open_accounts", "VerifyReport",
    "verify_ledger",
]
