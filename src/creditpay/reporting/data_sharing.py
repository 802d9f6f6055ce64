"""Sharing a consumer's data with a partner lender (联合贷 risk assessment), under consent.

PIPL requires separate consent before personal information goes to another handler, naming
that handler. :func:`share_with_partner` is the only path that hands a consumer's data to a
partner lender:

1. it refuses (:class:`~creditpay.errors.ConsentRequiredError`, ``field="purpose"``, rule as
   :func:`~creditpay.protection.consent.require_consent`) unless the consumer's consent to
   share payment data with *that* partner is in force;
2. it returns only the fields asked for, from a fixed catalogue (:data:`SHAREABLE_FIELDS`);
   personal data leaves only masked as :mod:`creditpay.platform.masking` says (the partner
   matches identities on its side by the masked values plus its own application data);
3. it appends an audit record of what was shared with whom (field names, the partner, the
   consent record; never the values) in the caller's transaction.

Payment aggregates are read from the payments tables read-only, as the data-subject export
does (documented in docs/regulatory-reports.md); personal data through
:meth:`creditpay.parties.service.Parties.customer_view`, which masks it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from creditpay.db.uow import Tx
from creditpay.errors import ValidationError
from creditpay.platform import audit
from creditpay.protection.consent import Purpose, require_consent

if TYPE_CHECKING:
    from creditpay.parties.service import Parties

__all__ = ["SHAREABLE_FIELDS", "PERSONAL_FIELDS", "PAYMENT_WINDOW_DAYS", "share_with_partner"]

PAYMENT_WINDOW_DAYS = 90
# Personal data: only ever shared masked (phone 138****5678, name 张**, ID 1101****1234).
PERSONAL_FIELDS = ("phone_masked", "legal_name_masked", "id_number_masked")
# Payment behaviour: aggregates over the last PAYMENT_WINDOW_DAYS, no single transaction.
PAYMENT_FIELDS = ("kyc_verified", "payments_count_90d", "payments_amount_minor_90d",
                  "payments_currency")
SHAREABLE_FIELDS = PERSONAL_FIELDS + PAYMENT_FIELDS
FIELDS_MAX = len(SHAREABLE_FIELDS)
_VIEW_KEYS = {"phone_masked": "phone", "legal_name_masked": "legal_name",
              "id_number_masked": "id_number"}


def _check_fields(fields: Sequence[str]) -> list[str]:
    if isinstance(fields, str) or not isinstance(fields, Sequence) or not fields or \
            len(fields) > FIELDS_MAX:
        raise ValidationError(f"name 1..{FIELDS_MAX} fields from {', '.join(SHAREABLE_FIELDS)}",
                              field="fields")
    for name in fields:
        if name not in SHAREABLE_FIELDS:
            raise ValidationError(f"{name!r} cannot be shared; use one of "
                                  f"{', '.join(SHAREABLE_FIELDS)}", field="fields")
    if len(set(fields)) != len(fields):
        raise ValidationError("names a field twice", field="fields")
    return list(fields)


def _payments(tx: Tx, customer_id: str) -> dict[str, Any]:
    from creditpay.payments.reporting import captured_totals

    totals = captured_totals(tx.conn, customer_id,
                             since=tx.now - dt.timedelta(days=PAYMENT_WINDOW_DAYS),
                             before=tx.now)
    if not totals:
        return {"payments_count_90d": 0, "payments_amount_minor_90d": 0,
                "payments_currency": None}
    top = totals[0]  # one currency in practice; the busiest one if several
    return {"payments_count_90d": top.count, "payments_amount_minor_90d": top.captured_minor,
            "payments_currency": top.currency}


def share_with_partner(tx: Tx, customer_id: str, partner_id: str, fields: Sequence[str], *,
                       parties: Parties | None = None) -> dict[str, Any]:
    """The requested ``fields`` of ``customer_id`` for partner lender ``partner_id``.

    Returns ``{"customer_id", "partner_id", "consent_record_id", "fields": {name: value}}``
    with exactly the fields asked for. Personal fields need ``parties`` (to decrypt and
    mask). Refuses with ConsentRequiredError without a live consent for this partner, with
    ValidationError naming ``fields`` for a field outside :data:`SHAREABLE_FIELDS`; nothing
    is written when it refuses. Amounts in minor units of ``payments_currency``.
    """
    wanted = _check_fields(fields)
    # Validates customer_id and partner_id and names the rule when there is no consent.
    consent = require_consent(tx.conn, customer_id, Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER,
                              partner_id)
    values: dict[str, Any] = {}
    personal = [name for name in wanted if name in PERSONAL_FIELDS]
    if personal:
        if parties is None:
            raise ValidationError("personal fields need the parties service to mask them",
                                  field="fields")
        view = parties.customer_view(parties.get_customer(tx.conn, customer_id))
        values.update({name: view[_VIEW_KEYS[name]] for name in personal})
    if any(name in PAYMENT_FIELDS for name in wanted):
        if "kyc_verified" in wanted:
            if parties is None:
                raise ValidationError("kyc_verified needs the parties service",
                                      field="fields")
            values["kyc_verified"] = parties.get_customer(
                tx.conn, customer_id).kyc_status == "verified"
        values.update(_payments(tx, customer_id))
    shared = {name: values[name] for name in wanted}
    audit.append(tx, "system", "data_sharing", "data.shared_with_partner", "customer",
                 customer_id, {"partner_id": partner_id, "fields": sorted(wanted),
                               "consent_record_id": consent.id,
                               "purpose": Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER.value})
    return {"customer_id": customer_id, "partner_id": partner_id,
            "consent_record_id": consent.id, "fields": shared}
