"""IFRS 9 expected credit loss (ECL) and the risk reserve (loss allowance) posting.

Pure core: :func:`stage_for`, :func:`sicr_flag`, :func:`lifetime_pd`, :func:`ead_minor`,
:func:`ecl_minor`, :func:`assess_account` work on plain values. The shell,
:func:`compute_provisions`, reads the day-end positions of any closed business date
(``regulatory.positions_at``) and the risk PDs (read-only), and :func:`post_provisions`
posts (for the last closed business date only: the allowance is one running balance) the change of the allowance to the ledger through ``creditpay.ledger`` only:

* allowance up:   debit ``provision_expense``, credit ``loss_provision``
* allowance down: debit ``loss_provision``,    credit ``provision_expense`` (release)

One posting per currency and business date, with the deterministic transfer id
``compliance:provision:<currency>:<date>`` and an audit record ``provision.posted`` (subject
``<currency>:<date>``) in the same transaction: running a date again returns the first
result and moves no money.

Staging (days past due from credit servicing):
* stage 3 (credit-impaired): dpd > 90;
* stage 2: significant increase in credit risk (SICR): dpd > 30 (backstop), or the current
  12-month PD is at least ``sicr_pd_multiple`` (2x) the PD at origination when both are known;
* stage 1: otherwise.

ECL = PD x LGD x EAD, rounded half-up to the minor unit per account; PD is the 12-month PD
in stage 1, the lifetime PD in stage 2, 1 in stage 3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, text

from creditpay import ledger as L
from creditpay.db.uow import Tx
from creditpay.errors import StateError, ValidationError
from creditpay.ledger.chart import ensure_platform_accounts
from creditpay.ledger.queries import account_currencies
from creditpay.platform import audit
from creditpay.platform.queries import first_audit_payload
from creditpay.reporting.regulatory import (
    AccountPosition,
    approved_decisions,
    decision_at,
    last_closed_business_date,
    positions_at,
)

__all__ = [
    "BucketPd", "ProvisionParameters", "DEFAULT_PARAMETERS", "AccountProvision",
    "ProvisionRun", "ProvisionPosting", "stage_for", "sicr_flag", "lifetime_pd", "ead_minor",
    "ecl_minor", "assess_account", "compute_provisions", "post_provisions",
    "provision_transfer_id",
]

PD_PLACES = Decimal("0.000001")
ONE = Decimal(1)
TRANSFER_CODE = "compliance.provision"
AUDIT_ACTION = "provision.posted"
AUDIT_SUBJECT = "loss_provision"


@dataclass(frozen=True)
class BucketPd:
    """PDs used for a bucket when no model PD is known (and as a floor when delinquent)."""

    pd_12m: Decimal
    pd_lifetime: Decimal


_DEFAULT_PD_TABLE = {
    "M0": BucketPd(Decimal("0.02"), Decimal("0.05")),
    "M1": BucketPd(Decimal("0.20"), Decimal("0.35")),
    "M2": BucketPd(Decimal("0.45"), Decimal("0.60")),
    "M3": BucketPd(Decimal("0.70"), Decimal("0.80")),
    "M4": BucketPd(Decimal("1"), Decimal("1")),
    "M5": BucketPd(Decimal("1"), Decimal("1")),
    "M6": BucketPd(Decimal("1"), Decimal("1")),
    "M6+": BucketPd(Decimal("1"), Decimal("1")),
}


def _fraction(value: object, name: str, *, allow_zero: bool = True) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0 or value > 1 or \
            (not allow_zero and value == 0):
        raise ValidationError("must be a Decimal between 0 and 1", field=name)
    return value


@dataclass(frozen=True)
class ProvisionParameters:
    """Versioned ECL parameters (configuration as data). Rates are Decimal fractions."""

    version: str = "ifrs9/1"
    lgd: Decimal = Decimal("0.65")  # unsecured consumer credit
    ccf: Decimal = Decimal("0.20")  # share of an undrawn line limit expected to be drawn
    stage2_dpd: int = 30  # dpd above this: SICR backstop, stage 2
    stage3_dpd: int = 90  # dpd above this: credit-impaired, stage 3
    sicr_pd_multiple: Decimal = Decimal("2")
    line_lifetime_months: int = 24  # behavioural life of a revolving line
    pd_table: Mapping[str, BucketPd] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULT_PD_TABLE)))

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not 1 <= len(self.version) <= 32:
            raise ValidationError("must be 1-32 characters", field="version")
        _fraction(self.lgd, "lgd")
        _fraction(self.ccf, "ccf")
        for name in ("stage2_dpd", "stage3_dpd", "line_lifetime_months"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError("must be a positive integer", field=name)
        if self.stage3_dpd <= self.stage2_dpd:
            raise ValidationError("must be above stage2_dpd", field="stage3_dpd")
        if not isinstance(self.sicr_pd_multiple, Decimal) or self.sicr_pd_multiple <= 1:
            raise ValidationError("must be a Decimal above 1", field="sicr_pd_multiple")
        if "M0" not in self.pd_table:
            raise ValidationError("must have a row for M0", field="pd_table")
        for bucket, row in self.pd_table.items():
            _fraction(row.pd_12m, f"pd_table.{bucket}.pd_12m")
            _fraction(row.pd_lifetime, f"pd_table.{bucket}.pd_lifetime")
            if row.pd_lifetime < row.pd_12m:
                raise ValidationError("must not be below pd_12m",
                                      field=f"pd_table.{bucket}.pd_lifetime")

    def bucket_pd(self, bucket: str) -> BucketPd:
        """The table row of ``bucket``; an unknown bucket beyond the table is worst-case."""
        if bucket in self.pd_table:
            return self.pd_table[bucket]
        return BucketPd(ONE, ONE)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "lgd": str(self.lgd), "ccf": str(self.ccf),
                "stage2_dpd": self.stage2_dpd, "stage3_dpd": self.stage3_dpd,
                "sicr_pd_multiple": str(self.sicr_pd_multiple),
                "line_lifetime_months": self.line_lifetime_months,
                "pd_table": {k: {"pd_12m": str(v.pd_12m), "pd_lifetime": str(v.pd_lifetime)}
                             for k, v in self.pd_table.items()}}


DEFAULT_PARAMETERS = ProvisionParameters()


# ----------------------------------------------------------------------------- pure core
def sicr_flag(dpd: int, pd_origination: Decimal | None, pd_current: Decimal | None,
              params: ProvisionParameters = DEFAULT_PARAMETERS) -> bool:
    """Significant increase in credit risk since origination."""
    if dpd > params.stage2_dpd:
        return True
    if pd_origination is not None and pd_current is not None and pd_origination > 0:
        return pd_current >= pd_origination * params.sicr_pd_multiple
    return False


def stage_for(dpd: int, sicr: bool, params: ProvisionParameters = DEFAULT_PARAMETERS) -> int:
    """IFRS 9 stage: 3 above ``stage3_dpd``, 2 on SICR, else 1."""
    if isinstance(dpd, bool) or not isinstance(dpd, int) or dpd < 0:
        raise ValidationError("must be a non-negative integer", field="dpd")
    if dpd > params.stage3_dpd:
        return 3
    return 2 if sicr else 1


def lifetime_pd(pd_12m: Decimal, remaining_months: int) -> Decimal:
    """Lifetime PD from a 12-month PD with a constant hazard:
    ``1 - (1 - pd_12m) ** (max(remaining_months, 12) / 12)``, 6 decimals half-up."""
    _fraction(pd_12m, "pd_12m")
    months = max(int(remaining_months), 12)
    survival = (ONE - pd_12m) ** (Decimal(months) / Decimal(12))
    return (ONE - survival).quantize(PD_PLACES, ROUND_HALF_UP)


def ead_minor(position: AccountPosition, ccf: Decimal) -> tuple[int, int]:
    """(EAD, drawn part): everything owed (principal, posted interest/fees/penalty, accrued
    interest and penalty) plus ``ccf`` x the undrawn limit, rounded half-up."""
    drawn = position.total_minor
    undrawn = (Decimal(position.undrawn_minor) * ccf).quantize(ONE, ROUND_HALF_UP)
    return drawn + int(undrawn), drawn


def ecl_minor(pd: Decimal, lgd: Decimal, ead: int) -> int:
    """PD x LGD x EAD rounded half-up to the minor unit."""
    _fraction(pd, "pd")
    _fraction(lgd, "lgd")
    if isinstance(ead, bool) or not isinstance(ead, int) or ead < 0:
        raise ValidationError("must be a non-negative integer of minor units", field="ead")
    return int((pd * lgd * Decimal(ead)).quantize(ONE, ROUND_HALF_UP))


def _months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from ``start`` to ``end``, rounded up (at least 0)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day > start.day:
        months += 1
    return max(months, 0)


@dataclass(frozen=True)
class AccountProvision:
    account_id: str
    customer_id: str
    currency: str
    product_code: str
    kind: str
    dpd: int
    bucket: str
    stage: int
    sicr: bool
    pd_origination: Decimal | None
    pd_current: Decimal | None
    pd_basis: str  # model | table | model_floored | impaired
    pd_used: Decimal
    lgd: Decimal
    drawn_minor: int
    undrawn_minor: int
    ead_minor: int
    ecl_minor: int

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v)
                for k, v in self.__dict__.items()}


def assess_account(position: AccountPosition, *, as_of: dt.date,
                   pd_origination: Decimal | None, pd_current: Decimal | None,
                   params: ProvisionParameters = DEFAULT_PARAMETERS) -> AccountProvision:
    """Stage, PD, EAD and ECL of one account (pure).

    PD: the account's model PD (risk decision / behaviour review) where known; for a
    delinquent account (not M0) floored at the bucket's table PD, since a model PD from
    before the arrears understates the risk; without a model PD the table PD. Stage 2 uses
    the lifetime PD (model: constant-hazard conversion over the remaining term, or the
    line's behavioural life; floored at the table's lifetime PD when delinquent), stage 3
    uses 1.
    """
    sicr = sicr_flag(position.dpd, pd_origination, pd_current, params)
    stage = stage_for(position.dpd, sicr, params)
    table = params.bucket_pd(position.bucket)
    model = pd_current if pd_current is not None else pd_origination
    if stage == 3:
        pd, basis = ONE, "impaired"
    else:
        if position.kind == "line" or position.last_due_date is None:
            remaining = params.line_lifetime_months
        else:
            remaining = _months_between(as_of, position.last_due_date)
        if model is None:
            pd = table.pd_12m if stage == 1 else table.pd_lifetime
            basis = "table"
        else:
            model = _fraction(model, "pd")
            pd = model if stage == 1 else lifetime_pd(model, remaining)
            basis = "model"
            if position.bucket != "M0":
                floor = table.pd_12m if stage == 1 else table.pd_lifetime
                if floor > pd:
                    pd, basis = floor, "model_floored"
        pd = pd.quantize(PD_PLACES, ROUND_HALF_UP)
    ead, drawn = ead_minor(position, params.ccf)
    return AccountProvision(
        position.account_id, position.customer_id, position.currency, position.product_code,
        position.kind, position.dpd, position.bucket, stage, sicr, pd_origination,
        pd_current, basis, pd, params.lgd, drawn, ead - drawn, ead,
        ecl_minor(pd, params.lgd, ead))


# ----------------------------------------------------------------------------- shell
@dataclass(frozen=True)
class ProvisionRun:
    business_date: dt.date
    parameters: ProvisionParameters
    accounts: list[AccountProvision]

    def totals(self) -> dict[str, dict[str, Any]]:
        """Per currency: per stage (accounts, EAD, ECL) and the allowance (sum of ECL)."""
        out: dict[str, dict[str, Any]] = {}
        stages: dict[str, dict[int, list[int]]] = defaultdict(
            lambda: {1: [0, 0, 0], 2: [0, 0, 0], 3: [0, 0, 0]})
        for item in self.accounts:
            row = stages[item.currency][item.stage]
            row[0] += 1
            row[1] += item.ead_minor
            row[2] += item.ecl_minor
        for currency in sorted(stages):
            by_stage = {str(s): {"accounts": v[0], "ead_minor": v[1], "ecl_minor": v[2]}
                        for s, v in stages[currency].items()}
            out[currency] = {"stages": by_stage,
                             "allowance_minor": sum(v[2] for v in stages[currency].values()),
                             "ead_minor": sum(v[1] for v in stages[currency].values())}
        return out

    def as_dict(self, *, accounts: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"business_date": self.business_date.isoformat(),
                                "parameters": self.parameters.as_dict(),
                                "totals": self.totals()}
        if accounts:
            data["accounts"] = [a.as_dict() for a in self.accounts]
        return data


def _current_pds(conn: Connection, as_of: dt.date) -> dict[str, Decimal]:
    """Latest behaviour-review PD per account dated on or before ``as_of`` (read-only)."""
    from creditpay.risk.decisions.queries import reviewed_pds

    return {account_id: Decimal(repr(pd))
            for account_id, pd in reviewed_pds(conn, as_of).items()}


def compute_provisions(conn: Connection, business_date: dt.date,
                       params: ProvisionParameters = DEFAULT_PARAMETERS) -> ProvisionRun:
    """ECL of every active account at the close of business of ``business_date`` (which
    any closed business date whose day-end positions are stored: regulatory.positions_at).
    Written-off and closed accounts carry none."""
    positions = [p for p in positions_at(conn, business_date) if p.status == "active"]
    decisions = approved_decisions(conn, {p.customer_id for p in positions})
    reviews = _current_pds(conn, business_date)
    accounts = []
    for p in positions:
        opened_end = dt.datetime.combine(p.opened_on + dt.timedelta(days=1), dt.time(0),
                                         tzinfo=dt.UTC)
        _, pd_origination = decision_at(decisions.get(p.customer_id, []), opened_end)
        accounts.append(assess_account(p, as_of=business_date, pd_origination=pd_origination,
                                       pd_current=reviews.get(p.account_id), params=params))
    return ProvisionRun(business_date, params, accounts)


@dataclass(frozen=True)
class ProvisionPosting:
    currency: str
    business_date: str
    allowance_before_minor: int
    allowance_after_minor: int
    change_minor: int  # > 0 charge, < 0 release
    transfer_id: str | None  # None when the allowance did not change
    replayed: bool  # True: this date was already posted; nothing moved now

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def provision_transfer_id(currency: str, business_date: dt.date) -> str:
    return f"compliance:provision:{currency}:{business_date.isoformat()}"


def _posted(conn: Connection, subject: str) -> dict[str, Any] | None:
    return first_audit_payload(conn, action=AUDIT_ACTION, subject_type=AUDIT_SUBJECT,
                               subject_id=subject)


def _lock(tx: Tx, business_date: dt.date) -> None:
    # Two runs of one date must not both post: serialise them. SQLite's BEGIN IMMEDIATE
    # already serialises writers; PostgreSQL takes a transaction-scoped advisory lock.
    if tx.dialect == "postgresql":
        key = int.from_bytes(hashlib.sha256(
            f"provision:{business_date.isoformat()}".encode()).digest()[:8], "big", signed=True)
        tx.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def post_provisions(tx: Tx, business_date: dt.date,
                    params: ProvisionParameters = DEFAULT_PARAMETERS, *,
                    actor_id: str = "provisioning") -> tuple[ProvisionRun,
                                                              list[ProvisionPosting]]:
    """Compute the ECL of ``business_date`` and post the change of the allowance per
    currency (idempotent per date). Returns the run and one posting per currency."""
    _lock(tx, business_date)
    run = compute_provisions(tx.conn, business_date, params)
    totals = run.totals()
    # A currency whose last account left the book still has an allowance to release.
    for currency in account_currencies(tx.conn, code="loss_provision", owner_type="platform"):
        totals.setdefault(currency, {"stages": {}, "allowance_minor": 0, "ead_minor": 0})
    postings = []
    for currency in sorted(totals):
        subject = f"{currency}:{business_date.isoformat()}"
        stored = _posted(tx.conn, subject)
        if stored is not None:
            postings.append(ProvisionPosting(**{**stored["posting"], "replayed": True}))
            continue
        if business_date != last_closed_business_date(tx.conn):
            # The allowance is one running balance: moving it to an earlier date's ECL
            # would undo the later dates' postings. Earlier dates are computed, not posted.
            raise StateError("provisions are posted for the last closed business date only;"
                             " an earlier date's provisions can be computed, not posted",
                             field="date")
        platform = ensure_platform_accounts(tx, currency)
        reserve, expense = platform["loss_provision"].id, platform["provision_expense"].id
        before = L.balance(tx.conn, reserve).balance_minor
        after = totals[currency]["allowance_minor"]
        change = after - before
        transfer_id = None
        if change:
            transfer_id = provision_transfer_id(currency, business_date)
            debit, credit = (expense, reserve) if change > 0 else (reserve, expense)
            L.create_transfer(tx, L.TransferRequest(
                transfer_id, TRANSFER_CODE, debit_account_id=debit, credit_account_id=credit,
                amount_minor=abs(change), reference=subject,
                metadata={"parameters_version": params.version}))
        posting = ProvisionPosting(currency, business_date.isoformat(), before, after, change,
                                   transfer_id, False)
        audit.append(tx, "system", actor_id, AUDIT_ACTION, AUDIT_SUBJECT, subject, {
            "posting": {k: v for k, v in posting.as_dict().items() if k != "replayed"},
            "parameters_version": params.version,
            "stages": totals[currency]["stages"]})
        tx.emit("compliance.provision.posted", AUDIT_SUBJECT, subject, posting.as_dict())
        postings.append(posting)
    return run, postings
