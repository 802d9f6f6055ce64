"""Tombstones: what an erased identifier is replaced with.

A data-subject erasure (:mod:`creditpay.reporting.subject_rights`) has each domain replace
the linkable identifiers it holds (blind indexes, device hashes, card tokens, contact
references) with a value that is unique per customer and column (several of those columns
are UNIQUE) and derived from nothing personal. Every domain erases its own rows, so the
derivation lives here, below them all.
"""

from __future__ import annotations

import hashlib

__all__ = ["TOMBSTONE_PREFIX", "tombstone"]

TOMBSTONE_PREFIX = "erased:"


def tombstone(kind: str, customer_id: str, extra: str = "") -> str:
    """'erased:' + 24 hex characters of SHA-256(kind, customer_id, extra) (fits String(32)).

    ``kind`` names the column (``customers.phone_bidx``, ``device``...); ``extra`` tells
    apart several rows of one customer (a device or card id)."""
    digest = hashlib.sha256(f"{kind}\x00{customer_id}\x00{extra}".encode()).hexdigest()
    return TOMBSTONE_PREFIX + digest[:24]
