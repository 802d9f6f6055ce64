"""Credit bureau (征信) adapter: a small protocol, a deterministic simulator, recorded pulls.

A pull is a use of personal data, so :func:`pull_report` always asks a ``consent_checker``
first and records every pull (who, when, why, under which consent, what came back) in
``bureau_pulls`` in the caller's transaction. The default checker,
:func:`require_recorded_consent`, verifies the reference (``consent:<id>``) against the
compliance domain's consent records: the record exists, is this customer's, is a grant of
the purpose's consent (bureau inquiry; credit assessment for the platform's payment data)
and was not revoked since. A refused pull raises
:class:`~creditpay.errors.ConsentRequiredError` and writes nothing.

The other direction, furnishing: :class:`BureauFurnishing` takes the platform's monthly
submissions of :class:`TradelineRecord` (creditpay.reporting.bureau_reporting;
docs/bureau-reporting.md). :class:`SimulatedBureau` ingests them into its store
(``bureau_tradelines``) and, as a :class:`StoredBureau`, adds them to the reports
:func:`pull_report` gives a later decision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection

from creditpay.db.uow import Tx
from creditpay.errors import ConsentRequiredError, NotFoundError, StateError, ValidationError
from creditpay.protection.consent import Purpose
from creditpay.protection.consent_refs import require_referenced_consent

__all__ = [
    "PURPOSES",
    "BureauAdapter",
    "BureauFurnishing",
    "StoredBureau",
    "TradelineRecord",
    "SubmissionReceipt",
    "RECORD_FIELDS",
    "CORRECTION_INDICATORS",
    "BureauPull",
    "BureauReport",
    "ConsentChecker",
    "SimulatedBureau",
    "get_pull",
    "pull_report",
    "require_explicit_consent",
    "require_recorded_consent",
    "CONSENT_PURPOSES",
]

PURPOSES = frozenset({"credit_application", "limit_review"})
# Which consent purpose covers each use: a bureau pull needs the bureau inquiry consent, the
# platform's own payment history ("platform_data") the credit assessment consent.
CONSENT_PURPOSES = {"credit_application": Purpose.BUREAU_INQUIRY,
                    "limit_review": Purpose.BUREAU_INQUIRY,
                    "platform_data": Purpose.CREDIT_ASSESSMENT}


@dataclass(frozen=True, slots=True)
class BureauReport:
    """What the bureau says about one person. Money in fen."""

    customer_id: str
    debt_minor: int
    monthly_repayment_minor: int
    inquiries_6m: int
    lenders_in_use: int
    delinquencies_24m: int
    bureau: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BureauReport:
        return cls(**{k: data[k] for k in cls.__slots__})


class BureauAdapter(Protocol):
    """A bureau connection. ``name`` identifies the source (and simulator seed) in records."""

    name: str

    def fetch(self, customer_id: str, as_of: dt.datetime) -> BureauReport: ...


# ----- furnishing: the platform reports its accounts to the bureau ---------------------------
# The layout (docs/bureau-reporting.md): one record per credit account per month, fields
# modelled on the PBOC personal credit report's loan-account items and Metro 2's base segment.
RECORD_FIELDS = (
    "month", "account_id", "customer_id", "account_type", "portfolio_type", "currency",
    "opened_on", "credit_limit_minor", "original_amount_minor", "balance_minor",
    "amount_past_due_minor", "months_past_due", "dpd", "remaining_term_months",
    "scheduled_payment_minor", "pboc_account_status", "five_class", "metro2_status",
    "payment_rating", "charge_off_minor", "closed_on", "special_comment")
# "" an original record, "C" a correction replacing the record of that month, "D" a deletion
# of that month's record (Metro 2 AUD / PBOC 更正 and 删除).
CORRECTION_INDICATORS = ("", "C", "D")


@dataclass(frozen=True, slots=True)
class TradelineRecord:
    """One credit account's month-end record as furnished to a bureau (amounts in minor
    units of ``currency``; dates ISO ``YYYY-MM-DD`` or "" for none; ``month`` ``YYYY-MM``).

    ``correction_indicator``: "" original, "C" correction, "D" deletion;
    ``original_submission_id``: for "C" and "D", the submission whose record it replaces."""

    month: str
    account_id: str
    customer_id: str
    account_type: str  # PBOC: R1 revolving (lines), D1 non-revolving (plans, loans)
    portfolio_type: str  # Metro 2: R revolving, I installment
    currency: str
    opened_on: str
    credit_limit_minor: int  # lines: the limit; plans and loans: the principal lent
    original_amount_minor: int  # plans and loans: the principal lent; lines: 0
    balance_minor: int
    amount_past_due_minor: int
    months_past_due: int  # PBOC 当前逾期期数: ceil(dpd / 30)
    dpd: int
    remaining_term_months: int
    scheduled_payment_minor: int
    pboc_account_status: str  # 1 正常, 2 逾期, 3 结清, 4 呆账
    five_class: str  # 五级分类 1..5
    metro2_status: str  # 11, 71, 78, 80, 82, 83, 84, 97, 13
    payment_rating: str  # 0..6, L
    charge_off_minor: int
    closed_on: str
    # Metro 2 Special Comment Code (base segment field 19): "CP" an account in forbearance (a
    # hardship payment holiday), "CO" a loan modified (re-amortised or at a reduced rate);
    # "" none (docs/bureau-reporting.md, "Hardship arrangements").
    special_comment: str = ""
    correction_indicator: str = ""
    original_submission_id: str = ""

    def content(self) -> dict[str, Any]:
        """The reported fields (no correction columns): what a correction compares. An empty
        special comment is left out, so the records of accounts without one hash as they did
        before the field existed (a month re-run after the upgrade corrects nothing)."""
        return {name: getattr(self, name) for name in RECORD_FIELDS
                if name != "special_comment" or self.special_comment}

    def content_sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.content(), sort_keys=True,
                                         ensure_ascii=False).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TradelineRecord:
        return cls(**{k: data[k] for k in cls.__slots__ if k in data})


@dataclass(frozen=True, slots=True)
class SubmissionReceipt:
    """What the bureau answered to a submission: ``status`` "accepted" (every record
    ingested) or "rejected" with ``errors``."""

    submission_id: str
    status: str
    records_ingested: int
    errors: tuple[str, ...] = ()


@runtime_checkable
class BureauFurnishing(Protocol):
    """A bureau that accepts the platform's monthly submissions (the furnisher side).

    ``submit`` runs in the reporting transaction (``tx``): a simulated bureau ingests into
    its own store there; a real one would transmit the file and answer with its receipt."""

    name: str

    def submit(self, tx: Tx, submission_id: str,
               records: Sequence[TradelineRecord]) -> SubmissionReceipt: ...


@runtime_checkable
class StoredBureau(Protocol):
    """A bureau whose report reads a store in the platform's database (the simulator, which
    ingests the platform's submissions there): :func:`pull_report` calls ``fetch_from``
    with the pulling transaction's connection instead of ``fetch``."""

    name: str

    def fetch_from(self, conn: Connection, customer_id: str,
                   as_of: dt.datetime) -> BureauReport: ...


ConsentChecker = Callable[[Tx, str, str, str | None], None]


def require_explicit_consent(tx: Tx, customer_id: str, purpose: str,
                             consent_reference: str | None) -> None:
    """Presence-only checker (tests, benchmarks): no consent reference, no pull. It does not
    look the reference up; production code uses :func:`require_recorded_consent`."""
    if not consent_reference:
        raise ConsentRequiredError(
            f"bureau pull for {purpose} needs the customer's explicit consent",
            field="consent_reference", customer_id=customer_id, purpose=purpose)


def require_recorded_consent(tx: Tx, customer_id: str, purpose: str,
                             consent_reference: str | None) -> None:
    """Default checker: ``consent_reference`` must name a grant in force of this customer for
    the consent purpose covering ``purpose`` (:data:`CONSENT_PURPOSES`); otherwise
    ConsentRequiredError with ``field="consent_reference"`` and the rule."""
    consent_purpose = CONSENT_PURPOSES.get(purpose)
    if consent_purpose is None:
        raise ValidationError(f"purpose must be one of {sorted(CONSENT_PURPOSES)}",
                              field="purpose")
    require_referenced_consent(tx.conn, customer_id=customer_id, purpose=consent_purpose,
                               reference=consent_reference, field="consent_reference")


class SimulatedBureau:
    """Deterministic per (seed, customer): the same customer always gets the same report.

    The draws mimic a consumer population: about a third with no borrowing elsewhere, a tail
    borrowing from many lenders at once (多头借贷), whose inquiries and missed payments are
    more frequent. ``overrides`` pins fields for named customers (tests, demos). That is
    the other lenders; :meth:`fetch_from` adds what the platform reported to it
    (:meth:`submit`).
    """

    def __init__(self, seed: int = 0,
                 overrides: Mapping[str, Mapping[str, int]] | None = None) -> None:
        self.seed = int(seed)
        self.name = f"simulated:{self.seed}"
        self._overrides = {k: dict(v) for k, v in (overrides or {}).items()}

    def fetch(self, customer_id: str, as_of: dt.datetime) -> BureauReport:
        digest = hashlib.sha256(f"{self.seed}:{customer_id}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        lenders = rng.choices(range(8), weights=(30, 28, 18, 10, 6, 4, 2, 2))[0]
        debt = sum(int(rng.lognormvariate(9.3, 0.8)) * 100 for _ in range(lenders))
        months = rng.randint(6, 24)
        inquiries = min(20, int(rng.expovariate(1.0 / (0.6 + 0.9 * lenders))))
        delinquency_rate = 0.05 + 0.06 * lenders
        delinquencies = sum(rng.random() < delinquency_rate for _ in range(3))
        values = {"debt_minor": debt, "monthly_repayment_minor": -(-debt // months),
                  "inquiries_6m": inquiries, "lenders_in_use": lenders,
                  "delinquencies_24m": delinquencies}
        values.update(self._overrides.get(customer_id, {}))
        return BureauReport(customer_id=customer_id, bureau=self.name, **values)

    # The store is one simulated bureau whatever the seed: the seed draws the other lenders,
    # the platform's own tradelines are what it furnished.
    STORE = "simulated"

    def submit(self, tx: Tx, submission_id: str,
               records: Sequence[TradelineRecord]) -> SubmissionReceipt:
        """Ingest the records into the bureau's store (checked like any input at an edge:
        a record the layout refuses rejects the whole submission, nothing ingested)."""
        from creditpay.risk.decisions.bureau_furnishing import ingest

        errors = tuple(error for record in records for error in _record_errors(record))
        if errors:
            return SubmissionReceipt(submission_id, "rejected", 0, errors[:20])
        count = ingest(tx, bureau=self.STORE, submission_id=submission_id,
                       records=[record.to_json() for record in records])
        return SubmissionReceipt(submission_id, "accepted", count)

    def fetch_from(self, conn: Connection, customer_id: str,
                   as_of: dt.datetime) -> BureauReport:
        """:meth:`fetch` plus the platform's tradelines this bureau ingested, for months
        ended before ``as_of`` (the last 24 of them): the latest record of each open
        account adds its balance to the debt and its scheduled payment to the monthly
        repayment, the platform counts as one lender in use while it has an open account,
        and each account-month reported 30 or more days past due is a delinquency."""
        from creditpay.risk.decisions.bureau_furnishing import customer_tradelines

        report = self.fetch(customer_id, as_of)
        last = _month_before(as_of.date() if isinstance(as_of, dt.datetime) else as_of)
        first = _months_back(last, 23)
        records = customer_tradelines(conn, bureau=self.STORE, customer_id=customer_id,
                                      first_month=first, last_month=last)
        latest: dict[str, Mapping[str, Any]] = {}
        delinquent = 0
        for record in records:  # by account, then month: the last one per account wins
            latest[record["account_id"]] = record
            if int(record["dpd"]) >= 30:
                delinquent += 1
        open_records = [r for r in latest.values()
                        if r["pboc_account_status"] in ("1", "2", "4")]
        return BureauReport(
            customer_id=customer_id, bureau=self.name,
            debt_minor=report.debt_minor + sum(int(r["balance_minor"]) for r in open_records),
            monthly_repayment_minor=report.monthly_repayment_minor
            + sum(int(r["scheduled_payment_minor"]) for r in open_records),
            inquiries_6m=report.inquiries_6m,
            lenders_in_use=report.lenders_in_use + (1 if open_records else 0),
            delinquencies_24m=report.delinquencies_24m + delinquent)


def _month_before(day: dt.date) -> str:
    """The last month that ended before ``day``, ``YYYY-MM``."""
    previous = day.replace(day=1) - dt.timedelta(days=1)
    return f"{previous.year:04d}-{previous.month:02d}"


def _months_back(month: str, count: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _record_errors(record: TradelineRecord) -> list[str]:
    errors = []
    for name in ("credit_limit_minor", "original_amount_minor", "balance_minor",
                 "amount_past_due_minor", "months_past_due", "dpd", "remaining_term_months",
                 "scheduled_payment_minor", "charge_off_minor"):
        value = getattr(record, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.append(f"{record.account_id}: {name} must be a non-negative integer")
    if record.correction_indicator not in CORRECTION_INDICATORS:
        errors.append(f"{record.account_id}: correction_indicator unknown")
    if record.pboc_account_status == "3" and not record.closed_on:
        errors.append(f"{record.account_id}: a closed account needs closed_on")
    return errors


@dataclass(frozen=True, slots=True)
class BureauPull:
    pull_id: int
    customer_id: str
    purpose: str
    pulled_at: dt.datetime
    report: BureauReport


def _check_report(report: BureauReport, customer_id: str) -> None:
    # An adapter is an edge: what it returns is input, checked like any other.
    if report.customer_id != customer_id:
        raise ValidationError("bureau returned another customer's report", field="customer_id")
    for name in ("debt_minor", "monthly_repayment_minor", "inquiries_6m", "lenders_in_use",
                 "delinquencies_24m"):
        value = getattr(report, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError("bureau value must be a non-negative integer",
                                  field=f"bureau.{name}")


def pull_report(
    tx: Tx,
    adapter: BureauAdapter,
    *,
    customer_id: str,
    purpose: str,
    consent_reference: str | None = None,
    consent_checker: ConsentChecker = require_recorded_consent,
) -> BureauPull:
    """Check consent, fetch the report as of ``tx.now`` and record the pull."""
    from creditpay.risk.decisions.bureau_pulls import record_pull

    if not isinstance(customer_id, str) or not customer_id:
        raise ValidationError("customer_id must be a non-empty string", field="customer_id")
    if purpose not in PURPOSES:
        raise ValidationError(f"purpose must be one of {sorted(PURPOSES)}", field="purpose")
    consent_checker(tx, customer_id, purpose, consent_reference)
    # A bureau with a store in this database (the simulator's ingested tradelines) reads it
    # in the pulling transaction.
    report = (adapter.fetch_from(tx.conn, customer_id, tx.now)
              if isinstance(adapter, StoredBureau) else adapter.fetch(customer_id, tx.now))
    _check_report(report, customer_id)
    payload = report.to_json()
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    pull_id = record_pull(tx, customer_id=customer_id, purpose=purpose, bureau=adapter.name,
                          consent_reference=consent_reference, report=payload,
                          report_sha256=digest)
    return BureauPull(pull_id, customer_id, purpose, tx.now, report)


def get_pull(conn: Connection, pull_id: int) -> BureauPull:
    """A recorded pull (for replay and audit)."""
    from creditpay.risk.decisions.bureau_pulls import stored_pull

    row = stored_pull(conn, pull_id)
    if row is None:
        raise NotFoundError(f"bureau pull {pull_id} not found", field="pull_id")
    if row.report == {"erased": True}:  # see creditpay.risk.decisions.erasure
        raise StateError(f"the report of bureau pull {pull_id} was erased with the"
                         " customer's personal data", field="pull_id", rule="bureau.erased")
    return BureauPull(row.id, row.customer_id, row.purpose, row.pulled_at,
                      BureauReport.from_json(row.report))
