"""The merchant dashboard at ``/merchant/`` (issue #16): a merchant's people log in (user id,
password and a TOTP code: :mod:`creditpay.parties.merchant_users`) and see their payments,
capture and refund them, read their settlements reconciled line by line, follow their
webhook deliveries and send one again, manage their API keys, and see their chargebacks
and fees.

An adapter like the console (:mod:`creditpay.web.console`): each page calls the functions
its JSON route calls and holds no rule of its own; each action runs as its JSON route runs
it (:func:`run_as_route`: the same idempotency table, scope and request hash). The session
is a cookie of its own (``__Host-cp_merchant``: HttpOnly, Secure, SameSite=Lax, signed like
the others), holding a ``merchant_user`` token that neither the JSON API nor the console
accepts; a customer's or a staff member's session opens no page here. A logged-in user acts
as their merchant with the scopes of their role (owner: every scope; viewer: payments:read
and reports:read), and every page and form checks the scope its JSON route requires; a
role without it gets 403 and the page says why. Everything is scoped to the user's own
merchant: another merchant's payment, settlement or delivery is 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api.common import runtime
from creditpay.errors import (
    AuthenticationError,
    DomainError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from creditpay.money import Money
from creditpay.parties import merchant_users as MU
from creditpay.parties.service import MERCHANT_SCOPES, Principal
from creditpay.payments import merchant_desk
from creditpay.web.framework import (
    KEY_FIELD,
    N_,
    Page,
    form_post,
    http_status,
    language_switch,
    new_form_key,
    run_as_route,
    safe_next,
)
from creditpay.web.i18n import choose_language
from creditpay.web.session import LANGUAGE_COOKIE, WebSession, decode_session

__all__ = ["router", "MERCHANT_COOKIE", "merchant_page", "merchant_only"]

router = APIRouter(prefix="/merchant", include_in_schema=False)
MERCHANT_COOKIE = "__Host-cp_merchant"
MERCHANT_COOKIE_MAX_AGE_S = 12 * 3600  # a working day; the token inside expires sooner
CURRENCY = "CNY"

# The scopes of the JSON routes each page stands for (any one of them opens the page).
PAYMENTS_READ = frozenset({"payments:read"})
PAYMENTS_WRITE = frozenset({"payments:write"})
REFUNDS_WRITE = frozenset({"refunds:write"})
REPORTS_READ = frozenset({"reports:read"})
KEYS_WRITE = frozenset({"keys:write"})
DELIVERIES_READ = frozenset({"reports:read", "keys:write"})

# The dashboard's tabs: (path, label, the scopes that open it).
NAV: list[tuple[str, str, frozenset[str]]] = [
    ("/merchant/payments", N_("Payments"), PAYMENTS_READ),
    ("/merchant/settlements", N_("Settlements"), REPORTS_READ),
    ("/merchant/webhooks", N_("Webhooks"), DELIVERIES_READ),
    ("/merchant/keys", N_("API keys"), KEYS_WRITE),
    ("/merchant/disputes", N_("Disputes"), REPORTS_READ),
    ("/merchant/fees", N_("Fees"), REPORTS_READ),
]
ROLE_NAMES = {"owner": N_("Owner"), "viewer": N_("Viewer")}
INTENT_STATUS = {"requires_confirmation": N_("Waiting for the shopper"),
                 "requires_capture": N_("Authorised, to capture"),
                 "in_review": N_("Held for review"), "succeeded": N_("Captured"),
                 "canceled": N_("Cancelled"), "declined": N_("Declined"),
                 "expired": N_("Expired")}
EVENT_NAMES = {"created": N_("Created"), "confirmed": N_("Authorised by the shopper"),
               "captured": N_("Captured"), "refunded": N_("Refunded")}
FUNDING_NAMES = {"balance": N_("Wallet balance"), "card": N_("Card"),
                 "credit_line": N_("Credit line"), "installment_plan": N_("Installment plan")}
DELIVERY_STATUS = {"pending": N_("Pending"), "delivered": N_("Delivered"),
                   "failed": N_("Given up")}
SCOPE_NAMES = {"payments:write": N_("Create and capture payments"),
               "payments:read": N_("Read payments"),
               "refunds:write": N_("Refund payments"),
               "reports:read": N_("Read settlements and reports"),
               "keys:write": N_("Manage API keys and the webhook")}
CHECK_NAMES = {"captures_match_gross": N_("Capture lines add up to the gross"),
               "refunds_match": N_("Refund lines add up to the refunds"),
               "fee_matches_rate": N_("The fee is the discount rate on captures less refunds"),
               "net_adds_up": N_("Gross less refunds less fee is the net")}


# ----------------------------------------------------------------------- session and guard
def merchant_page(request: Request) -> Page:
    """The dashboard request's context: the merchant user of the merchant session (or
    none). ``page.principal`` is the merchant principal with the user's scopes."""
    rt = runtime(request)
    cookie_in = request.cookies.get(MERCHANT_COOKIE)
    session = decode_session(rt.parties.signer, cookie_in) or WebSession.anonymous()
    principal: Principal | None = None
    if session.access is not None:
        with rt.uow.connect() as conn:
            try:
                principal = MU.merchant_user_of_token(rt.parties, conn, session.access,
                                                      rt.clock.now())
            except AuthenticationError:
                principal = None
        if principal is None:  # ended, expired, or not a merchant user's token: log in
            session = WebSession.anonymous()
    language = choose_language(request.cookies.get(LANGUAGE_COOKIE), None,
                               request.headers.get("accept-language"))
    return Page(request, rt, session, principal, language, "", cookie_in, False,
                cookie_name=MERCHANT_COOKIE, cookie_max_age_s=MERCHANT_COOKIE_MAX_AGE_S)


def render(page: Page, template: str, status_code: int = 200, **values: Any) -> Response:
    who = page.principal
    tabs = [(path, label) for path, label, scopes in NAV
            if who is not None and scopes & who.scopes]
    user = merchant = None
    if who is not None:
        with page.rt.uow.connect() as conn:
            user = MU.merchant_user_view(conn, who.credential_id or "")
            merchant = page.rt.parties.merchant_view(page.rt.parties.get_merchant(conn, who.id))
    return page.render(template, status_code=status_code, user=user, merchant=merchant,
                       tabs=tabs, role_name=ROLE_NAMES.get(who.role or "", "") if who else "",
                       **values)


def forbidden(page: Page) -> Response:
    return render(page, "merchant/error.html", status_code=403,
                  title=page.gettext("Not for your role"),
                  message=page.gettext("Your role cannot open this page or do this. Ask "
                                       "your account's owner if you need it."))


def not_found(page: Page) -> Response:
    return render(page, "merchant/error.html", status_code=404,
                  title=page.gettext("Not found"),
                  message=page.gettext("There is nothing of yours with this id."))


def merchant_only(request: Request, scopes: frozenset[str]) -> tuple[Page, Response | None]:
    """The page of a dashboard request and, when it must not be shown, what to answer
    instead: the log-in page (coming back here after) for no merchant session, 403 for a
    user whose role has none of ``scopes``."""
    page = merchant_page(request)
    if page.principal is None:
        path = request.url.path
        query = f"?{request.url.query}" if request.url.query else ""
        return page, page.redirect("/merchant/login?next=" + quote(path + query, safe="/"))
    if not scopes & page.principal.scopes:
        return page, forbidden(page)
    return page, None


def _form_guard(page: Page, scopes: frozenset[str]) -> Response | None:
    """A form's own check (form_post has checked CSRF): logged in, with the scope."""
    if page.principal is None:
        return page.redirect("/merchant/login")
    if not scopes & page.principal.scopes:
        return forbidden(page)
    return None


def _refusal(page: Page, exc: DomainError) -> str:
    _ = page.gettext
    if isinstance(exc, NotFoundError):
        return _("There is nothing of yours with this id.")
    if exc.field == "amount_minor":
        return _("Enter an amount in yuan above zero, like 12.34, and no more than is left.")
    if exc.status == 409:
        return _("That cannot be done now: it has changed since the page was shown. "
                 "Reload the page and try again.")
    if exc.field == "scopes":
        return _("Choose at least one permission.")
    return _("It could not be done: {detail}").format(detail=str(exc))


def _once(page: Page, who: Principal, form: dict[str, str], api_path: str,
          body: dict[str, Any], use_case: Callable[[Any], Any], *, status_code: int = 200,
          secret_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Run a form's use case once for its one-time key, as the JSON route at ``api_path``
    runs it; a refusal (raised now or replayed from the key) as a DomainError."""
    key = form.get(KEY_FIELD) or None
    if key is None or not key.startswith("web-") or len(key) > 255:
        raise ValidationError("the form's one-time key is missing", field=KEY_FIELD)

    def acted(tx: Any) -> Any:
        # Who of the merchant's people did it, audited with the action (run once per key).
        outcome = use_case(tx)
        MU.record_user_action(tx, who, api_path)
        return outcome

    response = run_as_route(page, who, key=key, api_path=api_path, body=body,
                            use_case=acted, status_code=status_code,
                            secret_fields=secret_fields)
    out: dict[str, Any] = json.loads(bytes(response.body))
    if response.status_code >= 400:
        error = DomainError(str(out.get("detail", "")), field=out.get("field"))
        error.status = response.status_code
        raise error
    return out


def _amount_minor(text: str) -> int | None:
    """Yuan typed in a form ("12.34") as minor units; blank is None (the whole amount).
    More decimals than the currency has is a mistake, not something to round away."""
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        minor = Money.parse(text, CURRENCY).amount_minor
    except (ValidationError, ValueError, ArithmeticError):
        raise ValidationError("must be an amount in yuan like 12.34",
                              field="amount_minor") from None
    if minor <= 0:
        raise ValidationError("must be above zero", field="amount_minor")
    return minor


# ----------------------------------------------------------------------- log in and out
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    page = merchant_page(request)
    if page.principal is not None:
        return page.redirect("/merchant/")
    return render(page, "merchant/login.html", title=page.gettext("Merchant log-in"),
                  error=None, typed="", next=safe_next(request.query_params.get("next")))


@form_post(router, "/login", page_of=merchant_page)
def log_in(page: Page, form: dict[str, str]) -> Response:
    """User id, password and the authenticator app's code
    (:func:`creditpay.parties.merchant_users.authenticate_merchant_user`), then a merchant
    session holding the ``merchant_user`` token it issues."""
    rt = page.rt
    identifier = form.get("user", "").strip()[:32]
    try:
        who = MU.authenticate_merchant_user(
            rt.parties, rt.uow, user_id=identifier, password=form.get("password", "")[:256],
            totp_code=form.get("totp_code", "").strip()[:6])
        token = MU.issue_merchant_user_token(rt.parties, who, rt.clock.now())
    except (AuthenticationError, RateLimitedError) as exc:
        message = page.gettext("Too many attempts. Wait a few minutes and try again.") \
            if isinstance(exc, RateLimitedError) else \
            page.gettext("Wrong user ID, password or code.")
        return render(page, "merchant/login.html", status_code=http_status(exc),
                      title=page.gettext("Merchant log-in"), error=message, typed=identifier,
                      next=safe_next(page.request.query_params.get("next")))
    page.session = page.session.logged_in(token, "")
    return page.redirect(_merchant_next(page.request.query_params.get("next"))
                         or "/merchant/")


def _merchant_next(value: str | None) -> str | None:
    """Back to the dashboard page the log-in interrupted; never elsewhere."""
    found = safe_next(value)
    return found if found is not None and found.startswith("/merchant/") else None


@form_post(router, "/logout", page_of=merchant_page)
def log_out(page: Page, form: dict[str, str]) -> Response:
    page.session = WebSession.anonymous()
    return page.redirect("/merchant/login")


@form_post(router, "/lang", page_of=merchant_page)
def switch_language(page: Page, form: dict[str, str]) -> Response:
    return language_switch(page, form, "/merchant/")


# ----------------------------------------------------------------------- home
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    page, refused = merchant_only(request, frozenset(MERCHANT_SCOPES))
    if refused is not None:
        return refused
    return render(page, "merchant/home.html", title=page.gettext("Merchant dashboard"))


# ----------------------------------------------------------------------- payments
@router.get("/payments", response_class=HTMLResponse)
def payments_page(request: Request) -> Response:
    """The merchant's payments, newest first, filtered by state and order id (GET
    /v1/payment_intents, with the filters of the dashboard's own query)."""
    page, refused = merchant_only(request, PAYMENTS_READ)
    if refused is not None:
        return refused
    assert page.principal is not None
    query = request.query_params
    status = query.get("status") or None
    if status not in INTENT_STATUS:
        status = None
    order_id = (query.get("order") or "").strip()[:64] or None
    try:
        before = int(query.get("before", "")) if query.get("before") else None
    except ValueError:
        before = None
    with page.rt.uow.connect() as conn:
        rows, next_seq = merchant_desk.list_payments(
            conn, page.principal, status=status, order_id=order_id, before_seq=before,
            limit=50)
    payments = [page.rt.payments.intent_view(r) for r in rows]
    return render(page, "merchant/payments.html", title=page.gettext("Payments"),
                  payments=payments, status=status, order_id=order_id or "",
                  statuses=INTENT_STATUS, next_seq=next_seq)


def _payment_view(page: Page, intent_id: str, **values: Any) -> Response:
    who = page.principal
    assert who is not None
    with page.rt.uow.connect() as conn:
        try:
            intent = page.rt.payments.get_intent_view(conn, who, intent_id)
            events = merchant_desk.payment_events(conn, who, intent_id)
        except NotFoundError:
            return not_found(page)
    refundable = intent["captured_minor"] - intent["refunded_minor"]
    values.setdefault("status_code", 200)
    values.setdefault("error", None)
    values.setdefault("done", None)
    return render(page, "merchant/payment.html", title=page.gettext("Payment"),
                  intent=intent, events=events, statuses=INTENT_STATUS,
                  funding_names=FUNDING_NAMES,
                  event_names=EVENT_NAMES, refundable=refundable,
                  may_capture=bool(PAYMENTS_WRITE & who.scopes)
                  and intent["status"] == "requires_capture",
                  may_refund=bool(REFUNDS_WRITE & who.scopes) and refundable > 0,
                  key=new_form_key(), **values)


@router.get("/payments/{intent_id}", response_class=HTMLResponse)
def payment_page(request: Request, intent_id: str) -> Response:
    """One payment (GET /v1/payment_intents/{id}) with its events, and the capture and
    refund forms where the state and the user's role allow them."""
    page, refused = merchant_only(request, PAYMENTS_READ)
    if refused is not None:
        return refused
    return _payment_view(page, intent_id[:32])


def _payment_action(page: Page, form: dict[str, str], action: str) -> Response:
    scopes = REFUNDS_WRITE if action == "refunds" else PAYMENTS_WRITE
    refused = _form_guard(page, scopes)
    if refused is not None:
        return refused
    who = page.principal
    assert who is not None
    intent_id = str(page.request.path_params["intent_id"])[:32]
    rt = page.rt
    try:
        amount = _amount_minor(form.get("amount", ""))
        if action == "refunds":
            reason = form.get("reason", "").strip()[:64] or None
            body: dict[str, Any] = {"amount_minor": amount, "reason": reason}
            out = _once(page, who, form, f"/v1/payment_intents/{intent_id}/refunds", body,
                        lambda tx: rt.payments.refund(tx, who, intent_id, amount_minor=amount,
                                                      reason=reason), status_code=201)
            done = {"kind": "refunded", "amount_minor": out["amount_minor"], "id": out["id"]}
        else:
            out = _once(page, who, form, f"/v1/payment_intents/{intent_id}/capture",
                        {"amount_minor": amount},
                        lambda tx: rt.payments.capture(tx, who, intent_id,
                                                       amount_minor=amount))
            done = {"kind": "captured", "amount_minor": out["captured_minor"],
                    "id": out["id"]}
    except DomainError as exc:
        if isinstance(exc, NotFoundError) and exc.field == "intent_id":
            return not_found(page)
        return _payment_view(page, intent_id, status_code=http_status(exc),
                             error=_refusal(page, exc), typed=form.get("amount", "")[:32])
    return _payment_view(page, intent_id, done=done)


@form_post(router, "/payments/{intent_id}/capture", page_of=merchant_page)
def capture(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/payment_intents/{id}/capture from the payment's page (blank: in full)."""
    return _payment_action(page, form, "capture")


@form_post(router, "/payments/{intent_id}/refund", page_of=merchant_page)
def refund(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/payment_intents/{id}/refunds from the payment's page (blank: what is
    left)."""
    return _payment_action(page, form, "refunds")


# ----------------------------------------------------------------------- settlements
@router.get("/settlements", response_class=HTMLResponse)
def settlements_page(request: Request) -> Response:
    """The merchant's settlements and payouts (GET /v1/settlements)."""
    page, refused = merchant_only(request, REPORTS_READ)
    if refused is not None:
        return refused
    assert page.principal is not None
    with page.rt.uow.connect() as conn:
        found, _next = page.rt.payments.list_settlements(conn, page.principal.id,
                                                         before_seq=None, limit=100)
    return render(page, "merchant/settlements.html", title=page.gettext("Settlements"),
                  settlements=found)


@router.get("/settlements/{settlement_id}", response_class=HTMLResponse)
def settlement_page(request: Request, settlement_id: str) -> Response:
    """One settlement reconciled (GET /v1/settlements/{id} and its lines): each payment's
    captures and refunds, the fee on their total, the payout, and each sum checked."""
    page, refused = merchant_only(request, REPORTS_READ)
    if refused is not None:
        return refused
    assert page.principal is not None
    with page.rt.uow.connect() as conn:
        try:
            report = page.rt.payments.settlement_report(conn, page.principal,
                                                        settlement_id[:32])
        except NotFoundError:
            return not_found(page)
    return render(page, "merchant/settlement.html", title=page.gettext("Settlement"),
                  report=report, rec=merchant_desk.reconcile(report), checks=CHECK_NAMES)


# ----------------------------------------------------------------------- webhooks
def _webhooks_view(page: Page, status: str | None, **values: Any) -> Response:
    who = page.principal
    assert who is not None
    with page.rt.uow.connect() as conn:
        deliveries = merchant_desk.list_deliveries(conn, who, status=status, limit=100)
        merchant = page.rt.parties.get_merchant(conn, who.id)
    values.setdefault("error", None)
    values.setdefault("done", None)
    status_code = values.pop("status_code", 200)
    return render(page, "merchant/webhooks.html", status_code=status_code,
                  title=page.gettext("Webhooks"), deliveries=deliveries, status=status,
                  statuses=DELIVERY_STATUS, webhook_url=merchant.webhook_url,
                  may_resend=bool(KEYS_WRITE & who.scopes), key=new_form_key(), **values)


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request) -> Response:
    """Webhook deliveries with their attempts (GET /v1/merchant/webhook_deliveries)."""
    page, refused = merchant_only(request, DELIVERIES_READ)
    if refused is not None:
        return refused
    status = request.query_params.get("status") or None
    return _webhooks_view(page, status if status in DELIVERY_STATUS else None)


@form_post(router, "/webhooks/{delivery_id}/resend", page_of=merchant_page)
def resend(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/merchant/webhook_deliveries/{id}/resend from the deliveries page."""
    refused = _form_guard(page, KEYS_WRITE)
    if refused is not None:
        return refused
    who = page.principal
    assert who is not None
    delivery_id = str(page.request.path_params["delivery_id"])[:32]
    try:
        out = _once(page, who, form,
                    f"/v1/merchant/webhook_deliveries/{delivery_id}/resend", {},
                    lambda tx: merchant_desk.resend_delivery(tx, who, delivery_id))
    except DomainError as exc:
        if isinstance(exc, NotFoundError):
            return not_found(page)
        return _webhooks_view(page, None, status_code=http_status(exc),
                              error=_refusal(page, exc))
    return _webhooks_view(page, None, done=out)


# ----------------------------------------------------------------------- API keys
def _keys_view(page: Page, **values: Any) -> Response:
    who = page.principal
    assert who is not None
    with page.rt.uow.connect() as conn:
        keys = page.rt.parties.list_api_keys(conn, who.id)
    values.setdefault("error", None)
    values.setdefault("created", None)
    values.setdefault("revoked", None)
    status_code = values.pop("status_code", 200)
    return render(page, "merchant/keys.html", status_code=status_code,
                  title=page.gettext("API keys"), keys=keys, scope_names=SCOPE_NAMES,
                  key=new_form_key(), **values)


@router.get("/keys", response_class=HTMLResponse)
def keys_page(request: Request) -> Response:
    """The merchant's API keys (GET /v1/merchant/api_keys), a form to create one and a
    revoke button on each live one."""
    page, refused = merchant_only(request, KEYS_WRITE)
    if refused is not None:
        return refused
    return _keys_view(page)


@form_post(router, "/keys", page_of=merchant_page)
def create_key(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/merchant/api_keys: the new key is shown once, on the page this answers
    with (never stored: a replay of the form shows a placeholder, as the API's does)."""
    refused = _form_guard(page, KEYS_WRITE)
    if refused is not None:
        return refused
    who = page.principal
    assert who is not None
    scopes = sorted(s for s in MERCHANT_SCOPES if form.get(f"scope.{s}") == "on")
    try:
        out = _once(page, who, form, "/v1/merchant/api_keys", {"scopes": scopes},
                    lambda tx: page.rt.parties.create_api_key(tx, who, scopes),
                    status_code=201, secret_fields=frozenset({"key"}))
    except DomainError as exc:
        return _keys_view(page, status_code=http_status(exc), error=_refusal(page, exc))
    return _keys_view(page, created=out)


@form_post(router, "/keys/{key_id}/revoke", page_of=merchant_page)
def revoke_key(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/merchant/api_keys/{id}/revoke from the keys page."""
    refused = _form_guard(page, KEYS_WRITE)
    if refused is not None:
        return refused
    who = page.principal
    assert who is not None
    key_id = str(page.request.path_params["key_id"])[:32]
    try:
        _once(page, who, form, f"/v1/merchant/api_keys/{key_id}/revoke", {},
              lambda tx: page.rt.parties.revoke_api_key(tx, who, key_id))
    except DomainError as exc:
        if isinstance(exc, NotFoundError):
            return not_found(page)
        return _keys_view(page, status_code=http_status(exc), error=_refusal(page, exc))
    return _keys_view(page, revoked=key_id)


# ----------------------------------------------------------------------- disputes, fees
DISPUTE_STATUS = {"open": N_("Open: awaiting your answer"), "under_review": N_("Under review"),
                  "resolved_consumer": N_("Decided for the shopper (refunded)"),
                  "resolved_merchant": N_("Decided for you"),
                  "withdrawn": N_("Withdrawn by the shopper"),
                  "accepted": N_("Accepted by you (refunded)")}
DISPUTE_REASONS = {"not_received": N_("Not received"),
                   "not_as_described": N_("Not as described"),
                   "unauthorised": N_("Not authorised by the shopper"),
                   "duplicate": N_("Charged twice")}


def _disputes_view(page: Page, **values: Any) -> Response:
    """Chargebacks and consumer disputes against the merchant's payments (GET
    /v1/merchant/disputes), each open dispute with its answer form."""
    from creditpay.risk.fraud.cases import merchant_chargebacks

    who = page.principal
    assert who is not None
    disputes = page.rt.payments.disputes
    with page.rt.uow.connect() as conn:
        found = merchant_chargebacks(conn, who.id)
        joined = disputes.by_chargeback(conn, [c["reference"] for c in found])
        mine = disputes.list_for(conn, who)
    values.setdefault("error", None)
    values.setdefault("answered", None)
    status_code = values.pop("status_code", 200)
    return render(page, "merchant/disputes.html", status_code=status_code,
                  title=page.gettext("Disputes"), chargebacks=found, joined=joined,
                  disputes=mine, status_names=DISPUTE_STATUS, reason_names=DISPUTE_REASONS,
                  can_answer=bool(REFUNDS_WRITE & who.scopes), key=new_form_key(), **values)


@router.get("/disputes", response_class=HTMLResponse)
def disputes_page(request: Request) -> Response:
    """Chargebacks and consumer disputes against the merchant's payments, with a form to
    answer each open one (POST /v1/merchant/disputes/{id}/response)."""
    page, refused = merchant_only(request, REPORTS_READ)
    if refused is not None:
        return refused
    return _disputes_view(page)


@form_post(router, "/disputes/{dispute_id}/response", page_of=merchant_page)
def answer_dispute(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/merchant/disputes/{id}/response from the disputes page: accept (refund at
    once) or contest with evidence."""
    refused = _form_guard(page, REFUNDS_WRITE)
    if refused is not None:
        return refused
    who = page.principal
    assert who is not None
    dispute_id = str(page.request.path_params["dispute_id"])[:32]
    action = form.get("action", "")
    evidence = form.get("evidence", "").strip() or None
    documents = [line.strip() for line in form.get("evidence_documents", "").splitlines()
                 if line.strip()] or None
    body = {"action": action, "evidence": evidence, "evidence_documents": documents}
    try:
        out = _once(page, who, form, f"/v1/merchant/disputes/{dispute_id}/response", body,
                    lambda tx: page.rt.payments.disputes.respond(
                        tx, who, dispute_id, action=action, evidence=evidence,
                        evidence_documents=documents))
    except DomainError as exc:
        if isinstance(exc, NotFoundError):
            return not_found(page)
        message = page.gettext("Describe your evidence to contest the dispute.") \
            if exc.field == "evidence" else _refusal(page, exc)
        return _disputes_view(page, status_code=http_status(exc), error=message)
    return _disputes_view(page, answered=out)


@router.get("/fees", response_class=HTMLResponse)
def fees_page(request: Request) -> Response:
    """The merchant's pricing and its totals so far (GET /v1/merchant/fees)."""
    page, refused = merchant_only(request, REPORTS_READ)
    if refused is not None:
        return refused
    who = page.principal
    assert who is not None
    with page.rt.uow.connect() as conn:
        fees = merchant_desk.fees(conn, who, page.rt.parties.get_merchant(conn, who.id))
    return render(page, "merchant/fees.html", title=page.gettext("Fees"), fees=fees)
