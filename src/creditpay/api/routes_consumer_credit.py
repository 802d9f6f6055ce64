"""Consumer credit journey over HTTP (issues #3, #4, #5): apply for the pay-later line, read
bills, see and take bill installments, repay from the wallet, switch auto-debit, and take a
cash loan (借呗) from its offers.

Every route is for the customer only and acts on the caller's own resources: another
customer's statement, account or offer id is 404 (as if it did not exist), never 403. Every
POST takes an Idempotency-Key; ids of what a POST creates (application, conversion,
repayment, loan) are keyed digests of the caller and that key, so a retry cannot create a
second one even past the idempotency table. Each POST maps its body to a command, runs one
use case in one transaction and maps the result back (docs/architecture.md, "Use cases"):
applying is :func:`creditpay.risk.decisions.applications.apply_for_credit_line`, auto-debit
:func:`creditpay.protection.auto_debit.switch_auto_debit`, cash loans
:mod:`creditpay.protection.cash_loans`, converting and repaying
:mod:`creditpay.credit.self_service`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from creditpay.api import schemas_credit as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.runtime import Runtime
from creditpay.errors import (
    NotFoundError,
)
from creditpay.parties.service import Principal
from creditpay.platform.validators import check_language
from creditpay.protection.disclosure import document_csp
from creditpay.risk.decisions.applications import APPLICATION_PRODUCT

__all__ = ["router", "LINE_PRODUCT", "DECISION_PRODUCT", "credit_line_out", "statement_out",
           "installments_out", "keyed_id", "apply_use_case", "decisions_out", "repay_use_case",
           "auto_debit_use_case", "take_loan_use_case", "installment_offers_out",
           "convert_use_case", "cash_loan_offers_use_case", "cash_loan_key_facts_html"]

router = APIRouter(prefix="/v1", tags=["consumer credit"])
CUSTOMER = access(customer=True)
LINE_PRODUCT = "huabei"  # the pay-later line an approved application opens
DECISION_PRODUCT = APPLICATION_PRODUCT  # the application policy's product for that line
CURRENCY = "CNY"  # the line product's currency (the application policy decides in it)
LANGUAGES = ("zh-CN", "en")

AccountId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]*$")
StatementId = Path(min_length=1, max_length=96, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]*$")
OfferId = Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_]+$")
LangQuery = Query(None, description="zh-CN or en (default: your locale)")


def keyed_id(request: Request, prefix: str, who: Principal, idempotency_key: str,
              length: int = 40) -> str:
    """An id derived from the caller and their Idempotency-Key (keyed digest, no secret
    or personal data in it)."""
    digest = runtime(request).parties.signer.mac(prefix, f"{who.id}:{idempotency_key}"
                                                 .encode())
    return f"{prefix}_{digest[:length]}"


def _language(rt: Runtime, conn: Any, who: Principal, language: str | None) -> str:
    if language is not None:
        return check_language(language, "lang")
    locale = rt.parties.get_customer(conn, who.id).locale
    return locale if locale in LANGUAGES else LANGUAGES[0]


def _own_account_currency(conn: Any, who: Principal, account_id: str) -> str:
    """The currency of the caller's account ``account_id``; 404 for anyone else's."""
    from creditpay.credit.withdrawals import account_currency

    return account_currency(conn, account_id, who.id)


def _own_statement(conn: Any, who: Principal, statement_id: str) -> Any:
    """The caller's statement; 404 naming ``statement_id`` for anyone else's."""
    from creditpay.credit.self_service import own_statement

    return own_statement(conn, who.id, statement_id)


# ======================================================================= the line
def credit_line_out(rt: Runtime, conn: Any, customer_id: str, currency: str = CURRENCY, *,
                    with_bill_in_full: bool = True) -> dict[str, Any]:
    """The customer's own line in ``currency`` as GET /v1/me/credit_line answers it (the web
    app's My credit shows the same dict): :func:`creditpay.credit.service.my_credit_line`
    and what paying the bill in full takes today
    (:func:`creditpay.credit.service.bill_in_full_minor`), in minor units. NotFoundError
    naming ``currency`` without a line. A page that does not show the bill in full leaves
    it out (``with_bill_in_full=False``: it reads every account's installments)."""
    from creditpay.credit.service import bill_in_full_minor, my_credit_line

    line = my_credit_line(conn, customer_id, currency)
    out = {**{k: getattr(line, k) for k in (
        "line_id", "currency", "product_code", "status", "limit_minor", "available_minor",
        "used_minor", "held_minor", "exposure_minor", "disputed_minor")},
        "exposure_by_product": [vars(p) for p in line.exposure_by_product]}
    if with_bill_in_full:
        out["bill_in_full_minor"] = bill_in_full_minor(conn, customer_id, currency,
                                                       rt.clock.today(), catalogue=rt.catalogue)
    return out


# ======================================================================= applications
def _decision_out(decision: Any, language: str, *, line_id: str | None = None,
                  line_product_code: str | None = None) -> dict[str, Any]:
    from creditpay.risk.decisions.queries import consumer_reasons

    # Under review, no offer is made yet (the policy's computed offer is the reviewer's cap).
    pending = decision.outcome == "refer"
    limit_minor = None if pending else decision.limit_minor
    apr = (None if pending or decision.apr_bps is None
           else f"{Decimal(decision.apr_bps) / 100:.2f}")
    reviewed_at = getattr(decision, "reviewed_at", None)
    return {"application_id": decision.application_id, "decision_id": decision.decision_id,
            "decided_at": decision.decided_at.isoformat(),
            "product_code": decision.product_code, "outcome": decision.outcome,
            "grade": decision.grade, "limit_minor": limit_minor,
            "apr_percent": apr, "currency": decision.currency,
            "reasons": consumer_reasons(decision.reasons, language),
            "line_id": line_id, "line_product_code": line_product_code,
            "referred": pending or bool(getattr(decision, "referred", False)),
            "reviewed_at": None if reviewed_at is None else reviewed_at.isoformat(),
            "language": language}


def apply_use_case(rt: Runtime, tx: Any, who: Principal, body: S.CreditApplicationIn,
           application_id: str) -> dict[str, Any]:
    from creditpay.payments.history import customer_activity
    from creditpay.risk.decisions.applications import ApplyForCreditLine, apply_for_credit_line

    language = _language(rt, tx.conn, who, body.language)
    result = apply_for_credit_line(tx, ApplyForCreditLine(
        application_id=application_id, customer_id=who.id,
        monthly_income_minor=body.monthly_income_minor, employment_type=body.employment_type,
        housing=body.housing,
        declared_monthly_obligations_minor=body.declared_monthly_obligations_minor,
        line_product_code=LINE_PRODUCT, currency=CURRENCY,
        decision_product_code=DECISION_PRODUCT),
        identities=rt.parties, bureau=rt.config.bureau, open_line=rt.origination.open_credit_line,
        activity=customer_activity)
    line = result.line
    return _decision_out(result.decision, language,
                         line_id=line.line_id if line else None,
                         line_product_code=line.product_code if line else None)


@router.post("/me/credit_applications", status_code=201,
             response_model=S.CreditApplicationOut,
             summary="Apply for the pay-later line (needs verified identity and the bureau "
                     "inquiry and credit assessment consents)")
def apply_for_credit(request: Request, body: S.CreditApplicationIn,
                     idempotency_key: str = IdempotencyKey,
                     who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Applies for the pay-later line: the application policy decides approve,
    decline or refer (to a person) from the declared income and the bureau report; an approval
    opens the line in the same transaction. Reasons come in the caller's language (a decline's
    are its adverse-action notice). Needs the bureau_inquiry and credit_assessment consents in
    force (403 consent-required naming purpose otherwise) and verified identity; 422 naming a
    bad field. The application id is derived from the key, so a retry never makes a second
    application. Idempotency-Key required: a retry with the same key and body replays the first
    answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    application_id = keyed_id(request, "app", who, idempotency_key)
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: apply_use_case(rt, tx, who, body, application_id),
                           status_code=201)


@router.get("/me/credit_applications", response_model=S.CreditApplicationList,
            summary="My credit decisions, newest first (outcome, date, limit, reasons)")
def credit_applications(request: Request, lang: Literal["zh-CN", "en"] | None = LangQuery,
                        who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's credit decisions, newest first: outcome, grade, limit, APR,
    reasons in the caller's language (lang), the referral state, and the line an approval
    opened. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": decisions_out(conn, who, _language(rt, conn, who, lang))}


def decisions_out(conn: Any, who: Principal, language: str) -> list[dict[str, Any]]:
    """The caller's credit decisions, newest first, as GET /v1/me/credit_applications
    lists them (the web app's apply page shows the same dicts)."""
    from creditpay.credit.lines import customer_line
    from creditpay.risk.decisions.queries import customer_decisions

    decisions = customer_decisions(conn, who.id)
    try:
        line = customer_line(conn, who.id, CURRENCY)
    except NotFoundError:
        line = None
    # The line belongs to the approval that opened it: the oldest approval.
    approvals = [d for d in decisions if d.outcome == "approve" and d.limit_minor]
    opener = approvals[-1].decision_id if approvals and line else None
    return [_decision_out(d, language, **(
        {"line_id": line["line_id"], "line_product_code": line["product_code"]}
        if line is not None and d.decision_id == opener else {}))
        for d in decisions]


# ======================================================================= statements
def statement_out(view: Any) -> dict[str, Any]:
    lines = []
    for line in view.lines:
        row = dict(line)
        if row.get("due_date") is not None:
            row["due_date"] = row["due_date"].isoformat()
        lines.append(row)
    return {"statement_id": view.statement_id, "account_id": view.account_id,
            "statement_date": view.statement_date.isoformat(),
            "due_date": view.due_date.isoformat(),
            "opening_balance_minor": view.opening_balance_minor,
            "new_principal_minor": view.new_principal_minor,
            "interest_minor": view.interest_minor, "penalty_minor": view.penalty_minor,
            "fee_minor": view.fee_minor, "installments_minor": view.installments_minor,
            "closing_balance_minor": view.closing_balance_minor,
            "minimum_payment_minor": view.minimum_payment_minor,
            "converted_minor": view.converted_minor, "disputed_minor": view.disputed_minor,
            "lines": lines}


@router.get("/me/credit_accounts/{account_id}/statements", response_model=S.StatementList,
            summary="Bills of my credit line, oldest first, with lines and totals")
def statements(request: Request, account_id: str = AccountId,
               who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The bills of one of the caller's credit accounts, oldest first, with their
    lines, totals, minimum payment and due date. 404 not-found for another's account. Changes
    nothing."""
    from creditpay.credit.service import list_statements

    rt = runtime(request)
    with rt.uow.connect() as conn:
        _own_account_currency(conn, who, account_id)
        return {"data": [statement_out(v) for v in list_statements(conn, account_id)]}


@router.get("/me/statements/{statement_id}", response_model=S.StatementOut,
            summary="One bill: lines, totals, minimum payment and due date")
def statement(request: Request, statement_id: str = StatementId,
              who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. One of the caller's bills: its lines (purchases, interest, penalty, fees,
    installments of plans), the bill total, minimum payment and due date. 404 not-found naming
    statement_id for another's bill. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return statement_out(_own_statement(conn, who, statement_id))


@router.get("/me/statements/{statement_id}/installment_offers",
            response_model=S.BillInstallmentOffersOut,
            summary="What converting this bill (or part) into installments costs, per "
                    "number of installments")
def installment_offers(request: Request, statement_id: str = StatementId,
                       amount_minor: int | None = Query(
                           None, gt=0, le=10_000_000_000,
                           description="minor units (default: all that can be converted)"),
                       who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. What converting this bill (or amount_minor of it) into installments costs, for
    each number of installments: fee per period, total cost, APR, all-in annual cost and
    schedule, and the most that can be converted today. 404 for another's bill. Changes
    nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return installment_offers_out(rt, conn, who, statement_id, amount_minor)


def installment_offers_out(rt: Runtime, conn: Any, who: Principal, statement_id: str,
                           amount_minor: int | None) -> dict[str, Any]:
    """GET .../installment_offers's answer (the web app's convert page shows it too):
    what converting ``amount_minor`` (default: all that can be) of the caller's bill costs
    per number of installments, minor units."""
    from creditpay.credit.bill_installment_offers import (
        bill_installment_offers,
        convertible_minor,
    )

    today = rt.clock.today()
    _own_statement(conn, who, statement_id)
    available = convertible_minor(conn, statement_id, today)
    offers = bill_installment_offers(conn, statement_id=statement_id, today=today,
                                     amount_minor=amount_minor, catalogue=rt.catalogue)
    return {"statement_id": statement_id,
            "amount_minor": amount_minor if amount_minor is not None else available,
            "convertible_minor": available, "offers": [o.as_dict() for o in offers]}


@router.post("/me/statements/{statement_id}/installments", status_code=201,
             response_model=S.ConversionOut,
             summary="Convert this bill (or part) into installments (账单分期)")
def convert_statement(request: Request, body: S.ConvertIn, statement_id: str = StatementId,
                      idempotency_key: str = IdempotencyKey,
                      who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Converts this bill, or part of it, into installments (账单分期): a plan is opened
    for the amount at the offered fee and the bill's amount due is reduced. 409 invalid-state
    when the bill is past its due date or has nothing left to convert; 422 naming amount_minor
    beyond the bill's unpaid principal, or periods; 404 for another's bill. Idempotency-Key
    required: a retry with the same key and body replays the first answer; another body with
    that key is 409 idempotency-conflict."""
    rt = runtime(request)
    conversion_id = keyed_id(request, "cv", who, idempotency_key, 32)
    return idempotent_post(request, who.scope_key, body, lambda tx: convert_use_case(
        rt, tx, who, statement_id, body, conversion_id), status_code=201)


def convert_use_case(rt: Runtime, tx: Any, who: Principal, statement_id: str,
                     body: S.ConvertIn, conversion_id: str) -> dict[str, Any]:
    """POST .../installments's use case (the web app's convert page runs it too)."""
    from creditpay.credit.self_service import ConvertStatement, convert_statement

    result = convert_statement(tx, ConvertStatement(
        customer_id=who.id, statement_id=statement_id, conversion_id=conversion_id,
        amount_minor=body.amount_minor, periods=body.periods),
        catalogue=rt.catalogue).as_dict()
    result["all_in_annual_cost_percent"] = result.pop("all_in_annual_cost")
    return result


# ======================================================================= repayments
@router.post("/me/credit_repayments", status_code=201, response_model=S.RepaymentOut,
             summary="Repay from my wallet: what is due first, or one account (prepaying it)")
def repay(request: Request, body: S.RepaymentIn, idempotency_key: str = IdempotencyKey,
          who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Repays from the caller's wallet: by default what is due, oldest first; with
    account_id, that account (money beyond what is due prepays it). The answer splits the
    amount into principal, interest, fees, penalty and prepayment per account. 409
    insufficient-funds when the wallet is short; 404 for another's account; 422 naming
    amount_minor or currency. Idempotency-Key required: a retry with the same key and body
    replays the first answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    repayment_id = keyed_id(request, "rp", who, idempotency_key)
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: repay_use_case(rt, tx, who, body, repayment_id),
                           status_code=201)


def repay_use_case(rt: Runtime, tx: Any, who: Principal, body: S.RepaymentIn,
                   repayment_id: str) -> dict[str, Any]:
    """POST /v1/me/credit_repayments's use case (the web app's repay page runs it too):
    the allocation of the repayment, minor units."""
    from creditpay.credit.self_service import RepayFromWallet, repay_from_wallet

    currency = rt.payments.operated_currency(body.currency)
    repaid = repay_from_wallet(tx, RepayFromWallet(
        customer_id=who.id, repayment_id=repayment_id, currency=currency,
        amount_minor=body.amount_minor, account_id=body.account_id),
        catalogue=rt.catalogue)
    out = repaid.repayment.as_dict()
    out.pop("customer_id")
    out["accounts"] = [dict(a) for a in out["accounts"]]
    out["wallet_available_minor"] = repaid.wallet_available_minor
    return out


@router.get("/me/credit_accounts/{account_id}/payoff", response_model=S.PayoffOut,
            summary="What settles this account today (repay it with account_id)")
def payoff(request: Request, account_id: str = AccountId,
           who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The amount that settles one of the caller's accounts today (repay it with
    account_id). 404 for another's account. Changes nothing."""
    from creditpay.credit.service import payoff_amount

    rt = runtime(request)
    with rt.uow.connect() as conn:
        currency = _own_account_currency(conn, who, account_id)
        amount = payoff_amount(conn, account_id)
    return {"account_id": account_id, "as_of": rt.clock.today().isoformat(),
            "currency": currency, "payoff_minor": amount}


@router.get("/me/credit_accounts/{account_id}/installments",
            response_model=S.AccountInstallmentsOut,
            summary="The installments of my plan or loan, by due date: those still to pay "
                    "are what will be billed when each is paid on its due date")
def installments(request: Request, account_id: str = AccountId,
                 who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The installments of one of the caller's plans or loans, by due date, with
    status and what was paid; a prepayment or refund replaces the rows not yet billed. 404 for
    another's account. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        currency = _own_account_currency(conn, who, account_id)
        return installments_out(conn, account_id, currency)


def installments_out(conn: Any, account_id: str, currency: str) -> dict[str, Any]:
    """The schedule of plan or loan ``account_id`` as GET .../installments answers it (the
    web app's My credit shows the same dict)."""
    from creditpay.credit.service import account_installments

    rows = account_installments(conn, account_id)
    return {"account_id": account_id, "currency": currency,
            "data": [{"number": r.number, "due_date": r.due_date.isoformat(),
                      "status": r.status, "principal_minor": r.principal_minor,
                      "interest_minor": r.interest_minor, "fee_minor": r.fee_minor,
                      "total_minor": r.total_minor, "paid_minor": r.paid_minor}
                     for r in rows]}


@router.post("/me/credit_accounts/{account_id}/auto_debit", response_model=S.AutoDebitOut,
             summary="Switch auto-debit from my wallet on the due day (needs my auto-debit "
                     "consent to switch on)")
def auto_debit(request: Request, body: S.AutoDebitIn, account_id: str = AccountId,
               idempotency_key: str = IdempotencyKey,
               who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Switches auto-debit from the caller's wallet on the due day for one account.
    Switching on needs the caller's auto_debit consent in force (403 consent-required naming
    purpose otherwise); 404 for another's account. Idempotency-Key required: a retry with the
    same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: auto_debit_use_case(tx, who, account_id, body))


def auto_debit_use_case(tx: Any, who: Principal, account_id: str, body: S.AutoDebitIn
                        ) -> dict[str, Any]:
    """POST .../auto_debit's use case (the web app's switch runs it too)."""
    from creditpay.protection.auto_debit import SwitchAutoDebit, switch_auto_debit

    switched = switch_auto_debit(tx, SwitchAutoDebit(customer_id=who.id, account_id=account_id,
                                                     enabled=body.enabled))
    return {"account_id": switched.account_id, "auto_debit_enabled": switched.enabled,
            "consent_reference": switched.consent_reference}


# ======================================================================= cash loans
def _offer_out(offer: dict[str, Any], language: str, sha256: str) -> dict[str, Any]:
    shown = {k: v for k, v in offer.items() if k not in ("loan_id", "expires_at_dt",
                                                         "quoted_on_date")}
    return {**shown, "key_facts_sha256": sha256, "key_facts_language": language,
            "key_facts_url": f"/v1/me/cash_loans/offers/{offer['offer_id']}/key_facts"
                             f"?lang={language}"}


@router.post("/me/cash_loans/offers", response_model=S.CashLoanOffersOut,
             summary="Cash-loan offers for an amount, each with its full cost and key facts")
def cash_loan_offers(request: Request, body: S.CashLoanOffersIn,
                     idempotency_key: str = IdempotencyKey,
                     who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Cash-loan offers (借呗) for an amount, each with its full cost (interest, fees,
    APR, all-in annual cost), schedule and key-facts document; offers are stored for 15 minutes
    and a loan is taken only from one of them. 409 limit-exceeded beyond the headroom (line
    limit less what is owed and held); 422 naming amount_minor or currency. Idempotency-Key
    required: a retry with the same key and body replays the first answer; another body with
    that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: cash_loan_offers_use_case(rt, tx, who, body))


def cash_loan_offers_use_case(rt: Runtime, tx: Any, who: Principal, body: S.CashLoanOffersIn
                              ) -> dict[str, Any]:
    """POST /v1/me/cash_loans/offers's use case (the web app's cash-loan page runs it
    too): the offers, each with its full cost and the hash of its key facts."""
    from creditpay.protection.cash_loans import ShowCashLoanOffers, show_cash_loan_offers

    rt.payments.operated_currency(body.currency)
    language = _language(rt, tx.conn, who, body.language)
    shown = show_cash_loan_offers(tx, ShowCashLoanOffers(
        customer_id=who.id, amount_minor=body.amount_minor, currency=body.currency,
        language=language, ttl_s=rt.payments.policy.offer_ttl_s,
        lender_name=rt.payments.policy.lender_name), catalogue=rt.catalogue)
    return {"amount_minor": shown.amount_minor, "currency": shown.currency,
            "headroom_minor": shown.headroom_minor,
            "offers": [_offer_out(o, language, sha256) for o, sha256 in shown.offers]}


@router.get("/me/cash_loans/offers/{offer_id}/key_facts", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                             "description": "the key-facts document (HTML)"}},
            summary="Key-facts document of a cash-loan offer you were shown")
def cash_loan_key_facts(request: Request, offer_id: str = OfferId,
                        lang: Literal["zh-CN", "en"] | None = LangQuery,
                        who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The key-facts document (HTML, zh-CN or en) of a cash-loan offer the caller was
    shown; its SHA-256 is the offer's key_facts_sha256. 404 for an offer not shown to the
    caller. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        document = cash_loan_key_facts_html(rt, conn, who, offer_id, lang)
    return HTMLResponse(document, headers={"Cache-Control": "no-store",
                                           "Content-Security-Policy": document_csp(document)})


def cash_loan_key_facts_html(rt: Runtime, conn: Any, who: Principal, offer_id: str,
                             language: str | None) -> bytes:
    """The key-facts document of a cash-loan offer the caller was shown, in ``language``
    (default: their locale): the bytes whose SHA-256 accepting the offer names."""
    from creditpay.credit.cash_loan_offers import shown_offer
    from creditpay.protection.cash_loans import key_facts_document

    offer = shown_offer(conn, who.id, offer_id)
    document = key_facts_document(offer, _language(rt, conn, who, language),
                                  rt.payments.policy.lender_name, catalogue=rt.catalogue)
    return bytes(document.html)


def take_loan_use_case(rt: Runtime, tx: Any, who: Principal, body: S.CashLoanIn, loan_id: str
               ) -> dict[str, Any]:
    from creditpay.protection.cash_loans import TakeCashLoan, take_cash_loan

    taken = take_cash_loan(tx, TakeCashLoan(
        customer_id=who.id, offer_id=body.offer_id, key_facts_sha256=body.key_facts_sha256,
        loan_id=loan_id, lender_name=rt.payments.policy.lender_name, languages=LANGUAGES),
        check_affordability=rt.origination.check_affordability, catalogue=rt.catalogue,
        funding=rt.funding)
    view, currency = taken.loan, taken.offer["currency"]
    return {"loan_id": view.account_id, "status": view.status,
            "principal_minor": view.principal_minor,
            "next_due_date": view.next_due_date.isoformat() if view.next_due_date else None,
            "offer": _offer_out(taken.offer, taken.language, taken.key_facts_sha256),
            "disclosure_acceptance_id": taken.disclosure_acceptance_id,
            "affordability_check_id": taken.affordability_check_id,
            "wallet_available_minor": rt.payments.wallet_balance(
                tx.conn, who.id, currency)["available_minor"]}


@router.post("/me/cash_loans", status_code=201, response_model=S.CashLoanOut,
             summary="Take a cash loan: accept an offer's key facts; the principal is paid "
                     "into my wallet")
def take_cash_loan(request: Request, body: S.CashLoanIn,
                   idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Takes a cash loan from an offer the caller was shown, sending the
    key_facts_sha256 of the document read: in one transaction the acceptance is recorded,
    affordability checked, the loan opened and the principal paid into the wallet. 422 naming
    key_facts_sha256 when it is not the offer's; 404 for an offer not shown to the caller; 409
    invalid-state naming offer_id when it expired, was already accepted or its product's terms
    changed; 409 limit-exceeded naming the failing rule. Idempotency-Key required: a retry with
    the same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    rt = runtime(request)
    loan_id = keyed_id(request, "loan", who, idempotency_key)
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: take_loan_use_case(rt, tx, who, body, loan_id),
                           status_code=201)
