"""Cash-loan offers (借呗): every term and repayment method of the catalogue's cash-loan
products for an amount, with its full cost, stored as shown so the offer accepted is the
offer quoted.

Who may borrow and how much: the consumer needs an open, active pay-later line (granted by
an approved credit decision), and a cash loan draws on that line's limit in the ledger, as a
purchase does (:func:`creditpay.credit.loans.disburse_cash_loan`): the headroom is the line's
available credit, so loans, purchases and plans together stay within the granted limit in
any order. The regulatory exposure cap and the affordability rules bound the total too.

Pure core: :func:`loan_offer_figures` (schedule, APR, all-in cost of one product, term and
method). Storage: ``credit_cash_loan_quotes`` (one row per offer shown, with its figures,
expiry and, once accepted, the loan id).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from creditpay.credit import products as P
from creditpay.credit.apr import all_in_annual_cost
from creditpay.credit.caps import Caps
from creditpay.credit.lines import check_id, customer_line, line_view
from creditpay.credit.loans import loan_schedule
from creditpay.credit.schedule import Method, Schedule
from creditpay.credit.tables import credit_cash_loan_quotes
from creditpay.db.uow import Tx
from creditpay.errors import (
    LimitExceededError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.formatting import percent_string
from creditpay.money import validate_currency
from creditpay.platform.validators import check_minor

__all__ = ["LoanHeadroom", "loan_headroom", "loan_offer_figures", "quote_cash_loans",
           "price_cash_loans", "PricedLoanOffer",
           "shown_offer", "mark_accepted", "loan_schedule",
           "OFFER_TTL_S_DEFAULT"]

OFFER_TTL_S_DEFAULT = 900  # as checkout offers: quote again after 15 minutes
OFFERS_MAX = 64  # products x terms x methods shown at once (a bound, far above the catalogue)


@dataclass(frozen=True)
class LoanHeadroom:
    """What a new cash loan may borrow (minor units): the line's available credit (its limit
    less what purchases, plans and loans hold or owe), and never more than the limit less
    the exposure (principal outstanding and holds on every account)."""

    line_id: str
    limit_minor: int
    exposure_minor: int
    headroom_minor: int


def loan_headroom(conn: Any, customer_id: str, currency: str) -> LoanHeadroom:
    """The customer's headroom for cash loans; StateError naming ``customer_id`` without an
    open, active line (apply for credit first)."""
    from creditpay.credit.service import exposure_minor

    try:
        line = line_view(conn, customer_line(conn, customer_id, currency))
    except NotFoundError:
        raise StateError(f"a cash loan needs an approved {currency} credit line: apply for "
                         "credit first", field="customer_id",
                         rule="cash_loan.no_credit_line") from None
    if line.status != "active":
        raise StateError(f"your credit line is {line.status}", field="customer_id",
                         rule="cash_loan.line_not_active")
    exposure = int(exposure_minor(conn, customer_id, currency))
    return LoanHeadroom(line.line_id, line.limit_minor, exposure,
                        max(0, min(line.available_minor, line.limit_minor - exposure)))


@dataclass(frozen=True, slots=True)
class PricedLoanOffer:
    """A cash-loan offer as quoted and stored (``offer``, its JSON figures) with what
    pricing computed for it, exact, so its key-facts document solves nothing twice: its
    schedule and all-in annual cost (:func:`creditpay.credit.apr.all_in_annual_cost` of
    the schedule; 0 for an offer that costs nothing, whose cost was not solved)."""

    offer: dict[str, Any]
    schedule: Schedule
    all_in_annual_cost: Decimal


def loan_offer_figures(product: P.CashLoanProduct, periods: int, method: Method | str,
                       principal_minor: int, start_date: dt.date, currency: str, *,
                       caps: Caps) -> dict[str, Any]:
    """Pure: every figure of one loan offer (minor units; rates as percent strings with 4
    decimals). ``periods`` is months, or days for a bullet term in days (``term_unit``)."""
    return _priced_figures(product, periods, method, principal_minor, start_date, currency,
                           caps=caps)[0]


def _priced_figures(product: P.CashLoanProduct, periods: int, method: Method | str,
                    principal_minor: int, start_date: dt.date, currency: str, *,
                    caps: Caps) -> tuple[dict[str, Any], Schedule, Decimal]:
    """(:func:`loan_offer_figures`, the schedule, the all-in annual cost) (pure)."""
    schedule = loan_schedule(product, periods, method, principal_minor, start_date, currency)
    terms = schedule.terms
    costs = schedule.totals.interest_minor + schedule.totals.fee_minor
    # The all-in annual cost is the Regulation Z APR of every flow, fees included
    # (apr.all_in_annual_cost): one solve serves both figures.
    cost = apr = all_in_annual_cost(schedule) if costs else Decimal(0)
    first = schedule.installments[0]
    figures = {
        "product_code": product.code, "product_version": product.version,
        "amount_minor": principal_minor, "currency": currency, "periods": periods,
        "term_unit": "days" if str(terms.frequency) == "daily" else "months",
        "method": str(Method(method)), "annual_rate": str(product.annual_rate),
        "installment_count": len(schedule.installments),
        "per_period_amount_minor": first.total_minor,
        "first_due_date": first.due_date.isoformat(),
        "last_due_date": schedule.installments[-1].due_date.isoformat(),
        "total_interest_minor": schedule.totals.interest_minor,
        "total_fee_minor": schedule.totals.fee_minor,
        "total_cost_minor": costs, "total_repayable_minor": schedule.totals.total_minor,
        "apr_percent": percent_string(apr), "all_in_annual_cost_percent": percent_string(cost),
        "quoted_on": start_date.isoformat(),
        "within_caps": cost <= caps.all_in_annual_cost_max,
        "schedule": [{"number": i.number, "due_date": i.due_date.isoformat(),
                      "principal_minor": i.principal_minor,
                      "interest_minor": i.interest_minor, "fee_minor": i.fee_minor,
                      "total_minor": i.total_minor} for i in schedule.installments],
    }
    return figures, schedule, cost


def _choices(product: P.CashLoanProduct) -> list[tuple[int, Method]]:
    """(periods, method) pairs the product offers, in catalogue order."""
    pairs = []
    for term in product.terms:
        for method in product.methods:
            if term.days is not None and method is not Method.BULLET:
                continue
            periods = term.months if term.months is not None else term.days
            assert periods is not None
            pairs.append((periods, method))
    return pairs


def quote_cash_loans(tx: Tx, *, customer_id: str, amount_minor: int, currency: str,
                     ttl_s: int = OFFER_TTL_S_DEFAULT, catalogue: P.Catalogue
                     ) -> list[dict[str, Any]]:
    """Quote and store every cash-loan offer for ``amount_minor`` today: each active cash
    loan product in ``currency`` whose amount bounds hold it, each term and method, priced
    under the caps (an offer above the all-in cost cap is not shown). Refused with
    LimitExceededError naming ``amount_minor`` above the headroom (:func:`loan_headroom`),
    ValidationError naming it when no product lends that amount."""
    return [priced.offer for priced in price_cash_loans(
        tx, customer_id=customer_id, amount_minor=amount_minor, currency=currency,
        ttl_s=ttl_s, catalogue=catalogue)]


def price_cash_loans(tx: Tx, *, customer_id: str, amount_minor: int, currency: str,
                     ttl_s: int = OFFER_TTL_S_DEFAULT, catalogue: P.Catalogue,
                     headroom: LoanHeadroom | None = None) -> list[PricedLoanOffer]:
    """:func:`quote_cash_loans` with, for each offer, the schedule and all-in annual cost
    pricing computed (:class:`PricedLoanOffer`). ``headroom``: the customer's
    :func:`loan_headroom` as the caller read it in this transaction (not read again)."""
    check_id(customer_id, "customer_id")
    validate_currency(currency)
    check_minor(amount_minor, "amount_minor", minimum=1)
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not 1 <= ttl_s <= 86_400:
        raise ValidationError("must be 1-86400 seconds", field="ttl_s")
    if headroom is None:
        headroom = loan_headroom(tx.conn, customer_id, currency)
    if amount_minor > headroom.headroom_minor:
        raise LimitExceededError(
            f"you can borrow at most {headroom.headroom_minor} minor units now (your line's "
            f"limit {headroom.limit_minor} less what you owe and hold, "
            f"{headroom.exposure_minor})", field="amount_minor",
            rule="cash_loan.line_headroom", available_minor=headroom.headroom_minor)
    products = [p for p in catalogue.active(P.ProductKind.CASH_LOAN)
                if isinstance(p, P.CashLoanProduct) and p.currency == currency]
    lending = [p for p in products if p.amount_min_minor <= amount_minor <= p.amount_max_minor]
    if not lending:
        bounds = ", ".join(f"{p.code}: {p.amount_min_minor}-{p.amount_max_minor}"
                           for p in products) or "none"
        raise ValidationError(f"no cash loan product lends this amount ({bounds})",
                              field="amount_minor")
    expires_at = tx.now + dt.timedelta(seconds=ttl_s)
    offers: list[PricedLoanOffer] = []
    for product in lending:
        for periods, method in _choices(product):
            figures, schedule, cost = _priced_figures(
                product, periods, method, amount_minor, tx.today, currency,
                caps=catalogue.caps(product.jurisdiction))
            if not figures.pop("within_caps"):
                continue  # the cap check at disbursement would refuse it: never shown
            offer_id = "clo_" + uuid.uuid4().hex
            offer = {"offer_id": offer_id, **figures, "expires_at": expires_at.isoformat()}
            tx.conn.execute(credit_cash_loan_quotes.insert(), {
                "offer_id": offer_id, "customer_id": customer_id, "currency": currency,
                "amount_minor": amount_minor, "product_code": product.code,
                "product_version": product.version, "periods": periods,
                "method": str(method), "quoted_on": tx.today, "figures": offer,
                "created_at": tx.now, "expires_at": expires_at})
            offers.append(PricedLoanOffer(offer, schedule, cost))
            if len(offers) >= OFFERS_MAX:
                return offers
    return offers


def shown_offer(conn: Any, customer_id: str, offer_id: str) -> dict[str, Any]:
    """The stored offer shown to ``customer_id`` (NotFoundError naming ``offer_id`` for any
    other id, another customer's included), with ``loan_id`` / ``expires_at`` state."""
    if not isinstance(offer_id, str) or not 1 <= len(offer_id) <= 48:
        raise NotFoundError("not a cash-loan offer shown to you", field="offer_id")
    row = conn.execute(select(credit_cash_loan_quotes).where(
        credit_cash_loan_quotes.c.offer_id == offer_id,
        credit_cash_loan_quotes.c.customer_id == customer_id)).mappings().first()
    if row is None:
        raise NotFoundError("not a cash-loan offer shown to you; ask for offers first",
                            field="offer_id")
    return {**dict(row["figures"]), "loan_id": row["loan_id"], "expires_at_dt": row["expires_at"],
            "quoted_on_date": row["quoted_on"]}


def mark_accepted(tx: Tx, offer_id: str, loan_id: str) -> None:
    """Record that the offer became ``loan_id`` (once: a second acceptance is StateError)."""
    updated = tx.conn.execute(credit_cash_loan_quotes.update().where(
        credit_cash_loan_quotes.c.offer_id == offer_id,
        credit_cash_loan_quotes.c.loan_id.is_(None)).values(
        loan_id=loan_id, accepted_at=tx.now)).rowcount
    if updated != 1:
        raise StateError("this offer was already accepted", field="offer_id")
