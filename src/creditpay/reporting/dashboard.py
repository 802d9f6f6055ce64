"""The operators' portfolio dashboard from the live database (issue #16).

One function per view, each ``view(conn, *, date_from, date_to, product=None,
currency="CNY") -> list[<Row>]`` (frozen dataclasses; amounts in minor units, shares as
``Decimal`` rounded half-even to 6 places, named ``*_share`` / ``*_rate``). Every figure
is aggregated in the database by the owning domain's query functions
(:mod:`creditpay.credit.portfolio_queries`, :mod:`creditpay.risk.decisions.portfolio_queries`,
:mod:`creditpay.risk.fraud.portfolio_queries`); this module only combines their few rows.
:data:`VIEWS` maps the view names of the API and the command line to the functions and
their row types; :func:`to_csv` writes any view's rows as CSV.

What the date range selects differs by view (docs/console.md gives each definition):
today's book views (receivables, dpd30, buckets) take the accounts OPENED in the range and
show their state after the last close of business; history views (roll_rates, vintages,
revenue_losses) take the month ends in the range; flows (grades, fraud) take the decisions,
screenings and labels dated in the range.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from creditpay.credit import portfolio_queries as cq
from creditpay.errors import ValidationError
from creditpay.risk.decisions import portfolio_queries as dq
from creditpay.risk.fraud import portfolio_queries as fq

__all__ = ["ProductReceivable", "Dpd30Share", "BucketRow", "RollRate", "VintagePoint",
           "GradeRow", "FraudRow", "RevenueLossRow", "receivables_by_product", "dpd30_share",
           "delinquency_buckets", "roll_rates", "vintage_curves", "grades", "fraud",
           "revenue_losses", "VIEWS", "View", "to_csv", "share", "ALL", "run_view", "row_dict"]

ALL = "all"  # the total row's product
_PLACES = Decimal("0.000001")
_ACTIVE_STATES = ("M0", "M1", "M2", "M3", "M4", "M5", "M6+")


def share(part: int, whole: int) -> Decimal:
    """``part / whole`` rounded half-even to 6 decimal places; 0 when ``whole`` is 0."""
    if whole == 0:
        return Decimal(0).quantize(_PLACES)
    return (Decimal(part) / Decimal(whole)).quantize(_PLACES, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class ProductReceivable:
    product_code: str
    accounts: int
    receivable_minor: int
    principal_minor: int
    receivable_share: Decimal  # of the whole (filtered) book's receivable


@dataclass(frozen=True)
class Dpd30Share:
    product_code: str  # or ALL: the total row, last
    receivable_minor: int
    dpd30_receivable_minor: int
    dpd30_share: Decimal  # dpd30_receivable_minor / receivable_minor


@dataclass(frozen=True)
class BucketRow:
    bucket: str
    accounts: int
    receivable_minor: int
    receivable_share: Decimal
    accounts_share: Decimal


@dataclass(frozen=True)
class RollRate:
    from_state: str  # M0..M6+ at the previous month end
    to_state: str  # M0..M6+, WO, closed at the month end
    from_balance_minor: int  # receivable at the previous month end that went this way
    accounts: int
    roll_share: Decimal  # of the from-state's receivable (a row of the matrix sums to 1)


@dataclass(frozen=True)
class VintagePoint:
    vintage: str  # YYYY-MM opened
    month_end: dt.date
    months_on_book: int
    accounts: int
    original_minor: int
    dpd30_receivable_minor: int
    written_off_minor: int
    dpd30_share: Decimal  # dpd30_receivable_minor / original_minor
    written_off_share: Decimal  # written_off_minor / original_minor (cumulative)
    bad_share: Decimal  # (dpd30 + written off) / original


@dataclass(frozen=True)
class GradeRow:
    grade: str
    decisions: int
    approved: int
    declined: int
    referred: int
    approval_rate: Decimal  # approved / decisions
    approved_customers: int
    bad_customers: int
    bad_rate: Decimal  # bad_customers / approved_customers


@dataclass(frozen=True)
class FraudRow:
    month: str
    screened: int
    screened_minor: int
    attempted: int  # caught + lost
    attempted_minor: int
    caught: int  # declined at screening + confirmed by an analyst on a held payment
    caught_minor: int
    lost: int  # chargebacks and consumer reports labelled fraud
    lost_minor: int
    declined: int
    held: int
    caught_share: Decimal  # caught_minor / attempted_minor


@dataclass(frozen=True)
class RevenueLossRow:
    month: str
    interest_minor: int | None  # None: the previous month end is not recorded
    fee_minor: int | None
    penalty_minor: int | None
    revenue_minor: int | None
    write_off_minor: int
    fraud_loss_minor: int | None  # None with a product filter (fraud has no product)
    losses_minor: int | None


def _cells(conn: Any, date_from: dt.date | None, date_to: dt.date | None,
           product: str | None, currency: str) -> list[cq.BookCell]:
    return cq.book_cells(conn, currency=currency, opened_from=date_from, opened_to=date_to,
                         product=product)


def receivables_by_product(conn: Any, *, date_from: dt.date | None = None,
                           date_to: dt.date | None = None, product: str | None = None,
                           currency: str = "CNY") -> list[ProductReceivable]:
    """Receivable (principal + unpaid penalty and late fees) of active accounts opened in
    the range, per product, with each product's share of the total."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for cell in _cells(conn, date_from, date_to, product, currency):
        t = totals[cell.product_code]
        t[0] += cell.accounts
        t[1] += cell.receivable_minor
        t[2] += cell.principal_minor
    whole = sum(t[1] for t in totals.values())
    return [ProductReceivable(code, n, r, p, share(r, whole))
            for code, (n, r, p) in sorted(totals.items())]


def dpd30_share(conn: Any, *, date_from: dt.date | None = None,
                date_to: dt.date | None = None, product: str | None = None,
                currency: str = "CNY") -> list[Dpd30Share]:
    """Share of the receivable that is 30 or more days past due, per product and in all
    (last row, ``product_code == ALL``)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cell in _cells(conn, date_from, date_to, product, currency):
        for key in (cell.product_code, ALL):
            totals[key][0] += cell.receivable_minor
            totals[key][1] += cell.receivable_minor if cell.dpd30 else 0
    totals.setdefault(ALL, [0, 0])
    order = sorted(k for k in totals if k != ALL) + [ALL]
    return [Dpd30Share(k, totals[k][0], totals[k][1], share(totals[k][1], totals[k][0]))
            for k in order]


def delinquency_buckets(conn: Any, *, date_from: dt.date | None = None,
                        date_to: dt.date | None = None, product: str | None = None,
                        currency: str = "CNY") -> list[BucketRow]:
    """Active accounts and their receivable per delinquency bucket (M0 current, M1 1-29
    dpd, ... M6+ 180 and more with the default bounds), with shares of the total."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cell in _cells(conn, date_from, date_to, product, currency):
        totals[cell.bucket][0] += cell.accounts
        totals[cell.bucket][1] += cell.receivable_minor
    n_all = sum(t[0] for t in totals.values())
    r_all = sum(t[1] for t in totals.values())
    return [BucketRow(b, n, r, share(r, r_all), share(n, n_all))
            for b, (n, r) in sorted(totals.items(), key=lambda kv: _state_order(kv[0]))]


def _state_order(state: str) -> tuple[int, str]:
    order = (*_ACTIVE_STATES, "WO", "closed")
    return (order.index(state), state) if state in order else (len(order), state)


def _month_ends(conn: Any, date_from: dt.date | None, date_to: dt.date | None,
                product: str | None, currency: str) -> list[cq.MonthEndCell]:
    return cq.month_end_cells(conn, currency=currency, month_from=date_from,
                              month_to=date_to, product=product)


def roll_rates(conn: Any, *, date_from: dt.date | None = None,
               date_to: dt.date | None = None, product: str | None = None,
               currency: str = "CNY") -> list[RollRate]:
    """The balance-weighted roll-rate matrix over the month ends in the range: for each
    from-state (bucket at the previous month end) the share of its receivable there that
    is in each to-state at the month end. Months pooled: the receivables of every month
    end in the range are added before dividing. Each from-state's shares sum to 1 (up to
    rounding) when it had a receivable."""
    flows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for cell in _month_ends(conn, date_from, date_to, product, currency):
        if cell.from_state in _ACTIVE_STATES:
            f = flows[(cell.from_state, cell.to_state)]
            f[0] += cell.from_balance_minor
            f[1] += cell.accounts
    from_totals: dict[str, int] = defaultdict(int)
    for (source, _), (balance, _) in flows.items():
        from_totals[source] += balance
    return [RollRate(s, t, b, n, share(b, from_totals[s]))
            for (s, t), (b, n) in sorted(flows.items(), key=lambda kv: (
                _state_order(kv[0][0]), _state_order(kv[0][1])))]


def _months_between(vintage: str, month_end: dt.date) -> int:
    year, month = (int(x) for x in vintage.split("-"))
    return (month_end.year - year) * 12 + month_end.month - month


def vintage_curves(conn: Any, *, date_from: dt.date | None = None,
                   date_to: dt.date | None = None, product: str | None = None,
                   currency: str = "CNY") -> list[VintagePoint]:
    """For each vintage (opening month) and recorded month end in the range: the
    receivable then 30+ dpd, and the amount written off so far, as shares of the principal
    the vintage lent (balance-weighted); months on book = calendar months from the opening
    month to the month end."""
    points: dict[tuple[str, dt.date], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for cell in _month_ends(conn, date_from, date_to, product, currency):
        p = points[(cell.vintage, cell.month_end)]
        p[0] += cell.accounts
        p[1] += cell.original_minor
        p[2] += cell.balance_minor if cell.dpd30 else 0
        p[3] += cell.written_off_minor
    return [VintagePoint(v, m, _months_between(v, m), n, o, d, w, share(d, o), share(w, o),
                         share(d + w, o))
            for (v, m), (n, o, d, w) in sorted(points.items())]


def grades(conn: Any, *, date_from: dt.date | None = None, date_to: dt.date | None = None,
           product: str | None = None, currency: str = "CNY") -> list[GradeRow]:
    """Approval rate and bad rate by grade of the decisions made in the range.

    Bad: an approved customer who now has a credit account 30 or more days past due or
    written off (:func:`creditpay.credit.portfolio_queries.bad_customers`, counted within
    by :func:`creditpay.risk.decisions.portfolio_queries.approved_customers_by_grade`).
    The horizon is from the decision to the last close of business, so recent decisions
    have had less time to go bad: compare grades within one range, not ranges of different ages. A
    customer who went 30+ dpd and cured before today is not counted (the accounts keep
    today's dpd; month-end history starts with the first recorded month end)."""
    by_grade = {g.grade: g for g in dq.decisions_by_grade(
        conn, currency=currency, day_from=date_from, day_to=date_to, product=product)}
    approved = dq.approved_customers_by_grade(conn, currency=currency, day_from=date_from,
                                              day_to=date_to, product=product)
    bad = dq.approved_customers_by_grade(conn, currency=currency, day_from=date_from,
                                         day_to=date_to, product=product,
                                         among=cq.bad_customers(currency=currency))
    rows = []
    for grade in sorted(set(by_grade) | set(approved)):
        g = by_grade.get(grade, dq.GradeDecisions(grade, 0, 0, 0, 0))
        customers, bad_customers = approved.get(grade, 0), bad.get(grade, 0)
        rows.append(GradeRow(grade, g.decisions, g.approved, g.declined, g.referred,
                             share(g.approved, g.decisions), customers, bad_customers,
                             share(bad_customers, customers)))
    return rows


def _no_product(product: str | None, view: str) -> None:
    if product is not None:
        raise ValidationError(f"the {view} view has no product filter (screenings and "
                              "fraud labels are not per product)", field="product")


def fraud(conn: Any, *, date_from: dt.date | None = None, date_to: dt.date | None = None,
          product: str | None = None, currency: str = "CNY") -> list[FraudRow]:
    """Fraud attempted, caught and lost per month of the range (see
    :mod:`creditpay.risk.fraud.portfolio_queries`): caught = declined at screening +
    confirmed fraud on held payments; lost = chargebacks and consumer reports labelled
    fraud; attempted = caught + lost. No product filter (refused, naming ``product``)."""
    _no_product(product, "fraud")
    rows = []
    for m in fq.fraud_by_month(conn, currency=currency, day_from=date_from, day_to=date_to):
        caught = m.declined + m.confirmed_caught
        caught_minor = m.declined_minor + m.confirmed_caught_minor
        attempted_minor = caught_minor + m.lost_minor
        rows.append(FraudRow(m.month, m.screened, m.screened_minor, caught + m.lost,
                             attempted_minor, caught, caught_minor, m.lost, m.lost_minor,
                             m.declined, m.held, share(caught_minor, attempted_minor)))
    return rows


def _previous_month_end(day: dt.date) -> dt.date:
    return day.replace(day=1) - dt.timedelta(days=1)


def revenue_losses(conn: Any, *, date_from: dt.date | None = None,
                   date_to: dt.date | None = None, product: str | None = None,
                   currency: str = "CNY") -> list[RevenueLossRow]:
    """Per month: interest, fee and penalty income posted on credit accounts (difference of
    the lifetime totals between two recorded month ends; None when the previous month end
    was not recorded), write-offs (accounts written off that month, principal fees and
    penalties) and fraud losses (chargebacks and reports labelled fraud; None with a
    product filter). Months: those of recorded month ends and of write-offs or fraud
    losses dated in the range. Merchant discount revenue is not in it (it belongs to
    payments, not to a credit product)."""
    first = _previous_month_end(date_from) if date_from is not None else None
    income: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for cell in _month_ends(conn, first, date_to, product, currency):
        t = income[cell.month_end]
        t[0] += cell.interest_posted_minor
        t[1] += cell.fee_posted_minor
        t[2] += cell.penalty_posted_minor
    months: dict[str, dict[str, int | None]] = {}

    def row(month: str) -> dict[str, int | None]:
        return months.setdefault(month, {"interest": None, "fee": None, "penalty": None,
                                         "write_off": 0, "fraud": None if product else 0})

    for month_end, totals in income.items():
        if date_from is not None and month_end < date_from:
            continue
        target = row(month_end.strftime("%Y-%m"))
        before = income.get(_previous_month_end(month_end))
        if before is not None:
            target.update(interest=totals[0] - before[0], fee=totals[1] - before[1],
                          penalty=totals[2] - before[2])
    for w in cq.write_offs_by_month(conn, currency=currency, day_from=date_from,
                                    day_to=date_to, product=product):
        row(w.month)["write_off"] = w.written_off_minor
    if product is None:
        for f in fq.fraud_losses_by_month(conn, currency=currency, day_from=date_from,
                                          day_to=date_to):
            if f.lost_minor:
                row(f.month)["fraud"] = f.lost_minor
    result = []
    for month, v in sorted(months.items()):
        parts = (v["interest"], v["fee"], v["penalty"])
        revenue = None if any(p is None for p in parts) else sum(p or 0 for p in parts)
        write_off = int(v["write_off"] or 0)
        fraud_loss = v["fraud"]
        result.append(RevenueLossRow(month, v["interest"], v["fee"], v["penalty"], revenue,
                                     write_off, fraud_loss,
                                     None if fraud_loss is None else write_off + fraud_loss))
    return result


@dataclass(frozen=True)
class View:
    name: str
    function: Callable[..., Sequence[Any]]
    row: type
    title: str


VIEWS: dict[str, View] = {v.name: v for v in (
    View("receivables", receivables_by_product, ProductReceivable, "Receivables by product"),
    View("dpd30", dpd30_share, Dpd30Share, "30+ dpd share of receivables"),
    View("buckets", delinquency_buckets, BucketRow, "Delinquency buckets"),
    View("roll_rates", roll_rates, RollRate, "Monthly roll-rate matrix"),
    View("vintages", vintage_curves, VintagePoint, "Vintage curves"),
    View("grades", grades, GradeRow, "Approval rate and bad rate by grade"),
    View("fraud", fraud, FraudRow, "Fraud attempted, caught and lost"),
    View("revenue_losses", revenue_losses, RevenueLossRow, "Revenue and losses by month"),
)}


def run_view(conn: Any, name: str, *, date_from: dt.date | None = None,
             date_to: dt.date | None = None, product: str | None = None,
             currency: str = "CNY") -> Sequence[Any]:
    """The rows of view ``name`` (a :data:`VIEWS` key; else a ValidationError naming
    ``view``)."""
    view = VIEWS.get(name)
    if view is None:
        raise ValidationError(f"must be one of {', '.join(VIEWS)}", field="view")
    return view.function(conn, date_from=date_from, date_to=date_to, product=product,
                         currency=currency)


def row_dict(row: Any) -> dict[str, Any]:
    """A row as JSON-ready values: Decimals and dates as strings, ints as ints."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(row):
        value = getattr(row, f.name)
        out[f.name] = (str(value) if isinstance(value, Decimal | dt.date) else value)
    return out


def to_csv(name: str, rows: Sequence[Any]) -> str:
    """View ``name``'s rows as CSV text: a header of the row type's field names, one line
    per row, empty cells for None, Decimals and dates as written by ``str``."""
    view = VIEWS.get(name)
    if view is None:
        raise ValidationError(f"must be one of {', '.join(VIEWS)}", field="view")
    names = [f.name for f in dataclasses.fields(view.row)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        values = row_dict(row)
        writer.writerow(["" if values[n] is None else values[n] for n in names])
    return out.getvalue()
