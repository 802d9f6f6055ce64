"""Consumer endpoints: registration, login and sessions, profile, KYC, devices, cards,
wallet (balance, history, top-up, withdrawal, P2P) and payment codes."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Depends, Request

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

router = APIRouter(prefix="/v1", tags=["customers"])
CUSTOMER = access(customer=True)
TOKENS = frozenset({"access_token", "refresh_token"})


def _keyed(request: Request, label: str, value: str) -> str:
    """A keyed digest of a secret or personal value (for scopes and request hashes)."""
    return runtime(request).parties.signer.mac(label, value.encode())[:48]


# ----------------------------------------------------------------------- public: auth
@router.post("/customers", status_code=201, response_model=S.CustomerOut,
             summary="Register with a phone number or email and a password")
def register(request: Request, body: S.RegisterIn,
             idempotency_key: str = IdempotencyKey) -> Any:
    rt = runtime(request)
    password_hash = rt.parties.passwords.hash(body.password)  # argon2 before the write lock
    login = body.phone or body.email or ""
    fp = body.model_dump(mode="json", exclude={"password"})
    return idempotent_post(
        request, "register:" + _keyed(request, "scope", login), body,
        lambda tx: rt.parties.register(tx, phone=body.phone, email=body.email,
                                       password_hash=password_hash, device_id=body.device_id,
                                       locale=body.locale),
        status_code=201, fingerprint_body=fp)


@router.post("/auth/login", response_model=S.SessionOut,
             summary="Log in; a new device gets a one-time code first (step-up)")
def login(request: Request, body: S.LoginIn, idempotency_key: str = IdempotencyKey) -> Any:
    rt = runtime(request)
    scope_key = _keyed(request, "scope", body.identifier.strip().lower())
    wait = request.app.state.login_buckets.take(scope_key)
    if wait:
        raise RateLimitedError("too many login attempts for this account; slow down",
                               retry_after_s=int(wait) + 1)
    with rt.uow.connect() as conn:
        row = rt.parties.find_by_identifier(conn, body.identifier)
    if row is not None:
        rt.parties.check_lock(row, rt.clock.now())
    ok = rt.parties.passwords.verify(row.password_hash if row is not None else None,
                                     body.password)
    if not ok:
        if row is not None:
            rt.uow.run(lambda tx: rt.parties.record_login_failure(tx, row.id))
        raise AuthenticationError("wrong phone/email or password")
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
    from creditpay.money import validate_currency

    validate_currency(currency)
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
        note=body.note), status_code=201, fingerprint_body=fp)


@router.post("/me/payment-codes", status_code=201, response_model=S.PaymentCodeOut,
             tags=["qr"], summary="A short-lived, single-use code to show at a till")
def payment_code(request: Request, body: S.PaymentCodeIn, idempotency_key: str = IdempotencyKey,
                 who: Principal = Depends(CUSTOMER)) -> Any:
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body, lambda tx:
                           rt.payments.create_payment_code(tx, who, funding=body.funding,
                                                           card_id=body.card_id),
                           status_code=201, secret_fields=frozenset({"payment_code"}))
