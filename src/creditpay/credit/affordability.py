"""Affordability and over-indebtedness (pure rules + a small recording service).

Rules, each reported with pass/fail, its figures and a zh-CN/en message:

* ``income_verified``: a verified monthly income is known (no credit on unknown income);
* ``debt_to_income``: (existing monthly debt payments + the new monthly payment) /
  verified monthly income <= ``debt_to_income_max`` (default 50 %);
* ``exposure_cap``: unsecured exposure with us after the new credit (for a limit increase:
  as if the new limit were fully used) <= ``exposure_max_minor`` (default 200,000.00 CNY);
* ``concurrent_plans``: installment plans open after this one <= ``concurrent_plans_max``
  (default 5);
* ``limit_increase_cooling_off``: at most ``limit_increases_max`` increases in any
  ``cooling_off_days`` (default 1 per 90 days), counting the one asked for;
* ``high_utilisation`` (advisory, never a refusal): used / limit >= the nudge threshold
  (default 80 %) produces a spending nudge for the consumer.

A refusal names every failing rule (:meth:`AffordabilityResult.refuse`); the figures are
exact (Fraction comparisons; ratios shown rounded to 4 decimals). The messages are the
gettext catalogs' (:mod:`creditpay.i18n`, English msgids): one whole message per outcome
(passed or not), so a translator never sees a sentence glued to another in code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from creditpay.credit.calendar import periods_per_year
from creditpay.credit.schedule import Schedule
from creditpay.credit.tables import affordability_checks
from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx
from creditpay.errors import LimitExceededError, ValidationError
from creditpay.formatting import money_text
from creditpay.i18n import LANGUAGES, N_, bilingual
from creditpay.money import validate_currency
from creditpay.platform import audit
from creditpay.platform.validators import (
    check_aware,
    check_choice,
    check_count,
    check_minor,
    check_rate,
    check_reference,
)

__all__ = ["AffordabilityPolicy", "DEFAULT_POLICY", "BorrowerSnapshot", "RuleOutcome",
           "outcome", "AffordabilityResult", "assess_new_credit", "assess_limit_increase",
           "spending_nudge", "monthly_payment_of", "record_check", "KINDS"]

KINDS = ("new_credit", "limit_increase")
LIMIT_INCREASE_HISTORY_MAX = 1_000


@dataclass(frozen=True, slots=True)
class AffordabilityPolicy:
    version: int = 1
    currency: str = "CNY"
    debt_to_income_max: Decimal = Decimal("0.5")
    exposure_max_minor: int = 200_000_00
    concurrent_plans_max: int = 5
    cooling_off_days: int = 90
    limit_increases_max: int = 1
    utilisation_nudge_threshold: Decimal = Decimal("0.8")

    def __post_init__(self) -> None:
        check_count(self.version, "version", 1, 10**6)
        validate_currency(self.currency)
        check_rate(self.debt_to_income_max, "debt_to_income_max", Decimal(5))
        check_minor(self.exposure_max_minor, "exposure_max_minor")
        check_count(self.concurrent_plans_max, "concurrent_plans_max", 0, 1_000)
        check_count(self.cooling_off_days, "cooling_off_days", 0, 3_650)
        check_count(self.limit_increases_max, "limit_increases_max", 0, 100)
        check_rate(self.utilisation_nudge_threshold, "utilisation_nudge_threshold",
                   Decimal(1))


DEFAULT_POLICY = AffordabilityPolicy()


@dataclass(frozen=True, slots=True)
class BorrowerSnapshot:
    """What the rules need to know about a borrower, from the owning domains (parties:
    verified income; credit: our exposure, plans, line; bureau: debts elsewhere)."""

    currency: str
    monthly_income_minor: int  # verified; 0 = unknown
    monthly_debt_payments_minor: int  # every lender, as reported
    exposure_minor: int  # outstanding unsecured credit with us
    open_plans: int = 0
    credit_limit_minor: int = 0
    used_minor: int = 0  # drawn on the line
    limit_increase_times: Sequence[dt.datetime] = field(default=())

    def __post_init__(self) -> None:
        validate_currency(self.currency)
        for name in ("monthly_income_minor", "monthly_debt_payments_minor", "exposure_minor",
                     "credit_limit_minor", "used_minor"):
            check_minor(getattr(self, name), name)
        check_count(self.open_plans, "open_plans", 0, 10_000)
        if len(self.limit_increase_times) > LIMIT_INCREASE_HISTORY_MAX:
            raise ValidationError(f"at most {LIMIT_INCREASE_HISTORY_MAX} entries",
                                  field="limit_increase_times")
        for index, when in enumerate(self.limit_increase_times):
            check_aware(when, f"limit_increase_times[{index}]")


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    rule: str
    passed: bool
    advisory: bool  # advisory rules nudge; they never refuse
    figures: dict[str, Any]
    message_zh_cn: str
    message_en: str


def outcome(rule: str, passed: bool, advisory: bool, figures: dict[str, Any], message: str,
            **values: str | int | Mapping[str, str]) -> RuleOutcome:
    """A rule's outcome with ``message`` (an English msgid marked with ``N_``) in zh-CN
    and en, its named placeholders filled with ``values`` (a dict: one value per language,
    e.g. an amount)."""
    text = bilingual(message, context=None, **values)
    return RuleOutcome(rule, passed, advisory, figures, text["zh"], text["en"])


def _money(amount_minor: int, currency: str) -> dict[str, str]:
    """An amount written for each language (CN¥1.00 in en, ¥1.00 in zh-CN)."""
    return {language: money_text(amount_minor, currency, language) for language in LANGUAGES}


@dataclass(frozen=True, slots=True)
class AffordabilityResult:
    kind: str
    rules: tuple[RuleOutcome, ...]
    policy_version: int

    @property
    def passed(self) -> bool:
        return all(rule.passed for rule in self.rules if not rule.advisory)

    @property
    def failed_rules(self) -> list[str]:
        return [rule.rule for rule in self.rules if not rule.passed and not rule.advisory]

    @property
    def nudges(self) -> list[RuleOutcome]:
        return [rule for rule in self.rules if rule.advisory and not rule.passed]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "passed": self.passed, "failed_rules": self.failed_rules,
                "policy_version": self.policy_version,
                "rules": [{"rule": r.rule, "passed": r.passed, "advisory": r.advisory,
                           "figures": r.figures, "message_zh_cn": r.message_zh_cn,
                           "message_en": r.message_en} for r in self.rules]}

    def refuse(self) -> None:
        """Raise LimitExceededError naming every failing rule (nothing if it passed)."""
        if self.passed:
            return
        failed = self.failed_rules
        outcomes = [r for r in self.rules if r.rule in failed]
        # Whole translated messages in a row: zh-CN separates them with a full-width
        # semicolon, en with a space (each en message ends with its full stop).
        raise LimitExceededError(
            f"refused by affordability rule(s): {', '.join(failed)}", field=failed[0],
            rule=failed[0], rules=failed,
            message_zh_cn="；".join(r.message_zh_cn for r in outcomes),
            message_en=" ".join(r.message_en for r in outcomes))


def _ratio(value: Fraction) -> str:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _percent(value: Fraction | Decimal) -> str:
    value = Fraction(value)
    shown = (Decimal(value.numerator) * 100 / Decimal(value.denominator)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown}%"


def _check_currency(snapshot: BorrowerSnapshot, policy: AffordabilityPolicy) -> None:
    if not isinstance(snapshot, BorrowerSnapshot):
        raise ValidationError("must be a BorrowerSnapshot", field="snapshot")
    if not isinstance(policy, AffordabilityPolicy):
        raise ValidationError("must be an AffordabilityPolicy", field="policy")
    if snapshot.currency != policy.currency:
        raise ValidationError(f"the policy is in {policy.currency}", field="currency")


def _income_and_dti(snapshot: BorrowerSnapshot, new_monthly_minor: int,
                    policy: AffordabilityPolicy) -> list[RuleOutcome]:
    income = snapshot.monthly_income_minor
    known = income > 0
    outcomes = [outcome(
        "income_verified", known, False, {"monthly_income_minor": income},
        N_("Verified monthly income is on file.") if known else
        N_("No verified income is on file, so no credit can be offered yet."))]
    debt = snapshot.monthly_debt_payments_minor + new_monthly_minor
    if not known:
        ratio_text = None
        passed = False
    else:
        ratio = Fraction(debt, income)
        passed = ratio <= Fraction(policy.debt_to_income_max)
        ratio_text = _ratio(ratio)
    cap = _percent(policy.debt_to_income_max)
    shown = _percent(Fraction(debt, income)) if known else "—"
    outcomes.append(outcome(
        "debt_to_income", passed, False,
        {"monthly_debt_payments_minor": snapshot.monthly_debt_payments_minor,
         "new_monthly_payment_minor": new_monthly_minor, "monthly_income_minor": income,
         "debt_to_income": ratio_text, "debt_to_income_max": str(policy.debt_to_income_max)},
        N_("Monthly repayments would be {share} of monthly income; the limit is {cap}.")
        if passed else
        N_("Monthly repayments would be {share} of monthly income; the limit is {cap}. To "
           "protect you from over-indebtedness the request is declined."),
        share=shown, cap=cap))
    return outcomes


def _exposure(exposure_after: int, snapshot: BorrowerSnapshot,
              policy: AffordabilityPolicy) -> RuleOutcome:
    passed = exposure_after <= policy.exposure_max_minor
    cur = snapshot.currency
    return outcome(
        "exposure_cap", passed, False,
        {"exposure_minor": snapshot.exposure_minor, "exposure_after_minor": exposure_after,
         "exposure_max_minor": policy.exposure_max_minor},
        N_("Your credit with us would be {exposure}; the limit per borrower is {cap}.")
        if passed else
        N_("Your credit with us would be {exposure}; the limit per borrower is {cap}. This is "
           "above the limit."),
        exposure=_money(exposure_after, cur), cap=_money(policy.exposure_max_minor, cur))


def _utilisation(snapshot: BorrowerSnapshot, policy: AffordabilityPolicy) -> RuleOutcome:
    limit = snapshot.credit_limit_minor
    ratio = Fraction(snapshot.used_minor, limit) if limit else Fraction(0)
    high = limit > 0 and ratio >= Fraction(policy.utilisation_nudge_threshold)
    return outcome(
        "high_utilisation", not high, True,
        {"used_minor": snapshot.used_minor, "credit_limit_minor": limit,
         "utilisation": _ratio(ratio),
         "threshold": str(policy.utilisation_nudge_threshold)},
        N_("You have used {share} of your limit. Please make sure you can repay before "
           "spending more; you can set a spending alert.") if high else
        N_("You have used {share} of your limit."),
        share=_percent(ratio))


def monthly_payment_of(schedule: Schedule) -> int:
    """Largest installment of a schedule as a monthly amount (minor units, rounded up):
    weekly x 52/12, quarterly / 3, and so on; a bullet counts its whole repayment."""
    if not isinstance(schedule, Schedule):
        raise ValidationError("must be a Schedule", field="schedule")
    largest = max(item.total_minor for item in schedule.installments)
    if len(schedule.installments) == 1:
        return largest
    per_month = largest * periods_per_year(schedule.terms.frequency) / 12
    return -(-per_month.numerator // per_month.denominator)


def assess_new_credit(snapshot: BorrowerSnapshot, amount_minor: int,
                      new_monthly_payment_minor: int, *, is_installment_plan: bool,
                      policy: AffordabilityPolicy = DEFAULT_POLICY) -> AffordabilityResult:
    """Rules for new credit of ``amount_minor`` costing ``new_monthly_payment_minor`` a
    month (see :func:`monthly_payment_of`)."""
    _check_currency(snapshot, policy)
    check_minor(amount_minor, "amount_minor", minimum=1)
    check_minor(new_monthly_payment_minor, "new_monthly_payment_minor")
    if not isinstance(is_installment_plan, bool):
        raise ValidationError("must be true or false", field="is_installment_plan")
    rules = _income_and_dti(snapshot, new_monthly_payment_minor, policy)
    rules.append(_exposure(snapshot.exposure_minor + amount_minor, snapshot, policy))
    if is_installment_plan:
        after = snapshot.open_plans + 1
        passed = after <= policy.concurrent_plans_max
        rules.append(outcome(
            "concurrent_plans", passed, False,
            {"open_plans": snapshot.open_plans, "open_plans_after": after,
             "concurrent_plans_max": policy.concurrent_plans_max},
            N_("You would have {plans} installment plans; the limit is {cap}.") if passed else
            N_("You would have {plans} installment plans; the limit is {cap}. Please repay a "
               "plan first."),
            plans=after, cap=policy.concurrent_plans_max))
    rules.append(_utilisation(snapshot, policy))
    return AffordabilityResult("new_credit", tuple(rules), policy.version)


def assess_limit_increase(snapshot: BorrowerSnapshot, new_limit_minor: int, now: dt.datetime,
                          *, policy: AffordabilityPolicy = DEFAULT_POLICY
                          ) -> AffordabilityResult:
    """Rules for raising the line's limit to ``new_limit_minor`` at business time ``now``."""
    _check_currency(snapshot, policy)
    check_minor(new_limit_minor, "new_limit_minor", minimum=1)
    check_aware(now, "now")
    if new_limit_minor <= snapshot.credit_limit_minor:
        raise ValidationError("must be above the current limit", field="new_limit_minor")
    window_start = now - dt.timedelta(days=policy.cooling_off_days)
    recent = sorted(t for t in snapshot.limit_increase_times if window_start < t <= now)
    passed = len(recent) + 1 <= policy.limit_increases_max
    next_allowed = None
    if not passed and recent:
        # The oldest increase that must leave the window before another one fits.
        index = len(recent) - policy.limit_increases_max
        next_allowed = (recent[max(index, 0)] + dt.timedelta(days=policy.cooling_off_days))
    next_text = next_allowed.date().isoformat() if next_allowed else "—"
    rules = [outcome(
        "limit_increase_cooling_off", passed, False,
        {"increases_in_window": len(recent), "limit_increases_max": policy.limit_increases_max,
         "cooling_off_days": policy.cooling_off_days,
         "next_allowed_at": next_allowed.isoformat() if next_allowed else None},
        N_("The limit can be raised at most {times} time(s) in {days} days.") if passed else
        N_("The limit can be raised at most {times} time(s) in {days} days. Please wait "
           "until after {date}."),
        times=policy.limit_increases_max, days=policy.cooling_off_days, date=next_text)]
    rules += _income_and_dti(snapshot, 0, policy)
    exposure_after = snapshot.exposure_minor - snapshot.used_minor + new_limit_minor
    rules.append(_exposure(max(exposure_after, snapshot.exposure_minor), snapshot, policy))
    rules.append(_utilisation(snapshot, policy))
    return AffordabilityResult("limit_increase", tuple(rules), policy.version)


def spending_nudge(snapshot: BorrowerSnapshot,
                   policy: AffordabilityPolicy = DEFAULT_POLICY) -> RuleOutcome | None:
    """The high-utilisation nudge to show the consumer, or None."""
    _check_currency(snapshot, policy)
    outcome = _utilisation(snapshot, policy)
    return None if outcome.passed else outcome


# Constant, run on the driver (creditpay.db.prepared): every credit checkout records a check.
_INSERT_CHECK = Prepared(affordability_checks.insert().returning(affordability_checks.c.id),
                         columns=("customer_id", "kind", "reference", "passed", "failed_rules",
                                  "outcomes", "policy_version", "checked_at"))


def record_check(tx: Tx, *, customer_id: str, reference: str,
                 result: AffordabilityResult) -> int:
    """Store the assessment a decision relied on (every rule and figure) and audit it;
    returns the row id. Call it in the transaction that makes the decision."""
    check_reference(customer_id, "customer_id")
    check_reference(reference, "reference")
    if not isinstance(result, AffordabilityResult):
        raise ValidationError("must be an AffordabilityResult", field="result")
    check_choice(result.kind, KINDS, "kind")
    outcomes = [{"rule": r.rule, "passed": r.passed, "advisory": r.advisory,
                 "figures": r.figures} for r in result.rules]
    check_id = int(_INSERT_CHECK.scalar(tx.conn, dict(
        customer_id=customer_id, kind=result.kind, reference=reference, passed=result.passed,
        failed_rules=result.failed_rules, outcomes=outcomes,
        policy_version=result.policy_version, checked_at=tx.now)))
    audit.append(tx, "system", "affordability", f"affordability.{result.kind}", "customer",
                 customer_id, {"check_id": check_id, "reference": reference,
                               "passed": result.passed, "failed_rules": result.failed_rules,
                               "policy_version": result.policy_version})
    return check_id
