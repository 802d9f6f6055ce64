"""The consumer's identity, card and wallet pages at ``/app/``: KYC, linked cards, and the
wallet (balance, cursor-paged history, top-up, withdrawal, P2P, QR pay, payment code).

Each page calls what the JSON route of the same action calls (``Parties.verify_kyc``,
``CardRail.tokenise`` + ``Parties.add_card``, ``Payments.top_up`` / ``withdraw`` / ``p2p`` /
``pay_qr`` / ``create_payment_code``, ``Payments.history``), validates with the route's own
request model (:mod:`creditpay.api.schemas`), and runs a change through the API's
idempotency table (:func:`creditpay.api.idempotency.run_idempotent`) under the form's
one-time key: a form sent twice (double click, reload, back and resend) acts once and shows
the first outcome again. Shared machinery: :mod:`creditpay.web.framework`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import pydantic
from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api import schemas as S
from creditpay.api.common import decode_cursor, encode_cursor
from creditpay.api.idempotency import KEY_PATTERN
from creditpay.api.routes_consumer_credit import CURRENCY
from creditpay.db.uow import Tx
from creditpay.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    InsufficientFundsError,
    LimitExceededError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.money import Money
from creditpay.parties.service import Principal, StepUpRequired
from creditpay.web.framework import (
    N_,
    Page,
    customer_page,
    form_post,
    http_status,
    line_or_none,
    new_form_key,
    run_as_route,
)

__all__ = ["router", "IDEMPOTENCY_FIELD"]

router = APIRouter(prefix="/app", include_in_schema=False)

IDEMPOTENCY_FIELD = "idempotency_key"
HISTORY_LIMIT_DEFAULT = 20  # the API's default page size (api.common.Limit)
HISTORY_LIMIT_MAX = 100

OPERATION_KIND = {"topup": N_("Top-up"), "withdrawal": N_("Withdrawal"),
                  "p2p": N_("Transfer")}
OPERATION_STATUS = {"pending": N_("pending"), "succeeded": N_("done"), "failed": N_("failed")}
INTENT_STATUS = {"requires_confirmation": N_("waiting for payment"),
                 "in_review": N_("being checked"), "requires_capture": N_("authorised"),
                 "succeeded": N_("paid"), "canceled": N_("cancelled"),
                 "declined": N_("declined"), "expired": N_("expired")}
FUNDING = {"balance": N_("Wallet balance"), "card": N_("Card"),
           "credit_line": N_("Pay later (credit line)"),
           "installment_plan": N_("Installments")}
FREQUENCY = {"monthly": N_("each month"), "biweekly": N_("every two weeks"),
             "weekly": N_("each week")}

# What a person is told about a field the API refused, in their language: the API names the
# field; the sentence says how to put it right. Keys are the API's field names.
FIELD_MESSAGES: dict[str, str] = {
    "legal_name": N_("Enter your full name as on your identity document."),
    "id_number": N_("Enter a valid identity document number."),
    "date_of_birth": N_("Enter your date of birth as on your identity document (you must "
                        "be 18 or older)."),
    "pan": N_("Enter a valid card number."),
    "expiry_month": N_("Enter the expiry month, 1 to 12."),
    "expiry_year": N_("Enter the expiry year in four digits."),
    "card_id": N_("Choose one of your cards."),
    "amount_minor": N_("Enter an amount in yuan greater than zero, like 12.34."),
    "to": N_("Enter the mobile number or e-mail of a creditpay customer."),
    "note": N_("Keep the note to 140 characters."),
    "step_up_code": N_("The code is wrong or has expired."),
    "qr_payload": N_("This is not a payment QR code, or it has expired. Ask the shop for "
                     "a new one."),
    "funding": N_("Choose how to pay."),
    "offer_id": N_("Choose how to pay."),
}
AMOUNT_FIELD = "amount_minor"


class FormErrors(Exception):
    """Field name (the API's) -> message, already in the person's language."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = dict(errors)


def _field_message(page: Page, exc: DomainError) -> tuple[str, str]:
    """``(field, message)`` for a refusal of a use case, in the person's language."""
    _ = page.gettext
    name = exc.field or "form"
    if isinstance(exc, InsufficientFundsError) or (
            isinstance(exc, LimitExceededError) and name in ("amount_minor", "balance")):
        return AMOUNT_FIELD, _("Your balance is not enough for this amount.")
    if isinstance(exc, StepUpRequired):
        return "step_up_code", _("Enter the code we sent you.")
    if isinstance(exc, AuthenticationError) and name in ("form", "step_up_code", "code"):
        return "step_up_code", _("The code is wrong or has expired.")
    if name == "to" and isinstance(exc, ValidationError):
        return "to", _("You cannot send money to yourself.")
    if name == "to":
        return "to", _("No customer uses that mobile number or e-mail.")
    if name == "expiry_year" and "expired" in exc.detail:
        return name, _("This card has expired.")
    if name == "id_number" and isinstance(exc, ConflictError):
        return name, _("This identity document is registered to another account.")
    if name == "date_of_birth" and "match" in exc.detail:
        return name, _("The date of birth does not match the identity document number.")
    if name == "kyc_status":
        return "form", _("Your identity is verified already.")
    if name in ("amount", "amount_minor"):
        return AMOUNT_FIELD, _(FIELD_MESSAGES[AMOUNT_FIELD])
    if name in FIELD_MESSAGES:
        return name, _(FIELD_MESSAGES[name])
    if exc.status == 402:
        return "form", _("The payment was declined. Nothing was charged.")
    return "form", _("That did not work. Nothing changed. Try again.")


def _validated(page: Page, model: type[pydantic.BaseModel], values: dict[str, Any]) -> Any:
    """The API route's request model built from ``values`` (its validation, field by
    field), or FormErrors naming each field at fault."""
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(name, page.gettext(FIELD_MESSAGES.get(
                name, N_("Check what you entered and try again."))))
        raise FormErrors(errors) from None


def _amount_minor(page: Page, text: str) -> int:
    """Yuan typed by a person ("12.34") as minor units; more decimals than the currency has
    is a mistake, not something to round away."""
    try:
        return Money.parse(text.strip(), CURRENCY).amount_minor
    except ValidationError:
        raise FormErrors({AMOUNT_FIELD: page.gettext(FIELD_MESSAGES[AMOUNT_FIELD])}) from None


def _once(page: Page, who: Principal, api_path: str, request_body: dict[str, Any],
          use_case: Callable[[Tx], Any], key: str | None, *, status_code: int = 201,
          secret_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Run ``use_case`` once for the form's one-time ``key``, exactly as the JSON route at
    ``api_path`` does for its Idempotency-Key (same table, scope and request hash): a
    second send of the form returns the first outcome and changes nothing."""
    if not key or not KEY_PATTERN.match(key):
        raise FormErrors({"form": page.gettext(
            "For your security the form was not accepted. Go back, reload the page and try "
            "again.")})
    response = run_as_route(page, who, key=key, api_path=api_path, body=request_body,
                            use_case=use_case, status_code=status_code,
                            secret_fields=secret_fields)
    body: dict[str, Any] = json.loads(bytes(response.body))
    if response.status_code >= 400:  # a refusal stored with the key (a decline), replayed
        error = DomainError(str(body.get("detail", "")), field=body.get("field"))
        error.status = response.status_code
        raise error
    return body


def _login(page: Page) -> Response:
    return page.redirect("/app/login")


def _errors_response(page: Page, template: str, errors: Mapping[str, str], status: int,
                     **values: Any) -> Response:
    return page.render(template, status_code=status, errors=dict(errors), **values)


def _cards(page: Page, customer_id: str) -> list[dict[str, Any]]:
    with page.rt.uow.connect() as conn:
        return page.rt.parties.list_cards(conn, customer_id)


def _card_label(cards: list[dict[str, Any]], card_id: str | None) -> str:
    card = next((c for c in cards if c["id"] == card_id), None)
    return f"{card['brand'].upper()} {card['masked']}" if card else "**** **** **** ****"


# ======================================================================= KYC
@router.get("/kyc", response_class=HTMLResponse)
def kyc_form(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return _login(page)
    return page.render("kyc.html", errors={}, values={}, key=new_form_key())


@form_post(router, "/kyc")
def kyc(page: Page, form: dict[str, str]) -> Response:
    who = page.principal
    if who is None:
        return _login(page)
    values = {k: form.get(k, "").strip() for k in ("legal_name", "id_number", "date_of_birth")}
    rt = page.rt
    try:
        body = _validated(page, S.KycIn, values)
        # The route's request hash keeps no personal data in clear: keyed digests instead.
        fp = {name: rt.parties.signer.mac("fp", str(value).encode())[:48]
              for name, value in body.model_dump(mode="json").items()}
        _once(page, who, "/v1/me/kyc", fp, lambda tx: rt.parties.verify_kyc(
            tx, who, legal_name=body.legal_name, id_number=body.id_number,
            date_of_birth=body.date_of_birth), form.get(IDEMPOTENCY_FIELD), status_code=200)
    except FormErrors as exc:
        return _errors_response(page, "kyc.html", exc.errors, 422, values=values,
                                key=form.get(IDEMPOTENCY_FIELD, ""))
    except StateError:
        return page.redirect("/app/kyc")  # verified already (the form was sent twice)
    except DomainError as exc:
        name, message = _field_message(page, exc)
        return _errors_response(page, "kyc.html", {name: message}, http_status(exc),
                                values=values, key=form.get(IDEMPOTENCY_FIELD, ""))
    return page.redirect("/app/kyc?verified=1")


# ======================================================================= cards
@router.get("/cards", response_class=HTMLResponse)
def cards_page(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return _login(page)
    done = request.query_params.get("done")
    if done == "linked":
        page.notices.append(page.gettext("Your card is linked."))
    elif done == "removed":
        page.notices.append(page.gettext("The card is removed."))
    return page.render("cards.html", cards=_cards(page, who.id), errors={}, values={},
                       key=new_form_key())


@form_post(router, "/cards")
def link_card(page: Page, form: dict[str, str]) -> Response:
    who = page.principal
    if who is None:
        return _login(page)
    rt = page.rt
    values = {k: form.get(k, "").strip() for k in ("pan", "expiry_month", "expiry_year")}
    key = form.get(IDEMPOTENCY_FIELD)
    try:
        errors: dict[str, str] = {}
        numbers: dict[str, int] = {}
        for name in ("expiry_month", "expiry_year"):
            if values[name].isdigit():
                numbers[name] = int(values[name])
            else:
                errors[name] = page.gettext(FIELD_MESSAGES[name])
        if errors:
            raise FormErrors(errors)
        body = _validated(page, S.CardIn, {"pan": values["pan"].replace(" ", ""), **numbers})

        def use_case(tx: Tx) -> dict[str, Any]:
            card = rt.payments.rail.tokenise(tx, body.pan, body.expiry_month, body.expiry_year)
            return rt.parties.add_card(tx, who, rail_token=card.token, brand=card.brand,
                                       last4=card.last4, expiry_month=body.expiry_month,
                                       expiry_year=body.expiry_year)

        # As the route: the card number enters the request hash only as a keyed digest.
        fp = {"pan": rt.parties.signer.mac("fp", body.pan.encode())[:48],
              "expiry_month": body.expiry_month, "expiry_year": body.expiry_year}
        _once(page, who, "/v1/me/cards", fp, use_case, key)
    except FormErrors as exc:
        return _errors_response(page, "cards.html", exc.errors, 422, cards=_cards(page, who.id),
                                values={**values, "pan": ""}, key=key or "")
    except DomainError as exc:
        name, message = _field_message(page, exc)
        return _errors_response(page, "cards.html", {name: message}, http_status(exc),
                                cards=_cards(page, who.id), values={**values, "pan": ""},
                                key=key or "")
    return page.redirect("/app/cards?done=linked")


@form_post(router, "/cards/remove")
def remove_card(page: Page, form: dict[str, str]) -> Response:
    who = page.principal
    if who is None:
        return _login(page)
    rt, card_id = page.rt, form.get("card_id", "")
    try:
        rt.uow.run(lambda tx: rt.parties.remove_card(tx, who, card_id))
    except NotFoundError:
        pass  # removed already (the form was sent twice): the list says so
    return page.redirect("/app/cards?done=removed")


# ======================================================================= wallet
@router.get("/wallet", response_class=HTMLResponse)
def wallet_page(request: Request) -> Response:
    """Balance and history, paged exactly as ``GET /v1/me/wallet/history``: ``cursor``
    (the API's) and ``limit`` (1..100, default 20); the older / newer links carry cursors."""
    page, who = customer_page(request)
    if who is None:
        return _login(page)
    rt = page.rt
    errors: dict[str, str] = {}
    try:
        limit = int(request.query_params.get("limit", HISTORY_LIMIT_DEFAULT))
        if not 1 <= limit <= HISTORY_LIMIT_MAX:
            raise ValueError
    except ValueError:
        limit, errors["limit"] = HISTORY_LIMIT_DEFAULT, page.gettext(
            "That page of the history does not exist. Showing the newest.")
    cursor = request.query_params.get("cursor")
    try:
        before_seq = decode_cursor(cursor[:64]) if cursor else None
    except ValidationError:
        before_seq, errors["cursor"] = None, page.gettext(
            "That page of the history does not exist. Showing the newest.")
    with rt.uow.connect() as conn:
        wallet = rt.payments.wallet_balance(conn, who.id, CURRENCY)
        rows, next_seq = rt.payments.history(conn, who.id, before_seq=before_seq, limit=limit)
        newer = (rt.payments.wallet.history_newer_page(conn, who.id, before_seq=before_seq,
                                                       limit=limit)
                 if before_seq is not None else None)
        cards = rt.parties.list_cards(conn, who.id)
        # The other party of a transfer, masked: the payee of one sent, the payer (the
        # operation's owner) of one received.
        people: dict[str, str] = {}
        for row in rows:
            if row["kind"] != "p2p":
                continue
            other = row["counterparty_customer_id"] if row["direction"] == "out" else \
                rt.payments.wallet_operation_customers(conn, row["id"])[0]
            view = rt.parties.customer_view(rt.parties.get_customer(conn, other))
            people[row["id"]] = view["phone"] or view["email"] or "—"
    history = [{**row, "card": _card_label(cards, row["card_id"]) if row["card_id"] else None,
                "person": people.get(row["id"]), "day": row["created_at"][:10]}
               for row in rows]
    extra = {} if limit == HISTORY_LIMIT_DEFAULT else {"limit": limit}
    older_url = (f"/app/wallet?{urlencode({'cursor': encode_cursor(next_seq), **extra})}"
                 if next_seq is not None else None)
    newer_url = None
    if newer is not None:
        newer_cursor = encode_cursor(newer.before_seq)
        query = urlencode({**({"cursor": newer_cursor} if newer_cursor else {}), **extra})
        newer_url = "/app/wallet" + (f"?{query}" if query else "")
    for message in errors.values():
        page.notices.append(message)
    return page.render("wallet.html", wallet=wallet, history=history, older_url=older_url,
                       newer_url=newer_url, operation_kind=OPERATION_KIND,
                       operation_status=OPERATION_STATUS, has_cards=bool(cards))


def _card_move_form(request: Request, kind: str) -> Response:
    page, who = customer_page(request)
    if who is None:
        return _login(page)
    return page.render("wallet_move.html", kind=kind, cards=_cards(page, who.id), errors={},
                       values={}, key=new_form_key(), wallet=_balance(page, who.id))


def _balance(page: Page, customer_id: str) -> dict[str, Any]:
    with page.rt.uow.connect() as conn:
        return page.rt.payments.wallet_balance(conn, customer_id, CURRENCY)


def _card_move(page: Page, form: dict[str, str], kind: str) -> Response:
    who = page.principal
    if who is None:
        return _login(page)
    rt = page.rt
    values = {"card_id": form.get("card_id", ""), "amount": form.get("amount", "").strip()}
    key = form.get(IDEMPOTENCY_FIELD)
    try:
        errors: dict[str, str] = {}
        try:
            amount_minor = _amount_minor(page, values["amount"])
        except FormErrors as exc:
            errors.update(exc.errors)
            amount_minor = 1
        if not values["card_id"]:
            errors["card_id"] = page.gettext(FIELD_MESSAGES["card_id"])
        if errors:
            raise FormErrors(errors)
        body = _validated(page, S.CardMoveIn, {"card_id": values["card_id"],
                                               "amount_minor": amount_minor})
        move = rt.payments.top_up if kind == "topup" else rt.payments.withdraw
        api_path = "/v1/me/wallet/top-ups" if kind == "topup" else "/v1/me/wallet/withdrawals"
        operation = _once(page, who, api_path, body.model_dump(mode="json"), lambda tx: move(
            tx, who, card_id=body.card_id, amount_minor=body.amount_minor,
            currency=body.currency), key)
    except (FormErrors, DomainError) as exc:
        if isinstance(exc, FormErrors):
            errors, status = exc.errors, 422
        else:
            name, message = _field_message(page, exc)
            errors, status = {name: message}, http_status(exc)
        return page.render("wallet_move.html", status_code=status, kind=kind,
                           cards=_cards(page, who.id), errors=errors, values=values,
                           key=key or "", wallet=_balance(page, who.id))
    return page.render("wallet_done.html", operation=operation,
                       card=_card_label(_cards(page, who.id), operation["card_id"]),
                       person=None, operation_kind=OPERATION_KIND,
                       operation_status=OPERATION_STATUS)


@router.get("/wallet/top-up", response_class=HTMLResponse)
def top_up_form(request: Request) -> Response:
    return _card_move_form(request, "topup")


@form_post(router, "/wallet/top-up")
def top_up(page: Page, form: dict[str, str]) -> Response:
    return _card_move(page, form, "topup")


@router.get("/wallet/withdraw", response_class=HTMLResponse)
def withdraw_form(request: Request) -> Response:
    return _card_move_form(request, "withdrawal")


@form_post(router, "/wallet/withdraw")
def withdraw(page: Page, form: dict[str, str]) -> Response:
    return _card_move(page, form, "withdrawal")


# ----------------------------------------------------------------------- P2P
@router.get("/wallet/send", response_class=HTMLResponse)
def send_form(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return _login(page)
    return page.render("wallet_send.html", errors={}, values={}, key=new_form_key(),
                       wallet=_balance(page, who.id))


def _transfer_values(page: Page, form: dict[str, str]) -> tuple[dict[str, str], Any]:
    """The form's fields and the API's TransferIn built from them (or FormErrors)."""
    values = {"to": form.get("to", "").strip(), "amount": form.get("amount", "").strip(),
              "note": form.get("note", "").strip()}
    errors: dict[str, str] = {}
    try:
        amount_minor = _amount_minor(page, values["amount"])
    except FormErrors as exc:
        errors.update(exc.errors)
        amount_minor = 1
    try:
        body = _validated(page, S.TransferIn, {
            "to": values["to"], "amount_minor": amount_minor, "note": values["note"] or None,
            "step_up_challenge_id": form.get("step_up_challenge_id") or None,
            "step_up_code": form.get("step_up_code", "").strip() or None})
    except FormErrors as exc:
        errors.update(exc.errors)
    if errors:
        raise FormErrors(errors)
    return values, body


def _payee(page: Page, who: Principal, to: str) -> dict[str, Any]:
    """The masked view of the customer a transfer would pay (what the person confirms)."""
    rt = page.rt
    with rt.uow.connect() as conn:
        row = rt.parties.find_by_identifier(conn, to)
        if row is None or row.status != "active":
            raise NotFoundError("no customer with that phone or email", field="to")
        view = rt.parties.customer_view(row)
    return {"shown": view["phone"] or view["email"], "name": view["legal_name"]}


@form_post(router, "/wallet/send/review")
def send_review(page: Page, form: dict[str, str]) -> Response:
    who = page.principal
    if who is None:
        return _login(page)
    key = form.get(IDEMPOTENCY_FIELD) or new_form_key()
    try:
        values, body = _transfer_values(page, form)
        payee = _payee(page, who, body.to)
    except (FormErrors, DomainError) as exc:
        errors = exc.errors if isinstance(exc, FormErrors) else dict([_field_message(page, exc)])
        return page.render("wallet_send.html", status_code=422, errors=errors,
                           values={k: form.get(k, "") for k in ("to", "amount", "note")},
                           key=key, wallet=_balance(page, who.id))
    return page.render("wallet_send_confirm.html", values=values, payee=payee,
                       amount_minor=body.amount_minor, key=key, errors={}, challenge=None)


@form_post(router, "/wallet/send")
def send(page: Page, form: dict[str, str]) -> Response:
    who = page.principal
    if who is None:
        return _login(page)
    rt = page.rt
    key = form.get(IDEMPOTENCY_FIELD)
    try:
        values, body = _transfer_values(page, form)
    except FormErrors as exc:
        return page.render("wallet_send.html", status_code=422, errors=exc.errors,
                           values={k: form.get(k, "") for k in ("to", "amount", "note")},
                           key=key or new_form_key(), wallet=_balance(page, who.id))
    # As the route: the payee's phone or e-mail enters the request hash as a keyed digest.
    fp = body.model_dump(mode="json") | {"to": rt.parties.signer.mac("fp", body.to.encode())[:48]}
    try:
        operation = _once(page, who, "/v1/me/wallet/transfers", fp, lambda tx: rt.payments.p2p(
            tx, who, to=body.to, amount_minor=body.amount_minor, currency=body.currency,
            note=body.note, step_up_challenge_id=body.step_up_challenge_id,
            step_up_code=body.step_up_code), key)
    except (FormErrors, DomainError) as exc:
        challenge = form.get("step_up_challenge_id") or None
        if isinstance(exc, StepUpRequired):
            challenge = str(exc.extra.get("challenge_id"))
            errors: dict[str, str] = {}
            status = 403
        elif isinstance(exc, FormErrors):
            errors, status = exc.errors, 422
        else:
            errors, status = dict([_field_message(page, exc)]), http_status(exc)
        if challenge is None and any(k in errors for k in ("to", AMOUNT_FIELD, "note")):
            return page.render("wallet_send.html", status_code=status, errors=errors,
                               values=values, key=key or new_form_key(),
                               wallet=_balance(page, who.id))
        try:
            payee = _payee(page, who, body.to)
        except DomainError:
            payee = {"shown": "—", "name": None}
        return page.render("wallet_send_confirm.html", status_code=status, values=values,
                           payee=payee, amount_minor=body.amount_minor, key=key or "",
                           errors=errors, challenge=challenge)
    person = _payee(page, who, body.to)["shown"]
    return page.render("wallet_done.html", operation=operation, card=None, person=person,
                       operation_kind=OPERATION_KIND, operation_status=OPERATION_STATUS)


# ----------------------------------------------------------------------- QR pay
@router.get("/wallet/qr", response_class=HTMLResponse)
def qr_form(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return _login(page)
    return page.render("wallet_qr.html", errors={}, payload="")


def _qr_intent(page: Page, who: Principal, payload: str) -> dict[str, Any]:
    """The payment a merchant's QR asks for: its signature and expiry checked as
    ``Payments.pay_qr`` checks them, then the intent as ``GET /v1/payment_intents/{id}``
    shows it to this customer."""
    rt = page.rt
    body = _validated(page, S.QrPayIn, {"qr_payload": payload, "funding": "balance"})
    try:
        claims = rt.parties.signer.verify(body.qr_payload, "qr", rt.clock.now())
        with rt.uow.connect() as conn:
            return rt.payments.get_intent_view(conn, who, str(claims.get("pi", "")))
    except (AuthenticationError, NotFoundError):
        raise FormErrors({"qr_payload": page.gettext(FIELD_MESSAGES["qr_payload"])}) from None


def _credit_offers(page: Page, who: Principal, intent: dict[str, Any]) -> list[dict[str, Any]]:
    """The credit offers for this payment with their full cost, in the page's language, as
    ``POST /v1/payment_intents/{id}/credit_offers`` quotes them; none without a line."""
    rt = page.rt
    if intent["status"] != "requires_confirmation":
        return []
    with rt.uow.connect() as conn:
        if line_or_none(rt, conn, who.id) is None:
            return []
    try:
        quoted = rt.uow.run(lambda tx: rt.payments.quote_offers(
            tx, who, intent["id"], language=page.language))
    except DomainError:
        return []  # no credit for this payment: the balance and cards remain
    return list(quoted["offers"])


def _qr_confirm(page: Page, who: Principal, payload: str, *, key: str, status: int = 200,
                errors: Mapping[str, str] | None = None, funding: str = "",
                challenge: str | None = None) -> Response:
    intent = _qr_intent(page, who, payload)
    return page.render("wallet_qr_confirm.html", status_code=status, intent=intent,
                       payload=payload, cards=_cards(page, who.id), key=key,
                       errors=dict(errors or {}), funding=funding, challenge=challenge,
                       wallet=_balance(page, who.id), intent_status=INTENT_STATUS,
                       funding_label=FUNDING, offers=_credit_offers(page, who, intent),
                       frequency_label=FREQUENCY)


@router.get("/wallet/key-facts", response_class=HTMLResponse)
def key_facts(request: Request) -> Response:
    """The key-facts document of a credit offer shown on the QR payment page (as
    ``GET /v1/payment_intents/{id}/credit_offers/{offer}/key_facts``)."""
    page, who = customer_page(request)
    if who is None:
        return _login(page)
    intent_id = request.query_params.get("intent", "")[:64]
    offer_id = request.query_params.get("offer", "")[:128]
    try:
        with page.rt.uow.connect() as conn:
            document = page.rt.payments.key_facts_html(conn, who, intent_id, offer_id,
                                                       page.language)
    except DomainError as exc:
        return page.render("error.html", status_code=http_status(exc),
                           title=page.gettext("Not found"),
                           message=page.gettext("This offer is no longer available."))
    return page.respond(HTMLResponse(document))


@form_post(router, "/wallet/qr/review")
def qr_review(page: Page, form: dict[str, str]) -> Response:
    who = page.principal
    if who is None:
        return _login(page)
    payload = form.get("qr_payload", "").strip()
    try:
        return _qr_confirm(page, who, payload, key=new_form_key())
    except FormErrors as exc:
        return page.render("wallet_qr.html", status_code=422, errors=exc.errors,
                           payload=payload)


@form_post(router, "/wallet/qr/pay")
def qr_pay(page: Page, form: dict[str, str]) -> Response:
    who = page.principal
    if who is None:
        return _login(page)
    rt = page.rt
    payload = form.get("qr_payload", "").strip()
    choice = form.get("funding", "")
    key = form.get(IDEMPOTENCY_FIELD) or ""
    # One choice names the source: "balance", "card:<card id>" or, for credit,
    # "offer:<funding>:<key-facts sha256>:<offer id>" (the offer as it was shown; the
    # service checks it against the stored quote).
    funding, _, rest = choice.partition(":")
    card_id = offer_id = key_facts = None
    if funding == "card":
        card_id = rest or None
    elif funding == "offer":
        funding, _, rest = rest.partition(":")
        key_facts, _, offer_id = rest.partition(":")
        if funding not in ("credit_line", "installment_plan"):
            funding = "offer"
    try:
        if funding not in ("balance", "card", "credit_line", "installment_plan"):
            raise FormErrors({"funding": page.gettext(FIELD_MESSAGES["funding"])})
        body = _validated(page, S.QrPayIn, {
            "qr_payload": payload, "funding": funding, "card_id": card_id,
            "offer_id": offer_id or None, "key_facts_sha256": key_facts or None,
            "step_up_challenge_id": form.get("step_up_challenge_id") or None,
            "step_up_code": form.get("step_up_code", "").strip() or None})
        intent = _once(page, who, "/v1/qr/pay", body.model_dump(mode="json"),
                       lambda tx: rt.payments.pay_qr(
                           tx, who, qr_payload=body.qr_payload, funding=body.funding,
                           card_id=body.card_id, offer_id=body.offer_id,
                           step_up_challenge_id=body.step_up_challenge_id,
                           step_up_code=body.step_up_code,
                           key_facts_sha256=body.key_facts_sha256),
                       key, status_code=200)
    except (FormErrors, DomainError) as exc:
        challenge = form.get("step_up_challenge_id") or None
        if isinstance(exc, StepUpRequired):
            challenge, errors, status = str(exc.extra.get("challenge_id")), {}, 403
        elif isinstance(exc, FormErrors):
            errors, status = exc.errors, 422
        else:
            errors, status = dict([_field_message(page, exc)]), http_status(exc)
        try:
            return _qr_confirm(page, who, payload, key=key or new_form_key(), status=status,
                               errors=errors, funding=choice, challenge=challenge)
        except FormErrors as again:
            return page.render("wallet_qr.html", status_code=422,
                               errors={**errors, **again.errors}, payload=payload)
    return page.render("wallet_qr_done.html", intent=intent, intent_status=INTENT_STATUS,
                       funding_label=FUNDING,
                       card=_card_label(_cards(page, who.id), intent.get("card_id")))


# ----------------------------------------------------------------------- payment code
@router.get("/wallet/code", response_class=HTMLResponse)
def code_form(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return _login(page)
    return page.render("wallet_code.html", cards=_cards(page, who.id), errors={}, code=None,
                       key=new_form_key(), funding="", funding_label=FUNDING)


@form_post(router, "/wallet/code")
def make_code(page: Page, form: dict[str, str]) -> Response:
    who = page.principal
    if who is None:
        return _login(page)
    rt = page.rt
    choice = form.get("funding", "")
    funding, _, card_id = choice.partition(":")
    key = form.get(IDEMPOTENCY_FIELD) or ""
    cards = _cards(page, who.id)
    try:
        if funding not in ("balance", "card"):
            raise FormErrors({"funding": page.gettext(FIELD_MESSAGES["funding"])})
        body = _validated(page, S.PaymentCodeIn, {"funding": funding,
                                                  "card_id": card_id or None})
        code = _once(page, who, "/v1/me/payment-codes", body.model_dump(mode="json"),
                     lambda tx: rt.payments.create_payment_code(
                         tx, who, funding=body.funding, card_id=body.card_id), key,
                     secret_fields=frozenset({"payment_code"}))
    except (FormErrors, DomainError) as exc:
        errors = exc.errors if isinstance(exc, FormErrors) else dict([_field_message(page, exc)])
        return page.render("wallet_code.html", status_code=422, cards=cards, errors=errors,
                           code=None, key=key or new_form_key(), funding=choice,
                           funding_label=FUNDING)
    from creditpay.api.idempotency import REDACTED

    if code["payment_code"] == REDACTED:
        # The form was sent again: a code is shown once and never stored, so make a new one.
        page.notices.append(page.gettext("That code was shown already. Make a new one."))
        return page.render("wallet_code.html", cards=cards, errors={}, code=None,
                           key=new_form_key(), funding=choice, funding_label=FUNDING)
    expires = dt.datetime.fromisoformat(code["expires_at"])
    seconds = max(0, int((expires - page.rt.clock.now()).total_seconds()))
    return page.render("wallet_code.html", cards=cards, errors={}, code=code,
                       expires_time=expires.strftime("%H:%M:%S"), seconds=seconds,
                       key=new_form_key(),
                       funding=choice, funding_label=FUNDING,
                       card=_card_label(cards, code.get("card_id") or card_id or None))
