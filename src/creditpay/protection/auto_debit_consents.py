"""The auto-debit consent check the close of business runs before it debits wallets.

Credit defines the port (:class:`creditpay.credit.cob.AutoDebitConsents`) and may not import
this package; the callers of the close of business (nightly, the CLI, the simulator, the
benchmark, tests) pass :class:`ReferencedAutoDebitConsents` in.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from creditpay.protection.consent import Purpose
from creditpay.protection.consent_refs import referenced_consents_in_force

__all__ = ["ReferencedAutoDebitConsents"]


class ReferencedAutoDebitConsents:
    """Checks each account's stored auto-debit consent reference against the customer's
    consent history (:func:`~creditpay.protection.consent_refs.referenced_consents_in_force`:
    one read of the histories for the whole batch)."""

    def refusals(self, conn: Connection, wanted: Sequence[tuple[str, str | None]]
                 ) -> list[str | None]:
        """For each ``(customer_id, consent reference)``: None when the reference names an
        auto-debit grant still in force, else the refusal rule (``consent.revoked``, ...)."""
        return referenced_consents_in_force(conn, Purpose.AUTO_DEBIT, wanted)
