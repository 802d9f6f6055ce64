"""The consumer's credit pages beyond the My credit overview (issue #15): repay, the
auto-debit switch, applying for a line, converting a bill into installments, cash loans
from their key facts, the credit score, consents, complaints and the 14-day withdrawal.

Every page calls what the JSON route calls (:mod:`creditpay.api.routes_consumer_credit`,
:mod:`creditpay.api.routes_credit_score`, :mod:`creditpay.api.routes_customers`) and shows
the dicts those return. Money-moving forms carry a one-time key generated when the form is
rendered; it goes through the API's own exactly-once machinery
(:func:`creditpay.api.idempotency.run_idempotent`) under the customer's scope and the JSON
route's path and body, with the ids the route derives from it, so a double submit (or a
form resubmitted by the back button) moves money once and answers the first result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pydantic
from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api import schemas as S
from creditpay.api import schemas_credit as SC
from creditpay.api.routes_consumer_credit import (
    CURRENCY,
    apply_use_case,
    auto_debit_use_case,
    cash_loan_key_facts_html,
    cash_loan_offers_use_case,
    convert_use_case,
    decisions_out,
    installment_offers_out,
    installments_out,
    keyed_id,
    repay_use_case,
    statement_out,
    take_loan_use_case,
)
from creditpay.db.uow import Tx
from creditpay.errors import (
    AuthenticationError,
    ConsentRequiredError,
    DomainError,
    IdempotencyConflictError,
    InsufficientFundsError,
    NotFoundError,
    RateLimitedError,
    StateError,
    ValidationError,
)
from creditpay.money import minor_to_decimal, to_minor
from creditpay.parties.service import Principal
from creditpay.protection.disclosure import document_csp
from creditpay.web.framework import (
    KEY_FIELD,
    N_,
    Page,
    customer_page,
    form_post,
    http_status,
    line_or_none,
    new_form_key,
    run_as_route,
)

__all__ = ["router", "credit_actions"]

router = APIRouter(prefix="/app", include_in_schema=False)
CONSENTS_TO_APPLY = ("bureau_inquiry", "credit_assessment")
EMPLOYMENT = {"salaried": N_("Salaried"), "self_employed": N_("Self-employed"),
              "student": N_("Student"), "retired": N_("Retired"),
              "unemployed": N_("Not working")}
HOUSING = {"rent": N_("Renting"), "own": N_("Own home"), "mortgage": N_("Own home, mortgage"),
           "family": N_("With family"), "other": N_("Other")}
PURPOSE = {"credit_assessment": N_("Credit assessment"),
           "bureau_inquiry": N_("Credit bureau inquiry"),
           "share_payment_data_with_partner": N_("Sharing payment data with a partner"),
           "auto_debit": N_("Automatic repayment"), "marketing": N_("Marketing")}
CATEGORY = {"fees_and_charges": N_("Fees and charges"),
            "disclosure": N_("What I was told before agreeing"),
            "credit_decision": N_("A credit decision"),
            "repayment_and_billing": N_("Repayments and bills"),
            "collections_conduct": N_("How I was asked to pay"),
            "privacy_and_consent": N_("Privacy and consent"),
            "fraud_dispute": N_("A payment I did not make"),
            "service_quality": N_("Service"), "other": N_("Something else")}
COMPLAINT_STATUS = {"open": N_("received"), "acknowledged": N_("being handled"),
                    "resolved": N_("resolved")}
METHOD = {"equal_installment": N_("equal installments"),
          "equal_principal": N_("equal principal, falling installments"),
          "flat": N_("flat: interest on the whole amount every month"),
          "interest_only": N_("interest only, principal at the end"),
          "bullet": N_("everything at the end")}
OUTCOME = {"approve": N_("Approved"), "decline": N_("Declined"),
           "refer": N_("Under review")}


# ----------------------------------------------------------------------- shared
def _once(page: Page, who: Principal, *, key: str, api_path: str,
          body: pydantic.BaseModel | None, response_model: Any,
          use_case: Callable[[Tx], Any], status_code: int = 201) -> dict[str, Any]:
    """Run ``use_case`` exactly once for ``key``, as the JSON route ``api_path`` with
    ``body`` would (same scope, same request hash): the first result, or its replay."""
    def serialize(value: Any) -> Any:
        return as_api(response_model, value)

    payload = body.model_dump(mode="json") if body is not None else {}
    response = run_as_route(page, who, key=key, api_path=api_path, body=payload,
                            use_case=use_case, status_code=status_code, serialize=serialize)
    result: dict[str, Any] = json.loads(bytes(response.body))
    return result


def as_api(response_model: Any, value: Any) -> Any:
    """``value`` as the JSON route answers it: shaped by its response model (defaults
    filled in, as the API's client receives them)."""
    adapter = pydantic.TypeAdapter(response_model)
    return adapter.dump_python(adapter.validate_python(value), mode="json")


def _amount(text: str, field: str) -> int:
    """Yuan typed in a form (``12.34``) in minor units; ValidationError naming ``field``
    for anything else (more decimals than the currency has, zero, negative)."""
    minor = to_minor(text.strip().replace(",", ""), CURRENCY, field=field)
    if minor <= 0 or minor_to_decimal(minor, CURRENCY) != _decimal(text):
        raise ValidationError("must be an amount in yuan above zero, like 12.34", field=field)
    return minor


def _decimal(text: str) -> Any:
    from decimal import Decimal

    return Decimal(text.strip().replace(",", ""))


def _model(model: type[pydantic.BaseModel], **values: Any) -> Any:
    """``model(**values)`` with the API's validation; a refusal as the API's
    ValidationError naming the first field."""
    try:
        return model(**values)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "body"
        raise ValidationError(str(first.get("msg", "invalid")), field=field) from None


def problem(page: Page, exc: DomainError) -> str:
    """What a person is told about a refusal on a credit page, in their language."""
    _ = page.gettext
    if isinstance(exc, RateLimitedError):
        return _("Too many attempts. Wait a few minutes and try again.")
    if isinstance(exc, AuthenticationError):
        return _("Log in again to continue.")
    if isinstance(exc, IdempotencyConflictError):
        return _("This form was already sent with other values. Reload the page and try "
                 "again.")
    if isinstance(exc, InsufficientFundsError):
        return _("Your wallet does not have enough money for this amount. Top up first.")
    if isinstance(exc, ConsentRequiredError):
        return _("This needs your consent first.")
    if isinstance(exc, NotFoundError):
        return _("We could not find that. Go back to My credit and try again.")
    if isinstance(exc, StateError):
        if exc.field == "kyc_status":
            return _("Verify your identity before applying.")
        return _("This cannot be done now: the account has changed. Reload and check.")
    if isinstance(exc, ValidationError):
        if exc.field in ("amount_minor", "amount", "monthly_income_minor",
                         "declared_monthly_obligations_minor"):
            return _("Enter an amount in yuan above zero, like 12.34.")
        if exc.field == "employment_type":
            return _("Choose what you do for a living.")
        if exc.field == "Idempotency-Key":
            return _("This form has expired. Reload the page and try again.")
        return _("Check what you entered and try again.")
    return _("That did not work. Try again.")


def _login(request: Request) -> tuple[Page, Principal | None]:
    return customer_page(request)


# ----------------------------------------------------------------------- My credit additions
def credit_actions(conn: Any, customer_id: str, line: dict[str, Any] | None,
                   plans: list[dict[str, Any]]) -> dict[str, Any]:
    """What My credit shows next to its figures: each account's auto-debit switch."""
    from creditpay.credit.service import auto_debit_enabled

    ids = ([line["line_id"]] if line else []) + [p["account"].account_id for p in plans]
    return {"auto_debit": {i: auto_debit_enabled(conn, i, customer_id) for i in ids},
            "once_key": new_form_key()}


# ----------------------------------------------------------------------- repay
def _repay_view(page: Page, who: Principal) -> dict[str, Any]:
    from creditpay.credit.service import list_accounts, payoff_amount
    from creditpay.credit.statements import list_statements

    rt = page.rt
    with rt.uow.connect() as conn:
        line = line_or_none(rt, conn, who.id, with_bill_in_full=True)
        bill = line_payoff = None
        if line is not None:
            bills = list_statements(conn, line["line_id"])
            bill = statement_out(bills[-1]) if bills else None
            line_payoff = payoff_amount(conn, line["line_id"])
        accounts = []
        for account in list_accounts(conn, who.id):
            if account.kind not in ("plan", "loan") or account.status != "active":
                continue
            schedule = installments_out(conn, account.account_id, CURRENCY)["data"]
            due = next((r for r in schedule if r["status"] not in ("paid", "cancelled")), None)
            accounts.append({"account": account, "next": due,
                             "payoff_minor": payoff_amount(conn, account.account_id)})
        wallet = rt.payments.wallet_balance(conn, who.id, CURRENCY)
    return {"line": line, "bill": bill, "line_payoff_minor": line_payoff,
            "accounts": accounts, "wallet": wallet}


@router.get("/credit/repay", response_class=HTMLResponse)
def repay_form(request: Request) -> Response:
    page, who = _login(request)
    if who is None:
        return page.redirect("/app/login")
    return page.render("credit_repay.html", key=new_form_key(), error=None, error_for=None,
                       typed="", **_repay_view(page, who))


@form_post(router, "/credit/repay")
def repay(page: Page, form: dict[str, str]) -> Response:
    """Repay from the wallet: the bill (what is due first), or one plan or loan."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    account_id = form.get("account_id") or None
    choice = form.get("choice", "")
    field = f"amount-{account_id or 'bill'}"
    try:
        # A choice is an amount the page showed (minor units); "other" is typed in yuan.
        amount = int(choice) if choice.isdigit() and len(choice) < 19 else \
            _amount(form.get("amount", ""), "amount_minor")
        body = _model(SC.RepaymentIn, amount_minor=amount, currency=CURRENCY,
                      account_id=account_id)
        key = form.get(KEY_FIELD, "")
        rt = page.rt
        repayment_id = keyed_id(page.request, "rp", who, key)
        result = _once(page, who, key=key, api_path="/v1/me/credit_repayments", body=body,
                       response_model=SC.RepaymentOut,
                       use_case=lambda tx: repay_use_case(rt, tx, who, body, repayment_id))
    except DomainError as exc:
        return page.render("credit_repay.html", status_code=http_status(exc),
                           key=form.get(KEY_FIELD) or new_form_key(), error=problem(page, exc),
                           error_for=field, typed=form.get("amount", "")[:32],
                           **_repay_view(page, who))
    from creditpay.credit.service import list_accounts

    with page.rt.uow.connect() as conn:
        kinds = {a.account_id: a for a in list_accounts(conn, who.id)}
    return page.render("credit_repaid.html", result=result, accounts=kinds)


# ----------------------------------------------------------------------- auto-debit
@form_post(router, "/credit/auto_debit")
def switch_auto_debit(page: Page, form: dict[str, str]) -> Response:
    """Switch auto-debit on or off for one account; switching on without the auto-debit
    consent shows the consent text to agree to first."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    account_id = form.get("account_id", "")
    enabled = form.get("enabled") == "true"
    try:
        if form.get("agree") == "auto_debit":
            _grant(page, who, "auto_debit", form)
        body = _model(SC.AutoDebitIn, enabled=enabled)
        key = form.get(KEY_FIELD, "")
        result = _once(page, who, key=key,
                       api_path=f"/v1/me/credit_accounts/{account_id}/auto_debit", body=body,
                       response_model=SC.AutoDebitOut, status_code=200,
                       use_case=lambda tx: auto_debit_use_case(tx, who, account_id, body))
    except ConsentRequiredError:
        return page.render("credit_auto_debit.html", result=None, account_id=account_id,
                           key=new_form_key(), consent=_text(page, "auto_debit"), error=None)
    except DomainError as exc:
        return page.render("credit_auto_debit.html", status_code=http_status(exc),
                           result=None, account_id=account_id, key=new_form_key(),
                           consent=_text(page, "auto_debit") if enabled else None,
                           error=problem(page, exc))
    return page.render("credit_auto_debit.html", result=result, account_id=account_id,
                       key=new_form_key(), consent=None, error=None)


# ----------------------------------------------------------------------- consents
def _text(page: Page, purpose: str) -> dict[str, Any]:
    """The consent text of ``purpose`` to show, in the page's language (the current
    version, as GET /v1/me/consent_texts/{purpose} gives it)."""
    from creditpay.protection.consent import consent_text

    text = consent_text(purpose, page.language)
    return {"purpose": purpose, "text_version": text.version, "language": text.language,
            "text": text.text, "text_sha256": text.sha256}


def _partner_texts(page: Page, held: set[str]) -> list[dict[str, Any]]:
    """The consent to share payment data with each active partner lender the consumer has
    not agreed to share with, its text naming the partner by its registered name (issue
    #17: the consumer chooses, per partner, who may see what)."""
    from creditpay.parties.partners import list_partners
    from creditpay.protection.consent import consent_text

    with page.rt.uow.connect() as conn:
        partners = list_partners(conn, status="active")
    out = []
    for partner in partners:
        if partner.partner_id in held:
            continue
        text = consent_text("share_payment_data_with_partner", page.language,
                            partner_name=partner.name)
        out.append({"purpose": "share_payment_data_with_partner",
                    "key": f"partner-{partner.partner_id}", "partner_id": partner.partner_id,
                    "partner_name": partner.name, "text_version": text.version,
                    "language": text.language, "text": text.text,
                    "text_sha256": text.sha256})
    return out


def _grant(page: Page, who: Principal, purpose: str, form: dict[str, str]) -> None:
    """Record the consent to the text version the form showed (as POST /v1/me/consents:
    the hash must be that version's, so nobody consents to a text they were not shown). A
    partner's consent names the partner the form showed, by its registered name."""
    from creditpay.protection import consent as C

    version = form.get(f"version-{purpose}", "")
    partner_id = form.get("partner_id") if purpose == "share_payment_data_with_partner" \
        else None

    def grant(tx: Tx) -> Any:
        name = C.registered_partner_name(tx.conn, partner_id) if partner_id else None
        return C.grant_consent(
            tx, customer_id=who.id, purpose=purpose, language=form.get(
                f"language-{purpose}", page.language),
            text_version=int(version) if version.isdigit() else 0,
            text_sha256=form.get(f"sha-{purpose}", ""), channel="app",
            partner_id=partner_id or None, partner_name=name)

    page.rt.uow.run(grant)


def _consent_views(page: Page, who: Principal) -> list[Any]:
    from creditpay.protection.views import consent_views

    with page.rt.uow.connect() as conn:
        return consent_views(conn, who.id)


@router.get("/consents", response_class=HTMLResponse)
def consents(request: Request) -> Response:
    page, who = _login(request)
    if who is None:
        return page.redirect("/app/login")
    return _consents_page(page, who)


def _consents_page(page: Page, who: Principal, *, status_code: int = 200,
                   error: str | None = None) -> Response:
    views = _consent_views(page, who)
    held = {v.purpose.value for v in views if v.granted and v.partner_id is None}
    offer = [_text(page, p) for p in PURPOSE
             if p not in held and p != "share_payment_data_with_partner"]
    partners = _partner_texts(page, {v.partner_id for v in views
                                     if v.granted and v.partner_id is not None})
    return page.render("credit_consents.html", status_code=status_code, consents=views,
                       offer=offer, partners=partners, purpose_label=PURPOSE, error=error)


@form_post(router, "/consents/grant")
def grant_consent(page: Page, form: dict[str, str]) -> Response:
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    purpose = form.get("purpose", "")
    if purpose not in PURPOSE or (purpose == "share_payment_data_with_partner"
                                  and not form.get("partner_id")):
        return _consents_page(page, who, status_code=422,
                              error=page.gettext("Check what you entered and try again."))
    try:
        _grant(page, who, purpose, form)
    except DomainError as exc:
        return _consents_page(page, who, status_code=http_status(exc),
                              error=problem(page, exc))
    page.notices.append(page.gettext("Thank you: your consent is recorded."))
    return _consents_page(page, who)


@form_post(router, "/consents/withdraw")
def withdraw_consent(page: Page, form: dict[str, str]) -> Response:
    """Withdraw a consent in force (as POST /v1/me/consents/{id}/revoke)."""
    from creditpay.protection import consent as C
    from creditpay.protection.views import own_consent_record

    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    record_id = form.get("consent_id", "")
    try:
        if not record_id.isdigit():
            raise NotFoundError("no such consent", field="consent_id")

        def revoke(tx: Tx) -> None:
            record = own_consent_record(tx.conn, who.id, int(record_id))
            C.revoke_consent(tx, customer_id=who.id, purpose=record.purpose, channel="app",
                             partner_id=record.partner_id)

        page.rt.uow.run(revoke)
    except DomainError as exc:
        return _consents_page(page, who, status_code=http_status(exc),
                              error=problem(page, exc))
    page.notices.append(page.gettext("Your consent is withdrawn."))
    return _consents_page(page, who)


# ----------------------------------------------------------------------- apply
def _apply_view(page: Page, who: Principal) -> dict[str, Any]:
    rt = page.rt
    with rt.uow.connect() as conn:
        decisions = as_api(SC.CreditApplicationList,
                           {"data": decisions_out(conn, who, page.language)})["data"]
        line = line_or_none(rt, conn, who.id)
    held = {v.purpose.value for v in _consent_views(page, who) if v.valid}
    return {"line": line, "latest": decisions[0] if decisions else None,
            "texts": [_text(page, p) for p in CONSENTS_TO_APPLY if p not in held],
            "employment": EMPLOYMENT, "housing": HOUSING, "outcome_label": OUTCOME,
            "purpose_label": PURPOSE}


@router.get("/credit/apply", response_class=HTMLResponse)
def apply_form(request: Request) -> Response:
    page, who = _login(request)
    if who is None:
        return page.redirect("/app/login")
    return page.render("credit_apply.html", key=new_form_key(), error=None, error_for=None,
                       typed={}, decision=None, **_apply_view(page, who))


@form_post(router, "/credit/apply")
def apply(page: Page, form: dict[str, str]) -> Response:
    """Agree to the consents shown, then apply (POST /v1/me/credit_applications)."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    rt, field = page.rt, None
    try:
        for purpose in CONSENTS_TO_APPLY:
            if f"version-{purpose}" in form:
                field = f"agree-{purpose}"
                if form.get(f"agree-{purpose}") != "yes":
                    raise ConsentRequiredError("tick to agree", field=field)
                _grant(page, who, purpose, form)
        field = "income"
        income = _amount(form.get("income", ""), "monthly_income_minor")
        field = "obligations"
        obligations = (_amount(form["obligations"], "declared_monthly_obligations_minor")
                       if form.get("obligations", "").strip() else None)
        field = "employment"
        body = _model(SC.CreditApplicationIn, monthly_income_minor=income,
                      employment_type=form.get("employment", ""),
                      housing=form.get("housing") or None,
                      declared_monthly_obligations_minor=obligations, language=page.language)
        field = None
        key = form.get(KEY_FIELD, "")
        application_id = keyed_id(page.request, "app", who, key)
        decision = _once(page, who, key=key, api_path="/v1/me/credit_applications",
                         body=body, response_model=SC.CreditApplicationOut,
                         use_case=lambda tx: apply_use_case(rt, tx, who, body, application_id))
    except DomainError as exc:
        message = (page.gettext("Tick the box to agree, or you cannot apply.")
                   if isinstance(exc, ConsentRequiredError) and field else problem(page, exc))
        return page.render("credit_apply.html", status_code=http_status(exc),
                           key=form.get(KEY_FIELD) or new_form_key(), error=message,
                           error_for=field, typed={k: form.get(k, "")[:32] for k in (
                               "income", "obligations", "employment", "housing")},
                           decision=None, **_apply_view(page, who))
    view = _apply_view(page, who)
    view["latest"] = None
    return page.render("credit_apply.html", key=new_form_key(), error=None, error_for=None,
                       typed={}, decision=decision, **view)


# ----------------------------------------------------------------------- score
@router.get("/credit/score", response_class=HTMLResponse)
def score(request: Request) -> Response:
    """The score behind the latest scored decision and what moves it (as GET
    /v1/me/credit_score, in the page's language)."""
    from creditpay.api.routes_credit_score import CreditScoreOut, score_out
    from creditpay.risk.decisions.credit_score import latest_credit_score

    page, who = _login(request)
    if who is None:
        return page.redirect("/app/login")
    try:
        with page.rt.uow.connect() as conn:
            found = latest_credit_score(conn, who.id)
    except NotFoundError:
        return page.render("credit_score.html", score=None)
    return page.render("credit_score.html",
                       score=as_api(CreditScoreOut, score_out(found, page.language)))


# ----------------------------------------------------------------------- 14-day withdrawal
def _own_active(page: Page, who: Principal, account_id: str) -> Any | None:
    from creditpay.credit.service import list_accounts

    with page.rt.uow.connect() as conn:
        return next((a for a in list_accounts(conn, who.id) if a.account_id == account_id
                     and a.kind in ("plan", "loan")), None)


@router.get("/credit/withdraw", response_class=HTMLResponse)
def withdraw_form(request: Request) -> Response:
    """What withdrawing from a plan or loan means, and the button (the API decides whether
    the period is still open)."""
    page, who = _login(request)
    if who is None:
        return page.redirect("/app/login")
    account = _own_active(page, who, request.query_params.get("account", "")[:64])
    if account is None:
        return page.redirect("/app/credit")
    return page.render("credit_withdraw.html", account=account, key=new_form_key(), error=None,
                       result=None)


@form_post(router, "/credit/withdraw")
def withdraw(page: Page, form: dict[str, str]) -> Response:
    """Withdraw from the agreement (as POST /v1/me/credit_accounts/{id}/withdraw): pay the
    principal and the interest for the days used from the wallet, nothing else."""
    from creditpay.api.routes_customers import withdrawal_id_of
    from creditpay.protection.credit_withdrawal import withdraw_from_wallet

    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    account = _own_active(page, who, form.get("account_id", "")[:64])
    if account is None:
        return page.redirect("/app/credit")
    key, rt = form.get(KEY_FIELD, ""), page.rt
    try:
        withdrawal_id = withdrawal_id_of(page.request, who, key)
        result = _once(page, who, key=key,
                       api_path=f"/v1/me/credit_accounts/{account.account_id}/withdraw",
                       body=None, response_model=S.WithdrawalOut, status_code=200,
                       use_case=lambda tx: withdraw_from_wallet(
                           tx, account_id=account.account_id, customer_id=who.id,
                           withdrawal_id=withdrawal_id, catalogue=rt.catalogue).as_dict())
    except DomainError as exc:
        message = (page.gettext("The 14-day withdrawal period of this agreement is over.")
                   if exc.extra.get("rule") == "withdrawal.window_closed" else
                   problem(page, exc))
        return page.render("credit_withdraw.html", status_code=http_status(exc),
                           account=account, key=new_form_key(), error=message, result=None)
    return page.render("credit_withdraw.html", account=account, key=key, error=None,
                       result=result)


# ----------------------------------------------------------------------- complaints
def _complaints_page(page: Page, who: Principal, *, status_code: int = 200,
                     error: str | None = None, typed: dict[str, str] | None = None
                     ) -> Response:
    from creditpay.credit.service import list_accounts
    from creditpay.protection.views import list_complaints

    with page.rt.uow.connect() as conn:
        complaints = [c.as_dict() for c in list_complaints(conn, who.id, limit=100)]
        accounts = list_accounts(conn, who.id)
    return page.render("complaints.html", status_code=status_code, complaints=complaints,
                       accounts=accounts, categories=CATEGORY, status_label=COMPLAINT_STATUS,
                       key=new_form_key(), error=error, typed=typed or {}, me=who.id)


@router.get("/complaints", response_class=HTMLResponse)
def complaints(request: Request) -> Response:
    page, who = _login(request)
    if who is None:
        return page.redirect("/app/login")
    return _complaints_page(page, who)


@form_post(router, "/complaints")
def file_complaint(page: Page, form: dict[str, str]) -> Response:
    """File a complaint (as POST /v1/me/complaints, channel ``app``)."""
    from creditpay.protection.complaints import open_complaint

    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    about = form.get("about", "")
    subject_type, _, subject_id = about.partition(":")
    rt = page.rt
    try:
        body = _model(S.ComplaintIn, category=form.get("category", ""),
                      subject_type=subject_type, subject_id=subject_id)
        _once(page, who, key=form.get(KEY_FIELD, ""), api_path="/v1/me/complaints",
              body=body, response_model=S.ComplaintOut,
              use_case=lambda tx: open_complaint(
                  tx, customer_id=who.id, subject_type=body.subject_type,
                  subject_id=body.subject_id, category=body.category, channel="app",
                  subjects=rt.complaint_subjects).as_dict())
    except DomainError as exc:
        message = (page.gettext("Choose what your complaint is about.")
                   if isinstance(exc, ValidationError) and exc.field == "category"
                   else problem(page, exc))
        return _complaints_page(page, who, status_code=http_status(exc), error=message,
                                typed={"category": form.get("category", "")[:32],
                                       "about": about[:80]})
    page.notices.append(page.gettext("Your complaint is filed. We will reply within the "
                                     "time shown."))
    return _complaints_page(page, who)


# ----------------------------------------------------------------------- convert a bill
def _convert_view(page: Page, who: Principal, amount_minor: int | None
                  ) -> dict[str, Any]:
    """The bill and what converting it costs (GET .../installment_offers), or why it
    cannot be converted (``refusal``)."""
    from creditpay.credit.statements import list_statements

    rt = page.rt
    with rt.uow.connect() as conn:
        line = line_or_none(rt, conn, who.id)
        bills = list_statements(conn, line["line_id"]) if line else []
        bill = statement_out(bills[-1]) if bills else None
        quote = refusal = None
        if bill is not None:
            try:
                quote = as_api(SC.BillInstallmentOffersOut, installment_offers_out(
                    rt, conn, who, bill["statement_id"], amount_minor))
            except DomainError as exc:
                refusal = exc
    return {"bill": bill, "quote": quote, "refusal": refusal}


@router.get("/credit/convert", response_class=HTMLResponse)
def convert_form(request: Request) -> Response:
    page, who = _login(request)
    if who is None:
        return page.redirect("/app/login")
    typed = request.query_params.get("amount", "")[:32]
    try:
        amount = _amount(typed, "amount_minor") if typed.strip() else None
        view = _convert_view(page, who, amount)
    except DomainError as exc:
        return page.render("credit_convert.html", status_code=http_status(exc),
                           key=new_form_key(), error=problem(page, exc), typed=typed, result=None,
                           **_convert_view(page, who, None))
    refusal = view["refusal"]
    error = None if refusal is None else (
        page.gettext("This bill can no longer be converted: it is paid, past its due date, "
                     "or already converted.") if isinstance(refusal, StateError)
        else problem(page, refusal))
    return page.render("credit_convert.html", key=new_form_key(), error=error, typed=typed,
                       result=None, **view)


@form_post(router, "/credit/convert")
def convert(page: Page, form: dict[str, str]) -> Response:
    """Accept one offer: convert the amount into that many installments (as POST
    /v1/me/statements/{id}/installments)."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    rt, statement_id = page.rt, form.get("statement_id", "")[:96]
    periods, amount = form.get("periods", ""), form.get("amount_minor", "")
    try:
        body = _model(SC.ConvertIn, amount_minor=int(amount) if amount.isdigit() else 0,
                      periods=int(periods) if periods.isdigit() else 0)
        key = form.get(KEY_FIELD, "")
        conversion_id = keyed_id(page.request, "cv", who, key, 32)
        result = _once(page, who, key=key,
                       api_path=f"/v1/me/statements/{statement_id}/installments", body=body,
                       response_model=SC.ConversionOut,
                       use_case=lambda tx: convert_use_case(rt, tx, who, statement_id, body,
                                                            conversion_id))
    except DomainError as exc:
        return page.render("credit_convert.html", status_code=http_status(exc),
                           key=new_form_key(), error=problem(page, exc), typed="", result=None,
                           **_convert_view(page, who, None))
    return page.render("credit_convert.html", key=new_form_key(), error=None, typed="",
                       result=result, bill=None, quote=None, refusal=None)


# ----------------------------------------------------------------------- cash loans
@router.get("/credit/loans", response_class=HTMLResponse)
def loans_form(request: Request) -> Response:
    page, who = _login(request)
    if who is None:
        return page.redirect("/app/login")
    return page.render("credit_loans.html", key=new_form_key(), error=None, typed="",
                       shown=None, taken=None)


@form_post(router, "/credit/loans/offers")
def loan_offers(page: Page, form: dict[str, str]) -> Response:
    """The offers for an amount (as POST /v1/me/cash_loans/offers), each with its full
    cost and its key facts in the page's language."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    rt, typed = page.rt, form.get("amount", "")[:32]
    try:
        body = _model(SC.CashLoanOffersIn, amount_minor=_amount(typed, "amount_minor"),
                      currency=CURRENCY, language=page.language)
        shown = _once(page, who, key=form.get(KEY_FIELD, ""),
                      api_path="/v1/me/cash_loans/offers", body=body,
                      response_model=SC.CashLoanOffersOut, status_code=200,
                      use_case=lambda tx: cash_loan_offers_use_case(rt, tx, who, body))
    except DomainError as exc:
        return page.render("credit_loans.html", status_code=http_status(exc),
                           key=new_form_key(), error=problem(page, exc), typed=typed, shown=None,
                           taken=None)
    return page.render("credit_loans.html", key=new_form_key(), error=None, typed=typed,
                       shown=shown, taken=None, method_label=METHOD)


@form_post(router, "/credit/loans/accept")
def take_loan(page: Page, form: dict[str, str]) -> Response:
    """Take the loan of the offer whose key facts were shown (as POST /v1/me/cash_loans:
    the key facts' SHA-256 names the document accepted)."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    rt = page.rt
    try:
        body = _model(SC.CashLoanIn, offer_id=form.get("offer_id", ""),
                      key_facts_sha256=form.get("key_facts_sha256", ""))
        key = form.get(KEY_FIELD, "")
        loan_id = keyed_id(page.request, "loan", who, key)
        taken = _once(page, who, key=key, api_path="/v1/me/cash_loans", body=body,
                      response_model=SC.CashLoanOut,
                      use_case=lambda tx: take_loan_use_case(rt, tx, who, body, loan_id))
    except DomainError as exc:
        return page.render("credit_loans.html", status_code=http_status(exc),
                           key=new_form_key(), error=problem(page, exc), typed="", shown=None,
                           taken=None)
    return page.render("credit_loans.html", key=new_form_key(), error=None, typed="", shown=None,
                       taken=taken)


@router.get("/credit/loans/key_facts/{offer_id}", response_class=HTMLResponse)
def loan_key_facts(request: Request, offer_id: str) -> Response:
    """The key-facts document of an offer the customer was shown, in the page's language
    (the very bytes GET /v1/me/cash_loans/offers/{id}/key_facts serves)."""
    page, who = _login(request)
    if who is None:
        return page.redirect("/app/login")
    try:
        with page.rt.uow.connect() as conn:
            document = cash_loan_key_facts_html(page.rt, conn, who, offer_id[:48],
                                                page.language)
    except DomainError as exc:
        return page.render("error.html", status_code=http_status(exc),
                           title=page.gettext("Key facts"), message=problem(page, exc))
    response = page.respond(HTMLResponse(document))
    response.headers["Content-Security-Policy"] = document_csp(document)
    return response
