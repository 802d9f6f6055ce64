"""The consumer's disputes at ``/app/disputes`` (issue #20): the payments they may dispute
("Dispute this payment", also linked from each plan on My credit), the form, and their
disputes with their status and a withdraw button. Each form runs as its JSON route runs it
(``POST /v1/me/disputes``, ``POST /v1/me/disputes/{id}/withdraw``): same use case, same
idempotency key handling; no rule of its own."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api.routes_disputes import DisputeIn, DisputeOut
from creditpay.errors import DomainError, ValidationError
from creditpay.parties.service import Principal
from creditpay.web.credit_pages import _amount, _model, _once, problem
from creditpay.web.framework import (
    KEY_FIELD,
    N_,
    Page,
    customer_page,
    form_post,
    http_status,
    new_form_key,
)

__all__ = ["router"]

router = APIRouter(prefix="/app", include_in_schema=False)
REASONS = {"not_received": N_("I did not receive it"),
           "not_as_described": N_("It is not as described"),
           "unauthorised": N_("I did not make this payment"),
           "duplicate": N_("I was charged twice")}
STATUS = {"open": N_("Waiting for the merchant"), "under_review": N_("Being reviewed by us"),
          "resolved_consumer": N_("Decided for you: refunded"),
          "resolved_merchant": N_("Decided for the merchant"),
          "withdrawn": N_("Withdrawn"), "accepted": N_("The merchant refunded you")}
FUNDING = {"balance": N_("Wallet balance"), "card": N_("Card"),
           "credit_line": N_("Pay later (credit line)"), "installment_plan": N_("Installments")}


def _view(page: Page, who: Principal, *, status_code: int = 200, error: str | None = None,
          typed: dict[str, str] | None = None) -> Response:
    disputes = page.rt.payments.disputes
    with page.rt.uow.connect() as conn:
        mine = disputes.list_for(conn, who)
        payments = disputes.disputable_payments(conn, who)
    typed = dict(typed or {})
    account = page.request.query_params.get("account")
    chosen = page.request.query_params.get("payment")
    if not typed.get("payment_intent_id"):
        for p in payments:
            if (account and p["account_id"] == account) or p["payment_intent_id"] == chosen:
                typed["payment_intent_id"] = p["payment_intent_id"]
    return page.render("disputes.html", status_code=status_code, disputes=mine,
                       payments=[p for p in payments if p["disputable_minor"] > 0
                                 and p["open_dispute_id"] is None],
                       reasons=REASONS, status_label=STATUS, funding_label=FUNDING,
                       key=new_form_key(), error=error, typed=typed)


@router.get("/disputes", response_class=HTMLResponse)
def disputes(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return page.redirect("/app/login")
    return _view(page, who)


@form_post(router, "/disputes")
def open_dispute(page: Page, form: dict[str, str]) -> Response:
    """Dispute a payment (as POST /v1/me/disputes)."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    typed = {name: form.get(name, "")[:2000] for name in
             ("payment_intent_id", "reason", "amount", "description")}
    try:
        amount = _amount(typed["amount"], "amount_minor") if typed["amount"].strip() \
            else None
        body = _model(DisputeIn, payment_intent_id=typed["payment_intent_id"],
                      reason=typed["reason"], amount_minor=amount,
                      description=typed["description"].strip() or None)
        _once(page, who, key=form.get(KEY_FIELD, ""), api_path="/v1/me/disputes", body=body,
              response_model=DisputeOut, use_case=lambda tx: page.rt.payments.disputes
              .open_dispute(tx, who, payment_intent_id=body.payment_intent_id,
                            reason=body.reason, amount_minor=body.amount_minor,
                            description=body.description))
    except DomainError as exc:
        return _view(page, who, status_code=http_status(exc), error=_refusal(page, exc),
                     typed=typed)
    page.notices.append(page.gettext(
        "Your dispute is open. The merchant has until the date shown to answer; any "
        "installment plan for this payment is paused until it is settled."))
    return _view(page, who)


@form_post(router, "/disputes/{dispute_id}/withdraw")
def withdraw(page: Page, form: dict[str, str]) -> Response:
    """Withdraw a dispute (as POST /v1/me/disputes/{id}/withdraw)."""
    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    dispute_id = str(page.request.path_params["dispute_id"])[:32]
    try:
        _once(page, who, key=form.get(KEY_FIELD, ""),
              api_path=f"/v1/me/disputes/{dispute_id}/withdraw", body=None,
              response_model=DisputeOut, status_code=200,
              use_case=lambda tx: page.rt.payments.disputes.withdraw(tx, who, dispute_id))
    except DomainError as exc:
        return _view(page, who, status_code=http_status(exc), error=_refusal(page, exc))
    page.notices.append(page.gettext("Your dispute is withdrawn. Your installments go on, "
                                     "each due date later by the days it was paused."))
    return _view(page, who)


def _refusal(page: Page, exc: DomainError) -> str:
    _ = page.gettext
    if isinstance(exc, ValidationError) and exc.field == "reason":
        return _("Choose why you dispute the payment.")
    if isinstance(exc, ValidationError) and exc.field == "payment_intent_id":
        return _("Choose the payment you dispute.")
    if exc.field == "amount_minor":
        return _("Enter an amount in yuan above zero, like 12.34, and no more than is left.")
    if exc.field == "payment_intent_id" and exc.status == 409:
        return _("This payment cannot be disputed now: a dispute is already open, it is "
                 "fully refunded, or the time to dispute it has passed.")
    return problem(page, exc)


