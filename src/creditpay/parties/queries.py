"""Public reads of the parties domain for other domains (payments' webhook relay).

Other domains never import :mod:`creditpay.parties.tables`; what they need of a party is
read here, in one statement per call however many parties are asked for.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, select

from creditpay.parties.tables import merchants
from creditpay.platform.vault import Vault

__all__ = ["MerchantWebhook", "merchant_webhooks", "webhook_secret", "WEBHOOK_SECRET_FIELD"]

# The vault field the merchant's webhook signing secret is encrypted under (bound to the
# merchant id), as parties.service writes it.
WEBHOOK_SECRET_FIELD = "merchants.webhook_secret"


@dataclass(frozen=True)
class MerchantWebhook:
    """A merchant's webhook endpoint now: ``url`` (None: webhooks off) and the vault
    ciphertext of its signing secret (reveal it with :func:`webhook_secret`)."""

    merchant_id: str
    url: str | None
    secret_ct: str | None


def merchant_webhooks(conn: Connection, merchant_ids: Collection[str]
                      ) -> dict[str, MerchantWebhook]:
    """The webhook endpoints of ``merchant_ids`` by merchant id; unknown ids are absent."""
    ids = sorted({m for m in merchant_ids if isinstance(m, str)})
    if not ids:
        return {}
    m = merchants.c
    rows = conn.execute(select(m.id, m.webhook_url, m.webhook_secret_ct)
                        .where(m.id.in_(ids))).all()
    return {row.id: MerchantWebhook(row.id, row.webhook_url, row.webhook_secret_ct)
            for row in rows}


def webhook_secret(vault: Vault, merchant_id: str, secret_ct: str | None) -> str:
    """The merchant's signing secret in clear. Raises the vault's error when it cannot be
    decrypted (no secret stored, a ciphertext of another merchant, a retired key)."""
    if secret_ct is None:
        raise ValueError(f"merchant {merchant_id} has no webhook secret")
    return vault.decrypt(WEBHOOK_SECRET_FIELD, merchant_id, secret_ct)
