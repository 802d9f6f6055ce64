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
    """Public. Starts a registration with a phone number (or, without one, an e-mail) and a
    password: a 6-digit code is sent to it and the answer carries the registration_id to send
    back with it. The answer is the same whether or not the phone or e-mail is taken (for a
    taken one no code is sent and the owner is told). Nothing is created until the code is
    verified. 422 validation-error naming the field (e.g. a password under 10 characters); 429
    rate-limited. Idempotency-Key required: a retry with the same key and body replays the
    first answer; another body with that key is 409 idempotency-conflict."""
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
    """Public. Finishes a registration: with the code sent and the device that started it,
    creates the customer (201, personal data masked) and trusts that device. A wrong, used,
    expired or unknown registration is 401 wrong-code (wrong codes are counted); 422 naming a
    malformed field. Idempotency-Key required: a retry with the same key and body replays the
    first answer; another body with that key is 409 idempotency-conflict."""
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
    """Public. Logs a customer in with phone or e-mail and password. On a trusted device the
    answer holds an access token (15 minutes) and a refresh token, both shown once; on a new
    device it is status step_up_required with a challenge_id, and a code is sent (finish with
    /v1/auth/login/verify). A wrong password is 401 unauthenticated and counts toward the
    15-minute lockout after 5 failures; 429 rate-limited. Idempotency-Key required: a retry
    with the same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
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
    """Public. Completes a login from a new device with the one-time code: trusts the device
    and returns the tokens (shown once). A wrong, expired or spent code is 401 wrong-code;
    every wrong code counts toward the challenge's 5 attempts and the account's lockout.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(
        request, "login-verify:" + body.challenge_id, body,
        lambda tx: rt.parties.verify_login(tx, challenge_id=body.challenge_id, code=body.code,
                                           device_id=body.device_id),
        secret_fields=TOKENS)


@router.post("/auth/refresh", response_model=S.SessionOut,
             summary="Rotate a refresh token for a new access token")
def refresh(request: Request, body: S.RefreshIn, idempotency_key: str = IdempotencyKey) -> Any:
    """Public. Exchanges a refresh token for a new access token and a new refresh token
    (rotated on every use; the old one stops working). Reusing an old refresh token revokes
    every session of that login and is 401 unauthenticated. Idempotency-Key required: a retry
    with the same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
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
    """Customer. Ends the caller's login: its session is revoked at once, so its access and
    refresh tokens stop working. 401 without a valid token. Idempotency-Key required: a retry
    with the same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None, lambda tx: rt.parties.logout(tx, who))


# ----------------------------------------------------------------------- profile, KYC, devices
@router.get("/me", response_model=S.CustomerOut, summary="My profile (personal data masked)")
def me(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's own profile: status, KYC status, locale, and phone, e-mail, name
    and ID number masked. Changes nothing. 401 without a valid token; 403 for merchants and
    operators."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.parties.customer_view(rt.parties.get_customer(conn, who.id))


@router.post("/me/kyc", response_model=S.CustomerOut, summary="Verify my identity")
def kyc(request: Request, body: S.KycIn, idempotency_key: str = IdempotencyKey,
        who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Verifies the caller's identity with legal name, ID number and date of birth
    (kept encrypted in the vault; masked in the answer) and sets kyc_status to verified. 422
    validation-error naming the field (e.g. date_of_birth under 18); 409 invalid-state when
    already verified; 409 conflict when the ID document belongs to another account.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
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
    """Customer. The caller's devices: which are trusted (no step-up code at login) and when
    each was last seen. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": rt.parties.list_devices(conn, who.id)}


@router.post("/me/devices/{device_id}/untrust", response_model=S.StatusOut,
             summary="Stop trusting a device and end its sessions")
def untrust_device(request: Request, device_id: str, idempotency_key: str = IdempotencyKey,
                   who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Stops trusting one of the caller's devices and ends its sessions: its next
    login needs a one-time code again. 404 not-found for a device that is not the caller's.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None,
                           lambda tx: rt.parties.untrust_device(tx, who, device_id))


# ----------------------------------------------------------------------- cards
@router.post("/me/cards", status_code=201, response_model=S.CardOut,
             summary="Link a bank card (tokenised by the card rail; the number is not kept)")
def add_card(request: Request, body: S.CardIn, idempotency_key: str = IdempotencyKey,
             who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Links a bank card: the card rail tokenises the number, and only the token,
    brand and last 4 digits are kept (the number is never stored). 422 naming pan for a number
    that is not a valid card number, or expiry_year for an expired card. Idempotency-Key
    required: a retry with the same key and body replays the first answer; another body with
    that key is 409 idempotency-conflict."""
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
    """Customer. The caller's linked cards (brand, last 4 digits, expiry, status). Changes
    nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": rt.parties.list_cards(conn, who.id)}


@router.post("/me/cards/{card_id}/remove", response_model=S.StatusOut)
def remove_card(request: Request, card_id: str, idempotency_key: str = IdempotencyKey,
                who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Removes one of the caller's cards; it can no longer fund top-ups, withdrawals
    or payments. 404 not-found for a card that is not the caller's. Idempotency-Key required: a
    retry with the same key and body replays the first answer; another body with that key is
    409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, None,
                           lambda tx: rt.parties.remove_card(tx, who, card_id))


# ----------------------------------------------------------------------- wallet
@router.get("/me/wallet", response_model=S.WalletOut, tags=["wallet"])
def wallet(request: Request, currency: str = "CNY", who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's wallet in a currency (default CNY): balance, what is available
    now (balance less holds) and top-ups still pending at the card rail. Changes nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        return rt.payments.wallet_balance(conn, who.id, currency)


@router.get("/me/wallet/history", response_model=S.WalletHistory, tags=["wallet"])
def wallet_history(request: Request, cursor: str | None = Cursor, limit: int = Limit,
                   who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's wallet operations (top-ups, withdrawals, P2P), newest first,
    cursor-paged (?cursor=next_cursor&limit=1..100). Changes nothing. 422 naming cursor for a
    cursor this API did not return."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        data, next_seq = rt.payments.history(conn, who.id, before_seq=decode_cursor(cursor),
                                             limit=limit)
    return {"data": data, "next_cursor": encode_cursor(next_seq)}


@router.post("/me/wallet/top-ups", status_code=201, response_model=S.WalletOperationOut,
             tags=["wallet"], summary="Top up from a linked card (pending until the rail says)")
def top_up(request: Request, body: S.CardMoveIn, idempotency_key: str = IdempotencyKey,
           who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Tops the wallet up from a linked card: a pending transfer is placed and the
    card rail asked for a charge; the answer is pending and the money arrives when the rail
    succeeds (a failure voids it). 404 not-found for another's card; 422 naming amount_minor or
    currency (a currency not operated). Idempotency-Key required: a retry with the same key and
    body replays the first answer; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.top_up(
        tx, who, card_id=body.card_id, amount_minor=body.amount_minor,
        currency=body.currency), status_code=201)


@router.post("/me/wallet/withdrawals", status_code=201, response_model=S.WalletOperationOut,
             tags=["wallet"], summary="Withdraw to a linked card (held until the rail says)")
def withdraw(request: Request, body: S.CardMoveIn, idempotency_key: str = IdempotencyKey,
             who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Withdraws from the wallet to a linked card: the amount is held at once and
    paid out when the rail succeeds (a failure releases it). 409 insufficient-funds beyond the
    available balance; 404 not-found for another's card. Idempotency-Key required: a retry with
    the same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx: rt.payments.withdraw(
        tx, who, card_id=body.card_id, amount_minor=body.amount_minor,
        currency=body.currency), status_code=201)


@router.post("/me/wallet/transfers", status_code=201, response_model=S.WalletOperationOut,
             tags=["wallet"], summary="Pay another customer (P2P) by phone or email")
def transfer(request: Request, body: S.TransferIn, idempotency_key: str = IdempotencyKey,
             who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Pays another customer (P2P) by phone or e-mail, moving money between wallets.
    Fraud screening may ask for a code (403 step-up-required with challenge_id: send again with
    step_up_challenge_id and step_up_code) or hold the transfer for review (201, status
    pending). 409 insufficient-funds; 404 not-found naming to for an unknown payee.
    Idempotency-Key required: a retry with the same key and body replays the first answer;
    another body with that key is 409 idempotency-conflict."""
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
    """Customer. Creates a consumer-presented payment code (show it as a QR at a till): funded
    from the balance or a linked card, single use, valid 60 seconds; a merchant charges it with
    /collect. The code is shown once. 404 not-found for another's card; 422 when funding is
    card without card_id. Idempotency-Key required: a retry with the same key and body replays
    the first answer; another body with that key is 409 idempotency-conflict."""
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
                 partner_id: str | None = Query(
                     None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$",
                     description="share_payment_data_with_partner: the partner lender; its "
                                 "registered name is put in the text (a grant must carry "
                                 "that name)"),
                 who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The exact consent text of a purpose to show before granting, in zh-CN or en,
    with its text_version and text_sha256 (send both back to grant). Changes nothing. 422
    naming purpose or language, or partner_id for an unknown partner lender."""
    from creditpay.protection.consent import consent_text as text_of
    from creditpay.protection.consent import registered_partner_name

    if partner_id is not None:
        with runtime(request).uow.connect() as conn:
            partner_name = registered_partner_name(conn, partner_id)
    text = text_of(purpose, language, partner_name=partner_name)
    return {"purpose": text.purpose.value, "text_version": text.version,
            "language": text.language, "text": text.text, "text_sha256": text.sha256}


@router.get("/me/consents", response_model=S.ConsentList, tags=["consents"],
            summary="My consents: purpose, text version, when granted and revoked")
def consents(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's consents, one entry per purpose (and partner): whether in force
    and valid, the text version and language agreed to, when granted and revoked. Changes
    nothing."""
    from creditpay.protection.views import consent_views

    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": [_consent_out(v) for v in consent_views(conn, who.id)]}


@router.post("/me/consents", status_code=201, response_model=S.ConsentOut, tags=["consents"],
             summary="Grant a purpose, with the version and hash of the text shown")
def grant_consent(request: Request, body: S.ConsentGrantIn,
                  idempotency_key: str = IdempotencyKey,
                  who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Grants a consent purpose, recording the text version, language and hash of the
    text shown (a record in the consent log). A hash that is not that version's text is 422
    naming text_sha256; partner_id only for share_payment_data_with_partner, and only a
    registered partner lender under its registered name (else 422 naming partner_id or
    partner_name). Idempotency-Key
    required: a retry with the same key and body replays the first answer; another body with
    that key is 409 idempotency-conflict."""
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
    """Customer. Revokes the purpose a consent record of the caller's belongs to (a new record;
    the log keeps both). 404 not-found for another's record; 409 invalid-state when nothing is
    in force (rule consent.not_granted). Idempotency-Key required: a retry with the same key
    and body replays the first answer; another body with that key is 409 idempotency-conflict."""
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
    """Customer. Opens a complaint about the service or one of the caller's own payments,
    wallet operations, credit accounts, statements or applications; the answer has the
    acknowledge and resolve due times (SLA). 404 not-found naming subject_id for a subject that
    is not the caller's. Idempotency-Key required: a retry with the same key and body replays
    the first answer; another body with that key is 409 idempotency-conflict."""
    from creditpay.protection.complaints import open_complaint as open_

    return idempotent_post(request, who.scope_key, body, lambda tx: open_(
        tx, customer_id=who.id, subject_type=body.subject_type, subject_id=body.subject_id,
        category=body.category, channel="app",
        subjects=runtime(request).complaint_subjects).as_dict(), status_code=201)


@router.get("/me/complaints", response_model=S.ComplaintList, tags=["complaints"],
            summary="My complaints, newest first")
def complaints(request: Request, limit: int = Query(100, ge=1, le=100),
               who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's complaints, newest first (at most limit, 100), with status and
    SLA due times. Changes nothing."""
    from creditpay.protection.views import list_complaints

    rt = runtime(request)
    with rt.uow.connect() as conn:
        return {"data": [c.as_dict() for c in list_complaints(conn, who.id, limit=limit)]}


# ----------------------------------------------------------------------- withdrawal
@router.get("/me/credit_accounts", response_model=S.CreditAccountList, tags=["credit"],
            summary="My credit accounts (line, installment plans, cash loans)")
def credit_accounts(request: Request, who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's credit accounts: the pay-later line, installment plans and cash
    loans, each with principal owed, past-due principal, accrued interest, days past due,
    next due date and, for credit partner lenders fund, who lent it and in what shares
    (`funders`). Changes nothing."""
    from creditpay.credit.funding import funders_of_customer
    from creditpay.credit.service import list_accounts

    rt = runtime(request)
    with rt.uow.connect() as conn:
        views = list_accounts(conn, who.id)
        funders = funders_of_customer(conn, who.id,
                                      platform_name=rt.payments.policy.lender_name)
    return {"data": [{
        "account_id": v.account_id, "kind": v.kind, "status": v.status,
        "product_code": v.product_code, "principal_minor": v.principal_minor,
        "principal_past_due_minor": v.principal_past_due_minor,
        "interest_accrued_minor": v.interest_accrued_minor, "dpd": v.dpd,
        "next_due_date": v.next_due_date.isoformat() if v.next_due_date else None,
        "funders": funders.get(v.account_id, [])}
        for v in views]}


@router.get("/me/credit_line", response_model=S.MyCreditLineOut, tags=["credit"],
            summary="My credit line: limit, available credit, what I owe by product",
            description="The consumer's own pay-later line in `currency` (default CNY): its "
                        "limit, what is available now, what is used (drawn and held), open "
                        "holds, the principal outstanding on each product using the limit, "
                        "and `bill_in_full_minor`: what a repayment without `account_id` "
                        "takes today to pay everything due and the latest bill in full, "
                        "the plan installments it shows included. 404 (field `currency`) "
                        "without a line in that currency.")
def my_credit_line(request: Request, currency: str = Query("CNY", pattern=r"^[A-Z]{3}$"),
                   who: Principal = Depends(CUSTOMER)) -> Any:
    from creditpay.api.routes_consumer_credit import credit_line_out

    rt = runtime(request)
    with rt.uow.connect() as conn:
        return credit_line_out(rt, conn, who.id, currency)


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
    """Customer. The 14-day right of withdrawal from an installment plan or cash loan: within
    the period the caller repays from the wallet the principal plus interest for the days used,
    every fee and unearned interest is reversed, the account closed and the line's credit
    restored, in one transaction. 409 after the deadline (rule withdrawal.window_closed), for a
    revolving line or an account not active; 409 insufficient-funds when the wallet is short of
    amount_due_minor; 404 for another's account. Idempotency-Key required: a retry with the
    same key and body replays the first answer; another body with that key is 409
    idempotency-conflict."""
    from creditpay.protection.credit_withdrawal import withdraw_from_wallet

    withdrawal_id = withdrawal_id_of(request, who, idempotency_key)
    catalogue = runtime(request).catalogue

    def use_case(tx: Any) -> dict[str, Any]:
        return withdraw_from_wallet(tx, account_id=account_id, customer_id=who.id,
                                    withdrawal_id=withdrawal_id, catalogue=catalogue).as_dict()

    return idempotent_post(request, who.scope_key, None, use_case)
