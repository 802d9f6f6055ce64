"""Read-only views of stored credit decisions for the consumer who applied.

A consumer sees their own decisions: outcome, date, limit, price, grade and the principal
reasons in their language (the adverse-action notice of a decline), never the model's
features, score internals or another customer's decision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from creditpay.errors import ValidationError
from creditpay.platform.validators import check_language
from creditpay.risk.decisions import engine
from creditpay.risk.decisions.referrals import review_reasons
from creditpay.risk.decisions.tables import credit_decisions, credit_referral_reviews

__all__ = ["ConsumerDecision", "customer_decisions", "consumer_reasons", "DECISIONS_MAX"]

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
        decided_at = row.decided_at
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

