"""Early-warning alerts as operators work them: list, read, acknowledge, dismiss, and run the
alert's playbook, which really applies the action through the owning domain.

Status: ``open`` → ``acknowledged`` → ``actioned`` | ``dismissed`` (``open`` may go straight
to either end; the ends are final). Every change is audited in its transaction.

Playbooks as applied (:func:`apply_playbook`; the role check is
:func:`~creditpay.risk.early_warning.monitors.execute_playbook`):

* ``lower_limits`` (``segment``, ``share``): every active line of the segment (``all``,
  ``product:<line product>``, ``grade:<g>``) gets its limit lowered by ``share`` (0 <
  share <= 0.5, rounded down to the minor unit), never below what is in use, through
  :func:`creditpay.credit.service.set_credit_limit` (the limit review's function); each
  customer is notified (outbox ``risk.early_warning.limit_lowered``, zh-CN and English).
  At most ``LIMIT_LINES_MAX`` lines per execution (one transaction); a larger segment is
  refused, naming ``parameters.segment``;
* ``switch_to_champion`` (``model``): the model's assignment is re-appended with no
  challenger (:func:`creditpay.risk.decisions.registry.assign`);
* ``freeze_merchant`` (``merchant_id``): :func:`creditpay.parties.service.suspend_merchant`;
* ``raise_cutoff`` (``segment``, ``points``): a new version of the active application
  policy with every grade cut-off of its ``grades`` table raised by ``points`` is
  activated (:func:`creditpay.risk.decisions.policy.activate_policy`); the policy's
  cut-offs apply to every product, so the record says the segment could not be narrowed.
  A policy without such a table is left alone and the action recorded as
  ``pending_manual`` with the reason;
* ``review_fraud_rules``: a fraud case (subject ``ew_alert``) is opened for the analysts.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update

from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import NotFoundError, PermissionDeniedError, StateError, ValidationError
from creditpay.i18n import LANGUAGES, per_language
from creditpay.platform import audit
from creditpay.risk.early_warning.monitors import (
    PLAYBOOKS,
    Alert,
    LimitPlan,
    LineNow,
    execute_playbook,
    plan_limit_cuts,
)
from creditpay.risk.early_warning.tables import ALERT_STATUSES, ew_alerts, ew_metric_values

__all__ = ["alert_view", "get_alert", "list_alerts", "acknowledge_alert", "dismiss_alert",
           "apply_playbook", "check_playbook", "preview_playbook", "execute_alert_playbook", "metric_series",
           "alerts_between", "LIMIT_LINES_MAX",
           "LIMIT_LOWERED_TOPIC", "PAGE_MAX"]

LIMIT_LINES_MAX = 5_000
SHARE_MAX = Decimal("0.5")
POINTS_MAX = 100
PAGE_MAX = 100
ALERTS_BETWEEN_MAX = 100_000
LIMIT_LOWERED_TOPIC = "risk.early_warning.limit_lowered"
_SEGMENT = re.compile(r"^(all|(product|grade|scenario):[A-Za-z0-9_.\-]{1,64})$")
_OPERATOR = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_FINAL = ("actioned", "dismissed")


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat()


def alert_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "monitor": row.monitor, "metric": row.metric,
            "segment": row.segment, "day": row.day.isoformat(), "severity": row.severity,
            "value": row.value, "statistic": row.statistic, "centre": row.centre,
            "lower": row.lower_bound, "upper": row.upper_bound, "sigmas": row.sigmas,
            "method": row.method, "playbook": row.playbook,
            "playbook_parameters": list(PLAYBOOKS[row.playbook].parameters),
            "evidence": row.evidence, "status": row.status,
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
            "acknowledged_by": row.acknowledged_by,
            "acknowledged_at": _iso(row.acknowledged_at), "actioned_by": row.actioned_by,
            "actioned_at": _iso(row.actioned_at), "action": row.action,
            "dismissed_by": row.dismissed_by, "dismissed_at": _iso(row.dismissed_at),
            "dismiss_reason": row.dismiss_reason}


def _row(conn: Any, alert_id: Any, *, lock: bool = False) -> Any:
    if not isinstance(alert_id, str) or not 1 <= len(alert_id) <= 32:
        raise ValidationError("must be an alert id", field="alert_id")
    query = select(ew_alerts).where(ew_alerts.c.id == alert_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"no alert {alert_id}", field="alert_id")
    return row


def get_alert(conn: Any, alert_id: str) -> dict[str, Any]:
    return alert_view(_row(conn, alert_id))


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"ewa:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "ewa":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("is not a cursor this API returned", field="cursor") from exc


def list_alerts(conn: Any, *, status: str | None = None, severity: str | None = None,
                day: dt.date | None = None, limit: int = 20, cursor: str | None = None
                ) -> tuple[list[dict[str, Any]], str | None]:
    """Alerts newest first, optionally of one status / severity / day; ``(page,
    next_cursor)`` with ``next_cursor`` None on the last page."""
    if status is not None and status not in ALERT_STATUSES:
        raise ValidationError(f"must be one of {list(ALERT_STATUSES)}", field="status")
    if severity is not None and severity not in ("warning", "critical"):
        raise ValidationError("must be warning or critical", field="severity")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_MAX:
        raise ValidationError(f"must be 1..{PAGE_MAX}", field="limit")
    c = ew_alerts.c
    query = select(ew_alerts)
    if status is not None:
        query = query.where(c.status == status)
    if severity is not None:
        query = query.where(c.severity == severity)
    if day is not None:
        query = query.where(c.day == day)
    if cursor is not None:
        query = query.where(c.seq < _decode_cursor(cursor))
    rows = conn.execute(query.order_by(c.seq.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    return ([alert_view(r) for r in page],
            _encode_cursor(page[-1].seq) if len(rows) > limit else None)


def _check_operator(operator_id: Any) -> str:
    if not isinstance(operator_id, str) or not _OPERATOR.fullmatch(operator_id):
        raise ValidationError("must be an operator id", field="operator_id")
    return operator_id


def acknowledge_alert(tx: Tx, alert_id: str, operator_id: str) -> dict[str, Any]:
    """Mark an open alert as seen by ``operator_id``; acknowledging it again is a no-op."""
    _check_operator(operator_id)
    row = _row(tx.conn, alert_id, lock=True)
    if row.status in _FINAL:
        raise StateError(f"alert is {row.status}", field="alert_id")
    if row.status == "open":
        tx.conn.execute(update(ew_alerts).where(ew_alerts.c.id == alert_id).values(
            status="acknowledged", acknowledged_by=operator_id, acknowledged_at=tx.now,
            updated_at=tx.now))
        audit.append(tx, "staff", operator_id, "early_warning.alert_acknowledged",
                     "ew_alert", alert_id, {"monitor": row.monitor})
    return get_alert(tx.conn, alert_id)


def dismiss_alert(tx: Tx, alert_id: str, operator_id: str, reason: str) -> dict[str, Any]:
    """Close an alert without action, with the reason (1..500 characters)."""
    _check_operator(operator_id)
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= 500:
        raise ValidationError("must be 1..500 characters", field="reason")
    row = _row(tx.conn, alert_id, lock=True)
    if row.status in _FINAL:
        raise StateError(f"alert is {row.status}", field="alert_id")
    tx.conn.execute(update(ew_alerts).where(ew_alerts.c.id == alert_id).values(
        status="dismissed", dismissed_by=operator_id, dismissed_at=tx.now,
        dismiss_reason=reason.strip(), updated_at=tx.now))
    audit.append(tx, "staff", operator_id, "early_warning.alert_dismissed", "ew_alert",
                 alert_id, {"monitor": row.monitor, "reason_given": True})
    return get_alert(tx.conn, alert_id)


# ------------------------------------------------------------------------------ playbooks
def _alert(row: Any) -> Alert:
    return Alert(monitor=row.monitor, metric=row.metric, segment=row.segment, day=row.day,
                 severity=row.severity, value=row.value, statistic=row.statistic,
                 centre=row.centre, lower=row.lower_bound, upper=row.upper_bound,
                 sigmas=row.sigmas, method=row.method, playbook=row.playbook,
                 evidence=dict(row.evidence or {}))


def _parameters(row: Any, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Validated parameters (strings from the CLI are parsed); ``segment`` defaults to the
    alert's, ``model`` to ``application``."""
    if not isinstance(parameters, Mapping):
        raise ValidationError("must be a mapping", field="parameters")
    known = set(PLAYBOOKS[row.playbook].parameters) | {"currency"}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValidationError(f"unknown parameters {unknown}; {row.playbook} takes "
                              f"{sorted(known)}", field="parameters")
    out = dict(parameters)
    if "segment" in known:
        out.setdefault("segment", row.segment)
        if not isinstance(out["segment"], str) or not _SEGMENT.fullmatch(out["segment"]):
            raise ValidationError("must be all, product:<code> or grade:<g>",
                                  field="parameters.segment")
    if "model" in known:
        out.setdefault("model", "application")
        if out["model"] not in ("application", "behaviour"):
            raise ValidationError("must be application or behaviour",
                                  field="parameters.model")
    if "share" in out:
        try:
            share = Decimal(str(out["share"]))
        except InvalidOperation:
            raise ValidationError("must be a number", field="parameters.share") from None
        if not share.is_finite() or not Decimal(0) < share <= SHARE_MAX:
            raise ValidationError(f"must be above 0 and at most {SHARE_MAX}",
                                  field="parameters.share")
        out["share"] = str(share)
    if "points" in out:
        try:
            points = int(str(out["points"]))
        except ValueError:
            raise ValidationError("must be an integer", field="parameters.points") from None
        if not 1 <= points <= POINTS_MAX:
            raise ValidationError(f"must be 1..{POINTS_MAX}", field="parameters.points")
        out["points"] = points
    if "merchant_id" in known and "merchant_id" in out and (
            not isinstance(out["merchant_id"], str) or not 1 <= len(out["merchant_id"]) <= 32):
        raise ValidationError("must be a merchant id", field="parameters.merchant_id")
    currency = out.pop("currency", "CNY")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValidationError("must be an ISO 4217 code", field="parameters.currency")
    out["_currency"] = currency
    return out


def _segment_filter(frame: Any, segment: str) -> Any:
    import polars as pl

    if segment == "all":
        return frame
    kind, _, value = segment.partition(":")
    if kind == "product":
        return frame.filter(pl.col("product_code") == value)
    if kind == "grade":
        return frame.filter(pl.col("grade") == value)
    raise ValidationError("lines are segmented by all, product or grade",
                          field="parameters.segment")


def _limit_plan(conn: Any, params: Mapping[str, Any]) -> LimitPlan:
    """The ``lower_limits`` plan for the segment as the book stands: every active line with
    a limit, its drawn amount read through the credit domain, and its new limit
    (:func:`~creditpay.risk.early_warning.monitors.plan_limit_cuts`). Read-only: the
    preview shows it and the execution applies it."""
    import polars as pl

    from creditpay.credit import service as credit
    from creditpay.risk.early_warning.job import book_frames

    currency = params["_currency"]
    _, lines = book_frames(conn, currency)
    chosen = _segment_filter(lines.filter((pl.col("status") == "active")
                                          & (pl.col("limit_minor") > 0)), params["segment"])
    if chosen.height == 0:
        raise ValidationError(f"no active {currency} line in segment {params['segment']}",
                              field="parameters.segment")
    if chosen.height > LIMIT_LINES_MAX:
        raise ValidationError(f"{chosen.height} lines: at most {LIMIT_LINES_MAX} per "
                              "execution; choose a narrower segment",
                              field="parameters.segment")
    now = []
    for line_id, customer_id in chosen.sort("line_id").select("line_id",
                                                              "customer_id").iter_rows():
        view = credit.line_of(conn, line_id)
        now.append(LineNow(line_id, customer_id, view.limit_minor,
                           max(0, view.limit_minor - view.available_minor)))
    return plan_limit_cuts(now, Decimal(params["share"]))


def _lower_limits(tx: Tx, alert_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The plan of :func:`_limit_plan`, applied: each line it lowers gets its new limit
    through the limit review's function and its customer a notice."""
    from creditpay.credit import service as credit
    from creditpay.formatting import money_text

    currency = params["_currency"]
    plan = _limit_plan(tx.conn, params)
    for change in plan.changes:
        if change.change_minor <= 0:
            continue
        old, new = change.limit_minor, change.new_limit_minor
        credit.set_credit_limit(tx, line_id=change.line_id, new_limit_minor=new,
                                reason=f"early_warning:{alert_id}"[:128])
        tx.emit(LIMIT_LOWERED_TOPIC, "customer", change.customer_id, {
            "line_id": change.line_id, "old_limit_minor": old, "new_limit_minor": new,
            "in_use_minor": change.in_use_minor, "currency": currency, "alert_id": alert_id,
            "channel": "app_inbox", "template": "early_warning.limit_lowered",
            "message": per_language(
                "Your credit limit was lowered from {old} to {new} after a change in "
                "portfolio risk.",
                old={lang: money_text(old, currency, lang) for lang in LANGUAGES},
                new={lang: money_text(new, currency, lang) for lang in LANGUAGES})})
    return {"status": "applied", "lines_in_segment": len(plan.changes),
            "lines_lowered": plan.lines_lowered,
            "limit_before_minor": plan.limit_before_minor,
            "limit_after_minor": plan.limit_after_minor, "currency": currency}


def _champion_plan(conn: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """What ``switch_to_champion`` changes: the model's challenger taken out of traffic, or
    nothing when none is in it. Read-only."""
    from creditpay.risk.decisions import registry

    current = registry.current_assignment(conn, params["model"])
    if current.challenger_version is None:
        return {"status": "no_change", "model": params["model"],
                "champion_version": current.champion_version,
                "reason": "no_challenger_in_traffic"}
    return {"status": "applied", "model": params["model"],
            "champion_version": current.champion_version,
            "challenger_version_removed": current.challenger_version,
            "challenger_share_bps_before": current.challenger_share_bps}


def _switch_to_champion(tx: Tx, alert_id: str, operator_id: str,
                        params: Mapping[str, Any]) -> dict[str, Any]:
    from creditpay.risk.decisions import registry

    plan = _champion_plan(tx.conn, params)
    if plan["status"] == "applied":
        registry.assign(tx, params["model"], champion_version=plan["champion_version"],
                        actor=operator_id, reason=f"early warning alert {alert_id}")
    return plan


def _freeze_plan(conn: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """What ``freeze_merchant`` changes: the merchant suspended (no change when it is
    already); NotFoundError for an unknown merchant. Read-only."""
    from creditpay.parties.service import merchant_status

    previous = merchant_status(conn, params["merchant_id"])
    return {"status": "applied" if previous != "suspended" else "no_change",
            "merchant_id": params["merchant_id"], "previous_status": previous,
            "merchant_status": "suspended"}


def _freeze_merchant(tx: Tx, alert_id: str, operator_id: str,
                     params: Mapping[str, Any]) -> dict[str, Any]:
    from creditpay.parties.service import suspend_merchant

    plan = _freeze_plan(tx.conn, params)
    suspend_merchant(tx, params["merchant_id"], actor_id=operator_id,
                     reason="early_warning_alert", reference=alert_id)
    return plan


def _raised_document(document: Mapping[str, Any], points: int, alert_id: str
                     ) -> dict[str, Any] | None:
    """The policy document with every ``>= N`` cut-off of its ``grades`` table raised by
    ``points`` and a new version, or None when it has no such table."""
    raised = copy.deepcopy(dict(document))
    nodes = raised.get("decision", {}).get("nodes", [])
    table = next((n for n in nodes if n.get("id") == "grades"
                  and n.get("type") == "decisionTableNode"), None)
    if table is None:
        return None
    changed = 0
    for rule in table.get("content", {}).get("rules", []):
        match = re.fullmatch(r"\s*>=\s*(-?\d+(?:\.\d+)?)\s*", str(rule.get("score", "")))
        if match is None:
            continue
        cut = Decimal(match.group(1)) + points
        rule["score"] = f">= {cut.normalize():f}"
        if "_description" in rule:
            rule["_description"] = f"{rule['_description']} (+{points} by early warning)"
        changed += 1
    if not changed:
        return None
    raised["version"] = f"{str(document['version'])[:14]}-ew{alert_id[4:14]}"
    raised["description"] = (f"{document.get('description', '')} Grade cut-offs raised "
                             f"{points} points by early-warning alert {alert_id}.")[:2000]
    return raised


def _cutoff_plan(conn: Any, alert_id: str, params: Mapping[str, Any]
                 ) -> tuple[Any, dict[str, Any] | None]:
    """The active application policy and the raised document ``raise_cutoff`` would
    activate (None: it has no grade cut-offs to raise). Read-only."""
    from creditpay.risk.decisions.policy import active_policy

    current = active_policy(conn, "application")
    return current, _raised_document(current.document, params["points"], alert_id)


def _cutoffs(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The grade cut-offs of a policy document's ``grades`` table, in its order."""
    nodes = document.get("decision", {}).get("nodes", [])
    table = next((n for n in nodes if n.get("id") == "grades"
                  and n.get("type") == "decisionTableNode"), None)
    if table is None:
        return []
    return [{"grade": str(rule.get("grade", "")), "score": str(rule.get("score", ""))}
            for rule in table.get("content", {}).get("rules", [])]


def _raise_cutoff(tx: Tx, alert_id: str, operator_id: str,
                  params: Mapping[str, Any]) -> dict[str, Any]:
    from creditpay.risk.decisions.policy import activate_policy

    current, document = _cutoff_plan(tx.conn, alert_id, params)
    if document is None:
        return {"status": "pending_manual", "policy_id": current.policy_id,
                "policy_version": current.version,
                # A code, not prose: the result goes into the audit chain; change the
                # policy by hand.
                "reason": "no_grade_cutoffs_to_raise"}
    activated = activate_policy(tx, document, actor=operator_id)
    return {"status": "applied", "policy_id": activated.policy_id,
            "previous_version": current.version, "version": activated.version,
            "content_hash": activated.content_hash, "points": params["points"],
            # The policy's grade cut-offs apply to every product and grade: a segment
            # playbook raises them for all (a code: the result is audited).
            "segment_note": None if params["segment"] == "all" else
            "raised_for_all_segments"}


def _review_fraud_rules(tx: Tx, alert_id: str, row: Any) -> dict[str, Any]:
    from creditpay.risk.fraud.cases import open_case

    case = open_case(tx, subject_type="ew_alert", subject_id=alert_id,
                     reasons=[f"early_warning:{row.monitor}", row.metric, row.segment])
    return {"status": "applied", "fraud_case_id": case["id"], "priority": case["priority"]}


def _checked_playbook(conn: Any, alert_id: str, operator_id: str, roles: Sequence[str],
                      parameters: Mapping[str, Any], *, lock: bool
                      ) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(the alert's row, its playbook's parameters, the execution record) when ``roles``
    may run the playbook of open alert ``alert_id`` with ``parameters``; refused otherwise,
    naming what is wrong, before any change."""
    _check_operator(operator_id)
    row = _row(conn, alert_id, lock=lock)
    allowed = PLAYBOOKS[row.playbook].roles
    if isinstance(roles, str) or not set(roles) & allowed:
        # Before the parameters are looked at: another role learns nothing more.
        raise PermissionDeniedError(
            f"playbook {row.playbook} needs one of the roles {sorted(allowed)}",
            field="operator_roles")
    params = _parameters(row, parameters)
    record = execute_playbook(_alert(row), operator_id=operator_id,
                              operator_roles=list(roles),
                              parameters={k: v for k, v in params.items()
                                          if not k.startswith("_")})
    if row.status in _FINAL:
        raise StateError(f"alert is {row.status}", field="alert_id")
    return row, params, record


def check_playbook(conn: Any, alert_id: str, operator_id: str, roles: Sequence[str],
                   parameters: Mapping[str, Any]) -> None:
    """Refuse, as :func:`apply_playbook` would, a run it would refuse now (roles, the
    parameters, a closed alert), changing nothing: what a four-eyes proposal of a run is
    checked with before a second operator is asked to approve it."""
    _checked_playbook(conn, alert_id, operator_id, roles, parameters, lock=False)


def preview_playbook(conn: Any, alert_id: str, operator_id: str, roles: Sequence[str],
                     parameters: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`apply_playbook` would change if it ran now with these parameters, changing
    nothing (a dry run): refused as the run would be (roles, parameters, a closed alert),
    then the same plan the run applies. ``lower_limits``: ``accounts`` (each line of the
    segment: current limit, drawn amount, new limit, the cut, all in minor units) and
    ``totals``; ``switch_to_champion``: the challenger taken out; ``freeze_merchant``: the
    merchant suspended; ``raise_cutoff``: the policy version it would activate with the
    cut-offs before and after; ``review_fraud_rules``: a fraud case opened. ``effect`` is
    what the run's ``result`` would say, ``status`` ``applied`` read as "would apply"."""
    row, params, record = _checked_playbook(conn, alert_id, operator_id, roles, parameters,
                                            lock=False)
    code = row.playbook
    accounts: list[dict[str, Any]] = []
    totals: dict[str, Any] | None = None
    if code == "lower_limits":
        plan = _limit_plan(conn, params)
        accounts = [{"line_id": c.line_id, "customer_id": c.customer_id,
                     "limit_minor": c.limit_minor, "in_use_minor": c.in_use_minor,
                     "new_limit_minor": c.new_limit_minor, "change_minor": c.change_minor}
                    for c in plan.changes]
        totals = {"lines_in_segment": len(plan.changes), "lines_lowered": plan.lines_lowered,
                  "limit_before_minor": plan.limit_before_minor,
                  "limit_after_minor": plan.limit_after_minor,
                  "change_minor": plan.change_minor}
        effect: dict[str, Any] = {"status": "applied", **totals,
                                  "currency": params["_currency"]}
        del effect["change_minor"]
    elif code == "switch_to_champion":
        effect = _champion_plan(conn, params)
    elif code == "freeze_merchant":
        effect = _freeze_plan(conn, params)
    elif code == "raise_cutoff":
        current, document = _cutoff_plan(conn, alert_id, params)
        if document is None:
            effect = {"status": "pending_manual", "policy_id": current.policy_id,
                      "policy_version": current.version,
                      "reason": "no_grade_cutoffs_to_raise"}
        else:
            effect = {"status": "applied", "policy_id": current.policy_id,
                      "previous_version": current.version, "version": document["version"],
                      "points": params["points"],
                      "cutoffs_before": _cutoffs(current.document),
                      "cutoffs_after": _cutoffs(document),
                      "segment_note": None if params["segment"] == "all" else
                      "raised_for_all_segments"}
    elif code == "review_fraud_rules":
        effect = {"status": "applied", "opens": "fraud_case", "subject_type": "ew_alert",
                  "subject_id": alert_id}
    else:  # pragma: no cover - PLAYBOOKS and this dispatch change together
        raise AssertionError(code)
    return {"alert_id": alert_id, "playbook": code, "title_en": record["title_en"],
            "parameters": record["parameters"], "currency": params["_currency"],
            "effect": effect, "accounts": accounts, "totals": totals}


def apply_playbook(tx: Tx, alert_id: str, operator_id: str, roles: Sequence[str],
                   parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Run the alert's playbook in ``tx``: role check, the action through its domain, the
    alert marked ``actioned`` with the execution record, the audit record. Refused
    (PermissionDeniedError) for roles the playbook does not allow, before any change."""
    row, params, record = _checked_playbook(tx.conn, alert_id, operator_id, roles,
                                            parameters, lock=True)
    code = row.playbook
    if code == "lower_limits":
        result = _lower_limits(tx, alert_id, params)
    elif code == "switch_to_champion":
        result = _switch_to_champion(tx, alert_id, operator_id, params)
    elif code == "freeze_merchant":
        result = _freeze_merchant(tx, alert_id, operator_id, params)
    elif code == "raise_cutoff":
        result = _raise_cutoff(tx, alert_id, operator_id, params)
    elif code == "review_fraud_rules":
        result = _review_fraud_rules(tx, alert_id, row)
    else:  # pragma: no cover - PLAYBOOKS and this dispatch change together
        raise AssertionError(code)
    record = {**record, "roles": sorted(set(roles)), "result": result,
              "executed_at": tx.now.isoformat()}
    tx.conn.execute(update(ew_alerts).where(ew_alerts.c.id == alert_id).values(
        status="actioned", actioned_by=operator_id, actioned_at=tx.now, action=record,
        updated_at=tx.now))
    audit.append(tx, "staff", operator_id, "early_warning.playbook_executed", "ew_alert",
                 alert_id, {"playbook": code, "parameters": record["parameters"],
                            "result": result})
    tx.emit("risk.early_warning.actioned", "ew_alert", alert_id,
            {"playbook": code, "status": result["status"]})
    return get_alert(tx.conn, alert_id)


def execute_alert_playbook(uow: UnitOfWork, alert_id: str, operator_id: str,
                           roles: Sequence[str], parameters: Mapping[str, Any]
                           ) -> dict[str, Any]:
    """:func:`apply_playbook` in its own transaction (all of it, or none)."""
    return uow.run(lambda tx: apply_playbook(tx, alert_id, operator_id, roles, parameters))


def metric_series(conn: Any, metrics: Sequence[str], *, segment: str = "all",
                  start: dt.date | None = None, end: dt.date | None = None
                  ) -> dict[dt.date, dict[str, float | None]]:
    """Stored values by day then metric (None: not measurable), for dashboards and the
    simulator's report."""
    m = ew_metric_values.c
    query = select(m.day, m.metric, m.value).where(m.segment == segment,
                                                     m.metric.in_(list(metrics)))
    if start is not None:
        query = query.where(m.day >= start)
    if end is not None:
        query = query.where(m.day <= end)
    out: dict[dt.date, dict[str, float | None]] = {}
    for day, metric, value in conn.execute(query.order_by(m.day, m.metric)):
        out.setdefault(day, {})[metric] = value
    return out


def alerts_between(conn: Any, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Every alert of the business days ``start`` to ``end`` (inclusive), oldest day first
    (at most ``ALERTS_BETWEEN_MAX``)."""
    c = ew_alerts.c
    rows = conn.execute(select(ew_alerts).where(c.day >= start, c.day <= end)
                        .order_by(c.day, c.monitor, c.metric, c.segment)
                        .limit(ALERTS_BETWEEN_MAX)).all()
    return [alert_view(r) for r in rows]
