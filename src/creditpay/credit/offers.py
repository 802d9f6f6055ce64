"""Offers: every way a purchase can be paid with credit, with its full cost, before the
consumer chooses (right to know, right to choose: credit is never the silent default).

A plan offer may take a down payment (``down_payment_rate`` of the product or the option):
``down_payment_minor`` of the price is paid from the wallet at checkout (cash, not credit,
so the APR and the all-in cost are those of the financed flows only) and ``financed_minor``
(price - down payment) is the credit. Its ``schedule`` then lists the down payment as
installment 1 (``kind: down_payment``, due on the quote date) and the credit installments
as 2..n+1, as the plan records them once captured.

An offer's id is a hash of its figures (customer, amount, product version, business date,
schedule), so re-quoting later gives the same id only if nothing that matters changed;
:func:`creditpay.credit.service.authorise_purchase` recomputes the offers and refuses an id
that is not among them (stale or unknown).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any

from creditpay.credit import products as P
from creditpay.credit.apr import AprMethod, apr_of_schedule
from creditpay.credit.calendar import add_months
from creditpay.credit.lines import check_id, customer_line
from creditpay.credit.schedule import Schedule, build_schedule, without_fees
from creditpay.errors import ValidationError
from creditpay.formatting import percent_string
from creditpay.money import allocate_minor, validate_currency
from creditpay.platform.validators import check_minor

__all__ = ["Offer", "OfferInstallment", "OfferCosts", "quote_offers", "price_offers", "price_products",
           "statement_dates", "line_due_date", "down_payment_split", "capture_split"]


@dataclass(frozen=True)
class OfferInstallment:
    number: int
    due_date: str
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    kind: str = "installment"  # or "down_payment": paid from the wallet at checkout


@dataclass(frozen=True)
class Offer:
    offer_id: str
    funding: str  # line | plan
    product_code: str
    product_version: int
    periods: int  # installments of the financed part (the down payment is not one of them)
    amount_minor: int  # the price
    down_payment_minor: int  # paid from the wallet at checkout; not credit
    financed_minor: int  # price - down payment: the amount of credit
    down_payment_rate: str  # share of the price paid down ("0" when none)
    down_payment_due_date: str | None  # the quote date when there is a down payment
    installment_count: int  # payments the consumer makes: periods (+1 with a down payment)
    frequency: str  # monthly | biweekly | weekly (a line: one repayment)
    per_period_amount_minor: int
    first_due_date: str
    total_fee_minor: int
    total_interest_minor: int
    total_repayable_minor: int  # of the credit: financed + fee + interest
    total_payable_minor: int  # everything the consumer pays: down payment + total repayable
    merchant_fee_minor: int  # merchant-subsidised fee (not paid by the consumer)
    apr_percent: str  # US Regulation Z Appendix J, fees included
    all_in_annual_cost_percent: str  # IRR method, what the caps apply to
    within_available_limit: bool
    quoted_on: str
    schedule: tuple[OfferInstallment, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def figures(self) -> dict[str, Any]:
        """The offer as a JSON object, the schedule as a list of row objects: what
        ``as_dict`` gives, field for field in the same order, without its deep copy (every
        value is an int, str, bool or None; the copy was most of the quote's bookkeeping)."""
        figures = {name: getattr(self, name) for name in _OFFER_FIELDS}
        figures["schedule"] = [_row_dict(row) for row in self.schedule]
        return figures


@dataclass(frozen=True, slots=True)
class OfferCosts:
    """What pricing a plan offer already computed, exact, for whoever documents it (the
    key-facts document) so nothing is solved twice: the schedule the consumer pays (no fee
    when the merchant pays it) and its all-in annual cost (IRR, every fee; a fraction)."""

    consumer_schedule: Schedule
    all_in_annual_cost: Decimal


def exact_rates(costs: OfferCosts) -> dict[str, str]:
    """The exact rates (fractions, as strings) a plan offer is documented and capped with,
    solved once when it is quoted and stored with its figures, so that showing, accepting
    and authorising the stored offer never solve again (pure):

    - ``all_in_annual_cost``: pricing's all-in annual cost (0 for a plan that costs
      nothing), what the caps are checked against;
    - ``key_facts_apr``: the APR the key-facts document states: the all-in annual cost, or
      for a plan that costs nothing the solver's figure of its flows (a residue the
      document has always printed as it came);
    - ``key_facts_effective_annual_rate``: the EU effective rate (APRC) of the consumer's
      schedule.
    """
    schedule = costs.consumer_schedule
    costs_something = bool(schedule.totals.interest_minor + schedule.totals.fee_minor)
    stated = costs.all_in_annual_cost if costs_something else apr_of_schedule(schedule)
    return {"all_in_annual_cost": str(costs.all_in_annual_cost),
            "key_facts_apr": str(stated),
            "key_facts_effective_annual_rate": str(apr_of_schedule(schedule, AprMethod.EU))}


_OFFER_FIELDS = tuple(f.name for f in fields(Offer))


def _row_dict(row: OfferInstallment) -> dict[str, Any]:
    """``asdict(row)`` without the deep copy of its (immutable) values: the instance's
    own attributes, which a (frozen, not slotted) dataclass's ``__init__`` sets field by
    field in field order, so the copy has the keys of ``asdict`` in its order."""
    return row.__dict__.copy()


def statement_dates(product: P.CreditLineProduct, purchase_day: dt.date
                    ) -> tuple[dt.date, dt.date]:
    """(statement date, due date) of the statement that will carry a purchase made on
    ``purchase_day``: the next statement day on or after it (statements are cut at the
    close of business of the statement day, so that day's purchases are on it)."""
    statement = purchase_day.replace(day=product.statement_day)
    if statement < purchase_day:
        statement = add_months(statement, 1)
    return statement, line_due_date(product, statement)


def line_due_date(product: P.CreditLineProduct, statement: dt.date) -> dt.date:
    if product.due_days_after_statement is not None:
        return statement + dt.timedelta(days=product.due_days_after_statement)
    assert product.due_day is not None
    due = statement.replace(day=product.due_day)
    return due if due > statement else add_months(due, 1)


def _offer_id(figures: dict[str, Any]) -> str:
    text = json.dumps(figures, sort_keys=True, separators=(",", ":"), default=str)
    return "off_" + hashlib.sha256(text.encode()).hexdigest()[:40]


# Stands for the schedule in the JSON of an offer's other figures (a control character,
# which JSON writes escaped: no figure of an offer holds one).
_SCHEDULE_MARK = "\x00schedule\x00"
_SCHEDULE_MARK_JSON = json.dumps(_SCHEDULE_MARK)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_ROW_KINDS = frozenset({"installment", "down_payment"})


def _offer_id_of(figures: dict[str, Any], rows: tuple[OfferInstallment, ...]) -> str:
    """:func:`_offer_id` of ``figures`` with ``rows`` as its ``schedule``, the same text
    hashed, without building a dict per row for the JSON encoder to sort.

    Why by hand: the rows are most of an offer's JSON (up to 25 rows of 7 fields) and
    json.dumps sorts and encodes each row's dict, ~60 % of an offer's id. A row's fields
    are ints, an ISO date and a kind from a fixed set, which JSON writes as they are, so
    the row objects are written here in sorted-key order; any row that is not exactly that
    (another type, another kind) and any figures that already hold the mark go through
    :func:`_offer_id` itself. tests/credit/test_offer_id_text.py checks the two agree."""
    written = []
    for row in rows:
        if not (type(row.fee_minor) is int and type(row.interest_minor) is int
                and type(row.number) is int and type(row.principal_minor) is int
                and type(row.total_minor) is int and row.kind in _ROW_KINDS
                and type(row.due_date) is str and _ISO_DATE.match(row.due_date)):
            return _offer_id(dict(figures, schedule=[_row_dict(r) for r in rows]))
        written.append(
            f'{{"due_date":"{row.due_date}","fee_minor":{row.fee_minor},'
            f'"interest_minor":{row.interest_minor},"kind":"{row.kind}",'
            f'"number":{row.number},"principal_minor":{row.principal_minor},'
            f'"total_minor":{row.total_minor}}}')
    text = json.dumps(dict(figures, schedule=_SCHEDULE_MARK), sort_keys=True,
                      separators=(",", ":"), default=str)
    if text.count(_SCHEDULE_MARK_JSON) != 1:
        return _offer_id(dict(figures, schedule=[_row_dict(r) for r in rows]))
    text = text.replace(_SCHEDULE_MARK_JSON, "[" + ",".join(written) + "]")
    return "off_" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _installments(schedule: Schedule, customer_pays_fee: bool, first_number: int = 1
                  ) -> tuple[OfferInstallment, ...]:
    rows = []
    for i in schedule.installments:
        fee = i.fee_minor if customer_pays_fee else 0
        rows.append(OfferInstallment(first_number + i.number - 1, i.due_date.isoformat(),
                                     i.principal_minor, i.interest_minor, fee,
                                     i.principal_minor + i.interest_minor + fee))
    return tuple(rows)


def down_payment_split(amount_minor: int, down_payment_rate: Decimal) -> tuple[int, int]:
    """(down payment, financed) of a price of ``amount_minor`` (minor units) at
    ``down_payment_rate`` (a fraction below 1): largest remainder, so the two add up to the
    price exactly (0.25 of 10,001 is 2,500 down, 7,501 financed)."""
    if not isinstance(down_payment_rate, Decimal) or not 0 <= down_payment_rate < 1:
        raise ValidationError("must be a Decimal from 0 to below 1", field="down_payment_rate")
    if not down_payment_rate and type(amount_minor) is int:
        return 0, amount_minor  # no down payment (most plans): allocate_minor's split
    down, financed = allocate_minor(amount_minor, [down_payment_rate, 1 - down_payment_rate])
    return down, financed


def capture_split(down_payment_minor: int, authorised_minor: int, captured_minor: int
                  ) -> tuple[int, int]:
    """(down payment, financed) parts of capturing ``captured_minor`` of a purchase of
    ``authorised_minor`` whose offer took ``down_payment_minor`` down (minor units): the
    down payment keeps its share of the price, split by largest remainder so the parts add
    up to the capture exactly; capturing the full price gives the offer's own figures."""
    for name, value in (("down_payment_minor", down_payment_minor),
                        ("authorised_minor", authorised_minor),
                        ("captured_minor", captured_minor)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError("must be a non-negative integer of minor units", field=name)
    if not 0 <= down_payment_minor < authorised_minor:
        raise ValidationError("must be below the authorised amount",
                              field="down_payment_minor")
    if captured_minor > authorised_minor:
        raise ValidationError(f"must not exceed the authorised {authorised_minor}",
                              field="amount_minor")
    if down_payment_minor == 0:
        return 0, captured_minor
    down, financed = allocate_minor(captured_minor, [down_payment_minor,
                                                     authorised_minor - down_payment_minor])
    return down, financed


@dataclass(frozen=True)
class _PlanCore:
    """The customer-independent part of one plan offer: schedule, its rows as shown, and
    the cost figures (the APR solve is most of the quoting time)."""

    product: Any  # the product object it was computed from
    schedule: Schedule
    consumer: Schedule  # what the consumer pays (no fee when the merchant pays it)
    all_in_annual_cost: Decimal  # of ``consumer``, as the caps check computes it
    rows: tuple[OfferInstallment, ...]
    apr_percent: str
    all_in_annual_cost_percent: str


def _costs(consumer_schedule: Schedule | None) -> tuple[Decimal, Decimal]:
    """(US APR, all-in annual cost) as fractions; both 0 for a schedule that costs nothing."""
    if consumer_schedule is not None and (consumer_schedule.totals.interest_minor
                                          + consumer_schedule.totals.fee_minor):
        # The all-in annual cost is by definition the US (Appendix J, every fee) APR of
        # the same flows: one solve gives both figures.
        apr = apr_of_schedule(consumer_schedule, AprMethod.US)
        return apr, apr
    return Decimal(0), Decimal(0)


def _cost_percents(consumer_schedule: Schedule | None) -> tuple[str, str]:
    apr, cost = _costs(consumer_schedule)
    return percent_string(apr), percent_string(cost)


def plan_schedules(product: Any, periods: int, financed: int, as_of: dt.date, currency: str,
                   down_payment_rate: Decimal | str | None = None
                   ) -> tuple[Schedule, Schedule]:
    """(the plan's schedule, what the consumer pays: without the fee when the merchant pays
    it) on the financed part (minor units): what authorisation and capture need, without
    the offer's APR figures (a solve each) that only showing the offer needs."""
    rate = None if down_payment_rate is None else Decimal(str(down_payment_rate))
    schedule = build_schedule(P.plan_terms(product, periods, financed, as_of, currency,
                                           down_payment_rate=rate))
    consumer = schedule if product.fee_payer == "customer" else without_fees(schedule)
    return schedule, consumer


def _plan_core(product: Any, periods: int, financed: int, as_of: dt.date, currency: str,
               down_payment_rate: Decimal | str | None = None, *,
               with_down_payment: bool = False) -> _PlanCore:
    """The plan's schedules and cost figures on the financed part (pure: same inputs, same
    figures). ``down_payment_rate`` picks the option among those of ``periods``;
    ``with_down_payment`` numbers the credit installments from 2 (the down payment is
    installment 1). Computed each time it is asked for: an offer is quoted once (credit
    stores it) and a capture prices only what it finances, so nothing is memoised."""
    schedule, consumer = plan_schedules(product, periods, financed, as_of, currency,
                                        down_payment_rate)
    customer_pays = product.fee_payer == "customer"
    rows = _installments(schedule, customer_pays, 2 if with_down_payment else 1)
    apr, cost = _costs(consumer)
    return _PlanCore(product, schedule, consumer, cost, rows,
                     percent_string(apr), percent_string(cost))


def _finish(figures: dict[str, Any], schedule_rows: tuple[OfferInstallment, ...],
            consumer_schedule: Schedule | None, *,
            percents: tuple[str, str] | None = None) -> Offer:
    """The offer of ``figures`` (a new dict, changed here) with its id."""
    apr_percent, cost_percent = percents or _cost_percents(consumer_schedule)
    offer_id = _offer_id_of(figures, schedule_rows)
    figures.pop("customer_id")
    figures.pop("currency")
    figures.pop("reference", None)
    return Offer(offer_id=offer_id, apr_percent=apr_percent,
                 all_in_annual_cost_percent=cost_percent, schedule=schedule_rows,
                 **figures)


def quote_offers(conn: Any, *, customer_id: str, amount_minor: int, currency: str,
                 product_codes: list[str] | None = None, as_of: dt.date | None = None,
                 catalogue: P.Catalogue) -> list[Offer]:
    """Every offer for paying ``amount_minor`` with the customer's line: pay in full by the
    due date (cost 0), and each allowed installment plan. ``conn`` is a Tx (its business
    date is used) or a Connection with ``as_of``. Read-only."""
    return [offer for offer, _ in price_offers(
        conn, customer_id=customer_id, amount_minor=amount_minor, currency=currency,
        product_codes=product_codes, as_of=as_of, catalogue=catalogue)]


def price_offers(conn: Any, *, customer_id: str, amount_minor: int, currency: str,
                 product_codes: list[str] | None = None, as_of: dt.date | None = None,
                 catalogue: P.Catalogue, reference: str | None = None
                 ) -> list[tuple[Offer, OfferCosts | None]]:
    """:func:`quote_offers` with, for each plan offer, the :class:`OfferCosts` its figures
    came from (None for the line's pay-in-full offer, which costs nothing), so the key-facts
    document reuses them instead of solving again. ``reference``: the purchase, part of
    each offer's id (:func:`price_products`)."""
    from creditpay.db.uow import Tx

    if isinstance(conn, Tx):
        as_of = as_of or conn.today
        conn = conn.conn
    if not isinstance(as_of, dt.date):
        raise ValidationError("the business date is needed: pass a Tx or as_of",
                              field="as_of")
    check_id(customer_id, "customer_id")
    validate_currency(currency)
    check_minor(amount_minor, "amount_minor", minimum=1)
    line = customer_line(conn, customer_id, currency)
    if line["status"] != "active":
        return []
    from creditpay import ledger as L

    available = L.get_account(conn, line["available_account_id"]).available_minor
    line_product = catalogue.get(line["product_code"], line["product_version"])
    assert isinstance(line_product, P.CreditLineProduct)
    if product_codes is None:
        products: list[Any] = [line_product] + [
            p for p in catalogue.active(P.ProductKind.INSTALLMENT_PLAN)
            if p.currency == currency]
    else:
        if not isinstance(product_codes, list | tuple) or not product_codes:
            raise ValidationError("must be a non-empty list", field="product_codes")
        products = []
        for code in product_codes:
            if code == line_product.code:
                products.append(line_product)
                continue
            product = catalogue.get(code)
            if not isinstance(product, P.InstallmentPlanProduct) or \
                    product.currency != currency:
                raise ValidationError(f"{code} is not a {currency} installment plan",
                                      field="product_codes")
            products.append(product)
    return price_products(products, customer_id=customer_id, amount_minor=amount_minor,
                          currency=currency, as_of=as_of, available_minor=available,
                          reference=reference)


def price_products(products: list[Any], *, customer_id: str, amount_minor: int,
                   currency: str, as_of: dt.date, available_minor: int,
                   reference: str | None = None) -> list[tuple[Offer, OfferCosts | None]]:
    """The pure core of :func:`price_offers`: every offer of ``products`` (the line's
    product and installment plans) for paying ``amount_minor`` on ``as_of``, each marked
    within or above ``available_minor``; no I/O.

    ``reference`` (the purchase, e.g. the payment intent) is part of every offer's id: an
    offer is accepted once, with its own key-facts acceptance and authorisation, so two
    purchases with the same figures (same customer, amount and day) must not share ids.
    """
    available = available_minor
    offers: list[tuple[Offer, OfferCosts | None]] = []
    base = {"customer_id": customer_id, "currency": currency, "amount_minor": amount_minor,
            "quoted_on": as_of.isoformat()}
    if reference is not None:
        base["reference"] = reference
    for product in products:
        if isinstance(product, P.CreditLineProduct):
            if not product.amount_min_minor <= amount_minor <= product.amount_max_minor:
                continue
            _, due = statement_dates(product, as_of)
            rows: tuple[OfferInstallment, ...] = (
                OfferInstallment(1, due.isoformat(), amount_minor, 0, 0, amount_minor),)
            offers.append((_finish(dict(
                base, funding="line", product_code=product.code,
                product_version=product.version, periods=1, down_payment_minor=0,
                financed_minor=amount_minor, down_payment_rate="0",
                down_payment_due_date=None, installment_count=1, frequency="monthly",
                per_period_amount_minor=amount_minor,
                first_due_date=due.isoformat(), total_fee_minor=0, total_interest_minor=0,
                total_repayable_minor=amount_minor, total_payable_minor=amount_minor,
                merchant_fee_minor=0,
                within_available_limit=amount_minor <= available), rows, None), None))
            continue
        for option in product.options:
            rate = product.down_payment_rate_of(option)
            down, financed = down_payment_split(amount_minor, rate)
            if not product.amount_min_minor <= financed <= product.amount_max_minor:
                continue
            core = _plan_core(product, option.periods, financed, as_of, currency, rate,
                              with_down_payment=down > 0)
            within = financed <= available
            schedule, rows = core.schedule, core.rows
            if down:
                # The down payment is installment 1, paid at checkout (not credit).
                down_row = OfferInstallment(1, as_of.isoformat(), down, 0, 0, down,
                                            "down_payment")
                rows = (down_row, *rows)
            first = rows[1] if down else rows[0]
            customer_pays = product.fee_payer == "customer"
            fee = schedule.totals.fee_minor if customer_pays else 0
            repayable = financed + fee + schedule.totals.interest_minor
            offer = _finish(dict(
                base, funding="plan", product_code=product.code,
                product_version=product.version, periods=option.periods,
                down_payment_minor=down, financed_minor=financed,
                down_payment_rate=str(rate),
                down_payment_due_date=as_of.isoformat() if down else None,
                installment_count=option.periods + (1 if down else 0),
                frequency=product.frequency,
                per_period_amount_minor=first.total_minor,
                first_due_date=first.due_date, total_fee_minor=fee,
                total_interest_minor=schedule.totals.interest_minor,
                total_repayable_minor=repayable, total_payable_minor=down + repayable,
                merchant_fee_minor=0 if customer_pays else schedule.totals.fee_minor,
                within_available_limit=within), rows, None,
                percents=(core.apr_percent, core.all_in_annual_cost_percent))
            offers.append((offer, OfferCosts(core.consumer, core.all_in_annual_cost)))
    return offers
