"""Post-loan behaviour scoring and limit review (提额/降额/冻结).

:func:`review_limits` re-scores existing accounts with the behaviour model in force
(registry name ``"behaviour"``), runs the active ``limit_review`` policy per account and
stores one action per account and review date: raise, lower, freeze or keep, with the new
limit (capped by the policy's exposure cap and raise maximum) and the reasons. Running the
same review date again returns the stored actions (exactly once).

Changing a credit line belongs to credit servicing: :func:`apply_limit_actions` hands each
pending action to a callable (the servicing facade) inside a transaction and marks it applied
in that same transaction, so an action is applied once or not at all.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update

from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import ValidationError
from creditpay.risk.decisions import engine, registry
from creditpay.risk.decisions.policy import active_policy
from creditpay.risk.decisions.tables import limit_review_actions

__all__ = ["ACCOUNTS_MAX", "LimitAction", "apply_limit_actions", "limit_changes_by_month",
           "review_limits"]

ACCOUNTS_MAX = 1_000_000  # per call; larger portfolios are reviewed in chunks
MODEL_NAME = "behaviour"
_INT_FIELDS = ("current_limit_minor", "other_exposure_minor", "dpd_current", "dpd_max_6m",
               "months_on_book", "payments_count_90d")
# Constant statements, one pair per action applied (hundreds of lines at each review):
# compiled once, their cache keys remembered.
_PENDING_ACTION = select(limit_review_actions).where(
    limit_review_actions.c.id == bindparam("action_id"),
    limit_review_actions.c.applied_at.is_(None))
_MARK_APPLIED = update(limit_review_actions).where(
    limit_review_actions.c.id == bindparam("action_id")).values(applied_at=bindparam("now"))
_RATIO_FIELDS = ("utilisation", "on_time_share_6m")


@dataclass(frozen=True)
class LimitAction:
    review_date: dt.date
    account_id: str
    customer_id: str
    action: str  # increase | decrease | freeze | keep
    current_limit_minor: int
    new_limit_minor: int
    score: float
    pd: float
    grade: str
    reasons: list[dict[str, Any]]
    model_version: int
    policy_hash: str
    applied: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"review_date": self.review_date.isoformat(), "account_id": self.account_id,
                "customer_id": self.customer_id, "action": self.action,
                "current_limit_minor": self.current_limit_minor,
                "new_limit_minor": self.new_limit_minor, "score": self.score, "pd": self.pd,
                "grade": self.grade, "reasons": self.reasons,
                "model_version": self.model_version, "policy_hash": self.policy_hash,
                "applied": self.applied}


def _rows(accounts: Any) -> list[Mapping[str, Any]]:
    if hasattr(accounts, "iter_rows"):  # polars
        return list(accounts.iter_rows(named=True))
    if hasattr(accounts, "to_dict") and hasattr(accounts, "columns"):  # pandas
        return accounts.to_dict(orient="records")
    if hasattr(accounts, "dtype") and accounts.dtype.names:  # numpy structured array
        return [dict(zip(accounts.dtype.names, row.tolist(), strict=True)) for row in accounts]
    if isinstance(accounts, Iterable):
        return list(accounts)
    raise ValidationError("accounts must be rows, a pandas/polars frame or a structured array",
                          field="accounts")


def _validate(row: Mapping[str, Any], i: int) -> dict[str, Any]:
    where = f"accounts[{i}]"
    out: dict[str, Any] = {}
    value: Any  # untrusted input: each check below refuses what does not fit
    for name in ("account_id", "customer_id"):
        value = row.get(name)
        if not isinstance(value, str) or not value or len(value) > 64:
            raise ValidationError("must be 1-64 characters", field=f"{where}.{name}")
        out[name] = value
    for name in _INT_FIELDS:
        value = row.get(name)
        try:
            value = None if isinstance(value, bool) else operator.index(value)
        except TypeError:
            value = None
        if value is None or value < 0:
            raise ValidationError("must be a non-negative integer", field=f"{where}.{name}")
        out[name] = value
    for name in _RATIO_FIELDS:
        value = row.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not 0.0 <= float(value) <= 1.0:
            raise ValidationError("must be a number in [0, 1]", field=f"{where}.{name}")
        out[name] = float(value)
    return out


def review_limits(uow: UnitOfWork, business_date: dt.date, accounts: Any) -> list[LimitAction]:
    """Re-score ``accounts`` and store (and return) one limit action per account.

    Each account row holds ``account_id, customer_id, current_limit_minor,
    other_exposure_minor`` (exposure elsewhere, fen) and the behaviour features
    ``utilisation, dpd_current, dpd_max_6m, on_time_share_6m, months_on_book,
    payments_count_90d``. All rows are validated before anything is written.
    """
    if not isinstance(business_date, dt.date) or isinstance(business_date, dt.datetime):
        raise ValidationError("business_date must be a date", field="business_date")
    rows = _rows(accounts)
    if len(rows) > ACCOUNTS_MAX:
        raise ValidationError(f"at most {ACCOUNTS_MAX} accounts per review", field="accounts")
    accounts_checked = [_validate(row, i) for i, row in enumerate(rows)]
    seen: set[str] = set()
    for i, account in enumerate(accounts_checked):
        if account["account_id"] in seen:
            raise ValidationError("account listed twice", field=f"accounts[{i}].account_id")
        seen.add(account["account_id"])

    def use_case(tx: Tx) -> list[LimitAction]:
        if business_date > tx.today:
            raise ValidationError("a review cannot be dated after the business date",
                                  field="business_date")
        policy = active_policy(tx.conn, "limit_review")
        version = registry.current_assignment(tx.conn, MODEL_NAME).champion_version
        loaded = registry.load_registered(tx.conn, MODEL_NAME, version)
        existing = {r.account_id: r for r in tx.conn.execute(
            select(limit_review_actions).where(
                limit_review_actions.c.review_date == business_date))}
        actions: list[LimitAction] = []
        inserts: list[dict[str, Any]] = []
        for account in accounts_checked:
            stored = existing.get(account["account_id"])
            if stored is not None:  # this date was reviewed already: return, don't redo
                actions.append(_from_row(stored))
                continue
            scored = engine.model_output(loaded, account)
            output = policy.evaluate({"features": account, "params": dict(policy.parameters),
                                      "score": scored["score"]})
            kind, new_limit = output["action"], int(output["new_limit_minor"])
            code = output["reason_code"]
            current = account["current_limit_minor"]
            # A raise the caps leave at or below the current limit (exposure cap reached,
            # or a limit below one step) is no raise, and a "decrease" that lowers nothing
            # is none: stored as keep, so the review's counts say what changes.
            if (kind == "increase" and new_limit <= current) or \
                    (kind == "decrease" and new_limit >= current):
                kind, new_limit, code = "keep", current, "LR_NO_CHANGE"
            reasons = [{"code": code, "source": "policy", **policy.reason_text(code)}]
            if kind in ("decrease", "freeze"):
                reasons += [engine.score_reason(r) for r in scored["reasons"]]
            action = LimitAction(business_date, account["account_id"], account["customer_id"],
                                 kind, current, new_limit, scored["score"], scored["pd"],
                                 output["grade"], reasons[:engine.REASONS_MAX], version,
                                 policy.content_hash)
            actions.append(action)
            inserts.append({
                "review_date": business_date, "account_id": action.account_id,
                "customer_id": action.customer_id, "action": action.action,
                "current_limit_minor": action.current_limit_minor,
                "new_limit_minor": action.new_limit_minor, "score": action.score,
                "pd": action.pd, "grade": action.grade, "reasons": action.reasons,
                "features": account, "model_name": MODEL_NAME, "model_version": version,
                "policy_hash": policy.content_hash, "created_at": tx.now})
        if inserts:
            tx.conn.execute(limit_review_actions.insert(), inserts)
            counts: dict[str, int] = {}
            for row in inserts:
                counts[row["action"]] = counts.get(row["action"], 0) + 1
            tx.emit("risk.limit_review.completed", "limit_review", business_date.isoformat(),
                    {"accounts": len(inserts), "actions": counts,
                     "policy_hash": policy.content_hash, "model_version": version})
        return actions

    return uow.run(use_case)


def _from_row(row: Any) -> LimitAction:
    return LimitAction(row.review_date, row.account_id, row.customer_id, row.action,
                       int(row.current_limit_minor), int(row.new_limit_minor), float(row.score),
                       float(row.pd), row.grade, list(row.reasons), int(row.model_version),
                       row.policy_hash, row.applied_at is not None)


def apply_limit_actions(uow: UnitOfWork, review_date: dt.date,
                        apply: Callable[[Tx, LimitAction], LimitAction | None], *,
                        batch_size: int = 500) -> int:
    """Hand every pending change of ``review_date`` to ``apply`` and mark it applied.

    ``apply(tx, action)`` changes the credit line in the same transaction that marks the
    action applied (one transaction per action: one failure leaves the others applied, and
    calling again resumes with what is still pending). "keep" actions are marked applied
    without a call. ``apply`` may return the action as it was actually applied (e.g. a
    decrease floored at what is in use); the applied event then carries that. Returns the
    number of actions applied by this call.
    """
    if not 1 <= batch_size <= 10_000:
        raise ValidationError("batch_size must be 1..10000", field="batch_size")
    applied = 0
    while True:
        with uow.connect() as conn:
            ids = [r.id for r in conn.execute(
                select(limit_review_actions.c.id).where(
                    limit_review_actions.c.review_date == review_date,
                    limit_review_actions.c.applied_at.is_(None))
                .order_by(limit_review_actions.c.id).limit(batch_size))]
        if not ids:
            return applied
        for action_id in ids:
            def use_case(tx: Tx, action_id: int = action_id) -> int:
                row = tx.conn.execute(_PENDING_ACTION, {"action_id": action_id}).first()
                if row is None:  # applied by a concurrent run meanwhile
                    return 0
                action = _from_row(row)
                if action.action != "keep":
                    action = apply(tx, action) or action
                tx.conn.execute(_MARK_APPLIED, {"action_id": action_id, "now": tx.now})
                tx.emit("risk.limit_action.applied", "credit_account", action.account_id,
                        {"action": action.action, "new_limit_minor": action.new_limit_minor,
                         "review_date": review_date.isoformat()})
                return 1
            applied += uow.run(use_case)


def limit_changes_by_month(conn: Any) -> list[dict[str, Any]]:
    """Applied limit changes per month of review date (``YYYY-MM``), oldest first: for
    ``increase``, ``decrease`` and ``freeze`` the number of lines and the total change in
    minor units (raises: new − old; decreases and freezes: old − new, so all are ≥ 0),
    and ``kept``; as applied (an action is stored as what was actually done)."""
    r = limit_review_actions.c
    months: dict[str, dict[str, Any]] = {}
    for review_date, action, old, new in conn.execute(
            select(r.review_date, r.action, r.current_limit_minor, r.new_limit_minor)
            .where(r.applied_at.is_not(None)).order_by(r.review_date, r.id)):
        month = months.setdefault(f"{review_date:%Y-%m}", {
            "month": f"{review_date:%Y-%m}", "increases": 0, "increase_minor": 0,
            "decreases": 0, "decrease_minor": 0, "freezes": 0, "freeze_minor": 0,
            "kept": 0})
        if action == "increase":
            month["increases"] += 1
            month["increase_minor"] += int(new) - int(old)
        elif action == "decrease":
            month["decreases"] += 1
            month["decrease_minor"] += int(old) - int(new)
        elif action == "freeze":
            month["freezes"] += 1
            month["freeze_minor"] += int(old) - int(new)
        else:
            month["kept"] += 1
    return list(months.values())
