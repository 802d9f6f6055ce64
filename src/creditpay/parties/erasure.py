"""The parties domain's part of a data-subject erasure: its own rows of one customer.

:func:`creditpay.reporting.subject_rights.erase_subject` decides *whether* a person may be
erased (no open credit, no retention duty left); :func:`erase_customer` is how parties,
which owns the tables, does its part in the caller's transaction:

* ``customers``: the personal-data ciphertexts become NULL, the blind indexes (phone, e-mail,
  id number) per-customer tombstones (:func:`creditpay.platform.tombstones.tombstone`; the
  table needs one login identifier, so a phone tombstone stands in when neither was held),
  the status ``closed`` and the password hash :data:`~creditpay.parties.queries.
  ERASED_PASSWORD`, which no password verifies against; the login lock is cleared;
* ``customer_devices``: the device hash becomes a tombstone, the label and trust go;
* ``customer_cards``: the rail token becomes a tombstone, the last four digits ``****``,
  the status ``removed``;
* ``customer_sessions``: every session not yet revoked is revoked.

Freed blind indexes let the same phone or e-mail register again. A second call finds the
same tombstones and changes nothing of substance (its counts say what it visited).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update

from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError
from creditpay.parties.queries import ERASED_PASSWORD, PERSONAL_DATA_FIELDS
from creditpay.parties.tables import (
    customer_cards,
    customer_devices,
    customer_sessions,
    customers,
)
from creditpay.platform.tombstones import tombstone

__all__ = ["PartyErasure", "erase_customer"]

_INDEXED = ("phone", "email", "id_number")  # the fields with a blind index


@dataclass(frozen=True)
class PartyErasure:
    """What :func:`erase_customer` changed: the personal-data fields that were held (in
    :data:`~creditpay.parties.queries.PERSONAL_DATA_FIELDS` order) and counts of rows."""

    fields_erased: list[str]
    devices_erased: int
    cards_erased: int
    sessions_revoked: int


def erase_customer(tx: Tx, customer_id: str) -> PartyErasure:
    """Erase the parties rows of ``customer_id`` in ``tx`` (see the module docstring).

    The caller has checked that no retention duty remains; this function does not judge.
    Raises NotFoundError (``customer_id``) when there is no such customer.
    """
    c = customers.c
    row = tx.conn.execute(select(*(c[f"{name}_ct"] for name in PERSONAL_DATA_FIELDS),
                                 *(c[f"{name}_bidx"] for name in _INDEXED))
                          .where(c.id == customer_id)).first()
    if row is None:
        raise NotFoundError(f"no customer {customer_id}", field="customer_id")
    values: dict[str, Any] = {"status": "closed", "password_hash": ERASED_PASSWORD,
                              "failed_logins": 0, "locked_until": None}
    fields = []
    for name in PERSONAL_DATA_FIELDS:
        if getattr(row, f"{name}_ct") is not None:
            fields.append(name)
        values[f"{name}_ct"] = None
    for name in _INDEXED:
        if getattr(row, f"{name}_bidx") is not None:
            values[f"{name}_bidx"] = tombstone(f"customers.{name}_bidx", customer_id)
    if values.get("phone_bidx") is None and values.get("email_bidx") is None:
        # the table requires one login identifier: keep a tombstone in its place
        values["phone_bidx"] = tombstone("customers.phone_bidx", customer_id)
    tx.conn.execute(update(customers).where(c.id == customer_id).values(**values))
    d, k = customer_devices.c, customer_cards.c
    devices = tx.conn.execute(select(d.id).where(d.customer_id == customer_id)
                              ).scalars().all()
    if devices:
        # one executemany: each row gets its own tombstone
        tx.conn.execute(update(customer_devices).where(d.id == bindparam("device_id"))
                        .values(device_hash=bindparam("tombstone"), label=None,
                                trusted_at=None),
                        [{"device_id": device_id,
                          "tombstone": tombstone("device", customer_id, device_id)}
                         for device_id in devices])
    cards = tx.conn.execute(select(k.id).where(k.customer_id == customer_id)).scalars().all()
    if cards:
        tx.conn.execute(update(customer_cards).where(k.id == bindparam("card_id"))
                        .values(rail_token=bindparam("tombstone"), last4="****",
                                status="removed"),
                        [{"card_id": card_id,
                          "tombstone": tombstone("card", customer_id, card_id)}
                         for card_id in cards])
    s = customer_sessions.c
    sessions = tx.conn.execute(update(customer_sessions).where(
        s.customer_id == customer_id, s.status != "revoked").values(status="revoked")).rowcount
    return PartyErasure(fields, len(devices), len(cards), int(sessions or 0))
