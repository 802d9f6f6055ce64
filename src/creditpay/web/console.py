"""The operator console at ``/console/`` (issue #16): staff log in (password and a TOTP code),
see what their role may see, and decide four-eyes proposals.

An adapter like the consumer pages (:mod:`creditpay.web.framework`): each page calls the
functions its JSON route calls and holds no rule of its own. The staff session is a cookie
of its own (``__Host-cp_staff``: HttpOnly, Secure, SameSite=Lax, signed like the customer's,
a shorter life), so a customer's session never opens a console page and a staff member's
never acts in the consumer app. Every page checks the role the matching JSON route
requires; a role that may not see a page gets 403 and the page says why.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api.common import runtime
from creditpay.api.routes_approvals import approval_out
from creditpay.errors import (
    AuthenticationError,
    DomainError,
    PermissionDeniedError,
    RateLimitedError,
)
from creditpay.parties.service import Principal
from creditpay.platform import approvals as A
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

__all__ = ["router", "STAFF_COOKIE", "staff_page", "render", "forbidden", "staff_only", "NAV",
           "ROLE_NAMES", "KIND_NAMES", "PAYLOAD_LABELS"]

router = APIRouter(prefix="/console", include_in_schema=False)
STAFF_COOKIE = "__Host-cp_staff"
STAFF_COOKIE_MAX_AGE_S = 12 * 3600  # a working day; the access token inside expires sooner
# The roles of the JSON routes each page stands for (api/routes_approvals.py).
APPROVALS_READ = frozenset({"admin", "risk_analyst", "compliance_officer"})
APPROVALS_DECIDE = frozenset({"admin", "risk_analyst"})
ROLE_NAMES = {"admin": N_("Administrator"), "risk_analyst": N_("Risk analyst"),
              "collections_agent": N_("Collections agent"),
              "compliance_officer": N_("Compliance officer"), "support": N_("Support")}
KIND_NAMES = {"credit_line.grant": N_("Grant a credit line"),
              "playbook.run": N_("Run an early-warning playbook"),
              "fraud_rules.activate": N_("Make a fraud rule set live"),
              "credit_policy.activate": N_("Put a credit policy in force"),
              "credit_line.limit": N_("Change a credit limit"),
              "write_off.reverse": N_("Reverse a write-off"),
              "model.promote": N_("Promote a risk model"),
              "credit_referral.approve": N_("Approve a referred application"),
              "product.change": N_("Activate a product version"),
              "caps.change": N_("Activate regulatory caps"),
              "funding.arrange": N_("Set how partner lenders fund a product"),
              "partner.terms": N_("Change a partner lender's terms"),
              "dispute.decide": N_("Decide a payment dispute")}
# How a proposal's arguments are shown (the raw value stays in data-value / data-minor).
PAYLOAD_LABELS = {"customer_id": N_("Customer"), "limit_minor": N_("Credit limit"),
                  "product_code": N_("Product"), "currency": N_("Currency"),
                  "alert_id": N_("Alert"), "parameters": N_("Parameters"),
                  "version": N_("Version"), "policy_id": N_("Policy"),
                  "content_hash": N_("Content hash (SHA-256)"),
                  "line_id": N_("Credit line"), "from_limit_minor": N_("Current limit"),
                  "limit_version": N_("Limit version"), "reason": N_("Reason"),
                  "account_id": N_("Credit account"), "kind": N_("Account type"),
                  "written_off_on": N_("Written off on"),
                  "written_off_minor": N_("Amount written off"), "name": N_("Model"),
                  "challenger_share_bps": N_("Challenger share (basis points)"),
                  "in_force": N_("Assignment in force"),
                  "assignments_seen": N_("Assignments so far"),
                  "decision_id": N_("Decision"), "code": N_("Product code"),
                  "jurisdiction": N_("Jurisdiction"),
                  "product_version": N_("Product version"),
                  "arrangement_type": N_("Funding arrangement"),
                  "partners": N_("Partner lenders"),
                  "platform_share_bps": N_("Platform's share (basis points)"),
                  "guarantee_bps": N_("First-loss guarantee (basis points)"),
                  "fallback": N_("When no partner funds"),
                  "partner_id": N_("Partner lender"), "from_version": N_("Current terms version"),
                  "terms": N_("Terms")}
STATUS_NAMES = {"pending": N_("Waiting for a second operator"), "approved": N_("Approved"),
                "rejected": N_("Rejected"), "expired": N_("Expired")}


# The console's tabs: (path, label, the roles that may open it). A page module adds its own
# entry here; base.html shows a staff member only the tabs their role opens.
NAV: list[tuple[str, str, frozenset[str]]] = []


def staff_page(request: Request) -> Page:
    """The console request's context: the staff member of the staff session (or none)."""
    rt = runtime(request)
    cookie_in = request.cookies.get(STAFF_COOKIE)
    session = decode_session(rt.parties.signer, cookie_in) or WebSession.anonymous()
    operator: Principal | None = None
    if session.access is not None:
        with rt.uow.connect() as conn:
            try:
                found = rt.parties.authenticate_operator_token(conn, session.access,
                                                               rt.clock.now())
            except (AuthenticationError, PermissionDeniedError):
                found = None
        if found is not None and found.kind == "operator":
            operator = found
        else:  # ended, expired or not a staff token: log in again
            session = WebSession.anonymous()
    language = choose_language(request.cookies.get(LANGUAGE_COOKIE), None,
                               request.headers.get("accept-language"))
    return Page(request, rt, session, operator, language, "", cookie_in, False,
                cookie_name=STAFF_COOKIE, cookie_max_age_s=STAFF_COOKIE_MAX_AGE_S)


def render(page: Page, template: str, status_code: int = 200, **values: Any) -> Response:
    who = page.principal
    tabs = [(path, label) for path, label, roles in NAV if who is not None and who.role in roles]
    return page.render(template, status_code=status_code, operator=who, tabs=tabs,
                       role_name=ROLE_NAMES.get(who.role or "", "") if who else "",
                       **values)


def forbidden(page: Page) -> Response:
    return render(page, "console/error.html", status_code=403,
                   title=page.gettext("Not for your role"),
                   message=page.gettext("Your role cannot open this page. Ask an "
                                        "administrator if you need it."))


def staff_only(request: Request, roles: frozenset[str]) -> tuple[Page, Response | None]:
    """The page of a console request and, when it must not be shown, what to answer
    instead: the log-in page (coming back here after) for no staff session, 403 for a role
    not in ``roles``. Every console page starts with it."""
    page = staff_page(request)
    if page.principal is None:
        path = request.url.path
        query = f"?{request.url.query}" if request.url.query else ""
        return page, page.redirect("/console/login?next=" + quote(path + query, safe="/"))
    if page.principal.role not in roles:
        return page, forbidden(page)
    return page, None


# ----------------------------------------------------------------------- log in and out
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    page = staff_page(request)
    if page.principal is not None:
        return page.redirect("/console/")
    return render(page, "console/login.html", title=page.gettext("Staff log-in"),
                   error=None, typed="", next=safe_next(request.query_params.get("next")))


@form_post(router, "/login", page_of=staff_page)
def log_in(page: Page, form: dict[str, str]) -> Response:
    """Operator id, password and the authenticator app's code: the checks of POST
    /v1/operator/auth/login (Parties.authenticate_operator), then a staff session holding
    the operator token it issues."""
    rt = page.rt
    identifier = form.get("operator", "").strip()[:32]
    try:
        operator = rt.parties.authenticate_operator(
            rt.uow, operator_id=identifier, password=form.get("password", "")[:256],
            totp_code=form.get("totp_code", "").strip()[:6])
        issued = rt.parties.issue_operator_token(operator, rt.clock.now())
    except (AuthenticationError, RateLimitedError) as exc:
        message = page.gettext("Too many attempts. Wait a few minutes and try again.") \
            if isinstance(exc, RateLimitedError) else \
            page.gettext("Wrong name, password or code.")
        return render(page, "console/login.html", status_code=http_status(exc),
                       title=page.gettext("Staff log-in"), error=message, typed=identifier,
                       next=safe_next(page.request.query_params.get("next")))
    page.session = page.session.logged_in(issued["access_token"], "")
    return page.redirect(safe_next(page.request.query_params.get("next"))
                         or "/console/")


@form_post(router, "/logout", page_of=staff_page)
def log_out(page: Page, form: dict[str, str]) -> Response:
    page.session = WebSession.anonymous()
    return page.redirect("/console/login")


# ----------------------------------------------------------------------- home
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    page = staff_page(request)
    if page.principal is None:
        return page.redirect("/console/login")
    pending = None
    if page.principal.role in APPROVALS_READ:
        rt = page.rt
        with rt.uow.connect() as conn:
            pending = len(A.list_approvals(conn, rt.clock.now(), status="pending"))
    return render(page, "console/home.html", title=page.gettext("Console"),
                   pending=pending)


# ----------------------------------------------------------------------- dashboard
DASHBOARD_READ = frozenset({"admin", "risk_analyst", "compliance_officer"})
VIEW_TITLES = {"receivables": N_("Receivables by product"),
               "dpd30": N_("30+ days past due"),
               "buckets": N_("Delinquency buckets"),
               "roll_rates": N_("Monthly roll rates"),
               "vintages": N_("Vintage curves"),
               "grades": N_("Approval and bad rate by grade"),
               "fraud": N_("Fraud attempted, caught and lost"),
               "revenue_losses": N_("Revenue and losses by month"),
               "pnl": N_("Platform P&L by month")}
NAV.append(("/console/dashboard", N_("Portfolio"), DASHBOARD_READ))
# The table's column headings (the row fields of reporting/dashboard.py VIEWS; the field
# name itself stays in data-column and is the CSV's header).
COLUMN_NAMES = {
    "product_code": N_("Product"), "accounts": N_("Accounts"),
    "receivable_minor": N_("Receivable"), "principal_minor": N_("Principal"),
    "receivable_share": N_("Share of receivable"),
    "dpd30_receivable_minor": N_("Receivable 30+ dpd"), "dpd30_share": N_("30+ dpd share"),
    "bucket": N_("Bucket"), "accounts_share": N_("Share of accounts"),
    "from_state": N_("From state"), "to_state": N_("To state"),
    "from_balance_minor": N_("Receivable moved"), "roll_share": N_("Roll rate"),
    "vintage": N_("Vintage"), "month_end": N_("Month end"),
    "months_on_book": N_("Months on book"), "original_minor": N_("Amount lent"),
    "written_off_minor": N_("Written off"), "written_off_share": N_("Written-off share"),
    "bad_share": N_("Bad share"), "grade": N_("Grade"), "decisions": N_("Decisions"),
    "approved": N_("Approved"), "declined": N_("Declined"), "referred": N_("Referred"),
    "approval_rate": N_("Approval rate"), "approved_customers": N_("Approved customers"),
    "bad_customers": N_("Bad customers"), "bad_rate": N_("Bad rate"), "month": N_("Month"),
    "screened": N_("Screened"), "screened_minor": N_("Amount screened"),
    "attempted": N_("Attempted"), "attempted_minor": N_("Amount attempted"),
    "caught": N_("Caught"), "caught_minor": N_("Amount caught"), "lost": N_("Lost"),
    "lost_minor": N_("Amount lost"), "held": N_("Held"), "caught_share": N_("Share caught"),
    "interest_minor": N_("Interest"), "fee_minor": N_("Fees"), "penalty_minor": N_("Penalty"),
    "revenue_minor": N_("Revenue"), "write_off_minor": N_("Write-offs"),
    "fraud_loss_minor": N_("Fraud losses"), "losses_minor": N_("Losses"),
    "lent_accounts": N_("Accounts lent"), "bad_accounts": N_("Bad accounts"),
    "bad_accounts_share": N_("Bad accounts share"),
    "bad_accounts_low": N_("Bad accounts, lower 95% bound"),
    "bad_accounts_high": N_("Bad accounts, upper 95% bound"),
    "partner_share_minor": N_("Partners' share"), "days": N_("Closed days"),
    "revenue_gross_minor": N_("Gross revenue"), "funding_cost_minor": N_("Funding cost"),
    "write_offs_minor": N_("Write-offs"), "partner_loss_share_minor": N_("Partners' losses"),
    "recoveries_minor": N_("Recoveries"), "credit_losses_minor": N_("Credit losses"),
    "fraud_losses_minor": N_("Fraud losses"), "net_minor": N_("Net"),
    "average_outstanding_minor": N_("Average principal"),
    "net_charge_off_rate": N_("Net charge-off rate (annualised)"),
    "funding_rate_bps": N_("Funding rate (bps)")}


def _dashboard_query(request: Request) -> dict[str, Any]:
    """The view and filters of a dashboard request (bad dates or an unknown view: the
    defaults, said on the page by the API's own validation of the rest)."""
    import datetime as dt

    query = request.query_params
    view = query.get("view", "receivables")
    if view not in VIEW_TITLES:
        view = "receivables"

    def day(name: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(query.get(name, "")) if query.get(name) else None
        except ValueError:
            return None

    product = (query.get("product") or "").strip()[:48] or None
    return {"view": view, "date_from": day("from"), "date_to": day("to"), "product": product}


def _cell(page: Page, name: str, value: Any) -> str:
    """A dashboard cell as a person reads it: money for ``*_minor``, a percentage for
    shares and rates, a product by its name, a state other than a bucket in words, "—"
    for none (the raw value stays in the cell's data-value)."""
    from decimal import Decimal

    from creditpay.reporting.dashboard import ALL
    from creditpay.web.charts import STATE_NAMES

    if value is None:
        return "—"
    if name == "product_code" and isinstance(value, str):
        return page.gettext("All products") if value == ALL else page.product_name(value)
    if name in ("from_state", "to_state") and value in STATE_NAMES:
        return page.gettext(STATE_NAMES[value])
    if name.endswith("_minor") and isinstance(value, int):
        return page.money(value)
    if (name.endswith("_share") or name.endswith("_rate")) and isinstance(value, Decimal):
        return f"{value * 100:.2f}%"
    return str(value)


# Each horizon rule of reporting/horizons.py in the page's language: a title and the rule
# with its figures. The warning's own message (what the recorded history lacks, with its
# numbers) is the shared English text of the API, the CLI and the simulator's report: the
# page shows it marked as English under the translated rule.
HORIZON_TEXTS = {
    "roll_rate_matrix": (
        N_("Too few month ends for a roll-rate matrix"),
        N_("A roll-rate matrix compares one month end with the previous one: it needs at "
           "least {month_ends} recorded month ends.")),
    "vintages": (
        N_("The vintages are too young to show losses"),
        N_("30+ days past due can first show about {months} months on book: a younger "
           "vintage is flat whatever its quality, and the chart needs at least one vintage "
           "that old.")),
    "delinquency": (
        N_("Too little time since the first past-due day for later buckets"),
        N_("An account reaches write-off {days} days past due: buckets past M3 and "
           "write-offs need {days} days after the first past-due day.")),
    "grade_outcomes": (
        N_("Many approvals are too recent for their bad rate"),
        N_("An approval can go 30+ days past due only {days} days after it: when more than "
           "{share} of the approvals are younger, the bad rate is understated."))}


def _horizon_warning(page: Page, warning: dict[str, str]) -> dict[str, str]:
    from creditpay.reporting import horizons as H

    texts = HORIZON_TEXTS.get(warning["chart"])
    if texts is None:
        return {"title": warning["chart"], "rule": warning["rule"],
                "message": warning["message"]}
    title, rule = (page.gettext(t) for t in texts)
    return {"title": title, "message": warning["message"], "rule": rule.format(
        month_ends=H.ROLL_MONTH_ENDS_MIN, months=H.VINTAGE_MONTHS_ON_BOOK_MIN,
        days=H.BAD_OUTCOME_DAYS if warning["chart"] == "grade_outcomes"
        else H.WRITE_OFF_DPD, share=f"{H.UNMATURED_APPROVALS_SHARE_MAX:.0%}")}


def _dashboard_products(page: Page, chosen: str | None) -> list[tuple[str, str]]:
    """The product filter's choices: (code, name in the page's language) of every product
    in the catalogue, and the chosen code even when the catalogue does not know it (the
    view then says what it found for it)."""
    codes = sorted({product.code for product in page.rt.catalogue.all()})
    if chosen and chosen not in codes:
        codes.append(chosen)
    return [(code, page.product_name(code)) for code in codes]


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request) -> Response:
    """One portfolio view from the live database (GET /v1/operator/dashboard/{view}): its
    chart (web/charts.py, drawn by static/console-charts.js), the same figures as a table
    (the chart's text alternative, and what a page without script shows), its filters as
    a plain GET form and a CSV export."""
    import dataclasses
    from urllib.parse import urlencode

    from creditpay.reporting import dashboard
    from creditpay.web import charts

    page, refused = staff_only(request, DASHBOARD_READ)
    if refused is not None:
        return refused
    chosen = _dashboard_query(request)
    error = None
    rows: list[Any] = []
    warnings: list[dict[str, str]] = []
    try:
        with page.rt.uow.connect() as conn:
            rows = list(dashboard.run_view(conn, chosen["view"], date_from=chosen["date_from"],
                                           date_to=chosen["date_to"],
                                           product=chosen["product"],
                                           funding_rate_bps=page.rt.funding_rate_bps))
            warnings = dashboard.view_warnings(conn, chosen["view"], rows,
                                               date_from=chosen["date_from"],
                                               date_to=chosen["date_to"])
    except DomainError as exc:
        error = str(exc)
    columns = [f.name for f in dataclasses.fields(dashboard.VIEWS[chosen["view"]].row)]
    # Each cell: (column, text, raw value as the CSV writes it) - tests compare the two.
    table = []
    for row in rows:
        raw = dashboard.row_dict(row)
        table.append([(name, _cell(page, name, getattr(row, name)),
                       "" if raw[name] is None else str(raw[name])) for name in columns])
    figure = charts.figure(chosen["view"], rows, page)
    filters = {k: v for k, v in (("from", chosen["date_from"]), ("to", chosen["date_to"]),
                                 ("product", chosen["product"])) if v}
    csv_url = f"/console/dashboard/{chosen['view']}.csv"
    if filters:
        csv_url += "?" + urlencode({k: str(v) for k, v in filters.items()})
    return render(page, "console/dashboard.html", title=page.gettext("Portfolio"),
                   views=VIEW_TITLES, chosen=chosen, columns=columns, table=table,
                   column_names=COLUMN_NAMES, error=error, csv_url=csv_url,
                   warnings=[_horizon_warning(page, w) for w in warnings],
                   figure=json.dumps(figure, ensure_ascii=False) if figure else None,
                   products=_dashboard_products(page, chosen["product"]))


@router.get("/dashboard/{view}.csv")
def dashboard_csv(request: Request, view: str) -> Response:
    """The view as CSV (the JSON route's ``format=csv``), for the page's export link."""
    from creditpay.reporting import dashboard

    page, refused = staff_only(request, DASHBOARD_READ)
    if refused is not None:
        return refused
    if view not in VIEW_TITLES:
        return render(page, "console/error.html", status_code=404,
                       title=page.gettext("Not found"), message=view)
    chosen = _dashboard_query(request)
    try:
        with page.rt.uow.connect() as conn:
            rows = dashboard.run_view(conn, view, date_from=chosen["date_from"],
                                      date_to=chosen["date_to"], product=chosen["product"],
                                      funding_rate_bps=page.rt.funding_rate_bps)
    except DomainError as exc:
        return render(page, "console/error.html", status_code=http_status(exc),
                       title=page.gettext("Not available"), message=str(exc))
    return page.respond(Response(dashboard.to_csv(view, rows), media_type="text/csv",
                                 headers={"Content-Disposition":
                                          f'attachment; filename="{view}.csv"'}))


# ----------------------------------------------------------------------- approvals
NAV.append(("/console/approvals", N_("Approvals"), APPROVALS_READ))


def _approvals_view(page: Page, status: str) -> dict[str, Any]:
    rt = page.rt
    with rt.uow.connect() as conn:
        found = [approval_out(a) for a in A.list_approvals(conn, rt.clock.now(),
                                                           status=status, limit=200)]
    who = page.principal
    assert who is not None
    for approval in found:
        # A whole document (a credit policy, a product or caps version) is not shown: its
        # id or code, version and content hash name it.
        approval["shown"] = [_shown(page, name, value)
                             for name, value in approval["payload"].items()
                             if name != "document"]
    return {"approvals": found, "status": status, "statuses": STATUS_NAMES,
            "kinds": KIND_NAMES, "may_decide": who.role in APPROVALS_DECIDE,
            "me": who.id, "key": new_form_key()}


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, status: str = "pending") -> Response:
    """The four-eyes queue (GET /v1/operator/approvals?status=...)."""
    page, refused = staff_only(request, APPROVALS_READ)
    if refused is not None:
        return refused
    if status not in STATUS_NAMES:
        status = "pending"
    return render(page, "console/approvals.html", title=page.gettext("Approvals"),
                   error=None, done=None, **_approvals_view(page, status))


def _decide(page: Page, form: dict[str, str], approval_id: str, verb: str) -> Response:
    who = page.principal
    if who is None:
        return page.redirect("/console/login")
    if who.role not in APPROVALS_DECIDE:
        return forbidden(page)
    rt = page.rt
    actor = A.Actor(who.id, who.role)
    reason = form.get("reason", "")
    body: dict[str, Any] = {"reason": reason} if verb == "reject" else {}

    def use_case(tx: Any) -> dict[str, Any]:
        if verb == "approve":
            return approval_out(A.approve(tx, approval_id, actor, rt.controlled_actions))
        return approval_out(A.reject(tx, approval_id, actor, reason, rt.controlled_actions))

    try:
        response = run_as_route(page, who, key=form.get(KEY_FIELD) or None,
                                api_path=f"/v1/operator/approvals/{approval_id}/{verb}",
                                body=body, use_case=use_case)
    except DomainError as exc:
        return render(page, "console/approvals.html", status_code=http_status(exc),
                       title=page.gettext("Approvals"), error=_refusal(page, exc),
                       done=None, **_approvals_view(page, "pending"))
    done = json.loads(bytes(response.body))
    return render(page, "console/approvals.html", title=page.gettext("Approvals"),
                   error=None, done=done, **_approvals_view(page, "pending"))


def _shown(page: Page, name: str, value: Any) -> dict[str, Any]:
    """One argument of a proposal as a person reads it: a label in the page's language,
    money formatted (``*_minor``), a product by its name; the raw value kept alongside."""
    label = page.gettext(PAYLOAD_LABELS[name]) if name in PAYLOAD_LABELS else name
    text = str(value)
    if name.endswith("_minor") and isinstance(value, int):
        text = page.money(value)
    elif name == "product_code" and isinstance(value, str):
        text = page.product_name(value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in value.items()) or "—"
    return {"name": name, "label": label, "text": text, "raw": value,
            "minor": value if name.endswith("_minor") else None}


def _refusal(page: Page, exc: DomainError) -> str:
    _ = page.gettext
    if exc.status == 403:
        return _("A proposal is decided by another operator than the one who made it, "
                 "with a role that may decide it.")
    if exc.status == 409:
        return _("This proposal can no longer be decided: it was decided meanwhile or has "
                 "expired. The list below is up to date.")
    if exc.field == "reason":
        return _("Give the reason for rejecting it (up to 500 characters).")
    return _("It could not be done: {detail}").format(detail=str(exc))


@form_post(router, "/approvals/{approval_id}/approve", page_of=staff_page)
def approve(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/operator/approvals/{id}/approve from the queue: the action runs now."""
    return _decide(page, form, str(page.request.path_params["approval_id"])[:32], "approve")


@form_post(router, "/approvals/{approval_id}/reject", page_of=staff_page)
def reject(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/operator/approvals/{id}/reject from the queue, with the reason typed."""
    return _decide(page, form, str(page.request.path_params["approval_id"])[:32], "reject")


@form_post(router, "/lang", page_of=staff_page)
def switch_language(page: Page, form: dict[str, str]) -> Response:
    return language_switch(page, form, "/console/")
