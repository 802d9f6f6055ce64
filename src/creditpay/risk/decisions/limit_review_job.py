"""The periodic limit review job (提额/降额/冻结): features from the platform, score, act.

:func:`run_limit_review` is what the close of business (or ``creditpay risk limit-review``)
calls. For every active credit line it builds the behaviour features from the credit
domain's public functions, lets :func:`~creditpay.risk.decisions.limit_review.review_limits`
score them with the behaviour model in force and the active ``limit_review`` policy (each
decision is stored once per review date), and applies the changes through
:func:`creditpay.credit.service.set_credit_limit`, one transaction per line, notifying the
consumer in that same transaction (outbox event ``risk.limit_review.notified``, reasons in
zh-CN and English).

Feature mapping (what the behaviour model expects → where it comes from):

* ``current_limit_minor``: the line's limit (``credit.service.portfolio``);
* ``utilisation``: in use / limit, in use = limit − available (``credit.service.line_of``,
  so open authorisation holds and plans drawn on the line count as used);
* ``dpd_current``: the worst days past due over the customer's active accounts;
* ``other_exposure_minor``: ``credit.service.exposure_minor`` minus what is in use on this
  line (plans, loans and holds elsewhere);
* ``months_on_book``: whole months since the line account was opened.

Approximated, because the credit domain exposes no repayment history:

* ``dpd_max_6m``: the worst of today's DPD and the DPD recorded by this job's own reviews
  of the last 183 days (so it is only as fine-grained as the review cadence);
* ``on_time_share_6m``: the share of those reviews (today's included) at which the
  customer was not past due;
* ``payments_count_90d``: platform payments are the payments domain's; a caller that has
  them passes ``payments_count_90d=`` (customer id, business date → count); by default the
  count of the customer's credit accounts (purchases on credit, plans, loans) opened in the
  last 90 days stands in for it.

Actions as applied: *increase* to the policy's limit, unless the affordability rule
``limit_increase_cooling_off`` (compliance.affordability, default one raise per 90 days)
refuses it, counting the raises this job granted; then the line is kept and the reason
recorded. *decrease* to the policy's limit but never below what is in use (the amount in use
instead). *freeze*: the limit is set to what is in use, so nothing more can be drawn.
The stored action is updated to what was actually done.

Idempotent per review date: a date already reviewed keeps its stored actions and only
actions still pending are applied (a second run of the same date changes nothing). Lines are
read and reviewed in batches of ``batch_size``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update

from creditpay.credit import service as credit
from creditpay.credit.affordability import (
    DEFAULT_POLICY,
    BorrowerSnapshot,
    RuleOutcome,
    assess_limit_increase,
)
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import ValidationError
from creditpay.formatting import money_text
from creditpay.i18n import LANGUAGES, N_, per_language
from creditpay.platform.validators import check_date
from creditpay.risk.decisions.limit_review import LimitAction, apply_limit_actions, review_limits
from creditpay.risk.decisions.tables import limit_review_actions

__all__ = ["LimitReviewReport", "NOTIFIED_TOPIC", "behaviour_features", "review_due",
           "run_limit_review"]

NOTIFIED_TOPIC = "risk.limit_review.notified"
BATCH_SIZE_MAX = 10_000
HISTORY_DAYS = 183
PAYMENTS_WINDOW_DAYS = 90
# The notice of each change: msgids of the creditpay catalogs (creditpay.i18n).
_TEXT = {
    "increase": N_("Your credit limit was raised from {old} to {new}."),
    "decrease": N_("Your credit limit was lowered from {old} to {new}."),
    "freeze": N_("Your credit limit is frozen at the amount in use, {new}; no new spending on "
                 "credit for now."),
}

PaymentsCount = Callable[[Any, str, dt.date], int]


@dataclasses.dataclass
class LimitReviewReport:
    business_date: str
    due: bool
    accounts: int = 0
    actions: dict[str, int] = dataclasses.field(default_factory=dict)
    applied: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def review_due(conn: Any, business_date: dt.date, every_days: int) -> bool:
    """Due when no review ran in the last ``every_days`` days, or this date's review exists
    (so a run interrupted after reviewing resumes applying)."""
    last = conn.execute(select(func.max(limit_review_actions.c.review_date)).where(
        limit_review_actions.c.review_date <= business_date)).scalar_one()
    return last is None or last == business_date or \
        (business_date - last).days >= every_days


def _months_between(start: dt.date, end: dt.date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return max(0, months - (end.day < start.day))


def behaviour_features(conn: Any, business_date: dt.date, lines: list[Any],
                       accounts: list[Any], *,
                       payments_count_90d: PaymentsCount | None = None,
                       currency: str = "CNY") -> list[dict[str, Any]]:
    """One ``review_limits`` row per line in ``lines`` (``credit.service.PortfolioLine``),
    from the portfolio ``accounts`` and this job's past reviews (see the module docstring)."""
    by_customer: dict[str, list[Any]] = {}
    for account in accounts:
        by_customer.setdefault(account.customer_id, []).append(account)
    customers = sorted({line.customer_id for line in lines})
    since = business_date - dt.timedelta(days=HISTORY_DAYS)
    history: dict[str, list[dict[str, Any]]] = {}
    if customers:
        for row in conn.execute(select(limit_review_actions.c.customer_id,
                                       limit_review_actions.c.features).where(
                limit_review_actions.c.customer_id.in_(customers),
                limit_review_actions.c.review_date >= since,
                limit_review_actions.c.review_date < business_date)):
            history.setdefault(row.customer_id, []).append(row.features)
    rows = []
    for line in lines:
        own = [a for a in by_customer.get(line.customer_id, []) if a.status == "active"]
        view = credit.line_of(conn, line.line_id)
        in_use = max(0, view.limit_minor - view.available_minor)
        dpd_now = max((a.dpd for a in own), default=0)
        past = history.get(line.customer_id, [])
        dpd_max = max([dpd_now] + [int(f.get("dpd_current", 0)) for f in past])
        on_time = (sum(1 for f in past if int(f.get("dpd_current", 0)) == 0)
                   + (dpd_now == 0)) / (len(past) + 1)
        line_account = next((a for a in by_customer.get(line.customer_id, [])
                             if a.account_id == line.line_id), None)
        opened = line_account.opened_on if line_account is not None else business_date
        if payments_count_90d is not None:
            payments = int(payments_count_90d(conn, line.customer_id, business_date))
        else:
            window = business_date - dt.timedelta(days=PAYMENTS_WINDOW_DAYS)
            payments = sum(1 for a in by_customer.get(line.customer_id, [])
                           if a.kind != "line" and a.opened_on > window)
        exposure = credit.exposure_minor(conn, line.customer_id, currency)
        rows.append({
            "account_id": line.line_id, "customer_id": line.customer_id,
            "current_limit_minor": line.limit_minor,
            "other_exposure_minor": max(0, exposure - in_use),
            "utilisation": round(min(1.0, in_use / line.limit_minor), 4),
            "dpd_current": dpd_now, "dpd_max_6m": dpd_max,
            "on_time_share_6m": round(on_time, 4),
            "months_on_book": _months_between(opened, business_date),
            "payments_count_90d": max(0, payments)})
    return rows


def _cooling_off(tx: Tx, action: LimitAction, current_limit_minor: int,
                 currency: str) -> RuleOutcome:
    """The affordability rule ``limit_increase_cooling_off`` over the raises this job
    granted the customer before this review date."""
    times = []
    for (applied_at,) in tx.conn.execute(select(limit_review_actions.c.applied_at).where(
            limit_review_actions.c.customer_id == action.customer_id,
            limit_review_actions.c.action == "increase",
            limit_review_actions.c.applied_at.is_not(None),
            limit_review_actions.c.review_date < action.review_date)
            .order_by(limit_review_actions.c.applied_at.desc()).limit(100)):
        times.append(applied_at)
    policy = dataclasses.replace(DEFAULT_POLICY, currency=currency)
    snapshot = BorrowerSnapshot(currency, 0, 0, 0, credit_limit_minor=current_limit_minor,
                                limit_increase_times=times)
    result = assess_limit_increase(snapshot, action.new_limit_minor, tx.now, policy=policy)
    return next(r for r in result.rules if r.rule == "limit_increase_cooling_off")


def _apply(currency: str) -> Callable[[Tx, LimitAction], LimitAction]:
    def apply(tx: Tx, action: LimitAction) -> LimitAction:
        line = credit.line_of(tx.conn, action.account_id)
        old = line.limit_minor
        in_use = max(0, old - line.available_minor)
        kind, new, reasons = action.action, action.new_limit_minor, list(action.reasons)
        if kind == "increase":
            if new <= old:
                kind, new = "keep", old
            else:
                rule = _cooling_off(tx, action, old, currency)
                if not rule.passed:
                    kind, new = "keep", old
                    reasons.insert(0, {"code": "LR_COOLING_OFF", "source": "affordability",
                                       "en": rule.message_en, "zh": rule.message_zh_cn})
        elif kind == "decrease":
            new = max(new, in_use)
            if new >= old:
                kind, new = "keep", old
        elif kind == "freeze":
            new = in_use
        else:
            raise ValidationError(f"unknown action {kind!r}", field="action")
        if new != old:
            credit.set_credit_limit(tx, line_id=action.account_id, new_limit_minor=new,
                                    reason=f"limit_review:{action.review_date.isoformat()}:"
                                           f"{reasons[0]['code']}"[:128])
        effective = dataclasses.replace(action, action=kind, current_limit_minor=old,
                                        new_limit_minor=new, reasons=reasons)
        tx.conn.execute(update(limit_review_actions).where(
            limit_review_actions.c.review_date == action.review_date,
            limit_review_actions.c.account_id == action.account_id).values(
            action=kind, current_limit_minor=old, new_limit_minor=new, reasons=reasons))
        if kind != "keep":
            notice = per_language(
                _TEXT[kind], old={lang: money_text(old, currency, lang) for lang in LANGUAGES},
                new={lang: money_text(new, currency, lang) for lang in LANGUAGES})
            tx.emit(NOTIFIED_TOPIC, "customer", action.customer_id, {
                "review_date": action.review_date.isoformat(), "line_id": action.account_id,
                "action": kind, "old_limit_minor": old, "new_limit_minor": new,
                "in_use_minor": in_use, "currency": currency,
                "reasons": [{"code": r["code"], "zh-CN": r.get("zh"), "en": r.get("en")}
                            for r in reasons],
                # The first reason follows the notice: no space between Chinese sentences.
                "message": {"zh-CN": notice["zh-CN"] + reasons[0].get("zh", ""),
                            "en": notice["en"] + " " + reasons[0].get("en", "")},
                "channel": "app_inbox", "template": f"limit_review.{kind}"})
        return effective
    return apply


def run_limit_review(uow: UnitOfWork, business_date: dt.date, *, every_days: int = 30,
                     batch_size: int = 500, currency: str = "CNY",
                     payments_count_90d: PaymentsCount | None = None) -> LimitReviewReport:
    """Review every active line on ``business_date`` if a review is due (none in the last
    ``every_days`` days), then apply the pending changes. Safe to call daily from the close
    of business and to re-run: the same date changes nothing twice."""
    check_date(business_date, "business_date")
    for name, value, high in (("every_days", every_days, 366),
                              ("batch_size", batch_size, BATCH_SIZE_MAX)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise ValidationError(f"must be an integer from 1 to {high}", field=name)
    report = LimitReviewReport(business_date.isoformat(), due=False)
    with uow.connect() as conn:
        if not review_due(conn, business_date, every_days):
            return report
        accounts, lines = credit.portfolio(conn, currency)
    report.due = True
    active = [line for line in lines if line.status == "active" and line.limit_minor > 0]
    for start in range(0, len(active), batch_size):
        batch = active[start:start + batch_size]
        with uow.connect() as conn:
            rows = behaviour_features(conn, business_date, batch, accounts,
                                      payments_count_90d=payments_count_90d,
                                      currency=currency)
        for action in review_limits(uow, business_date, rows):
            report.accounts += 1
            report.actions[action.action] = report.actions.get(action.action, 0) + 1
    report.applied = apply_limit_actions(uow, business_date, _apply(currency),
                                         batch_size=batch_size)
    return report
