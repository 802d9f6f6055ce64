"""Console pages of records (issue #16): the customer view (masked, reveals with a purpose
code, audited), the versions of products, caps, credit policies, models and fraud rules with
"what decided what", and the reports (daily and monthly regulatory reports for any closed
date or month, provisions, the audit chain's status).

Adapters like the rest of the console (:mod:`creditpay.web.console`): each page calls the
read functions and use cases its JSON route or CLI command calls and holds no rule of its
own. Roles: the customer view as ``GET /v1/operator/customers/{id}`` (a reveal as ``POST
.../personal_data``: compliance officer only); versions as ``GET /v1/operator/fraud_rules``
(risk analyst, compliance officer, admin); reports: compliance officer and admin.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.errors import DomainError, NotFoundError, ValidationError
from creditpay.platform.purposes import PURPOSE_NAMES, AccessPurpose
from creditpay.web.console import NAV, forbidden, render, staff_only, staff_page
from creditpay.web.framework import (
    KEY_FIELD,
    N_,
    Page,
    error_text,
    form_post,
    http_status,
    new_form_key,
    run_as_route,
)

__all__ = ["router", "CUSTOMER_READ", "REVEAL", "VERSIONS_READ", "REPORTS_READ"]

router = APIRouter(prefix="/console", include_in_schema=False)

# The roles of the JSON routes (api/routes_operators.py, api/routes_fraud_cases.py) and of
# the compliance reports (the CLI's reports are a compliance officer's; admin runs them too).
CUSTOMER_READ = frozenset({"admin", "support", "compliance_officer", "collections_agent",
                           "risk_analyst"})
REVEAL = frozenset({"compliance_officer"})
VERSIONS_READ = frozenset({"admin", "risk_analyst", "compliance_officer"})
REPORTS_READ = frozenset({"admin", "compliance_officer"})
NAV.append(("/console/customers", N_("Customers"), CUSTOMER_READ))
NAV.append(("/console/versions", N_("Versions"), VERSIONS_READ))
NAV.append(("/console/reports", N_("Reports"), REPORTS_READ))

FIELD_NAMES = {"phone": N_("Phone"), "email": N_("E-mail"), "legal_name": N_("Name"),
               "id_number": N_("ID number"), "date_of_birth": N_("Date of birth")}
LOAN_LEVEL_SHOWN = 50  # rows of the loan-level section on the page (the file has all)
REASON_CHARS_MAX = 1000


def _failure(page: Page, exc: DomainError, title: str) -> Response:
    return render(page, "console/error.html", status_code=http_status(exc),
                  title=title, message=error_text(page, exc))


def _purposes(page: Page) -> list[tuple[str, str]]:
    """The purpose codes with their meaning in the page's language (platform/purposes)."""
    shown = []
    for purpose in AccessPurpose:
        zh, en = PURPOSE_NAMES[purpose]
        shown.append((purpose.value, zh if page.language == "zh-CN" else en))
    return shown


# ----------------------------------------------------------------------- customers
@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, q: str = "") -> Response:
    """Find a customer by id, or by their full phone number or e-mail (the blind index:
    an exact match, nothing partial)."""
    page, refused = staff_only(request, CUSTOMER_READ)
    if refused is not None:
        return refused
    typed = q.strip()[:254]
    missing = False
    if typed:
        rt = page.rt
        with rt.uow.connect() as conn:
            try:
                found = rt.parties.get_customer(conn, typed).id
            except NotFoundError:
                row = rt.parties.find_by_identifier(conn, typed)
                found = None if row is None else row.id
        if found is not None:
            return page.redirect(f"/console/customers/{found}")
        missing = True
    return render(page, "console/r_customers.html", title=page.gettext("Customers"),
                  typed=typed, missing=missing)


def _customer_view(page: Page, customer_id: str) -> dict[str, Any]:
    from creditpay.credit.queries import customer_lines
    from creditpay.credit.service import list_accounts
    from creditpay.protection.views import consent_views, list_complaints

    rt = page.rt
    with rt.uow.connect() as conn:
        profile = rt.parties.customer_view(rt.parties.get_customer(conn, customer_id))
        accounts = list_accounts(conn, customer_id)
        lines = customer_lines(conn, customer_id, limit=50)
        consents = consent_views(conn, customer_id)
        complaints = list_complaints(conn, customer_id)
    return {"profile": profile, "accounts": accounts, "lines": lines, "consents": consents,
            "complaints": complaints, "may_reveal": page.principal is not None
            and page.principal.role in REVEAL, "purposes": _purposes(page),
            "field_names": FIELD_NAMES, "key": new_form_key()}


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, customer_id: str) -> Response:
    """A customer's profile, masked (GET /v1/operator/customers/{id}), with their lines,
    credit accounts, consents and complaints."""
    page, refused = staff_only(request, CUSTOMER_READ)
    if refused is not None:
        return refused
    try:
        view = _customer_view(page, customer_id[:64])
    except DomainError as exc:
        return _failure(page, exc, page.gettext("Not found"))
    return render(page, "console/r_customer.html", title=page.gettext("Customer"),
                  revealed=None, error=None, **view)


@form_post(router, "/customers/{customer_id}/reveal", page_of=staff_page)
def reveal(page: Page, form: dict[str, str]) -> Response:
    """One field in clear, for a purpose code and (optionally) a reason in words: the
    reveal use case of POST /v1/operator/customers/{id}/personal_data, audited with the
    purpose and the reason's vaulted note; the value is shown on this answer only."""
    who = page.principal
    if who is None:
        return page.redirect("/console/login")
    if who.role not in REVEAL:
        return forbidden(page)
    rt = page.rt
    customer_id = str(page.request.path_params["customer_id"])[:64]
    purpose = form.get("purpose", "")
    field = form.get("field", "")
    reason = form.get("reason", "").strip()[:REASON_CHARS_MAX]

    def use_case(tx: Any) -> dict[str, Any]:
        note_id = None
        if reason:
            # Words may name a person: kept in the vault, referenced from the audit record.
            note_id = rt.notes.store(tx, text=reason, kind="personal_data_access.note",
                                     about_type="customer", about_id=customer_id,
                                     author_id=who.id, customer_id=customer_id,
                                     field="reason")
        shown = rt.parties.reveal_personal_data(tx, who.id, customer_id, purpose,
                                                fields=[field], note_id=note_id)
        return {"id": customer_id, "field": field, "value": shown[field]}

    try:
        if field not in FIELD_NAMES:
            raise ValidationError("choose the field to show", field="field")
        response = run_as_route(
            page, who, key=form.get(KEY_FIELD) or None,
            api_path=f"/v1/operator/customers/{customer_id}/personal_data",
            body={"purpose": purpose, "fields": [field], "reason": reason},
            use_case=use_case, secret_fields=frozenset({"value"}))
        view = _customer_view(page, customer_id)
    except DomainError as exc:
        try:
            view = _customer_view(page, customer_id)
        except DomainError:
            return _failure(page, exc, page.gettext("Not found"))
        return render(page, "console/r_customer.html", status_code=http_status(exc),
                      title=page.gettext("Customer"), revealed=None,
                      error=_reveal_refusal(page, exc), **view)
    done = json.loads(bytes(response.body))
    # A replayed form (sent twice) gets no value back: plaintext is never stored.
    revealed = {"field": field, "value": done.get("value"), "replayed": "value" not in done}
    return render(page, "console/r_customer.html", title=page.gettext("Customer"),
                  revealed=revealed, error=None, **view)


def _reveal_refusal(page: Page, exc: DomainError) -> str:
    _ = page.gettext
    if exc.field == "purpose":
        return _("Choose the purpose of this read: it is written to the audit chain.")
    if exc.field in ("field", "fields"):
        return _("Choose the field to show.")
    if exc.field == "reason":
        return _("The reason is too long (up to 1,000 characters).")
    return error_text(page, exc)


# ----------------------------------------------------------------------- versions
def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, str) and value:
        return value[:16].replace("T", " ") + " UTC"
    return "—"


@router.get("/versions", response_class=HTMLResponse)
def versions_page(request: Request) -> Response:
    """Products and caps (the package's catalogue), stored credit policies with their
    activations, model assignments, fraud rule sets: which is live, since when, by whom."""
    from creditpay.risk.decisions.queries import model_assignments, policy_versions
    from creditpay.risk.decisions.registry import list_models
    from creditpay.risk.fraud import rule_sets

    page, refused = staff_only(request, VERSIONS_READ)
    if refused is not None:
        return refused
    rt = page.rt
    catalogue = rt.catalogue
    live = {(p.code, p.version) for p in catalogue.active()}
    products = sorted(catalogue.all(), key=lambda p: (p.code, -p.version))
    caps = [catalogue.caps(j) for j in sorted({p.jurisdiction for p in products})]
    with rt.uow.connect() as conn:
        policies = policy_versions(conn)
        assignments = model_assignments(conn)
        models = list_models(conn)
        rules = rule_sets.history(conn)
    live_models = {}
    for a in reversed(assignments):  # oldest first: the last one of each name is in force
        live_models[a["name"]] = a
    return render(page, "console/r_versions.html", title=page.gettext("Versions"),
                  products=products, live=live, caps=caps, policies=policies,
                  assignments=assignments, models=models, live_models=live_models,
                  rules=rules, when=_when)


def _document_text(document: Any) -> str:
    """A document as people read it: indented JSON, keys in their stored order."""
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if hasattr(value, "value"):  # enums
            return value.value
        return value

    return json.dumps(plain(document), indent=2, ensure_ascii=False)


@router.get("/versions/{kind}/{name}", response_class=HTMLResponse)
def version_document(request: Request, kind: str, name: str, version: str = "") -> Response:
    """One version's document: a product (``name`` code, ``?version=``), caps (``name``
    jurisdiction), a credit policy (``name`` content hash) or a fraud rule set (``name``
    version)."""
    from creditpay.risk.decisions.queries import policy_document
    from creditpay.risk.fraud import rule_sets

    page, refused = staff_only(request, VERSIONS_READ)
    if refused is not None:
        return refused
    rt = page.rt
    try:
        if kind == "products":
            product = rt.catalogue.get(name[:48], int(version) if version.isdigit() else None)
            heading = f"{page.product_name(product.code, product.version)} · v{product.version}"
            document: Any = product.model_dump()
        elif kind == "caps":
            caps = rt.catalogue.caps(name[:2])
            heading, document = f"{caps.jurisdiction} · v{caps.version}", caps.model_dump()
        elif kind == "policies":
            with rt.uow.connect() as conn:
                document = policy_document(conn, name[:64])
            if document is None:
                raise NotFoundError(f"no policy {name[:64]}", field="policy_hash")
            heading = f"{document.get('policy_id')} · {document.get('version')}"
        elif kind == "fraud_rules":
            with rt.uow.connect() as conn:
                found = rule_sets.get(conn, name[:64])
            heading, document = found["version"], found["content"]
        else:
            raise NotFoundError(f"no such kind of version: {kind[:32]}", field="kind")
    except DomainError as exc:
        return _failure(page, exc, page.gettext("Not found"))
    return render(page, "console/r_document.html", title=page.gettext("Version"),
                  heading=heading, kind=kind, text=_document_text(document))


@router.get("/decided", response_class=HTMLResponse)
def decided_page(request: Request, id: str = "") -> Response:
    """What decided what: a credit decision id (policy, model, reasons as stored), or a
    payment intent or transfer id (each fraud screening's rule set, model and thresholds
    versions, rules hit and reasons)."""
    from creditpay.risk.decisions.queries import decision_detail
    from creditpay.risk.fraud.records import screenings_for

    page, refused = staff_only(request, VERSIONS_READ)
    if refused is not None:
        return refused
    typed = id.strip()[:64]
    decision = None
    screenings: list[dict[str, Any]] = []
    try:
        if typed:
            with page.rt.uow.connect() as conn:
                decision = decision_detail(conn, typed[:32]) if len(typed) <= 32 else None
                if decision is None:
                    screenings = screenings_for(conn, typed)
    except DomainError as exc:
        return _failure(page, exc, page.gettext("Not found"))
    return render(page, "console/r_decided.html", title=page.gettext("What decided it"),
                  typed=typed, decision=decision, screenings=screenings, when=_when)


# ----------------------------------------------------------------------- reports
def _pseudonym_key(page: Page) -> bytes:
    """The loan-level pseudonym key the CLI uses (derived from the master key), so a
    report downloaded here is the CLI's report."""
    from creditpay.reporting.regulatory import PSEUDONYM_KEY_INFO

    services = page.rt.services
    derive = getattr(services.master, "derive", None) if services is not None else None
    if derive is None:
        raise ValidationError("this deployment's master key cannot derive the report "
                              "pseudonym key; use the CLI", field="pseudonym_key")
    key: bytes = derive(PSEUDONYM_KEY_INFO)
    return key


def _chosen_report(request: Request) -> dict[str, Any]:
    """The report asked for: ``kind`` daily (``date``) or monthly (``month`` YYYY-MM).
    Bad values are ValidationErrors naming the field."""
    query = request.query_params
    kind = query.get("kind", "daily")
    if kind not in ("daily", "monthly"):
        raise ValidationError("must be daily or monthly", field="kind")
    if kind == "daily":
        try:
            day = dt.date.fromisoformat(query.get("date", ""))
        except ValueError:
            raise ValidationError("must be a date (YYYY-MM-DD)", field="date") from None
        return {"kind": kind, "date": day, "month": None}
    try:
        year, number = (int(part) for part in query.get("month", "").split("-"))
        dt.date(year, number, 1)
    except ValueError:
        raise ValidationError("must be a month (YYYY-MM)", field="month") from None
    return {"kind": kind, "date": None, "month": (year, number)}


def _build(page: Page, chosen: dict[str, Any]) -> Any:
    from creditpay.reporting import regulatory as R

    key = _pseudonym_key(page)
    with page.rt.uow.connect() as conn:
        if chosen["kind"] == "daily":
            return R.daily_report(conn, chosen["date"], pseudonym_key=key)
        year, number = chosen["month"]
        return R.monthly_report(conn, year, number, pseudonym_key=key)


def _cell(page: Page, name: str, value: Any, currency: str | None) -> dict[str, Any]:
    from creditpay.reporting.regulatory import report_text

    raw = report_text(value)
    text = str(raw)
    if name.endswith("_minor") and isinstance(value, int) and currency:
        text = page.money(value, currency)
    return {"name": name, "text": text, "raw": raw}


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request) -> Response:
    """The daily report of a closed business date or the monthly report of a closed month
    (``creditpay reports daily|monthly``): each section as a table, and its files."""
    from urllib.parse import urlencode

    from creditpay.reporting.regulatory import last_closed_business_date

    page, refused = staff_only(request, REPORTS_READ)
    if refused is not None:
        return refused
    with page.rt.uow.connect() as conn:
        closed = last_closed_business_date(conn)
    report = None
    error = None
    sections = []
    query = ""
    asked = bool(request.query_params.get("kind"))
    if asked:
        try:
            chosen = _chosen_report(request)
            report = _build(page, chosen)
        except DomainError as exc:
            error = error_text(page, exc)
        else:
            query = urlencode({k: v for k, v in request.query_params.items()
                               if k in ("kind", "date", "month")})
            for section in report.sections:
                rows = section.rows if section.name != "loan_level" else \
                    section.rows[:LOAN_LEVEL_SHOWN]
                index = section.columns.index("currency") if "currency" in section.columns \
                    else None
                sections.append({
                    "name": section.name, "columns": section.columns, "count":
                    len(section.rows), "rows": [[_cell(page, name, value,
                                                       row[index] if index is not None
                                                       else None)
                                                 for name, value in zip(section.columns, row,
                                                                        strict=True)]
                                                for row in rows]})
    default_date = closed.isoformat() if closed else ""
    default_month = request.query_params.get("month") or (
        (closed.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m") if closed else "")
    return render(page, "console/r_reports.html", title=page.gettext("Regulatory reports"),
                  closed=closed, report=report, sections=sections, error=error, query=query,
                  typed_date=request.query_params.get("date") or default_date,
                  typed_month=default_month,
                  kind=request.query_params.get("kind", "daily"),
                  shown_max=LOAN_LEVEL_SHOWN)


@router.get("/reports/download")
def report_download(request: Request, section: str = "", format: str = "csv") -> Response:
    """A report's files as the CLI writes them: one section as CSV (``section``), or every
    section as JSON."""
    from creditpay.reporting import regulatory as R

    page, refused = staff_only(request, REPORTS_READ)
    if refused is not None:
        return refused
    try:
        report = _build(page, _chosen_report(request))
        if format == "json":
            body = json.dumps(R.report_document(report), indent=2, sort_keys=True,
                              ensure_ascii=False) + "\n"
            return page.respond(Response(body, media_type="application/json", headers={
                "Content-Disposition": f'attachment; filename="{report.stem}.json"'}))
        if format != "csv":
            raise ValidationError("must be csv or json", field="format")
        found = report.section(section) if section in {s.name for s in report.sections} \
            else None
        if found is None:
            raise NotFoundError(f"no section {section[:32]!r}", field="section")
        out = io.StringIO()
        R.write_section_csv(found, out)
        return page.respond(Response(out.getvalue(), media_type="text/csv", headers={
            "Content-Disposition":
            f'attachment; filename="{report.stem}_{found.name}.csv"'}))
    except DomainError as exc:
        return _failure(page, exc, page.gettext("Not available"))


@router.get("/reports/provisions", response_class=HTMLResponse)
def provisions_page(request: Request) -> Response:
    """IFRS 9 provisions of a closed business date (``creditpay reports provisions``
    without --post): ECL by stage and currency. Read-only: posting stays a CLI step."""
    from creditpay.reporting.provisions import compute_provisions
    from creditpay.reporting.regulatory import last_closed_business_date

    page, refused = staff_only(request, REPORTS_READ)
    if refused is not None:
        return refused
    with page.rt.uow.connect() as conn:
        closed = last_closed_business_date(conn)
    typed = request.query_params.get("date") or (closed.isoformat() if closed else "")
    totals = None
    error = None
    if typed:
        try:
            try:
                day = dt.date.fromisoformat(typed)
            except ValueError:
                raise ValidationError("must be a date (YYYY-MM-DD)", field="date") from None
            with page.rt.uow.connect() as conn:
                totals = compute_provisions(conn, day).totals()
        except DomainError as exc:
            error = error_text(page, exc)
    return render(page, "console/r_provisions.html", title=page.gettext("Provisions"),
                  typed=typed[:10], totals=totals, error=error)


@router.get("/reports/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    """The audit chain's status: the chain verified against the latest signed checkpoint
    in the store (``creditpay audit verify``), and that checkpoint's index, time and head
    hash."""
    from creditpay.platform import audit

    page, refused = staff_only(request, REPORTS_READ)
    if refused is not None:
        return refused
    checkpointer = page.rt.audit_checkpointer
    latest = None
    result = None
    error = None
    try:
        latest = checkpointer.store.latest()
        with audit.snapshot_connection(page.rt.uow.engine) as conn:
            result = audit.verify_against_store(
                conn, checkpointer.store, trusted_public_keys=checkpointer.trusted_keys())
    except DomainError as exc:
        error = error_text(page, exc)
    return render(page, "console/r_audit.html", title=page.gettext("Audit chain"),
                  result=result, latest=latest, error=error,
                  described=result.describe() if result is not None else None)

