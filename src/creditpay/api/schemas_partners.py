"""Request and response bodies of the partner lender API and of the staff partner routes
(issue #17; docs/api.md, "Partner API"). Every integer a request carries is bounded (basis
points to 10000, amounts to :data:`schemas.AMOUNT_MINOR_MAX`): a 422 naming the field
before any use case runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from creditpay.api import schemas as S

__all__ = [
    "PartnerLoanOut", "PartnerLoanList", "PartnerFlowOut", "PartnerFlowList",
    "PartnerSettlementOut", "PartnerSettlementList", "SettlementLineOut", "SettlementLinesOut",
    "PartnerOnboardIn", "PartnerOut", "StaffPartnerOut", "StaffPartnerList", "PartnerKeyIn",
    "PartnerKeyOut", "FundingIn", "ArrangementOut", "PartnerReconciliationOut", "BPS_MAX",
]

BPS_MAX = 10_000  # 100 %
Bps = Field(ge=0, le=BPS_MAX, description="basis points (1/100 of a percent)")
Scope = Literal["loans:read", "cash_flows:read", "settlements:read"]
_ALL_SCOPES: tuple[Scope, ...] = ("loans:read", "cash_flows:read", "settlements:read")
_KINDS = ("fund | principal | refund | withdrawal | charges | clawback | guarantee | "
          "recovery | write_off | wo_reversal | gt_reversal (docs/partner-lending.md)")
PartnerIdField = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")

# Example values: one partner of docs/api.md's "Partner API" section.
_PID = "ptn_5b1d9e3f7a2c4e6a8b0d"
_TERMS: dict[str, Any] = {
    "funding_rate_bps": 600, "service_fee_bps": 400, "exposure_cap_minor": 50_000_000,
    "per_borrower_cap_minor": 5_000_000,
    "appetite": {"grades": ["A", "B", "C"], "max_pd": "0.08", "products": []},
    "data_fields": ["kyc_verified", "payments_count_90d"], "adapter": "simulated",
    "policy": {"max_pd": "0.08", "grades": [], "kyc_required": True,
               "min_payments_count_90d": 0, "max_amount_minor": 20_000_000}}
_LOAN: dict[str, Any] = {
    "account_id": "loan_3f5a7c9e1b3d5f7a9c1e", "currency": "CNY", "share_bps": 7000,
    "rate_bps": 600, "guarantee_bps": 0, "funded_minor": 70000, "outstanding_minor": 46667,
    "income_paid_minor": 350, "written_off_minor": 0, "guaranteed_minor": 0,
    "recovered_minor": 0, "product_code": "jiebei", "product_version": 1,
    "arrangement_type": "joint", "principal_minor": 100000, "opened_on": "2026-11-02"}
_FLOW: dict[str, Any] = {
    "id": 41, "account_id": "loan_3f5a7c9e1b3d5f7a9c1e", "currency": "CNY",
    "kind": "principal", "amount_minor": 23333, "business_date": "2026-12-02",
    "settlement_id": None, "cash_sign": 1}
_SETTLEMENT_ID = f"stl_{_PID}_CNY_2026-12-05"
_SETTLEMENT: dict[str, Any] = {
    "settlement_id": _SETTLEMENT_ID, "partner_id": _PID, "currency": "CNY",
    "business_date": "2026-12-05", "funding_minor": 0, "principal_minor": 23333,
    "income_minor": 350, "guarantee_minor": 0, "recovery_minor": 0, "reversal_minor": 0,
    "net_minor": 23683, "flows": 2}
_PARTNER: dict[str, Any] = {
    "partner_id": _PID, "name": "Chengdu Rural Commercial Bank", "licence_type": "bank",
    "licence_number": "B0000H251010001", "currency": "CNY", "status": "active",
    "terms_version": 1, "terms": _TERMS}
_FIGURES: dict[str, Any] = {
    "loans": 1, "funded_minor": 70000, "outstanding_minor": 46667, "income_minor": 350,
    "written_off_minor": 0, "guarantee_paid_minor": 0, "losses_minor": 0,
    "recovered_minor": 0, "facilitation_funded_minor": 0, "joint_funded_minor": 70000,
    "platform_share_min_bps": 3000, "approved": 1, "declined": 0, "skipped": 0,
    "settled_net_minor": 23683, "unsettled_flows": 0}
_ARRANGEMENT: dict[str, Any] = {
    "arrangement_id": 3, "product_code": "jiebei", "product_version": 1, "version": 2,
    "arrangement_type": "joint", "partners": [{"partner_id": _PID, "share_bps": None}],
    "platform_share_bps": 3000, "guarantee_bps": 0, "fallback": "own"}


# ----------------------------------------------------------------------- partner side
class PartnerLoanOut(BaseModel):
    account_id: str = Field(description="the loan (credit account) id")
    currency: str
    share_bps: int = Field(description="the partner's share of the principal at origination")
    rate_bps: int = Field(description="the partner's funding rate (a year) on this loan")
    guarantee_bps: int = Field(description="first-loss cover of the partner's principal")
    funded_minor: int = Field(description="principal the partner funded")
    outstanding_minor: int = Field(description="the partner's principal not yet repaid")
    income_paid_minor: int = Field(description="interest paid to the partner so far")
    written_off_minor: int
    guaranteed_minor: int = Field(description="paid to the partner by the guarantee")
    recovered_minor: int
    product_code: str
    product_version: int
    arrangement_type: Literal["joint", "facilitation"]
    principal_minor: int = Field(description="the whole loan's principal")
    opened_on: str = Field(description="YYYY-MM-DD")
    model_config = S.examples(_LOAN)


class PartnerLoanList(BaseModel):
    data: list[PartnerLoanOut]
    next_cursor: str | None = Field(None, description="pass as ?after= for the next page")
    model_config = S.examples({"data": [_LOAN], "next_cursor": None})


class PartnerFlowOut(BaseModel):
    id: int = Field(description="the flow's number: flows are listed in this order")
    account_id: str
    currency: str
    kind: str = Field(description=_KINDS)
    amount_minor: int
    business_date: str = Field(description="YYYY-MM-DD")
    settlement_id: str | None = Field(description="the settlement that netted it; null: "
                                                  "not yet settled")
    cash_sign: Literal[-1, 0, 1] = Field(description="+1 the platform owes it to the "
                                                     "partner, -1 the partner owes it, 0 no "
                                                     "cash moves (a write-off)")
    model_config = S.examples(_FLOW)


class PartnerFlowList(BaseModel):
    data: list[PartnerFlowOut]
    next_cursor: str | None = Field(None, description="pass as ?after= for the next page")
    model_config = S.examples({"data": [_FLOW], "next_cursor": None})


class PartnerSettlementOut(BaseModel):
    settlement_id: str
    partner_id: str
    currency: str
    business_date: str = Field(description="YYYY-MM-DD: the business date settled")
    funding_minor: int = Field(description="funding the partner owed (new loans)")
    principal_minor: int = Field(description="principal collected for the partner")
    income_minor: int = Field(description="interest collected for the partner, less "
                                          "clawbacks")
    guarantee_minor: int
    recovery_minor: int
    reversal_minor: int
    net_minor: int = Field(description="> 0: the platform pays the partner; < 0: the "
                                       "partner pays the platform")
    flows: int = Field(description="the flows netted")
    model_config = S.examples(_SETTLEMENT)


class PartnerSettlementList(BaseModel):
    data: list[PartnerSettlementOut]
    model_config = S.examples({"data": [_SETTLEMENT]})


class SettlementLineOut(BaseModel):
    settlement_id: str
    partner_id: str
    account_id: str
    currency: str
    kind: str = Field(description=_KINDS)
    amount_minor: int
    cash_sign: Literal[-1, 0, 1]
    business_date: str
    transfer_id: str | None = Field(description="the ledger posting of the flow")


class SettlementLinesOut(BaseModel):
    settlement_id: str
    data: list[SettlementLineOut]
    model_config = S.examples({"settlement_id": _SETTLEMENT_ID, "data": [{
        "settlement_id": _SETTLEMENT_ID, "partner_id": _PID,
        "account_id": "loan_3f5a7c9e1b3d5f7a9c1e", "currency": "CNY", "kind": "principal",
        "amount_minor": 23333, "cash_sign": 1, "business_date": "2026-12-02",
        "transfer_id": "funding:812:ptn_5b1d9e3f7a2c4e6a8b0d:principal"}]})


# ----------------------------------------------------------------------- staff side
class PartnerOnboardIn(S.Strict):
    name: str = Field(min_length=1, max_length=128, description="the partner's legal name")
    licence_type: Literal["bank", "consumer_finance", "trust", "microloan"]
    licence_number: str = Field(min_length=1, max_length=64)
    currency: str = S.Currency
    status: Literal["onboarding", "active"] = "active"
    terms: dict[str, Any] = Field(description=(
        "the partner's terms (docs/partner-lending.md, 'Partner terms'): funding_rate_bps, "
        "service_fee_bps, exposure_cap_minor, per_borrower_cap_minor, appetite, "
        "data_fields, policy; PDs as strings. A refusal names the field as terms.<path>"))
    model_config = S.examples({
        "name": "Chengdu Rural Commercial Bank", "licence_type": "bank",
        "licence_number": "B0000H251010001", "currency": "CNY", "status": "active",
        "terms": {"funding_rate_bps": 600, "service_fee_bps": 400,
                  "exposure_cap_minor": 50_000_000, "per_borrower_cap_minor": 5_000_000,
                  "appetite": {"grades": ["A", "B", "C"], "max_pd": "0.08"},
                  "data_fields": ["kyc_verified", "payments_count_90d"]}})


class PartnerOut(BaseModel):
    partner_id: str
    name: str
    licence_type: str
    licence_number: str
    currency: str
    status: Literal["onboarding", "active", "suspended", "terminated"]
    terms_version: int
    terms: dict[str, Any] = Field(description="the terms in force, PDs as strings")
    model_config = S.examples(_PARTNER)


class PartnerFigures(BaseModel):
    """The partner's figures (credit.funding.partners_report), after following the journal."""

    loans: int
    funded_minor: int
    outstanding_minor: int
    income_minor: int
    written_off_minor: int
    guarantee_paid_minor: int
    losses_minor: int
    recovered_minor: int
    facilitation_funded_minor: int
    joint_funded_minor: int
    platform_share_min_bps: int | None = Field(description="the smallest platform share of "
                                                           "any joint loan with this partner")
    approved: int
    declined: int
    skipped: int
    settled_net_minor: int
    unsettled_flows: int


class StaffPartnerOut(PartnerOut):
    figures: PartnerFigures
    model_config = S.examples({**_PARTNER, "figures": _FIGURES})


class StaffPartnerList(BaseModel):
    data: list[StaffPartnerOut]
    model_config = S.examples({"data": [{**_PARTNER, "figures": _FIGURES}]})


class PartnerKeyIn(S.Strict):
    scopes: list[Scope] = Field(default_factory=lambda: list(_ALL_SCOPES),
                                min_length=1, max_length=3,
                                description="what the key may read (default: all three)")
    model_config = S.examples({"scopes": ["loans:read", "cash_flows:read"]})


class PartnerKeyOut(BaseModel):
    id: str
    key: str = Field(description="the key (cpl...): shown once, never again")
    scopes: list[str]
    partner_id: str
    model_config = S.examples({"id": "pkey_0a2c4e6a8b0d1f3a5c7e",
                               "key": "cpl9f1e3d5c7b9a1e3d_q3T9cYw1Hn2pLxA5mRu8vJd6sQ4oNb7I",
                               "scopes": ["cash_flows:read", "loans:read"],
                               "partner_id": _PID})


class FundingPartnerIn(S.Strict):
    partner_id: str = PartnerIdField
    share_bps: int | None = Field(None, ge=1, le=BPS_MAX, description=(
        "a fixed share of each loan; omitted: the waterfall places the partners' part"))


class FundingIn(S.Strict):
    arrangement_type: Literal["own", "joint", "facilitation"]
    partners: list[FundingPartnerIn] = Field(default_factory=list, max_length=20,
                                             description="cheapest first by the waterfall")
    platform_share_bps: int | None = Field(None, ge=0, le=BPS_MAX, description=(
        "joint: the platform's share (default and minimum: the jurisdiction's "
        "joint_platform_share_min_bps)"))
    guarantee_bps: int = Field(0, ge=0, le=BPS_MAX, description=(
        "first-loss cover, of each partner's funded principal"))
    fallback: Literal["own", "decline"] = Field("own", description=(
        "when no partner funds: the platform funds the loan, or it is declined"))
    product_version: int | None = Field(None, ge=1, le=100_000, description=(
        "the product version (default: the one new business uses)"))
    model_config = S.examples({
        "arrangement_type": "joint", "partners": [{"partner_id": _PID}],
        "platform_share_bps": 3000, "guarantee_bps": 0, "fallback": "own"})


class ArrangementPartnerOut(BaseModel):
    partner_id: str
    share_bps: int | None


class ArrangementOut(BaseModel):
    arrangement_id: int
    product_code: str
    product_version: int
    version: int = Field(description="the arrangement's version for this product version")
    arrangement_type: Literal["own", "joint", "facilitation"]
    partners: list[ArrangementPartnerOut]
    platform_share_bps: int
    guarantee_bps: int
    fallback: Literal["own", "decline"]
    model_config = S.examples(_ARRANGEMENT)


class PartnerReconciledOut(BaseModel):
    partner_id: str
    currency: str
    outstanding_minor: int
    unsettled_payable_minor: int
    unsettled_funding_minor: int
    account: str


class PartnerReconciliationOut(BaseModel):
    ok: bool = Field(description="false when any difference was found (still a 200)")
    differences: int
    details: list[dict[str, Any]] = Field(description="the first 100 differences, each "
                                                      "naming its check")
    partners: list[PartnerReconciledOut]
    date: str | None = Field(description="the day whose settlements were also checked")
    model_config = S.examples({
        "ok": True, "differences": 0, "details": [],
        "partners": [{"partner_id": _PID, "currency": "CNY", "outstanding_minor": 46667,
                      "unsettled_payable_minor": 0, "unsettled_funding_minor": 0,
                      "account": f"partner_principal:{_PID}:CNY"}],
        "date": "2026-12-05"})
