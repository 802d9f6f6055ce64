"""Fraud screening wired into checkout (issue #6): the Screener-backed RiskGateway decides
inside the confirm transaction, and every screening is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from creditpay.api.app import create_app
from creditpay.config import Settings
from creditpay.payments.fraud import FraudScreeningConfig, ScreeningRiskGateway
from creditpay.payments.risk import AllowAllRiskGateway, PaymentEvent
from creditpay.payments.tables import payment_intents
from creditpay.platform.tables import audit_records
from creditpay.risk.fraud import records
from creditpay.risk.fraud.entity_state import KIND_CODES, MemoryEntityStore
from creditpay.risk.fraud.features import stable_id_hash
from creditpay.risk.fraud.rules import RuleSet
from creditpay.risk.fraud.tables import fraud_cases, fraud_entity_state
from tests.api.helpers import Api, api_config, build_app

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


def _screening_api(store, clock) -> Api:  # type: ignore[no-untyped-def]
    fraud = FraudScreeningConfig(rules=RULES)
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


def test_default_is_screening_with_the_shipped_rules_and_the_switch_turns_it_off(store, clock, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CREDITPAY_FRAUD_SCREENING", raising=False)
    monkeypatch.delenv("CREDITPAY_FRAUD_RULES", raising=False)
    assert Settings.from_env(store.url).fraud_screening
    app = create_app(Settings.from_env(store.url), clock, config=api_config())
    try:
        risk = app.state.runtime.payments.risk
        assert isinstance(risk, ScreeningRiskGateway)
        assert risk.screener.rulebook.current.version == "creditpay-default-rules-2026.1"
    finally:
        app.state.runtime.close()
    monkeypatch.setenv("CREDITPAY_FRAUD_SCREENING", "false")
    assert not Settings.from_env(store.url).fraud_screening
    app = create_app(Settings.from_env(store.url), clock, config=api_config())
    try:
        assert isinstance(app.state.runtime.payments.risk, AllowAllRiskGateway)
    finally:
        app.state.runtime.close()


@pytest.mark.parametrize("typo", ["of", "enabled", "2", "onn"])
def test_a_mistyped_switch_is_an_error_not_screening_off(typo):  # type: ignore[no-untyped-def]
    """A safeguard's switch that does not parse stops the process (naming the variable)
    rather than leaving payments unscreened."""
    with pytest.raises(ValueError, match="CREDITPAY_FRAUD_SCREENING"):
        Settings.from_env("sqlite://", environ={"CREDITPAY_FRAUD_SCREENING": typo})


def _state_table(api: Api) -> dict:  # type: ignore[type-arg]
    with api.runtime.uow.connect() as conn:
        rows = conn.execute(select(fraud_entity_state)).all()
    return {(r.features_version, r.entity_hash, r.kind): (r.state, r.version) for r in rows}


def test_streaming_state_is_shared_by_every_worker(store, clock):  # type: ignore[no-untyped-def]
    """The state is in the database: another worker's gateway on the same database (or
    this one after a restart) screens with the features of the first's payments."""
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000005")
        api.fund(token, 10_000)
        for n in range(2):
            clock.advance(seconds=60)
            intent = _intent(api, mkey, 1_000, f"state-{n}")
            api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                     token, expect=200)
        with api.runtime.uow.connect() as conn:
            [first] = records.screenings_for(conn, intent["id"])
        before = _state_table(api)
        other = ScreeningRiskGateway.from_config(FraudScreeningConfig(rules=RULES))
        clock.advance(seconds=60)
        decision = api.runtime.uow.run(lambda tx: other.screen_payment(tx, PaymentEvent(
            intent_id="pi_other_worker", customer_id=first["customer_id"],
            merchant_id=first["merchant_id"], merchant_mcc="5411", amount_minor=1_000,
            currency="CNY", funding="balance", scenario="online",
            device_id=first["device_id"], occurred_at=tx.now)))
        assert decision.details["features"]["customer_count_24h"] == 3
        assert decision.details["features"]["seconds_since_last_payment"] == 60
        after = _state_table(api)
        assert set(after) == set(before)
        assert all(after[key][1] == before[key][1] + 1 for key in before)  # one write each
    finally:
        api.runtime.close()


def _held_case(api: Api, subject_type: str, subject_id: str) -> dict:  # type: ignore[type-arg]
    with api.runtime.uow.connect() as conn:
        row = conn.execute(select(fraud_cases).where(
            fraud_cases.c.subject_type == subject_type,
            fraud_cases.c.subject_id == subject_id)).one()
    return dict(row._mapping)


def test_p2p_challenge_demands_step_up_then_sends(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        payer = api.customer("13600000006")
        api.customer("13600000007")
        api.fund(payer, 10_000)
        sent = api.post("/v1/me/wallet/transfers", {"to": "13600000007", "amount_minor": 1_000},
                        payer, expect=201).json()
        assert sent["status"] == "succeeded"
        assert _screenings(api, sent["id"])[0]["decision"] == "approve"
        body = {"to": "13600000007", "amount_minor": 6_000}  # the step-up rule
        first = api.post("/v1/me/wallet/transfers", body, payer, expect=403).json()
        assert first["type"].endswith("/step-up-required")
        assert api.wallet(payer)["available_minor"] == 9_000  # nothing moved
        wrong = api.post("/v1/me/wallet/transfers", {**body, "step_up_challenge_id":
                                                     first["challenge_id"],
                                                     "step_up_code": "000000"}, payer)
        code = api.last_code(first["challenge_id"])
        if code != "000000":
            assert wrong.status_code == 401
        done = api.post("/v1/me/wallet/transfers", {
            **body, "step_up_challenge_id": first["challenge_id"], "step_up_code": code},
            payer, expect=201).json()
        assert done["status"] == "succeeded"
        assert api.wallet(payer)["available_minor"] == 3_000
        # A used code does not unlock another transfer.
        api.post("/v1/me/wallet/transfers", {
            **body, "step_up_challenge_id": first["challenge_id"], "step_up_code": code},
            payer, expect=401)
    finally:
        api.runtime.close()


def test_p2p_review_holds_the_transfer_until_the_case_verdict(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        payer = api.customer("13600000008")
        payee = api.customer("13600000009")
        api.fund(payer, 10_000)
        analyst = api.operator("risk_analyst")
        payer_balance, payee_balance = 10_000, 0
        for verdict in ("legitimate", "fraud"):
            held = api.post("/v1/me/wallet/transfers",
                            {"to": "13600000009", "amount_minor": 4_321}, payer,
                            expect=201).json()
            assert held["status"] == "pending" and held["completed_at"] is None
            # Reserved on the payer's side, incoming (not spendable) on the payee's.
            assert api.wallet(payer)["available_minor"] == payer_balance - 4_321
            assert api.wallet(payer)["balance_minor"] == payer_balance
            assert api.wallet(payee)["available_minor"] == payee_balance
            assert api.wallet(payee)["incoming_pending_minor"] == 4_321
            case = _held_case(api, "wallet_operation", held["id"])
            assert case["status"] == "open" and case["amount_minor"] == 4_321
            resolved = api.post(f"/v1/operator/fraud_cases/{case['id']}/resolve",
                                {"verdict": verdict}, analyst, expect=200).json()
            legitimate = verdict == "legitimate"
            assert resolved["payment_action"] == ("approved" if legitimate else "declined")
            history = api.get("/v1/me/wallet/history", payer, expect=200).json()["data"]
            op = next(o for o in history if o["id"] == held["id"])
            assert op["status"] == ("succeeded" if legitimate else "failed")
            if legitimate:
                payer_balance, payee_balance = payer_balance - 4_321, payee_balance + 4_321
            for token, balance in ((payer, payer_balance), (payee, payee_balance)):
                wallet = api.wallet(token)
                assert wallet["balance_minor"] == wallet["available_minor"] == balance
            # A verdict is final: the transfer cannot be reviewed twice.
            api.post(f"/v1/operator/fraud_cases/{case['id']}/resolve", {"verdict": verdict},
                     analyst, expect=409)
        assert payee_balance == 4_321  # released once, voided once
    finally:
        api.runtime.close()


def test_every_screening_is_stored_and_read_by_staff(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000010")
        api.fund(token, 20_000)
        intent = _intent(api, mkey, 6_000, "stored-1")
        url = f"/v1/payment_intents/{intent['id']}/confirm"
        first = api.post(url, {"funding": "balance"}, token, expect=403).json()
        api.post(url, {"funding": "balance", "step_up_challenge_id": first["challenge_id"],
                       "step_up_code": api.last_code(first["challenge_id"])}, token,
                 expect=200)
        for role in ("risk_analyst", "admin", "compliance_officer"):
            data = api.get(f"/v1/operator/fraud_screenings/{intent['id']}",
                           api.operator(role), expect=200).json()["data"]
            assert [d["decision"] for d in data] == ["challenge", "challenge"]
        api.get(f"/v1/operator/fraud_screenings/{intent['id']}", api.operator("support"),
                expect=403)
        record = data[0]
        assert record["subject_type"] == "payment" and record["amount_minor"] == 6_000
        assert record["rules_hit"] == ["big_payment_step_up"]
        assert record["rules_version"] == "rules-test-2025.1"
        assert record["model_version"] == "rules-only" and record["score"] == 0.0
        screener = api.runtime.payments.risk.screener
        assert set(record["features"]) == set(screener.model.feature_names)
        assert record["features"]["amount_minor"] == 6_000
        assert record["features"]["customer_count_1h"] == 1  # the first attempt
        assert data[1]["features"]["customer_count_1h"] == 2  # the first one was folded in
        assert record["thresholds"]["version"] == screener.policy.version
        assert record["thresholds"]["challenge"] <= record["thresholds"]["review"]
        # The audit record names the stored screening.
        assert [s["screening_id"] for s in _screenings(api, intent["id"])] == \
            [d["id"] for d in data]
    finally:
        api.runtime.close()


def test_rolled_back_confirm_leaves_no_screening_and_no_state(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000011")
        api.fund(token, 1_000)
        paid = _intent(api, mkey, 500, "ok-1")
        api.post(f"/v1/payment_intents/{paid['id']}/confirm", {"funding": "balance"}, token,
                 expect=200)
        before = _state_table(api)
        too_big = _intent(api, mkey, 2_000, "too-big-1")  # more than the wallet holds
        refused = api.post(f"/v1/payment_intents/{too_big['id']}/confirm",
                           {"funding": "balance"}, token)
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith("/insufficient-funds")
        with api.runtime.uow.connect() as conn:
            assert records.screenings_for(conn, too_big["id"]) == []
            assert len(records.screenings_for(conn, paid["id"])) == 1
        assert _state_table(api) == before
    finally:
        api.runtime.close()


def test_state_rows_equal_a_replay_of_the_journal(store, clock):  # type: ignore[no-untyped-def]
    """The rows commit with the screenings: replaying the journal rebuilds them exactly."""
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        tokens = [api.customer(f"1361000000{i}", device=f"device-{i:04d}") for i in range(3)]
        for token in tokens:
            api.fund(token, 100_000)
        for n in range(8):
            clock.advance(seconds=37)
            token = tokens[n % 3]
            amount = (1_000, 4_321, 2_500)[n % 3]
            intent = _intent(api, mkey, amount, f"journal-{n}")
            api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                     token, expect=200)
        replay = MemoryEntityStore()
        with api.runtime.uow.connect() as conn:
            for _, event in records.events_after(conn, 0):
                replay.update(event)
        version = replay.engine.config.version
        assert _state_table(api) == {
            (version, stable_id_hash(entity), KIND_CODES[kind]): (state, n_writes)
            for (kind, entity), state in replay.rows.items()
            for n_writes in [_writes(replay, kind, entity, api)]}
    finally:
        api.runtime.close()


def _writes(replay, kind, entity, api) -> int:  # type: ignore[no-untyped-def]
    """Screenings that wrote an entity's row: its version (one write per screening)."""
    with api.runtime.uow.connect() as conn:
        return sum(1 for _, e in records.events_after(conn, 0)
                   if (kind, entity) in replay.engine.event_keys(e))


def test_older_review_endpoint_and_case_verdict_are_one_decision(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000012")
        api.fund(token, 20_000)
        analyst = api.operator("risk_analyst")
        held = [_intent(api, mkey, 4_321, f"held-{n}") for n in range(3)]
        for intent in held:
            assert api.post(f"/v1/payment_intents/{intent['id']}/confirm",
                            {"funding": "balance"}, token,
                            expect=200).json()["status"] == "in_review"
        # Approve through the older endpoint: the case is resolved legitimate with it.
        approved = api.post(f"/v1/operator/payment_intents/{held[0]['id']}/review",
                            {"approve": True}, analyst, expect=200).json()
        assert approved["status"] == "requires_confirmation"
        case = _held_case(api, "payment_intent", held[0]["id"])
        assert (case["status"], case["verdict"], case["payment_action"]) == \
            ("resolved", "legitimate", "approved")
        # Decline through the older endpoint: unsure (no fraud label), payment declined.
        declined = api.post(f"/v1/operator/payment_intents/{held[1]['id']}/review",
                            {"approve": False}, analyst, expect=200).json()
        assert declined["status"] == "declined"
        case = _held_case(api, "payment_intent", held[1]["id"])
        assert (case["verdict"], case["payment_action"]) == ("unsure", "declined")
        # The case verdict first: the older endpoint then finds nothing held.
        case = _held_case(api, "payment_intent", held[2]["id"])
        api.post(f"/v1/operator/fraud_cases/{case['id']}/resolve", {"verdict": "fraud"},
                 analyst, expect=200)
        api.post(f"/v1/operator/payment_intents/{held[2]['id']}/review", {"approve": True},
                 analyst, expect=409)
        assert api.get(f"/v1/payment_intents/{held[2]['id']}", mkey,
                       expect=200).json()["status"] == "declined"
    finally:
        api.runtime.close()


class _Probe(Exception):
    """Rolls a probing transaction back."""


def test_rules_are_loaded_validated_activated_and_hot_swapped(store, clock):  # type: ignore[no-untyped-def]
    api = _screening_api(store, clock)
    try:
        mkey = _merchant_key(api)
        token = api.customer("13600000013")
        api.fund(token, 20_000)
        analyst = api.operator("risk_analyst")
        other = ScreeningRiskGateway.from_config(FraudScreeningConfig(rules=RULES))
        other.rules_check_every_s = 0.0  # a second process: polls the activation marker
        assert api.get("/v1/operator/fraud_rules", analyst, expect=200).json()["active"] is None
        bad = {**RULES, "version": "rules-bad", "rules": [
            {"name": "x", "action": "block", "when": {"field": "amount_minor", "op": ">",
                                                       "value": 1}}]}
        problem = api.post("/v1/operator/fraud_rules", bad, analyst, expect=422).json()
        assert problem["field"] == "rules[0].action"
        unknown = {**RULES, "version": "rules-bad-2", "rules": [
            {"name": "x", "action": "review", "when": {"field": "no_such_feature",
                                                        "op": ">", "value": 1}}]}
        problem = api.post("/v1/operator/fraud_rules", unknown, analyst, expect=422).json()
        assert problem["field"] == "rules[0].when.field"
        assert api.get("/v1/operator/fraud_rules", analyst,
                       expect=200).json()["history"] == []
        new = {"version": "rules-test-2025.9", "blocklists": {}, "rules": [
            {"name": "everything_reviewed", "action": "review",
             "when": {"field": "amount_minor", "op": ">=", "value": 1}}]}
        loaded = api.post("/v1/operator/fraud_rules", new, analyst, expect=201).json()
        assert loaded["active"] is False and loaded["author"]
        # Versions are immutable: the same version with other content is refused.
        api.post("/v1/operator/fraud_rules", {**new, "rules": []}, analyst, expect=409)
        intent = _intent(api, mkey, 1_000, "before-activation")
        assert api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                        token, expect=200).json()["status"] == "requires_capture"
        api.post("/v1/operator/fraud_rules/rules-missing/activate", {}, analyst, expect=404)
        # Activating is a four-eyes proposal: nothing changes until a second operator
        # approves it, and its proposer cannot.
        proposed = api.post("/v1/operator/fraud_rules/rules-test-2025.9/activate", {},
                            analyst, expect=202).json()
        assert proposed["kind"] == "fraud_rules.activate"
        assert api.get("/v1/operator/fraud_rules", analyst, expect=200).json()["active"] \
            is None
        approve = f"/v1/operator/approvals/{proposed['approval_id']}/approve"
        api.post(approve, None, analyst, expect=403)
        live = api.post(approve, None, api.operator("admin"), expect=200).json()["result"]
        assert live["active"] is True and live["changed"] is True
        intent = _intent(api, mkey, 1_000, "after-activation")
        assert api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                        token, expect=200).json()["status"] == "in_review"
        with api.runtime.uow.connect() as conn:
            [stored] = records.screenings_for(conn, intent["id"])
        assert stored["rules_version"] == "rules-test-2025.9"
        assert stored["rules_hit"] == ["everything_reviewed"]
        # The other process swaps at its next screening (rolled back here: a probe).
        with pytest.raises(_Probe), api.runtime.uow.begin() as tx:
            decision = other.screen_payment(tx, PaymentEvent(
                intent_id="pi_other", customer_id="cus_x", merchant_id="mer_x",
                merchant_mcc="5411", amount_minor=10, currency="CNY", funding="balance",
                scenario="online", device_id="dev_x", occurred_at=clock.now()))
            assert str(decision.outcome) == "review"
            assert decision.details["versions"]["rules"] == "rules-test-2025.9"
            raise _Probe
        with api.runtime.uow.connect() as conn:
            actions = conn.execute(select(audit_records.c.action).where(
                audit_records.c.subject_type == "fraud_rule_set")
                .order_by(audit_records.c.id)).scalars().all()
        assert actions == ["fraud_rules.loaded", "fraud_rules.activated"]
        listed = api.get("/v1/operator/fraud_rules", api.operator("compliance_officer"),
                         expect=200).json()
        assert listed["active"]["version"] == "rules-test-2025.9"
        assert [h["version"] for h in listed["history"]] == ["rules-test-2025.9"]
    finally:
        api.runtime.close()
