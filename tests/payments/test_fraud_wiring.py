"""Fraud screening wired into checkout (issue #6): the Screener-backed RiskGateway decides
inside the confirm transaction, and every screening is stored."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from creditpay.compliance.tables import audit_records
from creditpay.payments.fraud import (
    FraudScreeningConfig,
    ScreeningRiskGateway,
    screening_enabled,
)
from creditpay.payments.risk import AllowAllRiskGateway
from creditpay.payments.tables import payment_intents
from creditpay.risk.fraud.rules import RuleSet
from tests.api.helpers import Api, build_app

RULES = {
    "version": "rules-test-2025.1",
    "blocklists": {"device": []},
    "rules": [
        {"name": "big_payment_step_up", "action": "challenge",
         "when": {"field": "amount_minor", "op": ">=", "value": 5_000}},
        {"name": "odd_amount_review", "action": "review",
         "when": {"field": "amount_minor", "op": "==", "value": 4_321}},
    ],
}


def _screening_api(store, clock, tmp_path=None) -> Api:  # type: ignore[no-untyped-def]
    fraud = FraudScreeningConfig(rules=RULES,
                                 state_path=tmp_path / "fraud.state" if tmp_path else None)
    app = build_app(store.url, clock, fraud_screening=True, fraud=fraud)
    return Api(TestClient(app), app)


def _merchant_key(api: Api) -> str:
    admin = api.operator("admin")
    return api.merchant(admin)["api_key"]["key"]


def _intent(api: Api, mkey: str, amount: int, order: str) -> dict:  # type: ignore[type-arg]
    return api.post("/v1/payment_intents", {"amount_minor": amount, "currency": "CNY",
                                            "order_id": order}, mkey, expect=201).json()


def _screenings(api: Api, intent_id: str) -> list[dict]:  # type: ignore[type-arg]
    with api.runtime.uow.connect() as conn:
        rows = conn.execute(select(audit_records.c.payload).where(
            audit_records.c.action == "payment.screened",
            audit_records.c.subject_id == intent_id).order_by(audit_records.c.id)).all()
    return [r.payload for r in rows]


def _risk_reasons(api: Api, intent_id: str) -> dict:  # type: ignore[type-arg]
    with api.runtime.uow.connect() as conn:
        return conn.execute(select(payment_intents.c.risk_reasons).where(
            payment_intents.c.id == intent_id)).scalar_one()


def test_blocked_device_declines_and_moves_no_money(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000001")
        api.fund(token, 10_000)
        # Block this customer's device (the platform's device id, as payments sees it) by
        # hot-swapping the rules document.
        [device] = api.get("/v1/me/devices", token, expect=200).json()["data"]
        screener = api.runtime.payments.risk.screener
        screener.swap_rules(RuleSet.from_dict(
            {**RULES, "version": "rules-test-2025.2", "blocklists": {"device": [device["id"]]}},
            screener.model.feature_names))
        intent = _intent(api, mkey, 1_000, "blocked-1")
        declined = api.post(f"/v1/payment_intents/{intent['id']}/confirm",
                            {"funding": "balance"}, token, expect=402).json()
        assert declined["type"].endswith("/payment-declined")
        assert api.get(f"/v1/payment_intents/{intent['id']}", mkey,
                       expect=200).json()["status"] == "declined"
        wallet = api.wallet(token)
        assert wallet["available_minor"] == 10_000 and wallet["balance_minor"] == 10_000
        [screening] = _screenings(api, intent["id"])
        assert screening["decision"] == "decline"
        assert screening["rules_hit"] == ["blocklist:device"]
        assert screening["versions"]["rules"] == "rules-test-2025.2"
        assert _risk_reasons(api, intent["id"])["screening"]["rules_hit"] == \
            ["blocklist:device"]
    finally:
        api.runtime.close()


def test_challenge_demands_step_up_then_pays(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000002")
        api.fund(token, 20_000)
        intent = _intent(api, mkey, 6_000, "challenge-1")  # far below the 5 000.00 step-up
        url = f"/v1/payment_intents/{intent['id']}/confirm"
        first = api.post(url, {"funding": "balance"}, token, expect=403).json()
        assert first["type"].endswith("/step-up-required")
        assert api.wallet(token)["available_minor"] == 20_000
        code = api.last_code(first["challenge_id"])
        paid = api.post(url, {"funding": "balance", "step_up_challenge_id":
                              first["challenge_id"], "step_up_code": code}, token,
                        expect=200).json()
        assert paid["status"] == "requires_capture"
        assert api.wallet(token)["available_minor"] == 14_000
        # Both screenings (the challenged attempt and the verified one) are kept.
        assert [s["decision"] for s in _screenings(api, intent["id"])] == \
            ["challenge", "challenge"]
    finally:
        api.runtime.close()


def test_stored_screening_names_the_rule_and_versions(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000003")
        api.fund(token, 10_000)
        intent = _intent(api, mkey, 4_321, "review-1")
        held = api.post(f"/v1/payment_intents/{intent['id']}/confirm",
                        {"funding": "balance"}, token, expect=200).json()
        assert held["status"] == "in_review"
        assert api.wallet(token)["available_minor"] == 10_000
        [screening] = _screenings(api, intent["id"])
        assert screening["rules_hit"] == ["odd_amount_review"]
        assert "rule:odd_amount_review" in screening["reasons"]
        assert screening["versions"]["rules"] == "rules-test-2025.1"
        assert screening["versions"]["model"] == "rules-only"
        assert screening["score"] == 0.0
        assert screening["features"]["amount_minor"] == 4_321
        stored = _risk_reasons(api, intent["id"])
        assert stored["screening"]["rules_hit"] == ["odd_amount_review"]
        assert "rules=rules-test-2025.1" in stored["version"]
    finally:
        api.runtime.close()


def test_plain_payment_is_approved_and_recorded(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000004")
        api.fund(token, 10_000)
        intent = _intent(api, mkey, 1_000, "plain-1")
        paid = api.post(f"/v1/payment_intents/{intent['id']}/confirm",
                        {"funding": "balance"}, token, expect=200).json()
        assert paid["status"] == "requires_capture" and paid["risk_outcome"] == "approve"
        [screening] = _screenings(api, intent["id"])
        assert screening["decision"] == "approve" and screening["rules_hit"] == []
    finally:
        api.runtime.close()


def test_default_is_allow_all_and_the_switch_turns_screening_on(store, clock, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CREDITPAY_FRAUD_SCREENING", raising=False)
    assert not screening_enabled()
    app = build_app(store.url, clock)
    try:
        assert isinstance(app.state.runtime.payments.risk, AllowAllRiskGateway)
    finally:
        app.state.runtime.close()
    monkeypatch.setenv("CREDITPAY_FRAUD_SCREENING", "on")
    assert screening_enabled()
    app = build_app(store.url, clock)
    try:
        assert isinstance(app.state.runtime.payments.risk, ScreeningRiskGateway)
    finally:
        app.state.runtime.close()


def test_streaming_state_is_persisted_and_restored(store, clock, tmp_path):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock, tmp_path)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000005")
        api.fund(token, 10_000)
        for n in range(2):
            intent = _intent(api, mkey, 1_000, f"state-{n}")
            api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                     token, expect=200)
        saved = api.runtime.payments.risk.screener.state_bytes()
    finally:
        api.runtime.close()  # persists the state
    state_path = tmp_path / "fraud.state"
    assert state_path.read_bytes() == saved
    restored = ScreeningRiskGateway.from_config(
        FraudScreeningConfig(rules=RULES, state_path=state_path))
    assert restored.screener.state_bytes() == saved


def test_p2p_transfer_is_screened(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        payer = api.customer("13600000006")
        api.customer("13600000007")
        api.fund(payer, 10_000)
        sent = api.post("/v1/me/wallet/transfers", {"to": "13600000007", "amount_minor": 1_000},
                        payer, expect=201).json()
        assert _screenings(api, sent["id"])[0]["decision"] == "approve"
        refused = api.post("/v1/me/wallet/transfers",
                           {"to": "13600000007", "amount_minor": 4_321}, payer,
                           expect=402).json()
        assert refused["type"].endswith("/payment-declined")
        assert api.wallet(payer)["available_minor"] == 9_000
        with api.runtime.uow.connect() as conn:
            payloads = conn.execute(select(audit_records.c.payload).where(
                audit_records.c.action == "payment.screened",
                audit_records.c.subject_type == "wallet_operation")
                .order_by(audit_records.c.id)).scalars().all()
        assert [p["rules_hit"] for p in payloads] == [[], ["odd_amount_review"]]
    finally:
        api.runtime.close()
