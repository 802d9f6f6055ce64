"""What converting a statement into installments (账单分期) would cost, before the consumer
chooses (right to know): one quote per bill-installment option of the line's product.

:func:`bill_installment_quote` is the pure core: the schedule
:func:`creditpay.credit.statements.convert_statement_to_installments` would create for the
same statement, amount, option and business date (flat fee on the converted amount, the
first installment a month after the statement's due date), and its cost figures.
:func:`bill_installment_offers` reads the statement and quotes every option. Read-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from creditpay.credit import products as P
from creditpay.credit.apr import all_in_annual_cost
from creditpay.credit.caps import Caps
from creditpay.credit.lines import check_id
from creditpay.credit.plans import load_account, load_items
from creditpay.credit.statements import bill_installment_schedule, get_statement
from creditpay.errors import StateError, ValidationError
from creditpay.formatting import percent_string
from creditpay.platform.validators import check_minor

__all__ = ["BillInstallmentOffer", "bill_installment_quote", "bill_installment_offers",
           "convertible_minor"]


@dataclass(frozen=True)
class BillInstallmentOffer:
    """One way to convert ``amount_minor`` of a statement (minor units; rates as percent
    strings with 4 decimals). ``total_cost_minor`` is every fee: the only cost of a bill
    installment plan (no interest)."""

    periods: int
    amount_minor: int
    fee_rate_per_period: str  # a fraction, e.g. "0.0075" (0.75 % of the amount a month)
    per_period_amount_minor: int  # the first installment (later ones equal it but the last)
    fee_per_period_minor: int
    total_fee_minor: int
    total_cost_minor: int
    total_repayable_minor: int
    first_due_date: str
    apr_percent: str  # US Regulation Z Appendix J, fees included
    all_in_annual_cost_percent: str  # IRR method: what the price cap applies to
    within_caps: bool  # False: above the all-in cost cap, so it cannot be taken
    schedule: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bill_installment_quote(product: P.CreditLineProduct, periods: int, amount_minor: int,
                           today: dt.date, due_date: dt.date, currency: str, *, caps: Caps
                           ) -> BillInstallmentOffer:
    """Pure: the figures of converting ``amount_minor`` into ``periods`` installments on
    business date ``today`` for a statement due on ``due_date``; ``within_caps`` under
    ``caps`` (the product's jurisdiction's)."""
    check_minor(amount_minor, "amount_minor", minimum=1)
    option = product.bill_option(periods)
    schedule = bill_installment_schedule(product, periods, amount_minor, today, due_date,
                                         currency)
    costs = schedule.totals.interest_minor + schedule.totals.fee_minor
    # The all-in annual cost is the Regulation Z APR of every flow, fees included
    # (apr.all_in_annual_cost): one solve serves both figures.
    cost = apr = all_in_annual_cost(schedule) if costs else Decimal(0)
    first = schedule.installments[0]
    rows = tuple({"number": i.number, "due_date": i.due_date.isoformat(),
                  "principal_minor": i.principal_minor, "fee_minor": i.fee_minor,
                  "total_minor": i.total_minor} for i in schedule.installments)
    return BillInstallmentOffer(
        periods=periods, amount_minor=amount_minor,
        fee_rate_per_period=str(option.fee_rate_per_period),
        per_period_amount_minor=first.total_minor, fee_per_period_minor=first.fee_minor,
        total_fee_minor=schedule.totals.fee_minor, total_cost_minor=costs,
        total_repayable_minor=schedule.totals.total_minor,
        first_due_date=first.due_date.isoformat(), apr_percent=percent_string(apr),
        all_in_annual_cost_percent=percent_string(cost),
        within_caps=cost <= caps.all_in_annual_cost_max,
        schedule=rows)


def convertible_minor(conn: Any, statement_id: str, today: dt.date) -> int:
    """The statement's unpaid principal that can still be converted today (minor units);
    StateError naming ``statement_id`` when none can (paid, past due, line not active)."""
    statement = get_statement(conn, statement_id)
    line = load_account(conn, statement.account_id)
    if line["status"] != "active":
        raise StateError(f"line is {line['status']}", field="statement_id")
    if today > statement.due_date:
        raise StateError("the statement is past its due date; it can no longer be"
                         " converted", field="statement_id")
    item = _statement_item(conn, line, statement.statement_date)
    if item is None or item.status != "billed" or item.principal_due == 0:
        raise StateError("the statement has nothing left to convert", field="statement_id")
    return int(item.principal_due)


def _statement_item(conn: Any, line: dict[str, Any], statement_date: dt.date) -> Any:
    """The line's due item of the statement cut on ``statement_date``."""
    from sqlalchemy import select

    from creditpay.credit.tables import credit_statements

    number = conn.execute(select(credit_statements.c.installment_number).where(
        credit_statements.c.account_seq == line["seq"],
        credit_statements.c.statement_date == statement_date)).scalar_one_or_none()
    return next((i for i in load_items(conn, line["seq"]) if i.number == number), None)


def bill_installment_offers(conn: Any, *, statement_id: str, today: dt.date,
                            amount_minor: int | None = None, catalogue: P.Catalogue
                            ) -> list[BillInstallmentOffer]:
    """Every bill-installment option of the statement's line product for converting
    ``amount_minor`` (default: all that can be converted) on business date ``today``.
    ValidationError naming ``amount_minor`` when it is above what can be converted."""
    check_id(statement_id, "statement_id")
    statement = get_statement(conn, statement_id)
    line = load_account(conn, statement.account_id)
    product = catalogue.get(line["product_code"], line["product_version"])
    if not isinstance(product, P.CreditLineProduct) or not product.bill_installment_options:
        raise StateError("this line's statements cannot be converted into installments",
                         field="statement_id")
    available = convertible_minor(conn, statement_id, today)
    amount = available if amount_minor is None else check_minor(amount_minor, "amount_minor",
                                                                minimum=1)
    if amount > available:
        raise ValidationError(f"exceeds the statement's unpaid principal {available}",
                              field="amount_minor")
    return [bill_installment_quote(product, option.periods, amount, today,
                                   statement.due_date, line["currency"],
                                   caps=catalogue.caps(product.jurisdiction))
            for option in product.bill_installment_options]
