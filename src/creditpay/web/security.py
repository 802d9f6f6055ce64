"""The consumer's security page (issue #20): report fraud and freeze credit, lift the freeze.

Each form runs what its JSON route runs (:mod:`creditpay.api.routes_fraud_reports`) through
the API's exactly-once machinery under the route's path, so a double submit reports once.
Lifting a freeze asks for the one-time code the route asks for.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api.routes_fraud_reports import FraudReportIn, FraudReportOut, UnfreezeOut
from creditpay.errors import DomainError
from creditpay.parties.service import Principal, StepUpRequired
from creditpay.payments.fraud_reports import report_fraud, unfreeze_credit
from creditpay.web.credit_pages import as_api, problem
from creditpay.web.framework import (
    KEY_FIELD,
    Page,
    customer_page,
    form_post,
    http_status,
    new_form_key,
    run_as_route,
)

__all__ = ["router"]

router = APIRouter(prefix="/app", include_in_schema=False)
PAID = ("requires_capture", "succeeded")


def _state(page: Page, who: Principal) -> dict[str, Any]:
    """What the page shows: the customer's recent paid payments (to name one) and lines."""
    from creditpay.credit.lines import FROZEN_BY_CUSTOMER, customer_line_states

    rt = page.rt
    with rt.uow.connect() as conn:
        intents, _ = rt.payments.list_intents(conn, who, before_seq=None, limit=30)
        lines = customer_line_states(conn, who.id)
    return {"payments": [i for i in intents if i["status"] in PAID][:15],
            "lines": lines,
            "frozen_by_me": any(line["status"] == "frozen"
                                and line["frozen_reason"] == FROZEN_BY_CUSTOMER
                                for line in lines)}


def _render(page: Page, who: Principal, *, status_code: int = 200, error: str | None = None,
            report: dict[str, Any] | None = None, challenge: str | None = None,
            typed: dict[str, str] | None = None) -> Response:
    return page.render("security.html", status_code=status_code, error=error, report=report,
                       challenge=challenge, typed=typed or {}, key=new_form_key(),
                       unfreeze_key=new_form_key(), **_state(page, who))


@router.get("/security", response_class=HTMLResponse)
def security(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return page.redirect("/app/login")
    return _render(page, who)


@form_post(router, "/security/report")
def report(page: Page, form: dict[str, str]) -> Response:
    """Report fraud (as POST /v1/me/fraud_reports)."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    rt = page.rt
    typed = {"description": form.get("description", "")[:2000],
             "payment_intent_id": form.get("payment_intent_id", "")[:64]}
    try:
        body = FraudReportIn.model_validate({
            "description": typed["description"],
            "payment_intent_id": typed["payment_intent_id"] or None,
            "freeze": form.get("freeze") == "yes"})
    except ValueError:
        return _render(page, who, status_code=422, typed=typed, error=page.gettext(
            "Say in a few words what happened (at most 2,000 characters)."))
    try:
        response = run_as_route(
            page, who, key=form.get(KEY_FIELD, ""), api_path="/v1/me/fraud_reports",
            body=body.model_dump(mode="json"), status_code=201,
            serialize=lambda value: as_api(FraudReportOut, value),
            use_case=lambda tx: report_fraud(
                tx, rt.payments, who, description=body.description,
                payment_intent_id=body.payment_intent_id, freeze=body.freeze,
                subjects=rt.complaint_subjects, notes=rt.notes).as_dict())
    except DomainError as exc:
        return _render(page, who, status_code=http_status(exc), typed=typed,
                       error=problem(page, exc))
    return _render(page, who, report=json.loads(bytes(response.body)))


@form_post(router, "/security/unfreeze")
def unfreeze(page: Page, form: dict[str, str]) -> Response:
    """Lift my own freeze (as POST /v1/me/credit_line/unfreeze): a code first, then lift."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    rt = page.rt
    challenge = form.get("step_up_challenge_id") or None
    code = form.get("step_up_code", "").strip() or None
    body = {"step_up_challenge_id": challenge, "step_up_code": code}
    try:
        run_as_route(page, who, key=form.get(KEY_FIELD, ""),
                     api_path="/v1/me/credit_line/unfreeze", body=body,
                     serialize=lambda value: as_api(UnfreezeOut, value),
                     use_case=lambda tx: {"lines": unfreeze_credit(
                         tx, rt.payments, who, challenge_id=challenge, code=code)})
    except StepUpRequired as exc:
        return _render(page, who, status_code=403,
                       challenge=str(exc.extra.get("challenge_id")))
    except DomainError as exc:
        return _render(page, who, status_code=http_status(exc), challenge=challenge,
                       error=problem(page, exc))
    page.notices.append(page.gettext("Your credit is unfrozen."))
    return _render(page, who)
