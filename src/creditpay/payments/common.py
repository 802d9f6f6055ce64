"""What the payments use cases share: the policy, the collaborators (:class:`PaymentsContext`
with its ledger-account helpers and the screening record), the funding and scenario names,
the amount check and the decline error. Each use case lives in its own module
(``wallet``, ``intents``, ``checkout``, ``qr``, ``settlement``); ``service.Payments`` is the
facade composing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from creditpay.credit.origination import Origination
from creditpay.db.uow import Tx
from creditpay.errors import DomainError, ValidationError
from creditpay.fx.config import FxConfig
from creditpay.fx.rates import RateSource
from creditpay.ledger.service import get_account_by_key, open_accounts
from creditpay.money import AMOUNT_MINOR_MAX, validate_operated_currency
from creditpay.parties.service import Parties, merchant_payable_spec, wallet_spec
from creditpay.payments.credit_port import CreditPort
from creditpay.payments.rail import CardRail
from creditpay.payments.risk import AllowAllRiskGateway, Decision, RiskGateway
from creditpay.platform import audit

__all__ = ["PaymentsPolicy", "PaymentsContext", "PaymentDeclinedError", "FUNDING_SOURCES",
           "SCENARIOS", "CREDIT_FUNDING", "LINE_ITEMS_MAX", "check_amount"]

FUNDING_SOURCES = ("balance", "card", "credit_line", "installment_plan")
CREDIT_FUNDING = ("credit_line", "installment_plan")
SCENARIOS = ("online", "offline_qr", "social", "rental")
LINE_ITEMS_MAX = 100


class PaymentDeclinedError(DomainError):
    type_slug = "payment-declined"
    status = 402
    title = "Payment declined"


@dataclass(frozen=True)
class PaymentsPolicy:
    """Limits and windows, in business time and minor units."""

    capture_window_s: int = 7 * 24 * 3600
    intent_ttl_s: int = 24 * 3600
    qr_ttl_s: int = 300
    payment_code_ttl_s: int = 60
    offer_ttl_s: int = 900
    step_up_amount_minor: int = 500_000  # 5 000.00 CNY and above needs a one-time code
    amount_minor_max: int = 10_000_000_000
    # Named as the lender on key-facts documents (the platform's licensed lending entity).
    lender_name: str = "creditpay"
    # The currencies the platform operates in (its ledger accounts, products and caps);
    # any other valid ISO code is refused as bad input naming the field.
    currencies: tuple[str, ...] = ("CNY",)
    # The consumers' currency: an intent in another (a foreign merchant's, issue #21) is
    # paid in this one at a locked FX quote.
    home_currency: str = "CNY"


def check_amount(value: object, field_name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
        raise ValidationError(f"must be an integer of minor units from 1 to {maximum}",
                              field=field_name)
    return value


@dataclass
class PaymentsContext:
    """The collaborators and configuration every payments use case reads. One object is
    shared by the use cases of a :class:`creditpay.payments.service.Payments`, so a change
    to it (a test's policy) is seen by all of them."""

    parties: Parties
    rail: CardRail
    # Credit at checkout: ``CreditFacade(catalogue)``, or ``NoCredit`` (no default: a
    # facade needs the catalogue it prices with).
    credit: CreditPort
    # Credit's origination use cases (the affordability check at confirm, the spending
    # nudge's policy, opening a line) on the process's catalogue, policies and income source.
    origination: Origination
    risk: RiskGateway = field(default_factory=AllowAllRiskGateway)
    policy: PaymentsPolicy = field(default_factory=PaymentsPolicy)
    # Called in the confirming transaction when screening holds a payment for review
    # (keywords: intent_id, customer_id, merchant_id, amount_minor, currency, device_id,
    # score, reasons; a held P2P transfer adds subject_type="wallet_operation", its
    # operation id as intent_id and the payee as merchant_id); the runtime wires the risk
    # domain's fraud case queue here.
    on_review: Callable[..., Any] | None = None
    # Paying abroad (issue #21): the FX markups, lock and limits in force, and where the
    # day's rates come from (called when a quote needs them: production refuses the
    # simulated source only then). None: creditpay.fx's defaults.
    fx_config: FxConfig | None = None
    fx_rate_source: Callable[[], RateSource] | None = None

    # ================================================================== ledger helpers
    def account_id(self, conn: Connection, key: str) -> int:
        return get_account_by_key(conn, key).id

    def opened_id(self, tx: Tx, spec: Any) -> int:
        """The id of the account of ``spec``, opened idempotently: one read when it exists
        (wallets and merchant payables are opened at registration)."""
        return open_accounts(tx, [spec])[0].id

    def wallet_id(self, tx: Tx, customer_id: str, currency: str) -> int:
        return self.opened_id(tx, wallet_spec(customer_id, currency))

    def payable_id(self, tx: Tx, merchant_id: str, currency: str) -> int:
        return self.opened_id(tx, merchant_payable_spec(merchant_id, currency))

    def operated_currency(self, currency: object, field_name: str = "currency") -> str:
        """``currency`` if the platform operates in it, else ValidationError naming it."""
        return validate_operated_currency(currency, self.policy.currencies, field_name)

    def record_screening(self, tx: Tx, subject_type: str, subject_id: str,
                         decision: Decision) -> dict[str, Any] | None:
        """Keep a fraud screening's record in the audit trail (committed with the decision,
        including a challenge or a decline); returns it for the intent's risk_reasons."""
        if not decision.details:
            return None
        record = {**decision.details, "outcome": str(decision.outcome),
                  "version": decision.version}
        audit.append(tx, "system", "risk", "payment.screened", subject_type, subject_id,
                     record)
        return record


assert AMOUNT_MINOR_MAX > PaymentsPolicy().amount_minor_max
