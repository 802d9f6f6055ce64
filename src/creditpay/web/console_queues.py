"""The console's work queues (issue #16): referred applications, fraud cases and the payments
they hold, early-warning alerts with a dry run of their playbook, collections and
complaints with their service-level clocks.

Adapters like the rest of the console (:mod:`creditpay.web.console`): each page reads
through the functions its JSON route calls and each form runs the route's use case through
:func:`~creditpay.web.framework.run_as_route` (same idempotency record, same audit), so
the pages hold no rule of their own. Every page checks the roles of its JSON route; the
collections queue has no JSON route, and is open to the roles that work or oversee it
(:data:`COLLECTIONS_READ`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api.routes_approvals import propose
from creditpay.api.routes_consumer_credit import LINE_PRODUCT
from creditpay.api.routes_credit_referrals import resolution
from creditpay.errors import DomainError, NotFoundError, ValidationError
from creditpay.money import Money
from creditpay.web.console import NAV, forbidden, render, staff_only, staff_page
from creditpay.web.framework import (
    KEY_FIELD,
    N_,
    Page,
    form_post,
    http_status,
    new_form_key,
    run_as_route,
)

__all__ = ["router", "REFERRALS_READ", "REFERRALS_ACT", "FRAUD_READ", "FRAUD_RESOLVE",
           "ALERTS_READ", "ALERTS_ACT", "COLLECTIONS_READ", "COMPLAINTS_STAFF"]

router = APIRouter(prefix="/console", include_in_schema=False)

# The roles of the JSON routes each page stands for.
# api/routes_credit_referrals.py: READ, ACT.
REFERRALS_READ = frozenset({"risk_analyst", "admin", "compliance_officer"})
REFERRALS_ACT = frozenset({"risk_analyst", "admin"})
# api/routes_fraud_cases.py: the queue (READ) and a verdict (ANALYST only).
FRAUD_READ = frozenset({"risk_analyst", "admin"})
FRAUD_RESOLVE = frozenset({"risk_analyst"})
# api/routes_early_warning.py: READ; ACT also for the preview and the proposal.
ALERTS_READ = frozenset({"risk_analyst", "admin", "compliance_officer"})
ALERTS_ACT = frozenset({"risk_analyst", "admin"})
# No JSON route reads the collections book: the agents who work it, their admin, and
# compliance, who answers for the contact rules.
COLLECTIONS_READ = frozenset({"collections_agent", "admin", "compliance_officer"})
# api/routes_operators.py: COMPLAINT_STAFF.
COMPLAINTS_STAFF = frozenset({"compliance_officer", "support", "admin"})

NAV.append(("/console/referrals", N_("Referrals"), REFERRALS_READ))
NAV.append(("/console/fraud", N_("Fraud cases"), FRAUD_READ))
NAV.append(("/console/alerts", N_("Alerts"), ALERTS_READ))
NAV.append(("/console/collections", N_("Collections"), COLLECTIONS_READ))
NAV.append(("/console/complaints", N_("Complaints"), COMPLAINTS_STAFF))

LIST_MAX = 50  # rows a queue page shows; the page says how many there are in all
ID_CHARS_MAX = 64

REVIEW_REASON_LABELS = {
    "REVIEW_SHORT_HISTORY": N_("Not enough history on the platform yet"),
    "REVIEW_AFFORDABILITY": N_("Income and current debts do not support new credit"),
    "REVIEW_CREDIT_REPORT": N_("Information in the credit report"),
    "REVIEW_UNVERIFIED": N_("The application could not be verified"),
}
VERDICT_LABELS = {
    "legitimate": N_("Legitimate: release the held payment"),
    "fraud": N_("Fraud: decline the held payment"),
    "unsure": N_("Unsure: decline the held payment (the customer may pay again)"),
}
PAYMENT_ACTIONS = {"approved": N_("Released"), "declined": N_("Declined"),
                   "not_in_review": N_("No longer held")}
PLAYBOOK_TITLES = {
    "raise_cutoff": N_("Raise the approval cut-off for the segment"),
    "lower_limits": N_("Lower credit limits for the segment"),
    "freeze_merchant": N_("Freeze a merchant's acceptance"),
    "switch_to_champion": N_("Send all traffic to the champion model"),
    "review_fraud_rules": N_("Tighten fraud rules and review the alert queue"),
}
PARAMETER_LABELS = {
    "segment": N_("Segment (all, product:<code>, grade:<g>)"),
    "share": N_("Share of the limit to cut (0 to 0.5)"),
    "points": N_("Points to raise the cut-offs by (1 to 100)"),
    "merchant_id": N_("Merchant id"),
    "model": N_("Model (application or behaviour)"),
}
ALERT_STATUSES = {"open": N_("Open"), "acknowledged": N_("Acknowledged"),
                  "actioned": N_("Actioned"), "dismissed": N_("Dismissed")}
COMPLAINT_STATUSES = {"active": N_("Waiting"), "open": N_("Not acknowledged"),
                      "acknowledged": N_("Acknowledged"), "resolved": N_("Resolved")}
COMPLAINT_OUTCOMES = {"upheld": N_("Upheld"), "partially_upheld": N_("Partially upheld"),
                      "not_upheld": N_("Not upheld"),
                      "withdrawn_by_customer": N_("Withdrawn by the customer")}
CONTACT_RULES = {"allowed": N_("Allowed"), "quiet_hours": N_("Refused: quiet hours"),
                 "max_contacts_per_day": N_("Refused: daily cap reached"),
                 "no_third_party": N_("Refused: third party"),
                 "verified_channel": N_("Refused: channel not verified")}


def _id(page: Page, name: str) -> str:
    return str(page.request.path_params[name])[:ID_CHARS_MAX]


def _refused(page: Page, exc: DomainError, what: str) -> str:
    """A refusal as the operator reads it: the JSON route's own problem (which field, why)
    in a sentence of the page's language."""
    _ = page.gettext
    if exc.status == 403:
        return _("Your role cannot do this.")
    if exc.status == 409:
        return _("This can no longer be done: it changed meanwhile. The page below is up "
                 "to date.")
    if exc.status == 404:
        return _("Not found: {what}").format(what=what)
    field = f" ({exc.field})" if exc.field else ""
    return _("It could not be done{field}: {detail}").format(field=field, detail=str(exc))


def _time(value: dt.datetime | str | None) -> str:
    if value is None:
        return "—"
    text = value.isoformat() if isinstance(value, dt.datetime) else value
    return text[:16].replace("T", " ") + " UTC"


def _duration(page: Page, seconds: int) -> str:
    """A clock's time left (or overdue) as days, hours and minutes."""
    _ = page.gettext
    left = abs(seconds)
    days, rest = divmod(left, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    text = (_("{d} d {h} h").format(d=days, h=hours) if days else
            _("{h} h {m} min").format(h=hours, m=minutes))
    return text if seconds >= 0 else _("{time} overdue").format(time=text)


# ----------------------------------------------------------------------- referrals
@router.get("/referrals", response_class=HTMLResponse)
def referrals_page(request: Request, status: str = "pending") -> Response:
    """Referred applications, oldest first (GET /v1/operator/credit_referrals)."""
    from creditpay.risk.decisions import referrals

    page, refused = staff_only(request, REFERRALS_READ)
    if refused is not None:
        return refused
    status = status if status in ("pending", "resolved") else "pending"
    with page.rt.uow.connect() as conn:
        found = referrals.list_referrals(conn, status=status, limit=LIST_MAX + 1)
    return render(page, "console/q_referrals.html", title=page.gettext("Referrals"),
                  referrals=found[:LIST_MAX], more=len(found) > LIST_MAX, status=status,
                  statuses={"pending": N_("Waiting for review"), "resolved": N_("Resolved")})


def _referral_view(page: Page, decision_id: str, **values: Any) -> Response:
    from creditpay.risk.decisions import referrals

    try:
        with page.rt.uow.connect() as conn:
            found = referrals.get_referral(conn, decision_id)
    except (NotFoundError, ValidationError):
        return render(page, "console/error.html", status_code=404,
                      title=page.gettext("Not found"), message=decision_id)
    who = page.principal
    assert who is not None
    offered = found.offered_limit_minor
    values.setdefault("limit_text", "" if offered is None else
                      str(Money(offered, found.currency).to_decimal()))
    return render(page, "console/q_referral.html", status_code=values.pop("status_code", 200),
                  title=page.gettext("Referred application"), r=found,
                  may_act=who.role in REFERRALS_ACT, key=new_form_key(),
                  reasons=REVIEW_REASON_LABELS, done=values.pop("done", None),
                  proposed=values.pop("proposed", None),
                  error=values.pop("error", None), **values)


@router.get("/referrals/{decision_id}", response_class=HTMLResponse)
def referral_page(request: Request, decision_id: str) -> Response:
    """One referral with its score, grade, reasons and features (GET
    /v1/operator/credit_referrals/{id}) and, for the roles that may, the verdict forms."""
    page, refused = staff_only(request, REFERRALS_READ)
    if refused is not None:
        return refused
    return _referral_view(page, decision_id[:ID_CHARS_MAX])


@form_post(router, "/referrals/{decision_id}/resolve", page_of=staff_page)
def resolve_referral(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/operator/credit_referrals/{id}/resolve from the page: approve (opens the
    line, at most the offered limit) or decline with a REVIEW_* reason."""
    from creditpay.risk.decisions import referrals

    who = page.principal
    if who is None:
        return page.redirect("/console/login")
    if who.role not in REFERRALS_ACT:
        return forbidden(page)
    decision_id = _id(page, "decision_id")
    verdict = form.get("verdict", "")
    # As the JSON route's body hashes (every field, null when not given).
    body: dict[str, Any] = {"verdict": verdict, "limit_minor": None, "reason_code": None}
    limit_text = form.get("limit", "").strip()[:24]
    try:
        if verdict == "approve":
            if limit_text:
                body["limit_minor"] = Money.parse(limit_text, "CNY").amount_minor
        elif verdict == "decline":
            body["reason_code"] = form.get("reason_code") or None
        else:
            raise ValidationError("must be approve or decline", field="verdict")
        command = referrals.ReviewReferral(
            decision_id=decision_id, reviewer=who, verdict=verdict,  # type: ignore[arg-type]
            line_product_code=LINE_PRODUCT, limit_minor=body.get("limit_minor"),
            reason_code=body.get("reason_code"))
        # The route's own choice: resolved now, or proposed above the four-eyes threshold.
        use_case, status_code = resolution(page.rt, who, command)
        response = run_as_route(page, who, key=form.get(KEY_FIELD) or None,
                                api_path=f"/v1/operator/credit_referrals/{decision_id}/resolve",
                                body=body, use_case=use_case, status_code=status_code)
    except DomainError as exc:
        return _referral_view(page, decision_id, status_code=http_status(exc),
                              error=_refused(page, exc, decision_id), limit_text=limit_text)
    answer = json.loads(bytes(response.body))
    if response.status_code == 202:
        return _referral_view(page, decision_id, status_code=202, proposed=answer)
    return _referral_view(page, decision_id, done=answer)


# ----------------------------------------------------------------------- fraud
@router.get("/fraud", response_class=HTMLResponse)
def fraud_page(request: Request, status: str = "active",
               cursor: str | None = None) -> Response:
    """The fraud case queue, most urgent first (GET /v1/operator/fraud_cases)."""
    from creditpay.risk.fraud import cases

    page, refused = staff_only(request, FRAUD_READ)
    if refused is not None:
        return refused
    status = status if status in ("active", "resolved") else "active"
    error = None
    found: list[dict[str, Any]] = []
    next_cursor = None
    try:
        with page.rt.uow.connect() as conn:
            found, next_cursor = cases.list_queue(conn, status=status, limit=LIST_MAX,
                                                  cursor=(cursor or None) and cursor[:200],
                                                  now=page.rt.clock.now())
    except DomainError as exc:
        error = _refused(page, exc, "cursor")
    more = None if next_cursor is None else "/console/fraud?" + urlencode(
        {"status": status, "cursor": next_cursor})
    return render(page, "console/q_fraud.html", title=page.gettext("Fraud cases"),
                  cases=found, status=status, more=more, error=error, when=_time,
                  statuses={"active": N_("Waiting"), "resolved": N_("Resolved")},
                  payment_actions=PAYMENT_ACTIONS)


def _case_view(page: Page, case_id: str, **values: Any) -> Response:
    from creditpay.risk.fraud import cases, records

    rt = page.rt
    who = page.principal
    assert who is not None
    try:
        with rt.uow.connect() as conn:
            case = cases.get_case(conn, case_id, now=rt.clock.now())
            screenings = records.screenings_for(conn, case["subject_id"])
            payment = None
            if case["subject_type"] == "payment_intent":
                # The held payment as the payments domain shows it to staff.
                payment = rt.payments.get_intent_view(conn, who, case["subject_id"])
    except (NotFoundError, ValidationError):
        return render(page, "console/error.html", status_code=404,
                      title=page.gettext("Not found"), message=case_id)
    return render(page, "console/q_fraud_case.html",
                  status_code=values.pop("status_code", 200),
                  title=page.gettext("Fraud case"), case=case, screenings=screenings,
                  payment=payment, may_resolve=who.role in FRAUD_RESOLVE,
                  verdicts=VERDICT_LABELS, payment_actions=PAYMENT_ACTIONS,
                  key=new_form_key(), when=_time, done=values.pop("done", None),
                  error=values.pop("error", None))


@router.get("/fraud/{case_id}", response_class=HTMLResponse)
def fraud_case_page(request: Request, case_id: str) -> Response:
    """One case with the screening's rules, score and features and the held payment."""
    page, refused = staff_only(request, FRAUD_READ)
    if refused is not None:
        return refused
    return _case_view(page, case_id[:ID_CHARS_MAX])


@form_post(router, "/fraud/{case_id}/resolve", page_of=staff_page)
def resolve_fraud_case(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/operator/fraud_cases/{id}/resolve from the page: the verdict releases
    (legitimate) or declines the held payment in the same transaction."""
    from creditpay.risk.fraud import cases

    who = page.principal
    if who is None:
        return page.redirect("/console/login")
    if who.role not in FRAUD_RESOLVE:
        return forbidden(page)
    case_id = _id(page, "case_id")
    verdict = form.get("verdict", "")
    note = form.get("note", "").strip()[:1000] or None
    body: dict[str, Any] = {"verdict": verdict, "note": note}
    rt = page.rt
    reviewer = cases.payment_reviewer(rt.payments.review, who)
    transfers = cases.payment_reviewer(rt.payments.review_transfer, who)
    try:
        response = run_as_route(
            page, who, key=form.get(KEY_FIELD) or None,
            api_path=f"/v1/operator/fraud_cases/{case_id}/resolve", body=body,
            use_case=lambda tx: cases.resolve(tx, case_id, who.id, verdict, note,
                                              review_payment=reviewer,
                                              review_transfer=transfers, notes=rt.notes))
    except DomainError as exc:
        return _case_view(page, case_id, status_code=http_status(exc),
                          error=_refused(page, exc, case_id))
    return _case_view(page, case_id, done=json.loads(bytes(response.body)))


# ----------------------------------------------------------------------- alerts
@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, status: str = "open", cursor: str | None = None
                ) -> Response:
    """Early-warning alerts, newest first (GET /v1/operator/alerts)."""
    from creditpay.risk.early_warning import service

    page, refused = staff_only(request, ALERTS_READ)
    if refused is not None:
        return refused
    status = status if status in ALERT_STATUSES else "open"
    error = None
    found: list[dict[str, Any]] = []
    next_cursor = None
    try:
        with page.rt.uow.connect() as conn:
            found, next_cursor = service.list_alerts(conn, status=status, limit=LIST_MAX,
                                                     cursor=(cursor or None) and cursor[:64])
    except DomainError as exc:
        error = _refused(page, exc, "cursor")
    more = None if next_cursor is None else "/console/alerts?" + urlencode(
        {"status": status, "cursor": next_cursor})
    return render(page, "console/q_alerts.html", title=page.gettext("Alerts"), alerts=found,
                  status=status, statuses=ALERT_STATUSES, more=more, error=error,
                  playbooks=PLAYBOOK_TITLES)


def _playbook_parameters(source: Any, names: list[str]) -> dict[str, str]:
    """The playbook's parameters given in a query or form (empty ones left out)."""
    out = {}
    for name in names:
        value = str(source.get(name, "") or "").strip()[:80]
        if value:
            out[name] = value
    return out


def _alert_view(page: Page, alert_id: str, parameters: dict[str, str] | None,
                **values: Any) -> Response:
    """The alert, and when ``parameters`` are given, the dry run of its playbook with them
    (GET /v1/operator/alerts/{id}/playbook/preview, for the roles that may run it)."""
    from creditpay.risk.early_warning import service

    rt = page.rt
    who = page.principal
    assert who is not None
    may_act = who.role in ALERTS_ACT
    preview = preview_error = None
    try:
        with rt.uow.connect() as conn:
            alert = service.get_alert(conn, alert_id)
            if parameters is not None and may_act:
                try:
                    preview = service.preview_playbook(conn, alert_id, who.id, [who.role or ""],
                                                       parameters)
                except DomainError as exc:
                    preview_error = _refused(page, exc, alert_id)
    except (NotFoundError, ValidationError):
        return render(page, "console/error.html", status_code=404,
                      title=page.gettext("Not found"), message=alert_id)
    shown = parameters if parameters is not None else {}
    if "segment" in alert["playbook_parameters"]:
        shown = {"segment": alert["segment"], **shown}
    return render(page, "console/q_alert.html", status_code=values.pop("status_code", 200),
                  title=page.gettext("Alert"), alert=alert, may_act=may_act,
                  preview=preview, preview_error=preview_error, parameters=shown,
                  parameter_labels=PARAMETER_LABELS, playbooks=PLAYBOOK_TITLES,
                  statuses=ALERT_STATUSES, key=new_form_key(), when=_time,
                  proposed=values.pop("proposed", None), error=values.pop("error", None))


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: str) -> Response:
    """One alert; with ``preview=1`` and the playbook's parameters in the query, the dry
    run's table (accounts, current and new limits, the cut, totals)."""
    from creditpay.risk.early_warning.monitors import PLAYBOOKS

    page, refused = staff_only(request, ALERTS_READ)
    if refused is not None:
        return refused
    query = request.query_params
    parameters = None
    if query.get("preview"):
        names = [n for p in PLAYBOOKS.values() for n in p.parameters]
        parameters = _playbook_parameters(query, names)
    return _alert_view(page, alert_id[:ID_CHARS_MAX], parameters)


@form_post(router, "/alerts/{alert_id}/propose", page_of=staff_page)
def propose_playbook(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/operator/alerts/{id}/playbook from the page: the run checked as it would
    execute and proposed to a second operator (202 with the proposal on the JSON route)."""
    from creditpay.risk.early_warning import service
    from creditpay.risk.early_warning.monitors import PLAYBOOKS

    who = page.principal
    if who is None:
        return page.redirect("/console/login")
    if who.role not in ALERTS_ACT:
        return forbidden(page)
    alert_id = _id(page, "alert_id")
    names = [n for p in PLAYBOOKS.values() for n in p.parameters]
    parameters = _playbook_parameters(form, names)
    rt = page.rt
    roles = [who.role or ""]

    def proposal(tx: Any) -> dict[str, Any]:
        service.check_playbook(tx.conn, alert_id, who.id, roles, parameters)
        return propose(rt, tx, who, "playbook.run",
                       {"alert_id": alert_id, "parameters": dict(parameters)})

    try:
        response = run_as_route(page, who, key=form.get(KEY_FIELD) or None,
                                api_path=f"/v1/operator/alerts/{alert_id}/playbook",
                                body={"parameters": parameters}, use_case=proposal,
                                status_code=202)
    except DomainError as exc:
        return _alert_view(page, alert_id, parameters, status_code=http_status(exc),
                           error=_refused(page, exc, alert_id))
    return _alert_view(page, alert_id, parameters, status_code=202,
                       proposed=json.loads(bytes(response.body)))


# ----------------------------------------------------------------------- collections
@router.get("/collections", response_class=HTMLResponse)
def collections_page(request: Request, status: str = "open") -> Response:
    """Collection cases, most days past due first, with what is owed and any promise to
    pay, and the contact rules every contact is checked against."""
    from creditpay.credit import collections

    page, refused = staff_only(request, COLLECTIONS_READ)
    if refused is not None:
        return refused
    status = status if status in ("open", "closed") else "open"
    with page.rt.uow.connect() as conn:
        found, total = collections.case_queue(conn, status=status, limit=LIST_MAX)
    return render(page, "console/q_collections.html", title=page.gettext("Collections"),
                  cases=found, total=total, status=status, rules=_contact_rules(),
                  statuses={"open": N_("Open"), "closed": N_("Closed")})


def _contact_rules() -> dict[str, Any]:
    """The contact rules in force (protection/collections_rules.py): the quiet hours in the
    consumer's local time and the daily cap of contacts."""
    from creditpay.credit.collections import DEFAULT_TIME_ZONE
    from creditpay.protection.collections_rules import DEFAULT_CONTACT_POLICY as policy

    return {"quiet_start": policy.quiet_start.strftime("%H:%M"),
            "quiet_end": policy.quiet_end.strftime("%H:%M"),
            "contacts_per_day_max": policy.contacts_per_day_max,
            "time_zone": DEFAULT_TIME_ZONE, "version": policy.version}


@router.get("/collections/{case_id}", response_class=HTMLResponse)
def collection_case_page(request: Request, case_id: str) -> Response:
    """One collection case: dpd, owed, promises to pay, the workflow's steps, settlement
    offers and the contact log (allowed or the rule that refused each attempt)."""
    from creditpay.credit import collections
    from creditpay.protection.collections_rules import contact_log

    page, refused = staff_only(request, COLLECTIONS_READ)
    if refused is not None:
        return refused
    try:
        with page.rt.uow.connect() as conn:
            case = collections.case_file(conn, case_id[:32])
            contacts = contact_log(conn, case["account_id"], limit=LIST_MAX)
    except (NotFoundError, ValidationError):
        return render(page, "console/error.html", status_code=404,
                      title=page.gettext("Not found"), message=case_id[:32])
    return render(page, "console/q_collection.html", title=page.gettext("Collection case"),
                  case=case, contacts=contacts, rules=_contact_rules(),
                  contact_rules=CONTACT_RULES, when=_time)


# ----------------------------------------------------------------------- complaints
def _complaints_view(page: Page, status: str, **values: Any) -> Response:
    from creditpay.protection.complaints import CATEGORY_NAMES, complaint_queue, sla_clocks

    rt = page.rt
    now = rt.clock.now()
    with rt.uow.connect() as conn:
        found, total = complaint_queue(conn, status=status, limit=LIST_MAX)
    rows = []
    for complaint in found:
        clocks = [{"step": c.step, "due": _time(c.due_at), "due_iso": c.due_at.isoformat(),
                   "seconds": c.seconds_left, "left": _duration(page, c.seconds_left),
                   "overdue": c.overdue, "met": c.met, "done": c.done_at is not None}
                  for c in sla_clocks(complaint, now)]
        zh, en = CATEGORY_NAMES[complaint.category]
        rows.append({"c": complaint, "clocks": clocks,
                     "category": zh if page.language.startswith("zh") else en})
    return render(page, "console/q_complaints.html", status_code=values.pop("status_code", 200),
                  title=page.gettext("Complaints"), rows=rows, total=total, status=status,
                  statuses=COMPLAINT_STATUSES, outcomes=COMPLAINT_OUTCOMES,
                  key=new_form_key(), when=_time, done=values.pop("done", None),
                  error=values.pop("error", None))


@router.get("/complaints", response_class=HTMLResponse)
def complaints_page(request: Request, status: str = "active") -> Response:
    """Complaints due soonest first, with their acknowledge and resolve clocks."""
    page, refused = staff_only(request, COMPLAINTS_STAFF)
    if refused is not None:
        return refused
    return _complaints_view(page, status if status in COMPLAINT_STATUSES else "active")


def _complaint_action(page: Page, form: dict[str, str], verb: str) -> Response:
    from creditpay.protection import complaints

    who = page.principal
    if who is None:
        return page.redirect("/console/login")
    if who.role not in COMPLAINTS_STAFF:
        return forbidden(page)
    complaint_id = _id(page, "complaint_id")
    api_path = f"/v1/operator/complaints/{complaint_id}/{verb}"
    try:
        if verb == "acknowledge":
            # The JSON route hashes no body for an acknowledgement.
            response = run_as_route(
                page, who, key=form.get(KEY_FIELD) or None, api_path=api_path, body={},
                use_case=lambda tx: complaints.acknowledge_complaint(
                    tx, complaint_id, who.id).as_dict())
        else:
            outcome = form.get("outcome", "")
            body = {"outcome": outcome, "remedy_minor": None, "remedy_currency": None}
            response = run_as_route(
                page, who, key=form.get(KEY_FIELD) or None, api_path=api_path, body=body,
                use_case=lambda tx: complaints.resolve_complaint(
                    tx, complaint_id, who.id, outcome).as_dict())
    except DomainError as exc:
        return _complaints_view(page, "active", status_code=http_status(exc),
                                error=_refused(page, exc, complaint_id))
    return _complaints_view(page, "active", done=json.loads(bytes(response.body)))


@form_post(router, "/complaints/{complaint_id}/acknowledge", page_of=staff_page)
def acknowledge_complaint(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/operator/complaints/{id}/acknowledge from the queue."""
    return _complaint_action(page, form, "acknowledge")


@form_post(router, "/complaints/{complaint_id}/resolve", page_of=staff_page)
def resolve_complaint(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/operator/complaints/{id}/resolve from the queue, with its outcome (no
    remedy: paying one back is the payments team's, through its own route)."""
    return _complaint_action(page, form, "resolve")
