"""Public reads of the parties domain for other domains (payments' webhook relay, the
data-subject export of :mod:`creditpay.reporting.subject_rights`).

Other domains never import :mod:`creditpay.parties.tables`; what they need of a party is
read here, in one statement per call however many parties or rows are asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, select

from creditpay.parties.tables import customer_cards, customer_devices, customers, merchants
from creditpay.platform.vault import Vault

__all__ = ["MerchantWebhook", "merchant_webhooks", "webhook_secret", "WEBHOOK_SECRET_FIELD",
           "PERSONAL_DATA_FIELDS", "ERASED_PASSWORD", "CustomerRecord", "customer_record",
           "personal_data", "DeviceRow", "list_customer_devices", "CardRow",
           "list_customer_cards"]

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


# ------------------------------------------------------------- a customer's own records
# The personal data a customer row holds, each encrypted by the vault under the field
# "customers.<name>" bound to the customer id (as parties.service writes them).
PERSONAL_DATA_FIELDS = ("phone", "email", "legal_name", "id_number", "date_of_birth")
# The password hash of an erased customer (parties.erasure): not a PHC string, so no
# password ever verifies against it.
ERASED_PASSWORD = "!erased"  # nosec B105


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC; an aware value is returned as stored.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _aware_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _aware(value)


@dataclass(frozen=True)
class CustomerRecord:
    """A customer row without secrets: ``personal_data_ct`` maps each of
    :data:`PERSONAL_DATA_FIELDS` to its vault ciphertext (None: not held); read the clear
    values with :func:`personal_data`. ``erased``: the data-subject erasure ran. Times aware
    UTC."""

    customer_id: str
    status: str
    erased: bool
    kyc_status: str
    kyc_verified_at: dt.datetime | None
    locale: str
    created_at: dt.datetime
    personal_data_ct: dict[str, str | None]


def customer_record(conn: Connection, customer_id: str) -> CustomerRecord | None:
    """The customer ``customer_id``, None when there is none (one statement)."""
    c = customers.c
    row = conn.execute(select(
        c.id, c.status, c.password_hash, c.kyc_status, c.kyc_verified_at, c.locale,
        c.created_at, *(c[f"{name}_ct"] for name in PERSONAL_DATA_FIELDS))
        .where(c.id == customer_id)).first()
    if row is None:
        return None
    return CustomerRecord(
        row.id, row.status, row.password_hash == ERASED_PASSWORD, row.kyc_status,
        _aware_or_none(row.kyc_verified_at), row.locale, _aware(row.created_at),
        {name: getattr(row, f"{name}_ct") for name in PERSONAL_DATA_FIELDS})


def personal_data(vault: Vault, record: CustomerRecord) -> dict[str, str | None]:
    """The customer's personal data in clear, by field of :data:`PERSONAL_DATA_FIELDS`
    (None where none is held). Raises the vault's error when a ciphertext cannot be
    decrypted."""
    return {name: vault.decrypt(f"customers.{name}", record.customer_id, ciphertext)
            if ciphertext else None
            for name, ciphertext in record.personal_data_ct.items()}


@dataclass(frozen=True)
class DeviceRow:
    """A device the customer signed in from (no device hash); times aware UTC."""

    id: str
    label: str | None
    trusted_at: dt.datetime | None
    last_seen_at: dt.datetime
    created_at: dt.datetime


def list_customer_devices(conn: Connection, customer_id: str, *, limit: int
                          ) -> list[DeviceRow]:
    """The customer's devices, oldest first (creation time, then id), at most ``limit``
    (one statement)."""
    d = customer_devices.c
    return [DeviceRow(r.id, r.label, _aware_or_none(r.trusted_at), _aware(r.last_seen_at),
                      _aware(r.created_at))
            for r in conn.execute(select(d.id, d.label, d.trusted_at, d.last_seen_at,
                                         d.created_at).where(d.customer_id == customer_id)
                                  .order_by(d.created_at, d.id).limit(limit))]


@dataclass(frozen=True)
class CardRow:
    """A card the customer linked (no rail token): brand, last four digits, expiry; times
    aware UTC."""

    id: str
    brand: str
    last4: str
    expiry_month: int
    expiry_year: int
    status: str
    created_at: dt.datetime


def list_customer_cards(conn: Connection, customer_id: str, *, limit: int) -> list[CardRow]:
    """The customer's cards, oldest first (creation time, then id), at most ``limit`` (one
    statement)."""
    k = customer_cards.c
    return [CardRow(r.id, r.brand, r.last4, r.expiry_month, r.expiry_year, r.status,
                    _aware(r.created_at))
            for r in conn.execute(select(k.id, k.brand, k.last4, k.expiry_month,
                                         k.expiry_year, k.status, k.created_at)
                                  .where(k.customer_id == customer_id)
                                  .order_by(k.created_at, k.id).limit(limit))]
