"""Switching auto-debit: the consumer's use case, with the consent it needs.

Credit keeps the switch itself (:func:`creditpay.credit.service.set_auto_debit`: the account
row, the outbox event); whether a consent allows it is this layer's rule, so credit never
reads consent records. Switching on needs the customer's live auto-debit consent, checked
in the same transaction as the switch (a revocation committed before is always honoured);
the close of business checks it again before every debit. Switching off needs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from creditpay import ledger as L
from creditpay.credit.lines import check_id
from creditpay.credit.plans import load_account
from creditpay.credit.service import (
    CONSENT_REFERENCE_CHARS_MAX,
    AccountView,
    set_auto_debit,
)
from creditpay.credit.withdrawals import account_currency
from creditpay.db.uow import Tx
from creditpay.parties.service import wallet_spec
from creditpay.platform import audit
from creditpay.protection.consent import Purpose, require_consent
from creditpay.protection.consent_refs import reference_of, require_referenced_consent

__all__ = ["SwitchAutoDebit", "AutoDebitSwitched", "switch_auto_debit",
           "set_auto_debit_with_consent"]


@dataclass(frozen=True)
class SwitchAutoDebit:
    """The customer ``customer_id`` switches auto-debit from their wallet on the due day of
    their credit account ``account_id`` on (``enabled``) or off."""

    customer_id: str
    account_id: str
    enabled: bool


@dataclass(frozen=True)
class AutoDebitSwitched:
    """The switch as made: the consent it relies on (``consent:<id>``; None when off)."""

    account_id: str
    enabled: bool
    consent_reference: str | None


def set_auto_debit_with_consent(tx: Tx, *, account_id: str, enabled: bool,
                                wallet_account_id: int | None,
                                consent_reference: str | None) -> AccountView:
    """Switch auto-debit on ``account_id``; switching on needs ``consent_reference`` to
    name a live auto-debit consent of the account's customer (ConsentRequiredError naming
    ``consent_reference`` otherwise, nothing written). Credit validates the rest."""
    # A missing or malformed reference is credit's ValidationError (raised before any
    # write); a well-formed one must name a live consent before anything is switched.
    if enabled is True and isinstance(consent_reference, str) and \
            1 <= len(consent_reference) <= CONSENT_REFERENCE_CHARS_MAX:
        check_id(account_id, "account_id")
        account = load_account(tx.conn, account_id, lock=True)
        require_referenced_consent(tx.conn, customer_id=account["customer_id"],
                                   purpose=Purpose.AUTO_DEBIT, reference=consent_reference,
                                   field="consent_reference")
    return set_auto_debit(tx, account_id=account_id, enabled=enabled,
                          wallet_account_id=wallet_account_id,
                          consent_reference=consent_reference)


def switch_auto_debit(tx: Tx, command: SwitchAutoDebit) -> AutoDebitSwitched:
    """The consumer's switch, in the caller's transaction: on the caller's own account only
    (another customer's is NotFoundError on ``account_id``, as if it did not exist); on
    needs their live auto-debit consent (ConsentRequiredError naming ``purpose``) and
    debits their wallet in the account's currency; audited ``credit.auto_debit_changed``."""
    currency = account_currency(tx.conn, command.account_id, command.customer_id)
    reference = wallet = None
    if command.enabled:
        reference = reference_of(require_consent(tx.conn, command.customer_id,
                                                 Purpose.AUTO_DEBIT))
        wallet = int(L.open_account(tx, wallet_spec(command.customer_id, currency)).id)
    set_auto_debit_with_consent(tx, account_id=command.account_id, enabled=command.enabled,
                                wallet_account_id=wallet, consent_reference=reference)
    audit.append(tx, "customer", command.customer_id, "credit.auto_debit_changed",
                 "credit_account", command.account_id,
                 {"enabled": command.enabled, "consent_reference": reference})
    return AutoDebitSwitched(command.account_id, command.enabled, reference)
