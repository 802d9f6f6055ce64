"""Delivery of one-time codes and account notices to people, behind a small interface.

The default writes events to the transactional outbox, in the same transaction as the
challenge or registration they belong to; an SMS / e-mail / push relay tails the outbox and
sends them. A code and a destination are personal and secret, and the outbox is read by
whatever tails it (a relay, Kafka Connect, a backup), so neither is ever there in clear:
both are vault ciphertexts (``code_ct``, ``destination_ct``), bound to their event's
subject; the relay decrypts them with :func:`reveal` through the vault, as any reader of
personal data does. A customer's own destination is not in the event at all: the relay
looks it up by customer id.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Connection, select

from creditpay.db.tables import outbox_events
from creditpay.db.uow import Tx
from creditpay.platform.vault import Vault

__all__ = ["Notifier", "OutboxNotifier", "TOPIC_CODE", "TOPIC_REGISTRATION_CODE",
           "TOPIC_REGISTRATION_ATTEMPT", "reveal", "inbox", "INBOX_SCAN_MAX"]

# The development inbox reads at most this many of the newest notification events.
INBOX_SCAN_MAX = 2_000

TOPIC_CODE = "notifications.code"
TOPIC_REGISTRATION_CODE = "notifications.registration_code"
TOPIC_REGISTRATION_ATTEMPT = "notifications.registration_attempt"
_CODE_FIELD = "notifications.code"
_DESTINATION_FIELD = "notifications.destination"


class Notifier(Protocol):
    def send_code(self, tx: Tx, *, customer_id: str, challenge_id: str, purpose: str,
                  code: str) -> None:
        """Send ``code`` to the customer's verified channel (inside ``tx``)."""

    def send_registration_code(self, tx: Tx, *, registration_id: str, channel: str,
                               destination: str, code: str) -> None:
        """Send ``code`` to ``destination`` (a phone or e-mail being registered)."""

    def notify_registration_attempt(self, tx: Tx, *, customer_id: str, channel: str) -> None:
        """Tell a customer that someone tried to register their phone or e-mail again."""


class OutboxNotifier:
    """Default notifier: events for the notification relay, secrets encrypted."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def send_code(self, tx: Tx, *, customer_id: str, challenge_id: str, purpose: str,
                  code: str) -> None:
        tx.emit(TOPIC_CODE, "customer", customer_id,
                {"challenge_id": challenge_id, "purpose": purpose,
                 "code_ct": self.vault.encrypt(_CODE_FIELD, challenge_id, code),
                 "channel": "sms_or_email", "template": f"step_up.{purpose}"})

    def send_registration_code(self, tx: Tx, *, registration_id: str, channel: str,
                               destination: str, code: str) -> None:
        tx.emit(TOPIC_REGISTRATION_CODE, "registration", registration_id,
                {"registration_id": registration_id, "channel": channel,
                 "destination_ct": self.vault.encrypt(_DESTINATION_FIELD, registration_id,
                                                      destination),
                 "code_ct": self.vault.encrypt(_CODE_FIELD, registration_id, code),
                 "template": "registration.code"})

    def notify_registration_attempt(self, tx: Tx, *, customer_id: str, channel: str) -> None:
        tx.emit(TOPIC_REGISTRATION_ATTEMPT, "customer", customer_id,
                {"channel": channel, "template": "registration.already_registered"})


def reveal(vault: Vault, topic: str, payload: dict[str, Any]) -> dict[str, str]:
    """What the notification relay sends for an outbox event of ``topic``: the code (and,
    for a registration, the destination), decrypted. Raises ``DecryptionError`` for a
    payload moved to another event."""
    subject = payload.get("challenge_id") if topic == TOPIC_CODE else \
        payload.get("registration_id")
    if not isinstance(subject, str):
        raise ValueError(f"no code in a {topic} event")
    shown = {"code": vault.decrypt(_CODE_FIELD, subject, payload["code_ct"])}
    if "destination_ct" in payload:
        shown["destination"] = vault.decrypt(_DESTINATION_FIELD, subject,
                                             payload["destination_ct"])
    return shown


def inbox(conn: Connection, vault: Vault, *, destination: str, customer_id: str | None,
          limit: int = 20) -> list[dict[str, Any]]:
    """What the relay would have sent to ``destination`` (a normalised phone or e-mail),
    newest first: registration codes addressed to it, and the codes and notices of
    ``customer_id`` (the customer it belongs to, if any), decrypted. For the development
    inbox only (simulated phones and e-mails): a real deployment has a relay and no inbox."""
    rows = conn.execute(select(
        outbox_events.c.id, outbox_events.c.topic, outbox_events.c.aggregate_id,
        outbox_events.c.payload, outbox_events.c.occurred_at).where(
        outbox_events.c.topic.in_((TOPIC_CODE, TOPIC_REGISTRATION_CODE,
                                   TOPIC_REGISTRATION_ATTEMPT))).order_by(
        outbox_events.c.id.desc()).limit(INBOX_SCAN_MAX)).all()
    found: list[dict[str, Any]] = []
    for row in rows:
        payload = dict(row.payload)
        if row.topic == TOPIC_REGISTRATION_CODE:
            shown = reveal(vault, row.topic, payload)
            if shown["destination"] != destination:
                continue
        elif customer_id is None or row.aggregate_id != customer_id:
            continue
        else:
            shown = reveal(vault, row.topic, payload) if row.topic == TOPIC_CODE else {}
        sent_at = row.occurred_at
        found.append({
            "topic": row.topic, "template": payload.get("template"),
            "code": shown.get("code"), "challenge_id": payload.get("challenge_id"),
            "registration_id": payload.get("registration_id"),
            "purpose": payload.get("purpose"),
            "sent_at": sent_at.isoformat()})
        if len(found) >= limit:
            break
    return found
