"""The consumer's account pages at ``/app/``: log in (with the new-device step-up),
register, home, My credit, log out, the language switch, and (development only) the inbox
of codes sent. Shared machinery: :mod:`creditpay.web.framework`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api.routes_consumer_credit import CURRENCY, installments_out, statement_out
from creditpay.api.routes_customers import check_password
from creditpay.errors import DomainError, ValidationError
from creditpay.web.credit_pages import credit_actions
from creditpay.web.framework import (
    Page,
    customer_page,
    error_text,
    form_post,
    http_status,
    language_switch,
    line_or_none,
    page_for,
    safe_next,
)
from creditpay.web.session import WebSession

__all__ = ["router", "dev_router"]

router = APIRouter(prefix="/app", include_in_schema=False)
dev_router = APIRouter(prefix="/app/dev", include_in_schema=False)


# ----------------------------------------------------------------------- public pages
@router.get("/", response_class=HTMLResponse)
@router.get("", response_class=HTMLResponse)
def index(request: Request) -> Response:
    page = page_for(request)
    return page.redirect("/app/home" if page.principal else "/app/login")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    page = page_for(request)
    if page.principal is not None:
        return page.redirect(safe_next(request.query_params.get("next")) or "/app/home")
    if request.query_params.get("registered"):
        page.notices.append(page.gettext("Your account is ready. Log in."))
    return page.render("login.html", identifier="", error=None,
                       next=safe_next(request.query_params.get("next")))


@form_post(router, "/login")
def login(page: Page, form: dict[str, str]) -> Response:
    rt, identifier = page.rt, form.get("identifier", "").strip()
    # Where to go once logged in (the hosted checkout sends shoppers here and back).
    then = safe_next(form.get("next"))
    try:
        _, row = check_password(page.request, identifier, form.get("password", ""))
        result = rt.uow.run_keeping_effects(
            lambda tx: rt.parties.login_succeeded(tx, row.id, page.device_id))
    except DomainError as exc:
        return page.render("login.html", status_code=http_status(exc), identifier=identifier,
                           error=error_text(page, exc), next=then)
    if result["status"] == "step_up_required":
        page.session = WebSession(csrf=page.session.csrf, challenge=result["challenge_id"])
        return page.redirect("/app/login/verify" + (f"?{urlencode({'next': then})}"
                                                    if then else ""))
    page.session = page.session.logged_in(result["access_token"], result["refresh_token"])
    return page.redirect(then or "/app/home")


@router.get("/login/verify", response_class=HTMLResponse)
def login_verify_form(request: Request) -> Response:
    page = page_for(request)
    if page.session.challenge is None:
        return page.redirect("/app/login")
    return page.render("login_verify.html", error=None,
                       next=safe_next(request.query_params.get("next")))


@form_post(router, "/login/verify")
def login_verify(page: Page, form: dict[str, str]) -> Response:
    rt, challenge = page.rt, page.session.challenge
    if challenge is None:
        return page.redirect("/app/login")
    then = safe_next(form.get("next"))
    try:
        result = rt.uow.run_keeping_effects(lambda tx: rt.parties.verify_login(
            tx, challenge_id=challenge, code=form.get("code", "").strip(),
            device_id=page.device_id))
    except DomainError as exc:
        return page.render("login_verify.html", status_code=http_status(exc),
                           error=error_text(page, exc), next=then)
    page.session = page.session.logged_in(result["access_token"], result["refresh_token"])
    return page.redirect(then or "/app/home")


@router.get("/register", response_class=HTMLResponse)
def register_form(request: Request) -> Response:
    page = page_for(request)
    if page.principal is not None:
        return page.redirect("/app/home")
    return page.render("register.html", identifier="", error=None)


@form_post(router, "/register")
def register(page: Page, form: dict[str, str]) -> Response:
    rt, identifier = page.rt, form.get("identifier", "").strip()
    is_email = "@" in identifier
    try:
        if form.get("password", "") != form.get("password_again", ""):
            return page.render("register.html", status_code=422, identifier=identifier,
                               error=page.gettext("The two passwords are not the same."))
        if not identifier:
            raise ValidationError("give a phone number or an e-mail", field="identifier")
        password_hash = rt.parties.passwords.hash(form.get("password", ""))
        started = rt.uow.run_keeping_effects(lambda tx: rt.parties.start_registration(
            tx, phone=None if is_email else identifier, email=identifier if is_email else None,
            password_hash=password_hash, device_id=page.device_id, locale=page.language))
    except DomainError as exc:
        return page.render("register.html", status_code=http_status(exc), identifier=identifier,
                           error=error_text(page, exc))
    page.session = WebSession(csrf=page.session.csrf, registration=started["registration_id"])
    return page.redirect("/app/register/verify")


@router.get("/register/verify", response_class=HTMLResponse)
def register_verify_form(request: Request) -> Response:
    page = page_for(request)
    if page.session.registration is None:
        return page.redirect("/app/register")
    return page.render("register_verify.html", error=None)


@form_post(router, "/register/verify")
def register_verify(page: Page, form: dict[str, str]) -> Response:
    rt, registration = page.rt, page.session.registration
    if registration is None:
        return page.redirect("/app/register")
    try:
        rt.uow.run_keeping_effects(lambda tx: rt.parties.complete_registration(
            tx, registration_id=registration, code=form.get("code", "").strip(),
            device_id=page.device_id))
    except DomainError as exc:
        return page.render("register_verify.html", status_code=http_status(exc),
                           error=error_text(page, exc))
    page.session = WebSession.anonymous()
    return page.redirect("/app/login?registered=1")


@form_post(router, "/lang")
def switch_language(page: Page, form: dict[str, str]) -> Response:
    return language_switch(page, form, "/app/")


@form_post(router, "/logout")
def logout(page: Page, form: dict[str, str]) -> Response:
    principal = page.principal
    if principal is not None:
        page.rt.uow.run(lambda tx: page.rt.parties.logout(tx, principal))
    page.session = WebSession.anonymous()
    return page.redirect("/app/login")


# ----------------------------------------------------------------------- customer pages
@router.get("/home", response_class=HTMLResponse)
def home(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return page.redirect("/app/login")
    rt = page.rt
    with rt.uow.connect() as conn:
        wallet = rt.payments.wallet_balance(conn, who.id, CURRENCY)
        line = line_or_none(rt, conn, who.id)
    return page.render("home.html", wallet=wallet, line=line)


@router.get("/credit", response_class=HTMLResponse)
def my_credit(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return page.redirect("/app/login")
    from creditpay.credit.funding import funders_of_customer
    from creditpay.credit.service import list_accounts
    from creditpay.credit.statements import list_statements

    rt = page.rt
    with rt.uow.connect() as conn:
        line = line_or_none(rt, conn, who.id, with_bill_in_full=True)
        bill = None
        if line is not None:
            bills = list_statements(conn, line["line_id"])
            bill = statement_out(bills[-1]) if bills else None
        funders = funders_of_customer(conn, who.id, platform_name=rt.payments.policy.lender_name)
        plans = [{"account": account,
                  "schedule": installments_out(conn, account.account_id, CURRENCY)["data"],
                  "funders": funders.get(account.account_id, [])}
                 for account in list_accounts(conn, who.id)
                 if account.kind in ("plan", "loan") and account.status == "active"]
        actions = credit_actions(conn, who.id, line, plans)
    return page.render("credit.html", line=line, bill=bill, plans=plans, **actions)


# ----------------------------------------------------------------------- development
@dev_router.get("/inbox", response_class=HTMLResponse)
def dev_inbox(request: Request) -> Response:
    """What the SMS and e-mail relay would have sent (exists only with the dev inbox on)."""
    from creditpay.parties.notifier import inbox
    from creditpay.platform.vault import normalise_email, normalise_phone

    page = page_for(request)
    to = request.query_params.get("to", "").strip()[:254]
    messages: list[dict[str, Any]] = []
    error = None
    if to:
        try:
            destination = normalise_email(to) if "@" in to else normalise_phone(to)
        except ValidationError:
            error = page.gettext("Enter a valid mobile number or e-mail address.")
        else:
            rt = page.rt
            with rt.uow.connect() as conn:
                customer = rt.parties.find_by_identifier(conn, to)
                messages = inbox(conn, rt.vault, destination=destination,
                                 customer_id=customer.id if customer is not None else None)
    return page.render("dev_inbox.html", to=to, messages=messages, error=error,
                       query=urlencode({"to": to}))
