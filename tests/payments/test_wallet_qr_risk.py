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
        # The replay is the first answer; only the request id (which names the request
        # that carried it) may differ.
        assert {k: v for k, v in again.json().items() if k != "request_id"} == \
            {k: v for k, v in first.json().items() if k != "request_id"}
        assert again.headers["Idempotent-Replayed"] == "true"
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


# ----------------------------------------------------------------- offline QR: refusals
def _forge_signature(token):
    """The same token with one character of its MAC changed (a middle one: the last base64
    character carries padding bits that may decode to the same bytes)."""
    version, body, mac = token.split(".")
    middle = len(mac) // 2
    flipped = "A" if mac[middle] != "A" else "B"
    return f"{version}.{body}.{mac[:middle]}{flipped}{mac[middle + 1:]}"


def _claims(token):
    import base64
    import json

    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _resign(token, key):
    """The token's claims signed with another ``key``: a forger's copy."""
    import datetime as dt

    from creditpay.parties.security import TokenSigner

    claims = _claims(token)
    typ, exp = claims.pop("typ"), claims.pop("exp")
    return TokenSigner(key).sign(typ, claims, dt.datetime.fromtimestamp(exp, dt.UTC))


def _swap_claims(token, **changes):
    """The token's genuine MAC on changed claims."""
    import base64
    import json

    body = json.dumps({**_claims(token), **changes}, separators=(",", ":"), sort_keys=True)
    encoded = base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()
    return f"v1.{encoded}.{token.split('.')[2]}"


def _money_state(api, token, intent_ids):
    """Everything a refused QR payment must leave alone."""
    from sqlalchemy import func, select

    from creditpay.ledger.tables import ledger_transfers
    from creditpay.payments.tables import payment_codes

    with api.runtime.uow.connect() as conn:
        transfers = conn.execute(select(func.count()).select_from(ledger_transfers)).scalar()
        codes = sorted((r.id, r.used_at, r.intent_id) for r in conn.execute(
            select(payment_codes)))
    wallet = api.wallet(token)
    return {"transfers": transfers, "codes": codes,
            "wallet": (wallet["balance_minor"], wallet["available_minor"]),
            "intents": {i: _intent_status(api, i) for i in intent_ids}}


def _intent_status(api, intent_id):
    with api.runtime.uow.connect() as conn:
        from sqlalchemy import select

        from creditpay.payments.tables import payment_intents

        row = conn.execute(select(payment_intents.c.status, payment_intents.c.customer_id)
                           .where(payment_intents.c.id == intent_id)).one()
    return tuple(row)


def _refused(response, status, slug, detail_part):
    from creditpay.errors import PROBLEM_BASE

    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + slug, problem
    assert detail_part in problem["detail"], problem
    return problem


def test_forged_merchant_qr_is_refused_and_moves_nothing(api):
    from creditpay.platform.keys import generate_key_bytes

    _, mkey = _merchant(api)
    token = api.customer("13500000007")
    api.fund(token, 10_000)
    genuine = _intent(api, mkey, 1_500, "qr-forged", scenario="offline_qr")
    other = _intent(api, mkey, 9_000, "qr-other", scenario="offline_qr")
    payload = genuine["qr_payload"]
    code = api.post("/v1/me/payment-codes", {"funding": "balance"}, token,
                    expect=201).json()["payment_code"]
    before = _money_state(api, token, [genuine["id"], other["id"]])
    assert before["intents"][genuine["id"]] == ("requires_confirmation", None)
    forgeries = {
        "tampered MAC": (_forge_signature(payload), "signature is invalid"),
        # The genuine MAC on claims pointing at another intent.
        "swapped intent": (_swap_claims(payload, pi=other["id"]), "signature is invalid"),
        "signed with another key": (_resign(payload, generate_key_bytes()),
                                    "signature is invalid"),
        "a payment code shown as a merchant QR": (code, "wrong kind of token"),
        "not a token": ("v1.garbage", "malformed token"),
    }
    for label, (forged, reason) in forgeries.items():
        response = api.post("/v1/qr/pay", {"qr_payload": forged, "funding": "balance"}, token)
        _refused(response, 401, "unauthenticated", reason)
        assert _money_state(api, token, [genuine["id"], other["id"]]) == before, label
    # The genuine payload was not spent by the refusals.
    api.post("/v1/qr/pay", {"qr_payload": payload, "funding": "balance"}, token, expect=200)
    assert api.wallet(token)["available_minor"] == 10_000 - 1_500
    assert _intent_status(api, other["id"]) == ("requires_confirmation", None)


def test_forged_payment_code_is_refused_and_moves_nothing(api):
    from creditpay.platform.keys import generate_key_bytes

    admin, mkey = _merchant(api)
    token = api.customer("13500000008")
    api.fund(token, 10_000)
    code = api.post("/v1/me/payment-codes", {"funding": "balance"}, token,
                    expect=201).json()["payment_code"]
    till = _intent(api, mkey, 2_000, "till-forged", scenario="offline_qr")
    qr = _intent(api, mkey, 2_000, "till-qr", scenario="offline_qr")["qr_payload"]
    url = f"/v1/payment_intents/{till['id']}/collect"
    before = _money_state(api, token, [till["id"]])
    forgeries = {
        "tampered MAC": (_forge_signature(code), "signature is invalid"),
        "signed with another key": (_resign(code, generate_key_bytes()),
                                    "signature is invalid"),
        "a merchant QR shown as a payment code": (qr, "wrong kind of token"),
    }
    for label, (forged, reason) in forgeries.items():
        _refused(api.post(url, {"payment_code": forged}, mkey), 401, "unauthenticated", reason)
        assert _money_state(api, token, [till["id"]]) == before, label
    # The genuine code is still unused and works once.
    api.post(url, {"payment_code": code}, mkey, expect=200)
    assert api.wallet(token)["available_minor"] == 10_000 - 2_000


def test_expired_payment_code_is_refused_and_moves_nothing(api, clock):
    _, mkey = _merchant(api)
    token = api.customer("13500000009")
    api.fund(token, 10_000)
    issued = api.post("/v1/me/payment-codes", {"funding": "balance"}, token, expect=201).json()
    till = _intent(api, mkey, 2_000, "till-expired", scenario="offline_qr")
    before = _money_state(api, token, [till["id"]])
    ttl_s = api.runtime.payments.policy.payment_code_ttl_s
    clock.advance(seconds=ttl_s + 1)
    response = api.post(f"/v1/payment_intents/{till['id']}/collect",
                        {"payment_code": issued["payment_code"]}, mkey)
    _refused(response, 401, "unauthenticated", "expired")
    assert _money_state(api, token, [till["id"]]) == before
    assert [c[1] for c in before["codes"]] == [None]  # still unused, and now useless


def test_payment_code_second_use_is_refused_and_moves_nothing(api):
    admin, mkey = _merchant(api)
    other_key = api.merchant(admin, name="Other shop")["api_key"]["key"]
    token = api.customer("13500000010")
    api.fund(token, 10_000)
    code = api.post("/v1/me/payment-codes", {"funding": "balance"}, token,
                    expect=201).json()["payment_code"]
    first = _intent(api, mkey, 2_000, "till-once", scenario="offline_qr")
    api.post(f"/v1/payment_intents/{first['id']}/collect", {"payment_code": code}, mkey,
             expect=200)
    second = _intent(api, mkey, 3_000, "till-twice", scenario="offline_qr")
    elsewhere = _intent(api, other_key, 3_000, "till-elsewhere", scenario="offline_qr")
    ids = [first["id"], second["id"], elsewhere["id"]]
    before = _money_state(api, token, ids)
    assert before["wallet"][1] == 10_000 - 2_000
    for intent_id, mkey_used in ((first["id"], mkey), (second["id"], mkey),
                                 (elsewhere["id"], other_key)):
        response = api.post(f"/v1/payment_intents/{intent_id}/collect",
                            {"payment_code": code}, mkey_used)
        problem = _refused(response, 402, "payment-declined", "already used")
        assert problem["field"] == "payment_code"
        assert _money_state(api, token, ids) == before, intent_id
    assert before["intents"][second["id"]] == ("requires_confirmation", None)
