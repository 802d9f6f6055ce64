"""Key facts before credit, affordability at origination: the checkout honours both.

Through the real app on SQLite and PostgreSQL: every credit offer carries the SHA-256 of its
key-facts document and where to read it; confirming with credit must send that hash back
(else 422 naming ``key_facts_sha256`` and nothing changes); the acceptance of the exact
document is recorded with the authorisation; the affordability rules run before it and a
refusal names its rule; a mostly-used line gets a spending nudge with the offers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from sqlalchemy import func, select

from creditpay.credit import affordability as A
from creditpay.credit.tables import affordability_checks
from creditpay.protection.disclosure import verify_acceptance
from creditpay.protection.tables import disclosure_acceptances

PHONES = iter(f"1370000{n:04d}" for n in range(1000))


def _intent(api, mkey, amount_minor, order_id):
    return api.post("/v1/payment_intents", {"amount_minor": amount_minor, "currency": "CNY",
                                            "order_id": order_id}, mkey, expect=201).json()


def _plan(quote, periods=6):
    return next(o for o in quote["offers"] if o["funding"] == "installment_plan"
                and o["periods"] == periods and o["total_fee_minor"] > 0)


def _available(api, customer_id):
    from creditpay.credit import service as credit

    with api.runtime.uow.connect() as conn:
        return credit.line_of(conn, f"line_{customer_id}_CNY").available_minor


def _count(api, table, **where):
    with api.runtime.uow.connect() as conn:
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(table.c[name] == value)
        return conn.execute(query).scalar_one()


def test_credit_confirm_needs_the_hash_of_the_document_shown(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    token, customer_id = api.customer_with_line(admin, next(PHONES))
    intent = _intent(api, mkey, 360_000, "laptop")
    url = f"/v1/payment_intents/{intent['id']}"
    quote = api.post(f"{url}/credit_offers", {}, token, expect=200).json()
    assert quote["spending_nudge"] is None  # nothing used yet
    offer = _plan(quote)
    assert offer["key_facts_language"] == "zh-CN"  # the customer's locale
    assert offer["key_facts_url"].startswith(f"{url}/credit_offers/{offer['offer_id']}/")
    shown = api.get(offer["key_facts_url"], token, expect=200)
    assert shown.headers["content-type"].startswith("text/html")
    assert hashlib.sha256(shown.content).hexdigest() == offer["key_facts_sha256"]
    text = shown.content.decode("utf-8")
    for figure in ("综合年化成本", "应还总额", "逾期", "撤回", "投诉", offer["offer_id"]):
        assert figure in text, figure
    english = api.get(f"{url}/credit_offers/{offer['offer_id']}/key_facts", token,
                      params={"lang": "en"}, expect=200).content
    assert b"Key facts statement" in english
    english_sha = hashlib.sha256(english).hexdigest()
    assert english_sha != offer["key_facts_sha256"]

    before = _available(api, customer_id)
    body = {"funding": "installment_plan", "offer_id": offer["offer_id"]}
    missing = api.post(f"{url}/confirm", body, token, expect=422).json()
    assert missing["field"] == "key_facts_sha256"
    other = _plan(quote, periods=3)["key_facts_sha256"]  # another offer's document
    for wrong in ("0" * 64, other):
        problem = api.post(f"{url}/confirm", {**body, "key_facts_sha256": wrong}, token,
                           expect=422).json()
        assert problem["field"] == "key_facts_sha256"
    # Nothing changed: no hold, no acceptance, no check, the intent still unpaid.
    assert _available(api, customer_id) == before
    assert _count(api, disclosure_acceptances, customer_id=customer_id) == 0
    assert _count(api, affordability_checks, customer_id=customer_id) == 0
    assert api.get(url, token).json()["status"] == "requires_confirmation"
    # Balance funding takes no key-facts hash.
    assert api.post(f"{url}/confirm", {"funding": "balance", "key_facts_sha256": other},
                    token, expect=422).json()["field"] == "key_facts_sha256"

    # The consumer read the English document and accepts that one.
    confirmed = api.post(f"{url}/confirm", {**body, "key_facts_sha256": english_sha}, token,
                         expect=200).json()
    assert confirmed["status"] == "requires_capture"
    assert confirmed["accepted_offer"]["key_facts_sha256"] == english_sha
    assert _available(api, customer_id) == before - offer["financed_minor"]
    with api.runtime.uow.connect() as conn:
        rows = conn.execute(select(disclosure_acceptances).where(
            disclosure_acceptances.c.customer_id == customer_id)).all()
        assert [(r.offer_id, r.document_sha256, r.language) for r in rows] == [
            (offer["offer_id"], english_sha, "en")]
        assert verify_acceptance(conn, offer["offer_id"], english).matches
        check = conn.execute(select(affordability_checks).where(
            affordability_checks.c.reference == intent["id"])).one()
    assert check.passed and check.customer_id == customer_id
    # Income unknown: the debt-to-income rule is recorded as skipped, the others ran.
    rules = {o["rule"]: o for o in check.outcomes}
    assert rules["debt_to_income"]["figures"] == {"skipped": "income_unknown"}
    assert {"exposure_cap", "concurrent_plans"} <= set(rules)
    assert confirmed["accepted_offer"]["affordability_check_id"] == check.id


def test_key_facts_are_readable_by_the_intent_customer_only(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    token, _ = api.customer_with_line(admin, next(PHONES))
    intent = _intent(api, mkey, 60_000, "shoes")
    url = f"/v1/payment_intents/{intent['id']}"
    offer = api.post(f"{url}/credit_offers", {"language": "en"}, token,
                     expect=200).json()["offers"][0]
    assert offer["key_facts_language"] == "en"
    document = f"{url}/credit_offers/{offer['offer_id']}/key_facts"
    assert api.get(document, token, expect=200).text.startswith("<!DOCTYPE html")
    other = api.customer(next(PHONES))
    assert api.get(document, other).status_code == 404
    assert api.get(document, mkey).status_code == 403
    assert api.get(document, api.operator("support")).status_code == 403
    assert api.get(f"{url}/credit_offers/off_unknown/key_facts", token).status_code == 404
    assert api.get(document, token, params={"lang": "fr"}).status_code == 422


def _refused(api, token, customer_id, url, offer, rule):
    before = _available(api, customer_id)
    problem = api.post(f"{url}/confirm", {
        "funding": offer["funding"], "offer_id": offer["offer_id"],
        "key_facts_sha256": offer["key_facts_sha256"]}, token, expect=409).json()
    assert problem["rule"] == rule and problem["field"] == rule, problem
    assert problem["message_en"] and problem["message_zh_cn"]
    assert _available(api, customer_id) == before
    assert _count(api, disclosure_acceptances, customer_id=customer_id) == 0
    assert api.get(url, token).json()["status"] == "requires_confirmation"
    with api.runtime.uow.connect() as conn:
        check = conn.execute(select(affordability_checks).where(
            affordability_checks.c.reference == url.rsplit("/", 1)[1])
            .order_by(affordability_checks.c.id.desc())).first()
    assert not check.passed and rule in check.failed_rules
    return problem


# A refusal's texts as the API returns them: the same as when they were written in code
# (they come from the catalogs now, creditpay.i18n).
PLANS_ZH = "分期笔数将为 1，上限 0。请先结清部分分期。"
PLANS_EN = "You would have 1 installment plans; the limit is 0. Please repay a plan first."
EXPOSURE_ZH = "借款余额将为 ¥600.00，上限 ¥500.00。超过单户上限。"
EXPOSURE_EN = ("Your credit with us would be CN¥600.00; the limit per borrower is CN¥500.00. "
               "This is above the limit.")


def _messages(problem):
    return problem["message_zh_cn"], problem["message_en"]


def test_affordability_refusals_name_their_rule(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    token, customer_id = api.customer_with_line(admin, next(PHONES))
    payments = api.runtime.payments
    saved = payments.origination  # credit's origination: the rules checkout runs
    try:
        intent = _intent(api, mkey, 60_000, "phone")
        url = f"/v1/payment_intents/{intent['id']}"
        quote = api.post(f"{url}/credit_offers", {}, token, expect=200).json()
        plan = _plan(quote)
        line = next(o for o in quote["offers"] if o["funding"] == "credit_line")
        payments.origination = dataclasses.replace(saved, affordability_policies={
            "CNY": dataclasses.replace(A.DEFAULT_POLICY, concurrent_plans_max=0)})
        problem = _refused(api, token, customer_id, url, plan, "concurrent_plans")
        assert problem["rules"] == ["concurrent_plans"]
        assert _messages(problem) == (PLANS_ZH, PLANS_EN)
        payments.origination = dataclasses.replace(saved, affordability_policies={
            "CNY": dataclasses.replace(A.DEFAULT_POLICY, concurrent_plans_max=0,
                                       exposure_max_minor=50_000)})
        problem = _refused(api, token, customer_id, url, plan, "exposure_cap")
        assert problem["rules"] == ["exposure_cap", "concurrent_plans"]  # every failing rule
        assert _messages(problem) == (EXPOSURE_ZH + "；" + PLANS_ZH,
                                      EXPOSURE_EN + " " + PLANS_EN)
        problem = _refused(api, token, customer_id, url, line, "exposure_cap")
        assert _messages(problem) == (EXPOSURE_ZH, EXPOSURE_EN)
        # A declared income: monthly repayments above half of it are refused.
        payments.origination = dataclasses.replace(
            saved, declared_income=lambda conn, customer, currency: (10_000, 0))
        problem = _refused(api, token, customer_id, url, plan, "debt_to_income")
        assert _messages(problem) == (
            "月还款额占月收入 103.0%，上限 50.0%。超过上限，为避免过度负债，本次申请未通过。",
            "Monthly repayments would be 103.0% of monthly income; the limit is 50.0%. To "
            "protect you from over-indebtedness the request is declined.")
        payments.origination = dataclasses.replace(
            saved, declared_income=lambda conn, customer, currency: (1_000_000, 0))
        api.post(f"{url}/confirm", {"funding": "installment_plan",
                                    "offer_id": plan["offer_id"],
                                    "key_facts_sha256": plan["key_facts_sha256"]},
                 token, expect=200)
    finally:
        payments.origination = saved


def test_offers_carry_a_spending_nudge_when_the_line_is_mostly_used(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    token, customer_id = api.customer_with_line(admin, next(PHONES), limit_minor=100_000)
    first = _intent(api, mkey, 85_000, "tv")
    url = f"/v1/payment_intents/{first['id']}"
    line = next(o for o in api.post(f"{url}/credit_offers", {}, token, expect=200).json()[
        "offers"] if o["funding"] == "credit_line")
    api.post(f"{url}/confirm", {"funding": "credit_line", "offer_id": line["offer_id"],
                                "key_facts_sha256": line["key_facts_sha256"]}, token,
             expect=200)
    second = _intent(api, mkey, 10_000, "cable")
    quote = api.post(f"/v1/payment_intents/{second['id']}/credit_offers", {}, token,
                     expect=200).json()
    assert quote["offers"]
    nudge = quote["spending_nudge"]
    assert nudge["rule"] == "high_utilisation" and nudge["utilisation"] == "0.8500"
    assert "85.0%" in nudge["message_en"] and "85.0%" in nudge["message_zh_cn"]
    # The texts come from the catalogs (creditpay.i18n) and are what they were in code.
    assert json.dumps(nudge, ensure_ascii=False) == json.dumps({
        "rule": "high_utilisation", "utilisation": "0.8500", "threshold": "0.8",
        "message_zh_cn": "您已使用额度的 85.0%。请留意还款能力，理性消费；可设置消费提醒。",
        "message_en": "You have used 85.0% of your limit. Please make sure you can repay "
                      "before spending more; you can set a spending alert."},
        ensure_ascii=False)
