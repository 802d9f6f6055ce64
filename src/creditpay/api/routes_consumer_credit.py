"""Consumer credit journey over HTTP (issues #3, #4, #5): apply for the pay-later line, read
bills, see and take bill installments, repay from the wallet, switch auto-debit, and take a
cash loan (借呗) from its offers.

Every route is for the customer only and acts on the caller's own resources: another
customer's statement, account or offer id is 404 (as if it did not exist), never 403. Every
POST takes an Idempotency-Key; ids of what a POST creates (application, conversion,
repayment, loan) are keyed digests of the caller and that key, so a retry cannot create a
second one even past the idempotency table. The services do the work, in one transaction
each: the risk domain decides (:func:`creditpay.risk.decisions.service.decide`), the payments
service opens the line, the credit domain bills, converts, repays and lends.
"""

from __future__ import annotations

import hmac
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
    InsufficientFundsError,
    LimitExceededError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.parties.service import Principal
from creditpay.platform.validators import check_language

__all__ = ["router", "LINE_PRODUCT", "DECISION_PRODUCT", "require_no_line"]

router = APIRouter(prefix="/v1", tags=["consumer credit"])
CUSTOMER = access(customer=True)
LINE_PRODUCT = "huabei"  # the pay-later line an approved application opens
DECISION_PRODUCT = "credit_line"  # the application policy's product for that line
CURRENCY = "CNY"  # the line product's currency (the application policy decides in it)
LANGUAGES = ("zh-CN", "en")
# The automated decision grants the line: the payments service records who granted it.
DECISION_ENGINE = Principal("operator", "risk.decisions", role="system")

AccountId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]*$")
StatementId = Path(min_length=1, max_length=96, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]*$")
OfferId = Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_]+$")
LangQuery = Query(None, description="zh-CN or en (default: your locale)")


def _keyed_id(request: Request, prefix: str, who: Principal, idempotency_key: str,
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


def _wallet_id(tx: Any, customer_id: str, currency: str) -> int:
    from creditpay import ledger as L
    from creditpay.parties.service import wallet_spec

    return int(L.open_account(tx, wallet_spec(customer_id, currency)).id)


def _own_account_currency(conn: Any, who: Principal, account_id: str) -> str:
    """The currency of the caller's account ``account_id``; 404 for anyone else's."""
    from creditpay.credit.withdrawals import account_currency

    return account_currency(conn, account_id, who.id)


def _own_statement(conn: Any, who: Principal, statement_id: str) -> Any:
    """The caller's statement; 404 naming ``statement_id`` for an unknown id or another
    customer's (never 403: that would tell them it exists)."""
    from creditpay.credit.service import get_statement

    try:
        statement = get_statement(conn, statement_id)
        _own_account_currency(conn, who, statement.account_id)
    except NotFoundError:
        raise NotFoundError(f"no statement {statement_id}", field="statement_id") from None
    return statement


# ======================================================================= applications
def _decision_out(decision: Any, language: str, *, line: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
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
            "line_id": line["line_id"] if line else None,
            "line_product_code": line["product_code"] if line else None,
            "referred": pending or bool(getattr(decision, "referred", False)),
            "reviewed_at": None if reviewed_at is None else reviewed_at.isoformat(),
            "language": language}


def require_no_line(conn: Any, customer_id: str) -> None:
    from creditpay.credit.lines import ConflictLine, customer_line

    try:
        line = customer_line(conn, customer_id, CURRENCY)
    except NotFoundError:
        return
    raise ConflictLine(f"you already have a {CURRENCY} credit line ({line['status']}): "
                       "one line per customer and currency", field="customer_id",
                       line_id=line["line_id"])


def _apply(rt: Runtime, tx: Any, who: Principal, body: S.CreditApplicationIn,
           application_id: str) -> dict[str, Any]:
    from creditpay.platform import audit
    from creditpay.protection.consent import Purpose, require_consent
    from creditpay.protection.consent_refs import reference_of
    from creditpay.risk.decisions.service import decide
    from creditpay.risk.features.platform import platform_events

    language = _language(rt, tx.conn, who, body.language)
    # Identity first (the date of birth is the KYC record's), then the one line per
    # customer, then both consents: a refusal names what is missing and writes nothing.
    date_of_birth = rt.parties.verified_date_of_birth(tx.conn, who.id)
    require_no_line(tx.conn, who.id)
    bureau_consent = require_consent(tx.conn, who.id, Purpose.BUREAU_INQUIRY)
    assessment_consent = require_consent(tx.conn, who.id, Purpose.CREDIT_ASSESSMENT)
    application: dict[str, Any] = {
        "date_of_birth": date_of_birth.isoformat(),
        "monthly_income_minor": body.monthly_income_minor,
        "employment_type": body.employment_type, "kyc_verified": True}
    # Optional declarations: sent only when given (absent means "not declared").
    if body.housing is not None:
        application["housing"] = body.housing
    if body.declared_monthly_obligations_minor is not None:
        application["declared_monthly_obligations_minor"] = \
            body.declared_monthly_obligations_minor
    decision = decide(
        tx, application_id=application_id, customer_id=who.id,
        product_code=DECISION_PRODUCT, application=application, bureau=rt.config.bureau,
        platform_events=platform_events(tx.conn, who.id, as_of=tx.now),
        bureau_consent_reference=reference_of(bureau_consent),
        platform_consent_reference=reference_of(assessment_consent))
    line = None
    if decision.outcome == "approve" and decision.limit_minor:
        line = rt.payments.open_credit_line(tx, DECISION_ENGINE, who.id,
                                            limit_minor=decision.limit_minor,
                                            product_code=LINE_PRODUCT,
                                            currency=decision.currency)
    audit.append(tx, "customer", who.id, "credit.application", "credit_application",
                 application_id, {"decision_id": decision.decision_id,
                                  "outcome": decision.outcome,
                                  "limit_minor": decision.limit_minor,
                                  "line_id": line["line_id"] if line else None})
    return _decision_out(decision, language, line=line)


@router.post("/me/credit_applications", status_code=201,
             response_model=S.CreditApplicationOut,
             summary="Apply for the pay-later line (needs verified identity and the bureau "
                     "inquiry and credit assessment consents)")
def apply_for_credit(request: Request, body: S.CreditApplicationIn,
                     idempotency_key: str = IdempotencyKey,
                     who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    application_id = _keyed_id(request, "app", who, idempotency_key)
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: _apply(rt, tx, who, body, application_id),
                           status_code=201)


@router.get("/me/credit_applications", response_model=S.CreditApplicationList,
            summary="My credit decisions, newest first (outcome, date, limit, reasons)")
def credit_applications(request: Request, lang: Literal["zh-CN", "en"] | None = LangQuery,
                        who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.credit.lines import customer_line
    from creditpay.risk.decisions.queries import customer_decisions

    rt = runtime(request)
    with rt.uow.connect() as conn:
        language = _language(rt, conn, who, lang)
        decisions = customer_decisions(conn, who.id)
        try:
            line = customer_line(conn, who.id, CURRENCY)
        except NotFoundError:
            line = None
    # The line belongs to the approval that opened it: the oldest approval.
    approvals = [d for d in decisions if d.outcome == "approve" and d.limit_minor]
    opener = approvals[-1].decision_id if approvals and line else None
    return {"data": [_decision_out(d, language,
                                   line=line if d.decision_id == opener else None)
                     for d in decisions]}


# ======================================================================= statements
def _statement_out(view: Any) -> dict[str, Any]:
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
            "converted_minor": view.converted_minor, "lines": lines}


@router.get("/me/credit_accounts/{account_id}/statements", response_model=S.StatementList,
            summary="Bills of my credit line, oldest first, with lines and totals")
def statements(request: Request, account_id: str = AccountId,
               who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.credit.service import list_statements

    rt = runtime(request)
    with rt.uow.connect() as conn:
        _own_account_currency(conn, who, account_id)
        return {"data": [_statement_out(v) for v in list_statements(conn, account_id)]}


@router.get("/me/statements/{statement_id}", response_model=S.StatementOut,
            summary="One bill: lines, totals, minimum payment and due date")
def statement(request: Request, statement_id: str = StatementId,
              who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return _statement_out(_own_statement(conn, who, statement_id))


@router.get("/me/statements/{statement_id}/installment_offers",
            response_model=S.BillInstallmentOffersOut,
            summary="What converting this bill (or part) into installments costs, per "
                    "number of installments")
def installment_offers(request: Request, statement_id: str = StatementId,
                       amount_minor: int | None = Query(
                           None, gt=0, le=10_000_000_000,
                           description="minor units (default: all that can be converted)"),
                       who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.credit.bill_installment_offers import (
        bill_installment_offers,
        convertible_minor,
    )

    rt = runtime(request)
    today = rt.clock.today()
    with rt.uow.connect() as conn:
        _own_statement(conn, who, statement_id)
        available = convertible_minor(conn, statement_id, today)
        offers = bill_installment_offers(conn, statement_id=statement_id, today=today,
                                         amount_minor=amount_minor)
    return {"statement_id": statement_id,
            "amount_minor": amount_minor if amount_minor is not None else available,
            "convertible_minor": available, "offers": [o.as_dict() for o in offers]}


@router.post("/me/statements/{statement_id}/installments", status_code=201,
             response_model=S.ConversionOut,
             summary="Convert this bill (or part) into installments (账单分期)")
def convert_statement(request: Request, body: S.ConvertIn, statement_id: str = StatementId,
                      idempotency_key: str = IdempotencyKey,
                      who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.credit.service import convert_statement_to_installments
    from creditpay.platform import audit

    conversion_id = _keyed_id(request, "cv", who, idempotency_key, 32)

    def use_case(tx: Any) -> dict[str, Any]:
        _own_statement(tx.conn, who, statement_id)
        result = convert_statement_to_installments(
            tx, conversion_id=conversion_id, statement_id=statement_id,
            amount_minor=body.amount_minor, periods=body.periods).as_dict()
        result["all_in_annual_cost_percent"] = result.pop("all_in_annual_cost")
        audit.append(tx, "customer", who.id, "credit.statement_converted", "credit_statement",
                     statement_id, {k: result[k] for k in (
                         "conversion_id", "plan_account_id", "amount_minor", "periods",
                         "total_fee_minor", "all_in_annual_cost_percent")})
        return result

    return idempotent_post(request, who.scope_key, body, use_case, status_code=201)


# ======================================================================= repayments
@router.post("/me/credit_repayments", status_code=201, response_model=S.RepaymentOut,
             summary="Repay from my wallet: what is due first, or one account (prepaying it)")
def repay(request: Request, body: S.RepaymentIn, idempotency_key: str = IdempotencyKey,
          who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.credit.service import repay as credit_repay

    rt = runtime(request)
    repayment_id = _keyed_id(request, "rp", who, idempotency_key)

    def use_case(tx: Any) -> dict[str, Any]:
        currency = rt.payments.operated_currency(body.currency)
        if body.account_id is not None and \
                _own_account_currency(tx.conn, who, body.account_id) != currency:
            raise ValidationError(f"account {body.account_id} is not in {currency}",
                                  field="currency")
        available = rt.payments.wallet_balance(tx.conn, who.id, currency)["available_minor"]
        if available < body.amount_minor:
            raise InsufficientFundsError(
                f"your wallet has {available} minor units available, less than the "
                f"{body.amount_minor} to repay; top up first", field="amount_minor",
                available_minor=available)
        try:
            result = credit_repay(tx, repayment_id=repayment_id, customer_id=who.id,
                                  currency=currency, amount_minor=body.amount_minor,
                                  source_account_id=_wallet_id(tx, who.id, currency),
                                  target=body.account_id, channel="customer")
        except InsufficientFundsError:  # a hold taken meanwhile: still the wallet's balance
            raise InsufficientFundsError("your wallet cannot pay this amount now",
                                         field="amount_minor") from None
        out = result.as_dict()
        out.pop("customer_id")
        out["accounts"] = [dict(a) for a in out["accounts"]]
        out["wallet_available_minor"] = rt.payments.wallet_balance(
            tx.conn, who.id, currency)["available_minor"]
        return out

    return idempotent_post(request, who.scope_key, body, use_case, status_code=201)


@router.get("/me/credit_accounts/{account_id}/payoff", response_model=S.PayoffOut,
            summary="What settles this account today (repay it with account_id)")
def payoff(request: Request, account_id: str = AccountId,
           who: Principal = Depends(CUSTOMER)) -> Any:
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
    from creditpay.credit.service import account_installments

    rt = runtime(request)
    with rt.uow.connect() as conn:
        currency = _own_account_currency(conn, who, account_id)
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
    from creditpay.credit.service import set_auto_debit
    from creditpay.platform import audit
    from creditpay.protection.consent import Purpose, require_consent
    from creditpay.protection.consent_refs import reference_of

    def use_case(tx: Any) -> dict[str, Any]:
        currency = _own_account_currency(tx.conn, who, account_id)
        reference = wallet = None
        if body.enabled:
            reference = reference_of(require_consent(tx.conn, who.id, Purpose.AUTO_DEBIT))
            wallet = _wallet_id(tx, who.id, currency)
        set_auto_debit(tx, account_id=account_id, enabled=body.enabled,
                       wallet_account_id=wallet, consent_reference=reference)
        audit.append(tx, "customer", who.id, "credit.auto_debit_changed", "credit_account",
                     account_id, {"enabled": body.enabled, "consent_reference": reference})
        return {"account_id": account_id, "auto_debit_enabled": body.enabled,
                "consent_reference": reference}

    return idempotent_post(request, who.scope_key, body, use_case)


# ======================================================================= cash loans
def _key_facts(rt: Runtime, offer: dict[str, Any], language: str) -> tuple[Any, bytes, str]:
    """(facts, HTML bytes, SHA-256) of a stored offer's key-facts document."""
    from creditpay.credit.cash_loan_offers import key_facts_of
    from creditpay.protection import disclosure

    facts = key_facts_of(offer, rt.payments.policy.lender_name)
    html = disclosure.render_html(facts, language)
    return facts, html, disclosure.document_sha256(html)


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
    from creditpay.credit.cash_loan_offers import loan_headroom, quote_cash_loans
    from creditpay.platform import audit

    rt = runtime(request)

    def use_case(tx: Any) -> dict[str, Any]:
        rt.payments.operated_currency(body.currency)
        language = _language(rt, tx.conn, who, body.language)
        headroom = loan_headroom(tx.conn, who.id, body.currency)
        offers = quote_cash_loans(tx, customer_id=who.id, amount_minor=body.amount_minor,
                                  currency=body.currency, ttl_s=rt.payments.policy.offer_ttl_s)
        shown = [_offer_out(o, language, _key_facts(rt, o, language)[2]) for o in offers]
        audit.append(tx, "customer", who.id, "credit.cash_loan_offers_shown", "customer",
                     who.id, {"amount_minor": body.amount_minor, "currency": body.currency,
                              "offer_ids": [o["offer_id"] for o in shown]})
        return {"amount_minor": body.amount_minor, "currency": body.currency,
                "headroom_minor": headroom.headroom_minor, "offers": shown}

    return idempotent_post(request, who.scope_key, body, use_case)


@router.get("/me/cash_loans/offers/{offer_id}/key_facts", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                             "description": "the key-facts document (HTML)"}},
            summary="Key-facts document of a cash-loan offer you were shown")
def cash_loan_key_facts(request: Request, offer_id: str = OfferId,
                        lang: Literal["zh-CN", "en"] | None = LangQuery,
                        who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.credit.cash_loan_offers import shown_offer

    rt = runtime(request)
    with rt.uow.connect() as conn:
        offer = shown_offer(conn, who.id, offer_id)
        language = _language(rt, conn, who, lang)
    return HTMLResponse(_key_facts(rt, offer, language)[1],
                        headers={"Cache-Control": "no-store"})


def _affordability(rt: Runtime, tx: Any, who: Principal, offer: dict[str, Any],
                   facts: Any) -> int:
    """The new-credit affordability rules, as checkout runs them (the payments service's
    check: recorded; a refusal commits its record and nothing else); returns the check id."""
    from creditpay.credit.affordability import monthly_payment_of

    return int(rt.payments.check_affordability(
        tx, customer_id=who.id, currency=offer["currency"], reference=offer["offer_id"],
        principal_minor=int(offer["amount_minor"]),
        monthly_payment_minor=monthly_payment_of(facts.schedule), is_installment_plan=False))


def _take_loan(rt: Runtime, tx: Any, who: Principal, body: S.CashLoanIn, loan_id: str
               ) -> dict[str, Any]:
    from creditpay.credit import products as P
    from creditpay.credit.cash_loan_offers import loan_headroom, mark_accepted, shown_offer
    from creditpay.credit.service import disburse_cash_loan
    from creditpay.platform import audit
    from creditpay.protection.disclosure import accept_disclosure

    offer = shown_offer(tx.conn, who.id, body.offer_id)
    if offer["loan_id"] is not None:
        raise StateError("this offer was already accepted", field="offer_id",
                         loan_id=offer["loan_id"])
    if offer["expires_at_dt"] <= tx.now or offer["quoted_on_date"] != tx.today:
        raise StateError("the offer has expired; ask for offers again", field="offer_id")
    current = P.default_catalogue().get(offer["product_code"])
    if current.version != int(offer["product_version"]):
        raise StateError("the product's terms changed since this offer; ask for offers "
                         "again", field="offer_id")
    shown = None
    for language in LANGUAGES:
        facts, _, sha256 = _key_facts(rt, offer, language)
        if hmac.compare_digest(sha256, body.key_facts_sha256.lower()):
            shown = (facts, language, sha256)
            break
    if shown is None:
        raise ValidationError("is not the SHA-256 of this offer's key-facts document; read "
                              "the document at key_facts_url and accept again",
                              field="key_facts_sha256")
    facts, language, sha256 = shown
    principal, currency = int(offer["amount_minor"]), offer["currency"]
    headroom = loan_headroom(tx.conn, who.id, currency)
    if principal > headroom.headroom_minor:
        raise LimitExceededError(
            f"you can borrow at most {headroom.headroom_minor} minor units now (your line's "
            f"limit less what you owe and hold)", field="offer_id",
            rule="cash_loan.line_headroom", available_minor=headroom.headroom_minor)
    check_id = _affordability(rt, tx, who, offer, facts)
    acceptance = accept_disclosure(tx, customer_id=who.id, facts=facts, language=language,
                                   shown_sha256=sha256, channel="app")
    view = disburse_cash_loan(tx, loan_id=loan_id, customer_id=who.id, currency=currency,
                              principal_minor=principal, product_code=offer["product_code"],
                              periods=int(offer["periods"]), method=offer["method"],
                              wallet_account_id=_wallet_id(tx, who.id, currency))
    mark_accepted(tx, body.offer_id, loan_id)
    audit.append(tx, "customer", who.id, "credit.cash_loan_accepted", "credit_account",
                 loan_id, {"offer_id": body.offer_id, "product_code": offer["product_code"],
                           "product_version": int(offer["product_version"]),
                           "principal_minor": principal, "currency": currency,
                           "periods": int(offer["periods"]), "method": offer["method"],
                           "apr_percent": offer["apr_percent"],
                           "total_repayable_minor": offer["total_repayable_minor"],
                           "key_facts_sha256": sha256,
                           "disclosure_acceptance_id": acceptance.id,
                           "affordability_check_id": check_id})
    return {"loan_id": view.account_id, "status": view.status,
            "principal_minor": view.principal_minor,
            "next_due_date": view.next_due_date.isoformat() if view.next_due_date else None,
            "offer": _offer_out(offer, language, sha256),
            "disclosure_acceptance_id": acceptance.id, "affordability_check_id": check_id,
            "wallet_available_minor": rt.payments.wallet_balance(
                tx.conn, who.id, currency)["available_minor"]}


@router.post("/me/cash_loans", status_code=201, response_model=S.CashLoanOut,
             summary="Take a cash loan: accept an offer's key facts; the principal is paid "
                     "into my wallet")
def take_cash_loan(request: Request, body: S.CashLoanIn,
                   idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    loan_id = _keyed_id(request, "loan", who, idempotency_key)
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: _take_loan(rt, tx, who, body, loan_id),
                           status_code=201)
