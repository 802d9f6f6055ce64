"""Request and response bodies of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic import Strict as PydanticStrict

from creditpay.platform.purposes import AccessPurpose

AmountMinor = Field(gt=0, le=10_000_000_000, description="integer minor units (fen, cents)")
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


class RegistrationOut(BaseModel):
    status: Literal["verification_required"]
    registration_id: str = Field(description="send it with the code to /v1/customers/verify")
    channel: Literal["sms", "email"] = Field(description="where the code was sent")
    expires_in: int = Field(description="seconds the code stays valid")


class RegistrationVerifyIn(Strict):
    registration_id: str = Field(min_length=1, max_length=64)
    code: str = Field(pattern=r"^\d{6}$")
    device_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$",
                           description="the device that started the registration")


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


class LoginIn(Strict):
    identifier: str = Field(min_length=3, max_length=254, description="phone or email")
    password: str = Field(min_length=1, max_length=128)
    device_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")


class LoginVerifyIn(Strict):
    challenge_id: str = Field(min_length=1, max_length=64)
    code: str = Field(pattern=r"^\d{6}$")
    device_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=128)


class SessionOut(BaseModel):
    status: Literal["authenticated", "step_up_required"]
    challenge_id: str | None = None
    customer_id: str | None = None
    access_token: str | None = Field(None, description="shown once")
    refresh_token: str | None = Field(None, description="shown once")
    token_type: str | None = None
    expires_in: int | None = None


class LogoutOut(BaseModel):
    logged_out: bool


class KycIn(Strict):
    legal_name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=5, max_length=40)
    date_of_birth: JsonDate


class DeviceOut(BaseModel):
    id: str
    label: str | None
    trusted: bool
    last_seen_at: str
    created_at: str


class DeviceList(BaseModel):
    data: list[DeviceOut]


class CardIn(Strict):
    pan: str = Field(min_length=12, max_length=23, description="card number; never stored")
    expiry_month: int = Field(ge=1, le=12)
    expiry_year: int = Field(ge=2000, le=2100)


class CardOut(BaseModel):
    id: str
    brand: str
    last4: str
    masked: str
    expiry_month: int
    expiry_year: int
    status: str
    created_at: str


class CardList(BaseModel):
    data: list[CardOut]


class StatusOut(BaseModel):
    id: str
    status: str | None = None
    trusted: bool | None = None
    revoked: bool | None = None


# ----------------------------------------------------------------------- wallet
class WalletOut(BaseModel):
    currency: str
    balance_minor: int
    available_minor: int
    incoming_pending_minor: int


class CardMoveIn(Strict):
    card_id: str = Field(min_length=1, max_length=64)
    amount_minor: int = AmountMinor
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")


class TransferIn(Strict):
    to: str = Field(min_length=3, max_length=254, description="payee's phone or email")
    amount_minor: int = AmountMinor
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    note: str | None = Field(None, max_length=140)
    # When screening asks for verification (403 step-up-required): send again with these.
    step_up_challenge_id: str | None = Field(None, max_length=64)
    step_up_code: str | None = Field(None, pattern=r"^\d{6}$")


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


class WalletHistory(Page):
    data: list[WalletOperationOut]


class PaymentCodeIn(Strict):
    funding: Literal["balance", "card"]
    card_id: str | None = Field(None, max_length=64)


class PaymentCodeOut(BaseModel):
    id: str
    payment_code: str = Field(description="signed, single use, short-lived; show as QR")
    funding: str
    expires_at: str


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


class IntentList(Page):
    data: list[IntentOut]


class OffersIn(Strict):
    product_codes: list[str] | None = Field(None, max_length=20)
    language: Literal["zh-CN", "en"] | None = Field(
        None, description="language of the key-facts documents (default: your locale)")


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


class QrPayIn(ConfirmIn):
    qr_payload: str = Field(min_length=1, max_length=2048)


class CaptureIn(Strict):
    amount_minor: OmittableAmountMinor = Field(
        None, gt=0, le=10_000_000_000,
        description="integer minor units; omit to capture the full amount (never null)")


class EmptyIn(Strict):
    pass


class RefundIn(Strict):
    amount_minor: OmittableAmountMinor = Field(
        None, gt=0, le=10_000_000_000,
        description="integer minor units; omit to refund everything left (never null)")
    reason: str | None = Field(None, max_length=64)


class RefundOut(BaseModel):
    id: str
    intent_id: str
    amount_minor: int
    currency: str
    reason: str | None
    status: str
    created_at: str
    intent: IntentOut


class CollectIn(Strict):
    payment_code: str = Field(min_length=1, max_length=2048)


# ----------------------------------------------------------------------- merchants
class MerchantOut(BaseModel):
    id: str
    name: str
    mcc: str
    status: str
    discount_rate: str = Field(description="decimal fraction, e.g. '0.006' = 0.6 %")
    settlement_currency: str
    webhook_url: str | None
    created_at: str


class ApiKeyOut(BaseModel):
    id: str
    key: str | None = Field(None, description="shown once")
    prefix: str | None = None
    scopes: list[str]
    created_at: str
    revoked_at: str | None = None


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]


class ApiKeyIn(Strict):
    scopes: list[Literal["payments:write", "payments:read", "refunds:write", "reports:read",
                         "keys:write"]] = Field(min_length=1, max_length=5)


class WebhookIn(Strict):
    webhook_url: str | None = Field(None, max_length=512)


class OnboardIn(Strict):
    name: str = Field(min_length=1, max_length=128)
    mcc: str = Field(pattern=r"^\d{4}$")
    discount_rate: str = Field(pattern=r"^0(\.\d{1,6})?$", description="e.g. '0.006'")
    settlement_currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    webhook_url: str | None = Field(None, max_length=512)


class OnboardOut(BaseModel):
    merchant: MerchantOut
    api_key: ApiKeyOut
    webhook_secret: str | None = Field(description="shown once")


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


class SettlementList(Page):
    data: list[SettlementOut]


class SettleIn(Strict):
    business_date: JsonDate


class SettleOut(BaseModel):
    data: list[SettlementOut]


# ----------------------------------------------------------------------- operators
class ReviewIn(Strict):
    approve: bool
    note: str | None = Field(None, max_length=200)


class PersonalDataIn(Strict):
    # A code, never free text: the purpose goes into the audit chain, which cannot erase a
    # name typed into it (docs/security.md section 6 lists the codes).
    purpose: Annotated[AccessPurpose, PydanticStrict(False)] = Field(
        description="why the data is read: one of the access purpose codes (audited)")


class NoteOut(BaseModel):
    id: str
    kind: str = Field(description="e.g. fraud_case.note")
    about_type: str
    about_id: str
    author_id: str
    created_at: str
    erased: bool = Field(description="true once the person's data was erased")
    text: str | None


class PersonalDataOut(BaseModel):
    id: str
    phone: str | None
    email: str | None
    legal_name: str | None
    id_number: str | None
    date_of_birth: str | None


class CreditLineIn(Strict):
    limit_minor: int = AmountMinor
    product_code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")


class CreditLineOut(BaseModel):
    line_id: str
    customer_id: str
    currency: str
    product_code: str
    limit_minor: int
    available_minor: int
    status: str


class JobOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    job: str


class RailCallbackIn(Strict):
    operation_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(max_length=16)
    reference: str = Field(max_length=64)
    outcome: Literal["succeeded", "failed"]
    amount_minor: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class RailCallbackOut(BaseModel):
    operation_id: str
    applied: bool
    status: str | None = None


class Health(BaseModel):
    status: str


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


class ConsentList(BaseModel):
    data: list[ConsentOut]


# payments.complaint_subjects.SUBJECT_TYPES (a test keeps the two equal).
ComplaintSubjectType = Literal["customer", "payment_intent", "wallet_operation",
                               "credit_account", "credit_statement", "credit_application"]


class ComplaintIn(Strict):
    category: ComplaintCategory
    subject_type: ComplaintSubjectType = Field(
        description="what it is about; subject_id names one of yours (customer: your own "
                    "customer id, for the service in general)")
    subject_id: str = Reference


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


class ComplaintList(BaseModel):
    data: list[ComplaintOut]


class ComplaintResolveIn(Strict):
    outcome: Literal["upheld", "partially_upheld", "not_upheld", "withdrawn_by_customer"]
    remedy_minor: int | None = Field(None, ge=0, le=10_000_000_000)
    remedy_currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


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


class CreditAccountList(BaseModel):
    data: list[CreditAccountOut]


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
