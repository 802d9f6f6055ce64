"""The consumer-facing texts that moved from in-code zh/en literals into the gettext
catalogs (``creditpay.i18n``, issue #15) are, byte for byte, what they were: the
affordability rules' messages (and the refusal that joins them), the collections contact
rules', the consent-required error's, the early-warning playbook titles, the staff access
purposes' and the complaint categories' names. moved_texts_golden.json was written by the
code before the move (main at f1a9f37), from the same cases as below."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from creditpay.credit import affordability as A
from creditpay.credit import origination
from creditpay.errors import ConsentRequiredError, LimitExceededError
from creditpay.platform import purposes
from creditpay.protection import collections_rules as C
from creditpay.protection import complaints, consent
from creditpay.risk.early_warning import monitors as M

GOLDEN = json.loads((Path(__file__).parent / "moved_texts_golden.json").read_text("utf-8"))
NOW = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
USD = dataclasses.replace(A.DEFAULT_POLICY, currency="USD")


def _same(value: Any, golden: Any) -> None:
    """Equal as served: the same JSON text, key order included."""
    assert json.dumps(value, ensure_ascii=False) == json.dumps(golden, ensure_ascii=False)


def _snapshot(currency: str = "CNY", **changes: Any) -> A.BorrowerSnapshot:
    base: dict[str, Any] = dict(
        currency=currency, monthly_income_minor=1_000_000, monthly_debt_payments_minor=100_000,
        exposure_minor=50_000_00, open_plans=1, credit_limit_minor=100_000, used_minor=10_000,
        limit_increase_times=())
    return A.BorrowerSnapshot(**{**base, **changes})


def _case(result: A.AffordabilityResult) -> dict[str, Any]:
    refusal = None
    try:
        result.refuse()
    except LimitExceededError as exc:
        refusal = {k: exc.extra[k] for k in ("rule", "rules", "message_zh_cn", "message_en")}
    return {"result": result.as_dict(), "refusal": refusal}


NEW_CREDIT = {
    "pass_plan": (_snapshot(), 10_000_00, 50_000, True, A.DEFAULT_POLICY),
    "pass_line": (_snapshot(), 10_000_00, 50_000, False, A.DEFAULT_POLICY),
    "no_income": (_snapshot(monthly_income_minor=0), 10_000_00, 50_000, True, A.DEFAULT_POLICY),
    "dti_fail": (_snapshot(monthly_income_minor=300_000), 10_000_00, 123_456, False,
                 A.DEFAULT_POLICY),
    "all_fail": (_snapshot(monthly_income_minor=200_000, exposure_minor=199_999_00, open_plans=5,
                           credit_limit_minor=100_000, used_minor=85_000),
                 20_000_00, 150_000, True, A.DEFAULT_POLICY),
    "usd_fail": (_snapshot("USD", exposure_minor=199_000_00, used_minor=99_999),
                 5_000_00, 1_000, True, USD),
    "full_use": (_snapshot(used_minor=100_000), 1_00, 1, False, A.DEFAULT_POLICY),
    "no_limit": (_snapshot(credit_limit_minor=0, used_minor=0), 1_00, 1, True, A.DEFAULT_POLICY),
}
LIMIT_INCREASE = {
    "pass": (_snapshot(), 200_000, A.DEFAULT_POLICY),
    "cooling": (_snapshot(limit_increase_times=(NOW - dt.timedelta(days=10),)), 200_000,
                A.DEFAULT_POLICY),
    "cooling_two": (_snapshot(limit_increase_times=(NOW - dt.timedelta(days=80),
                                                    NOW - dt.timedelta(days=5))), 300_000,
                    dataclasses.replace(A.DEFAULT_POLICY, limit_increases_max=2)),
    "none_allowed": (_snapshot(monthly_income_minor=0), 200_000,
                     dataclasses.replace(A.DEFAULT_POLICY, limit_increases_max=0)),
}


@pytest.mark.parametrize("name", NEW_CREDIT)
def test_affordability_new_credit_messages(name: str) -> None:
    snapshot, amount, monthly, plan, policy = NEW_CREDIT[name]
    _same(_case(A.assess_new_credit(snapshot, amount, monthly, is_installment_plan=plan,
                                    policy=policy)), GOLDEN["affordability"][f"new_credit.{name}"])


@pytest.mark.parametrize("name", LIMIT_INCREASE)
def test_affordability_limit_increase_messages(name: str) -> None:
    snapshot, new_limit, policy = LIMIT_INCREASE[name]
    _same(_case(A.assess_limit_increase(snapshot, new_limit, NOW, policy=policy)),
          GOLDEN["affordability"][f"limit_increase.{name}"])


def test_affordability_spending_nudge() -> None:
    nudge = A.spending_nudge(_snapshot(credit_limit_minor=100_000, used_minor=85_000))
    assert nudge is not None
    _same(dataclasses.asdict(nudge), GOLDEN["affordability"]["nudge"])
    assert A.spending_nudge(_snapshot()) is None


def test_income_unknown_outcome_of_origination() -> None:
    skipped = origination.income_unknown_outcome()
    assert (skipped.rule, skipped.passed, skipped.advisory, skipped.figures) == (
        "debt_to_income", True, True, {"skipped": "income_unknown"})
    assert skipped.message_zh_cn == "未登记收入，本次未计算负债收入比。"
    assert skipped.message_en == "No income on file: the debt-to-income ratio was not computed."


def test_collections_contact_rule_messages() -> None:
    def attempt(recipient: str = "debtor", ref: str = "ref1") -> C.ContactAttempt:
        return C.ContactAttempt("c1", "a1", "col1", "phone", ref, recipient, "Asia/Shanghai")

    noon = dt.datetime(2025, 3, 1, 4, tzinfo=dt.UTC)  # 12:00 in Shanghai
    night = dt.datetime(2025, 3, 1, 15, tzinfo=dt.UTC)  # 23:00 in Shanghai
    cases = {"no_third_party": (attempt("third_party"), noon, 0),
             "verified_channel": (attempt(ref="other"), noon, 0),
             "quiet_hours": (attempt(), night, 0),
             "max_contacts_per_day": (attempt(), noon, 3),
             "allowed": (attempt(), noon, 0)}
    seen = {}
    for name, (one, at, contacts) in cases.items():
        decision = C.may_contact(one, at, verified_channel_refs={"ref1"},
                                 contacts_today=contacts)
        seen[name] = {"allowed": decision.allowed, "rule": decision.rule,
                      "message_zh_cn": decision.message_zh_cn,
                      "message_en": decision.message_en}
    _same(seen, GOLDEN["collections"])


def test_playbook_titles_in_the_action_record() -> None:
    records = {}
    for code, playbook in M.PLAYBOOKS.items():
        alert = M.Alert(monitor="m", metric="fraud_rate", segment="all", day=NOW.date(),
                        severity="critical", value=0.5, statistic=0.5, centre=0.05,
                        lower=0.0, upper=0.1, sigmas=9.0, method="ewma", playbook=code)
        records[code] = M.execute_playbook(alert, operator_id="op1", operator_roles=["admin"],
                                           parameters={p: "x" for p in playbook.parameters})
    _same(records, GOLDEN["playbooks"])


def test_access_purpose_and_complaint_category_names() -> None:
    _same({k.value: list(v) for k, v in purposes.PURPOSE_NAMES.items()},
          GOLDEN["access_purposes"])
    _same({k.value: list(v) for k, v in complaints.CATEGORY_NAMES.items()},
          GOLDEN["complaint_categories"])


def test_consent_required_messages(uow) -> None:  # type: ignore[no-untyped-def]
    seen = {}
    with uow.connect() as conn:
        for purpose in consent.Purpose:
            partner = "partner_1" if purpose.needs_partner else None
            with pytest.raises(ConsentRequiredError) as raised:
                consent.require_consent(conn, "cust_1", purpose, partner)
            seen[purpose.value] = {k: raised.value.extra[k]
                                   for k in ("message_zh_cn", "message_en")}
    _same(seen, GOLDEN["consent_required"])
