"""Why staff read personal data: a fixed list of codes, kept as data.

The audit chain records the purpose of every staff read of personal data
(``audit.record_personal_data_access``) and of every data-subject export. A free-text purpose
once carried a person's name into the chain, where it could never be erased; a purpose is
therefore one of these codes, and anything a person wants to add in words goes to the vault
(:mod:`creditpay.platform.notes`), referenced from the chain by its ``note_id``.

Adding a purpose is a change to this list (reviewed like any other code change); the API's
OpenAPI document lists the codes, and docs/security.md section 6 explains each.
"""

from __future__ import annotations

import enum

from creditpay.errors import ValidationError
from creditpay.i18n import N_, translate

__all__ = ["AccessPurpose", "PURPOSE_NAMES", "check_purpose"]


class AccessPurpose(enum.StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    DATA_SUBJECT_REQUEST = "data_subject_request"
    COMPLAINT_HANDLING = "complaint_handling"
    FRAUD_INVESTIGATION = "fraud_investigation"
    COLLECTIONS = "collections"
    KYC_REVIEW = "kyc_review"
    CREDIT_REVIEW = "credit_review"
    REGULATORY_REQUEST = "regulatory_request"
    LEGAL_OBLIGATION = "legal_obligation"


# What each code means (English msgids of the gettext catalogs, creditpay.i18n).
_PURPOSE_MESSAGES: dict[AccessPurpose, str] = {
    AccessPurpose.CUSTOMER_REQUEST: N_("The customer asked (support contact)"),
    AccessPurpose.DATA_SUBJECT_REQUEST: N_("A data-subject access or erasure request"),
    AccessPurpose.COMPLAINT_HANDLING: N_("Handling a complaint"),
    AccessPurpose.FRAUD_INVESTIGATION: N_("Investigating suspected fraud"),
    AccessPurpose.COLLECTIONS: N_("Collecting an overdue debt"),
    AccessPurpose.KYC_REVIEW: N_("Reviewing identity verification (KYC)"),
    AccessPurpose.CREDIT_REVIEW: N_("Reviewing a credit application or line"),
    AccessPurpose.REGULATORY_REQUEST: N_("A regulator's request"),
    AccessPurpose.LEGAL_OBLIGATION: N_("A court order or other legal duty"),
}
# (zh-CN, en): what each code means, for the operator console and the docs.
PURPOSE_NAMES: dict[AccessPurpose, tuple[str, str]] = {
    purpose: (translate(message, "zh-CN"), message)
    for purpose, message in _PURPOSE_MESSAGES.items()}


def check_purpose(value: object, field: str = "purpose") -> str:
    """``value`` if it is a purpose code, else ValidationError naming ``field``."""
    try:
        return AccessPurpose(value).value  # type: ignore[arg-type]
    except ValueError:
        raise ValidationError(
            "must be a purpose code, one of " + ", ".join(p.value for p in AccessPurpose)
            + "; put free text in a vaulted note, never in the purpose",
            field=field) from None
