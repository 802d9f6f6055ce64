"""Request and response bodies of the consumer credit endpoints (issues #3, #4, #5).

Amounts are integer minor units; rates are percent strings with the decimals stated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from creditpay.api.schemas import AmountMinor, Strict, examples

EmploymentType = Literal["salaried", "self_employed", "student", "retired", "unemployed"]
HousingType = Literal["rent", "own", "mortgage", "family", "other"]
Language = Literal["zh-CN", "en"]
CurrencyCode = Field("CNY", pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


# Example values shared by several models' examples (business clock at 2025-03-01).
_APPLICATION: dict[str, Any] = {
    "application_id": "app_1b3d5f7a9c0e2a4c6e8b0d2f4a6c8e0a2c4e6b8d",
    "decision_id": "5e0c8a1f3b7d49e2a6c4f0b8d2e6a1c3", "decided_at": "2025-03-01T09:00:00+00:00",
    "product_code": "credit_line", "outcome": "approve", "grade": "B", "limit_minor": 1000000,
    "apr_percent": "18.25", "currency": "CNY",
    "reasons": [{"code": "ON_TIME_HISTORY", "text": "You have paid on time"}],
    "line_id": "line_cus_c77727884ae04a7594dd_CNY", "line_product_code": "huabei",
    "referred": False, "reviewed_at": None, "language": "en"}
_STATEMENT: dict[str, Any] = {
    "statement_id": "line_cus_c77727884ae04a7594dd_CNY:2025-03-31",
    "account_id": "line_cus_c77727884ae04a7594dd_CNY", "statement_date": "2025-03-31",
    "due_date": "2025-04-10", "opening_balance_minor": 0, "new_principal_minor": 240000,
    "interest_minor": 0, "penalty_minor": 0, "fee_minor": 0, "installments_minor": 61800,
    "closing_balance_minor": 301800, "minimum_payment_minor": 85800, "converted_minor": 0,
    "disputed_minor": 0, "lines": [{"kind": "principal", "amount_minor": 240000},
              {"kind": "installment", "amount_minor": 61800,
               "account_id": "plan_47cd0a792e84cb116535f9bd", "number": 1,
               "due_date": "2025-04-01", "principal_minor": 60000, "interest_minor": 0,
               "fee_minor": 1800}]}
_CASH_LOAN_OFFER: dict[str, Any] = {
    "offer_id": "clo_6f1d3b5a7c9e4f20a8b6c4d2e0f1a3b5", "product_code": "jiebei",
    "product_version": 1, "amount_minor": 500000, "currency": "CNY", "periods": 3,
    "term_unit": "months", "method": "equal_installment", "annual_rate": "0.0730",
    "installment_count": 3, "per_period_amount_minor": 168695,
    "first_due_date": "2025-04-01", "last_due_date": "2025-06-01",
    "total_interest_minor": 6085, "total_fee_minor": 0, "total_cost_minor": 6085,
    "total_repayable_minor": 506085, "apr_percent": "7.3000",
    "all_in_annual_cost_percent": "7.5466", "quoted_on": "2025-03-01",
    "expires_at": "2025-03-01T09:15:00+00:00",
    "schedule": [{"number": 1, "due_date": "2025-04-01", "principal_minor": 165655,
                  "interest_minor": 3040, "fee_minor": 0, "total_minor": 168695},
                 {"number": 2, "due_date": "2025-05-01", "principal_minor": 166623,
                  "interest_minor": 2072, "fee_minor": 0, "total_minor": 168695},
                 {"number": 3, "due_date": "2025-06-01", "principal_minor": 167722,
                  "interest_minor": 973, "fee_minor": 0, "total_minor": 168695}],
    "key_facts_sha256": "6a0f4e2c8b1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a3c5e7b9d0f2a",
    "key_facts_language": "zh-CN",
    "key_facts_url": "/v1/me/cash_loans/offers/clo_6f1d3b5a7c9e4f20a8b6c4d2e0f1a3b5/key_facts"
                     "?lang=zh-CN"}


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
    model_config = examples({"monthly_income_minor": 1200000, "employment_type": "salaried",
                                  "housing": "rent", "declared_monthly_obligations_minor": 300000,
                                  "language": "en"})


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
    model_config = examples(_APPLICATION)


class CreditApplicationList(BaseModel):
    data: list[CreditApplicationOut]
    model_config = examples({"data": [_APPLICATION]})


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
    disputed_minor: int = Field(0, description="disputed, not due while we investigate: "
                                "held out of the bill and its minimum (issue #20)")
    lines: list[StatementLineOut]
    model_config = examples(_STATEMENT)


class StatementList(BaseModel):
    data: list[StatementOut]
    model_config = examples({"data": [_STATEMENT]})


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
    model_config = examples({
            "statement_id": "line_cus_c77727884ae04a7594dd_CNY:2025-03-31",
            "amount_minor": 240000, "convertible_minor": 240000, "offers": [{
                "periods": 3, "amount_minor": 240000, "fee_rate_per_period": "0.0075",
                "per_period_amount_minor": 81800, "fee_per_period_minor": 1800,
                "total_fee_minor": 5400, "total_cost_minor": 5400,
                "total_repayable_minor": 245400, "first_due_date": "2025-05-10",
                "apr_percent": "13.4212", "all_in_annual_cost_percent": "13.4212",
                "within_caps": True, "schedule": [
                    {"number": n, "due_date": f"2025-{n + 4:02d}-10", "principal_minor": 80000,
                     "interest_minor": 0, "fee_minor": 1800, "total_minor": 81800}
                    for n in (1, 2, 3)]}]})


class ConvertIn(Strict):
    amount_minor: int = AmountMinor
    periods: int = Field(ge=1, le=60)
    model_config = examples({"amount_minor": 240000, "periods": 3})


class ConversionOut(BaseModel):
    conversion_id: str
    statement_id: str
    plan_account_id: str
    amount_minor: int
    periods: int
    total_fee_minor: int
    all_in_annual_cost_percent: str
    model_config = examples({"conversion_id": "cv_8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c",
                                  "statement_id": "line_cus_c77727884ae04a7594dd_CNY:2025-03-31",
                                  "plan_account_id": "conv_1_cv_8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c",
                                  "amount_minor": 240000, "periods": 3, "total_fee_minor": 5400,
                                  "all_in_annual_cost_percent": "13.4212"})


# ----------------------------------------------------------------------- repayments
class RepaymentIn(Strict):
    amount_minor: int = AmountMinor
    currency: str = CurrencyCode
    account_id: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/\-]*$",
        description="pay this account (money beyond what is due prepays it); default: what "
                    "you owe, oldest first")
    model_config = examples({"amount_minor": 61800, "currency": "CNY"},
                                 {"amount_minor": 180000, "currency": "CNY",
                                  "account_id": "plan_47cd0a792e84cb116535f9bd"})


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
    model_config = examples({"repayment_id": "rp_4c6e8a0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c",
                                  "currency": "CNY", "amount_minor": 61800,
                                  "principal_minor": 60000,
                                  "interest_minor": 0, "fee_minor": 1800, "penalty_minor": 0,
                                  "prepayment_minor": 0, "recovery_minor": 0, "accounts": [
                                      {"account_id": "plan_47cd0a792e84cb116535f9bd",
                                       "principal": 60000, "interest": 0, "fee": 1800,
                                       "penalty": 0, "prepayment": 0, "recovery": 0}],
                                  "wallet_available_minor": 438200})


class PayoffOut(BaseModel):
    account_id: str
    as_of: str = Field(description="business date")
    currency: str
    payoff_minor: int = Field(description="repay this much with account_id to settle it today")
    model_config = examples({"account_id": "plan_47cd0a792e84cb116535f9bd", "as_of": "2025-03-20",
                                  "currency": "CNY", "payoff_minor": 180000})


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
    model_config = examples({"account_id": "plan_47cd0a792e84cb116535f9bd", "currency": "CNY",
                                  "data": [{"number": n, "due_date": f"2025-{n + 3:02d}-01",
                                            "status": "paid" if n == 1 else "scheduled",
                                            "principal_minor": 30000, "interest_minor": 0,
                                            "fee_minor": 900, "total_minor": 30900,
                                            "paid_minor": 30900 if n == 1 else 0}
                                           for n in range(1, 7)]})


class AutoDebitIn(Strict):
    enabled: bool
    model_config = examples({"enabled": True})


class AutoDebitOut(BaseModel):
    account_id: str
    auto_debit_enabled: bool
    consent_reference: str | None
    model_config = examples({"account_id": "line_cus_c77727884ae04a7594dd_CNY",
                                  "auto_debit_enabled": True, "consent_reference": "consent:14"})


# ----------------------------------------------------------------------- cash loans
class CashLoanOffersIn(Strict):
    amount_minor: int = AmountMinor
    currency: str = CurrencyCode
    language: Language | None = Field(None, description="of the key-facts documents "
                                                        "(default: your locale)")
    model_config = examples({"amount_minor": 500000, "currency": "CNY", "language": "zh-CN"})


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
    model_config = examples({"amount_minor": 500000, "currency": "CNY",
                                  "headroom_minor": 820000, "offers": [_CASH_LOAN_OFFER]})


class CashLoanIn(Strict):
    offer_id: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_]+$")
    key_facts_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$",
                                  description="SHA-256 of the key-facts document you read")
    model_config = examples({"offer_id": "clo_6f1d3b5a7c9e4f20a8b6c4d2e0f1a3b5",
                                  "key_facts_sha256": _CASH_LOAN_OFFER["key_facts_sha256"]})


class CashLoanOut(BaseModel):
    loan_id: str
    status: str
    principal_minor: int = Field(description="paid into your wallet")
    next_due_date: str | None
    offer: CashLoanOfferOut = Field(description="the accepted offer, figures as shown")
    disclosure_acceptance_id: int
    affordability_check_id: int
    wallet_available_minor: int
    model_config = examples({"loan_id": "loan_2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c",
                                  "status": "active", "principal_minor": 500000,
                                  "next_due_date": "2025-04-01", "offer": _CASH_LOAN_OFFER,
                                  "disclosure_acceptance_id": 7, "affordability_check_id": 9,
                                  "wallet_available_minor": 1000000})
