"""The consumer pages at ``/app/``: log in (with the new-device step-up), register, home,
My credit, log out, the language switch, and (development only) the inbox of codes sent.

Each page reads or acts through the same functions, ``Parties`` and ``Payments`` methods
the JSON routes use, in the API's runtime; figures are formatted here, never computed.
Every POST goes through :func:`_form_post`, which checks the CSRF token before the handler
runs. Sessions and CSRF: :mod:`creditpay.web.session`; languages: :mod:`creditpay.web.i18n`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
from babel.dates import format_date
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from creditpay.api.common import runtime
from creditpay.api.routes_consumer_credit import (
    CURRENCY,
    credit_line_out,
    installments_out,
    statement_out,
)
from creditpay.api.routes_customers import check_password
from creditpay.api.runtime import Runtime
from creditpay.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from creditpay.formatting import money_text
from creditpay.parties.service import Principal
from creditpay.web.assets import STATIC_PREFIX, asset_version
from creditpay.web.i18n import LANGUAGES, choose_language, translations
from creditpay.web.session import (
    CSRF_FIELD,
    DEVICE_COOKIE,
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    WebSession,
    authenticate,
    csrf_matches,
    encode_session,
    new_device_id,
    write_device,
    write_session,
)

__all__ = ["router", "dev_router", "PAGE_CSP"]

router = APIRouter(prefix="/app", include_in_schema=False)
dev_router = APIRouter(prefix="/app/dev", include_in_schema=False)

# Pages run no inline script or style: every asset is a file this app serves.
PAGE_CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
FORM_FIELDS_MAX = 32
FORM_VALUE_CHARS_MAX = 1024

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def N_(message: str) -> str:
    """Marks a message for extraction (pybabel ``-k N_``); translated where it is shown."""
    return message


INSTALLMENT_STATUS = {"scheduled": N_("scheduled"), "billed": N_("billed"),
                      "past_due": N_("past due"), "paid": N_("paid"),
                      "cancelled": N_("cancelled")}
LINE_STATUS = {"active": N_("active"), "frozen": N_("frozen"), "closed": N_("closed")}
KIND = {"line": N_("credit line"), "plan": N_("installment plan"), "loan": N_("cash loan")}


@dataclass
class Page:
    """One request's context: who, in which language, and the cookies to send back."""

    request: Request
    rt: Runtime
    session: WebSession
    principal: Principal | None
    language: str
    device_id: str
    cookie_in: str | None
    device_is_new: bool
    customer: dict[str, Any] | None = None
    notices: list[str] = field(default_factory=list)

    def gettext(self, message: str) -> str:
        return str(translations(self.language).gettext(message))

    def respond(self, response: Response) -> Response:
        """``response`` with the page headers and whichever cookies changed."""
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["Cache-Control"] = "no-store"
        signer = self.rt.parties.signer
        if encode_session(signer, self.session) != self.cookie_in:
            write_session(response, signer, self.session)
        if self.device_is_new:
            write_device(response, self.device_id)
        return response

    def render(self, template: str, status_code: int = 200, **values: Any) -> Response:
        html = _templates.get_template(template).render(
            _=self.gettext, lang=self.language, languages=LANGUAGES, csrf=self.session.csrf,
            csrf_field=CSRF_FIELD, customer=self.customer, path=self.request.url.path,
            static=_static, money=self.money, date=self.date, notices=self.notices,
            dev_inbox=self.rt.dev_inbox, installment_status=INSTALLMENT_STATUS,
            line_status=LINE_STATUS, kind_label=KIND, **values)
        return self.respond(HTMLResponse(html, status_code=status_code))

    def redirect(self, url: str) -> Response:
        return self.respond(RedirectResponse(url, status_code=303))

    def money(self, amount_minor: int, currency: str = CURRENCY) -> str:
        return money_text(amount_minor, currency, self.language)

    def date(self, value: str | dt.date | None) -> str:
        if value is None:
            return "—"
        day = dt.date.fromisoformat(value) if isinstance(value, str) else value
        return format_date(day, "medium", locale=self.language.replace("-", "_"))


def _static(name: str) -> str:
    return f"{STATIC_PREFIX}/{name}?v={asset_version(name)}"


def _page(request: Request) -> Page:
    """The context of a request (reads the session; renews an expired access token)."""
    rt = runtime(request)
    cookie_in = request.cookies.get(SESSION_COOKIE)
    from creditpay.web.session import decode_session

    session = decode_session(rt.parties.signer, cookie_in) or WebSession.anonymous()
    principal, session = authenticate(rt, session)
    customer = None
    if principal is not None:
        with rt.uow.connect() as conn:
            customer = rt.parties.customer_view(rt.parties.get_customer(conn, principal.id))
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    language = choose_language(chosen, customer["locale"] if customer else None,
                               request.headers.get("accept-language"))
    device_id = request.cookies.get(DEVICE_COOKIE) or ""
    device_is_new = not _valid_device_id(device_id)
    if device_is_new:
        device_id = new_device_id()
    return Page(request, rt, session, principal, language, device_id, cookie_in,
                device_is_new, customer)


def _valid_device_id(value: str) -> bool:
    return 8 <= len(value) <= 128 and all(c.isascii() and (c.isalnum() or c in "_.:-")
                                          for c in value)


async def _read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send), parsed
    with the standard library: multipart needs a package we do not otherwise use. The body
    size is already bounded by the API's body guard."""
    if request.headers.get("content-type", "").split(";")[0].strip() != \
            "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=FORM_FIELDS_MAX)
    return {k: v[:FORM_VALUE_CHARS_MAX] for k, v in pairs}


def _form_post(path: str, target: APIRouter = router
               ) -> Callable[[Callable[[Page, dict[str, str]], Response]],
                             Callable[[Page, dict[str, str]], Response]]:
    """Register a POST handler behind the CSRF check: without the session's token the
    answer is 403 and the handler never runs."""
    def decorate(handler: Callable[[Page, dict[str, str]], Response]
                 ) -> Callable[[Page, dict[str, str]], Response]:
        def checked(request: Request, form: dict[str, str]) -> Response:
            page = _page(request)
            if not csrf_matches(page.session, form.get(CSRF_FIELD)):
                return page.render("error.html", status_code=403, title=page.gettext(
                    "This form has expired"), message=page.gettext(
                    "For your security the form was not accepted. Go back, reload the page "
                    "and try again."))
            return handler(page, form)

        async def endpoint(request: Request) -> Response:
            form = await _read_form(request)
            return await run_in_threadpool(checked, request, form)

        endpoint.__name__ = handler.__name__
        target.add_api_route(path, endpoint, methods=["POST"], response_class=HTMLResponse)
        return handler

    return decorate


def _error_text(page: Page, exc: DomainError) -> str:
    """What a person is told about a refusal, in their language."""
    _ = page.gettext
    if isinstance(exc, RateLimitedError):
        return _("Too many attempts. Wait a few minutes and try again.")
    if isinstance(exc, AuthenticationError):
        if "code" in str(exc):
            return _("The code is wrong or has expired.")
        return _("Wrong phone number, e-mail or password.")
    if isinstance(exc, ConflictError):
        return _("This phone number or e-mail is registered already: log in.")
    if isinstance(exc, ValidationError):
        if exc.field == "password":
            return _("Choose a longer password: at least 10 characters.")
        if exc.field in ("phone", "email", "identifier"):
            return _("Enter a valid mobile number or e-mail address.")
        return _("Check what you entered and try again.")
    return _("That did not work. Try again.")


# ----------------------------------------------------------------------- public pages
@router.get("/", response_class=HTMLResponse)
@router.get("", response_class=HTMLResponse)
def index(request: Request) -> Response:
    page = _page(request)
    return page.redirect("/app/home" if page.principal else "/app/login")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    page = _page(request)
    if page.principal is not None:
        return page.redirect("/app/home")
    if request.query_params.get("registered"):
        page.notices.append(page.gettext("Your account is ready. Log in."))
    return page.render("login.html", identifier="", error=None)


@_form_post("/login")
def login(page: Page, form: dict[str, str]) -> Response:
    rt, identifier = page.rt, form.get("identifier", "").strip()
    try:
        _, row = check_password(page.request, identifier, form.get("password", ""))
        result = rt.uow.run_keeping_effects(
            lambda tx: rt.parties.login_succeeded(tx, row.id, page.device_id))
    except DomainError as exc:
        return page.render("login.html", status_code=_status(exc), identifier=identifier,
                           error=_error_text(page, exc))
    if result["status"] == "step_up_required":
        page.session = WebSession(csrf=page.session.csrf, challenge=result["challenge_id"])
        return page.redirect("/app/login/verify")
    page.session = page.session.logged_in(result["access_token"], result["refresh_token"])
    return page.redirect("/app/home")


@router.get("/login/verify", response_class=HTMLResponse)
def login_verify_form(request: Request) -> Response:
    page = _page(request)
    if page.session.challenge is None:
        return page.redirect("/app/login")
    return page.render("login_verify.html", error=None)


@_form_post("/login/verify")
def login_verify(page: Page, form: dict[str, str]) -> Response:
    rt, challenge = page.rt, page.session.challenge
    if challenge is None:
        return page.redirect("/app/login")
    try:
        result = rt.uow.run_keeping_effects(lambda tx: rt.parties.verify_login(
            tx, challenge_id=challenge, code=form.get("code", "").strip(),
            device_id=page.device_id))
    except DomainError as exc:
        return page.render("login_verify.html", status_code=_status(exc),
                           error=_error_text(page, exc))
    page.session = page.session.logged_in(result["access_token"], result["refresh_token"])
    return page.redirect("/app/home")


@router.get("/register", response_class=HTMLResponse)
def register_form(request: Request) -> Response:
    page = _page(request)
    if page.principal is not None:
        return page.redirect("/app/home")
    return page.render("register.html", identifier="", error=None)


@_form_post("/register")
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
        return page.render("register.html", status_code=_status(exc), identifier=identifier,
                           error=_error_text(page, exc))
    page.session = WebSession(csrf=page.session.csrf, registration=started["registration_id"])
    return page.redirect("/app/register/verify")


@router.get("/register/verify", response_class=HTMLResponse)
def register_verify_form(request: Request) -> Response:
    page = _page(request)
    if page.session.registration is None:
        return page.redirect("/app/register")
    return page.render("register_verify.html", error=None)


@_form_post("/register/verify")
def register_verify(page: Page, form: dict[str, str]) -> Response:
    rt, registration = page.rt, page.session.registration
    if registration is None:
        return page.redirect("/app/register")
    try:
        rt.uow.run_keeping_effects(lambda tx: rt.parties.complete_registration(
            tx, registration_id=registration, code=form.get("code", "").strip(),
            device_id=page.device_id))
    except DomainError as exc:
        return page.render("register_verify.html", status_code=_status(exc),
                           error=_error_text(page, exc))
    page.session = WebSession.anonymous()
    return page.redirect("/app/login?registered=1")


@_form_post("/lang")
def switch_language(page: Page, form: dict[str, str]) -> Response:
    chosen = form.get("lang")
    back = form.get("next", "")
    # Only a page of this app: never an open redirect.
    if not back.startswith("/app/") or back.startswith("/app//") or "\\" in back:
        back = "/app/"
    response = page.redirect(back)
    if chosen in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=400 * 24 * 3600, path="/",
                            secure=True, httponly=True, samesite="lax")
    return response


@_form_post("/logout")
def logout(page: Page, form: dict[str, str]) -> Response:
    principal = page.principal
    if principal is not None:
        page.rt.uow.run(lambda tx: page.rt.parties.logout(tx, principal))
    page.session = WebSession.anonymous()
    return page.redirect("/app/login")


# ----------------------------------------------------------------------- customer pages
def _customer_page(request: Request) -> tuple[Page, Principal | None]:
    page = _page(request)
    return page, page.principal


@router.get("/home", response_class=HTMLResponse)
def home(request: Request) -> Response:
    page, who = _customer_page(request)
    if who is None:
        return page.redirect("/app/login")
    rt = page.rt
    with rt.uow.connect() as conn:
        wallet = rt.payments.wallet_balance(conn, who.id, CURRENCY)
        line = _line_or_none(conn, who.id)
    return page.render("home.html", wallet=wallet, line=line)


@router.get("/credit", response_class=HTMLResponse)
def my_credit(request: Request) -> Response:
    page, who = _customer_page(request)
    if who is None:
        return page.redirect("/app/login")
    from creditpay.credit.service import list_accounts
    from creditpay.credit.statements import list_statements

    rt = page.rt
    with rt.uow.connect() as conn:
        line = _line_or_none(conn, who.id)
        bill = None
        if line is not None:
            bills = list_statements(conn, line["line_id"])
            bill = statement_out(bills[-1]) if bills else None
        plans = [{"account": account,
                  "schedule": installments_out(conn, account.account_id, CURRENCY)["data"]}
                 for account in list_accounts(conn, who.id)
                 if account.kind in ("plan", "loan") and account.status == "active"]
    return page.render("credit.html", line=line, bill=bill, plans=plans)


def _line_or_none(conn: Any, customer_id: str) -> dict[str, Any] | None:
    try:
        return credit_line_out(conn, customer_id)
    except NotFoundError:
        return None


def _status(exc: DomainError) -> int:
    return int(getattr(exc, "status", 422) or 422)


# ----------------------------------------------------------------------- development
@dev_router.get("/inbox", response_class=HTMLResponse)
def dev_inbox(request: Request) -> Response:
    """What the SMS and e-mail relay would have sent (exists only with the dev inbox on)."""
    from creditpay.parties.notifier import inbox
    from creditpay.platform.vault import normalise_email, normalise_phone

    page = _page(request)
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
