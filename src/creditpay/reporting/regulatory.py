"""Regulatory reports: daily and monthly portfolio reports as CSV and Excel.

A report is a list of sections (tables with named columns), built from the
portfolio's positions at the close of business of the report date, plus the flows of
the period (originations, write-offs, recoveries, complaints). Every money figure is an
integer in minor units with its currency; every ratio is a ``Decimal`` written as text, so a
regulator can re-add any total from the loan-level rows.

Read-only reporting access (documented in docs/regulatory-reports.md): the credit facade has
no portfolio query, so this module reads ``credit_accounts``, ``credit_installments``,
``credit_lines``, ``credit_purchases``, ``credit_authorisations``, ``credit_cob_runs``,
``credit_decisions`` (risk) and ``ledger_transfers`` / ``ledger_accounts`` (ledger) with
SELECT statements only. It never writes another domain's table.

The balances are the day-end positions the close of business of the report date stored
(``credit_day_end_positions``, credit.day_end), so a report for any past closed business date
shows that date, and the same report made later is the same report. A date not closed yet,
or closed before day-end positions were kept (then only the last closed date, from the
accounts' live state), is refused with a StateError naming ``date``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection

from creditpay.credit.apr import apr_from_flows
from creditpay.credit.calendar import add_months
from creditpay.credit.day_end import Position, day_end_dates, live_positions, stored_positions
from creditpay.credit.funding_core import BPS
from creditpay.credit.funding_queries import (
    funded_shares,
    partner_guarantee_paid_at,
    partner_outstanding_at,
)
from creditpay.credit.queries import (
    installment_flows,
    loans_opened_between,
    purchases_between,
)
from creditpay.credit.queries import last_closed_business_date as _last_closed
from creditpay.errors import StateError, ValidationError
from creditpay.ledger.queries import recoveries_between
from creditpay.parties.partners import list_partners
from creditpay.protection.complaints import complaint_stats

__all__ = [
    "AccountPosition", "Section", "RegulatoryReport", "REPORT_FORMATS", "NPL_BUCKET_MIN",
    "APR_BANDS", "last_closed_business_date", "require_closed_date", "portfolio_snapshot",
    "positions_at",
    "bucket_rank", "is_npl", "approved_decisions", "decision_at", "originations", "apr_band", "pseudonym", "daily_report", "monthly_report",
    "build_report", "write_csv", "write_xlsx", "write_report", "PSEUDONYM_KEY_INFO",
    "report_text", "write_section_csv", "report_document", "partner_sections",
]

REPORT_FORMATS = ("csv", "xlsx")
# HKDF info of the loan-level pseudonym key, derived from the master key by every caller
# (CLI and console) so a customer has the same pseudonym in every report.
PSEUDONYM_KEY_INFO = b"creditpay/report-pseudonym/v1"
NPL_BUCKET_MIN = 3  # M3 (61-90 dpd with the default bounds) and worse are non-performing
RATIO_PLACES = Decimal("0.000001")
PSEUDONYM_HEX_CHARS = 20  # 80 bits: collision-free at any portfolio size we will see
PSEUDONYM_KEY_BYTES_MIN = 16
IN_CHUNK = 1_000  # ids per IN (...) query
# Upper bounds (inclusive) of the APR bands, as fractions; above the last: "above_24%".
APR_BANDS: tuple[tuple[Decimal, str], ...] = (
    (Decimal("0"), "0%"),
    (Decimal("0.12"), "0-12%"),
    (Decimal("0.18"), "12-18%"),
    (Decimal("0.24"), "18-24%"),
)
APR_BAND_ABOVE = "above_24%"
APR_BAND_UNKNOWN = "unknown"
NO_GRADE = "n/a"


# ----------------------------------------------------------------------------- snapshot
# One credit account at the end of a close of business (minor units): credit's day-end
# position, under the name this module has always exported.
AccountPosition = Position


def last_closed_business_date(conn: Connection) -> dt.date | None:
    """The latest business date whose close of business is done (None if none is)."""
    return _last_closed(conn)


def positions_at(conn: Connection, business_date: dt.date, *,
                 field_name: str = "date") -> list[AccountPosition]:
    """Every credit account as it stood at the end of ``business_date``'s close of
    business: the day-end positions the close stored (credit.day_end). A date closed before
    positions were stored has none; only the last closed date can then still be reported,
    from the accounts' live state. StateError naming ``field_name`` for a date not closed
    yet or one whose positions were never stored; nothing is changed."""
    if not isinstance(business_date, dt.date) or isinstance(business_date, dt.datetime):
        raise ValidationError("must be a date (YYYY-MM-DD)", field=field_name)
    closed = last_closed_business_date(conn)
    if closed is None or business_date > closed:
        shown = "no close of business has run" if closed is None else \
            f"the last closed business date is {closed.isoformat()}"
        raise StateError(
            f"{business_date.isoformat()} is not closed yet and {shown}: run its close of"
            " business first, or report for a closed date", field=field_name)
    stored = stored_positions(conn, business_date)
    if stored is not None:
        return stored
    if business_date == closed:
        return live_positions(conn)
    first, _ = day_end_dates(conn)
    kept = "no date has stored positions yet" if first is None else \
        f"positions are stored from {first.isoformat()} on"
    raise StateError(
        f"no day-end positions are stored for {business_date.isoformat()} ({kept}; dates"
        " closed before day-end positions were kept cannot be rebuilt)", field=field_name)


def require_closed_date(conn: Connection, business_date: dt.date, *,
                        field_name: str = "date") -> None:
    """Refuse a figure labelled ``business_date`` unless the positions at the end of that
    date are known (:func:`positions_at`'s checks)."""
    positions_at(conn, business_date, field_name=field_name)


def portfolio_snapshot(conn: Connection) -> list[AccountPosition]:
    """Every credit account with its balances by component as its rows stand now."""
    return live_positions(conn)


# ----------------------------------------------------------------------------- pure rules
def bucket_rank(bucket: str) -> int:
    """3 for ``M3``, 6 for ``M6`` and 7 for ``M6+`` (beyond the last bound)."""
    if not isinstance(bucket, str) or not bucket.startswith("M"):
        raise ValidationError(f"not a delinquency bucket: {bucket!r}", field="bucket")
    body = bucket[1:]
    beyond = body.endswith("+")
    try:
        number = int(body.rstrip("+"))
    except ValueError:
        raise ValidationError(f"not a delinquency bucket: {bucket!r}", field="bucket") from None
    return number + (1 if beyond else 0)


def is_npl(bucket: str) -> bool:
    """Non-performing: bucket M3 or worse (credit/delinquency.py bounds)."""
    return bucket_rank(bucket) >= NPL_BUCKET_MIN


def apr_band(apr: Decimal | None) -> str:
    """Band of an all-in annual cost given as a fraction (0.1825 = 18.25 %)."""
    if apr is None:
        return APR_BAND_UNKNOWN
    for upper, label in APR_BANDS:
        if apr <= upper:
            return label
    return APR_BAND_ABOVE


def ratio(numerator: int, denominator: int) -> Decimal | None:
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATIO_PLACES, ROUND_HALF_UP)


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """Keyed pseudonym (HMAC-SHA256) of an id: stable across reports, not reversible
    without the key, so loan-level rows can be followed over time but not linked to a
    person by whoever receives the file."""
    digest = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind[:1]}_{digest[:PSEUDONYM_HEX_CHARS]}"


# ----------------------------------------------------------------------------- report model
@dataclass(frozen=True)
class Section:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class RegulatoryReport:
    kind: str  # daily | monthly
    period_start: dt.date
    period_end: dt.date  # inclusive
    snapshot_date: dt.date
    sections: list[Section] = field(default_factory=list)

    @property
    def stem(self) -> str:
        label = self.period_start.isoformat() if self.kind == "daily" else \
            self.period_start.strftime("%Y-%m")
        return f"creditpay_{self.kind}_{label}"

    def section(self, name: str) -> Section:
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(name)


def report_text(value: Any) -> Any:
    """A cell as the files write it: Decimals and dates as text, the rest as is."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# ----------------------------------------------------------------------------- sections
def _balances(positions: list[AccountPosition]) -> Section:
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * 7)
    for p in positions:
        if p.status != "active":
            continue
        for key in ((p.currency, p.product_code, p.bucket), (p.currency, "ALL", p.bucket),
                    (p.currency, "ALL", "ALL")):
            g = groups[key]
            g[0] += 1
            g[1] += p.principal_minor
            g[2] += p.interest_due_minor
            g[3] += p.fee_due_minor
            g[4] += p.penalty_due_minor
            g[5] += p.accrued_minor
            g[6] += p.total_minor

    def order(key: tuple[str, str, str]) -> tuple[Any, ...]:
        currency, product, bucket = key
        return (currency, product == "ALL", product, bucket == "ALL",
                bucket_rank(bucket) if bucket != "ALL" else 0)

    rows = [(*key, *groups[key]) for key in sorted(groups, key=order)]
    return Section("balances", ("currency", "product_code", "bucket", "accounts",
                                "principal_minor", "interest_due_minor", "fee_due_minor",
                                "penalty_due_minor", "accrued_minor", "total_minor"), rows)


def _npl(positions: list[AccountPosition]) -> Section:
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for p in positions:
        if p.status != "active":
            continue
        bad = is_npl(p.bucket)
        for key in ((p.currency, p.product_code), (p.currency, "ALL")):
            g = groups[key]
            g[0] += 1
            g[1] += p.principal_minor
            g[2] += bad
            g[3] += p.principal_minor if bad else 0
    rows = []
    for key in sorted(groups, key=lambda k: (k[0], k[1] == "ALL", k[1])):
        accounts, principal, npl_accounts, npl_principal = groups[key]
        rows.append((*key, accounts, principal, npl_accounts, npl_principal,
                     ratio(npl_principal, principal)))
    return Section("npl", ("currency", "product_code", "accounts", "principal_minor",
                           "npl_accounts", "npl_principal_minor", "npl_ratio"), rows)


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)


def approved_decisions(conn: Connection, customer_ids: set[str]
            ) -> dict[str, list[tuple[dt.datetime, str | None, Decimal | None]]]:
    """Approved risk decisions per customer, oldest first (risk decisions'
    :func:`~creditpay.risk.decisions.queries.approved_history`)."""
    from creditpay.risk.decisions.queries import approved_history

    found: dict[str, list[tuple[dt.datetime, str | None, Decimal | None]]] = defaultdict(list)
    for customer_id, approvals in approved_history(conn, customer_ids).items():
        # Float column: repr of the stored double, then Decimal (exact from here on)
        found[customer_id] = [(a.decided_at, a.grade,
                               None if a.pd is None else Decimal(repr(a.pd)))
                              for a in approvals]
    return found


def decision_at(decisions: list[tuple[dt.datetime, str | None, Decimal | None]],
                moment: dt.datetime) -> tuple[str | None, Decimal | None]:
    """Grade and PD of the latest approved decision at or before ``moment``."""
    chosen: tuple[str | None, Decimal | None] = (None, None)
    for decided, grade, pd in decisions:
        if decided <= moment:
            chosen = (grade, pd)
    return chosen


def _loan_apr(flows: list[tuple[dt.date, int]], opened_on: dt.date, principal_minor: int
              ) -> Decimal | None:
    flows = [(day, amount) for day, amount in flows if amount > 0]
    if not flows or principal_minor <= 0:
        return None
    return apr_from_flows([(opened_on, principal_minor)], flows)


def originations(conn: Connection, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """New credit in ``[start, end]``: line and plan purchases captured (financed amount)
    and cash loans opened (principal), with the all-in annual cost and the risk grade."""
    begin, stop = _start_of(start), _start_of(end + dt.timedelta(days=1))
    items: list[dict[str, Any]] = []
    for purchase in purchases_between(conn, begin, stop):
        offer = purchase.offer
        cost = offer.get("all_in_annual_cost_percent")
        items.append({"currency": purchase.currency, "product_code": offer.get("product_code"),
                      "funding": purchase.funding, "customer_id": purchase.customer_id,
                      "amount_minor": purchase.amount_minor, "at": purchase.created_at,
                      "apr": None if cost is None else Decimal(str(cost)) / 100})
    loans = loans_opened_between(conn, start, end)
    flows = installment_flows(conn, (loan.seq for loan in loans))  # one read, not per loan
    for loan in loans:
        items.append({"currency": loan.currency, "product_code": loan.product_code,
                      "funding": "loan", "customer_id": loan.customer_id,
                      "amount_minor": loan.principal_original_minor,
                      "at": _start_of(loan.opened_on + dt.timedelta(days=1)),
                      "apr": _loan_apr(flows.get(loan.seq, []), loan.opened_on,
                                       loan.principal_original_minor)})
    decisions = approved_decisions(conn, {item["customer_id"] for item in items})
    for item in items:
        grade, _ = decision_at(decisions.get(item["customer_id"], []), item["at"])
        item["grade"] = grade or NO_GRADE
        item["apr_band"] = apr_band(item["apr"])
    return items


def _originations(conn: Connection, start: dt.date, end: dt.date) -> Section:
    groups: dict[tuple[str, str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for item in originations(conn, start, end):
        for key in ((item["currency"], item["product_code"], item["funding"], item["grade"],
                     item["apr_band"]), (item["currency"], "ALL", "ALL", "ALL", "ALL")):
            groups[key][0] += 1
            groups[key][1] += item["amount_minor"]
    rows = [(*key, *groups[key]) for key in sorted(groups, key=lambda k: (k[0], k[1] == "ALL",
                                                                          k))]
    return Section("originations", ("currency", "product_code", "funding", "grade",
                                    "apr_band", "count", "amount_minor"), rows)


def _write_offs(conn: Connection, positions: list[AccountPosition], start: dt.date,
                end: dt.date) -> Section:
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_account = {p.account_id: p for p in positions}
    for p in positions:
        if p.written_off_on is not None and start <= p.written_off_on <= end:
            for key in ((p.currency, p.product_code), (p.currency, "ALL")):
                groups[key][0] += 1
                groups[key][1] += p.written_off_minor
    for row in recoveries_between(conn, "credit.recovery", _start_of(start),
                                  _start_of(end + dt.timedelta(days=1))):
        position = by_account.get(row.reference or "")
        product = position.product_code if position is not None else "unknown"
        for key in ((row.currency, product), (row.currency, "ALL")):
            groups[key][2] += 1
            groups[key][3] += row.amount_minor
    rows = [(*key, *groups[key]) for key in sorted(groups, key=lambda k: (k[0], k[1] == "ALL",
                                                                          k[1]))]
    return Section("write_offs_recoveries", ("currency", "product_code", "written_off_accounts",
                                             "written_off_minor", "recovery_payments",
                                             "recovered_minor"), rows)


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for key in value:
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    else:
        out.append((prefix, value))


def _complaints(conn: Connection, start: dt.date, end: dt.date) -> Section:
    stats = complaint_stats(conn, _start_of(end + dt.timedelta(days=1)),
                            opened_from=_start_of(start),
                            opened_to=_start_of(end + dt.timedelta(days=1))).as_dict()
    rows: list[tuple[str, Any]] = []
    _flatten("", {k: v for k, v in stats.items()
                  if k not in ("as_of", "opened_from", "opened_to")}, rows)
    rows = [(name, "" if value is None else (Decimal(str(value)) if isinstance(value, float)
                                             else value)) for name, value in rows]
    return Section("complaints", ("metric", "value"), rows)


LOAN_LEVEL_COLUMNS = (
    "account_ref", "customer_ref", "currency", "kind", "product_code", "product_version",
    "status", "opened_on", "dpd", "bucket", "npl", "principal_minor", "interest_due_minor",
    "fee_due_minor", "penalty_due_minor", "accrued_minor", "total_minor", "undrawn_minor",
    "interest_rate", "written_off_on", "written_off_minor", "recovered_minor")


def _loan_level(positions: list[AccountPosition], key: bytes) -> Section:
    rows = []
    for p in positions:
        rows.append((pseudonym(key, "account", p.account_id),
                     pseudonym(key, "customer", p.customer_id), p.currency, p.kind,
                     p.product_code, p.product_version, p.status, p.opened_on, p.dpd,
                     p.bucket, int(p.status == "active" and is_npl(p.bucket)),
                     p.principal_minor, p.interest_due_minor, p.fee_due_minor,
                     p.penalty_due_minor, p.accrued_minor, p.total_minor, p.undrawn_minor,
                     p.interest_rate, p.written_off_on or "", p.written_off_minor,
                     p.recovered_minor))
    return Section("loan_level", LOAN_LEVEL_COLUMNS, rows)


# ----------------------------------------------------------------------------- partner lenders
def _partner_joint_and_facilitation(conn: Connection, start: dt.date, end: dt.date,
                                    names: dict[str, str]) -> list[Section]:
    """Joint lending (联合贷) and facilitation (助贷) by partner: loans funded in the period
    and the partner's part of them, and its funded principal outstanding at the period's
    end; for joint loans also the whole loans' principal, the platform's part and its
    share (the smallest, floored to the basis point, and the principal-weighted average)."""
    opened: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for share in funded_shares(conn, start, end):
        opened[(share.arrangement_type, share.currency, share.partner_id)].append(share)
    outstanding = partner_outstanding_at(conn, end)
    keys = set(opened) | {(kind, currency, pid) for (pid, currency, kind), amount
                          in outstanding.items() if amount}
    joint, facilitation = [], []
    for kind, currency, pid in sorted(keys):
        shares = opened.get((kind, currency, pid), [])
        left = outstanding.get((pid, currency, kind), 0)
        funded = sum(s.funded_minor for s in shares)
        if kind == "joint":
            principal = sum(s.loan_principal_minor for s in shares)
            platform = sum(s.platform_minor for s in shares)
            smallest = min((s.platform_minor * BPS // s.loan_principal_minor
                            for s in shares if s.loan_principal_minor), default=None)
            joint.append((currency, pid, names.get(pid, ""), len(shares), funded, principal,
                          platform, "" if smallest is None else smallest,
                          "" if not principal else ratio(platform, principal), left))
        else:
            facilitation.append((currency, pid, names.get(pid, ""), len(shares), funded, left))
    return [Section("partner_joint_lending", (
        "currency", "partner_id", "partner_name", "loans", "partner_funded_minor",
        "loans_principal_minor", "platform_funded_minor", "platform_share_min_bps",
        "platform_share_avg", "partner_outstanding_minor"), joint),
        Section("partner_facilitation", (
            "currency", "partner_id", "partner_name", "loans", "partner_funded_minor",
            "partner_outstanding_minor"), facilitation)]


def _partner_cost_distribution(conn: Connection, start: dt.date, end: dt.date) -> Section:
    """The consumer's all-in annual cost (interest and every fee, the platform's service
    fee included: the partner is paid out of it) of the loans funded with partners opened in
    the period, one count per loan, in the originations' APR bands."""
    loans: dict[str, Any] = {}
    for share in funded_shares(conn, start, end):
        loans.setdefault(share.account_id, share)
    cash = [s for s in loans.values() if s.kind == "loan"]
    flows = installment_flows(conn, (s.loan_seq for s in cash))
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for share in loans.values():
        if share.kind == "loan":
            apr = _loan_apr(flows.get(share.loan_seq, []), share.opened_on,
                            share.loan_principal_minor)
        else:
            apr = None if share.apr_percent is None else share.apr_percent / 100
        for key in ((share.currency, share.arrangement_type, apr_band(apr)),
                    (share.currency, "ALL", "ALL")):
            groups[key][0] += 1
            groups[key][1] += share.loan_principal_minor
    band_order = [label for _, label in APR_BANDS] + [APR_BAND_ABOVE, APR_BAND_UNKNOWN]
    rows = [(*key, *groups[key]) for key in sorted(groups, key=lambda k: (
        k[0], k[1] == "ALL", k[1], band_order.index(k[2]) if k[2] in band_order else 0))]
    return Section("partner_cost_distribution", ("currency", "arrangement_type", "apr_band",
                                                 "loans", "principal_minor"), rows)


def _partner_guarantee(conn: Connection, end: dt.date, names: dict[str, str]) -> Section:
    """The platform's first-loss guarantee to each partner at the end of ``end``: the cover
    granted on the loans it funded (each share's cover, floored), what it has paid, and
    what is left."""
    cover: defaultdict[tuple[str, str], int] = defaultdict(int)
    for share in funded_shares(conn, None, end):
        if share.guarantee_bps:
            cover[(share.currency, share.partner_id)] += share.guarantee_cover_minor
    paid = {(currency, pid): amount
            for (pid, currency), amount in partner_guarantee_paid_at(conn, end).items()}
    rows = [(currency, pid, names.get(pid, ""), cover.get((currency, pid), 0),
             paid.get((currency, pid), 0),
             cover.get((currency, pid), 0) - paid.get((currency, pid), 0))
            for currency, pid in sorted(set(cover) | set(paid))]
    return Section("partner_guarantee", ("currency", "partner_id", "partner_name",
                                         "cover_granted_minor", "paid_minor", "left_minor"),
                   rows)


def partner_sections(conn: Connection, start: dt.date, end: dt.date) -> list[Section]:
    """The partner-lending sections of a report over ``[start, end]``
    (docs/regulatory-reports.md, "Partner lenders")."""
    names = {p.partner_id: p.name for p in list_partners(conn)}
    return [*_partner_joint_and_facilitation(conn, start, end, names),
            _partner_cost_distribution(conn, start, end), _partner_guarantee(conn, end, names)]


def _cross_border(conn: Connection, start: dt.date, end: dt.date) -> Section:
    """Payments abroad (issue #21) by merchant country and currency over ``[start, end]``:
    captured and refunded, in the merchant's currency and in the consumer's home currency
    at each payment's locked rate, and the FX markup of the captured payments (home
    currency). Read through payments' own report function."""
    from creditpay.payments.reporting import cross_border_totals

    rows = [(t.merchant_country, t.currency, t.payments, t.amount_minor, t.home_currency,
             t.home_amount_minor, t.refunds, t.refunded_minor, t.refunded_home_minor,
             t.fx_markup_home_minor) for t in cross_border_totals(conn, start, end)]
    return Section("cross_border", (
        "merchant_country", "currency", "payments", "amount_minor", "home_currency",
        "home_amount_minor", "refunds", "refunded_minor", "refunded_home_minor",
        "fx_markup_home_minor"), rows)


def _check_key(key: object) -> bytes:
    if not isinstance(key, bytes) or len(key) < PSEUDONYM_KEY_BYTES_MIN:
        raise ValidationError(f"must be at least {PSEUDONYM_KEY_BYTES_MIN} bytes",
                              field="pseudonym_key")
    return key


def build_report(conn: Connection, *, kind: str, period_start: dt.date, period_end: dt.date,
                 pseudonym_key: bytes) -> RegulatoryReport:
    """Balances and NPL as of the end of ``period_end`` (any closed business date whose
    day-end positions are stored, :func:`positions_at`);
    originations, write-offs, recoveries and complaints over ``[period_start, period_end]``."""
    if kind not in ("daily", "monthly"):
        raise ValidationError("must be daily or monthly", field="kind")
    key = _check_key(pseudonym_key)
    if period_end < period_start:
        raise ValidationError("must not be before the period start", field="period_end")
    positions = positions_at(conn, period_end)
    summary = Section("summary", ("item", "value"), [
        ("report", kind), ("period_start", period_start), ("period_end", period_end),
        ("snapshot", f"end of close of business {period_end.isoformat()}"),
        ("money", "integer minor units of the row's currency"),
        ("npl_definition", f"bucket M{NPL_BUCKET_MIN} or worse"),
        ("accounts", len(positions))])
    sections = [summary, _balances(positions), _npl(positions),
                _originations(conn, period_start, period_end),
                _write_offs(conn, positions, period_start, period_end),
                _complaints(conn, period_start, period_end),
                *partner_sections(conn, period_start, period_end),
                _cross_border(conn, period_start, period_end),
                _loan_level(positions, key)]
    return RegulatoryReport(kind, period_start, period_end, period_end, sections)


def daily_report(conn: Connection, day: dt.date, *, pseudonym_key: bytes) -> RegulatoryReport:
    """The daily report of business date ``day`` (after its close of business)."""
    return build_report(conn, kind="daily", period_start=day, period_end=day,
                        pseudonym_key=pseudonym_key)


def monthly_report(conn: Connection, year: int, month: int, *, pseudonym_key: bytes
                   ) -> RegulatoryReport:
    """The monthly report: balances at the month's last day, flows over the month."""
    try:
        start = dt.date(year, month, 1)
    except (TypeError, ValueError):
        raise ValidationError("must be a valid year and month", field="month") from None
    end = add_months(start, 1) - dt.timedelta(days=1)
    return build_report(conn, kind="monthly", period_start=start, period_end=end,
                        pseudonym_key=pseudonym_key)


# ----------------------------------------------------------------------------- writers
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_csv(report: RegulatoryReport, out_dir: Path) -> list[Path]:
    """One UTF-8 CSV per section: ``<stem>_<section>.csv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for section in report.sections:
        path = out_dir / f"{report.stem}_{section.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            write_section_csv(section, handle)
        paths.append(path)
    return paths


def write_section_csv(section: Section, handle: TextIO) -> None:
    """One section as CSV (header row, then its rows) to ``handle``: the content of the
    section's file."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(section.columns)
    for row in section.rows:
        writer.writerow([report_text(value) for value in row])


def report_document(report: RegulatoryReport) -> dict[str, Any]:
    """The whole report as one JSON-ready document: the period and every section's
    columns and rows, cells as the CSV files write them."""
    return {"report": report.kind, "period_start": report.period_start.isoformat(),
            "period_end": report.period_end.isoformat(),
            "snapshot_date": report.snapshot_date.isoformat(),
            "sections": {s.name: {"columns": list(s.columns),
                                  "rows": [[report_text(v) for v in row] for row in s.rows]}
                         for s in report.sections}}


def write_xlsx(report: RegulatoryReport, out_dir: Path) -> list[Path]:
    """One workbook, one sheet per section. Money cells are integers (minor units); ratios
    and rates are text so no spreadsheet rounding touches them."""
    from openpyxl import Workbook

    out_dir.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    book.remove(book.worksheets[0])  # the empty sheet a new workbook starts with
    for section in report.sections:
        sheet = book.create_sheet(section.name[:31])
        sheet.append(list(section.columns))
        for row in section.rows:
            sheet.append([report_text(value) for value in row])
        sheet.freeze_panes = "A2"
    path = out_dir / f"{report.stem}.xlsx"
    book.save(path)
    return [path]


def write_report(report: RegulatoryReport, out_dir: Path, fmt: str = "csv") -> list[Path]:
    """Write the report in ``fmt`` and a ``<stem>_manifest.json`` with each file's SHA-256."""
    if fmt not in REPORT_FORMATS:
        raise ValidationError(f"must be one of {', '.join(REPORT_FORMATS)}", field="format")
    paths = write_csv(report, out_dir) if fmt == "csv" else write_xlsx(report, out_dir)
    manifest = out_dir / f"{report.stem}_manifest.json"
    manifest.write_text(json.dumps({
        "report": report.kind, "period_start": report.period_start.isoformat(),
        "period_end": report.period_end.isoformat(),
        "snapshot_date": report.snapshot_date.isoformat(), "format": fmt,
        "rows": {s.name: len(s.rows) for s in report.sections},
        "files": {p.name: _sha256(p) for p in paths}}, indent=2, sort_keys=True) + "\n",
        encoding="utf-8")
    return [*paths, manifest]
