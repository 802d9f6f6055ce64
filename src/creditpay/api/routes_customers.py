"""Consumer endpoints: registration, login and sessions, profile, KYC, devices, cards,
wallet (balance, history, top-up, withdrawal, P2P), payment codes, consents, complaints and
the right of withdrawal from a credit agreement."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import (
    Cursor,
    IdempotencyKey,
    Limit,
    decode_cursor,
    encode_cursor,
    runtime,
)
from creditpay.api.common import post as idempotent_post
from creditpay.errors import AuthenticationError, RateLimitedError
from creditpay.parties.service import Principal, commit_and_raise

__all__ = ["router", "check_password", "withdrawal_id_of"]

router = APIRouter(prefix="/v1", tags=["customers"])
CUSTOMER = access(customer=True)
TOKENS = frozenset({"access_token", "refresh_token"})


def _keyed(request: Request, label: str, value: str) -> str:
    """A keyed digest of a secret or personal value (for scopes and request hashes)."""
    return runtime(request).parties.signer.mac(label, value.encode())[:48]


def _login_identity(identifier: str) -> str:
    """The account an identifier names, however it is typed (``+86 137-0000-0005`` and
    ``13700000005`` are one phone), so the login throttle cannot be dodged by reformatting."""
    from creditpay.errors import ValidationError
    from creditpay.platform.vault import normalise_email, normalise_phone

    text = identifier.strip()
    try:
        return "email:" + normalise_email(text) if "@" in text else \
            "phone:" + normalise_phone(text)
    except ValidationError:
        return "raw:" + text.lower()  # not a valid identifier: the login will fail anyway


# ----------------------------------------------------------------------- public: auth
def check_password(request: Request, identifier: str, password: str) -> tuple[str, Any]:
    """The login throttle, the lockout and the password check of a login (the API's and
    the web app's): ``(throttle scope key, customer row)``, or RateLimitedError /
    AuthenticationError (a wrong password is counted toward the lockout)."""
    rt = runtime(request)
    scope_key = _keyed(request, "scope", _login_identity(identifier))
    wait = request.app.state.login_buckets.take(scope_key)
    if wait:
        raise RateLimitedError("too many login attempts for this account; slow down",
                               retry_after_s=int(wait) + 1)
    with rt.uow.connect() as conn:
        row = rt.parties.find_by_identifier(conn, identifier)
    if row is not None:
        rt.parties.check_lock(row, rt.clock.now())
    ok = rt.parties.passwords.verify(row.password_hash if row is not None else None, password)
    if not ok or row is None:  # (verify() is False without a stored hash)
        if row is not None:
            rt.uow.run(lambda tx: rt.parties.record_login_failure(tx, row.id))
        raise AuthenticationError("wrong phone/email or password")
    return scope_key, row


@router.post("/customers", status_code=202, response_model=S.RegistrationOut,
             summary="Register with a phone number or email and a password; a code is sent "
                     "to it (the same answer whether or not it is registered already)")
def register(request: Request, body: S.RegisterIn,
             idempotency_key: str = IdempotencyKey) -> Any:
    rt = runtime(request)
    password_hash = rt.parties.passwords.hash(body.password)  # argon2 before the write lock
    login = body.phone or body.email or ""
    fp = body.model_dump(mode="json", exclude={"password"})
    return idempotent_post(
        request, "register:" + _keyed(request, "scope", login), body,
        lambda tx: rt.parties.start_registration(
            tx, phone=body.phone, email=body.email, password_hash=password_hash,
            device_id=body.device_id, locale=body.locale),
        status_code=202, fingerprint_body=fp)


@router.post("/customers/verify", status_code=201, response_model=S.CustomerOut,
             summary="Finish registering with the code sent to the phone or email")
def register_verify(request: Request, body: S.RegistrationVerifyIn,
                    idempotency_key: str = IdempotencyKey) -> Any:
    rt = runtime(request)
    return idempotent_post(
        request, "register-verify:" + body.registration_id, body,
        lambda tx: rt.parties.complete_registration(
            tx, registration_id=body.registration_id, code=body.code,
            device_id=body.device_id),
        status_code=201)


@router.post("/auth/login", response_model=S.SessionOut,
             summary="Log in; a new device gets a one-time code first (step-up)")
def login(request: Request, body: S.LoginIn, idempotency_key: str = IdempotencyKey) -> Any:
    rt = runtime(request)
    scope_key, row = check_password(request, body.identifier, body.password)
    fp = body.model_dump(mode="json", exclude={"password"})
    return idempotent_post(
        request, "login:" + scope_key, body,
        lambda tx: rt.parties.login_succeeded(tx, row.id, body.device_id),
        secret_fields=TOKENS, fingerprint_body=fp)


@router.post("/auth/login/verify", response_model=S.SessionOut,
             summary="Complete a login on a new device with the one-time code")
def login_verify(request: Request, body: S.LoginVerifyIn,
                 idempotency_key: str = IdempotencyKey) -> Any:
    rt = runtime(request)
    return idempotent_post(
        request, "login-verify:" + body.challenge_id, body,
        lambda tx: rt.parties.verify_login(tx, challenge_id=body.challenge_id, code=body.code,
                                           device_id=body.device_id),
        secret_fields=TOKENS)


@router.post("/auth/refresh", response_model=S.SessionOut,
             summary="Rotate a refresh token for a new access token")
def refresh(request: Request, body: S.RefreshIn, idempotency_key: str = IdempotencyKey) -> Any:
    rt = runtime(request)
    token_digest = hashlib.sha256(body.refresh_token.encode()).hexdigest()

    def use_case(tx: Any) -> dict[str, Any]:
        result = rt.parties.refresh(tx, body.refresh_token)
        if result.get("revoked"):
            raise commit_and_raise(AuthenticationError(
                "refresh token reuse detected; every session of this login was ended"))
        return {"status": "authenticated", **result}

    return idempotent_post(request, "refresh:" + token_digest[:32], body, use_case,
                           secret_fields=TOKENS,
                           fingerprint_body={"refresh": token_digest})


@router.post("/auth/logout", response_model=S.LogoutOut, summary="End this login everywhere")
def logout(request: Request, idempotency_key: str = IdempotencyKey,
           who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None, lambda tx: rt.parties.logout(tx, who))


# ----------------------------------------------------------------------- profile, KYC, devices
@router.get("/me", response_model=S.CustomerOut, summary="My profile (personal data masked)")
def me(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.parties.customer_view(rt.parties.get_customer(conn, who.id))


@router.post("/me/kyc", response_model=S.CustomerOut, summary="Verify my identity")
def kyc(request: Request, body: S.KycIn, idempotency_key: str = IdempotencyKey,
        who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    fp = {"legal_name": _keyed(request, "fp", body.legal_name),
          "id_number": _keyed(request, "fp", body.id_number),
          "date_of_birth": _keyed(request, "fp", body.date_of_birth.isoformat())}
    return idempotent_post(
        request, who.scope_key, body,
        lambda tx: rt.parties.verify_kyc(tx, who, legal_name=body.legal_name,
                                         id_number=body.id_number,
                                         date_of_birth=body.date_of_birth),
        fingerprint_body=fp)


@router.get("/me/devices", response_model=S.DeviceList)
def devices(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": rt.parties.list_devices(conn, who.id)}


@router.post("/me/devices/{device_id}/untrust", response_model=S.StatusOut,
             summary="Stop trusting a device and end its sessions")
def untrust_device(request: Request, device_id: str, idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None,
                           lambda tx: rt.parties.untrust_device(tx, who, device_id))


# ----------------------------------------------------------------------- cards
@router.post("/me/cards", status_code=201, response_model=S.CardOut,
             summary="Link a bank card (tokenised by the card rail; the number is not kept)")
def add_card(request: Request, body: S.CardIn, idempotency_key: str = IdempotencyKey,
             who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)

    def use_case(tx: Any) -> dict[str, Any]:
        card = rt.payments.rail.tokenise(tx, body.pan, body.expiry_month, body.expiry_year)
        return rt.parties.add_card(tx, who, rail_token=card.token, brand=card.brand,
                                   last4=card.last4, expiry_month=body.expiry_month,
                                   expiry_year=body.expiry_year)

    fp = {"pan": _keyed(request, "fp", body.pan), "expiry_month": body.expiry_month,
          "expiry_year": body.expiry_year}
    return idempotent_post(request, who.scope_key, body, use_case, status_code=201,
                           fingerprint_body=fp)


@router.get("/me/cards", response_model=S.CardList)
def cards(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": rt.parties.list_cards(conn, who.id)}


@router.post("/me/cards/{card_id}/remove", response_model=S.StatusOut)
def remove_card(request: Request, card_id: str, idempotency_key: str = IdempotencyKey,
                who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None,
                           lambda tx: rt.parties.remove_card(tx, who, card_id))


# ----------------------------------------------------------------------- wallet
@router.get("/me/wallet", response_model=S.WalletOut, tags=["wallet"])
def wallet(request: Request, currency: str = "CNY", who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.payments.wallet_balance(conn, who.id, currency)


@router.get("/me/wallet/history", response_model=S.WalletHistory, tags=["wallet"])
def wallet_history(request: Request, cursor: str | None = Cursor, limit: int = Limit,
                   who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    with rt.uow.connect() as conn:
        data, next_seq = rt.payments.history(conn, who.id, before_seq=decode_cursor(cursor),
                                             limit=limit)
    return {"data": data, "next_cursor": encode_cursor(next_seq)}


@router.post("/me/wallet/top-ups", status_code=201, response_model=S.WalletOperationOut,
             tags=["wallet"], summary="Top up from a linked card (pending until the rail says)")
def top_up(request: Request, body: S.CardMoveIn, idempotency_key: str = IdempotencyKey,
           who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.top_up(
        tx, who, card_id=body.card_id, amount_minor=body.amount_minor,
        currency=body.currency), status_code=201)


@router.post("/me/wallet/withdrawals", status_code=201, response_model=S.WalletOperationOut,
             tags=["wallet"], summary="Withdraw to a linked card (held until the rail says)")
def withdraw(request: Request, body: S.CardMoveIn, idempotency_key: str = IdempotencyKey,
             who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.withdraw(
        tx, who, card_id=body.card_id, amount_minor=body.amount_minor,
        currency=body.currency), status_code=201)


@router.post("/me/wallet/transfers", status_code=201, response_model=S.WalletOperationOut,
             tags=["wallet"], summary="Pay another customer (P2P) by phone or email")
def transfer(request: Request, body: S.TransferIn, idempotency_key: str = IdempotencyKey,
             who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    fp = body.model_dump(mode="json") | {"to": _keyed(request, "fp", body.to)}
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.p2p(
        tx, who, to=body.to, amount_minor=body.amount_minor, currency=body.currency,
        note=body.note, step_up_challenge_id=body.step_up_challenge_id,
        step_up_code=body.step_up_code), status_code=201, fingerprint_body=fp)


@router.post("/me/payment-codes", status_code=201, response_model=S.PaymentCodeOut,
             tags=["qr"], summary="A short-lived, single-use code to show at a till")
def payment_code(request: Request, body: S.PaymentCodeIn, idempotency_key: str = IdempotencyKey,
                 who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx:
                           rt.payments.create_payment_code(tx, who, funding=body.funding,
                                                           card_id=body.card_id),
                           status_code=201, secret_fields=frozenset({"payment_code"}))


# ----------------------------------------------------------------------- consents
def _consent_out(view: Any) -> dict[str, Any]:
    return {"id": view.id, "purpose": view.purpose.value, "partner_id": view.partner_id,
            "partner_name": view.partner_name, "granted": view.granted, "valid": view.valid,
            "text_version": view.text_version, "language": view.language,
            "text_sha256": view.text_sha256,
            "granted_at": view.granted_at.isoformat() if view.granted_at else None,
            "revoked_at": view.revoked_at.isoformat() if view.revoked_at else None}


def _consent_of(conn: Any, customer_id: str, purpose: str, partner_id: str | None
                ) -> dict[str, Any]:
    from creditpay.protection.views import consent_views

    view = next(v for v in consent_views(conn, customer_id)
                if v.purpose == purpose and v.partner_id == partner_id)
    return _consent_out(view)


@router.get("/me/consent_texts/{purpose}", response_model=S.ConsentTextOut,
            tags=["consents"], summary="The exact consent text to show before granting")
def consent_text(request: Request, purpose: S.ConsentPurpose,
                 language: Literal["zh-CN", "en"] = "zh-CN",
                 partner_name: str | None = Query(None, min_length=1, max_length=128),
                 who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.protection.consent import consent_text as text_of

    text = text_of(purpose, language, partner_name=partner_name)
    return {"purpose": text.purpose.value, "text_version": text.version,
            "language": text.language, "text": text.text, "text_sha256": text.sha256}


@router.get("/me/consents", response_model=S.ConsentList, tags=["consents"],
            summary="My consents: purpose, text version, when granted and revoked")
def consents(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.protection.views import consent_views

    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": [_consent_out(v) for v in consent_views(conn, who.id)]}


@router.post("/me/consents", status_code=201, response_model=S.ConsentOut, tags=["consents"],
             summary="Grant a purpose, with the version and hash of the text shown")
def grant_consent(request: Request, body: S.ConsentGrantIn,
                  idempotency_key: str = IdempotencyKey,
                  who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.protection import consent as C

    def use_case(tx: Any) -> dict[str, Any]:
        C.grant_consent(tx, customer_id=who.id, purpose=body.purpose, language=body.language,
                        text_version=body.text_version, text_sha256=body.text_sha256,
                        channel=body.channel, partner_id=body.partner_id,
                        partner_name=body.partner_name)
        return _consent_of(tx.conn, who.id, body.purpose, body.partner_id)

    return idempotent_post(request, who.scope_key, body, use_case, status_code=201)


@router.post("/me/consents/{consent_id}/revoke", response_model=S.ConsentOut,
             tags=["consents"], summary="Revoke a consent in force (by any of its records)")
def revoke_consent(request: Request, consent_id: int = Path(ge=1, le=2**62),
                   idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.protection import consent as C
    from creditpay.protection.views import own_consent_record

    def use_case(tx: Any) -> dict[str, Any]:
        record = own_consent_record(tx.conn, who.id, consent_id)
        C.revoke_consent(tx, customer_id=who.id, purpose=record.purpose, channel="app",
                         partner_id=record.partner_id)
        return _consent_of(tx.conn, who.id, record.purpose.value, record.partner_id)

    return idempotent_post(request, who.scope_key, None, use_case)


# ----------------------------------------------------------------------- complaints
@router.post("/me/complaints", status_code=201, response_model=S.ComplaintOut,
             tags=["complaints"], summary="Open a complaint about an account, payment...")
def open_complaint(request: Request, body: S.ComplaintIn,
                   idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.protection.complaints import open_complaint as open_

    return idempotent_post(request, who.scope_key, body, lambda tx: open_(
        tx, customer_id=who.id, subject_type=body.subject_type, subject_id=body.subject_id,
        category=body.category, channel="app",
        subjects=runtime(request).complaint_subjects).as_dict(), status_code=201)


@router.get("/me/complaints", response_model=S.ComplaintList, tags=["complaints"],
            summary="My complaints, newest first")
def complaints(request: Request, limit: int = Query(100, ge=1, le=100),
               who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.protection.views import list_complaints

    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": [c.as_dict() for c in list_complaints(conn, who.id, limit=limit)]}


# ----------------------------------------------------------------------- withdrawal
@router.get("/me/credit_accounts", response_model=S.CreditAccountList, tags=["credit"],
            summary="My credit accounts (line, installment plans, cash loans)")
def credit_accounts(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.credit.service import list_accounts

    rt = runtime(request)
    with rt.uow.connect() as conn:
        views = list_accounts(conn, who.id)
    return {"data": [{
        "account_id": v.account_id, "kind": v.kind, "status": v.status,
        "product_code": v.product_code, "principal_minor": v.principal_minor,
        "principal_past_due_minor": v.principal_past_due_minor,
        "interest_accrued_minor": v.interest_accrued_minor, "dpd": v.dpd,
        "next_due_date": v.next_due_date.isoformat() if v.next_due_date else None}
        for v in views]}


@router.get("/me/credit_line", response_model=S.MyCreditLineOut, tags=["credit"],
            summary="My credit line: limit, available credit, what I owe by product",
            description="The consumer's own pay-later line in `currency` (default CNY): its "
                        "limit, what is available now, what is used (drawn and held), open "
                        "holds, and the principal outstanding on each product using the "
                        "limit. 404 (field `currency`) without a line in that currency.")
def my_credit_line(request: Request, currency: str = Query("CNY", pattern=r"^[A-Z]{3}$"),
                   who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.api.routes_consumer_credit import credit_line_out

    rt = runtime(request)
    with rt.uow.connect() as conn:
        return credit_line_out(conn, who.id, currency)


def withdrawal_id_of(request: Request, who: Principal, idempotency_key: str) -> str:
    """The withdrawal id a withdraw POST with ``idempotency_key`` creates (keyed digest):
    the API's route and the web app's withdraw page derive the same one."""
    return "wd_" + _keyed(request, "withdrawal", f"{who.id}:{idempotency_key}")[:40]


@router.post("/me/credit_accounts/{account_id}/withdraw", response_model=S.WithdrawalOut,
             tags=["credit"], summary="Withdraw from a plan or cash loan within the "
                                      "withdrawal period (principal + interest for the days "
                                      "used, from the wallet)")
def withdraw_credit(request: Request,
                    account_id: str = Path(min_length=1, max_length=64,
                                           pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]*$"),
                    idempotency_key: str = IdempotencyKey,
                    who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.protection.credit_withdrawal import withdraw_from_wallet

    withdrawal_id = withdrawal_id_of(request, who, idempotency_key)
    catalogue = runtime(request).catalogue

    def use_case(tx: Any) -> dict[str, Any]:
        return withdraw_from_wallet(tx, account_id=account_id, customer_id=who.id,
                                    withdrawal_id=withdrawal_id, catalogue=catalogue).as_dict()

    return idempotent_post(request, who.scope_key, None, use_case)
