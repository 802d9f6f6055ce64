"""Consumer protection's part of a data-subject erasure: its own rows of one customer.

:func:`creditpay.reporting.subject_rights.erase_subject` decides *whether* a person may be
erased; :func:`erase_customer_contacts` is how protection, which owns
``collection_contacts``, does its part: every contact attempt keeps what happened (account,
channel, time, whether the rules allowed it) for the fair-collections record, but its
``channel_ref`` (the blind index of the number or address used) becomes the customer's
tombstone (:func:`creditpay.platform.tombstones.tombstone`), so it no longer links to a
phone or an e-mail. Consents, accepted disclosures and complaints are records of the
relationship the erasure does not change.
"""

from __future__ import annotations

from sqlalchemy import update

from creditpay.db.uow import Tx
from creditpay.platform.tombstones import tombstone
from creditpay.protection.tables import collection_contacts

__all__ = ["erase_customer_contacts"]


def erase_customer_contacts(tx: Tx, customer_id: str) -> int:
    """Replace the contact references of the customer's collection contacts in ``tx``;
    returns how many contacts there were. The caller has checked that no retention duty
    remains; this function does not judge."""
    c = collection_contacts.c
    done = tx.conn.execute(update(collection_contacts).where(c.customer_id == customer_id)
                           .values(channel_ref=tombstone("collection_contact",
                                                         customer_id))).rowcount
    return int(done or 0)
