"""Request and response bodies of the consumer credit endpoints (issues #3, #4, #5).

Amounts are integer minor units; rates are percent strings with the decimals stated.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from creditpay.api.schemas import AmountMinor, Strict

EmploymentType = Literal["salaried", "self_employed", "student", "retired", "unemployed"]
HousingType = Literal["rent", "own", "mortgage", "family", "other"]
Language = Literal["zh-CN", "en"]
CurrencyCode = Field("CNY", pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


# ----------------------------------------------------------------------- the line
class ProductExposureOut(BaseModel):
    kind: Literal["line", "plan", "loan"]
    product_code: str
    accounts: int = Field(description="open accounts of this kind and product")
    principal_minor: int = Field(description="principal outstanding on them, minor units")


class CreditLineOut(BaseModel):
    line_id: str
    product_code: str
    currency: str
    status: Literal["active", "frozen", "closed"]
    limit_minor: int
    available_minor: int = Field(description="what can still be drawn now, minor units")
    used_minor: int = Field(description="limit - available: drawn and held, minor units")
    exposure_minor: int = Field(description="principal outstanding on every open account "
                                            "plus open authorisation holds, minor units")
    exposure_by_product: list[ProductExposureOut]


# ----------------------------------------------------------------------- applications
class CreditApplicationIn(Strict):
    monthly_income_minor: int = Field(gt=0, le=10**12,
                                      description="declared monthly income, minor units")
    employment_type: EmploymentType
    housing: HousingType | None = Field(None, description="optional")
    declared_monthly_obligations_minor: int | None = Field(
        None, ge=0, le=10**12, description="optional: monthly repayments to other lenders "
                                           "and rent, minor units")
    language: Language | None = Field(None, description="of the reasons (default: your "
                                                        "locale)")


class DecisionReasonOut(BaseModel):
    code: str
    text: str


class CreditApplicationOut(BaseModel):
    application_id: str
    decision_id: str
    decided_at: str
    product_code: str = Field(description="the policy product decided (credit_line)")
    outcome: Literal["approve", "decline", "refer"] = Field(
        description="refer: under review by a person; once reviewed, the reviewer's verdict")
    grade: str
    limit_minor: int | None = Field(description="granted limit (approve only)")
    apr_percent: str | None = Field(description="annual rate, percent with 2 decimals")
    currency: str
    reasons: list[DecisionReasonOut] = Field(
        description="principal reasons in your language; for a decline, the adverse-action "
                    "notice")
    line_id: str | None = Field(None, description="the line opened on approval")
    line_product_code: str | None = None
    referred: bool = Field(False, description="the policy referred it to a person")
    reviewed_at: str | None = Field(None, description="when the reviewer decided it")
    language: Language


class CreditApplicationList(BaseModel):
    data: list[CreditApplicationOut]


# ----------------------------------------------------------------------- statements
class StatementLineOut(BaseModel):
    kind: Literal["principal", "interest", "penalty", "fee", "installment"]
    amount_minor: int
    account_id: str | None = None
    number: int | None = None
    due_date: str | None = None
    principal_minor: int | None = None
    interest_minor: int | None = None
    fee_minor: int | None = None


class StatementOut(BaseModel):
    statement_id: str
    account_id: str
    statement_date: str
    due_date: str
    opening_balance_minor: int
    new_principal_minor: int
    interest_minor: int
    penalty_minor: int
    fee_minor: int
    installments_minor: int = Field(description="installments of your plans on this bill")
    closing_balance_minor: int = Field(description="the bill total")
    minimum_payment_minor: int
    converted_minor: int = Field(description="moved into bill installments")
    lines: list[StatementLineOut]


class StatementList(BaseModel):
    data: list[StatementOut]


# ----------------------------------------------------------------------- bill installments
class InstallmentRowOut(BaseModel):
    number: int
    due_date: str
    principal_minor: int
    interest_minor: int = 0
    fee_minor: int
    total_minor: int


class BillInstallmentOfferOut(BaseModel):
    periods: int
    amount_minor: int
    fee_rate_per_period: str = Field(description="fraction of the amount per installment")
    per_period_amount_minor: int
    fee_per_period_minor: int
    total_fee_minor: int
    total_cost_minor: int = Field(description="every fee: the whole cost (no interest)")
    total_repayable_minor: int
    first_due_date: str
    apr_percent: str = Field(description="Appendix J APR, 4 decimals")
    all_in_annual_cost_percent: str = Field(description="IRR, 4 decimals (capped figure)")
    within_caps: bool
    schedule: list[InstallmentRowOut]


class BillInstallmentOffersOut(BaseModel):
    statement_id: str
    amount_minor: int
    convertible_minor: int = Field(description="the most that can be converted today")
    offers: list[BillInstallmentOfferOut]


class ConvertIn(Strict):
    amount_minor: int = AmountMinor
    periods: int = Field(ge=1, le=60)


class ConversionOut(BaseModel):
    conversion_id: str
    statement_id: str
    plan_account_id: str
    amount_minor: int
    periods: int
    total_fee_minor: int
    all_in_annual_cost_percent: str


# ----------------------------------------------------------------------- repayments
class RepaymentIn(Strict):
    amount_minor: int = AmountMinor
    currency: str = CurrencyCode
    account_id: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]*$",
        description="pay this account (money beyond what is due prepays it); default: what "
                    "you owe, oldest first")


class RepaymentAccountOut(BaseModel):
    account_id: str
    principal: int
    interest: int
    fee: int
    penalty: int
    prepayment: int
    recovery: int


class RepaymentOut(BaseModel):
    repayment_id: str
    currency: str
    amount_minor: int
    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    prepayment_minor: int
    recovery_minor: int
    accounts: list[RepaymentAccountOut]
    wallet_available_minor: int = Field(description="your wallet after the repayment")


class PayoffOut(BaseModel):
    account_id: str
    as_of: str = Field(description="business date")
    currency: str
    payoff_minor: int = Field(description="repay this much with account_id to settle it today")


class AccountInstallmentOut(BaseModel):
    number: int
    due_date: str
    status: Literal["scheduled", "billed", "past_due", "paid"]
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    paid_minor: int = Field(description="paid so far of total_minor")


class AccountInstallmentsOut(BaseModel):
    account_id: str
    currency: str
    data: list[AccountInstallmentOut] = Field(
        description="by due date; a prepayment or refund replaces the rows not yet billed")


class AutoDebitIn(Strict):
    enabled: bool


class AutoDebitOut(BaseModel):
    account_id: str
    auto_debit_enabled: bool
    consent_reference: str | None


# ----------------------------------------------------------------------- cash loans
class CashLoanOffersIn(Strict):
    amount_minor: int = AmountMinor
    currency: str = CurrencyCode
    language: Language | None = Field(None, description="of the key-facts documents "
                                                        "(default: your locale)")


class CashLoanOfferOut(BaseModel):
    offer_id: str
    product_code: str
    product_version: int
    amount_minor: int
    currency: str
    periods: int
    term_unit: Literal["months", "days"]
    method: str
    annual_rate: str = Field(description="nominal annual rate, a fraction")
    installment_count: int
    per_period_amount_minor: int
    first_due_date: str
    last_due_date: str
    total_interest_minor: int
    total_fee_minor: int
    total_cost_minor: int
    total_repayable_minor: int
    apr_percent: str
    all_in_annual_cost_percent: str
    quoted_on: str
    expires_at: str
    schedule: list[InstallmentRowOut]
    key_facts_sha256: str
    key_facts_language: Language
    key_facts_url: str


class CashLoanOffersOut(BaseModel):
    amount_minor: int
    currency: str
    headroom_minor: int = Field(description="what you may borrow now: line limit less what "
                                            "you owe and hold")
    offers: list[CashLoanOfferOut]


class CashLoanIn(Strict):
    offer_id: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_]+$")
    key_facts_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$",
                                  description="SHA-256 of the key-facts document you read")


class CashLoanOut(BaseModel):
    loan_id: str
    status: str
    principal_minor: int = Field(description="paid into your wallet")
    next_due_date: str | None
    offer: CashLoanOfferOut = Field(description="the accepted offer, figures as shown")
    disclosure_acceptance_id: int
    affordability_check_id: int
    wallet_available_minor: int
