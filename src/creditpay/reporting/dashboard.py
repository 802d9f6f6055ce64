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
screenings and labels dated in the range; the platform's P&L (pnl) takes the ledger's
movements, the closed business dates and the labels dated in the range.
:func:`view_warnings` says which charts the recorded history is too short for (the rules of
:mod:`creditpay.reporting.horizons`, shared with the simulator's report).
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
from fractions import Fraction
from typing import Any

from creditpay.credit import portfolio_queries as cq
from creditpay.credit.schedule import round_fraction
from creditpay.errors import ValidationError
from creditpay.ledger import queries as lq
from creditpay.reporting import horizons as H
from creditpay.reporting import pnl as P
from creditpay.risk.decisions import portfolio_queries as dq
from creditpay.risk.fraud import portfolio_queries as fq

__all__ = ["ProductReceivable", "Dpd30Share", "BucketRow", "RollRate", "VintagePoint",
           "GradeRow", "FraudRow", "RevenueLossRow", "receivables_by_product", "dpd30_share",
           "delinquency_buckets", "roll_rates", "vintage_curves", "grades", "fraud",
           "revenue_losses", "VIEWS", "View", "to_csv", "share", "ALL", "run_view", "row_dict",
           "PnlRow", "pnl", "view_warnings", "PNL_INCOME_ACCOUNTS"]

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
    lent_accounts: int  # accounts lent something by the month end
    bad_accounts: int  # of them, 30+ dpd or written off at the month end
    bad_accounts_share: Decimal  # bad_accounts / lent_accounts
    bad_accounts_low: Decimal | None  # 95 % Wilson interval of bad_accounts_share
    bad_accounts_high: Decimal | None  # (None when no account was lent anything)


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
    partner_share_minor: int  # of those charges, passed to partner lenders
    revenue_minor: int | None  # interest + fees + penalty - partner share
    write_off_minor: int
    fraud_loss_minor: int | None  # not charged back; None with a product filter
    losses_minor: int | None


@dataclass(frozen=True)
class PnlRow:
    """The platform's P&L for one month (minor units; docs/console.md, "P&L")."""

    month: str
    days: int  # closed business dates in the month (and range) with stored positions
    revenue_gross_minor: int  # merchant fees, interest, credit fees, penalty (ledger)
    partner_share_minor: int  # passed to partner lenders (partner_income_share)
    revenue_minor: int  # gross - partner share
    funding_cost_minor: int | None  # own-funded principal-days x rate; None: no days
    write_offs_minor: int  # write_off_expense
    partner_loss_share_minor: int  # borne by partners, net of their recoveries
    recoveries_minor: int  # recovery_income
    credit_losses_minor: int  # write-offs - partners' part - recoveries
    fraud_losses_minor: int  # reported fraud not charged back to the merchant
    net_minor: int | None  # revenue - funding - credit - fraud; None without funding cost
    average_outstanding_minor: int | None  # principal, all funders, over the days
    net_charge_off_rate: Decimal | None  # (write-offs - recoveries) annualised
    funding_rate_bps: int


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
    the vintage lent by that month end (balance-weighted; a pay-later line's lent amount is
    its draws less refunds and conversions, :func:`creditpay.credit.portfolio_queries.
    lent_on_lines`); the count-based share of bad accounts (30+ dpd or written off) among
    those lent something, with its 95 % Wilson interval; months on book = calendar months
    from the opening month to the month end."""
    points: dict[tuple[str, dt.date], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for cell in _month_ends(conn, date_from, date_to, product, currency):
        p = points[(cell.vintage, cell.month_end)]
        p[0] += cell.accounts
        p[1] += cell.original_minor
        p[2] += cell.balance_minor if cell.dpd30 else 0
        p[3] += cell.written_off_minor
        p[4] += cell.lent_accounts
        # A bad account (30+ dpd, or written off) was lent something: it is in lent_accounts.
        p[5] += cell.accounts if cell.dpd30 or cell.to_state == "WO" else 0
    rows = []
    for (v, m), (n, o, d, w, lent, bad) in sorted(points.items()):
        low = high = None
        if lent:
            # Wilson on counts: the cells hold no per-account amounts, so the balance-
            # weighted share gets no interval here (the simulator's report bootstraps it
            # over accounts); the count-based share's interval says how many accounts the
            # point rests on.
            bounds = H.wilson_interval(min(bad, lent), lent)
            low, high = (Decimal(str(b)).quantize(_PLACES, rounding=ROUND_HALF_EVEN)
                         for b in bounds)
        rows.append(VintagePoint(v, m, _months_between(v, m), n, o, d, w, share(d, o),
                                 share(w, o), share(d + w, o), lent, bad, share(bad, lent),
                                 low, high))
    return rows


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
    """Per month, the credit products' revenue and losses (filterable by product; the
    platform's whole P&L, merchant fees and funding cost included, is :func:`pnl`):
    interest, fee and penalty income posted on credit accounts (difference of the lifetime
    totals between two recorded month ends; None when the previous month end was not
    recorded), less the partners' share of those charges (their ``charges`` flows less
    clawbacks dated in the month: the platform does not keep it), write-offs (accounts
    written off that month, principal fees and penalties) and the fraud the platform bears
    (reported fraud not charged back to the merchant,
    :func:`creditpay.risk.fraud.portfolio_queries.fraud_not_charged_back_by_month`; None
    with a product filter). Months: those of recorded month ends and of partner charges,
    write-offs or fraud losses dated in the range."""
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
                                         "partner": 0, "write_off": 0,
                                         "fraud": None if product else 0})

    for month_end, totals in income.items():
        if date_from is not None and month_end < date_from:
            continue
        target = row(month_end.strftime("%Y-%m"))
        before = income.get(_previous_month_end(month_end))
        if before is not None:
            target.update(interest=totals[0] - before[0], fee=totals[1] - before[1],
                          penalty=totals[2] - before[2])
    for month, amount in cq.partner_charges_by_month(conn, currency=currency,
                                                     day_from=date_from, day_to=date_to,
                                                     product=product).items():
        if amount:
            row(month)["partner"] = amount
    for w in cq.write_offs_by_month(conn, currency=currency, day_from=date_from,
                                    day_to=date_to, product=product):
        row(w.month)["write_off"] = w.written_off_minor
    if product is None:
        for f in fq.fraud_not_charged_back_by_month(conn, currency=currency,
                                                    day_from=date_from, day_to=date_to):
            if f.amount_minor:
                row(f.month)["fraud"] = f.amount_minor
    result = []
    for month, v in sorted(months.items()):
        parts = (v["interest"], v["fee"], v["penalty"])
        partner = int(v["partner"] or 0)
        revenue = (None if any(p is None for p in parts)
                   else sum(p or 0 for p in parts) - partner)
        write_off = int(v["write_off"] or 0)
        fraud_loss = v["fraud"]
        result.append(RevenueLossRow(month, v["interest"], v["fee"], v["penalty"], partner,
                                     revenue, write_off, fraud_loss,
                                     None if fraud_loss is None else write_off + fraud_loss))
    return result


# The platform's income accounts (credit-normal) whose movement is the gross revenue; the
# partners' share (partner_income_share) comes off it. Recoveries are not revenue: they
# reduce the credit losses (reporting.pnl).
PNL_INCOME_ACCOUNTS = ("merchant_fee_income", "interest_income", "fee_income",
                       "penalty_income")
_PNL_ACCOUNTS = (*PNL_INCOME_ACCOUNTS, "partner_income_share", "write_off_expense",
                 "partner_loss_share", "recovery_income")
_DEBIT_NORMAL = ("partner_income_share", "write_off_expense")


def pnl(conn: Any, *, date_from: dt.date | None = None, date_to: dt.date | None = None,
        product: str | None = None, currency: str = "CNY",
        funding_rate_bps: int = P.FUNDING_RATE_BPS_DEFAULT) -> list[PnlRow]:
    """The platform's P&L per month of the range, as the simulator's report defines it
    (:mod:`creditpay.reporting.pnl`), from the live records:

    * revenue, partners' share, write-offs, partners' borne losses and recoveries: the
      movements of the platform's ledger accounts in the month
      (:func:`creditpay.ledger.queries.platform_movements_by_month`; credit-normal accounts
      credits - debits, debit-normal ones debits - credits), so over every month they add
      up to the accounts' balances;
    * funding cost: Σ over the month's closed business dates of the own-funded principal
      at the end of the day (active accounts' principal less the partners' funded principal
      outstanding, :func:`creditpay.credit.portfolio_queries.principal_by_day`) ×
      ``funding_rate_bps`` / 10 000 / 365, rounded half up once per month; None (and net
      None) for a month with no stored day-end positions;
    * fraud losses: reported fraud not charged back to the merchant, by the month of its
      first report;
    * the annualised net charge-off rate: (write-offs - recoveries) × 365 / Σ daily
      principal of all funders over the month's closed dates (6 places, half-even).

    No product filter: the platform's accounts are not per product (refused, naming
    ``product``; revenue_losses is per product)."""
    if product is not None:
        raise ValidationError("the pnl view has no product filter (the platform's ledger "
                              "accounts are not per product; see revenue_losses)",
                              field="product")
    if isinstance(funding_rate_bps, bool) or not isinstance(funding_rate_bps, int) \
            or not 0 <= funding_rate_bps <= P.BPS:
        raise ValidationError("must be an integer 0..10000 (basis points a year)",
                              field="funding_rate_bps")
    moved: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_PNL_ACCOUNTS, 0))
    for m in lq.platform_movements_by_month(conn, codes=_PNL_ACCOUNTS, currency=currency,
                                            day_from=date_from, day_to=date_to):
        net = m.debits_minor - m.credits_minor
        moved[m.month][m.code] = net if m.code in _DEBIT_NORMAL else -net
    days: dict[str, list[cq.DayPrincipal]] = defaultdict(list)
    for d in cq.principal_by_day(conn, currency=currency, day_from=date_from,
                                 day_to=date_to):
        days[f"{d.business_date:%Y-%m}"].append(d)
    fraud_lost = {f.month: f.amount_minor for f in fq.fraud_not_charged_back_by_month(
        conn, currency=currency, day_from=date_from, day_to=date_to)}
    rows = []
    for month in sorted(set(moved) | set(days) | set(fraud_lost)):
        v = moved[month]
        closed = days.get(month, [])
        # Own-funded principal cannot be below 0; a day whose partner flows were followed
        # ahead of its positions would otherwise give a negative cost.
        funding = (P.funding_cost_minor([max(d.own_minor, 0) for d in closed],
                                        funding_rate_bps) if closed else None)
        parts = P.pnl_parts(
            revenue_gross_minor=sum(v[c] for c in PNL_INCOME_ACCOUNTS),
            partner_income_share_minor=v["partner_income_share"],
            write_offs_minor=v["write_off_expense"],
            partner_loss_share_minor=v["partner_loss_share"],
            recoveries_minor=v["recovery_income"], funding_cost_minor=funding or 0,
            fraud_losses_minor=fraud_lost.get(month, 0))
        outstanding = [d.principal_minor for d in closed]
        rate = average = None
        if closed:
            exact = P.annualised_rate(v["write_off_expense"] - v["recovery_income"],
                                      outstanding)
            rate = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
                _PLACES, rounding=ROUND_HALF_EVEN)
            average = round_fraction(Fraction(sum(outstanding), len(outstanding)))
        rows.append(PnlRow(
            month, len(closed), sum(v[c] for c in PNL_INCOME_ACCOUNTS),
            v["partner_income_share"], parts["revenue_minor"], funding,
            v["write_off_expense"], v["partner_loss_share"], v["recovery_income"],
            parts["credit_losses_minor"], parts["fraud_losses_minor"],
            parts["net_minor"] if funding is not None else None, average, rate,
            funding_rate_bps))
    return rows


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
    View("pnl", pnl, PnlRow, "Platform P&L by month"),
)}


def run_view(conn: Any, name: str, *, date_from: dt.date | None = None,
             date_to: dt.date | None = None, product: str | None = None,
             currency: str = "CNY", funding_rate_bps: int | None = None) -> Sequence[Any]:
    """The rows of view ``name`` (a :data:`VIEWS` key; else a ValidationError naming
    ``view``). ``funding_rate_bps``: the pnl view's funding rate (None: its default,
    :data:`creditpay.reporting.pnl.FUNDING_RATE_BPS_DEFAULT`); other views ignore it."""
    view = VIEWS.get(name)
    if view is None:
        raise ValidationError(f"must be one of {', '.join(VIEWS)}", field="view")
    extra: dict[str, Any] = {}
    if name == "pnl" and funding_rate_bps is not None:
        extra["funding_rate_bps"] = funding_rate_bps
    return view.function(conn, date_from=date_from, date_to=date_to, product=product,
                         currency=currency, **extra)


def view_warnings(conn: Any, name: str, rows: Sequence[Any], *,
                  date_from: dt.date | None = None, date_to: dt.date | None = None,
                  currency: str = "CNY") -> list[dict[str, str]]:
    """The horizon warnings (``{"chart", "rule", "message"}``) of view ``name`` over its
    ``rows``, by the simulator report's rules (:func:`creditpay.reporting.horizons.
    chart_warnings`): roll_rates needs two recorded month ends in the range; vintages needs
    a vintage at least :data:`~creditpay.reporting.horizons.VINTAGE_MONTHS_ON_BOOK_MIN`
    months on book; buckets needs :data:`~creditpay.reporting.horizons.WRITE_OFF_DPD` days
    since the first recorded past-due month end; grades warns when more than
    :data:`~creditpay.reporting.horizons.UNMATURED_APPROVALS_SHARE_MAX` of the range's
    approvals are younger than :data:`~creditpay.reporting.horizons.BAD_OUTCOME_DAYS` days
    at the last close of business. Other views: none (their measures are flows of the
    months shown). Empty when the history is long enough."""
    chart = {"roll_rates": "roll_rate_matrix", "vintages": "vintages",
             "buckets": "delinquency", "grades": "grade_outcomes"}.get(name)
    if chart is None:
        return []
    closed = cq.last_closed_date(conn)
    if chart == "grade_outcomes":
        if closed is None:
            return []
        total = sum(g.approved for g in dq.decisions_by_grade(
            conn, currency=currency, day_from=date_from, day_to=date_to))
        young_from = closed - dt.timedelta(days=H.BAD_OUTCOME_DAYS - 1)
        if date_to is not None and date_to < young_from:
            recent = 0
        else:
            recent = sum(g.approved for g in dq.decisions_by_grade(
                conn, currency=currency, day_to=date_to,
                day_from=max(young_from, date_from) if date_from else young_from))
        message = H.unmatured_approvals_message(
            recent, total, f"the last close of business ({closed.isoformat()})")
        rules = H.horizon_rules(H.Horizon(start=closed, end=closed))
        return ([] if message is None else
                [{"chart": chart, "rule": rules[chart], "message": message}])
    cells = _month_ends(conn, None, date_to, None, currency)
    month_ends = sorted({c.month_end for c in cells
                         if date_from is None or c.month_end >= date_from})
    # Business dates only (no wall clock): the last close of business, else the last
    # recorded month end; with neither there is nothing recorded to warn about.
    end = closed or (month_ends[-1] if month_ends else None)
    if end is None:
        return []
    # The first month end that recorded an account past due (or written off): the
    # month-end history's resolution of the first past-due day. Past-due accounts today
    # that no month end recorded yet went past due after the last one.
    first_past_due = min((c.month_end for c in cells if c.to_state not in ("M0", "closed")),
                         default=None)
    if chart == "delinquency" and first_past_due is None and any(
            c.bucket != "M0" for c in cq.book_cells(conn, currency=currency)):
        first_past_due = (max(c.month_end for c in cells) + dt.timedelta(days=1)
                          if cells else end)
    horizon = H.Horizon(
        start=date_from or end, end=end, month_ends=month_ends,
        vintage_months_on_book={r.vintage: float(r.months_on_book) for r in rows
                                } if chart == "vintages" else {},
        first_past_due=first_past_due)
    found = H.chart_warnings(horizon)
    return [w for w in found if w["chart"] == chart]


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
