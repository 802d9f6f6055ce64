"""What a consumer may complain about in the app, each subject type read from the domain
that owns it (compliance checks the complainant owns it; it reads no other domain's table).

Wiring only: the reads are the domains' public functions; the rule (a customer complains
only about their own payments and accounts) is :class:`ComplaintSubjects.check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

from creditpay.errors import NotFoundError
from creditpay.protection.complaints import ComplaintSubjects

if TYPE_CHECKING:
    from creditpay.payments.service import Payments

__all__ = ["complaint_subjects", "SUBJECT_TYPES"]

SUBJECT_TYPES = ("customer", "payment_intent", "wallet_operation", "credit_account",
                 "credit_statement", "credit_application")


def complaint_subjects(payments: Payments) -> ComplaintSubjects:
    from creditpay.credit.service import account_customers, statement_customers
    from creditpay.risk.decisions.service import application_customers

    def customer_themself(conn: Connection, customer_id: str) -> tuple[str, ...]:
        """A complaint about the service in general names the customer themself."""
        try:
            payments.parties.get_customer(conn, customer_id)
        except NotFoundError:
            return ()
        return (customer_id,)

    owners = {
        "customer": customer_themself,
        "payment_intent": payments.intent_customers,
        "wallet_operation": payments.wallet_operation_customers,
        "credit_account": account_customers,
        "credit_statement": statement_customers,
        "credit_application": application_customers,
    }
    assert tuple(owners) == SUBJECT_TYPES
    return ComplaintSubjects(owners)
