"""Read-only views of stored credit decisions: for the consumer who applied, the
portfolio reads risk's early warning needs (:func:`approved_grades`, :func:`decided_between`,
:func:`scored_decisions`) and the data-subject export and erasure's (:func:`decision_records`,
:func:`last_decided_at`), so no module outside risk.decisions reads its tables.

A consumer sees their own decisions: outcome, date, limit, price, grade and the principal
reasons in their language (the adverse-action notice of a decline), never the model's
features, score internals or another customer's decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from creditpay.errors import ValidationError
from creditpay.platform.validators import check_language
from creditpay.risk.decisions import engine
from creditpay.risk.decisions.referrals import review_reasons
from creditpay.risk.decisions.tables import (
    credit_decisions,
    credit_policies,
    credit_policy_activations,
    credit_referral_reviews,
    risk_model_assignments,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["ConsumerDecision", "customer_decisions", "consumer_reasons", "DECISIONS_MAX",
           "approved_grades", "latest_grade_and_pd", "decided_between", "ScoredDecision", "scored_decisions",
           "first_scored_at", "reviewed_pds", "ApprovedDecision", "approved_history",
           "DecisionRecord", "decision_records", "last_decided_at", "policy_versions",
           "policy_document", "model_assignments", "decision_detail"]

DECISIONS_MAX = 100


@dataclass(frozen=True)
class ConsumerDecision:
    """One decision as its applicant sees it. ``limit_minor`` in minor units (None unless
    approved), ``apr_bps`` in basis points of a year (None unless approved)."""

    decision_id: str
    application_id: str
    product_code: str
    decided_at: dt.datetime
    outcome: str  # approve | decline | refer
    grade: str
    limit_minor: int | None
    apr_bps: int | None
    currency: str
    reasons: tuple[dict[str, Any], ...]
    # A referred application shows the reviewer's verdict as its outcome (with its limit and
    # price, or its reason) once there is one; ``referred`` says a person decided it.
    referred: bool = False
    reviewed_at: dt.datetime | None = None

    @property
    def apr_percent(self) -> str | None:
        """The annual rate as a percent with 2 decimals ("18.25"), None when not priced."""
        apr = engine.apr_from_bps(self.apr_bps)
        return None if apr is None else f"{apr * 100:.2f}"


def consumer_reasons(reasons: Any, language: str) -> list[dict[str, str]]:
    """The stored reasons as the consumer reads them: ``code`` and ``text`` in ``language``
    (``zh-CN`` or ``en``)."""
    check_language(language, "lang")
    key = "en" if language == "en" else "zh"
    return [{"code": str(r.get("code", "")), "text": str(r.get(key) or r.get("en") or "")}
            for r in reasons or () if isinstance(r, dict)]


def customer_decisions(conn: Connection, customer_id: str, *,
                       limit: int = DECISIONS_MAX) -> list[ConsumerDecision]:
    """The customer's credit decisions, newest first (at most ``limit``)."""
    if not isinstance(customer_id, str) or not 1 <= len(customer_id) <= 64:
        raise ValidationError("must be 1-64 characters", field="customer_id")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= DECISIONS_MAX:
        raise ValidationError(f"must be 1-{DECISIONS_MAX}", field="limit")
    c, r = credit_decisions.c, credit_referral_reviews.c
    rows = conn.execute(select(
        c.id, c.application_id, c.product_code, c.decided_at, c.outcome, c.grade,
        c.limit_minor, c.apr_bps, c.currency, c.reasons, r.verdict,
        r.limit_minor.label("granted_limit_minor"), r.apr_bps.label("granted_apr_bps"),
        r.reason_code, r.reviewed_at)
        .select_from(credit_decisions.outerjoin(credit_referral_reviews,
                                                r.decision_id == c.id))
        .where(c.customer_id == customer_id)
        .order_by(c.decided_at.desc(), c.id.desc()).limit(limit)).all()
    out = []
    for row in rows:
        decided_at: dt.datetime = row.decided_at  # NOT NULL; aware UTC (UtcDateTime)
        if row.verdict is not None:
            out.append(ConsumerDecision(
                row.id, row.application_id, row.product_code, decided_at, row.verdict,
                row.grade, row.granted_limit_minor, row.granted_apr_bps, row.currency,
                tuple(review_reasons(row.reason_code)), True, row.reviewed_at))
            continue
        pending = row.outcome == "refer"  # under review: no offer is made yet
        out.append(ConsumerDecision(row.id, row.application_id, row.product_code, decided_at,
                                    row.outcome, row.grade,
                                    None if pending else row.limit_minor,
                                    None if pending else row.apr_bps,
                                    row.currency, tuple(row.reasons or ()), pending))
    return out



# ------------------------------------------------------------------ portfolio reads (risk)
def approved_grades(conn: Connection) -> pl.DataFrame:
    """``customer_id`` -> ``grade`` of the customer's latest approved decision (by decision
    time, then id), one row per customer with a graded approval."""
    import polars as pl

    d = credit_decisions.c
    rows = conn.execute(select(d.customer_id, d.grade).where(
        d.outcome == "approve", d.grade.is_not(None))
        .order_by(d.customer_id, d.decided_at, d.id)).all()
    frame = pl.DataFrame(rows, orient="row",
                         schema={"customer_id": pl.String, "grade": pl.String})
    return frame.unique("customer_id", keep="last", maintain_order=True)


def decided_between(conn: Connection, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """``product_code, outcome`` of every decision made in ``[start, end)``."""
    import polars as pl

    d = credit_decisions.c
    rows = conn.execute(select(d.product_code, d.outcome).where(
        d.decided_at >= start, d.decided_at < end)).all()
    return pl.DataFrame(rows, orient="row",
                        schema={"product_code": pl.String, "outcome": pl.String})


@dataclass(frozen=True)
class ScoredDecision:
    """The score (model units) and feature values one decision was made on."""

    score: float
    features: dict[str, Any]


def _scored(model_name: str, model_version: int) -> list[Any]:
    d = credit_decisions.c
    return [d.model_name == model_name, d.model_version == model_version,
            d.score.is_not(None)]


def first_scored_at(conn: Connection, model_name: str, model_version: int
                    ) -> dt.datetime | None:
    """When the first decision scored by ``model_name`` v``model_version`` was made."""
    d = credit_decisions.c
    first: dt.datetime | None = conn.execute(select(func.min(d.decided_at)).where(
        *_scored(model_name, model_version))).scalar()
    return first


def scored_decisions(conn: Connection, model_name: str, model_version: int,
                     start: dt.datetime, end: dt.datetime) -> list[ScoredDecision]:
    """Decisions scored by ``model_name`` v``model_version`` in ``[start, end)``, in
    decision order."""
    d = credit_decisions.c
    rows = conn.execute(select(d.score, d.features).where(
        *_scored(model_name, model_version), d.decided_at >= start, d.decided_at < end)
        .order_by(d.decided_at, d.id)).all()
    return [ScoredDecision(float(r.score), dict(r.features or {})) for r in rows]


def reviewed_pds(conn: Connection, as_of: dt.date) -> dict[str, float]:
    """Account id -> PD (0..1) of the account's latest behaviour limit review dated on or
    before ``as_of`` (review date, then id)."""
    from creditpay.risk.decisions.tables import limit_review_actions

    r = limit_review_actions.c
    found: dict[str, float] = {}
    for row in conn.execute(select(r.account_id, r.pd).where(r.review_date <= as_of)
                            .order_by(r.review_date, r.id)):
        found[row.account_id] = float(row.pd)
    return found


@dataclass(frozen=True)
class ApprovedDecision:
    """An approval as reports date it: ``decided_at`` aware UTC, ``pd`` 0..1 (the stored
    double) or None."""

    decided_at: dt.datetime
    grade: str | None
    pd: float | None


def approved_history(conn: Connection, customer_ids: Iterable[str]
                     ) -> dict[str, list[ApprovedDecision]]:
    """Approved decisions per customer, oldest first (decision time, then id); customers
    without one are absent. One statement per 1,000 customers."""
    d = credit_decisions.c
    ids = sorted(set(customer_ids))
    found: dict[str, list[ApprovedDecision]] = {}
    for start in range(0, len(ids), 1_000):
        for row in conn.execute(select(d.customer_id, d.decided_at, d.grade, d.pd)
                                .where(d.customer_id.in_(ids[start:start + 1_000]),
                                       d.outcome == "approve")
                                .order_by(d.decided_at, d.id)):
            decided = row.decided_at if row.decided_at.tzinfo else \
                row.decided_at.replace(tzinfo=dt.UTC)
            found.setdefault(row.customer_id, []).append(ApprovedDecision(
                decided, row.grade, None if row.pd is None else float(row.pd)))
    return found


# ------------------------------------------------------------------ one customer (subject rights)
@dataclass(frozen=True)
class DecisionRecord:
    """One stored decision as the data-subject export shows it (no inputs, features or
    model internals beyond the score): ``pd`` 0..1, ``limit_minor`` in minor units,
    ``apr_bps`` in basis points of a year, ``reasons`` as stored; ``decided_at`` aware
    UTC."""

    id: str
    application_id: str
    product_code: str
    decided_at: dt.datetime
    outcome: str
    grade: str | None
    score: float | None
    pd: float | None
    limit_minor: int | None
    apr_bps: int | None
    currency: str
    reasons: list[dict[str, Any]]


def decision_records(conn: Connection, customer_id: str, *, limit: int
                     ) -> list[DecisionRecord]:
    """The customer's decisions, oldest first (decision time, then id), at most ``limit``
    (one statement)."""
    d = credit_decisions.c
    return [DecisionRecord(r.id, r.application_id, r.product_code,
                           r.decided_at if r.decided_at.tzinfo is not None
                           else r.decided_at.replace(tzinfo=dt.UTC),  # SQLite: naive UTC
                           r.outcome, r.grade,
                           r.score, r.pd, r.limit_minor, r.apr_bps, r.currency, r.reasons)
            for r in conn.execute(select(d.id, d.application_id, d.product_code,
                                         d.decided_at, d.outcome, d.grade, d.score, d.pd,
                                         d.limit_minor, d.apr_bps, d.currency, d.reasons)
                                  .where(d.customer_id == customer_id)
                                  .order_by(d.decided_at, d.id).limit(limit))]


def last_decided_at(conn: Connection, customer_id: str) -> dt.datetime | None:
    """When the customer's latest credit decision was made (any outcome), aware UTC; None
    when there is none (one statement)."""
    d = credit_decisions.c
    # func.max keeps the column's UtcDateTime type: the result is aware UTC
    latest: dt.datetime | None = conn.execute(select(func.max(d.decided_at)).where(
        d.customer_id == customer_id)).scalar_one()
    return latest


# ------------------------------------------------------------------ versions (console, #16)
def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)  # SQLite


def policy_versions(conn: Connection) -> list[dict[str, Any]]:
    """Every stored credit policy (kind, id, version, content hash, stored at) with its
    activations (when, by whom), newest stored first; ``live``: the latest activation of
    its kind is this document. Two statements; documents not read."""
    p, a = credit_policies.c, credit_policy_activations.c
    activations: dict[str, list[dict[str, Any]]] = {}
    latest: dict[str, tuple[int, str]] = {}
    for row in conn.execute(select(a.id, a.policy_kind, a.content_hash, a.activated_at,
                                   a.actor).order_by(a.id)):
        activations.setdefault(row.content_hash, []).append(
            {"activated_at": _utc(row.activated_at), "actor": row.actor})
        latest[row.policy_kind] = (int(row.id), row.content_hash)
    live = {content_hash for _, content_hash in latest.values()}
    return [{"kind": r.policy_kind, "policy_id": r.policy_id, "version": r.version,
             "content_hash": r.content_hash, "stored_at": _utc(r.stored_at),
             "activations": activations.get(r.content_hash, []),
             "live": r.content_hash in live}
            for r in conn.execute(select(p.policy_kind, p.policy_id, p.version,
                                         p.content_hash, p.stored_at)
                                  .order_by(p.stored_at.desc(), p.content_hash))]


def policy_document(conn: Connection, content_hash: str) -> dict[str, Any] | None:
    """The stored document of a policy by its content hash (None: no such policy)."""
    if not isinstance(content_hash, str) or not 1 <= len(content_hash) <= 64:
        raise ValidationError("must be a policy content hash", field="policy_hash")
    document = conn.execute(select(credit_policies.c.document).where(
        credit_policies.c.content_hash == content_hash)).scalar_one_or_none()
    return None if document is None else dict(document)


def model_assignments(conn: Connection) -> list[dict[str, Any]]:
    """Every champion / challenger assignment of every model name, newest first: which
    version decided from when, put in force by whom and why (one statement)."""
    m = risk_model_assignments.c
    return [{"name": r.name, "champion_version": int(r.champion_version),
             "challenger_version": r.challenger_version,
             "challenger_share_bps": int(r.challenger_share_bps),
             "assigned_at": _utc(r.assigned_at), "actor": r.actor, "reason": r.reason}
            for r in conn.execute(select(risk_model_assignments).order_by(m.id.desc()))]


def decision_detail(conn: Connection, decision_id: str) -> dict[str, Any] | None:
    """What decided one credit decision: the model (name, version, champion or
    challenger), the policy (id, version, content hash), outcome, grade, score, PD and the
    reason codes, as stored when it was decided (None: no such decision). Features and
    inputs are not included (they are the applicant's data)."""
    if not isinstance(decision_id, str) or not 1 <= len(decision_id) <= 32:
        raise ValidationError("must be a decision id", field="decision_id")
    d = credit_decisions.c
    r = conn.execute(select(d.id, d.application_id, d.customer_id, d.product_code,
                            d.decided_at, d.outcome, d.grade, d.score, d.pd, d.limit_minor,
                            d.apr_bps, d.currency, d.model_name, d.model_version,
                            d.model_role, d.policy_id, d.policy_version, d.policy_hash,
                            d.reasons).where(d.id == decision_id)).first()
    if r is None:
        return None
    return {"decision_id": r.id, "application_id": r.application_id,
            "customer_id": r.customer_id, "product_code": r.product_code,
            "decided_at": _utc(r.decided_at), "outcome": r.outcome, "grade": r.grade,
            "score": r.score, "pd": r.pd, "limit_minor": r.limit_minor,
            "apr_bps": r.apr_bps, "currency": r.currency, "model_name": r.model_name,
            "model_version": int(r.model_version), "model_role": r.model_role,
            "policy_id": r.policy_id, "policy_version": r.policy_version,
            "policy_hash": r.policy_hash, "reasons": list(r.reasons or [])}


def latest_grade_and_pd(conn: Connection, customer_id: str
                        ) -> tuple[str | None, Decimal | None]:
    """The grade and PD of the customer's latest approved credit decision (what partner
    lenders' appetites are matched on), or (None, None). The PD is stored as a float by the
    scoring engine; it is carried on as a Decimal of its shortest repr (never money)."""
    c = credit_decisions.c
    row = conn.execute(select(c.grade, c.pd).where(
        c.customer_id == customer_id, c.outcome == "approve").order_by(
        c.decided_at.desc(), c.id.desc()).limit(1)).first()
    if row is None:
        return None, None
    return row.grade, (Decimal(repr(row.pd)) if row.pd is not None else None)
