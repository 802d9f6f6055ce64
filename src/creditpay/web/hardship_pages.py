"""Hardship help in the consumer app and the console (issue #20; docs/hardship.md).

``/app/credit/hardship?account=ID``: "Need help paying?" from My credit. The consumer says
why, sees the options of that plan or loan (as GET /v1/me/credit_accounts/{id}/
hardship_options gives them), each with its full cost and its key facts, and accepts one
(POST /v1/me/hardship_requests through the API's exactly-once machinery). Works without
script: one form, a radio per option carrying its id and the hash of the document shown.

``/console/hardship``: the referred requests (GET /v1/operator/hardship_requests) with the
approve and decline forms (POST /v1/operator/hardship_requests/{id}/resolve).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api import routes_hardship as R
from creditpay.errors import DomainError, ValidationError
from creditpay.protection.disclosure import document_csp
from creditpay.web.console import NAV, forbidden, render, staff_only, staff_page
from creditpay.web.credit_pages import _model, _once, problem
from creditpay.web.framework import (
    KEY_FIELD,
    N_,
    Page,
    customer_page,
    form_post,
    http_status,
    new_form_key,
    run_as_route,
)

__all__ = ["router", "console_router", "REASONS"]

router = APIRouter(prefix="/app", include_in_schema=False)
console_router = APIRouter(prefix="/console", include_in_schema=False)
REASONS = {"job_loss": N_("I lost my job"), "illness": N_("Illness or injury"),
           "income_drop": N_("My income fell"), "family": N_("A family emergency"),
           "other": N_("Something else")}
KINDS = {"payment_holiday": N_("Payment holiday"), "reamortisation": N_("Longer term"),
         "reduced_rate": N_("Lower interest rate")}
HARDSHIP_READ = R.READ_ROLES  # the roles of the JSON routes the pages stand for
HARDSHIP_ACT = R.ACT_ROLES
NAV.append(("/console/hardship", N_("Hardship"), HARDSHIP_READ))
ID_CHARS_MAX = 64


def _refusal(page: Page, exc: DomainError) -> str:
    _ = page.gettext
    rule = str(exc.extra.get("rule", ""))
    if rule == "hardship.pending":
        return _("Your request for this account is with our team: we will tell you their "
                 "answer.")
    if rule == "hardship.active":
        return _("An arrangement already runs on this account.")
    if rule.startswith("hardship."):
        return _("We cannot offer hardship options for this account here: {why}. Please "
                 "contact us through Complaints and a person will help.").format(
                     why=exc.detail)
    if isinstance(exc, ValidationError) and exc.field == "reason":
        return _("Choose why you need help.")
    if isinstance(exc, ValidationError) and exc.field in ("option_id", "key_facts_hash"):
        return _("Choose one of the options below (they were updated).")
    return problem(page, exc)


def _show(page: Page, account_id: str, reason: str | None, *, status_code: int = 200,
          error: str | None = None, done: dict[str, Any] | None = None) -> Response:
    who = page.principal
    assert who is not None
    shown = None
    if reason and done is None:
        try:
            with page.rt.uow.connect() as conn:
                shown = R.options_out(page.rt, conn, who, account_id, reason, page.language)
        except DomainError as exc:
            error, status_code = _refusal(page, exc), http_status(exc)
    return page.render("hardship.html", status_code=status_code, account_id=account_id,
                       reason=reason or "", reasons=REASONS, kinds=KINDS, shown=shown,
                       key=new_form_key(), error=error, done=done)


@router.get("/credit/hardship", response_class=HTMLResponse)
def hardship_page(request: Request, account: str = "", reason: str = "") -> Response:
    """Need help paying? The reason first, then the options of the account."""
    page, who = customer_page(request)
    if who is None:
        return page.redirect("/app/login")
    return _show(page, account[:ID_CHARS_MAX], reason[:16] or None)


@router.get("/credit/hardship/key_facts", response_class=HTMLResponse)
def hardship_key_facts(request: Request, account: str = "", option: str = "") -> Response:
    """The key-facts document of an option, in the page's language (the very bytes GET
    /v1/me/credit_accounts/{id}/hardship_options/{option}/key_facts serves)."""
    page, who = customer_page(request)
    if who is None:
        return page.redirect("/app/login")
    try:
        with page.rt.uow.connect() as conn:
            document = R.key_facts_html(page.rt, conn, who, account[:ID_CHARS_MAX],
                                        option[:32], page.language)
    except DomainError as exc:
        return page.render("error.html", status_code=http_status(exc),
                           title=page.gettext("Key facts"), message=_refusal(page, exc))
    response = page.respond(HTMLResponse(document))
    response.headers["Content-Security-Policy"] = document_csp(document)
    return response


@form_post(router, "/credit/hardship/accept")
def accept(page: Page, form: dict[str, str]) -> Response:
    """Accept the option chosen (as POST /v1/me/hardship_requests): its value is the
    option's id and the SHA-256 of the document the page showed."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    account_id = form.get("account_id", "")[:ID_CHARS_MAX]
    reason = form.get("reason", "")[:16]
    rt = page.rt
    try:
        option_id, _, digest = form.get("option", "").partition(":")
        if not option_id:
            raise ValidationError("choose an option", field="option_id")
        statement = form.get("statement", "").strip()[:1000] or None
        body = _model(R.HardshipRequestIn, account_id=account_id, reason=reason,
                      option_id=option_id, key_facts_hash=digest, statement=statement)
        key = form.get(KEY_FIELD, "")
        request_id = R.keyed_id(page.request, "hr", who, key, length=32)
        done = _once(page, who, key=key, api_path="/v1/me/hardship_requests", body=body,
                     response_model=R.HardshipRequestOut,
                     use_case=lambda tx: R.request_use_case(rt, tx, who, body, request_id))
    except DomainError as exc:
        return _show(page, account_id, reason or None, status_code=http_status(exc),
                     error=_refusal(page, exc))
    return _show(page, account_id, reason, done=done)


# ----------------------------------------------------------------------- console
def _queue(page: Page, status: str, **values: Any) -> Response:
    from creditpay.credit.hardship import list_requests

    with page.rt.uow.connect() as conn:
        found = list_requests(conn, status=status, limit=51)
    who = page.principal
    return render(page, "console/q_hardship.html", status_code=values.pop("status_code", 200),
                  title=page.gettext("Hardship requests"), rows=found[:50],
                  more=len(found) > 50, status=status, reasons=REASONS, kinds=KINDS,
                  statuses={"referred": N_("Waiting for a decision"),
                            "approved": N_("Approved"), "declined": N_("Declined")},
                  may_act=who is not None and who.role in HARDSHIP_ACT, key=new_form_key(),
                  done=values.pop("done", None), error=values.pop("error", None))


@console_router.get("/hardship", response_class=HTMLResponse)
def hardship_queue(request: Request, status: str = "referred") -> Response:
    """Hardship requests by status, the referred ones by default."""
    page, refused = staff_only(request, HARDSHIP_READ)
    if refused is not None:
        return refused
    return _queue(page, status if status in ("referred", "approved", "declined")
                  else "referred")


@form_post(console_router, "/hardship/{request_id}/resolve", page_of=staff_page)
def resolve(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/operator/hardship_requests/{id}/resolve from the queue."""
    who = page.principal
    if who is None:
        return page.redirect("/console/login")
    if who.role not in HARDSHIP_ACT:
        return forbidden(page)
    request_id = str(page.request.path_params["request_id"])[:ID_CHARS_MAX]
    try:
        body = _model(R.HardshipResolveIn, decision=form.get("decision", ""),
                      note=form.get("note", "").strip()[:1000] or None)
        response = run_as_route(
            page, who, key=form.get(KEY_FIELD) or None,
            api_path=f"/v1/operator/hardship_requests/{request_id}/resolve",
            body=body.model_dump(mode="json"),
            use_case=lambda tx: R.resolve_use_case(page.rt, tx, who, request_id, body))
    except DomainError as exc:
        message = page.gettext("It could not be done: {detail}").format(detail=exc.detail)
        return _queue(page, "referred", status_code=http_status(exc), error=message)
    return _queue(page, "referred", done=json.loads(bytes(response.body)))
