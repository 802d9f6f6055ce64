"""The simulated lender's behaviour score and limit changes (issue 18, item 7).

Once the run's history allows, the simulator retrains the behaviour score with the platform's
own use case (:func:`creditpay.risk.decisions.behaviour_retrain.retrain_behaviour`, the one
``creditpay model retrain-behaviour`` runs): on every month end from ``WINDOW_DAYS`` + 30 days
after the start until it has trained once. ``WINDOW_DAYS`` is 60, shorter than the
platform's default 90, because simulated runs last months, not years; a refusal (too few
bads) is recorded with its reason and retried at the next month end. The limit review that
runs every night (``creditpay.nightly``) then scores lines with whichever model is champion.

Figures (``figures.json``): ``behaviour_model`` (``trained``, ``when``, ``rows``, ``bads``,
``auc_oot``, ``promoted``, ``why`` and the details of the last attempt) and
``limit_changes`` (per month: raises, decreases and freezes as applied, with their total
amounts in minor units).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from creditpay.db.uow import UnitOfWork
from creditpay.errors import ValidationError

__all__ = ["WINDOW_DAYS", "retrain_when_due", "figures"]

WINDOW_DAYS = 60
ACTOR = "simulator"


def _month_end(day: dt.date) -> bool:
    return (day + dt.timedelta(days=1)).month != day.month


def retrain_when_due(uow: UnitOfWork, today: dt.date, start: dt.date,
                     state: dict[str, Any] | None) -> dict[str, Any] | None:
    """Retrain on a month end once ``WINDOW_DAYS`` + 30 days have passed since ``start``,
    until it has trained once; returns the new state (the last attempt), or ``state``."""
    from creditpay.risk.decisions.behaviour_retrain import retrain_behaviour

    if (state is not None and state["trained"]) or not _month_end(today) \
            or (today - start).days < WINDOW_DAYS + 30:
        return state
    try:
        report = retrain_behaviour(uow, today, actor=ACTOR, window_days=WINDOW_DAYS)
    except ValidationError as error:
        return {"trained": False, "when": today.isoformat(), "rows": None, "bads": None,
                "auc_oot": None, "promoted": False, "why": str(error),
                "window_days": WINDOW_DAYS}
    details = report.as_dict()
    return {"trained": True, "when": today.isoformat(), "rows": report.rows,
            "bads": report.bads, "auc_oot": report.auc_oot, "promoted": report.promoted,
            "why": report.reason, "version": report.version,
            "champion_version": report.champion_version,
            "champion_auc_oot": report.champion_auc_oot, "oot_rows": report.oot_rows,
            "oot_bads": report.oot_bads, "oot_from": report.oot_from,
            "unmatured": details["unmatured"], "window_days": WINDOW_DAYS}


def figures(uow: UnitOfWork, state: dict[str, Any] | None, days: int) -> dict[str, Any]:
    """``behaviour_model`` and ``limit_changes`` for ``figures.json``."""
    from creditpay.risk.decisions.limit_review import limit_changes_by_month

    with uow.connect() as conn:
        changes = limit_changes_by_month(conn)
    model = state or {
        "trained": False, "when": None, "rows": None, "bads": None, "auc_oot": None,
        "promoted": False, "window_days": WINDOW_DAYS,
        "why": f"not attempted: the run ({days} days) never reached a month end "
               f"{WINDOW_DAYS + 30} days after its start (a {WINDOW_DAYS}-day outcome "
               "window must mature first)"}
    return {"behaviour_model": model, "limit_changes": changes}
