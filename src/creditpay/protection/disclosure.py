"""Key-facts disclosure before any use of credit (right to know, right to choose).

:func:`build_key_facts` turns offer terms into every figure the consumer must see, computed
by :mod:`creditpay.credit.schedule` and :mod:`creditpay.credit.apr`: the schedule, the
all-in annual cost (APR, IRR method with every fee, the figure caps apply to), the nominal
and effective rates, total interest, every fee, total repayable, late-payment rules,
the withdrawal right and the complaint channels. :func:`render_html` renders it in zh-CN or
en with a Jinja2 template (autoescaped) and is deterministic: the same terms give the same
bytes, so the SHA-256 of a document is reproducible. :func:`render_pdf` prints that HTML
with WeasyPrint.

:func:`accept_disclosure` records, with the offer id, the SHA-256 of the exact HTML the
consumer's screen showed (the device sends the hash; it must equal the server's rendering)
and the document itself; :func:`verify_acceptance` proves whether a given document is the
one accepted; :func:`require_accepted_disclosure` is the gate before credit is used.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import operator
import re
import shutil
import subprocess  # nosec B404 - runs fc-list only, with fixed arguments
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from creditpay.credit.apr import AprMethod, all_in_annual_cost, apr_of_schedule
from creditpay.credit.calendar import parse_frequency
from creditpay.credit.schedule import Method, Schedule, ScheduleTerms, build_schedule
from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx
from creditpay.errors import ConflictError, NotFoundError, StateError, ValidationError
from creditpay.formatting import money_text
from creditpay.i18n import NC_, bilingual, translate
from creditpay.platform import audit
from creditpay.platform.validators import (
    check_choice,
    check_count,
    check_language,
    check_minor,
    check_rate,
    check_reference,
)
from creditpay.protection.complaints import DEFAULT_SLA_POLICY, SlaPolicy
from creditpay.protection.tables import disclosure_acceptances
from creditpay.protection.withdrawal import WITHDRAWAL_DAYS_DEFAULT, withdrawal_deadline

if TYPE_CHECKING:  # jinja2 is imported when a document is rendered
    import jinja2

__all__ = [
    "document_csp",
    "TEMPLATE_VERSION",
    "CHANNELS",
    "OfferTerms",
    "KeyFacts",
    "CurrencyConversion",
    "Acceptance",
    "AcceptanceCheck",
    "offer_id_for",
    "build_key_facts",
    "build_key_facts_from",
    "render_html",
    "render_document",
    "KeyFactsDocument",
    "render_pdf",
    "document_sha256",
    "accept_disclosure",
    "verify_acceptance",
    "require_accepted_disclosure",
    "PdfUnavailableError",
    "accepted_document",
    "percent_text",
]

TEMPLATE_VERSION = "key-facts/3"  # bump on any change to the template or its texts (catalog)
TEMPLATES_DIR = Path(__file__).parent / "templates"
CHANNELS = ("app", "web", "ivr", "paper")
_OFFER_ID = re.compile(r'<meta name="creditpay-offer-id" content="([^"]*)">')


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """What a key-facts document is a pure function of. Rates are Decimal fractions
    (``Decimal("0.12")`` = 12 % a year); ``fee_rate_per_period`` is charged on the principal
    every installment (手续费); late fee and penalty rate are the product's."""

    offer_id: str
    lender_name: str
    principal_minor: int
    currency: str
    annual_rate: Decimal
    periods: int
    start_date: dt.date
    method: Method = Method.EQUAL_INSTALLMENT
    frequency: str = "monthly"
    day_count: str = "30/360"
    fee_rate_per_period: Decimal = Decimal(0)
    late_fee_minor: int = 0
    penalty_annual_rate: Decimal = Decimal(0)
    grace_days: int = 3
    withdrawal_days: int = WITHDRAWAL_DAYS_DEFAULT
    # Paid from the wallet on ``start_date`` (minor units): part of the price, not credit;
    # ``principal_minor`` is then the financed rest and every cost figure is of it only.
    down_payment_minor: int = 0

    def __post_init__(self) -> None:
        check_reference(self.offer_id, "offer_id")
        check_minor(self.down_payment_minor, "down_payment_minor")
        if not isinstance(self.lender_name, str) or not 1 <= len(self.lender_name.strip()) \
                <= 128 or "\n" in self.lender_name:
            raise ValidationError("must be the lender's name, 1-128 characters",
                                  field="lender_name")
        check_minor(self.late_fee_minor, "late_fee_minor")
        check_rate(self.penalty_annual_rate, "penalty_annual_rate")
        check_count(self.grace_days, "grace_days", 0, 30)
        check_count(self.withdrawal_days, "withdrawal_days", 1, 90)

    def schedule_terms(self) -> ScheduleTerms:
        return ScheduleTerms(
            principal_minor=self.principal_minor, currency=self.currency,
            annual_rate=self.annual_rate, periods=self.periods, method=self.method,
            start_date=self.start_date, frequency=self.frequency,  # type: ignore[arg-type]
            day_count=self.day_count,  # type: ignore[arg-type]
            fee_rate_per_period=self.fee_rate_per_period)


def offer_id_for(**figures: Any) -> str:
    """A stable id from the figures of an ad-hoc offer (``kf-`` + 24 hex of SHA-256)."""
    text = json.dumps(figures, sort_keys=True, default=str, separators=(",", ":"))
    return "kf-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class CurrencyConversion:
    """Credit for a payment abroad (issue #21): the merchant's amount in its currency and
    the locked FX quote that made it the credit's amount (rates as decimal strings: home
    currency per one foreign unit; the markup in the credit's minor units, included in the
    price; no other conversion fee unless ``fee_minor``)."""

    buy_amount_minor: int
    buy_currency: str
    mid_rate: str
    client_rate: str
    markup_bps: int
    markup_minor: int
    fee_minor: int = 0


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """Every figure of the document, exact (minor units, Decimal fractions)."""

    terms: OfferTerms
    schedule: Schedule
    apr: Decimal  # all-in annual cost: Appendix J / IRR, every fee included
    effective_annual_rate: Decimal  # EU APRC (compounded), for information
    total_interest_minor: int
    total_fees_minor: int
    total_repayable_minor: int
    withdrawal_deadline: dt.date
    sla: SlaPolicy = field(default=DEFAULT_SLA_POLICY)
    # A payment abroad: its currency conversion, stated in a section of its own (absent,
    # the document's bytes are those of a home-currency offer).
    conversion: CurrencyConversion | None = None


def build_key_facts(terms: OfferTerms, sla: SlaPolicy = DEFAULT_SLA_POLICY) -> KeyFacts:
    """Compute the figures of ``terms`` (pure)."""
    if not isinstance(terms, OfferTerms):
        raise ValidationError("must be OfferTerms", field="terms")
    schedule = build_schedule(terms.schedule_terms())
    return KeyFacts(
        terms=terms, schedule=schedule, apr=all_in_annual_cost(schedule),
        effective_annual_rate=apr_of_schedule(schedule, AprMethod.EU),
        total_interest_minor=schedule.totals.interest_minor,
        total_fees_minor=schedule.totals.fee_minor,
        total_repayable_minor=schedule.totals.total_minor,
        withdrawal_deadline=withdrawal_deadline(terms.start_date, terms.withdrawal_days),
        sla=sla)


def build_key_facts_from(schedule: Schedule, apr: Decimal, aprc: Decimal, terms: OfferTerms,
                         sla: SlaPolicy = DEFAULT_SLA_POLICY) -> KeyFacts:
    """The figures of ``terms`` from a schedule and cost figures already computed (pure; no
    solve): ``apr`` is the all-in annual cost and ``aprc`` the EU effective rate, both
    fractions of ``schedule``, as :func:`build_key_facts` would solve them. ``schedule``
    must be the one of ``terms`` (its terms equal ``terms.schedule_terms()``, checked:
    a document must never state the figures of another schedule)."""
    if not isinstance(terms, OfferTerms):
        raise ValidationError("must be OfferTerms", field="terms")
    if not isinstance(schedule, Schedule) or not _is_schedule_of(schedule.terms, terms):
        raise ValidationError("must be the schedule of these offer terms", field="schedule")
    for name, rate in (("apr", apr), ("aprc", aprc)):
        if not isinstance(rate, Decimal) or not rate.is_finite():
            raise ValidationError("must be a finite Decimal fraction", field=name)
    return KeyFacts(
        terms=terms, schedule=schedule, apr=apr, effective_annual_rate=aprc,
        total_interest_minor=schedule.totals.interest_minor,
        total_fees_minor=schedule.totals.fee_minor,
        total_repayable_minor=schedule.totals.total_minor,
        withdrawal_deadline=withdrawal_deadline(terms.start_date, terms.withdrawal_days),
        sla=sla)


# The schedule terms an offer's terms leave at their defaults (name, default).
_OTHER_TERMS = tuple((f.name, f.default) for f in fields(ScheduleTerms) if f.name not in {
    "principal_minor", "currency", "annual_rate", "periods", "method", "start_date",
    "frequency", "day_count", "fee_rate_per_period"})


def _is_schedule_of(schedule_terms: ScheduleTerms, terms: OfferTerms) -> bool:
    """Whether ``schedule_terms`` equal ``terms.schedule_terms()``. Compared field by field
    first (a schedule's terms are already normalised, and every value of ``terms`` equal to
    them normalises to them), without building and validating the terms again; any field
    that differs falls back to the full comparison, which normalises ``terms``."""
    given = schedule_terms
    if (given.principal_minor == terms.principal_minor and given.currency == terms.currency
            and given.annual_rate == terms.annual_rate and given.periods == terms.periods
            and given.method == terms.method and given.start_date == terms.start_date
            and given.frequency == terms.frequency and given.day_count == terms.day_count
            and given.fee_rate_per_period == terms.fee_rate_per_period
            and type(given.start_date) is type(terms.start_date)
            and type(terms.annual_rate) is Decimal and type(terms.fee_rate_per_period) is Decimal
            and type(terms.principal_minor) is int and type(terms.periods) is int
            and all(getattr(given, name) == default for name, default in _OTHER_TERMS)):
        return True
    return bool(given == terms.schedule_terms())


# ----- rendering ----------------------------------------------------------------------------
# Every text of the document is a msgid (English) of the gettext domain ``creditpay`` under
# the context ``key facts`` (creditpay.i18n; zh-CN in locale/zh_CN/LC_MESSAGES/creditpay.po):
# a change there changes the bytes of every new document, so it bumps TEMPLATE_VERSION
# (tests/compliance/test_key_facts_bytes.py pins the SHA-256 of reference documents).
_KEY_FACTS = "key facts"
_LABELS: dict[str, str] = {
    "title": NC_("key facts", "Key facts statement"),
    "offer_id": NC_("key facts", "Offer"),
    "lender": NC_("key facts", "Lender"),
    "issued_on": NC_("key facts", "Issued on"),
    "template_version": NC_("key facts", "Template version"),
    "intro": NC_("key facts", "Please read this statement before you accept the credit. It "
                              "lists every cost of this credit; nothing else will be charged."),
    "summary": NC_("key facts", "1. Summary"),
    "principal": NC_("key facts", "Amount of credit"),
    "term": NC_("key facts", "Term"),
    "method": NC_("key facts", "Repayment method"),
    "apr": NC_("key facts", "All-in annual cost (APR, IRR method, every fee included)"),
    "nominal_rate": NC_("key facts", "Contract interest rate (simple, fees excluded)"),
    "effective_rate": NC_("key facts",
                          "Effective annual rate (compounded, every fee included)"),
    "total_interest": NC_("key facts", "Total interest"),
    "total_fees": NC_("key facts", "Total fees"),
    "total_repayable": NC_("key facts", "Total amount repayable"),
    "first_due": NC_("key facts", "First due date"),
    "apr_note": NC_("key facts", "The all-in annual cost is computed by the "
                                 "internal-rate-of-return (IRR) method from interest and every "
                                 "fee; it is the one figure to compare this credit with any "
                                 "other."),
    "fees": NC_("key facts", "2. Every fee"),
    "fee_name": NC_("key facts", "Fee"),
    "fee_basis": NC_("key facts", "How it is charged"),
    "fee_amount": NC_("key facts", "Amount each time"),
    "fee_total": NC_("key facts", "Total"),
    "no_other_fees": NC_("key facts", "No fee other than those listed above is charged; "
                                      "repaying early costs no penalty."),
    "schedule": NC_("key facts", "3. Repayment schedule"),
    "number": NC_("key facts", "No."),
    "due_date": NC_("key facts", "Due date"),
    "principal_part": NC_("key facts", "Principal"),
    "interest_part": NC_("key facts", "Interest"),
    # msgctxt "key facts column": the same English word as the fee table's "Fee" column,
    # another Chinese one (手续费, not 费用项目).
    "fee_part": NC_("key facts column", "Fee"),
    "installment_total": NC_("key facts", "Installment"),
    "balance_after": NC_("key facts", "Principal left"),
    "totals": NC_("key facts", "Totals"),
    "late": NC_("key facts", "4. Late payment"),
    "withdrawal": NC_("key facts", "5. Right of withdrawal"),
    "choice": NC_("key facts", "6. Your choice"),
    "choice_text": NC_("key facts", "Paying with credit is your choice, never the default. You "
                                    "can pay with your balance or a bank card instead; "
                                    "declining this credit does not affect any other payment "
                                    "service."),
    "complaints": NC_("key facts", "7. Complaints"),
    "footer": NC_("key facts", "This statement is generated from the offer above. When you "
                               "accept, the SHA-256 digest of this document is recorded, which "
                               "proves that what you saw is what you accepted."),
    "price": NC_("key facts", "Price"),
    "down_payment": NC_("key facts", "Down payment (paid today from your balance; not credit)"),
    "total_payable": NC_("key facts", "Total you pay (down payment + total repayable)"),
    "down_payment_row": NC_("key facts", "Down payment"),
    "conversion": NC_("key facts", "Currency conversion"),
    "conversion_intro": NC_("key facts", "This credit pays a merchant abroad in its own "
                                         "currency. The price in your currency comes from the "
                                         "exchange rate locked for you below; a refund comes "
                                         "back at the same rate."),
    "foreign_amount": NC_("key facts", "Amount the merchant receives"),
    "mid_rate": NC_("key facts", "Mid-market exchange rate"),
    "client_rate": NC_("key facts", "Our exchange rate"),
    "fx_markup": NC_("key facts", "Exchange-rate markup (included in the price)"),
    "fx_fee": NC_("key facts", "Other currency-conversion fees"),
    "fx_total": NC_("key facts", "Price in your currency"),
    "down_payment_note": NC_("key facts", "The down payment is part of the price, paid today "
                                          "from your balance; it is not credit. The amount of "
                                          "credit is the price less the down payment, and the "
                                          "all-in annual cost, interest and fees are of that "
                                          "amount only."),
}
# The context of a label that is not _KEY_FACTS.
_LABEL_CONTEXTS = {"fee_part": "key facts column"}

_METHOD_NAMES = {
    Method.EQUAL_INSTALLMENT: NC_("key facts", "equal installments (annuity)"),
    Method.EQUAL_PRINCIPAL: NC_("key facts", "equal principal"),
    Method.FLAT: NC_("key facts", "flat (fee on the original principal)"),
    Method.INTEREST_ONLY: NC_("key facts", "interest only, principal at the end"),
    Method.BULLET: NC_("key facts", "single repayment at the end"),
}
_FREQUENCY_UNITS = {"monthly": NC_("key facts", "months"), "weekly": NC_("key facts", "weeks"),
                    "biweekly": NC_("key facts", "fortnights"),
                    "daily": NC_("key facts", "days"),
                    "semimonthly": NC_("key facts", "half-months"),
                    "quarterly": NC_("key facts", "quarters"),
                    "annual": NC_("key facts", "years")}
_OTHER_UNIT = NC_("key facts", "periods")
_COMPLAINT_CHANNELS = (
    NC_("key facts", "In the app: Me - Help & complaints (24/7)"),
    NC_("key facts", "Customer service hotline (24/7)"),
    NC_("key facts", "People's Bank of China consumer protection hotline: 12363"),
    NC_("key facts", "National Financial Regulatory Administration consumer hotline: 12378"),
)
_LATE_RULES = (
    NC_("key facts", "Each due date is followed by a grace period of {grace} days; paying in "
                     "full within it costs no late fee and no penalty interest."),
    NC_("key facts", "If an installment is still unpaid when the grace period ends, a late fee "
                     "of {late} is charged once for that due date, and penalty interest of "
                     "{penalty} a year accrues daily on the overdue principal until it is "
                     "paid."),
    NC_("key facts", "Late payments may be reported to credit bureaus as the law requires. "
                     "Collections contact only your own verified contact details, never your "
                     "family, friends or other third parties, and respect limits on contact "
                     "hours and frequency."),
)


def percent_text(rate: Decimal) -> str:
    """A rate fraction as a percent with 2 decimals, half-up (0.18047 -> '18.05%')."""
    return f"{(rate * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


# Pure memo (kept): the texts of a document that depend on its language and a few product
# terms only (the fee table's names and bases, the late-payment rules, the complaint
# channels and answer times), keyed by every value they are made of. Every document of a
# product in a language writes the same ones; translating and formatting them for each
# document was a fifth of its rendering.
@lru_cache(maxsize=256)
def _fixed_texts(lang: str, currency: str, fee_rate: Decimal, late_fee_minor: int,
                 penalty_rate: Decimal, grace_days: int, acknowledge_hours: int,
                 resolve_days: int) -> tuple[tuple[tuple[str, str], ...], str, tuple[str, ...],
                                             str, tuple[str, ...], str, str]:
    """((name, basis) of each fee row, the late fee as money, the late rules, the complaints
    text, the complaint channels, "only if late", "none")."""
    def text(message: str, **values: str | int) -> str:
        return translate(message, lang, context=_KEY_FACTS, **values)

    late = money_text(late_fee_minor, currency, lang)
    none = text(NC_("key facts", "none"))
    fees = (
        (text(NC_("key facts", "Installment fee")),
         text(NC_("key facts", "{rate} of the amount of credit, every installment"),
              rate=percent_text(fee_rate))),
        (text(NC_("key facts", "Late fee")),
         text(NC_("key facts", "once per missed due date, after the grace period"))),
        (text(NC_("key facts", "Penalty interest")),
         text(NC_("key facts", "{rate} a year on overdue principal, daily"),
              rate=percent_text(penalty_rate))),
        (text(NC_("key facts", "Early repayment fee")), none),
        (text(NC_("key facts", "Withdrawal fee")), none))
    late_rules = tuple(text(rule, grace=grace_days, late=late,
                            penalty=percent_text(penalty_rate)) for rule in _LATE_RULES)
    complaints_text = text(NC_(
        "key facts", "We acknowledge a complaint within {hours} hours and give our answer "
                     "within {days} days; late cases are escalated automatically. If you are "
                     "not satisfied, you may complain to the financial regulator."),
        hours=acknowledge_hours, days=resolve_days)
    channels = tuple(text(channel) for channel in _COMPLAINT_CHANNELS)
    return (fees, late, late_rules, complaints_text, channels,
            text(NC_("key facts", "only if late")), none)


def _figures(facts: KeyFacts, lang: str) -> SimpleNamespace:
    """The document's figures in ``lang``, as objects of attributes (lists kept as lists).

    Jinja resolves ``f.name`` by ``getattr`` first and, on a dict, only after that failed
    (an AttributeError raised and caught for each of the ~175 look-ups of a document):
    attributes are found at once. The output is the same: every name is a plain identifier
    and none is an attribute of the namespace type itself."""
    layout, values = _figures_flat(facts, lang)
    return _as_namespace(_layout(*layout), iter(values))


# The layout of a document's figures: what :func:`_as_namespace` makes of their values in
# order. ``_SLOT`` is one value; ("c", value) a constant (not a value); ("n", names,
# layouts) an object with those attributes; ("l", layouts) a list.
_SLOT = 0
_SUMMARY = ("offer_id", "lender_name", "issued_on", "principal", "term", "method",
            "apr_percent", "nominal_rate_percent", "effective_rate_percent", "total_interest",
            "total_fees", "total_principal", "total_repayable", "first_due_date")
_FEE_ROW = ("n", ("name", "basis", "amount", "total"), (_SLOT,) * 4)
_SCHEDULE_ROW = ("n", ("number", "due_date", "principal", "interest", "fee", "total",
                       "balance_after"), (_SLOT,) * 7)
_CONVERSION = ("n", ("foreign", "mid", "client", "markup", "fee", "total"), (_SLOT,) * 6)
_LayoutKey = tuple[bool, bool, int, int, int, int]


@lru_cache(maxsize=256)
def _layout(down_payment: bool, conversion: bool, fees: int, rows: int, late_rules: int,
            channels: int) -> Any:
    """The layout of the figures :func:`_figures_flat` writes (see ``_SLOT``), by what
    varies between documents: whether there is a down payment and a conversion, and the
    length of each list."""
    names = (*_SUMMARY, "fees", "down_payment", "price", "total_payable", "schedule",
             "late_rules", "withdrawal_text", "complaints_text", "complaint_channels",
             "conversion")
    layouts = ((_SLOT,) * len(_SUMMARY) + (
        ("l", (_FEE_ROW,) * fees), _SLOT if down_payment else ("c", None), _SLOT, _SLOT,
        ("l", (_SCHEDULE_ROW,) * rows), ("l", (_SLOT,) * late_rules), _SLOT, _SLOT,
        ("l", (_SLOT,) * channels), _CONVERSION if conversion else ("c", None)))
    return ("n", names, layouts)


def _as_namespace(layout: Any, values: Any) -> Any:
    """The figures of ``layout`` taking each slot's value from the iterator ``values``."""
    if layout is _SLOT:
        return next(values)
    tag = layout[0]
    if tag == "c":
        return layout[1]
    if tag == "l":
        return [_as_namespace(item, values) for item in layout[1]]
    return SimpleNamespace(**{name: _as_namespace(item, values)
                              for name, item in zip(layout[1], layout[2], strict=True)})


def _figures_flat(facts: KeyFacts, lang: str) -> tuple[_LayoutKey, list[Any]]:
    """(the key of the figures' :func:`_layout`, their values in its order)."""
    terms = facts.terms
    cur = terms.currency
    formatted: dict[int, str] = {}  # a schedule repeats its amounts: each formatted once

    def money(minor: int) -> str:
        found = formatted.get(minor)
        if found is None:
            found = formatted[minor] = money_text(minor, cur, lang)
        return found

    def text(message: str, **values: str | int) -> str:
        return translate(message, lang, context=_KEY_FACTS, **values)

    schedule = facts.schedule
    down = terms.down_payment_minor
    first_number = 2 if down else 1  # with a down payment, it is installment 1
    per_period_fee = schedule.installments[0].fee_minor
    periods = len(schedule.installments)
    unit = _FREQUENCY_UNITS.get(str(parse_frequency(terms.frequency)), _OTHER_UNIT)
    fee_rows, late, late_rules, complaints_text, channels, if_late, _ = _fixed_texts(
        lang, cur, terms.fee_rate_per_period, terms.late_fee_minor,
        terms.penalty_annual_rate, terms.grace_days, facts.sla.acknowledge_hours,
        facts.sla.resolve_days)
    zero = money(0)
    fee_figures = ((money(per_period_fee), money(facts.total_fees_minor)), (late, if_late),
                   ("—", if_late), (zero, zero), (zero, zero))
    withdrawal_text = text(NC_(
        "key facts", "You may withdraw from this credit without giving a reason within {days} "
                     "days of the day it is paid out (up to and including {deadline}): you "
                     "repay the amount of credit and the interest for the days you used it at "
                     "the contract rate of {rate} a year, and nothing else; any fee already "
                     "paid is refunded."),
        days=terms.withdrawal_days, deadline=facts.withdrawal_deadline.isoformat(),
        rate=percent_text(terms.annual_rate))
    conversion = _conversion(facts.conversion, cur, down + terms.principal_minor, lang)
    values: list[Any] = [
        terms.offer_id, terms.lender_name, terms.start_date.isoformat(),
        money(terms.principal_minor), f"{periods} {text(unit)}",
        text(_METHOD_NAMES[schedule.terms.method]), percent_text(facts.apr),
        percent_text(terms.annual_rate), percent_text(facts.effective_annual_rate),
        money(facts.total_interest_minor), money(facts.total_fees_minor),
        money(schedule.totals.principal_minor), money(facts.total_repayable_minor),
        schedule.installments[0].due_date.isoformat()]
    for (name, basis), (amount, total) in zip(fee_rows, fee_figures, strict=True):
        values += (name, basis, amount, total)
    if down:
        values.append(money(down))
    values += (money(down + terms.principal_minor), money(down + facts.total_repayable_minor))
    for row in schedule.installments:
        values += (first_number + row.number - 1, row.due_date.isoformat(),
                   money(row.principal_minor), money(row.interest_minor), money(row.fee_minor),
                   money(row.total_minor), money(row.balance_after_minor))
    values += late_rules
    values += (withdrawal_text, complaints_text)
    values += channels
    if conversion is not None:
        values += (conversion["foreign"], conversion["mid"], conversion["client"],
                   conversion["markup"], conversion["fee"], conversion["total"])
    key = (bool(down), conversion is not None, len(fee_rows), periods, len(late_rules),
           len(channels))
    return key, values


def _conversion(conversion: CurrencyConversion | None, currency: str, price_minor: int,
                lang: str) -> dict[str, Any] | None:
    """The figures of the currency-conversion section (None: no section)."""
    if conversion is None:
        return None
    buy = conversion.buy_currency
    return {"foreign": money_text(conversion.buy_amount_minor, buy, lang),
            "mid": f"1 {buy} = {conversion.mid_rate} {currency}",
            "client": f"1 {buy} = {conversion.client_rate} {currency}",
            "markup": f"{percent_text(Decimal(conversion.markup_bps) / 10_000)} · "
                      f"{money_text(conversion.markup_minor, currency, lang)}",
            "fee": money_text(conversion.fee_minor, currency, lang),
            "total": money_text(price_minor, currency, lang)}


# Pure memo (kept, one entry per language): the packaged template with its labels in
# ``lang`` written in, compiled once. A document's ~60 labels, its language and the
# template version are the same in every document of a language; rendering them as
# variables escaped and looked them up again for every document (most of the Jinja work).
@lru_cache(maxsize=8)
def _template(lang: str) -> tuple[jinja2.Template, SimpleNamespace]:
    """(the template with the labels of ``lang`` written in, those labels): the labels are
    still passed to the template for any that could not be written in (as attributes, see
    :func:`_figures`)."""
    return _environment().from_string(_specialised_source(lang)), _labels(lang)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)


@lru_cache(maxsize=8)
def _specialised_source(lang: str) -> str:
    """The packaged template's source with the labels of ``lang``, the language and the
    template version written in where they can be (see :func:`_template`)."""
    import markupsafe

    environment = _environment()
    source, _, _ = environment.loader.get_source(environment,  # type: ignore[union-attr]
                                                 "key_facts.html")
    labels = vars(_labels(lang))
    fixed = {"lang": lang, "template_version": TEMPLATE_VERSION,
             **{f"t.{key}": value for key, value in labels.items()}}

    def written_in(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fixed:
            return match.group(0)  # a figure of the offer: rendered (and escaped) per call
        # Escaped exactly as autoescape escapes it. Written into the source only when the
        # escaped text cannot mean anything to Jinja's lexer (no delimiter, no carriage
        # return, which the lexer would normalise); otherwise it stays a variable.
        text = str(markupsafe.escape(fixed[name]))
        if "\r" in text or any(mark in text for mark in ("{", "}", "#", "%")):
            return match.group(0)
        return text

    return _FIXED_EXPRESSION.sub(written_in, source)


# ``{{ name }}`` of a label (``t.x``), the language or the template version: the values a
# document's language fixes (see :func:`_template`).
_FIXED_EXPRESSION = re.compile(r"\{\{ ((?:t\.)?[a-z_]+) \}\}")


def _labels(lang: str) -> SimpleNamespace:
    """The document's labels in ``lang``, as attributes (see :func:`_figures`)."""
    return SimpleNamespace(**{key: translate(message, lang,
                                             context=_LABEL_CONTEXTS.get(key, _KEY_FACTS))
                              for key, message in _LABELS.items()})


def render_html(facts: KeyFacts, language: str) -> bytes:
    """The key-facts document as UTF-8 HTML bytes; deterministic (same facts, same bytes)."""
    lang = check_language(language)
    key, values = _figures_flat(facts, lang)
    text = _render_by_skeleton(lang, key, values)
    if text is None:  # a figure or a template construct the skeleton does not cover
        template, labels = _template(lang)
        text = template.render(lang=lang, t=labels,
                               f=_as_namespace(_layout(*key), iter(values)),
                               template_version=TEMPLATE_VERSION)
    return text.replace("\r\n", "\n").encode("utf-8")


# ----- the document's skeleton --------------------------------------------------------------
# Why by hand: Jinja's compiled template writes a document as its fixed text with one
# ``escape(getattr(...))`` per figure slot, ~100 to 250 slots a document; with the labels
# already written in (``_template``) that per-slot work (a getattr, a Markup built, the
# join) was most of a document's rendering. What the template writes besides the figures
# depends only on the language and on the figures' layout (which sections are shown: the
# ``{% if %}`` tests; how many rows: the ``{% for %}`` loops), so Jinja renders it once per
# (language, layout) with a marker in every slot (a pure memo keyed by immutable values:
# the language and the layout's key of booleans and counts), and each document is that
# text with each marker replaced by its figure escaped exactly as autoescape does
# (markupsafe's escape, called only for a figure holding one of the five characters it
# replaces). Equal to Jinja's rendering byte for byte by construction, as long as
# - every figure is a non-empty str or a non-zero int (not bool): a marker is a non-empty
#   string, so it decides an ``{% if %}`` as the figure would, and Jinja writes an int as
#   ``str()`` does; any other figure goes to Jinja (checked per document);
# - the template's every ``{{ }}`` is a plain variable or attribute (no filter, call, test
#   or arithmetic, which would see the marker instead of the figure), every ``{% if %}``
#   tests one and every ``{% for %}`` loops over one: checked on the template's syntax tree
#   (``_skeleton_safe``), else Jinja renders every document as before;
# - no fixed text holds the marker character (checked on the skeleton).
# tests/compliance/test_key_facts_skeleton.py compares the two on random documents.
_MARK = "\x00"
_MARKS = re.compile("\x00([0-9]+)\x00")
_NEEDS_ESCAPE = re.compile("[&<>\"']").search


class _Counter:
    """Markers numbered in slot order (an iterator for :func:`_as_namespace`)."""

    def __init__(self) -> None:
        self.count = 0

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> str:
        self.count += 1
        return f"{_MARK}{self.count - 1}{_MARK}"


@lru_cache(maxsize=512)
def _skeleton(lang: str, key: _LayoutKey
              ) -> tuple[tuple[str, ...], Callable[[list[str]], tuple[str, ...]]] | None:
    """(the fixed texts between the slots of the document in ``lang`` whose figures have
    the layout of ``key``, what picks from the figures the one written after each text but
    the last, in order); None when the template is not :func:`_skeleton_safe` or its fixed
    text holds the marker character."""
    if not _skeleton_safe(lang):
        return None
    template, labels = _template(lang)
    text = template.render(lang=lang, t=labels, f=_as_namespace(_layout(*key), _Counter()),
                           template_version=TEMPLATE_VERSION)
    parts = _MARKS.split(text)
    texts, order = tuple(parts[0::2]), tuple(int(n) for n in parts[1::2])
    if any(_MARK in part for part in texts):
        return None
    if len(order) == 1:  # itemgetter of one index gives the item, not a tuple
        return texts, lambda written: (written[order[0]],)
    return texts, operator.itemgetter(*order)


@lru_cache(maxsize=8)
def _skeleton_safe(lang: str) -> bool:
    """Whether the template specialised for ``lang`` is :func:`_plain_template`."""
    return _plain_template(_specialised_source(lang))


def _plain_template(source: str) -> bool:
    """Whether every construct of the template ``source`` is one the skeleton reproduces
    exactly (see above): plain text, ``{{ name }}`` / ``{{ a.b.c }}``, ``{% if a.b %}``
    (with ``elif`` / ``else``) and ``{% for x in a.b %}`` without ``else``, filter or
    recursion."""
    from jinja2 import nodes

    def plain(node: nodes.Node) -> bool:
        while isinstance(node, nodes.Getattr):
            node = node.node
        return isinstance(node, nodes.Name) and node.ctx == "load"

    def body_ok(body: list[nodes.Node]) -> bool:
        for node in body:
            if isinstance(node, nodes.Output):
                if not all(isinstance(item, nodes.TemplateData) or plain(item)
                           for item in node.nodes):
                    return False
            elif isinstance(node, nodes.If):
                if not (plain(node.test) and body_ok(node.body) and body_ok(node.else_)
                        and all(isinstance(e, nodes.If) and plain(e.test) and body_ok(e.body)
                                for e in node.elif_)):
                    return False
            elif isinstance(node, nodes.For):
                if not (isinstance(node.target, nodes.Name) and plain(node.iter)
                        and not node.else_ and node.test is None and not node.recursive
                        and body_ok(node.body)):
                    return False
            else:
                return False
        return True

    return body_ok(_environment().parse(source).body)


_SLOT_TYPES = frozenset({str, int})


def _render_by_skeleton(lang: str, key: _LayoutKey, values: list[Any]) -> str | None:
    """The document's text from its skeleton (None: not covered, see above)."""
    if not all(values) or not set(map(type, values)) <= _SLOT_TYPES:
        return None
    skeleton = _skeleton(lang, key)
    if skeleton is None:
        return None
    texts, pick = skeleton
    # Every figure escaped in one call: joined by the marker character (which escaping
    # leaves alone), escaped, split again; a figure holding that character itself is
    # escaped on its own instead.
    joined = _MARK.join(map(str, values))
    if joined.count(_MARK) == len(values) - 1:
        written = _escaped_text(joined).split(_MARK)
    else:
        written = [value if type(value) is str and _NEEDS_ESCAPE(value) is None
                   else _escaped(value) for value in values]
    out: list[str] = [""] * (2 * len(texts) - 1)
    out[0::2] = texts
    out[1::2] = pick(written)
    return "".join(out)


def _escaped_text(text: str) -> str:
    """``text`` as Jinja's autoescape writes it (markupsafe's escape), a str."""
    from markupsafe import escape

    return str(escape(text))


def _escaped(value: str | int) -> str:
    """``value`` as Jinja's autoescape writes it (a document whose figures hold the marker
    character has them escaped one by one)."""
    from markupsafe import escape

    return str(escape(value))


@dataclass(frozen=True, slots=True)
class KeyFactsDocument:
    """A key-facts document as rendered for the consumer: its figures, its language, the
    exact HTML bytes and their SHA-256 (hex). Made by :func:`render_document` only, so the
    bytes are always the rendering of the figures."""

    facts: KeyFacts
    language: str
    html: bytes
    sha256: str


def render_document(facts: KeyFacts, language: str) -> KeyFactsDocument:
    """:func:`render_html` of ``facts`` in ``language`` with its SHA-256."""
    html = render_html(facts, language)
    return KeyFactsDocument(facts, check_language(language), html, document_sha256(html))


def document_sha256(document: bytes) -> str:
    if not isinstance(document, bytes | bytearray):
        raise ValidationError("must be the document's bytes", field="document")
    return hashlib.sha256(document).hexdigest()


class PdfUnavailableError(StateError):
    type_slug = "pdf-unavailable"
    title = "PDF rendering unavailable"


def _has_cjk_font() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    found = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True,  # nosec B603
                           timeout=10, check=False)
    return bool(found.stdout.strip())


def render_pdf(document: bytes) -> bytes:
    """Print a rendered key-facts HTML document to PDF with WeasyPrint.

    Refuses (PdfUnavailableError) when WeasyPrint is missing, or when the document is Chinese
    and no Chinese font is installed: a PDF of empty boxes must never reach a consumer. The
    bytes are reproducible when ``SOURCE_DATE_EPOCH`` is set (fonts embed a timestamp
    otherwise); the accepted document is the HTML, whose hash is what is recorded.
    """
    document_sha256(document)
    try:
        import weasyprint
    except ImportError:
        raise PdfUnavailableError("WeasyPrint is not installed ('pip install weasyprint')",
                                  field="format", rule="disclosure.pdf_unavailable") from None
    html = bytes(document).decode("utf-8")
    if 'lang="zh-CN"' in html[:200] and not _has_cjk_font():
        raise PdfUnavailableError("no Chinese font installed (e.g. Debian fonts-wqy-microhei)",
                                  field="format", rule="disclosure.cjk_font_missing")
    return weasyprint.HTML(string=html, base_url=str(TEMPLATES_DIR)).write_pdf()


# ----- acceptance ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Acceptance:
    id: int
    offer_id: str
    customer_id: str
    language: str
    template_version: str
    document_sha256: str
    channel: str
    accepted_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["accepted_at"] = self.accepted_at.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class AcceptanceCheck:
    """Outcome of :func:`verify_acceptance`."""

    matches: bool  # the given document is, byte for byte, the one accepted
    given_sha256: str
    accepted_sha256: str
    stored_document_intact: bool  # the stored copy still hashes to the recorded digest
    acceptance: Acceptance


def _acceptance(row: Any) -> Acceptance:
    return Acceptance(row.id, row.offer_id, row.customer_id, row.language,
                      row.template_version, row.document_sha256, row.channel,
                      row.accepted_at)


# Constant statements run on the driver (creditpay.db.prepared): every credit checkout
# records its acceptance (the read by offer serves a conflict and the stored document).
_ACCEPTANCE_BY_OFFER = Prepared(select(disclosure_acceptances).where(
    disclosure_acceptances.c.offer_id == bindparam("offer_id")))
_ACCEPTANCE_COLUMNS = ("offer_id", "customer_id", "language", "template_version",
                       "document_sha256", "document_html", "channel", "accepted_at")
_INSERT_ACCEPTANCE = {
    dialect: Prepared(insert(disclosure_acceptances).on_conflict_do_nothing(
        index_elements=["offer_id"]).returning(disclosure_acceptances.c.id),
        columns=_ACCEPTANCE_COLUMNS)
    for dialect, insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))}


def accept_disclosure(tx: Tx, *, customer_id: str, shown_sha256: str, channel: str,
                      facts: KeyFacts | None = None, language: str | None = None,
                      document: KeyFactsDocument | None = None) -> Acceptance:
    """Record that ``customer_id`` accepted the key facts of ``facts.terms.offer_id``.

    The document is ``document`` when the caller already rendered it (with
    :func:`render_document`, e.g. to find which language the consumer read), else
    ``facts`` rendered here in ``language``; ``shown_sha256`` (the hash the consumer's
    device computed of the document it displayed) must equal its SHA-256, otherwise the
    consumer saw something else and nothing is recorded. One acceptance per offer:
    repeating the same acceptance returns it; a different customer or document is a
    ConflictError.
    """
    check_reference(customer_id, "customer_id")
    check_choice(channel, CHANNELS, "channel")
    if document is None:
        if not isinstance(facts, KeyFacts):
            raise ValidationError("must be KeyFacts from build_key_facts", field="facts")
        document = render_document(facts, language if language is not None else "")
    elif not isinstance(document, KeyFactsDocument):
        raise ValidationError("must be a document from render_document", field="document")
    facts, language = document.facts, document.language
    digest = document.sha256
    if shown_sha256 != digest:
        raise ValidationError("is not the SHA-256 of the key-facts document for this offer "
                              "and language; show the consumer the current document",
                              field="shown_sha256")
    offer_id = facts.terms.offer_id
    values = {"offer_id": offer_id, "customer_id": customer_id, "language": language,
              "template_version": TEMPLATE_VERSION, "document_sha256": digest,
              "document_html": document.html.decode("utf-8"), "channel": channel,
              "accepted_at": tx.now}
    # Insert first (the offer id is the table's only unique key): a new acceptance, the
    # common case, costs one statement. Nothing is inserted when the offer was accepted
    # before or by a concurrent transaction (which ON CONFLICT waits for); only then is
    # the stored acceptance read, to repeat it or to refuse a different one.
    assert tuple(values) == _ACCEPTANCE_COLUMNS, "an acceptance's columns changed"
    new_id = _INSERT_ACCEPTANCE[tx.dialect].scalar(tx.conn, values)
    if new_id is None:
        existing = _ACCEPTANCE_BY_OFFER.one(tx.conn, {"offer_id": offer_id})
        if existing.customer_id == customer_id and existing.document_sha256 == digest:
            return _acceptance(existing)
        raise ConflictError("this offer was already accepted with another document or by "
                            "another customer", field="offer_id",
                            rule="disclosure.already_accepted")
    audit.append(tx, "customer", customer_id, "disclosure.accepted", "offer", offer_id,
                 {"acceptance_id": new_id, "document_sha256": digest, "language": language,
                  "template_version": TEMPLATE_VERSION, "channel": channel,
                  "apr_percent": percent_text(facts.apr),
                  "total_repayable_minor": facts.total_repayable_minor,
                  "currency": facts.terms.currency})
    return Acceptance(new_id, offer_id, customer_id, language, TEMPLATE_VERSION, digest,
                      channel, tx.now.astimezone(dt.UTC))


def _stored(conn: Connection, offer_id: str) -> Any:
    check_reference(offer_id, "offer_id")
    row = _ACCEPTANCE_BY_OFFER.first(conn, {"offer_id": offer_id})
    if row is None:
        raise NotFoundError(f"offer {offer_id} has no accepted disclosure", field="offer_id")
    return row


def verify_acceptance(conn: Connection, offer_id: str, document: bytes) -> AcceptanceCheck:
    """Whether ``document`` is exactly the key-facts document accepted for ``offer_id``.

    Also re-hashes the stored copy, so an edit of the stored document is reported
    (``stored_document_intact`` False); the audit record of the acceptance carries the digest
    too, under the hash chain.
    """
    given = document_sha256(document)
    row = _stored(conn, offer_id)
    stored = hashlib.sha256(row.document_html.encode("utf-8")).hexdigest()
    return AcceptanceCheck(matches=given == row.document_sha256, given_sha256=given,
                           accepted_sha256=row.document_sha256,
                           stored_document_intact=stored == row.document_sha256,
                           acceptance=_acceptance(row))


def accepted_document(conn: Connection, offer_id: str) -> bytes:
    """The stored bytes of the accepted document (to show the consumer or a regulator)."""
    return _stored(conn, offer_id).document_html.encode("utf-8")


def require_accepted_disclosure(conn: Connection, customer_id: str, offer_id: str
                                ) -> Acceptance:
    """The acceptance of ``offer_id`` by ``customer_id``, or StateError with rule
    ``disclosure.not_accepted``: credit is never used before its key facts were accepted."""
    check_reference(customer_id, "customer_id")
    check_reference(offer_id, "offer_id")
    row = conn.execute(select(disclosure_acceptances).where(
        disclosure_acceptances.c.offer_id == offer_id,
        disclosure_acceptances.c.customer_id == customer_id)).first()
    if row is None:
        message = bilingual("Please read and accept the key facts statement first.")
        raise StateError("the key-facts document of this offer has not been accepted by "
                         "this customer", field="offer_id", rule="disclosure.not_accepted",
                         message_zh_cn=message["zh"], message_en=message["en"])
    return _acceptance(row)


_STYLE_BLOCK = re.compile(rb"<style>(.*?)</style>", re.S)


def document_csp(html: bytes) -> str:
    """The Content-Security-Policy to serve a key-facts document under: no script and no
    request anywhere; its own ``<style>`` block allowed by its SHA-256, so the document
    renders styled without 'unsafe-inline' (the API's default policy would show it bare)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(block).digest()).decode() + "'"
        for block in _STYLE_BLOCK.findall(html)) or "'none'"
    return (f"default-src 'none'; style-src {hashes}; img-src 'self' data:; "
            "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
