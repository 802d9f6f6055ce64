"""Referred applications: the queue a person works, and the verdict that ends a referral.

The application policy refers what it should not decide alone (today: grade D with under
three months of platform history), and the consumer is told the application is under review.
This module is that review:

* :func:`list_referrals` is the queue, oldest first (``pending``: no verdict yet), with what
  the reviewer needs: grade, score, PD, the offer the policy computed, the reasons and the
  feature values the decision stored;
* :func:`resolve_referral` records the verdict once, in the caller's transaction: ``approve``
  at most the limit the policy computed (a reviewer may lower it, never raise it: the policy
  already applied the exposure cap) and at the policy's price for the grade; ``decline``
  with one of :data:`REVIEW_REASONS`, which the consumer reads as the adverse-action reason;
* :func:`expire_referrals` (nightly) declines what no one decided within
  :data:`DEADLINE_DAYS`, so no consumer waits "under review" for ever.
  It emits ``risk.referral.resolved`` (the notification) and appends an audit record naming
  the reviewer;
* :func:`review_referral` is the reviewer's use case (the operator route and the simulator
  run it): the one-line check before an approval, the verdict, and the line an approval
  opens, in one transaction, as for an automated approval.

The decision row itself is never changed: the stored decision says ``refer`` and why, the
review row says who decided what afterwards. :func:`creditpay.risk.decisions.queries.
customer_decisions` shows the consumer the final outcome.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select

from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.i18n import N_, bilingual
from creditpay.parties.service import Principal
from creditpay.platform import audit
from creditpay.risk.decisions.applications import (
    LineOpener,
    OpenedLine,
    opened_line,
    require_no_line,
)
from creditpay.risk.decisions.tables import credit_decisions, credit_referral_reviews

__all__ = ["DEADLINE_DAYS", "REVIEW_REASONS", "RESOLVED_TOPIC", "Referral",
           "expire_referrals", "list_referrals", "resolve_referral", "REFERRALS_MAX",
           "ReviewReferral", "ReviewedReferral", "review_referral"]

RESOLVED_TOPIC = "risk.referral.resolved"
REFERRALS_MAX = 200
# What a reviewer may give as the reason of a decline: the consumer's notice reads it.
# Code -> the consumer's text, a msgid of the creditpay catalogs (creditpay.i18n).
REVIEW_REASONS: dict[str, str] = {
    "REVIEW_SHORT_HISTORY": N_("Not enough history on the platform yet; you may apply again "
                               "after three months of use"),
    "REVIEW_AFFORDABILITY": N_("Your income and current debts do not support new credit at "
                               "this time"),
    "REVIEW_CREDIT_REPORT": N_("Information in your credit report (repayment history or "
                               "credit in use)"),
    "REVIEW_UNVERIFIED": N_("We could not verify the information in your application"),
}
# The decline the nightly batch gives a referral no one decided in time: the consumer must
# hear within 30 days of a complete application (as Regulation B requires of a notice of
# action), so an unworked referral is not left "under review" for ever.
DEADLINE_DAYS = 30
DEADLINE_REASON = "REVIEW_NOT_COMPLETED"
DEADLINE_REVIEWER = "system:referral-deadline"
_DEADLINE_TEXT = N_("We could not complete the review of your application in time; you may "
                    "apply again")
Verdict = Literal["approve", "decline"]
_ID_CHARS_MAX = 64


@dataclass(frozen=True)
class Referral:
    """A referred decision and, once resolved, its verdict. Amounts in minor units; the
    offered limit and price are what the policy computed for the grade."""

    decision_id: str
    application_id: str
    customer_id: str
    product_code: str
    decided_at: dt.datetime
    grade: str
    score: float
    pd: float
    offered_limit_minor: int | None
    offered_apr_bps: int | None
    currency: str
    reasons: list[dict[str, Any]]
    features: dict[str, Any]
    status: Literal["pending", "resolved"]
    verdict: str | None = None
    limit_minor: int | None = None
    apr_bps: int | None = None
    reason_code: str | None = None
    reviewer_id: str | None = None
    reviewed_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("decided_at", "reviewed_at"):
            out[key] = None if out[key] is None else out[key].isoformat()
        return out


def _query() -> Any:
    d, r = credit_decisions.c, credit_referral_reviews.c
    return (select(d.id, d.application_id, d.customer_id, d.product_code, d.decided_at,
                   d.grade, d.score, d.pd, d.limit_minor, d.apr_bps, d.currency, d.reasons,
                   d.features, r.verdict, r.limit_minor.label("granted_limit_minor"),
                   r.apr_bps.label("granted_apr_bps"), r.reason_code, r.reviewer_id,
                   r.reviewed_at)
            .select_from(credit_decisions.outerjoin(
                credit_referral_reviews, r.decision_id == d.id))
            .where(d.outcome == "refer"))


def _referral(row: Any) -> Referral:
    return Referral(
        row.id, row.application_id, row.customer_id, row.product_code,
        row.decided_at, row.grade, float(row.score), float(row.pd), row.limit_minor,
        row.apr_bps, row.currency, list(row.reasons or ()), dict(row.features),
        "pending" if row.verdict is None else "resolved", row.verdict,
        row.granted_limit_minor, row.granted_apr_bps, row.reason_code, row.reviewer_id,
        row.reviewed_at)


def list_referrals(conn: Connection, *, status: str | None = "pending",
                   limit: int = 50) -> list[Referral]:
    """Referred decisions, oldest first: ``pending`` (no verdict), ``resolved`` or all
    (``None``); at most ``limit`` (1..REFERRALS_MAX)."""
    if status not in (None, "pending", "resolved"):
        raise ValidationError("must be pending or resolved", field="status")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= REFERRALS_MAX:
        raise ValidationError(f"must be 1-{REFERRALS_MAX}", field="limit")
    query = _query()
    if status == "pending":
        query = query.where(credit_referral_reviews.c.id.is_(None))
    elif status == "resolved":
        query = query.where(credit_referral_reviews.c.id.is_not(None))
    d = credit_decisions.c
    rows = conn.execute(query.order_by(d.decided_at, d.id).limit(limit)).all()
    return [_referral(row) for row in rows]


def get_referral(conn: Connection, decision_id: str) -> Referral:
    """One referral by its decision id (NotFoundError when no such decision was referred)."""
    row = conn.execute(_query().where(credit_decisions.c.id == decision_id)).first()
    if row is None:
        raise NotFoundError(f"no referred decision {decision_id}", field="decision_id")
    return _referral(row)


def _checked_verdict(conn: Any, decision_id: str, *, reviewer_id: str, verdict: Verdict,
                     limit_minor: int | None, reason_code: str | None
                     ) -> tuple[Referral, int | None, int | None]:
    """The checks of :func:`resolve_referral`, writing nothing: the referral, the limit an
    approval grants (the offer when none is given) and its price."""
    if not isinstance(reviewer_id, str) or not 1 <= len(reviewer_id) <= _ID_CHARS_MAX:
        raise ValidationError(f"must be 1-{_ID_CHARS_MAX} characters", field="reviewer_id")
    if verdict not in ("approve", "decline"):
        raise ValidationError("must be approve or decline", field="verdict")
    stored = conn.execute(select(credit_decisions.c.outcome).where(
        credit_decisions.c.id == decision_id)).scalar()
    if stored is None:
        raise NotFoundError(f"decision {decision_id} not found", field="decision_id")
    if stored != "refer":
        raise StateError(f"decision {decision_id} was {stored}, not referred",
                         field="decision_id", rule="referral.not_referred")
    referral = get_referral(conn, decision_id)
    if referral.status == "resolved":
        raise StateError(f"referral {decision_id} was resolved already ({referral.verdict}"
                         f" by {referral.reviewer_id})", field="decision_id",
                         rule="referral.already_resolved")
    apr_bps = None
    if verdict == "approve":
        if reason_code is not None:
            raise ValidationError("only a decline gives a reason", field="reason_code")
        offered = referral.offered_limit_minor or 0
        limit_minor = offered if limit_minor is None else limit_minor
        if isinstance(limit_minor, bool) or not isinstance(limit_minor, int) \
                or not 1 <= limit_minor <= offered:
            raise ValidationError(f"must be 1-{offered} minor units (the limit the policy "
                                  "computed; a reviewer may lower it, not raise it)",
                                  field="limit_minor")
        apr_bps = referral.offered_apr_bps
    else:
        if limit_minor is not None:
            raise ValidationError("a decline grants no limit", field="limit_minor")
        if reason_code not in REVIEW_REASONS:
            raise ValidationError(f"must be one of {sorted(REVIEW_REASONS)}",
                                  field="reason_code")
    return referral, limit_minor, apr_bps


def check_review(conn: Any, command: ReviewReferral) -> int | None:
    """Everything :func:`review_referral` refuses, refused now and nothing written: the
    limit the approval would grant (None for a decline). A route asks it before proposing
    an approval to a second operator (four-eyes above the threshold)."""
    _, limit_minor, _ = _checked_verdict(conn, command.decision_id,
                                         reviewer_id=command.reviewer.id,
                                         verdict=command.verdict,
                                         limit_minor=command.limit_minor,
                                         reason_code=command.reason_code)
    if command.verdict == "approve":
        referral = get_referral(conn, command.decision_id)
        require_no_line(conn, referral.customer_id, referral.currency)
    return limit_minor


def resolve_referral(tx: Tx, decision_id: str, *, reviewer_id: str, verdict: Verdict,
                     limit_minor: int | None = None, reason_code: str | None = None
                     ) -> Referral:
    """Record the verdict on a referred decision (see the module docstring).

    ``limit_minor`` (approve only; default the offered limit) must be 1..offered limit;
    ``reason_code`` (decline only, required) one of :data:`REVIEW_REASONS`. A decision that
    was not referred, or a referral already resolved, is a StateError; nothing is written
    on any refusal.
    """
    referral, limit_minor, apr_bps = _checked_verdict(
        tx.conn, decision_id, reviewer_id=reviewer_id, verdict=verdict,
        limit_minor=limit_minor, reason_code=reason_code)
    _record_verdict(tx, referral, verdict, limit_minor, apr_bps, reason_code, reviewer_id,
                    "staff")
    return get_referral(tx.conn, decision_id)


@dataclass(frozen=True)
class ReviewReferral:
    """A reviewer's verdict on a referral: ``limit_minor`` (approve; default the offered
    limit) and ``reason_code`` (decline) as :func:`resolve_referral` takes them;
    ``line_product_code`` is the product of the line an approval opens."""

    decision_id: str
    reviewer: Principal
    verdict: Verdict
    line_product_code: str
    limit_minor: int | None = None
    reason_code: str | None = None


@dataclass(frozen=True)
class ReviewedReferral:
    """The resolved referral and the line its approval opened (None otherwise)."""

    referral: Referral
    line: OpenedLine | None


def review_referral(tx: Tx, command: ReviewReferral, *, open_line: LineOpener
                    ) -> ReviewedReferral:
    """Resolve a referral and, on approval, open the line (granted by the reviewer), in the
    caller's transaction. An approval for a customer who has a line in the referral's
    currency is refused (ConflictLine on ``customer_id``) before the verdict is written;
    other refusals are :func:`resolve_referral`'s."""
    referral = get_referral(tx.conn, command.decision_id)
    if command.verdict == "approve":
        # Refused before the verdict is written: one line per customer and currency.
        require_no_line(tx.conn, referral.customer_id, referral.currency)
    resolved = resolve_referral(
        tx, command.decision_id, reviewer_id=command.reviewer.id, verdict=command.verdict,
        limit_minor=command.limit_minor, reason_code=command.reason_code)
    line = None
    if resolved.verdict == "approve" and resolved.limit_minor:
        line = opened_line(open_line(tx, command.reviewer, resolved.customer_id,
                                     limit_minor=resolved.limit_minor,
                                     product_code=command.line_product_code,
                                     currency=resolved.currency))
    return ReviewedReferral(resolved, line)


def _record_verdict(tx: Tx, referral: Referral, verdict: str, limit_minor: int | None,
                    apr_bps: int | None, reason_code: str | None, reviewer_id: str,
                    actor_type: str) -> None:
    tx.conn.execute(credit_referral_reviews.insert().values(
        decision_id=referral.decision_id, verdict=verdict, limit_minor=limit_minor,
        apr_bps=apr_bps, reason_code=reason_code, reviewer_id=reviewer_id,
        reviewed_at=tx.now))
    payload = {"decision_id": referral.decision_id, "verdict": verdict,
               "limit_minor": limit_minor, "apr_bps": apr_bps, "reason_code": reason_code}
    tx.emit(RESOLVED_TOPIC, "credit_application", referral.application_id,
            {**payload, "customer_id": referral.customer_id,
             "currency": referral.currency})
    audit.append(tx, actor_type, reviewer_id, "credit.referral.resolved",
                 "credit_application", referral.application_id, payload)


def expire_referrals(tx: Tx, *, deadline_days: int = DEADLINE_DAYS) -> list[str]:
    """Decline every referral still pending ``deadline_days`` after its decision, with
    :data:`DEADLINE_REASON` (the nightly batch runs it); returns their decision ids, oldest
    first. A referral decided by a person in the meantime is left alone; a re-run declines
    nothing twice."""
    if isinstance(deadline_days, bool) or not isinstance(deadline_days, int) \
            or not 1 <= deadline_days <= 365:
        raise ValidationError("must be 1-365 days", field="deadline_days")
    cutoff = tx.now - dt.timedelta(days=deadline_days)
    d = credit_decisions.c
    rows = tx.conn.execute(_query().where(credit_referral_reviews.c.id.is_(None),
                                          d.decided_at <= cutoff)
                           .order_by(d.decided_at, d.id)).all()
    for row in rows:
        _record_verdict(tx, _referral(row), "decline", None, None, DEADLINE_REASON,
                        DEADLINE_REVIEWER, "system")
    return [row.id for row in rows]


def review_reasons(reason_code: str | None) -> list[dict[str, Any]]:
    """The consumer-facing reasons of a review's decline (empty for an approval)."""
    if reason_code is None:
        return []
    text = _DEADLINE_TEXT if reason_code == DEADLINE_REASON else REVIEW_REASONS[reason_code]
    return [{"code": reason_code, "source": "review", **bilingual(text)}]
