"""Request and response bodies of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic import Strict as PydanticStrict
from pydantic.config import JsonDict

from creditpay.platform.purposes import AccessPurpose

# The largest amount any request may carry (100,000,000.00 in a two-decimal currency): far
# above any real payment or limit, far below what the stores' 64-bit integers hold once
# summed, and checked before a use case runs (422 naming the field).
AMOUNT_MINOR_MAX = 10_000_000_000
AmountMinor = Field(gt=0, le=AMOUNT_MINOR_MAX, description="integer minor units (fen, cents)")
Currency = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
Identifier = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")


def _iso_date(value: Any) -> Any:
    """A JSON date is a ``YYYY-MM-DD`` string and nothing else (pydantic's lax mode would
    also take a number as a Unix time)."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("must be a date as a YYYY-MM-DD string")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date as a YYYY-MM-DD string") from None


JsonDate = Annotated[dt.date, BeforeValidator(_iso_date)]


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("null is not an amount; omit the field to use the whole amount")
    return value


# An amount that may be omitted (meaning "all of it") but is never null: a client that sends
# null by mistake must not capture or refund everything.
OmittableAmountMinor = Annotated[int | None, BeforeValidator(_not_null), WithJsonSchema(
    {"type": "integer", "exclusiveMinimum": 0, "maximum": 10_000_000_000})]


def examples(*values: dict[str, Any], extra: Literal["allow"] | None = None) -> ConfigDict:
    """A model's configuration carrying its OpenAPI ``examples`` (what /docs and /redoc show).
    Each must validate with its model: tests/api/test_openapi_docs.py checks it."""
    config = ConfigDict(json_schema_extra=cast(JsonDict, {"examples": list(values)}))
    if extra is not None:
        config["extra"] = extra
    return config


# Example values shared by several models' examples: one consumer, one merchant and one
# payment of docs/api.md's worked example (business clock at 2025-03-01T09:00Z).
_CUSTOMER: dict[str, Any] = {
    "id": "cus_c77727884ae04a7594dd", "status": "active", "phone": "+86 138****0000",
    "email": None, "kyc_status": "verified", "legal_name": "王**",
    "id_number": "1101**********002X", "locale": "zh-CN",
    "created_at": "2025-03-01T09:00:00+00:00"}
_CARD: dict[str, Any] = {
    "id": "card_0d4f6a8c1e3b5d7f9a2c", "brand": "unionpay", "last4": "7890",
    "masked": "**** **** **** 7890", "expiry_month": 12, "expiry_year": 2028,
    "status": "active", "created_at": "2025-03-01T09:00:00+00:00"}
_WALLET_OPERATION: dict[str, Any] = {
    "id": "wop_2e4a6c8e0b2d4f6a8c0e", "kind": "topup", "status": "pending", "direction": "in",
    "amount_minor": 50000, "currency": "CNY", "card_id": "card_0d4f6a8c1e3b5d7f9a2c",
    "counterparty_customer_id": None, "failure_reason": None,
    "created_at": "2025-03-01T09:00:00+00:00", "completed_at": None}
_INTENT: dict[str, Any] = {
    "id": "pi_5032fafc52fa63cfb660", "merchant_id": "mer_ca246c2c722ec9b79a4a",
    "merchant_name": "Chengdu Electronics", "order_id": "SO-20250301-0042",
    "amount_minor": 360000, "currency": "CNY", "scenario": "online", "description": "Laptop",
    "line_items": [{"name": "Laptop 14\"", "quantity": 1, "unit_amount_minor": 360000}],
    "status": "requires_confirmation", "customer_id": None, "funding": None, "card_id": None,
    "accepted_offer": None, "risk_outcome": None, "captured_minor": 0, "refunded_minor": 0,
    "capture_before": None, "expires_at": "2025-03-02T09:00:00+00:00",
    "created_at": "2025-03-01T09:00:00+00:00", "confirmed_at": None, "qr_payload": None,
    "return_url": "https://shop.example.com/orders/SO-20250301-0042/paid",
    "checkout_url": "http://127.0.0.1:8000/app/checkout/pi_5032fafc52fa63cfb660?t=ck1.Zm9v"}
_OFFER: dict[str, Any] = {
    "offer_id": "off_5df76e05ed70aff2f58440febf0c832be81dfcd6", "funding": "installment_plan",
    "product_code": "baitiao", "product_version": 1, "amount_minor": 360000,
    "down_payment_minor": 0, "financed_minor": 360000, "periods": 6, "installment_count": 6,
    "frequency": "monthly", "per_period_amount_minor": 61800, "first_due_date": "2025-04-01",
    "total_fee_minor": 10800, "total_interest_minor": 0, "total_repayable_minor": 370800,
    "total_payable_minor": 370800, "apr_percent": "10.2136",
    "all_in_annual_cost_percent": "10.2136", "currency": "CNY",
    "key_facts_sha256": "db27ed494ea90bfd52efe3f246c79cba27ff320993bf6095fbbba0c8e120f0db",
    "key_facts_language": "zh-CN",
    "key_facts_url": "/v1/payment_intents/pi_5032fafc52fa63cfb660/credit_offers/"
                     "off_5df76e05ed70aff2f58440febf0c832be81dfcd6/key_facts?lang=zh-CN",
    "schedule": [{"number": n, "due_date": f"2025-{n + 3:02d}-01", "principal_minor": 60000,
                  "interest_minor": 0, "fee_minor": 1800, "total_minor": 61800,
                  "kind": "installment"} for n in range(1, 7)]}
_MERCHANT: dict[str, Any] = {
    "id": "mer_ca246c2c722ec9b79a4a", "name": "Chengdu Electronics", "mcc": "5732",
    "status": "active", "discount_rate": "0.006", "settlement_currency": "CNY",
    "webhook_url": "https://hooks.shop.example.com/creditpay",
    "created_at": "2025-03-01T09:00:00+00:00"}
_API_KEY: dict[str, Any] = {
    "id": "key_950ea463de3496b6a1bd", "key": "cpk0cd669b6e8_q3T9cYw1Hn2pLxA5mRu8vJd6sQ4oNb7I",
    "prefix": None, "scopes": ["keys:write", "payments:read", "payments:write",
                               "refunds:write", "reports:read"],
    "created_at": "2025-03-01T09:00:00+00:00", "revoked_at": None}
_SETTLEMENT: dict[str, Any] = {
    "id": "set_7c9e1a3b5d7f9b1d3f5a", "merchant_id": "mer_ca246c2c722ec9b79a4a",
    "currency": "CNY", "business_date": "2025-03-01", "settled_on": "2025-03-02",
    "gross_minor": 360000, "refunds_minor": 180000, "fee_minor": 1080, "net_minor": 178920,
    "discount_rate": "0.006", "capture_count": 1, "refund_count": 1}
_CONSENT: dict[str, Any] = {
    "id": 12, "purpose": "bureau_inquiry", "partner_id": None, "partner_name": None,
    "granted": True, "valid": True, "text_version": 1, "language": "en",
    "text_sha256": "9f2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a",
    "granted_at": "2025-03-01T09:00:00+00:00", "revoked_at": None}
_COMPLAINT: dict[str, Any] = {
    "id": "cmp_3a5c7e9b1d3f5a7c9e1b3d5f", "customer_id": "cus_c77727884ae04a7594dd",
    "subject_type": "credit_account", "subject_id": "plan_47cd0a792e84cb116535f9bd",
    "category": "fees_and_charges", "channel": "app", "status": "open",
    "opened_at": "2025-03-01T09:00:00+00:00", "acknowledge_due_at": "2025-03-04T09:00:00+00:00",
    "resolve_due_at": "2025-03-16T09:00:00+00:00", "acknowledged_at": None,
    "resolved_at": None, "escalation_level": 0, "outcome": None, "remedy_minor": None,
    "remedy_currency": None}


class Strict(BaseModel):
    """A request body. ``strict``: a JSON number is not a string, ``true`` is not 1 and 1.0 is
    not an integer; every field takes exactly its JSON type (422 naming the field).

    FastAPI validates the parsed JSON in pydantic's Python mode, where strict also refuses
    the JSON forms of richer types: a date field is a :data:`JsonDate` and an enum field is
    ``Annotated[TheEnum, PydanticStrict(False)]`` (its value string);
    ``tests/api/test_strict_input.py`` checks every request model's such fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    field: str | None = None
    instance: str | None = None
    model_config = ConfigDict(extra="allow")


class Page(BaseModel):
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page")


# ----------------------------------------------------------------------- customers / auth
class RegisterIn(Strict):
    phone: str | None = Field(None, max_length=32, description="mobile number")
    email: str | None = Field(None, max_length=254)
    password: str = Field(min_length=10, max_length=128)
    device_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    locale: Literal["zh-CN", "en"] = "zh-CN"
    model_config = examples({"phone": "13800000000", "password": "correct horse battery",
              "device_id": "iphone-7f3a9c01", "locale": "zh-CN"})


class RegistrationOut(BaseModel):
    status: Literal["verification_required"]
    registration_id: str = Field(description="send it with the code to /v1/customers/verify")
    channel: Literal["sms", "email"] = Field(description="where the code was sent")
    expires_in: int = Field(description="seconds the code stays valid")
    model_config = examples({"status": "verification_required",
              "registration_id": "reg_2fc70c6f741c52bce90d", "channel": "sms", "expires_in": 300})


class RegistrationVerifyIn(Strict):
    registration_id: str = Field(min_length=1, max_length=64)
    code: str = Field(pattern=r"^\d{6}$")
    device_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$",
                           description="the device that started the registration")
    model_config = examples({"registration_id": "reg_2fc70c6f741c52bce90d", "code": "973216",
              "device_id": "iphone-7f3a9c01"})


class CustomerOut(BaseModel):
    id: str
    status: str
    phone: str | None = Field(description="masked")
    email: str | None = Field(description="masked")
    kyc_status: Literal["unverified", "verified"]
    legal_name: str | None = Field(description="masked")
    id_number: str | None = Field(description="masked")
    locale: str
    created_at: str
    model_config = examples(_CUSTOMER)


class LoginIn(Strict):
    identifier: str = Field(min_length=3, max_length=254, description="phone or email")
    password: str = Field(min_length=1, max_length=128)
    device_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    model_config = examples({"identifier": "13800000000", "password": "correct horse battery",
              "device_id": "iphone-7f3a9c01"})


class LoginVerifyIn(Strict):
    challenge_id: str = Field(min_length=1, max_length=64)
    code: str = Field(pattern=r"^\d{6}$")
    device_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    model_config = examples({"challenge_id": "chl_5b1e0c9d2a7f4e3b8c61", "code": "402918",
              "device_id": "ipad-20c4e8aa"})


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=128)
    model_config = examples({"refresh_token": "rt_EfkVsGZe0BKq3T9cYw1Hn2pLxA5mRu8vJd6sQ4oNb7I"})


class OperatorLoginIn(Strict):
    operator_id: str = Field(min_length=1, max_length=32,
                             description="the operator's id (printed by operator-create)")
    password: str = Field(min_length=1, max_length=128)
    totp_code: str = Field(pattern=r"^\d{6}$",
                           description="the current 6-digit code of the authenticator app")
    model_config = examples({"operator_id": "op_5d1c9e07a3b24f6e81aa",
                             "password": "correct horse battery staple",
                             "totp_code": "492039"})


class OperatorSessionOut(BaseModel):
    operator_id: str
    role: str
    access_token: str = Field(description="shown once; send as Authorization: Bearer")
    token_type: str
    expires_in: int = Field(description="seconds the token is valid")
    expires_at: str = Field(description="when the token stops working (ISO 8601, UTC)")
    model_config = examples(
        {"operator_id": "op_5d1c9e07a3b24f6e81aa", "role": "risk_analyst",
         "access_token": "v1.eyJyb2xlIjoicmlza19hbmFseXN0In0.9xQ2-w", "token_type": "Bearer",
         "expires_in": 900, "expires_at": "2026-12-09T09:15:00+00:00"})


class SessionOut(BaseModel):
    status: Literal["authenticated", "step_up_required"]
    challenge_id: str | None = None
    customer_id: str | None = None
    access_token: str | None = Field(None, description="shown once")
    refresh_token: str | None = Field(None, description="shown once")
    token_type: str | None = None
    expires_in: int | None = None
    model_config = examples(
        {"status": "authenticated", "challenge_id": None, "customer_id": "cus_c77727884ae04a7594dd",
         "access_token": "v1.eyJkaWQiOiJpcGhvbmUtN2YzYTljMDEi.3q2-7w", "token_type": "Bearer",
         "refresh_token": "rt_EfkVsGZe0BKq3T9cYw1Hn2pLxA5mRu8vJd6sQ4oNb7I", "expires_in": 900},
        {"status": "step_up_required", "challenge_id": "chl_5b1e0c9d2a7f4e3b8c61",
         "customer_id": None, "access_token": None, "refresh_token": None, "token_type": None,
         "expires_in": None})


class LogoutOut(BaseModel):
    logged_out: bool
    model_config = examples({"logged_out": True})


class KycIn(Strict):
    legal_name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=5, max_length=40)
    date_of_birth: JsonDate
    model_config = examples({"legal_name": "王小明", "id_number": "11010519491231002X",
              "date_of_birth": "1949-12-31"})


class DeviceOut(BaseModel):
    id: str
    label: str | None
    trusted: bool
    last_seen_at: str
    created_at: str


class DeviceList(BaseModel):
    data: list[DeviceOut]
    model_config = examples({"data": [{"id": "dev_8f3a1c0e5b7d9a2c4e6f", "label": None,
                                       "trusted": True,
                        "last_seen_at": "2025-03-01T09:00:00+00:00",
                        "created_at": "2025-03-01T09:00:00+00:00"}]})


class CardIn(Strict):
    pan: str = Field(min_length=12, max_length=23, description="card number; never stored")
    expiry_month: int = Field(ge=1, le=12)
    expiry_year: int = Field(ge=2000, le=2100)
    model_config = examples({"pan": "6222021234567890", "expiry_month": 12, "expiry_year": 2028})


class CardOut(BaseModel):
    id: str
    brand: str
    last4: str
    masked: str
    expiry_month: int
    expiry_year: int
    status: str
    created_at: str
    model_config = examples(_CARD)


class CardList(BaseModel):
    data: list[CardOut]
    model_config = examples({"data": [_CARD]})


class StatusOut(BaseModel):
    id: str
    status: str | None = None
    trusted: bool | None = None
    revoked: bool | None = None
    model_config = examples({"id": "card_0d4f6a8c1e3b5d7f9a2c", "status": "removed"},
                            {"id": "key_950ea463de3496b6a1bd", "revoked": True})


# ----------------------------------------------------------------------- wallet
class WalletOut(BaseModel):
    currency: str
    balance_minor: int
    available_minor: int
    incoming_pending_minor: int
    model_config = examples({"currency": "CNY", "balance_minor": 520000, "available_minor": 500000,
              "incoming_pending_minor": 20000})


class CardMoveIn(Strict):
    card_id: str = Field(min_length=1, max_length=64)
    amount_minor: int = AmountMinor
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    model_config = examples({"card_id": "card_0d4f6a8c1e3b5d7f9a2c", "amount_minor": 50000,
              "currency": "CNY"})


class TransferIn(Strict):
    to: str = Field(min_length=3, max_length=254, description="payee's phone or email")
    amount_minor: int = AmountMinor
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    note: str | None = Field(None, max_length=140)
    # When screening asks for verification (403 step-up-required): send again with these.
    step_up_challenge_id: str | None = Field(None, max_length=64)
    step_up_code: str | None = Field(None, pattern=r"^\d{6}$")
    model_config = examples({"to": "13900000000", "amount_minor": 8800, "currency": "CNY",
              "note": "dinner"})


class WalletOperationOut(BaseModel):
    id: str
    kind: Literal["topup", "withdrawal", "p2p"]
    status: Literal["pending", "succeeded", "failed"]
    direction: Literal["in", "out"]
    amount_minor: int
    currency: str
    card_id: str | None
    counterparty_customer_id: str | None
    failure_reason: str | None
    created_at: str
    completed_at: str | None
    model_config = examples(_WALLET_OPERATION)


class WalletHistory(Page):
    data: list[WalletOperationOut]
    model_config = examples({"data": [_WALLET_OPERATION], "next_cursor": "c2VxOjQx"})


class PaymentCodeIn(Strict):
    funding: Literal["balance", "card"]
    card_id: str | None = Field(None, max_length=64)
    model_config = examples({"funding": "balance"},
                            {"funding": "card", "card_id": "card_0d4f6a8c1e3b5d7f9a2c"})


class PaymentCodeOut(BaseModel):
    id: str
    payment_code: str = Field(description="signed, single use, short-lived; show as QR")
    funding: str
    expires_at: str
    model_config = examples({"id": "pc_71b2c3d4e5f60718293a",
                             "payment_code": "pc1.eyJjIjoicGNfNzFi.Q2x9",
              "funding": "balance", "expires_at": "2025-03-01T09:01:00+00:00"})


# ----------------------------------------------------------------------- payment intents
class LineItem(Strict):
    name: str = Field(min_length=1, max_length=128)
    quantity: int = Field(ge=1, le=10_000)
    unit_amount_minor: int = Field(ge=0, le=10_000_000_000)


class IntentIn(Strict):
    amount_minor: int = AmountMinor
    currency: str = Currency
    order_id: str = Identifier
    scenario: Literal["online", "offline_qr", "social", "rental"] = "online"
    description: str | None = Field(None, max_length=255)
    line_items: list[LineItem] = Field(default_factory=list, max_length=100)
    return_url: str | None = Field(
        None, max_length=1024,
        description="where the hosted checkout sends the shopper back, with intent_id and "
                    "status added to its query: https (http on a loopback host in "
                    "development only), no user name or password, no fragment",
        examples=["https://shop.example.com/orders/A-1001/paid"])
    model_config = examples({"amount_minor": 360000, "currency": "CNY",
                             "order_id": "SO-20250301-0042",
              "description": "Laptop", "line_items": [
                  {"name": "Laptop 14\"", "quantity": 1, "unit_amount_minor": 360000}],
              "return_url": "https://shop.example.com/orders/SO-20250301-0042/paid"})


class DownPaymentFigures(BaseModel):
    """How an offer splits the price: a down payment from the wallet at checkout (cash, not
    credit) and the financed rest (the credit: schedule, fees, interest and APR are of it)."""

    down_payment_minor: int = Field(
        0, description="paid from the wallet at checkout, held on confirm and posted to the "
                       "merchant on capture; 0 when the offer takes none")
    financed_minor: int = Field(description="the amount of credit: price - down payment")
    model_config = ConfigDict(extra="allow")


class AcceptedOffer(DownPaymentFigures):
    offer_id: str


_PAYMENT_FX: dict[str, Any] = {
    "quote_id": "fxq_7c1e2b9a0d4f4e6b8a21", "sell_currency": "CNY", "buy_currency": "JPY",
    "mid_rate": "0.0482000000", "markup_bps": 80, "client_rate": "0.0485856000",
    "sell_amount_minor": 485856, "buy_amount_minor": 100000, "markup_minor": 3856,
    "quoted_at": "2025-03-01T09:00:00+00:00", "expires_at": "2025-03-01T09:30:00+00:00",
    "status": "accepted", "accepted_at": "2025-03-01T09:02:00+00:00",
    "sell_captured_minor": 485856, "sell_refunded_minor": 0}


class PaymentFxOut(BaseModel):
    """The FX quote of a payment in a foreign currency (issue #21): what the consumer pays in
    CNY (sell) for the merchant's amount (buy), at the client rate (the mid rate moved
    against the consumer by markup_bps); rates are decimal strings, sell-currency major
    units per one buy-currency major unit."""

    quote_id: str
    sell_currency: str
    buy_currency: str
    mid_rate: str
    markup_bps: int
    client_rate: str
    sell_amount_minor: int
    buy_amount_minor: int
    markup_minor: int = Field(description="the markup in sell-currency minor units")
    quoted_at: str
    expires_at: str = Field(description="the rate is locked until then (30 minutes)")
    status: Literal["shown", "accepted"] | None = None
    accepted_at: str | None = None
    sell_captured_minor: int | None = None
    sell_refunded_minor: int | None = None
    used: bool | None = None
    model_config = examples(_PAYMENT_FX)


class IntentOut(BaseModel):
    id: str
    merchant_id: str
    merchant_name: str | None
    order_id: str
    amount_minor: int
    currency: str
    scenario: str
    description: str | None
    line_items: list[dict[str, Any]]
    status: Literal["requires_confirmation", "in_review", "requires_capture", "succeeded",
                    "canceled", "declined", "expired"]
    customer_id: str | None
    funding: str | None
    card_id: str | None
    accepted_offer: AcceptedOffer | None = Field(
        description="the credit offer the consumer picked, with the exact figures shown")
    risk_outcome: str | None
    captured_minor: int
    refunded_minor: int
    capture_before: str | None
    expires_at: str
    created_at: str
    confirmed_at: str | None
    qr_payload: str | None = Field(None, description="offline_qr: signed, expiring QR text")
    return_url: str | None = Field(None, description="where the hosted checkout sends the "
                                                     "shopper back (as created)")
    checkout_url: str | None = Field(
        None, description="the hosted checkout page to send the shopper to (absolute URL); "
                          "given to the merchant on create and GET while the intent can "
                          "still be paid: it stops working once the intent is paid, "
                          "cancelled or expired, and at most 30 minutes after creation")
    fx: PaymentFxOut | None = Field(
        None, description="a payment in a foreign currency: the accepted FX quote (or, for "
                          "the customer paying it, the last quote shown to them)")
    model_config = examples(_INTENT)


class IntentList(Page):
    data: list[IntentOut]
    model_config = examples({"data": [_INTENT], "next_cursor": None})


class OffersIn(Strict):
    product_codes: list[str] | None = Field(None, max_length=20)
    language: Literal["zh-CN", "en"] | None = Field(
        None, description="language of the key-facts documents (default: your locale)")
    model_config = examples({}, {"product_codes": ["baitiao"], "language": "en"})


class OfferOut(DownPaymentFigures):
    offer_id: str
    funding: Literal["credit_line", "installment_plan"]
    periods: int = Field(description="installments of the financed part")
    installment_count: int | None = Field(
        None, description="payments the consumer makes: periods, plus 1 for a down payment "
                          "(installment 1 of the offer's schedule)")
    total_payable_minor: int | None = Field(
        None, description="everything the consumer pays: down payment + total repayable")
    per_period_amount_minor: int
    total_repayable_minor: int
    total_fee_minor: int
    total_interest_minor: int
    apr_percent: str
    all_in_annual_cost_percent: str
    key_facts_sha256: str = Field(
        description="SHA-256 of this offer's key-facts document (HTML, key_facts_language); "
                    "confirming with this offer must send it back")
    key_facts_language: Literal["zh-CN", "en"]
    key_facts_url: str = Field(description="GET it for the document (text/html); "
                                           "lang=zh-CN or en")
    model_config = ConfigDict(extra="allow")


class SpendingNudge(BaseModel):
    rule: str
    utilisation: str = Field(description="used / limit of the line, 4 decimals")
    threshold: str
    message_zh_cn: str
    message_en: str


class OffersOut(BaseModel):
    quote_id: str
    intent_id: str
    offers: list[OfferOut]
    expires_at: str
    spending_nudge: SpendingNudge | None = Field(
        None, description="shown when most of the credit line is used (advisory)")
    fx: PaymentFxOut | None = Field(
        None, description="a payment in a foreign currency: the FX quote whose CNY amount "
                          "the offers finance (confirm with its quote_id)")
    model_config = examples({"quote_id": "quo_2b0716337c91fb5c4765d864",
              "intent_id": "pi_5032fafc52fa63cfb660", "offers": [_OFFER],
              "expires_at": "2025-03-01T09:15:00+00:00", "spending_nudge": None})


class ConfirmIn(Strict):
    funding: Literal["balance", "card", "credit_line", "installment_plan"]
    card_id: str | None = Field(None, max_length=64)
    offer_id: str | None = Field(None, max_length=128,
                                 description="required for credit: an offer you were shown")
    key_facts_sha256: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$",
        description="required for credit: the key_facts_sha256 of the offer you picked "
                    "(the key-facts document you were shown)")
    step_up_challenge_id: str | None = Field(None, max_length=64)
    step_up_code: str | None = Field(None, pattern=r"^\d{6}$")
    quote_id: str | None = Field(
        None, max_length=64,
        description="required for a payment in a foreign currency: the quote_id of the FX "
                    "quote (POST .../fx_quote) whose CNY amount you accept")
    model_config = examples(
        {"funding": "installment_plan", "offer_id": "off_5df76e05ed70aff2f58440febf0c832be81dfcd6",
         "key_facts_sha256": "db27ed494ea90bfd52efe3f246c79cba27ff320993bf6095fbbba0c8e120f0db"},
        {"funding": "card", "card_id": "card_0d4f6a8c1e3b5d7f9a2c"},
        {"funding": "balance", "step_up_challenge_id": "chl_5b1e0c9d2a7f4e3b8c61",
         "step_up_code": "402918"})


class QrPayIn(ConfirmIn):
    qr_payload: str = Field(min_length=1, max_length=2048)
    model_config = examples({"qr_payload": "qr1.eyJpIjoicGlfNTAzMmZhZmM1MmZhNjNjZmI2NjAifQ.kR7w",
              "funding": "balance"})


class CaptureIn(Strict):
    amount_minor: OmittableAmountMinor = Field(
        None, gt=0, le=10_000_000_000,
        description="integer minor units; omit to capture the full amount (never null)")
    model_config = examples({}, {"amount_minor": 300000})


class EmptyIn(Strict):
    pass


class RefundIn(Strict):
    amount_minor: OmittableAmountMinor = Field(
        None, gt=0, le=10_000_000_000,
        description="integer minor units; omit to refund everything left (never null)")
    reason: str | None = Field(None, max_length=64)
    model_config = examples({"amount_minor": 180000, "reason": "one of two items returned"}, {})


class RefundOut(BaseModel):
    id: str
    intent_id: str
    amount_minor: int
    currency: str
    reason: str | None
    status: str
    created_at: str
    intent: IntentOut
    fx_refund: dict[str, Any] | None = Field(
        None, description="a payment in a foreign currency: what the consumer gets back "
                          "(quote_id, sell_currency, sell_amount_minor) at the original rate")
    model_config = examples({"id": "re_951b08da12e5fffc075e",
                             "intent_id": "pi_5032fafc52fa63cfb660",
              "amount_minor": 180000, "currency": "CNY", "reason": "one of two items returned",
              "status": "succeeded", "created_at": "2025-03-01T09:00:00+00:00",
              "intent": {**_INTENT, "status": "succeeded",
                         "customer_id": "cus_c77727884ae04a7594dd",
                         "funding": "balance", "risk_outcome": "approve", "captured_minor": 360000,
                         "refunded_minor": 180000, "checkout_url": None,
                         "capture_before": "2025-03-08T09:00:00+00:00",
                         "confirmed_at": "2025-03-01T09:00:00+00:00"}})


class CollectIn(Strict):
    payment_code: str = Field(min_length=1, max_length=2048)
    model_config = examples({"payment_code": "pc1.eyJjIjoicGNfNzFi.Q2x9"})


# ----------------------------------------------------------------------- merchants
class MerchantOut(BaseModel):
    id: str
    name: str
    mcc: str
    status: str
    discount_rate: str = Field(description="decimal fraction, e.g. '0.006' = 0.6 %")
    settlement_currency: str
    country: str = Field("CN", description="ISO 3166-1 alpha-2")
    webhook_url: str | None
    created_at: str
    model_config = examples(_MERCHANT)


class ApiKeyOut(BaseModel):
    id: str
    key: str | None = Field(None, description="shown once")
    prefix: str | None = None
    scopes: list[str]
    created_at: str
    revoked_at: str | None = None
    model_config = examples(_API_KEY)


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]
    model_config = examples({"data": [{**_API_KEY, "key": None, "prefix": "cpk0cd669b6e8"}]})


class ApiKeyIn(Strict):
    scopes: list[Literal["payments:write", "payments:read", "refunds:write", "reports:read",
                         "keys:write"]] = Field(min_length=1, max_length=5)
    model_config = examples({"scopes": ["payments:read", "reports:read"]})


class WebhookIn(Strict):
    webhook_url: str | None = Field(None, max_length=512)
    model_config = examples({"webhook_url": "https://hooks.shop.example.com/creditpay"},
                            {"webhook_url": None})


class OnboardIn(Strict):
    name: str = Field(min_length=1, max_length=128)
    mcc: str = Field(pattern=r"^\d{4}$")
    discount_rate: str = Field(pattern=r"^0(\.\d{1,6})?$", description="e.g. '0.006'")
    settlement_currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    webhook_url: str | None = Field(None, max_length=512)
    country: str = Field("CN", pattern=r"^[A-Z]{2}$",
                         description="ISO 3166-1 alpha-2; a foreign merchant settles in its "
                                     "own settlement_currency")
    model_config = examples({"name": "Chengdu Electronics", "mcc": "5732", "discount_rate": "0.006",
              "settlement_currency": "CNY",
              "webhook_url": "https://hooks.shop.example.com/creditpay"},
              {"name": "Kyoto Souvenirs", "mcc": "5947", "discount_rate": "0.01",
               "settlement_currency": "JPY", "country": "JP"})


class OnboardOut(BaseModel):
    merchant: MerchantOut
    api_key: ApiKeyOut
    webhook_secret: str | None = Field(description="shown once")
    model_config = examples({"merchant": _MERCHANT, "api_key": _API_KEY,
              "webhook_secret": "whsec__3EfKIa1nR8tq0yJbV5cXw2LpM9sHd4uGk7oZ6eAf"})


# ----------------------------------------------------------------------- settlements
class SettlementOut(BaseModel):
    id: str
    merchant_id: str
    currency: str
    business_date: str
    settled_on: str
    gross_minor: int
    refunds_minor: int
    fee_minor: int
    net_minor: int
    discount_rate: str
    capture_count: int
    refund_count: int


class SettlementLine(BaseModel):
    kind: Literal["capture", "refund"]
    id: str
    intent_id: str
    order_id: str
    amount_minor: int
    created_at: str


class SettlementReport(SettlementOut):
    lines: list[SettlementLine]
    model_config = examples({**_SETTLEMENT, "lines": [
        {"kind": "capture", "id": "cap_3c5e7a9b1d2f4a6c8e0b",
         "intent_id": "pi_5032fafc52fa63cfb660",
         "order_id": "SO-20250301-0042", "amount_minor": 360000,
         "created_at": "2025-03-01T09:00:00+00:00"},
        {"kind": "refund", "id": "re_951b08da12e5fffc075e", "intent_id": "pi_5032fafc52fa63cfb660",
         "order_id": "SO-20250301-0042", "amount_minor": 180000,
         "created_at": "2025-03-01T15:30:00+00:00"}]})


class SettlementList(Page):
    data: list[SettlementOut]
    model_config = examples({"data": [_SETTLEMENT], "next_cursor": None})


class SettleIn(Strict):
    business_date: JsonDate
    model_config = examples({"business_date": "2025-03-01"})


class SettleOut(BaseModel):
    data: list[SettlementOut]
    model_config = examples({"data": [_SETTLEMENT]})


# ----------------------------------------------------------------------- operators
class ReviewIn(Strict):
    approve: bool
    note: str | None = Field(None, max_length=200)
    model_config = examples({"approve": True, "note": "customer confirmed the purchase by phone"})


class PersonalDataIn(Strict):
    # A code, never free text: the purpose goes into the audit chain, which cannot erase a
    # name typed into it (docs/security.md section 6 lists the codes).
    purpose: Annotated[AccessPurpose, PydanticStrict(False)] = Field(
        description="why the data is read: one of the access purpose codes (audited)")
    model_config = examples({"purpose": "customer_request"})


class NoteOut(BaseModel):
    id: str
    kind: str = Field(description="e.g. fraud_case.note")
    about_type: str
    about_id: str
    author_id: str
    created_at: str
    erased: bool = Field(description="true once the person's data was erased")
    text: str | None
    model_config = examples({"id": "note_4b6d8f0a2c4e6a8b0d2f4a6c", "kind": "fraud_case.note",
              "about_type": "fraud_case", "about_id": "fcase_1a3c5e7b9d0f2a4c6e8b",
              "author_id": "op_6e8a0c2e4b6d8f0a1c3e", "created_at": "2025-03-01T10:12:00+00:00",
              "erased": False, "text": "Device matches the customer's usual phone."})


class PersonalDataOut(BaseModel):
    id: str
    phone: str | None
    email: str | None
    legal_name: str | None
    id_number: str | None
    date_of_birth: str | None
    model_config = examples({"id": "cus_c77727884ae04a7594dd", "phone": "+8613800000000",
              "email": None, "legal_name": "王小明", "id_number": "11010519491231002X",
              "date_of_birth": "1949-12-31"})


class CreditLineIn(Strict):
    limit_minor: int = AmountMinor
    product_code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    model_config = examples({"limit_minor": 1000000, "product_code": "huabei", "currency": "CNY"})


class CreditLineOut(BaseModel):
    line_id: str
    customer_id: str
    currency: str
    product_code: str
    limit_minor: int
    available_minor: int
    status: str
    model_config = examples({"line_id": "line_cus_c77727884ae04a7594dd_CNY",
              "customer_id": "cus_c77727884ae04a7594dd", "currency": "CNY",
              "product_code": "huabei", "limit_minor": 1000000, "available_minor": 1000000,
              "status": "active"})


class JobOut(BaseModel):
    job: str
    model_config = examples({"job": "expire", "holds_expired": 2, "intents_expired": 1},
                            {"job": "webhooks", "delivered": 3, "failed_attempts": 0,
                             "given_up": 0},
                            extra="allow")


class RailCallbackIn(Strict):
    operation_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(max_length=16)
    reference: str = Field(max_length=64)
    outcome: Literal["succeeded", "failed"]
    amount_minor: int = Field(ge=0, le=AMOUNT_MINOR_MAX)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    model_config = examples({"operation_id": "rop_9a8b7c6d5e4f3a2b1c0d", "kind": "charge",
              "reference": "wop_2e4a6c8e0b2d4f6a8c0e", "outcome": "succeeded",
              "amount_minor": 50000, "currency": "CNY"})


class RailCallbackOut(BaseModel):
    operation_id: str
    applied: bool
    status: str | None = None
    model_config = examples({"operation_id": "rop_9a8b7c6d5e4f3a2b1c0d", "applied": True,
              "status": "succeeded"})


class Health(BaseModel):
    status: str
    model_config = examples({"status": "ok"})


# ----------------------------------------------------------------------- consumer rights
ConsentPurpose = Literal["credit_assessment", "bureau_inquiry",
                         "share_payment_data_with_partner", "auto_debit", "marketing"]
ComplaintCategory = Literal["fees_and_charges", "disclosure", "credit_decision",
                            "repayment_and_billing", "collections_conduct",
                            "privacy_and_consent", "fraud_dispute", "service_quality", "other"]
Reference = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")


class ConsentTextOut(BaseModel):
    purpose: ConsentPurpose
    text_version: int
    language: Literal["zh-CN", "en"]
    text: str
    text_sha256: str = Field(description="SHA-256 (hex) of the UTF-8 text: send it back to "
                                         "grant")
    model_config = examples({"purpose": "bureau_inquiry", "text_version": 1, "language": "en",
              "text": "I agree that the lender may query my credit report at the credit bureau "
                      "to assess my application.",
              "text_sha256": "9f2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a"})


class ConsentGrantIn(Strict):
    purpose: ConsentPurpose
    text_version: int = Field(ge=1, le=1_000_000, description="the version shown")
    language: Literal["zh-CN", "en"]
    text_sha256: str = Field(pattern=r"^[0-9a-f]{64}$",
                             description="SHA-256 of the exact text the screen displayed")
    channel: Literal["app", "web"] = "app"
    partner_id: str | None = Field(None, min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$",
                                   description="share_payment_data_with_partner only")
    partner_name: str | None = Field(None, min_length=1, max_length=128)
    model_config = examples({"purpose": "bureau_inquiry", "text_version": 1, "language": "en",
              "text_sha256": "9f2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a",
              "channel": "app"})


class ConsentOut(BaseModel):
    id: int = Field(description="the latest record of this purpose (revoke with it)")
    purpose: ConsentPurpose
    partner_id: str | None
    partner_name: str | None
    granted: bool = Field(description="in force now")
    valid: bool = Field(description="in force, given to a text version still accepted")
    text_version: int
    language: str
    text_sha256: str
    granted_at: str | None
    revoked_at: str | None
    model_config = examples(_CONSENT)


class ConsentList(BaseModel):
    data: list[ConsentOut]
    model_config = examples({"data": [_CONSENT]})


# payments.complaint_subjects.SUBJECT_TYPES (a test keeps the two equal).
ComplaintSubjectType = Literal["customer", "payment_intent", "wallet_operation",
                               "credit_account", "credit_statement", "credit_application"]


class ComplaintIn(Strict):
    category: ComplaintCategory
    subject_type: ComplaintSubjectType = Field(
        description="what it is about; subject_id names one of yours (customer: your own "
                    "customer id, for the service in general)")
    subject_id: str = Reference
    model_config = examples({"category": "fees_and_charges", "subject_type": "credit_account",
              "subject_id": "plan_47cd0a792e84cb116535f9bd"})


class ComplaintOut(BaseModel):
    id: str
    customer_id: str
    subject_type: str
    subject_id: str
    category: str
    channel: str
    status: Literal["open", "acknowledged", "resolved"]
    opened_at: str
    acknowledge_due_at: str
    resolve_due_at: str
    acknowledged_at: str | None
    resolved_at: str | None
    escalation_level: int
    outcome: str | None
    remedy_minor: int | None
    remedy_currency: str | None
    model_config = examples(_COMPLAINT)


class ComplaintList(BaseModel):
    data: list[ComplaintOut]
    model_config = examples({"data": [_COMPLAINT]})


class ComplaintResolveIn(Strict):
    outcome: Literal["upheld", "partially_upheld", "not_upheld", "withdrawn_by_customer"]
    remedy_minor: int | None = Field(None, ge=0, le=10_000_000_000)
    remedy_currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    model_config = examples({"outcome": "upheld", "remedy_minor": 1800, "remedy_currency": "CNY"},
                            {"outcome": "not_upheld"})


class FunderOut(BaseModel):
    name: str = Field(description="the lender: the platform or a partner lender")
    partner_id: str | None = Field(description="the partner lender's id; null: the platform")
    share_bps: int = Field(description="its share of the principal lent, basis points")


class CreditAccountOut(BaseModel):
    account_id: str
    kind: Literal["line", "plan", "loan"]
    status: str
    product_code: str
    principal_minor: int
    principal_past_due_minor: int
    interest_accrued_minor: int
    dpd: int
    next_due_date: str | None
    funders: list[FunderOut] = Field(
        default_factory=list,
        description="who lent this credit when partner lenders fund it (joint lending or "
                    "facilitation), with their shares; empty: the platform lent it alone")


class CreditAccountList(BaseModel):
    data: list[CreditAccountOut]
    model_config = examples({"data": [
        {"account_id": "line_cus_c77727884ae04a7594dd_CNY", "kind": "line", "status": "active",
         "product_code": "huabei", "principal_minor": 0, "principal_past_due_minor": 0,
         "interest_accrued_minor": 0, "dpd": 0, "next_due_date": None},
        {"account_id": "plan_47cd0a792e84cb116535f9bd", "kind": "plan", "status": "active",
         "product_code": "baitiao", "principal_minor": 180000, "principal_past_due_minor": 0,
         "interest_accrued_minor": 0, "dpd": 0, "next_due_date": "2025-04-01",
         "funders": [{"name": "Example Bank", "partner_id": "ptn_5f1c2a9e0b7d4c3a8e61",
                      "share_bps": 7000},
                     {"name": "creditpay", "partner_id": None, "share_bps": 3000}]}]})


class ProductExposureOut(BaseModel):
    product_code: str
    kind: Literal["line", "plan", "loan"]
    accounts: int
    principal_minor: int = Field(description="principal outstanding (unbilled, billed and "
                                             "past due)")
    principal_past_due_minor: int


class MyCreditLineOut(BaseModel):
    line_id: str
    currency: str
    product_code: str
    status: str
    limit_minor: int
    available_minor: int = Field(description="what can be used now")
    used_minor: int = Field(description="limit - available: drawn and held")
    held_minor: int = Field(description="authorised purchases not captured yet")
    exposure_minor: int = Field(description="principal outstanding plus open holds")
    exposure_by_product: list[ProductExposureOut]
    disputed_minor: int = Field(0, description="principal of the line held while purchases "
                                "on it are disputed: in the exposure, not due while we "
                                "investigate (issue #20)")
    bill_in_full_minor: int = Field(
        description="what a repayment without account_id takes today to pay everything due "
                    "and the latest bill in full (the plan installments it shows included, "
                    "at the amounts shown); more would pay the line's new purchases ahead")
    model_config = examples({"line_id": "line_cus_c77727884ae04a7594dd_CNY", "currency": "CNY",
              "product_code": "huabei", "status": "active", "limit_minor": 1000000,
              "available_minor": 820000, "used_minor": 180000, "held_minor": 0,
              "exposure_minor": 180000, "exposure_by_product": [
                  {"product_code": "baitiao", "kind": "plan", "accounts": 1,
                   "principal_minor": 180000, "principal_past_due_minor": 0}],
              "bill_in_full_minor": 61800})


class WithdrawalOut(BaseModel):
    withdrawal_id: str
    account_id: str
    currency: str
    withdrawal_date: str
    deadline: str = Field(description="last day of the withdrawal period (inclusive)")
    days_used: int
    principal_minor: int
    interest_minor: int = Field(description="interest for the days used: the only charge")
    paid_before_minor: int
    amount_due_minor: int = Field(description="taken from the wallet")
    refund_minor: int = Field(description="returned to the wallet")
    fees_reversed_minor: int
    penalty_reversed_minor: int
    interest_reversed_minor: int
    merchant_fee_reversed_minor: int
    limit_restored_minor: int
    status: str
    model_config = examples({"withdrawal_id": "wd_5e1f0a9c3b7d2e6f4a8c0b1d3e5f7a9c2b4d6e8f",
              "account_id": "plan_47cd0a792e84cb116535f9bd", "currency": "CNY",
              "withdrawal_date": "2025-03-06", "deadline": "2025-03-15", "days_used": 5,
              "principal_minor": 180000, "interest_minor": 0, "paid_before_minor": 0,
              "amount_due_minor": 180000, "refund_minor": 0, "fees_reversed_minor": 5400,
              "penalty_reversed_minor": 0, "interest_reversed_minor": 0,
              "merchant_fee_reversed_minor": 0, "limit_restored_minor": 180000,
              "status": "closed"})
