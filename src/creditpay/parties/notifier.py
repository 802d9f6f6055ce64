"""Delivery of one-time codes to customers, behind a small interface.

The default writes a ``notifications.code`` event to the transactional outbox, in the same
transaction as the challenge it belongs to; an SMS / e-mail / push relay tails the outbox,
looks up the destination by customer id (decrypting it through the vault) and sends it. The
event holds the customer id, never the phone number or address.
"""

from __future__ import annotations

from typing import Protocol

from creditpay.db.uow import Tx

__all__ = ["Notifier", "OutboxNotifier", "TOPIC_CODE"]

TOPIC_CODE = "notifications.code"


class Notifier(Protocol):
    def send_code(self, tx: Tx, *, customer_id: str, challenge_id: str, purpose: str,
                  code: str) -> None:
        """Send ``code`` to the customer's verified channel (inside ``tx``)."""


class OutboxNotifier:
    """Default notifier: the code goes to the outbox for the notification relay."""

    def send_code(self, tx: Tx, *, customer_id: str, challenge_id: str, purpose: str,
                  code: str) -> None:
        tx.emit(TOPIC_CODE, "customer", customer_id,
                {"challenge_id": challenge_id, "purpose": purpose, "code": code,
                 "channel": "sms_or_email", "template": f"step_up.{purpose}"})
