"""The hosted checkout (issue #15 item 3) at ``/app/checkout/<token>``: the page a merchant
sends a shopper to with the intent's ``checkout_url``.

The shopper sees the merchant, the amount and what is bought; logs in (the app's login,
back here afterwards); sees every way to pay with its full cost (wallet balance, each linked
card, the credit line, each installment plan with its key facts one tap away), picks one
explicitly (nothing is preselected), passes the one-time code when asked, and is sent back
to the merchant's ``return_url`` with ``intent_id`` and ``status`` (without one, a receipt).

No business rule here: the link is :mod:`creditpay.payments.checkout_links`; the offers,
key facts and confirm are the very ``Payments`` methods the JSON routes call
(``POST .../credit_offers``, ``GET .../key_facts``, ``POST .../confirm``, under an
Idempotency-Key like the API's).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.errors import (
    ConflictError,
    DomainError,
    InsufficientFundsError,
    LimitExceededError,
    NotFoundError,
    ValidationError,
)
from creditpay.parties.service import Principal, StepUpRequired, WrongCode
from creditpay.payments.checkout_links import back_to_merchant, is_payable
from creditpay.payments.common import PaymentDeclinedError
from creditpay.protection.disclosure import document_csp
from creditpay.web.framework import (
    N_,
    PAGE_CSP,
    Page,
    error_text,
    form_post,
    new_form_key,
    page_for,
    run_as_route,
)

__all__ = ["router"]

router = APIRouter(prefix="/app/checkout", include_in_schema=False)

FUNDING = {"balance": N_("Wallet balance"), "card": N_("Card"),
           "credit_line": N_("Pay later with my credit line"),
           "installment_plan": N_("Installment plan")}
CLOSED = {"requires_capture": N_("This payment is complete."),
          "succeeded": N_("This payment is complete."),
          "in_review": N_("This payment is being checked. The shop will let you know."),
          "declined": N_("This payment was declined."),
          "canceled": N_("The shop cancelled this payment."),
          "expired": N_("This checkout link has expired."),
          "requires_confirmation": N_("This checkout link has expired.")}
_CHOICE = "choice"
# The consumer app shows times in China Standard Time (the rate lock's end).
_SHANGHAI = ZoneInfo("Asia/Shanghai")


# ----------------------------------------------------------------------- reads
def _intent(page: Page, token: str) -> Any | None:
    with page.rt.uow.connect() as conn:
        return page.rt.payments.intents.intent_by_checkout_token(conn, token)


def _merchant_name(page: Page, row: Any) -> str:
    with page.rt.uow.connect() as conn:
        return str(page.rt.parties.get_merchant(conn, row.merchant_id).name)


def _respond(page: Page, response: Response, row: Any) -> Response:
    """The page's CSP, with the merchant's origin allowed as a form target: a form here
    may end in a redirect to ``return_url``, and browsers check ``form-action`` on it."""
    if row.return_url:
        parts = urlsplit(row.return_url)
        response.headers["Content-Security-Policy"] = PAGE_CSP.replace(
            "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}")
    return response


def _not_found(page: Page) -> Response:
    return page.render("error.html", status_code=404, title=page.gettext(
        "This checkout link does not work"), message=page.gettext(
        "Check the link the shop gave you, or go back to the shop and start again."))


# ----------------------------------------------------------------------- the page
@router.get("/{token}", response_class=HTMLResponse)
def checkout(request: Request, token: str) -> Response:
    page = page_for(request)
    row = _intent(page, token)
    if row is None:
        return _not_found(page)
    if not is_payable(row, page.rt.clock.now()):
        return _closed(page, row, token)
    if page.principal is None:
        return _respond(page, page.render(
            "checkout_login.html", intent=row, merchant=_merchant_name(page, row),
            token=token, login_url=f"/app/login?next=/app/checkout/{token}",
            back=_back(row)), row)
    return _choose(page, row, token, page.principal)


def _back(row: Any) -> str | None:
    """Where "back to the shop" goes: ``return_url`` with the intent's id and status."""
    return back_to_merchant(row.return_url, row.id, row.status) if row.return_url else None


def _closed(page: Page, row: Any, token: str, status_code: int = 200) -> Response:
    """The link no longer pays: paid (a receipt for the payer), declined, cancelled,
    expired; with the way back to the shop."""
    now = page.rt.clock.now()
    status = row.status if row.status != "requires_confirmation" or now >= row.expires_at \
        else "requires_confirmation"
    payer = page.principal is not None and row.customer_id == page.principal.id
    fx = None
    if payer and page.principal is not None:
        # Paying abroad: the receipt shows the accepted conversion (rates, markup, CNY).
        with page.rt.uow.connect() as conn:
            fx = page.rt.payments.get_intent_view(conn, page.principal, row.id).get("fx")
    return _respond(page, page.render(
        "checkout_done.html", status_code=status_code, intent=row,
        merchant=_merchant_name(page, row), message=page.gettext(CLOSED[status]),
        payer=payer, funding=FUNDING, back=_back(row), token=token,
        offer=row.accepted_offer or None, fx=fx, fx_locked_until=None), row)


def _options(page: Page, row: Any, who: Principal) -> dict[str, Any]:
    """Every way to pay, with its cost: the wallet, the cards, and credit's offers for
    this payment (quoted as ``POST /v1/payment_intents/{id}/credit_offers`` does)."""
    rt = page.rt
    fx = None
    pay_amount, pay_currency = int(row.amount_minor), str(row.currency)
    if row.currency != rt.payments.policy.home_currency:
        # Paying abroad: the CNY cost from a quote locked for this customer, shown before
        # any way to pay (no conversion without their choice); a new one once it expired.
        fx = rt.uow.run(lambda tx: rt.payments.fx_quote(tx, who, row.id))
        pay_amount, pay_currency = int(fx["sell_amount_minor"]), str(fx["sell_currency"])
    with rt.uow.connect() as conn:
        wallet = rt.payments.wallet_balance(conn, who.id, pay_currency)
        cards = rt.parties.list_cards(conn, who.id)
    try:
        quote = rt.uow.run(lambda tx: rt.payments.quote_offers(
            tx, who, row.id, language=page.language))
        offers = quote["offers"]
    except DomainError:
        # No credit for this payment (no line, credit not offered): the other ways remain.
        offers = []
    locked = None
    if fx is not None:
        expires = dt.datetime.fromisoformat(str(fx["expires_at"]))
        locked = expires.astimezone(_SHANGHAI).strftime("%H:%M")
    return {"wallet": wallet, "cards": cards, "offers": offers, "fx": fx,
            "pay": {"amount_minor": pay_amount, "currency": pay_currency},
            "fx_locked_until": locked,
            "step_up": pay_amount >= rt.payments.policy.step_up_amount_minor}


def _choose(page: Page, row: Any, token: str, who: Principal, *, error: str | None = None,
            chosen: str | None = None, status_code: int = 200) -> Response:
    return _respond(page, page.render(
        "checkout.html", status_code=status_code, intent=row,
        merchant=_merchant_name(page, row), token=token, error=error, chosen=chosen,
        funding=FUNDING, idem=new_form_key(), back=_back(row),
        **_options(page, row, who)), row)


def _parse_choice(value: str) -> dict[str, Any] | None:
    """The confirm arguments of a radio value: ``balance``, ``card:<card id>`` or
    ``<credit_line|installment_plan>:<offer id>:<key-facts sha256>``."""
    kind, _, rest = value.partition(":")
    if kind == "balance" and not rest:
        return {"funding": "balance"}
    if kind == "card" and rest:
        return {"funding": "card", "card_id": rest}
    offer_id, _, sha = rest.partition(":")
    if kind in ("credit_line", "installment_plan") and offer_id and sha:
        return {"funding": kind, "offer_id": offer_id, "key_facts_sha256": sha}
    return None


@form_post(router, "/{token}")
def pay(page: Page, form: dict[str, str]) -> Response:
    token = page.request.path_params["token"]
    row = _intent(page, token)
    if row is None:
        return _not_found(page)
    if not is_payable(row, page.rt.clock.now()):
        return _closed(page, row, token, status_code=409)
    who = page.principal
    if who is None:
        return page.redirect(f"/app/login?next=/app/checkout/{token}")
    chosen = form.get(_CHOICE, "")
    args = _parse_choice(chosen)
    if args is None:
        return _choose(page, row, token, who, status_code=422, error=page.gettext(
            "Choose how to pay: pick one of the ways to pay below."))
    challenge, code = form.get("challenge_id") or None, form.get("code", "").strip() or None
    if challenge and not code:
        return _code_form(page, row, token, chosen, challenge, status_code=422,
                          quote_id=form.get("quote_id") or None,
                          error=page.gettext("Enter the one-time code."))
    rt = page.rt
    api_path = f"/v1/payment_intents/{row.id}/confirm"
    quote_id = form.get("quote_id") or None  # paying abroad: the conversion shown
    body = {**args, "step_up_challenge_id": challenge, "step_up_code": code,
            **({"quote_id": quote_id} if quote_id else {})}
    try:
        # As the API's confirm: once per Idempotency-Key (the form's, made when it was
        # shown), so a double submit pays once.
        response = run_as_route(
            page, who, key=form.get("idempotency_key"), api_path=api_path, body=body,
            use_case=lambda tx: rt.payments.confirm(
                tx, who, row.id, funding=args["funding"], card_id=args.get("card_id"),
                offer_id=args.get("offer_id"), step_up_challenge_id=challenge,
                step_up_code=code, key_facts_sha256=args.get("key_facts_sha256"),
                quote_id=quote_id))
    except StepUpRequired as exc:
        return _code_form(page, row, token, chosen, str(exc.extra["challenge_id"]),
                          quote_id=quote_id)
    except WrongCode as exc:
        return _code_form(page, row, token, chosen, challenge or "", status_code=401,
                          quote_id=quote_id,
                          error=error_text(page, exc))
    except DomainError as exc:
        return _refused(page, token, who, exc, chosen)
    if response.status_code >= 400:
        # A replayed decline (its effects were committed with the key).
        return _refused(page, token, who, PaymentDeclinedError("declined"), chosen)
    paid = _intent(page, token)
    assert paid is not None
    if paid.return_url:
        return _respond(page, page.redirect(back_to_merchant(paid.return_url, paid.id,
                                                             paid.status)), paid)
    return page.redirect(f"/app/checkout/{token}")


def _refused(page: Page, token: str, who: Principal, exc: DomainError, chosen: str
             ) -> Response:
    """A refusal in plain words; the shopper picks another way while the intent can
    still be paid (a risk decline ends it: then the page says so)."""
    row = _intent(page, token)
    assert row is not None
    if not is_payable(row, page.rt.clock.now()):
        return _closed(page, row, token, status_code=402)
    return _choose(page, row, token, who, status_code=getattr(exc, "status", 422) or 422,
                   error=_refusal_text(page, exc), chosen=chosen)


def _refusal_text(page: Page, exc: DomainError) -> str:
    _ = page.gettext
    if isinstance(exc, PaymentDeclinedError):
        return _("The payment was declined by our security checks. Pick another way to pay "
                 "or contact us.")
    if isinstance(exc, InsufficientFundsError):
        if exc.field == "down_payment_minor":
            return _("Your wallet balance is too low for this plan's down payment. Top up "
                     "or pick another way to pay.")
        return _("There is not enough money for this way to pay. Pick another one.")
    if isinstance(exc, LimitExceededError):
        message = exc.extra.get("message_zh_cn" if page.language == "zh-CN" else
                                "message_en")
        text = _("This credit is not available to you for this payment: it would go "
                 "beyond what you can afford or your available credit. Pick another way "
                 "to pay.")
        return f"{text} {message}" if message else text
    if exc.field == "quote_id":
        return _("The exchange rate you were shown is no longer locked. Check the new amount "
                 "and choose again.")
    if isinstance(exc, ConflictError) and exc.field == "offer_id":
        return _("The offers have changed since you opened this page. Check them again "
                 "and choose.")
    if isinstance(exc, (ValidationError, NotFoundError)) and exc.field in (
            "offer_id", "key_facts_sha256", "card_id", "funding"):
        return _("That way to pay is no longer available. Pick another one.")
    if exc.__class__.__name__ == "CreditUnavailableError":
        return _("Credit is not available right now. Pick another way to pay.")
    return error_text(page, exc)


def _code_form(page: Page, row: Any, token: str, chosen: str, challenge: str, *,
               error: str | None = None, status_code: int = 200,
               quote_id: str | None = None) -> Response:
    pay = {"amount_minor": int(row.amount_minor), "currency": str(row.currency)}
    if quote_id is not None and page.principal is not None:
        # Paying abroad: the button names the CNY amount of the conversion the consumer
        # chose (the quote shown to them for this intent), as the choice page did.
        with page.rt.uow.connect() as conn:
            fx = page.rt.payments.cross_border.fx_of(conn, row, page.principal)
        if fx is not None and fx["quote_id"] == quote_id:
            pay = {"amount_minor": int(fx["sell_amount_minor"]),
                   "currency": str(fx["sell_currency"])}
    return _respond(page, page.render(
        "checkout_code.html", status_code=status_code, intent=row,
        merchant=_merchant_name(page, row), token=token, chosen=chosen, challenge=challenge,
        error=error, idem=new_form_key(), quote_id=quote_id, pay=pay), row)


@form_post(router, "/{token}/back")
def back_to_shop(page: Page, form: dict[str, str]) -> Response:
    """The shopper leaves without paying: back to ``return_url`` with the intent's
    status as it is (the intent stays open for the shop to cancel or let expire)."""
    token = page.request.path_params["token"]
    row = _intent(page, token)
    if row is None:
        return _not_found(page)
    back = _back(row)
    return _respond(page, page.redirect(back if back else "/app/home"), row)


# ----------------------------------------------------------------------- key facts
@router.get("/{token}/key_facts/{offer_id}", response_class=HTMLResponse)
def key_facts(request: Request, token: str, offer_id: str) -> Response:
    """The key-facts document of an offer shown on this checkout, exactly the bytes
    ``GET /v1/payment_intents/{id}/credit_offers/{offer_id}/key_facts`` returns (their
    SHA-256 is what confirming accepts), styled: its one ``<style>`` block is allowed by
    its hash, nothing else inline."""
    page = page_for(request)
    row = _intent(page, token)
    if row is None:
        return _not_found(page)
    if page.principal is None:
        return page.redirect(f"/app/login?next=/app/checkout/{token}")
    who = page.principal
    try:
        with page.rt.uow.connect() as conn:
            document = page.rt.payments.key_facts_html(conn, who, row.id, offer_id,
                                                       page.language)
    except DomainError:
        return _not_found(page)
    response = page.respond(HTMLResponse(document))
    response.headers["Content-Security-Policy"] = document_csp(document)
    return response


