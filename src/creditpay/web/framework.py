"""What every page module of the web app shares: the request context (:class:`Page`),
templates, the CSRF-checked form POST (:func:`form_post`), and the wording of refusals.

Page modules (:mod:`creditpay.web.pages` and its siblings) each own an ``APIRouter`` and
register their POST handlers with :func:`form_post`, which checks the CSRF token before
the handler runs. Sessions and CSRF: :mod:`creditpay.web.session`; languages:
:mod:`creditpay.web.i18n`. Pages hold no business rule: they call the same functions,
``Parties`` and ``Payments`` methods the JSON routes use, and format what they return.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from babel.dates import format_date
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from creditpay.api.common import runtime
from creditpay.api.idempotency import fingerprint, run_idempotent
from creditpay.api.routes_consumer_credit import (
    CURRENCY,
    credit_line_out,
)
from creditpay.api.runtime import Runtime
from creditpay.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    NotFoundError,
    RateLimitedError,
    StateError,
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

__all__ = ["PAGE_CSP", "Page", "N_", "new_form_key", "run_as_route", "page_for", "customer_page", "form_post", "error_text",
           "http_status", "line_or_none", "safe_next"]

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
KIND = {"line": N_("Credit line"), "plan": N_("Installment plan"), "loan": N_("Cash loan")}


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
    # The console's pages keep their staff session in a cookie of their own.
    cookie_name: str = SESSION_COOKIE
    cookie_max_age_s: int = 30 * 24 * 3600

    def gettext(self, message: str) -> str:
        return str(translations(self.language).gettext(message))

    def respond(self, response: Response) -> Response:
        """``response`` with the page headers and whichever cookies changed."""
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["Cache-Control"] = "no-store"
        signer = self.rt.parties.signer
        if encode_session(signer, self.session) != self.cookie_in:
            write_session(response, signer, self.session, cookie=self.cookie_name,
                          max_age_s=self.cookie_max_age_s)
        if self.device_is_new:
            write_device(response, self.device_id)
        return response

    def render(self, template: str, status_code: int = 200, **values: Any) -> Response:
        html = _templates.get_template(template).render(
            _=self.gettext, lang=self.language, languages=LANGUAGES, csrf=self.session.csrf,
            csrf_field=CSRF_FIELD, customer=self.customer, path=self.request.url.path,
            static=_static, money=self.money, date=self.date, notices=self.notices,
            dev_inbox=self.rt.dev_inbox, installment_status=INSTALLMENT_STATUS,
            line_status=LINE_STATUS, kind_label=KIND, product_name=self.product_name,
            **values)
        return self.respond(HTMLResponse(html, status_code=status_code))

    def redirect(self, url: str) -> Response:
        return self.respond(RedirectResponse(url, status_code=303))

    def product_name(self, code: str, version: int | None = None) -> str:
        """A product's name in the page's language (the catalogue's ``name``), its code
        when the catalogue does not know it."""
        try:
            names = self.rt.catalogue.get(code, version).name
        except DomainError:
            return code
        return names.get(self.language) or names.get("en") or code

    def money(self, amount_minor: int, currency: str = CURRENCY) -> str:
        return money_text(amount_minor, currency, self.language)

    def date(self, value: str | dt.date | None) -> str:
        if value is None:
            return "—"
        day = dt.date.fromisoformat(value) if isinstance(value, str) else value
        return format_date(day, "medium", locale=self.language.replace("-", "_"))


def _static(name: str) -> str:
    return f"{STATIC_PREFIX}/{name}?v={asset_version(name)}"


def page_for(request: Request) -> Page:
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


def form_post(target: APIRouter, path: str, *,
              page_of: Callable[[Request], Page] | None = None
              ) -> Callable[[Callable[[Page, dict[str, str]], Response]],
                             Callable[[Page, dict[str, str]], Response]]:
    """Register a POST handler behind the CSRF check: without the session's token the
    answer is 403 and the handler never runs. ``page_of`` builds the request's context
    (default :func:`page_for`, the customer's; the console passes its staff one)."""
    def decorate(handler: Callable[[Page, dict[str, str]], Response]
                 ) -> Callable[[Page, dict[str, str]], Response]:
        def checked(request: Request, form: dict[str, str]) -> Response:
            page = (page_of or page_for)(request)
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


def error_text(page: Page, exc: DomainError) -> str:
    """What a person is told about a refusal, in their language."""
    _ = page.gettext
    if isinstance(exc, RateLimitedError):
        return _("Too many attempts. Wait a few minutes and try again.")
    if isinstance(exc, AuthenticationError):
        if "code" in str(exc):
            return _("The code is wrong or has expired.")
        return _("Wrong phone number, e-mail or password.")
    if isinstance(exc, ConflictError) and not isinstance(exc, StateError) \
            and exc.field in ("phone", "email", "identifier"):
        return _("This phone number or e-mail is registered already: log in.")
    if isinstance(exc, ConflictError):
        return _("That cannot be done now: it has changed since the page was shown. "
                 "Reload the page and try again.")
    if isinstance(exc, ValidationError):
        if exc.field == "password":
            return _("Choose a longer password: at least 10 characters.")
        if exc.field in ("phone", "email", "identifier"):
            return _("Enter a valid mobile number or e-mail address.")
        return _("Check what you entered and try again.")
    return _("That did not work. Try again.")




def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path of this app (``/app/...``, ``/console/...``,
    ``/merchant/...``) to go on to,
    else None: never an open redirect (no scheme, no ``//host``, no backslash or control
    character)."""
    if not value or not value.startswith(("/app/", "/console/", "/merchant/")) or \
            value.startswith(("/app//", "/console//", "/merchant//")) \
            or "\\" in value or not value.isprintable() or len(value) > 512:
        return None
    return value


def language_switch(page: Page, form: dict[str, str], home: str) -> Response:
    """The language switch's POST: the chosen language in its cookie, back to the page it
    was on (a page of this app only, else ``home``: never an open redirect)."""
    response = page.redirect(safe_next(form.get("next")) or home)
    chosen = form.get("lang")
    if chosen in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=400 * 24 * 3600, path="/",
                            secure=True, httponly=True, samesite="lax")
    return response


def customer_page(request: Request) -> tuple[Page, Principal | None]:
    page = page_for(request)
    return page, page.principal


def line_or_none(rt: Runtime, conn: Any, customer_id: str, *,
                 with_bill_in_full: bool = False) -> dict[str, Any] | None:
    """The customer's line as GET /v1/me/credit_line gives it, or None; what paying the
    bill in full takes (a read of every account's installments) only for the pages that
    show it (``with_bill_in_full``)."""
    try:
        return credit_line_out(rt, conn, customer_id, with_bill_in_full=with_bill_in_full)
    except NotFoundError:
        return None


def http_status(exc: DomainError) -> int:
    return int(getattr(exc, "status", 422) or 422)


# The hidden field of a form's one-time key (:func:`new_form_key`).
KEY_FIELD = "once"


def new_form_key() -> str:
    """A money-moving form's one-time key, made when the form is shown: the Idempotency-Key
    its POST runs under (printable, within the API's 8..255 characters)."""
    return "web-" + secrets.token_urlsafe(24)


def run_as_route(page: Page, who: Principal, *, key: str | None, api_path: str,
                 body: dict[str, Any], use_case: Callable[[Any], Any],
                 status_code: int = 200, secret_fields: frozenset[str] = frozenset(),
                 serialize: Callable[[Any], Any] | None = None) -> Response:
    """Run a form's ``use_case`` once for its one-time ``key``, exactly as the JSON route
    at ``api_path`` runs it for its Idempotency-Key with ``body`` (the same table, scope
    and request hash): a form sent twice gets the first outcome and changes nothing, and
    the key replayed on the JSON route returns the same answer."""
    return run_idempotent(
        page.rt.uow, scope=who.scope_key, key=key,
        request_hash=fingerprint("POST", api_path, body), path=api_path,
        use_case=use_case, status_code=status_code, secret_fields=secret_fields,
        serialize=serialize)
