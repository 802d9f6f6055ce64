"""The consumer's credit journey over HTTP (issues #3, #4, #5), through the real app on both
stores: apply, pay with the line, the bill, bill installments, repayment, payoff, auto-debit,
a cash loan from its offers; declines with reasons, missing consents, other customers' ids,
and replays that move money once."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.testclient import TestClient

from creditpay.api.app import create_app
from creditpay.config import Settings
from creditpay.credit.bill_installment_offers import bill_installment_quote
from creditpay.credit.cash_loan_offers import loan_offer_figures, loan_schedule
from creditpay.ledger.verify import verify_ledger
from creditpay.protection.cash_loans import key_facts_of
from creditpay.risk.bureau import BureauReport
from creditpay.risk.decisions import registry, service
from creditpay.risk.decisions.policy import activate_policy, bundled_policy_path, load_policy_file
from creditpay.risk.decisions.tables import credit_decisions
from tests.api.helpers import Api, api_config, build_app
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import close_days


class CleanBureau:
    """Nobody borrows elsewhere: the decision rests on the application and the policy."""

    name = "tests:clean"

    def fetch(self, customer_id: str, as_of: dt.datetime) -> BureauReport:
        return BureauReport(customer_id=customer_id, debt_minor=0, monthly_repayment_minor=0,
                            inquiries_6m=0, lenders_in_use=0, delinquencies_24m=0,
                            bureau=self.name)


def _api_with_model(store, clock, model, bureau, **settings_values):
    """An API over ``store`` with the application model and policy in force (and
    ``settings_values`` in its Settings)."""
    if settings_values:
        app = create_app(Settings.of(database_url=store.url, **settings_values), clock,
                         config=api_config(bureau=bureau))
    else:
        app = build_app(store.url, clock, bureau=bureau)
    client = TestClient(app, raise_server_exceptions=False)
    api = Api(client, app)
    with api.runtime.uow.begin() as tx:
        registry.register_model(tx, model, name="application", registered_by="tests")
        registry.promote(tx, "application", 1, actor="tests", reason="initial")
        activate_policy(tx, load_policy_file(bundled_policy_path("application")),
                        actor="tests")
    try:
        yield api
    finally:
        client.close()
        app.state.runtime.close()


@pytest.fixture
def api(store, clock, application_model):
    yield from _api_with_model(store, clock, application_model, CleanBureau())


APPLICATION = {"monthly_income_minor": 2_500_000, "employment_type": "salaried",
               "housing": "rent", "declared_monthly_obligations_minor": 100_000,
               "language": "en"}


def _verified(api, phone: str, born: str = "1990-05-17") -> str:
    token = api.customer(phone, device=f"dev-{phone}")
    api.post("/v1/me/kyc", {"legal_name": "Li Lei", "id_number": f"E{phone[-8:]}",
                            "date_of_birth": born}, token, expect=200)
    return token


def _consent(api, token: str, purpose: str) -> dict:
    text = api.get(f"/v1/me/consent_texts/{purpose}", token, params={"language": "en"},
                   expect=200).json()
    return api.post("/v1/me/consents", {"purpose": purpose, "text_version":
                                        text["text_version"], "language": "en",
                                        "text_sha256": text["text_sha256"]},
                    token, expect=201).json()


def _applied(api, phone: str, body: dict, outcome: str) -> tuple[str, dict]:
    """A verified customer with both consents applies; the decision has ``outcome``."""
    token = _verified(api, phone)
    _consent(api, token, "bureau_inquiry")
    _consent(api, token, "credit_assessment")
    decision = api.post("/v1/me/credit_applications", body, token, expect=201).json()
    assert decision["outcome"] == outcome, decision
    return token, decision


def _approved(api, phone: str) -> tuple[str, dict]:
    return _applied(api, phone, APPLICATION, "approve")


def _close_day(api, clock, phone: str) -> str:
    """Run the close of business of today; returns a fresh session (a day later the access
    token has expired)."""
    close_days(api.runtime.uow, clock, 1)
    return api.login(phone, device=f"dev-{phone}")


def _wallet(api, token: str) -> int:
    return api.wallet(token)["balance_minor"]


def _ledger_ok(api) -> None:
    with api.runtime.uow.connect() as conn:
        report = verify_ledger(conn)
    assert report.ok, report


def _pay_with_line(api, token: str, merchant_key: str, amount_minor: int) -> dict:
    intent = api.post("/v1/payment_intents", {"amount_minor": amount_minor, "currency": "CNY",
                                              "order_id": f"o-{amount_minor}"}, merchant_key,
                      expect=201).json()
    offers = api.post(f"/v1/payment_intents/{intent['id']}/credit_offers", {}, token,
                      expect=200).json()["offers"]
    line_offer = next(o for o in offers if o["funding"] == "credit_line")
    api.post(f"/v1/payment_intents/{intent['id']}/confirm", {
        "funding": "credit_line", "offer_id": line_offer["offer_id"],
        "key_facts_sha256": line_offer["key_facts_sha256"]}, token, expect=200)
    return api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, merchant_key,
                    expect=200).json()


# ----------------------------------------------------------------------------- the journey
def test_apply_pay_bill_convert_repay_payoff(api, clock):
    admin = api.operator("admin")
    merchant = api.merchant(admin)["api_key"]["key"]
    token = _verified(api, "13800000001")
    # No consent yet: refused, naming the consent, and nothing decided.
    missing = api.post("/v1/me/credit_applications", APPLICATION, token)
    assert missing.status_code == 403, missing.text
    problem = missing.json()
    assert problem["type"].endswith("/consent-required")
    assert problem["purpose"] == "bureau_inquiry"
    # The texts come from the catalogs (creditpay.i18n) and are what they were in code.
    assert (problem["message_zh_cn"], problem["message_en"]) == (
        "需要您的授权：征信查询与报送。请在“我的-授权管理”中查看并授权。",
        "Your consent is needed for credit bureau inquiry and reporting. You can review it "
        "under \"Me - Consents\".")
    _consent(api, token, "bureau_inquiry")
    missing = api.post("/v1/me/credit_applications", APPLICATION, token).json()
    assert missing["purpose"] == "credit_assessment"
    assert api.get("/v1/me/credit_applications", token, expect=200).json()["data"] == []
    _consent(api, token, "credit_assessment")

    key = "apply-0001-key"
    decision = api.post("/v1/me/credit_applications", APPLICATION, token, idem=key,
                        expect=201).json()
    assert decision["outcome"] == "approve", decision
    assert decision["limit_minor"] > 0 and decision["apr_percent"] is not None
    assert decision["line_product_code"] == "huabei" and decision["line_id"]
    assert decision["grade"] in "ABCDE"
    # The replay is the same decision; a second application while the line is open is a
    # conflict.
    again = api.post("/v1/me/credit_applications", APPLICATION, token, idem=key,
                     expect=201).json()
    assert again == decision
    conflict = api.post("/v1/me/credit_applications", APPLICATION, token)
    assert conflict.status_code == 409 and conflict.json()["type"].endswith(
        "/credit-line-exists")
    listed = api.get("/v1/me/credit_applications", token, expect=200).json()["data"]
    assert [d["decision_id"] for d in listed] == [decision["decision_id"]]
    assert listed[0]["line_id"] == decision["line_id"]
    accounts = api.get("/v1/me/credit_accounts", token, expect=200).json()["data"]
    assert [(a["account_id"], a["kind"]) for a in accounts] == [(decision["line_id"], "line")]

    # Pay at checkout with the line, then close the day: the statement is cut (the line's
    # statement day is the 1st; the business date is 2025-03-01).
    _pay_with_line(api, token, merchant, 30_000)
    token = _close_day(api, clock, "13800000001")
    line_id = decision["line_id"]
    bills = api.get(f"/v1/me/credit_accounts/{line_id}/statements", token,
                    expect=200).json()["data"]
    assert len(bills) == 1
    bill = api.get(f"/v1/me/statements/{bills[0]['statement_id']}", token, expect=200).json()
    assert bill == bills[0]
    assert bill["statement_date"] == "2025-03-01" and bill["due_date"] == "2025-03-10"
    assert bill["new_principal_minor"] == 30_000 and bill["closing_balance_minor"] == 30_000
    assert bill["lines"] == [{"kind": "principal", "amount_minor": 30_000, "account_id": None,
                              "number": None, "due_date": None, "principal_minor": None,
                              "interest_minor": None, "fee_minor": None}]
    assert 0 < bill["minimum_payment_minor"] <= 30_000

    # The cost of each installment option, before converting part of the bill.
    statement_id = bill["statement_id"]
    quoted = api.get(f"/v1/me/statements/{statement_id}/installment_offers", token,
                     params={"amount_minor": 20_000}, expect=200).json()
    assert quoted["convertible_minor"] == 30_000 and quoted["amount_minor"] == 20_000
    assert [o["periods"] for o in quoted["offers"]] == [3, 6, 9, 12]
    six = next(o for o in quoted["offers"] if o["periods"] == 6)
    assert six["total_fee_minor"] == 6 * 150  # 0.75 % of 20,000 a month
    assert six["total_cost_minor"] == six["total_fee_minor"]
    assert six["total_repayable_minor"] == 20_000 + six["total_fee_minor"]
    assert sum(r["total_minor"] for r in six["schedule"]) == six["total_repayable_minor"]
    assert six["first_due_date"] == "2025-04-10" and six["within_caps"]
    assert api.get(f"/v1/me/statements/{statement_id}/installment_offers", token,
                   params={"amount_minor": 30_001}).status_code == 422
    converted = api.post(f"/v1/me/statements/{statement_id}/installments",
                         {"amount_minor": 20_000, "periods": 6}, token, expect=201).json()
    assert converted["total_fee_minor"] == six["total_fee_minor"]
    assert converted["all_in_annual_cost_percent"] == six["all_in_annual_cost_percent"]
    plan_id = converted["plan_account_id"]
    after = api.get(f"/v1/me/statements/{statement_id}", token, expect=200).json()
    assert after["converted_minor"] == 20_000

    # Repay the rest of the bill from the wallet; a short wallet is refused, unchanged.
    api.fund(token, 15_000)
    short = api.post("/v1/me/credit_repayments", {"amount_minor": 15_001}, token)
    assert short.status_code == 409, short.text
    assert short.json()["type"].endswith("/insufficient-funds")
    assert short.json()["field"] == "amount_minor"
    assert _wallet(api, token) == 15_000
    repaid = api.post("/v1/me/credit_repayments", {"amount_minor": 10_000}, token,
                      idem="repay-0001-key", expect=201).json()
    assert repaid["principal_minor"] == 10_000 and repaid["wallet_available_minor"] == 5_000
    replay = api.post("/v1/me/credit_repayments", {"amount_minor": 10_000}, token,
                      idem="repay-0001-key", expect=201).json()
    assert replay == repaid and _wallet(api, token) == 5_000  # money moved once

    # The plan's installments as they will be billed; then its payoff today, and paying
    # exactly that settles it (the fees of installments that no longer exist are not due).
    rows = api.get(f"/v1/me/credit_accounts/{plan_id}/installments", token,
                   expect=200).json()
    assert rows["currency"] == "CNY" and rows["data"]
    assert {r["status"] for r in rows["data"]} == {"scheduled"}
    assert sum(r["principal_minor"] for r in rows["data"]) == 20_000
    assert all(r["total_minor"] == r["principal_minor"] + r["interest_minor"]
               + r["fee_minor"] for r in rows["data"])
    payoff = api.get(f"/v1/me/credit_accounts/{plan_id}/payoff", token, expect=200).json()
    assert payoff["currency"] == "CNY" and payoff["as_of"] == "2025-03-02"
    assert payoff["payoff_minor"] == 20_000  # no fee is billed before the first installment
    api.fund(token, payoff["payoff_minor"])
    settled = api.post("/v1/me/credit_repayments", {"amount_minor": payoff["payoff_minor"],
                                                    "account_id": plan_id}, token,
                       expect=201).json()
    assert settled["prepayment_minor"] == 20_000
    assert api.get(f"/v1/me/credit_accounts/{plan_id}/payoff", token,
                   expect=200).json()["payoff_minor"] == 0
    assert api.get(f"/v1/me/credit_accounts/{plan_id}/installments", token,
                   expect=200).json()["data"] == []
    over = api.post("/v1/me/credit_repayments", {"amount_minor": 1, "account_id": plan_id},
                    token)
    assert over.status_code in (404, 422), over.text  # nothing owed: nothing taken
    assert _wallet(api, token) == 5_000
    _ledger_ok(api)


def test_auto_debit_needs_the_consent(api):
    token, decision = _approved(api, "13800000002")
    line_id = decision["line_id"]
    refused = api.post(f"/v1/me/credit_accounts/{line_id}/auto_debit", {"enabled": True},
                       token)
    assert refused.status_code == 403 and refused.json()["purpose"] == "auto_debit"
    consent = _consent(api, token, "auto_debit")
    on = api.post(f"/v1/me/credit_accounts/{line_id}/auto_debit", {"enabled": True}, token,
                  expect=200).json()
    assert on == {"account_id": line_id, "auto_debit_enabled": True,
                  "consent_reference": f"consent:{consent['id']}"}
    off = api.post(f"/v1/me/credit_accounts/{line_id}/auto_debit", {"enabled": False},
                   token, expect=200).json()
    assert off["auto_debit_enabled"] is False and off["consent_reference"] is None


def test_a_decline_gives_the_reasons(api):
    token = _verified(api, "13800000003", born="1950-01-15")  # 75: outside 18-65
    _consent(api, token, "bureau_inquiry")
    _consent(api, token, "credit_assessment")
    declined = api.post("/v1/me/credit_applications", APPLICATION, token, expect=201).json()
    assert declined["outcome"] == "decline"
    assert declined["limit_minor"] is None and declined["line_id"] is None
    assert declined["reasons"][0]["code"] == "KO_AGE"
    assert "age" in declined["reasons"][0]["text"]
    zh = api.get("/v1/me/credit_applications", token, params={"lang": "zh-CN"},
                 expect=200).json()["data"]
    assert zh[0]["reasons"][0]["text"] == "您的年龄不在本产品的申请范围内"
    assert api.get("/v1/me/credit_accounts", token, expect=200).json()["data"] == []
    # No line: no cash loan either.
    refused = api.post("/v1/me/cash_loans/offers", {"amount_minor": 50_000}, token)
    assert refused.status_code == 409 and refused.json()["field"] == "customer_id"


def test_unverified_identity_cannot_apply(api):
    token = api.customer("13800000004", device="dev-13800000004")
    refused = api.post("/v1/me/credit_applications", APPLICATION, token)
    assert refused.status_code == 409 and refused.json()["field"] == "kyc_status"


# ----------------------------------------------------------------------------- cash loans
def test_cash_loan_from_offers_to_disbursement(api):
    token, decision = _approved(api, "13800000005")
    limit = decision["limit_minor"]
    too_much = api.post("/v1/me/cash_loans/offers", {"amount_minor": limit + 1}, token)
    assert too_much.status_code == 409 and too_much.json()["field"] == "amount_minor"
    assert too_much.json()["available_minor"] == limit
    amount = min(limit, 200_000)
    quoted = api.post("/v1/me/cash_loans/offers", {"amount_minor": amount, "language": "en"},
                      token, expect=200).json()
    assert quoted["headroom_minor"] == limit
    offers = quoted["offers"]
    assert {o["product_code"] for o in offers} == {"jiebei", "flat_loan"}
    catalogue = CATALOGUE
    for offer in offers:  # every figure is the loan's own schedule, priced under the cap
        product = catalogue.get(offer["product_code"])
        figures = loan_offer_figures(product, offer["periods"], offer["method"], amount,
                                     dt.date(2025, 3, 1), "CNY", caps=CATALOGUE.caps("CN"))
        assert figures.pop("within_caps") is True
        assert {k: offer[k] for k in figures} == figures
        assert offer["total_cost_minor"] == offer["total_interest_minor"]
        assert offer["total_repayable_minor"] == amount + offer["total_cost_minor"]
    offer = next(o for o in offers if o["product_code"] == "jiebei" and o["periods"] == 12
                 and o["method"] == "equal_installment")
    html = api.client.get(offer["key_facts_url"],
                          headers={"Authorization": f"Bearer {token}"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert hashlib.sha256(html.content).hexdigest() == offer["key_facts_sha256"]
    assert offer["offer_id"].encode() in html.content

    wrong = api.post("/v1/me/cash_loans", {"offer_id": offer["offer_id"],
                                           "key_facts_sha256": "0" * 64}, token)
    assert wrong.status_code == 422 and wrong.json()["field"] == "key_facts_sha256"
    before = _wallet(api, token)
    body = {"offer_id": offer["offer_id"], "key_facts_sha256": offer["key_facts_sha256"]}
    loan = api.post("/v1/me/cash_loans", body, token, idem="loan-0001-key",
                    expect=201).json()
    assert loan["principal_minor"] == amount and loan["status"] == "active"
    assert loan["offer"] == offer  # the accepted offer's figures, exactly as shown
    assert _wallet(api, token) == before + amount == loan["wallet_available_minor"]
    replay = api.post("/v1/me/cash_loans", body, token, idem="loan-0001-key",
                      expect=201).json()
    assert replay == loan and _wallet(api, token) == before + amount  # disbursed once
    twice = api.post("/v1/me/cash_loans", body, token)
    assert twice.status_code == 409 and twice.json()["field"] == "offer_id"
    accounts = {a["account_id"]: a for a in api.get("/v1/me/credit_accounts", token,
                                                    expect=200).json()["data"]}
    assert accounts[loan["loan_id"]]["kind"] == "loan"
    assert accounts[loan["loan_id"]]["principal_minor"] == amount
    # The loan draws on the line: the headroom shrank by the principal.
    left = api.post("/v1/me/cash_loans/offers", {"amount_minor": limit - amount + 1}, token)
    assert left.status_code == 409 and left.json()["available_minor"] == limit - amount
    payoff = api.get(f"/v1/me/credit_accounts/{loan['loan_id']}/payoff", token,
                     expect=200).json()
    assert payoff["payoff_minor"] == amount  # nothing accrued on the day it was taken
    _ledger_ok(api)


def test_a_cash_loan_and_line_purchases_share_one_limit(api):
    """The issue's case: a cash loan, then a line purchase, may not add up to more than the
    limit (the reverse order was already refused); an offer quoted before the loan does
    not get round it."""
    from creditpay.credit.service import set_credit_limit

    token, decision = _approved(api, "13800000011")
    limit = 300_000  # lowered by the risk team, so a purchase of the whole limit is offered
    rt = api.runtime
    rt.uow.run(lambda tx: set_credit_limit(tx, line_id=decision["line_id"],
                                           new_limit_minor=limit, reason="test"))
    admin = api.operator("admin")
    merchant = api.merchant(admin)["api_key"]["key"]
    intent = api.post("/v1/payment_intents", {"amount_minor": limit, "currency": "CNY",
                                              "order_id": "after-loan"}, merchant,
                      expect=201).json()
    quote = f"/v1/payment_intents/{intent['id']}/credit_offers"
    early = next(o for o in api.post(quote, {}, token, expect=200).json()["offers"]
                 if o["funding"] == "credit_line")  # quoted while the line was unused
    loan_offer = next(o for o in api.post("/v1/me/cash_loans/offers",
                                          {"amount_minor": 200_000}, token,
                                          expect=200).json()["offers"]
                      if o["product_code"] == "jiebei")
    api.post("/v1/me/cash_loans", {"offer_id": loan_offer["offer_id"],
                                   "key_facts_sha256": loan_offer["key_facts_sha256"]}, token,
             expect=201)
    refused = api.post(f"/v1/payment_intents/{intent['id']}/confirm", {
        "funding": "credit_line", "offer_id": early["offer_id"],
        "key_facts_sha256": early["key_facts_sha256"]}, token)
    assert refused.status_code == 409, refused.text
    # Quoted again, the line is no longer offered for the whole limit...
    again = api.post(quote, {}, token, expect=200).json()["offers"]
    assert not [o for o in again if o["funding"] == "credit_line"]
    # ...but what is left of it can still be spent, and no more.
    _pay_with_line(api, token, merchant, limit - 200_000)
    over = api.post("/v1/me/cash_loans/offers", {"amount_minor": 10_000}, token)
    assert over.status_code == 409 and over.json()["available_minor"] == 0
    _ledger_ok(api)


# ----------------------------------------------------------------------------- tenancy
def test_another_customers_ids_are_not_found(api, clock):
    admin = api.operator("admin")
    merchant = api.merchant(admin)["api_key"]["key"]
    alice, decision = _approved(api, "13800000006")
    _pay_with_line(api, alice, merchant, 12_000)
    alice = _close_day(api, clock, "13800000006")
    line_id = decision["line_id"]
    statement_id = api.get(f"/v1/me/credit_accounts/{line_id}/statements", alice,
                           expect=200).json()["data"][0]["statement_id"]
    offer_id = api.post("/v1/me/cash_loans/offers", {"amount_minor": 50_000}, alice,
                        expect=200).json()["offers"][0]["offer_id"]
    bob = _verified(api, "13800000007")
    api.fund(bob, 50_000)
    for path in (f"/v1/me/credit_accounts/{line_id}/statements",
                 f"/v1/me/statements/{statement_id}",
                 f"/v1/me/statements/{statement_id}/installment_offers",
                 f"/v1/me/credit_accounts/{line_id}/payoff",
                 f"/v1/me/cash_loans/offers/{offer_id}/key_facts"):
        assert api.get(path, bob).status_code == 404, path
    for path, body in ((f"/v1/me/statements/{statement_id}/installments",
                        {"amount_minor": 1_000, "periods": 3}),
                       (f"/v1/me/credit_accounts/{line_id}/auto_debit", {"enabled": False}),
                       ("/v1/me/credit_repayments", {"amount_minor": 1_000,
                                                      "account_id": line_id}),
                       ("/v1/me/cash_loans", {"offer_id": offer_id,
                                              "key_facts_sha256": "a" * 64})):
        response = api.post(path, body, bob)
        assert response.status_code == 404, (path, response.text)
    assert _wallet(api, bob) == 50_000
    assert api.get(f"/v1/me/statements/{statement_id}", alice,
                   expect=200).json()["converted_minor"] == 0


# ----------------------------------------------------------------------------- pure cores
HUABEI = CATALOGUE.get("huabei")
JIEBEI = CATALOGUE.get("jiebei")


@settings(max_examples=60, deadline=None)
@given(amount=st.integers(100, 5_000_000), periods=st.sampled_from([3, 6, 9, 12]),
       day=st.integers(0, 365))
def test_bill_installment_quote_adds_up(amount, periods, day):
    due = dt.date(2025, 1, 10) + dt.timedelta(days=day)
    quote = bill_installment_quote(HUABEI, periods, amount, due - dt.timedelta(days=5), due,
                                   "CNY", caps=CATALOGUE.caps("CN"))
    assert sum(r["principal_minor"] for r in quote.schedule) == amount
    assert sum(r["fee_minor"] for r in quote.schedule) == quote.total_fee_minor
    assert quote.total_repayable_minor == amount + quote.total_fee_minor
    assert quote.total_cost_minor == quote.total_fee_minor
    assert len(quote.schedule) == periods and quote.schedule[0]["total_minor"] == \
        quote.per_period_amount_minor


@settings(max_examples=40, deadline=None)
@given(amount=st.integers(10_000, 20_000_000),
       choice=st.sampled_from([(3, "equal_installment"), (12, "equal_principal"),
                               (6, "interest_only"), (30, "bullet"), (12, "bullet")]))
def test_cash_loan_key_facts_are_the_loan_schedule(amount, choice):
    periods, method = choice
    start = dt.date(2025, 3, 1)
    figures = loan_offer_figures(JIEBEI, periods, method, amount, start, "CNY",
                                 caps=CATALOGUE.caps("CN"))
    facts = key_facts_of({**figures, "offer_id": "clo_" + "0" * 32}, "creditpay",
                         catalogue=CATALOGUE)
    schedule = loan_schedule(JIEBEI, periods, method, amount, start, "CNY")
    assert facts.schedule.installments == schedule.installments
    assert facts.total_repayable_minor == figures["total_repayable_minor"] == \
        amount + figures["total_interest_minor"]
    assert sum(i["principal_minor"] for i in figures["schedule"]) == amount


def test_an_application_keeps_the_date_of_birth_in_the_vault_only(api, store):
    # The decision needs the applicant's age, not their birthday: the KYC record's date of
    # birth (encrypted in the vault) must not be copied in clear into the risk tables.
    from tests.api.test_pii_at_rest import _assert_absent, _scan_database

    token = _verified(api, "13800000077", born="1987-06-23")
    _consent(api, token, "bureau_inquiry")
    _consent(api, token, "credit_assessment")
    decision = api.post("/v1/me/credit_applications", APPLICATION, token, expect=201).json()
    with api.runtime.uow.connect() as conn:
        inputs = conn.execute(select(credit_decisions.c.inputs).where(
            credit_decisions.c.id == decision["decision_id"])).scalar_one()
        assert service.replay_decision(conn, decision["decision_id"]).matches
    assert inputs["application"]["age_years"] > 30  # what the features used
    _assert_absent(_scan_database(store, api.runtime), ("1987-06-23",),
                   "the database")


class ThinBureau(CleanBureau):
    """Two recent delinquencies and a lender in use: with a modest income and no platform
    history, grade D, which the policy refers."""

    name = "tests:thin"

    def fetch(self, customer_id: str, as_of: dt.datetime) -> BureauReport:
        return BureauReport(customer_id=customer_id, debt_minor=0, monthly_repayment_minor=0,
                            inquiries_6m=0, lenders_in_use=1, delinquencies_24m=2,
                            bureau=self.name)


MODEST = {**APPLICATION, "monthly_income_minor": 400_000,
          "declared_monthly_obligations_minor": 0}


@pytest.fixture
def referring_api(store, clock, application_model):
    yield from _api_with_model(store, clock, application_model, ThinBureau())


def _referred(api, phone: str) -> tuple[str, dict]:
    return _applied(api, phone, MODEST, "refer")


def test_a_referred_application_is_reviewed_and_the_approval_opens_the_line(referring_api):
    api = referring_api
    token, decision = _referred(api, "13800000091")
    assert decision["referred"] and decision["limit_minor"] is None  # under review
    assert decision["reasons"][0]["code"] == "THIN_FILE"
    analyst = api.operator("risk_analyst")
    queue = api.get("/v1/operator/credit_referrals", analyst, expect=200).json()["data"]
    [referral] = [r for r in queue if r["decision_id"] == decision["decision_id"]]
    assert referral["status"] == "pending" and referral["offered_limit_minor"] > 0
    # Above the policy's limit: refused naming the field, nothing changes.
    too_much = api.post(f"/v1/operator/credit_referrals/{decision['decision_id']}/resolve",
                        {"verdict": "approve",
                         "limit_minor": referral["offered_limit_minor"] + 1}, analyst,
                        expect=422).json()
    assert too_much["field"] == "limit_minor"
    # Support staff may not decide credit; the compliance officer may only read.
    support = api.operator("support")
    api.post(f"/v1/operator/credit_referrals/{decision['decision_id']}/resolve",
             {"verdict": "approve"}, support, expect=403)
    officer = api.operator("compliance_officer")
    api.get(f"/v1/operator/credit_referrals/{decision['decision_id']}", officer, expect=200)
    granted = referral["offered_limit_minor"] // 2
    resolved = api.post(f"/v1/operator/credit_referrals/{decision['decision_id']}/resolve",
                        {"verdict": "approve", "limit_minor": granted}, analyst,
                        expect=200).json()
    assert resolved["status"] == "resolved" and resolved["line_id"]
    assert resolved["limit_minor"] == granted
    assert api.get("/v1/operator/credit_referrals", analyst,
                   expect=200).json()["data"] == []
    mine = api.get("/v1/me/credit_applications", token, expect=200).json()["data"]
    assert mine[0]["outcome"] == "approve" and mine[0]["limit_minor"] == granted
    assert mine[0]["referred"] and mine[0]["reviewed_at"] and mine[0]["line_id"]
    # A second verdict on the same referral is refused.
    again = api.post(f"/v1/operator/credit_referrals/{decision['decision_id']}/resolve",
                     {"verdict": "decline", "reason_code": "REVIEW_UNVERIFIED"}, analyst,
                     expect=409).json()
    assert again["field"] == "decision_id"


@pytest.fixture
def strict_referring_api(store, clock, application_model):
    """Referrals with a four-eyes threshold of 100.00: every approval is above it."""
    yield from _api_with_model(store, clock, application_model, ThinBureau(),
                               four_eyes_threshold_minor=10_000)


def test_a_referral_approved_above_the_four_eyes_threshold_waits_for_a_second_operator(
        strict_referring_api):
    api = strict_referring_api
    token, decision = _referred(api, "13800000093")
    path = f"/v1/operator/credit_referrals/{decision['decision_id']}/resolve"
    analyst = api.operator("risk_analyst")
    # Refused as it would run (above the offer), before anything is proposed.
    offered = api.get(f"/v1/operator/credit_referrals/{decision['decision_id']}", analyst,
                      expect=200).json()["offered_limit_minor"]
    api.post(path, {"verdict": "approve", "limit_minor": offered + 1}, analyst, expect=422)
    proposal = api.post(path, {"verdict": "approve"}, analyst, expect=202).json()
    assert proposal["kind"] == "credit_referral.approve"
    assert proposal["payload"]["limit_minor"] == offered
    # Nothing granted yet: the referral is still pending and the consumer has no line.
    assert api.get(f"/v1/operator/credit_referrals/{decision['decision_id']}", analyst,
                   expect=200).json()["status"] == "pending"
    approve = f"/v1/operator/approvals/{proposal['approval_id']}/approve"
    api.post(approve, {}, analyst, expect=403)  # not by its proposer
    checker = api.operator("admin")
    done = api.post(approve, {}, checker, expect=200).json()
    assert done["status"] == "approved" and done["result"]["line_id"]
    resolved = api.get(f"/v1/operator/credit_referrals/{decision['decision_id']}", analyst,
                       expect=200).json()
    assert resolved["status"] == "resolved" and resolved["limit_minor"] == offered
    assert resolved["reviewer_id"] == proposal["proposed_by"]
    mine = api.get("/v1/me/credit_applications", token, expect=200).json()["data"]
    assert mine[0]["outcome"] == "approve" and mine[0]["line_id"] == done["result"]["line_id"]
    # A decline is never controlled: it grants nothing.
    _, other = _referred(api, "13800000094")
    api.post(f"/v1/operator/credit_referrals/{other['decision_id']}/resolve",
             {"verdict": "decline", "reason_code": "REVIEW_AFFORDABILITY"}, analyst,
             expect=200)


def test_a_declined_referral_gives_the_consumer_the_reviewer_s_reason(referring_api):
    api = referring_api
    token, decision = _referred(api, "13800000092")
    analyst = api.operator("risk_analyst")
    api.post(f"/v1/operator/credit_referrals/{decision['decision_id']}/resolve",
             {"verdict": "decline", "reason_code": "REVIEW_AFFORDABILITY"}, analyst,
             expect=200)
    mine = api.get("/v1/me/credit_applications", token, params={"lang": "zh-CN"},
                   expect=200).json()["data"]
    assert mine[0]["outcome"] == "decline" and mine[0]["line_id"] is None
    assert mine[0]["reasons"] == [{"code": "REVIEW_AFFORDABILITY",
                                   "text": "您目前的收入与负债情况暂不支持新增授信"}]
