"""Wallet (card rail: success, decline, delay; signed HTTP callbacks), P2P and history
pagination, step-up for large amounts, risk decline / review, QR codes, hold expiry."""

from __future__ import annotations

from creditpay.payments.risk import Decision, Outcome
from tests.api.helpers import DECLINE_PAN, DELAY_PAN, Api, build_app


def _merchant(api):
    admin = api.operator("admin")
    return admin, api.merchant(admin)["api_key"]["key"]


def _intent(api, mkey, amount, order, **extra):
    return api.post("/v1/payment_intents", {"amount_minor": amount, "currency": "CNY",
                                            "order_id": order, **extra}, mkey,
                    expect=201).json()


def test_top_up_states_and_withdrawal(api, clock):
    token = api.customer("13500000001")
    good, bad, slow = api.card(token), api.card(token, DECLINE_PAN), api.card(token, DELAY_PAN)
    for card in (good, bad, slow):
        op = api.post("/v1/me/wallet/top-ups", {"card_id": card, "amount_minor": 10_000},
                      token, expect=201).json()
        assert op["status"] == "pending"
    wallet = api.wallet(token)
    assert (wallet["balance_minor"], wallet["incoming_pending_minor"]) == (0, 30_000)
    from creditpay.api.routes_operators import deliver_rail_callbacks

    assert deliver_rail_callbacks(api.runtime) == 2  # success and decline are due now
    assert api.wallet(token)["balance_minor"] == 10_000
    clock.advance(hours=2)
    token = api.login("13500000001")  # the 15-minute access token has expired meanwhile
    # The delayed one arrives over HTTP, signed by the rail.
    rt = api.runtime
    with rt.uow.connect() as conn:
        due = rt.payments.rail.due_callbacks(conn, rt.clock.now())
    assert len(due) == 1
    body, headers = rt.payments.rail.signed_callback(due[0], rt.clock.now())
    forged = dict(headers, **{"Rail-Signature": headers["Rail-Signature"][:-4] + "0000"})
    assert api.client.post("/v1/rails/card/callbacks", content=body,
                           headers={**forged, "Idempotency-Key": due[0]["operation_id"]}
                           ).status_code == 401
    ok = api.client.post("/v1/rails/card/callbacks", content=body,
                         headers={**headers, "Idempotency-Key": due[0]["operation_id"]})
    assert ok.status_code == 200 and ok.json()["applied"] is True
    assert api.wallet(token)["balance_minor"] == 20_000
    history = api.get("/v1/me/wallet/history", token, params={"limit": 2}).json()
    assert [h["status"] for h in history["data"]] == ["succeeded", "failed"]
    rest = api.get("/v1/me/wallet/history", token,
                   params={"cursor": history["next_cursor"]}).json()
    assert [h["status"] for h in rest["data"]] == ["succeeded"] and rest["next_cursor"] is None
    api.post("/v1/me/wallet/withdrawals", {"card_id": good, "amount_minor": 20_001}, token,
             expect=409)
    api.post("/v1/me/wallet/withdrawals", {"card_id": good, "amount_minor": 5_000}, token,
             expect=201)
    assert api.wallet(token)["available_minor"] == 15_000
    deliver_rail_callbacks(api.runtime)
    assert api.wallet(token)["balance_minor"] == 15_000
    bad_cursor = api.get("/v1/me/wallet/history", token, params={"cursor": "zzz"}, expect=422)
    assert bad_cursor.json()["field"] == "cursor"


def test_large_amount_needs_step_up(api):
    _, mkey = _merchant(api)
    token = api.customer("13500000002")
    api.fund(token, 900_000)
    intent = _intent(api, mkey, 600_000, "big")
    url = f"/v1/payment_intents/{intent['id']}/confirm"
    first = api.post(url, {"funding": "balance"}, token, expect=403).json()
    assert first["type"].endswith("/step-up-required")
    challenge = first["challenge_id"]
    code = api.last_code(challenge)
    assert api.wallet(token)["available_minor"] == 900_000
    wrong = "000000" if code != "000000" else "111111"
    api.post(url, {"funding": "balance", "step_up_challenge_id": challenge,
                   "step_up_code": wrong}, token, expect=401)
    ok = api.post(url, {"funding": "balance", "step_up_challenge_id": challenge,
                        "step_up_code": code}, token, expect=200).json()
    assert ok["status"] == "requires_capture"
    assert api.wallet(token)["available_minor"] == 300_000


class _Scripted:
    def __init__(self, outcome):
        self.outcome = outcome
        self.events = []

    def screen_payment(self, tx, event):
        self.events.append(event)
        return Decision(self.outcome, ("scripted",), "test/1")


def _scripted_api(store, clock, outcome):
    from starlette.testclient import TestClient

    risk = _Scripted(outcome)
    app = build_app(store.url, clock, risk=risk)
    return Api(TestClient(app), app), risk


def test_risk_decline_is_recorded_and_replayed(store, clock):
    api, risk = _scripted_api(store, clock, Outcome.DECLINE)
    try:
        _, mkey = _merchant(api)
        token = api.customer("13500000003")
        api.fund(token, 10_000)
        intent = _intent(api, mkey, 1_000, "fraud")
        idem = "decline-key-0001"
        first = api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                         token, idem=idem, expect=402)
        again = api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                         token, idem=idem, expect=402)
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        assert api.get(f"/v1/payment_intents/{intent['id']}", mkey).json()["status"] == \
            "declined"
        assert api.wallet(token)["available_minor"] == 10_000
        assert risk.events[0].amount_minor == 1_000
    finally:
        api.runtime.close()


def test_risk_review_then_analyst_approves(store, clock):
    api, risk = _scripted_api(store, clock, Outcome.REVIEW)
    try:
        _, mkey = _merchant(api)
        analyst = api.operator("risk_analyst")
        token = api.customer("13500000004")
        api.fund(token, 10_000)
        intent = _intent(api, mkey, 1_000, "review")
        url = f"/v1/payment_intents/{intent['id']}/confirm"
        held = api.post(url, {"funding": "balance"}, token, expect=200).json()
        assert held["status"] == "in_review"
        assert api.wallet(token)["available_minor"] == 10_000
        api.post(f"/v1/operator/payment_intents/{intent['id']}/review", {"approve": True},
                 analyst, expect=200)
        done = api.post(url, {"funding": "balance"}, token, expect=200).json()
        assert done["status"] == "requires_capture"
    finally:
        api.runtime.close()


def test_qr_codes_single_use_and_expiring(api, clock):
    _, mkey = _merchant(api)
    token = api.customer("13500000005")
    api.fund(token, 10_000)
    qr_intent = _intent(api, mkey, 1_500, "qr-1", scenario="offline_qr")
    payload = qr_intent["qr_payload"]
    paid = api.post("/v1/qr/pay", {"qr_payload": payload, "funding": "balance"}, token,
                    expect=200).json()
    assert paid["status"] == "requires_capture"
    api.post("/v1/qr/pay", {"qr_payload": payload, "funding": "balance"}, token, expect=409)
    stale = _intent(api, mkey, 1_500, "qr-2", scenario="offline_qr")
    clock.advance(minutes=6)
    api.post("/v1/qr/pay", {"qr_payload": stale["qr_payload"], "funding": "balance"}, token,
             expect=401)
    # Consumer-presented code.
    code = api.post("/v1/me/payment-codes", {"funding": "balance"}, token,
                    expect=201).json()["payment_code"]
    till = _intent(api, mkey, 2_000, "till-1", scenario="offline_qr")
    collected = api.post(f"/v1/payment_intents/{till['id']}/collect", {"payment_code": code},
                         mkey, expect=200).json()
    assert collected["status"] == "requires_capture"
    till2 = _intent(api, mkey, 2_000, "till-2")
    api.post(f"/v1/payment_intents/{till2['id']}/collect", {"payment_code": code}, mkey,
             expect=402)  # single use
    assert api.wallet(token)["available_minor"] == 10_000 - 1_500 - 2_000


def test_uncaptured_hold_expires(api, clock):
    admin, mkey = _merchant(api)
    token = api.customer("13500000006")
    api.fund(token, 5_000)
    intent = _intent(api, mkey, 4_000, "late")
    api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"}, token,
             expect=200)
    assert api.wallet(token)["available_minor"] == 1_000
    clock.advance(days=8)
    token = api.login("13500000006")
    assert api.wallet(token)["available_minor"] == 1_000  # until the sweep runs
    job = api.post("/v1/operator/jobs/expire", {}, admin, expect=200).json()
    assert job["holds_expired"] == 1 and job["intents_expired"] == 1
    assert api.wallet(token)["available_minor"] == 5_000
    api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, mkey, expect=409)
