"""Fraud screening interface called by every payment confirmation, inside its transaction.

The risk domain plugs a real implementation in (rules, models, velocity features) through
:class:`RiskGateway`; the default approves everything and says so in its reasons.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from creditpay.db.uow import Tx

__all__ = ["Outcome", "Decision", "PaymentEvent", "RiskGateway", "AllowAllRiskGateway"]


class Outcome(enum.StrEnum):
    APPROVE = "approve"
    CHALLENGE = "challenge"  # ask the customer for a one-time code, then proceed
    REVIEW = "review"  # hold for an analyst; no money moves until approved
    DECLINE = "decline"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reasons: tuple[str, ...] = ()
    version: str = "unknown"  # which ruleset/model decided (recorded on the intent)
    # The screening record to keep (decision, score, rules hit, versions, features summary);
    # stored on the intent and in the audit trail when present.
    details: Mapping[str, object] | None = None


@dataclass(frozen=True)
class PaymentEvent:
    """What the screening sees; ids and amounts only (no personal data)."""

    intent_id: str
    customer_id: str
    merchant_id: str
    merchant_mcc: str
    amount_minor: int
    currency: str
    funding: str
    scenario: str
    device_id: str | None
    occurred_at: object = None
    extra: dict[str, object] = field(default_factory=dict)


class RiskGateway(Protocol):
    def screen_payment(self, tx: Tx, event: PaymentEvent) -> Decision:
        """Decide on one payment inside the confirming transaction."""


class AllowAllRiskGateway:
    """Default: approve everything (until the risk engine is plugged in)."""

    def screen_payment(self, tx: Tx, event: PaymentEvent) -> Decision:
        return Decision(Outcome.APPROVE, ("default_allow_all",), "allow-all/1")
