"""Consent references: how other domains name the consent a use of personal data relies on.

A service that uses personal data (a bureau pull, the platform's payment history in a credit
decision, an auto-debit, a data share with a partner lender) receives a reference
``consent:<record id>`` naming the grant the consumer gave (:func:`reference_of`). Before the
use it calls :func:`require_referenced_consent` (or :func:`referenced_consents_in_force` for a
batch, e.g. the close of business), which checks through :mod:`creditpay.protection.consent`
that the record exists, belongs to this customer, is a grant for the right purpose (and
partner), was not revoked since, and that the consent is still in force
(:func:`~creditpay.protection.consent.require_consent`).

Refusals are :class:`~creditpay.errors.ConsentRequiredError` naming the caller's field and a
``rule``: ``consent.missing_reference``, ``consent.malformed_reference``,
``consent.unknown_reference`` (no such record of this customer), ``consent.wrong_purpose``,
``consent.revoked`` (revoked after the referenced grant), or the rules of ``require_consent``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from creditpay.errors import ConsentRequiredError, ValidationError
from creditpay.protection.consent import (
    ConsentRecord,
    Purpose,
    consent_histories,
    consent_history,
    in_force_refusal,
    require_consent,
)

__all__ = ["REFERENCE_PREFIX", "reference_of", "parse_reference",
           "require_referenced_consent", "referenced_consents_in_force"]

REFERENCE_PREFIX = "consent:"
_REFERENCE_CHARS_MAX = 32


def reference_of(record: ConsentRecord) -> str:
    """The reference a service stores for ``record``: ``consent:<id>``."""
    return f"{REFERENCE_PREFIX}{record.id}"


def parse_reference(reference: object) -> int | None:
    """The consent record id in ``reference``, or None if it is not ``consent:<id>``."""
    if not isinstance(reference, str) or len(reference) > _REFERENCE_CHARS_MAX or \
            not reference.startswith(REFERENCE_PREFIX):
        return None
    digits = reference[len(REFERENCE_PREFIX):]
    if not digits.isascii() or not digits.isdigit() or int(digits) <= 0:
        return None
    return int(digits)


def _refusal(rule: str, detail: str, *, field: str, purpose: Purpose,
             partner_id: str | None) -> ConsentRequiredError:
    return ConsentRequiredError(detail, field=field, purpose=purpose.value,
                                partner_id=partner_id, rule=rule)


def _check_against(records: Sequence[ConsentRecord], record_id: int, purpose: Purpose,
                   partner_id: str | None) -> tuple[str, str] | None:
    """(rule, detail) when the referenced record of these customer records is not a grant
    of ``purpose`` (and partner) still in force by its own history; None when it is."""
    referenced = next((r for r in records if r.id == record_id), None)
    if referenced is None:
        return ("consent.unknown_reference",
                "names no consent record of this customer")
    if referenced.purpose is not purpose or (referenced.partner_id or None) != partner_id:
        return ("consent.wrong_purpose",
                f"names a consent for {referenced.purpose.value}, not {purpose.value}"
                + (f" with partner {partner_id}" if partner_id else ""))
    if referenced.action != "grant":
        return "consent.revoked", "names a revocation, not a grant"
    if any(r.id > record_id and r.action == "revoke" and r.purpose is purpose and
           (r.partner_id or None) == partner_id for r in records):
        return "consent.revoked", f"the customer revoked this {purpose.value} consent"
    return None


def require_referenced_consent(conn: Connection, *, customer_id: str,
                               purpose: Purpose | str, reference: object, field: str,
                               partner_id: str | None = None) -> ConsentRecord:
    """Return the grant in force that ``reference`` names, or raise ConsentRequiredError
    with ``field=field`` (nothing is written either way).

    Call it in the transaction of the use it guards, so a revocation committed before is
    always honoured.
    """
    purpose = Purpose(purpose)
    if reference is None or reference == "":
        raise _refusal("consent.missing_reference",
                       f"needs the reference of the customer's {purpose.value} consent",
                       field=field, purpose=purpose, partner_id=partner_id)
    record_id = parse_reference(reference)
    if record_id is None:
        raise _refusal("consent.malformed_reference",
                       f"must be a consent reference like '{REFERENCE_PREFIX}123'",
                       field=field, purpose=purpose, partner_id=partner_id)
    failed = _check_against(consent_history(conn, customer_id), record_id, purpose,
                            partner_id)
    if failed is not None:
        raise _refusal(failed[0], failed[1], field=field, purpose=purpose,
                       partner_id=partner_id)
    try:
        return require_consent(conn, customer_id, purpose, partner_id)
    except ConsentRequiredError as refused:
        raise _refusal(str(refused.extra.get("rule")), refused.detail, field=field,
                       purpose=purpose, partner_id=partner_id) from None


def referenced_consents_in_force(conn: Connection, purpose: Purpose | str,
                                 wanted: Sequence[tuple[str, object]]) -> list[str | None]:
    """For each ``(customer_id, reference)``: None when the reference names a grant of
    ``purpose`` in force (as :func:`require_referenced_consent`), else the refusal rule.

    For batch jobs (close of business): a refusal is an answer, not an exception.
    """
    purpose = Purpose(purpose)
    if purpose.needs_partner:
        raise ValidationError("partner consents are checked one at a time", field="purpose")
    # One read of the customers' histories, then the same rules as the one-at-a-time check.
    histories = consent_histories(conn, [customer_id for customer_id, _ in wanted])
    answers: list[str | None] = []
    for customer_id, reference in wanted:
        if reference is None or reference == "":
            answers.append("consent.missing_reference")
            continue
        record_id = parse_reference(reference)
        if record_id is None:
            answers.append("consent.malformed_reference")
            continue
        records = histories[customer_id]
        failed = _check_against(records, record_id, purpose, None) or \
            in_force_refusal(records, purpose)
        answers.append(failed[0] if failed is not None else None)
    return answers
