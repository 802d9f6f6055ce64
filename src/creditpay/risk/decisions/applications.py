"""Applying for the pay-later line: one use case, run by the API and the simulator alike.

:func:`apply_for_credit_line` does, in the caller's transaction and in this order: the
identity check (the date of birth is the verified KYC record's, never the applicant's say),
the one-line-per-customer-and-currency check, both consents (bureau inquiry and credit
assessment), the decision (:func:`creditpay.risk.decisions.service.decide`), the line an
approval opens, and the ``credit.application`` audit record. A refusal names what is missing
and writes nothing. A referral opens no line: a person decides it later
(:func:`creditpay.risk.decisions.referrals.review_referral`).

Opening the line is the line opener's part (:class:`LineOpener`): it checks the customer's
identity again, bounds the limit, opens the line and audits ``credit_line.granted``. It is
passed in rather than imported because today it lives above this layer (the payments
service); the wiring (API, simulator) hands it in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError
from creditpay.parties.service import Principal
from creditpay.platform import audit
from creditpay.risk.bureau import BureauAdapter
from creditpay.risk.decisions.service import Decision, decide
from creditpay.risk.features.platform import ActivitySource

__all__ = ["APPLICATION_PRODUCT", "DECISION_ENGINE", "ApplyForCreditLine", "ApplicationResult",
           "IdentityRegister", "LineOpener", "OpenedLine", "apply_for_credit_line",
           "require_no_line"]

APPLICATION_PRODUCT = "credit_line"  # the application policy's product for the line
# The automated decision grants the line: the line opener records who granted it.
DECISION_ENGINE = Principal("operator", "risk.decisions", role="system")


@dataclass(frozen=True)
class OpenedLine:
    """The line an approval opened."""

    line_id: str
    product_code: str
    limit_minor: int
    currency: str


class LineOpener(Protocol):
    """Grants a pay-later line (today :meth:`creditpay.credit.origination.Origination.
    open_credit_line`): checks identity and bounds, opens, audits ``credit_line.granted``
    naming ``granted_by``; returns at least ``line_id`` and ``product_code``."""

    # Positional-only: callers pass these by position, so an implementation may name them
    # its own way (Payments.open_credit_line calls the grantor ``operator``).
    def __call__(self, tx: Tx, granted_by: Principal, customer_id: str, /, *,
                 limit_minor: int, product_code: str, currency: str = ...
                 ) -> dict[str, Any]: ...


class IdentityRegister(Protocol):
    """Where the verified identity is read (:class:`creditpay.parties.service.Parties`)."""

    def verified_date_of_birth(self, conn: Connection, customer_id: str) -> dt.date: ...


@dataclass(frozen=True)
class ApplyForCreditLine:
    """An application for the pay-later line (amounts in minor units of ``currency``).

    ``application_id`` is the caller's idempotent id (a retry returns the stored decision);
    ``housing`` and ``declared_monthly_obligations_minor`` are optional declarations (None:
    not declared); ``line_product_code`` is the product of the line an approval opens."""

    application_id: str
    customer_id: str
    monthly_income_minor: int
    employment_type: str
    line_product_code: str
    housing: str | None = None
    declared_monthly_obligations_minor: int | None = None
    currency: str = "CNY"
    decision_product_code: str = APPLICATION_PRODUCT


@dataclass(frozen=True)
class ApplicationResult:
    """The stored decision and the line it opened (None: declined, referred, no limit)."""

    decision: Decision
    line: OpenedLine | None


def require_no_line(conn: Connection, customer_id: str, currency: str = "CNY") -> None:
    """One line per customer and currency: ConflictLine (``credit-line-exists``, naming
    ``customer_id`` and the line) when ``customer_id`` has one already."""
    from creditpay.credit.lines import ConflictLine, customer_line

    try:
        line = customer_line(conn, customer_id, currency)
    except NotFoundError:
        return
    raise ConflictLine(f"you already have a {currency} credit line ({line['status']}): "
                       "one line per customer and currency", field="customer_id",
                       line_id=line["line_id"])


def opened_line(line: dict[str, Any]) -> OpenedLine:
    """The :class:`OpenedLine` of what a :class:`LineOpener` returned."""
    return OpenedLine(str(line["line_id"]), str(line["product_code"]),
                      int(line["limit_minor"]), str(line["currency"]))


def apply_for_credit_line(tx: Tx, command: ApplyForCreditLine, *,
                          identities: IdentityRegister, bureau: BureauAdapter,
                          open_line: LineOpener, activity: ActivitySource) -> ApplicationResult:
    """Decide ``command`` and open the line an approval grants (see the module docstring).

    Refusals, each before anything is written: StateError on ``kyc_status`` (identity not
    verified), ConflictLine on ``customer_id`` (a line exists), ConsentRequiredError on
    ``purpose`` (a consent is missing), and ``decide``'s own validation errors."""
    from creditpay.protection.consent import Purpose, require_consent
    from creditpay.protection.consent_refs import reference_of
    from creditpay.risk.features.platform import platform_events

    customer_id = command.customer_id
    # Identity first (the date of birth is the KYC record's), then the one line per
    # customer, then both consents: a refusal names what is missing and writes nothing.
    date_of_birth = identities.verified_date_of_birth(tx.conn, customer_id)
    require_no_line(tx.conn, customer_id, command.currency)
    bureau_consent = require_consent(tx.conn, customer_id, Purpose.BUREAU_INQUIRY)
    assessment_consent = require_consent(tx.conn, customer_id, Purpose.CREDIT_ASSESSMENT)
    application: dict[str, Any] = {
        "date_of_birth": date_of_birth.isoformat(),
        "monthly_income_minor": command.monthly_income_minor,
        "employment_type": command.employment_type, "kyc_verified": True}
    # Optional declarations: sent only when given (absent means "not declared").
    if command.housing is not None:
        application["housing"] = command.housing
    if command.declared_monthly_obligations_minor is not None:
        application["declared_monthly_obligations_minor"] = \
            command.declared_monthly_obligations_minor
    decision = decide(
        tx, application_id=command.application_id, customer_id=customer_id,
        product_code=command.decision_product_code, application=application, bureau=bureau,
        platform_events=platform_events(tx.conn, customer_id, as_of=tx.now,
                                        activity=activity),
        bureau_consent_reference=reference_of(bureau_consent),
        platform_consent_reference=reference_of(assessment_consent))
    line = None
    if decision.outcome == "approve" and decision.limit_minor:
        line = opened_line(open_line(tx, DECISION_ENGINE, customer_id,
                                     limit_minor=decision.limit_minor,
                                     product_code=command.line_product_code,
                                     currency=decision.currency))
    audit.append(tx, "customer", customer_id, "credit.application", "credit_application",
                 command.application_id, {"decision_id": decision.decision_id,
                                          "outcome": decision.outcome,
                                          "limit_minor": decision.limit_minor,
                                          "line_id": line.line_id if line else None})
    return ApplicationResult(decision, line)
