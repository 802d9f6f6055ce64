"""Every credit feature, declared once: name, source, kind, consumer labels and computation.

A feature's computation is a pure function of a :class:`~.compute.FeatureInputs` (the as-of
time, the validated application, the platform events strictly before the as-of time, the
bureau report) and of the features declared before it. The online decision and the offline
training set both run exactly these functions (see :mod:`.compute`), which is what keeps
training and serving from drifting apart.

Sources:

- ``application``: what the applicant told us (income, employment, housing, declared monthly
  obligations: the last two optional, missing when not declared) or the platform verified
  at onboarding (date of birth, KYC);
- ``platform``: payment history on creditpay, used only with the customer's consent
  (missing, i.e. ``None``, without it: the model scores missing as its own bin);
- ``bureau``: the credit bureau report pulled for this decision;
- ``derived``: combinations of the above.

Money features are integers in minor units (fen); ratios are floats rounded to 6 places so a
stored value and a recomputed one compare equal after a JSON round trip.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from creditpay.risk.features.compute import FeatureInputs

__all__ = ["FEATURES", "FeatureDefinition", "FeatureSource", "feature"]

FeatureSource = Literal["application", "platform", "bureau", "derived"]
Compute = Callable[["FeatureInputs", dict[str, Any]], Any]


@dataclass(frozen=True)
class FeatureDefinition:
    """One feature. ``window_days`` is the look-back before the as-of time (platform only).

    ``actionable`` says whether the consumer can move it (only those become "how to improve
    your score" advice); ``improve_en``/``improve_zh`` is that advice.
    """

    name: str
    source: FeatureSource
    kind: Literal["numeric", "categorical"]
    label_en: str
    label_zh: str
    description: str
    compute: Compute
    window_days: int | None = None
    actionable: bool = False
    improve_en: str = ""
    improve_zh: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "kind": self.kind,
                "label_en": self.label_en, "label_zh": self.label_zh,
                "description": self.description, "window_days": self.window_days,
                "actionable": self.actionable}


# -- application ----------------------------------------------------------------------------


def age_in_whole_years(born: dt.date, on: dt.date) -> int:
    """Whole years of age on ``on``: a birthday later that year has not happened yet."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _age_years(inputs: FeatureInputs, _: dict[str, Any]) -> int:
    return age_in_whole_years(inputs.application["date_of_birth"], inputs.as_of.date())


def _application_field(name: str) -> Compute:
    def compute(inputs: FeatureInputs, _: dict[str, Any]) -> Any:
        return inputs.application[name]
    return compute


def _optional_application_field(name: str) -> Compute:
    """An application field older callers may not send: missing (None) when not declared."""
    def compute(inputs: FeatureInputs, _: dict[str, Any]) -> Any:
        return inputs.application.get(name)
    return compute


# -- platform (consented payment history) ---------------------------------------------------

_DAY = dt.timedelta(days=1)


def _window(inputs: FeatureInputs, days: int) -> tuple[Any, ...] | None:
    """Events in ``[as_of − days, as_of)``; ``None`` without consent to use them."""
    if not inputs.platform_consented:
        return None
    return inputs.window(days)


def _payments_count_90d(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    events = _window(inputs, 90)
    return None if events is None else sum(1 for e in events if e.kind == "payment")


def _payments_amount_minor_90d(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    events = _window(inputs, 90)
    return None if events is None else sum(e.amount_minor for e in events if e.kind == "payment")


def _refund_share_90d(inputs: FeatureInputs, _: dict[str, Any]) -> float | None:
    events = _window(inputs, 90)
    if events is None:
        return None
    paid = sum(e.amount_minor for e in events if e.kind == "payment")
    refunded = sum(e.amount_minor for e in events if e.kind == "refund")
    return round(refunded / paid, 6) if paid else 0.0


def _merchant_categories_90d(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    events = _window(inputs, 90)
    if events is None:
        return None
    return len({e.merchant_category for e in events
                if e.kind == "payment" and e.merchant_category})


def _late_repayments_180d(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    events = _window(inputs, 180)
    return None if events is None else sum(1 for e in events if e.kind == "repayment_late")


def _platform_tenure_months(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    if not inputs.platform_consented:
        return None
    if not inputs.events:
        return 0
    first = inputs.events[0].occurred_at  # events are sorted by time
    return (inputs.as_of - first).days // 30


def _platform_credit_balance_minor(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    """Credit drawn on the platform minus credit repaid, over the whole history."""
    if not inputs.platform_consented:
        return None
    drawn = sum(e.amount_minor for e in inputs.events if e.kind == "credit_drawdown")
    repaid = sum(e.amount_minor for e in inputs.events
                 if e.kind in ("repayment", "repayment_late"))
    return max(0, drawn - repaid)


_MONTH = 30 * _DAY
SPEND_VOLATILITY_MONTHS = 6


def _spend_volatility_6m(inputs: FeatureInputs, _: dict[str, Any]) -> float | None:
    """Coefficient of variation (population std / mean) of spend per 30-day month.

    Months are the six 30-day buckets before as_of, newest first, kept only while the
    customer was already on the platform (a bucket that starts before the first event would
    count as zero spend that never was); at least two months are needed. Missing (None)
    without consent, with fewer than two months of tenure, or without any spend.
    """
    if not inputs.platform_consented or not inputs.events:
        return None
    first = inputs.events[0].occurred_at
    months = min(SPEND_VOLATILITY_MONTHS, (inputs.as_of - first) // _MONTH)
    if months < 2:
        return None
    totals = [0] * months
    for event in inputs.window(months * 30):
        if event.kind == "payment":
            # The window's first instant belongs to the oldest month (its start is closed).
            month = min(months - 1, (inputs.as_of - event.occurred_at) // _MONTH)
            totals[month] += event.amount_minor
    mean = sum(totals) / months
    if mean == 0:
        return None
    variance = sum((t - mean) ** 2 for t in totals) / months
    return round(math.sqrt(variance) / mean, 6)


def _top_ups_count_90d(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    events = _window(inputs, 90)
    return None if events is None else sum(1 for e in events if e.kind == "top_up")


def _top_ups_amount_minor_90d(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    events = _window(inputs, 90)
    return None if events is None else sum(e.amount_minor for e in events if e.kind == "top_up")


_FAILED = frozenset({"top_up_failed", "payment_declined"})
_ATTEMPTED = _FAILED | {"top_up", "payment"}


def _failed_payments_count_90d(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    events = _window(inputs, 90)
    return None if events is None else sum(1 for e in events if e.kind in _FAILED)


def _failed_payments_share_90d(inputs: FeatureInputs, values: dict[str, Any]) -> float | None:
    events = _window(inputs, 90)
    if events is None:
        return None
    attempts = sum(1 for e in events if e.kind in _ATTEMPTED)
    return round(values["failed_payments_count_90d"] / attempts, 6) if attempts else 0.0


def _devices_count_90d(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    events = _window(inputs, 90)
    if events is None:
        return None
    return len({e.device_id for e in events if e.kind == "device_seen"})


def _current_device_age_days(inputs: FeatureInputs, _: dict[str, Any]) -> int | None:
    """Whole days since the device of the latest sighting was first seen; None when no
    device was ever seen before as_of (or without consent)."""
    if not inputs.platform_consented:
        return None
    current = None
    for event in reversed(inputs.events):
        if event.kind == "device_seen":
            current = event.device_id
            break
    if current is None:
        return None
    first = next(e.occurred_at for e in inputs.events
                 if e.kind == "device_seen" and e.device_id == current)
    return (inputs.as_of - first).days


# -- bureau -----------------------------------------------------------------------------------


def _bureau_field(name: str) -> Compute:
    def compute(inputs: FeatureInputs, _: dict[str, Any]) -> Any:
        return None if inputs.bureau is None else inputs.bureau[name]
    return compute


# -- derived ----------------------------------------------------------------------------------


def _debt_to_income(_: FeatureInputs, values: dict[str, Any]) -> float | None:
    repayment = values["bureau_monthly_repayment_minor"]
    if repayment is None:
        return None
    return round(repayment / values["monthly_income_minor"], 6)  # income > 0 is validated


def _debt_service_ratio(_: FeatureInputs, values: dict[str, Any]) -> float | None:
    """Monthly debt service / monthly income, the debt service being the larger of what the
    applicant declared (rent or mortgage, loans, support) and the bureau's monthly
    repayments: the bureau is a floor for loans, the declaration adds what the bureau does
    not see. None when neither is known."""
    known = [v for v in (values["declared_monthly_obligations_minor"],
                         values["bureau_monthly_repayment_minor"]) if v is not None]
    if not known:
        return None
    return round(max(known) / values["monthly_income_minor"], 6)  # income > 0 is validated


def _existing_exposure_minor(_: FeatureInputs, values: dict[str, Any]) -> int:
    # Unknown parts count as zero here; the knock-outs refuse a decision without a bureau
    # report, so a missing bureau never hides debt from the exposure cap.
    return (values["bureau_debt_minor"] or 0) + (values["platform_credit_balance_minor"] or 0)


FEATURES: tuple[FeatureDefinition, ...] = (
    FeatureDefinition(
        "age_years", "application", "numeric", "Age", "年龄",
        "whole years from date_of_birth to the as-of date", _age_years),
    FeatureDefinition(
        "monthly_income_minor", "application", "numeric", "Monthly income", "月收入",
        "declared net monthly income, fen", _application_field("monthly_income_minor"),
        actionable=True, improve_en="Keep your income information up to date",
        improve_zh="及时更新您的收入信息"),
    FeatureDefinition(
        "employment_type", "application", "categorical", "Employment", "职业类型",
        "salaried | self_employed | student | retired | unemployed",
        _application_field("employment_type")),
    FeatureDefinition(
        "kyc_verified", "application", "categorical", "Identity verification", "实名认证",
        "identity verified at onboarding (knock-out input, not scored)",
        _application_field("kyc_verified")),
    FeatureDefinition(
        "housing", "application", "categorical", "Housing", "住房情况",
        "rent | own | mortgage | family | other; missing when not declared",
        _optional_application_field("housing")),
    FeatureDefinition(
        "declared_monthly_obligations_minor", "application", "numeric",
        "Declared monthly obligations", "申报的每月固定支出",
        "rent or mortgage, loan and other monthly commitments the applicant declared, fen; "
        "missing when not declared", _optional_application_field(
            "declared_monthly_obligations_minor")),
    FeatureDefinition(
        "payments_count_90d", "platform", "numeric", "Payments in the last 90 days",
        "近90天支付笔数", "count of payments in [as_of − 90 d, as_of)", _payments_count_90d,
        window_days=90, actionable=True, improve_en="Use your wallet regularly for everyday payments",
        improve_zh="日常消费多使用钱包支付"),
    FeatureDefinition(
        "payments_amount_minor_90d", "platform", "numeric", "Spending in the last 90 days",
        "近90天支付金额", "sum of payment amounts in [as_of − 90 d, as_of), fen",
        _payments_amount_minor_90d, window_days=90),
    FeatureDefinition(
        "refund_share_90d", "platform", "numeric", "Share of purchases refunded",
        "近90天退款占比", "refunded / paid amount in [as_of − 90 d, as_of); 0 without payments",
        _refund_share_90d, window_days=90),
    FeatureDefinition(
        "merchant_categories_90d", "platform", "numeric", "Variety of merchants",
        "近90天消费商户类别数", "distinct merchant categories paid in [as_of − 90 d, as_of)",
        _merchant_categories_90d, window_days=90),
    FeatureDefinition(
        "late_repayments_180d", "platform", "numeric", "Late repayments on creditpay",
        "近180天逾期还款次数", "late repayments in [as_of − 180 d, as_of)",
        _late_repayments_180d, window_days=180, actionable=True,
        improve_en="Repay every bill on time; set up automatic repayment",
        improve_zh="按时还款，开通自动还款"),
    FeatureDefinition(
        "platform_tenure_months", "platform", "numeric", "Time using creditpay",
        "使用creditpay时长", "whole 30-day months since the first event before as_of",
        _platform_tenure_months),
    FeatureDefinition(
        "platform_credit_balance_minor", "platform", "numeric", "Credit owed on creditpay",
        "在creditpay的欠款", "credit drawn minus repaid before as_of, floored at 0, fen",
        _platform_credit_balance_minor, actionable=True,
        improve_en="Pay down what you owe", improve_zh="减少欠款余额"),
    FeatureDefinition(
        "spend_volatility_6m", "platform", "numeric", "Ups and downs of monthly spending",
        "近6个月月度消费波动",
        "coefficient of variation of payments per 30-day month over the last 2-6 months "
        "within tenure; missing under 2 months of tenure or without spend",
        _spend_volatility_6m, window_days=180),
    FeatureDefinition(
        "top_ups_count_90d", "platform", "numeric", "Wallet top-ups in the last 90 days",
        "近90天钱包充值次数", "successful wallet top-ups in [as_of − 90 d, as_of)",
        _top_ups_count_90d, window_days=90),
    FeatureDefinition(
        "top_ups_amount_minor_90d", "platform", "numeric", "Amount topped up in 90 days",
        "近90天钱包充值金额", "sum of successful top-ups in [as_of − 90 d, as_of), fen",
        _top_ups_amount_minor_90d, window_days=90),
    FeatureDefinition(
        "failed_payments_count_90d", "platform", "numeric", "Failed payments", "近90天失败支付次数",
        "declined or failed card top-ups + declined payments in [as_of − 90 d, as_of)",
        _failed_payments_count_90d, window_days=90, actionable=True,
        improve_en="Keep enough funds on your card and wallet so payments go through",
        improve_zh="保持银行卡和钱包余额充足，避免支付失败"),
    FeatureDefinition(
        "failed_payments_share_90d", "platform", "numeric", "Share of payments that failed",
        "近90天支付失败占比",
        "failed / (failed + successful payments and top-ups) in [as_of − 90 d, as_of); "
        "0 without attempts", _failed_payments_share_90d, window_days=90),
    FeatureDefinition(
        "devices_count_90d", "platform", "numeric", "Devices used in the last 90 days",
        "近90天使用设备数", "distinct devices seen in [as_of − 90 d, as_of)",
        _devices_count_90d, window_days=90),
    FeatureDefinition(
        "current_device_age_days", "platform", "numeric", "Time on your current device",
        "当前设备使用时长", "whole days since the device of the latest sighting was first "
        "seen; missing when no device was seen", _current_device_age_days),
    FeatureDefinition(
        "bureau_debt_minor", "bureau", "numeric", "Debt with other lenders", "其他机构负债",
        "outstanding debt reported by the bureau, fen", _bureau_field("debt_minor"),
        actionable=True, improve_en="Pay down debts with other lenders",
        improve_zh="降低在其他机构的负债"),
    FeatureDefinition(
        "bureau_monthly_repayment_minor", "bureau", "numeric", "Monthly debt repayments",
        "每月还款额", "monthly repayments due on reported debts, fen",
        _bureau_field("monthly_repayment_minor")),
    FeatureDefinition(
        "bureau_inquiries_6m", "bureau", "numeric", "Recent credit applications",
        "近6个月征信查询次数", "hard inquiries in the 6 months before the pull",
        _bureau_field("inquiries_6m"), actionable=True,
        improve_en="Apply for new credit less often", improve_zh="减少频繁申请贷款"),
    FeatureDefinition(
        "bureau_lenders_in_use", "bureau", "numeric", "Number of lenders you borrow from",
        "在用借贷机构数", "lenders with an open balance (multi-lending)",
        _bureau_field("lenders_in_use"), actionable=True,
        improve_en="Borrow from fewer lenders at once", improve_zh="减少同时借款的机构数量"),
    FeatureDefinition(
        "bureau_delinquencies_24m", "bureau", "numeric", "Past missed payments",
        "近24个月逾期次数", "delinquencies reported in the last 24 months",
        _bureau_field("delinquencies_24m"), actionable=True,
        improve_en="Keep every account up to date; missed payments weigh for 24 months",
        improve_zh="保持所有账户按时还款，逾期记录影响24个月"),
    FeatureDefinition(
        "debt_to_income", "derived", "numeric", "Debt repayments vs income", "负债收入比",
        "bureau monthly repayments / monthly income", _debt_to_income, actionable=True,
        improve_en="Lower your monthly repayments relative to income",
        improve_zh="降低月还款额占收入的比例"),
    FeatureDefinition(
        "debt_service_ratio", "derived", "numeric", "Monthly commitments vs income",
        "月供收入比", "max(declared obligations, bureau monthly repayments) / monthly income; "
        "missing when neither is known", _debt_service_ratio, actionable=True,
        improve_en="Lower your monthly commitments relative to income",
        improve_zh="降低每月固定支出占收入的比例"),
    FeatureDefinition(
        "existing_exposure_minor", "derived", "numeric", "Existing credit exposure",
        "现有授信敞口", "bureau debt + creditpay credit balance, fen", _existing_exposure_minor),
)

_BY_NAME = {f.name: f for f in FEATURES}
assert len(_BY_NAME) == len(FEATURES), "feature names must be unique"


def feature(name: str) -> FeatureDefinition:
    """The declaration of ``name`` (KeyError for an unknown feature is a programming error)."""
    return _BY_NAME[name]
