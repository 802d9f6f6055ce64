"""Credit bureau (征信) adapter: a small protocol, a deterministic simulator, recorded pulls.

A pull is a use of personal data, so :func:`pull_report` always asks a ``consent_checker``
first and records every pull (who, when, why, under which consent, what came back) in
``bureau_pulls`` in the caller's transaction. The default checker,
:func:`require_recorded_consent`, verifies the reference (``consent:<id>``) against the
compliance domain's consent records: the record exists, is this customer's, is a grant of
the purpose's consent (bureau inquiry; credit assessment for the platform's payment data)
and was not revoked since. A refused pull raises
:class:`~creditpay.errors.ConsentRequiredError` and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from creditpay.db.uow import Tx
from creditpay.errors import ConsentRequiredError, NotFoundError, StateError, ValidationError
from creditpay.protection.consent import Purpose
from creditpay.protection.consent_refs import require_referenced_consent

__all__ = [
    "PURPOSES",
    "BureauAdapter",
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
    more frequent. ``overrides`` pins fields for named customers (tests, demos).
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
    report = adapter.fetch(customer_id, tx.now)
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
