"""Authorisation matrix: every endpoint x every kind of caller, on both stores.

1. The declared rule of every route equals the expected table below (a new route without an
   entry, or a rule that changed, fails here).
2. Enforcement: each actor is let through exactly when the rule allows it (401/403 else).
3. Tenancy: with valid bodies, a customer never reads or acts on another customer's
   resources, a merchant key never on another merchant's: they get 404 and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute

from creditpay.api.access import Access
from tests.api.helpers import PASSWORD, Api, running_api


@pytest.fixture
def api(store, clock) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    """The app with request buckets large enough for the matrix: it sends every route as
    every actor (some 2,000 requests) from one address in seconds, and what it checks is
    who may call what, not the rate limits (tests/api/test_rate_limits.py does those). With the
    default 600-request burst a fast run met 429 where 403 or 2xx was expected."""
    with running_api(store.url, clock, ip_bucket=(100_000, 10_000.0),
                     credential_bucket=(100_000, 10_000.0)) as app:
        yield app

ROLES = ("admin", "risk_analyst", "collections_agent", "compliance_officer", "support")
C, M = "customer", "merchant"
ALL_SCOPES = {"payments:write", "payments:read", "refunds:write", "reports:read", "keys:write"}
STAFF_READ = {"admin", "risk_analyst", "support", "compliance_officer"}
RISK_READ = {"admin", "risk_analyst", "compliance_officer"}
RISK_ACT = {"admin", "risk_analyst"}
COMPLAINT_STAFF = {"compliance_officer", "support", "admin"}

# (method, path) -> (customers allowed, merchant scopes or None, operator roles); None = public
EXPECTED: dict[tuple[str, str], tuple[bool, set[str] | None, set[str]] | None] = {
    ("POST", "/v1/customers"): None,
    ("POST", "/v1/customers/verify"): None,
    ("POST", "/v1/auth/login"): None,
    ("POST", "/v1/auth/login/verify"): None,
    ("POST", "/v1/operator/auth/login"): None,
    ("POST", "/v1/auth/refresh"): None,
    ("POST", "/v1/rails/card/callbacks"): None,
    ("GET", "/v1/health"): None,
    ("POST", "/v1/auth/logout"): (True, None, set()),
    ("GET", "/v1/me"): (True, None, set()),
    ("POST", "/v1/me/kyc"): (True, None, set()),
    ("GET", "/v1/me/devices"): (True, None, set()),
    ("POST", "/v1/me/devices/{device_id}/untrust"): (True, None, set()),
    ("POST", "/v1/me/cards"): (True, None, set()),
    ("GET", "/v1/me/cards"): (True, None, set()),
    ("POST", "/v1/me/cards/{card_id}/remove"): (True, None, set()),
    ("GET", "/v1/me/wallet"): (True, None, set()),
    ("GET", "/v1/me/wallet/history"): (True, None, set()),
    ("POST", "/v1/me/wallet/top-ups"): (True, None, set()),
    ("POST", "/v1/me/wallet/withdrawals"): (True, None, set()),
    ("POST", "/v1/me/wallet/transfers"): (True, None, set()),
    ("POST", "/v1/me/payment-codes"): (True, None, set()),
    ("GET", "/v1/me/consent_texts/{purpose}"): (True, None, set()),
    ("GET", "/v1/me/consents"): (True, None, set()),
    ("POST", "/v1/me/consents"): (True, None, set()),
    ("POST", "/v1/me/consents/{consent_id}/revoke"): (True, None, set()),
    ("POST", "/v1/me/complaints"): (True, None, set()),
    ("GET", "/v1/me/complaints"): (True, None, set()),
    ("POST", "/v1/me/fraud_reports"): (True, None, set()),
    ("POST", "/v1/me/credit_line/unfreeze"): (True, None, set()),
    ("GET", "/v1/me/credit_accounts"): (True, None, set()),
    ("GET", "/v1/me/credit_line"): (True, None, set()),
    ("POST", "/v1/me/credit_accounts/{account_id}/withdraw"): (True, None, set()),
    ("GET", "/v1/me/credit_score"): (True, None, set()),
    ("GET", "/v1/me/deposit_waiver"): (True, None, set()),
    ("POST", "/v1/me/assistant/messages"): (True, None, set()),
    ("POST", "/v1/payment_intents"): (False, {"payments:write"}, set()),
    ("GET", "/v1/payment_intents"): (True, {"payments:read"}, set()),
    ("GET", "/v1/payment_intents/{intent_id}"): (True, {"payments:read"}, STAFF_READ),
    ("POST", "/v1/payment_intents/{intent_id}/credit_offers"): (True, None, set()),
    ("GET", "/v1/payment_intents/{intent_id}/credit_offers/{offer_id}/key_facts"): (
        True, None, set()),
    ("POST", "/v1/payment_intents/{intent_id}/confirm"): (True, None, set()),
    ("POST", "/v1/payment_intents/{intent_id}/fx_quote"): (True, None, set()),
    ("POST", "/v1/payment_intents/{intent_id}/capture"): (False, {"payments:write"}, set()),
    ("POST", "/v1/payment_intents/{intent_id}/cancel"): (False, {"payments:write"}, set()),
    ("POST", "/v1/payment_intents/{intent_id}/refunds"): (False, {"refunds:write"}, set()),
    ("POST", "/v1/payment_intents/{intent_id}/collect"): (False, {"payments:write"}, set()),
    ("POST", "/v1/qr/pay"): (True, None, set()),
    ("GET", "/v1/settlements"): (False, {"reports:read"}, set()),
    ("GET", "/v1/settlements/{settlement_id}"): (False, {"reports:read"},
                                                 {"admin", "compliance_officer"}),
    ("GET", "/v1/merchant"): (False, set(), set()),
    ("POST", "/v1/merchant/webhook"): (False, {"keys:write"}, set()),
    ("GET", "/v1/merchant/api_keys"): (False, {"keys:write"}, set()),
    ("POST", "/v1/merchant/api_keys"): (False, {"keys:write"}, set()),
    ("POST", "/v1/merchant/api_keys/{key_id}/revoke"): (False, {"keys:write"}, set()),
    ("GET", "/v1/merchant/webhook_deliveries"): (False, {"reports:read", "keys:write"}, set()),
    ("POST", "/v1/merchant/webhook_deliveries/{delivery_id}/resend"): (
        False, {"keys:write"}, set()),
    ("GET", "/v1/merchant/disputes"): (False, {"reports:read"}, set()),
    # Disputes (issue #20).
    ("POST", "/v1/me/disputes"): (True, None, set()),
    ("GET", "/v1/me/disputes"): (True, None, set()),
    ("GET", "/v1/me/disputes/{dispute_id}"): (True, None, set()),
    ("POST", "/v1/me/disputes/{dispute_id}/withdraw"): (True, None, set()),
    ("GET", "/v1/merchant/disputes/{dispute_id}"): (False, {"reports:read"}, set()),
    ("POST", "/v1/merchant/disputes/{dispute_id}/response"): (False, {"refunds:write"}, set()),
    ("GET", "/v1/operator/disputes"): (False, None, STAFF_READ),
    ("GET", "/v1/operator/dispute_policy"): (False, None, STAFF_READ),
    ("GET", "/v1/operator/disputes/{dispute_id}"): (False, None, STAFF_READ),
    ("POST", "/v1/operator/disputes/{dispute_id}/decide"): (False, None, RISK_ACT),
    ("GET", "/v1/merchant/fees"): (False, {"reports:read"}, set()),
    ("GET", "/v1/merchant/payments"): (False, {"payments:read"}, set()),
    ("GET", "/v1/merchant/payments/{intent_id}/events"): (False, {"payments:read"}, set()),
    ("GET", "/v1/merchant/settlements/{settlement_id}/reconciliation"): (
        False, {"reports:read"}, set()),
    ("POST", "/v1/operator/merchants"): (False, None, {"admin"}),
    ("GET", "/v1/operator/customers/{customer_id}"): (
        False, None, {"admin", "support", "compliance_officer", "collections_agent",
                      "risk_analyst"}),
    ("POST", "/v1/operator/customers/{customer_id}/personal_data"): (
        False, None, {"compliance_officer"}),
    ("POST", "/v1/operator/notes/{note_id}/read"): (False, None, RISK_READ),
    ("POST", "/v1/operator/customers/{customer_id}/credit_line"): (
        False, None, {"admin", "risk_analyst"}),
    ("POST", "/v1/operator/payment_intents/{intent_id}/review"): (False, None,
                                                                  {"risk_analyst"}),
    ("POST", "/v1/operator/settlements/run"): (False, None, {"admin"}),
    ("POST", "/v1/operator/jobs/expire"): (False, None, {"admin"}),
    ("POST", "/v1/operator/jobs/card_rail"): (False, None, {"admin"}),
    ("POST", "/v1/operator/jobs/webhooks"): (False, None, {"admin"}),
    ("POST", "/v1/operator/complaints/{complaint_id}/acknowledge"): (False, None,
                                                                     COMPLAINT_STAFF),
    ("POST", "/v1/operator/complaints/{complaint_id}/resolve"): (False, None,
                                                                 COMPLAINT_STAFF),
    ("GET", "/v1/operator/complaints/{complaint_id}/conversation"): (False, None,
                                                                     COMPLAINT_STAFF),
    # Fraud case queue (issue #6): analysts and the queue's owner (admin); verdicts by
    # analysts only (a verdict approves or declines a held payment).
    ("GET", "/v1/operator/fraud_cases"): (False, None, {"admin", "risk_analyst"}),
    ("GET", "/v1/operator/fraud_cases/report"): (False, None, {"admin", "risk_analyst"}),
    ("POST", "/v1/operator/fraud_cases/{case_id}/assign"): (False, None,
                                                            {"admin", "risk_analyst"}),
    ("POST", "/v1/operator/fraud_cases/{case_id}/resolve"): (False, None, {"risk_analyst"}),
    ("POST", "/v1/operator/fraud_labels/chargebacks"): (False, None,
                                                        {"admin", "risk_analyst"}),
    # Stored screenings and versioned fraud rules (issue #6): compliance reads them too;
    # rule sets are loaded and made live by analysts and admin.
    ("GET", "/v1/operator/fraud_screenings/{subject_id}"): (
        False, None, {"admin", "risk_analyst", "compliance_officer"}),
    ("GET", "/v1/operator/fraud_rules"): (False, None,
                                          {"admin", "risk_analyst", "compliance_officer"}),
    ("POST", "/v1/operator/fraud_rules"): (False, None, {"admin", "risk_analyst"}),
    ("POST", "/v1/operator/fraud_rules/{version}/activate"): (False, None,
                                                              {"admin", "risk_analyst"}),
    # Portfolio dashboard (issue #16): read by analysts, admins and compliance.
    ("GET", "/v1/operator/dashboard/{view}"): (
        False, None, {"admin", "risk_analyst", "compliance_officer"}),
    # Early-warning alerts (issue #6): analysts and admin act; compliance reads.
    ("GET", "/v1/operator/alerts"): (False, None,
                                     {"admin", "risk_analyst", "compliance_officer"}),
    ("GET", "/v1/operator/alerts/{alert_id}"): (
        False, None, {"admin", "risk_analyst", "compliance_officer"}),
    ("POST", "/v1/operator/alerts/{alert_id}/acknowledge"): (False, None,
                                                             {"admin", "risk_analyst"}),
    ("POST", "/v1/operator/alerts/{alert_id}/dismiss"): (False, None,
                                                         {"admin", "risk_analyst"}),
    ("POST", "/v1/operator/alerts/{alert_id}/playbook"): (False, None,
                                                          {"admin", "risk_analyst"}),
    ("GET", "/v1/operator/alerts/{alert_id}/playbook/preview"): (False, None,
                                                                 {"admin", "risk_analyst"}),
    ("GET", "/v1/operator/monitors"): (False, None,
                                       {"admin", "risk_analyst", "compliance_officer"}),
    # Four-eyes proposals (issue #16): checkers decide, compliance reads too.
    ("GET", "/v1/operator/approvals"): (False, None, RISK_READ),
    ("GET", "/v1/operator/approvals/{approval_id}"): (False, None, RISK_READ),
    ("POST", "/v1/operator/approvals/{approval_id}/approve"): (False, None, RISK_ACT),
    ("POST", "/v1/operator/approvals/{approval_id}/reject"): (False, None, RISK_ACT),
    ("POST", "/v1/operator/credit_lines/{line_id}/limit"): (False, None, RISK_ACT),
    ("POST", "/v1/operator/credit_accounts/{account_id}/write_off/reverse"): (
        False, None, RISK_ACT),
    ("POST", "/v1/operator/models/{name}/promote"): (False, None, RISK_ACT),
    # Product and caps changes (four-eyes) and what is in force.
    ("POST", "/v1/operator/products"): (False, None, RISK_ACT),
    ("GET", "/v1/operator/products"): (False, None, RISK_READ),
    ("POST", "/v1/operator/caps"): (False, None, RISK_ACT),
    ("GET", "/v1/operator/caps"): (False, None, RISK_READ),
    # Consumer credit journey (issues #3, #4, #5): the customer only, on their own resources.
    ("POST", "/v1/me/credit_applications"): (True, None, set()),
    ("GET", "/v1/me/credit_applications"): (True, None, set()),
    ("GET", "/v1/me/credit_accounts/{account_id}/statements"): (True, None, set()),
    ("GET", "/v1/me/statements/{statement_id}"): (True, None, set()),
    ("GET", "/v1/me/statements/{statement_id}/installment_offers"): (True, None, set()),
    ("POST", "/v1/me/statements/{statement_id}/installments"): (True, None, set()),
    ("POST", "/v1/me/credit_repayments"): (True, None, set()),
    ("GET", "/v1/me/credit_accounts/{account_id}/payoff"): (True, None, set()),
    ("GET", "/v1/me/credit_accounts/{account_id}/installments"): (True, None, set()),
    ("POST", "/v1/me/credit_accounts/{account_id}/auto_debit"): (True, None, set()),
    ("POST", "/v1/me/cash_loans/offers"): (True, None, set()),
    ("GET", "/v1/me/cash_loans/offers/{offer_id}/key_facts"): (True, None, set()),
    ("POST", "/v1/me/cash_loans"): (True, None, set()),
    ("GET", "/v1/operator/credit_referrals"): (False, None, RISK_READ),
    ("GET", "/v1/operator/credit_referrals/{decision_id}"): (False, None, RISK_READ),
    ("POST", "/v1/operator/credit_referrals/{decision_id}/resolve"): (False, None, RISK_ACT),
    # Partner lenders (issue #17): the partner API is for partner keys only (PARTNER below);
    # staff onboard partners, give keys, set arrangements; compliance reads.
    ("GET", "/v1/partner/loans"): (False, None, set()),
    ("GET", "/v1/partner/cash_flows"): (False, None, set()),
    ("GET", "/v1/partner/settlements"): (False, None, set()),
    ("GET", "/v1/partner/settlements/{settlement_id}/lines"): (False, None, set()),
    ("GET", "/v1/operator/partners"): (False, None, RISK_READ),
    ("GET", "/v1/operator/partners/reconciliation"): (False, None, RISK_READ),
    ("POST", "/v1/operator/partners"): (False, None, RISK_ACT),
    ("POST", "/v1/operator/partners/{partner_id}/keys"): (False, None, RISK_ACT),
    ("POST", "/v1/operator/products/{code}/funding"): (False, None, RISK_ACT),
    # Hardship (issue #20): the consumer's own accounts; collections works the queue.
    ("GET", "/v1/me/credit_accounts/{account_id}/hardship_options"): (True, None, set()),
    ("GET", "/v1/me/credit_accounts/{account_id}/hardship_options/{option_id}/key_facts"):
        (True, None, set()),
    ("POST", "/v1/me/hardship_requests"): (True, None, set()),
    ("GET", "/v1/me/hardship_requests"): (True, None, set()),
    ("GET", "/v1/operator/hardship_requests"):
        (False, None, {"admin", "collections_agent", "compliance_officer", "support"}),
    ("POST", "/v1/operator/hardship_requests/{request_id}/resolve"):
        (False, None, {"admin", "collections_agent"}),
    # FX (issue #21): a consumer's quote; risk and compliance read the configuration and
    # the daily position.
    ("POST", "/v1/fx/quotes"): (True, None, set()),
    ("GET", "/v1/operator/fx/config"): (False, None, RISK_READ),
    ("GET", "/v1/operator/fx/position"): (False, None, RISK_READ),
}
# The routes a partner lender's key reaches, with the scopes each accepts; every other route
# refuses a partner key (403).
PARTNER: dict[tuple[str, str], set[str]] = {
    ("GET", "/v1/partner/loans"): {"loans:read"},
    ("GET", "/v1/partner/cash_flows"): {"cash_flows:read"},
    ("GET", "/v1/partner/settlements"): {"settlements:read"},
    ("GET", "/v1/partner/settlements/{settlement_id}/lines"): {"settlements:read"},
}


def _rule(route: APIRoute) -> Access | None:
    for dependency in route.dependant.dependencies:
        rule = getattr(dependency.call, "access_rule", None)
        if rule is not None:
            return rule
    return None


def _routes(app):
    """Every JSON route the app serves (under /v1), found from the app itself: FastAPI keeps
    an included router's routes on that router (``original_router``), not in app.routes. A
    router added to the app is covered without being listed here."""
    pending, found = list(app.routes), []
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            if route.path.startswith("/v1/"):
                found.append(route)
        elif hasattr(route, "original_router"):
            pending.extend(route.original_router.routes)
    assert len(found) > 80, len(found)  # the walk found the routers
    for route in sorted(found, key=lambda r: (r.path, sorted(r.methods))):
        for method in sorted(route.methods):
            yield method, route.path, route


def test_declared_rules_match_the_expected_table(api):
    seen = set()
    for method, path, route in _routes(api.app):
        seen.add((method, path))
        assert (method, path) in EXPECTED, f"{method} {path} has no expected access rule"
        expected = EXPECTED[(method, path)]
        rule = _rule(route)
        if expected is None:
            assert rule is None, f"{method} {path} should be public"
            continue
        assert rule is not None, f"{method} {path} has no access rule"
        customer, scopes, roles = expected
        assert rule.customer == customer, (method, path)
        assert (None if rule.merchant_scopes is None else set(rule.merchant_scopes)) == scopes, \
            (method, path)
        assert set(rule.roles) == roles, (method, path)
        assert (None if rule.partner_scopes is None else set(rule.partner_scopes)) == \
            PARTNER.get((method, path)), (method, path)
    assert seen == set(EXPECTED)


def _world(api):
    """Two customers, two merchants, operators of every role, and resources of A / M1."""
    admin = api.operator("admin")
    m1 = api.merchant(admin, name="M1")
    m2 = api.merchant(admin, name="M2")
    m1_key, m2_key = m1["api_key"]["key"], m2["api_key"]["key"]
    m1_read = api.post("/v1/merchant/api_keys", {"scopes": ["payments:read"]}, m1_key,
                       expect=201).json()["key"]
    alice = api.customer("13900000001", device="alice-phone")
    bob = api.customer("13900000002", device="bob-phone")
    api.fund(alice, 100_000)
    card = api.get("/v1/me/cards", alice).json()["data"][0]["id"]
    # A second device (login started, not verified): untrusting it ends no live session.
    step_up = api.post("/v1/auth/login", {"identifier": "13900000001", "password": PASSWORD,
                                          "device_id": "alice-tablet"}, expect=200).json()
    assert step_up["status"] == "step_up_required"
    device = [d["id"] for d in api.get("/v1/me/devices", alice).json()["data"]
              if not d["trusted"]][0]
    paid = api.post("/v1/payment_intents", {"amount_minor": 1_000, "currency": "CNY",
                                            "order_id": "paid"}, m1_key, expect=201).json()
    api.post(f"/v1/payment_intents/{paid['id']}/confirm", {"funding": "balance"}, alice,
             expect=200)
    held = api.post("/v1/payment_intents", {"amount_minor": 1_000, "currency": "CNY",
                                            "order_id": "held"}, m1_key, expect=201).json()
    api.post(f"/v1/payment_intents/{held['id']}/confirm", {"funding": "balance"}, alice,
             expect=200)
    api.post(f"/v1/payment_intents/{paid['id']}/capture", {}, m1_key, expect=200)
    customer_id = api.get("/v1/me", alice).json()["id"]
    # Consumer-rights resources of A: a consent, a complaint and a credit account (the line).
    text = api.get("/v1/me/consent_texts/marketing", alice, params={"language": "en"},
                   expect=200).json()
    consent = api.post("/v1/me/consents", {
        "purpose": "marketing", "text_version": text["text_version"], "language": "en",
        "text_sha256": text["text_sha256"]}, alice, expect=201).json()
    complaint = api.post("/v1/me/complaints", {
        "category": "service_quality", "subject_type": "payment_intent",
        "subject_id": paid["id"]}, alice, expect=201).json()
    api.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": "11010519491231002X",
                            "date_of_birth": "1949-12-31"}, alice, expect=200)
    line = api.post(f"/v1/operator/customers/{customer_id}/credit_line",
                    {"limit_minor": 100_000, "product_code": "huabei"}, admin,
                    expect=201).json()
    partner = api.post("/v1/operator/partners", {
        "name": "Matrix Bank", "licence_type": "bank", "licence_number": "L-1",
        "currency": "CNY", "terms": {"funding_rate_bps": 600, "service_fee_bps": 400,
                                     "exposure_cap_minor": 10_000_000,
                                     "per_borrower_cap_minor": 1_000_000}},
        admin, expect=201).json()["partner_id"]
    partner_key = api.post(f"/v1/operator/partners/{partner}/keys", {}, admin,
                           expect=201).json()["key"]
    partner_loans = api.post(f"/v1/operator/partners/{partner}/keys",
                             {"scopes": ["loans:read"]}, admin, expect=201).json()["key"]
    actors = {"anonymous": None, "customer": alice, "merchant": m1_key,
              "merchant_read_only": m1_read, "partner": partner_key,
              "partner_loans_only": partner_loans}
    for role in ROLES:
        actors[role] = admin if role == "admin" else api.operator(role)
    ids = {"intent_id": held["id"], "paid_intent_id": paid["id"], "card_id": card,
           "device_id": device, "customer_id": customer_id,
           "key_id": m1["api_key"]["id"], "settlement_id": "set_missing",
           "case_id": "fcase_missing", "purpose": "marketing", "consent_id": consent["id"],
           "complaint_id": complaint["id"], "account_id": line["line_id"],
           "line_id": line["line_id"], "name": "application",
           "offer_id": "off_missing", "subject_id": held["id"],
           "version": "rules-missing", "alert_id": "ewa_missing", "decision_id": "dec_missing",
           "statement_id": "stmt_missing", "note_id": "note_missing",
           "approval_id": "apv_missing", "delivery_id": "evt_missing",
           "partner_id": partner, "code": "jiebei",
           "option_id": "hs-" + "0" * 24, "request_id": "hr_missing",
           "dispute_id": "dp_missing"}
    return actors, ids, {"bob": bob, "m2": m2_key, "alice": alice, "m1": m1_key}


def _allowed(expected, actor: str, method: str = "", path: str = "") -> bool:
    if expected is None:
        return True
    customer, scopes, roles = expected
    if actor == "anonymous":
        return False
    if actor == "partner":
        return (method, path) in PARTNER
    if actor == "partner_loans_only":
        return "loans:read" in PARTNER.get((method, path), set())
    if actor == "customer":
        return customer
    if actor == "merchant":
        return scopes is not None
    if actor == "merchant_read_only":
        return scopes is not None and (not scopes or "payments:read" in scopes)
    return actor in roles


def test_every_endpoint_against_every_actor(api):
    actors, ids, others = _world(api)
    # A key of its own for the revoke endpoint, so the main key keeps working.
    ids["view"] = "buckets"
    ids["key_id"] = api.post("/v1/merchant/api_keys", {"scopes": ["reports:read"]},
                             others["m1"], expect=201).json()["id"]
    ending = {"/v1/auth/logout", "/v1/me/devices/{device_id}/untrust"}  # end sessions: last
    routes = sorted(_routes(api.app), key=lambda r: (r[1] in ending, r[1] == "/v1/auth/logout"))
    checked = 0
    for method, path, _route in routes:
        expected = EXPECTED[(method, path)]
        if expected is None:
            continue
        url = path.format(**ids)
        for actor, token in actors.items():
            if method == "GET":
                response = api.get(url, token)
            else:
                response = api.post(url, {}, token)
            denied = response.status_code == 401 or (
                response.status_code == 403 and response.json()["type"].endswith("/forbidden"))
            assert denied != _allowed(expected, actor, method, path), (
                method, path, actor, response.status_code, response.text[:200])
            checked += 1
    assert checked > 300


def test_no_cross_tenant_access(api):
    _, ids, others = _world(api)
    bob, m2 = others["bob"], others["m2"]
    intent, paid = ids["intent_id"], ids["paid_intent_id"]
    # Another customer: reads and actions on A's resources are 404, with valid bodies.
    for url in (f"/v1/payment_intents/{intent}", f"/v1/payment_intents/{paid}"):
        assert api.get(url, bob).status_code == 404
    assert api.post(f"/v1/payment_intents/{intent}/confirm", {"funding": "balance"},
                    bob).status_code == 404
    assert api.post(f"/v1/payment_intents/{intent}/credit_offers", {}, bob).status_code == 404
    assert api.get(f"/v1/payment_intents/{intent}/credit_offers/{ids['offer_id']}/key_facts",
                   bob).status_code == 404
    assert api.post(f"/v1/me/cards/{ids['card_id']}/remove", {}, bob).status_code == 404
    assert api.post(f"/v1/me/devices/{ids['device_id']}/untrust", {}, bob).status_code == 404
    assert api.post("/v1/me/wallet/top-ups", {"card_id": ids["card_id"],
                                              "amount_minor": 100}, bob).status_code == 404
    assert api.post("/v1/me/wallet/withdrawals", {"card_id": ids["card_id"],
                                                  "amount_minor": 100}, bob).status_code == 404
    assert api.post("/v1/me/payment-codes", {"funding": "card", "card_id": ids["card_id"]},
                    bob).status_code == 404
    assert api.get("/v1/payment_intents", bob).json()["data"] == []
    assert api.get("/v1/me/wallet/history", bob).json()["data"] == []
    assert api.get("/v1/me/consents", bob).json()["data"] == []
    assert api.get("/v1/me/complaints", bob).json()["data"] == []
    assert api.post(f"/v1/me/consents/{ids['consent_id']}/revoke", {}, bob).status_code == 404
    assert api.post(f"/v1/me/credit_accounts/{ids['account_id']}/withdraw", {},
                    bob).status_code == 404
    for path in ("statements", "payoff", "installments"):  # consumer credit: A's, not B's
        assert api.get(f"/v1/me/credit_accounts/{ids['account_id']}/{path}",
                       bob).status_code == 404
    assert api.post(f"/v1/me/credit_accounts/{ids['account_id']}/auto_debit",
                    {"enabled": False}, bob).status_code == 404
    hardship = f"/v1/me/credit_accounts/{ids['account_id']}/hardship_options"
    assert api.get(hardship, bob, params={"reason": "job_loss"}).status_code == 404
    assert api.get(f"{hardship}/{ids['option_id']}/key_facts", bob).status_code == 404
    assert api.post("/v1/me/hardship_requests", {
        "account_id": ids["account_id"], "reason": "job_loss", "option_id": ids["option_id"],
        "key_facts_hash": "0" * 64}, bob).status_code == 404
    # Another merchant: nothing of M1's.
    assert api.get(f"/v1/payment_intents/{intent}", m2).status_code == 404
    for action, body in (("capture", {}), ("cancel", {}), ("refunds", {"amount_minor": 1}),
                         ("collect", {"payment_code": "v1.e30.AAAA"})):
        target = paid if action == "refunds" else intent
        status = api.post(f"/v1/payment_intents/{target}/{action}", body, m2).status_code
        assert status in (401, 402, 404), (action, status)
    assert api.post(f"/v1/merchant/api_keys/{ids['key_id']}/revoke", {}, m2).status_code == 404
    assert api.get("/v1/payment_intents", m2).json()["data"] == []
    # Nothing changed for A and M1.
    alice, m1 = others["alice"], others["m1"]
    assert api.get(f"/v1/payment_intents/{intent}", m1).json()["status"] == "requires_capture"
    assert api.get(f"/v1/payment_intents/{paid}", m1).json()["refunded_minor"] == 0
    assert len(api.get("/v1/me/cards", alice).json()["data"]) == 1
    assert api.get("/v1/merchant/api_keys", m1).json()["data"][0]["revoked_at"] is None
    assert sorted(d["trusted"] for d in api.get("/v1/me/devices", alice).json()["data"]) == [
        False, True]
    assert [c["granted"] for c in api.get("/v1/me/consents", alice).json()["data"]] == [True]
    assert [c["id"] for c in api.get("/v1/me/complaints", alice).json()["data"]] == [
        ids["complaint_id"]]


def test_revoked_key_and_ended_session_are_refused(api):
    admin = api.operator("admin")
    m = api.merchant(admin)
    key = m["api_key"]
    assert api.get("/v1/merchant", key["key"]).status_code == 200
    api.post(f"/v1/merchant/api_keys/{key['id']}/revoke", {}, key["key"], expect=200)
    assert api.get("/v1/merchant", key["key"]).status_code == 401
    token = api.customer("13900000009")
    api.post("/v1/auth/logout", {}, token, expect=200)
    assert api.get("/v1/me", token).status_code == 401
    assert api.get("/v1/me", "cpk0000_" + "x" * 43).status_code == 401
    assert api.get("/v1/me", token[:-2] + "AA").status_code == 401
