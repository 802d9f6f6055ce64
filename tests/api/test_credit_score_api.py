"""``GET /v1/me/credit_score`` and ``GET /v1/me/deposit_waiver`` on both stores."""

from __future__ import annotations

from creditpay.risk.decisions import registry, service
from creditpay.risk.decisions.credit_score import latest_credit_score
from creditpay.risk.decisions.policy import activate_policy, bundled_policy_path, load_policy_file
from tests.risk.decisions.conftest import (
    CONSENT,
    GOOD_APPLICATION,
    allow_all,
    bureau_for,
    good_events,
)


def _scored(api, application_model, phone):
    """A customer of the app with one stored credit decision; returns (token, customer id)."""
    token = api.customer(phone, device=f"dev-{phone}")
    customer_id = api.get("/v1/me", token, expect=200).json()["id"]
    uow = api.runtime.uow
    with uow.begin() as tx:
        if not registry.list_models(tx.conn, "application"):
            registry.register_model(tx, application_model, name="application",
                                    registered_by="tests")
            registry.promote(tx, "application", 1, actor="tests", reason="initial")
            activate_policy(tx, load_policy_file(bundled_policy_path("application")),
                            actor="tests")
        service.decide(tx, application_id=f"app-{customer_id}", customer_id=customer_id,
                       product_code="credit_line", application=GOOD_APPLICATION,
                       bureau=bureau_for(customer_id), bureau_consent_reference=CONSENT,
                       platform_events=good_events(customer_id, tx.now),
                       platform_consent_reference=CONSENT, consent_checker=allow_all)
    return token, customer_id


def test_the_customer_sees_their_score_factors_and_advice(api, application_model):
    token, customer_id = _scored(api, application_model, "13900000011")
    with api.runtime.uow.connect() as conn:
        expected = latest_credit_score(conn, customer_id)
    body = api.get("/v1/me/credit_score?lang=en", token, expect=200).json()
    assert body["score"] == expected.score and 350 <= body["score"] <= 950
    assert body["band"] == expected.band_en and body["language"] == "en"
    assert [f["characteristic"] for f in body["factors"]] == \
        [f["characteristic"] for f in expected.factors]
    assert [i["text"] for i in body["improvements"]] == [i["en"] for i in expected.improvements]
    zh = api.client.get("/v1/me/credit_score", headers={
        "Authorization": f"Bearer {token}", "Accept-Language": "zh-CN,zh;q=0.9"}).json()
    assert zh["band"] == expected.band_zh and zh["language"] == "zh-CN"
    assert [f["text"] for f in zh["factors"]] == [f["zh"] for f in expected.factors]


def test_only_the_customer_can_read_it(api, application_model):
    _scored(api, application_model, "13900000012")
    other = api.customer("13900000013", device="dev-other")
    response = api.get("/v1/me/credit_score", other)
    assert response.status_code == 404  # never scored: not someone else's score
    assert response.json()["field"] == "customer_id"
    assert api.get("/v1/me/credit_score", None).status_code == 401
    admin = api.operator("admin")
    assert api.get("/v1/me/credit_score", admin).status_code == 403


def test_deposit_waiver_above_and_below_the_threshold(api, application_model):
    token, customer_id = _scored(api, application_model, "13900000014")
    score = api.get("/v1/me/credit_score", token, expect=200).json()["score"]
    config = api.runtime.config
    config.deposit_waiver_score_min = score
    body = api.get("/v1/me/deposit_waiver?amount_minor=50000&lang=en", token,
                   expect=200).json()
    assert body["eligible"] is True and body["deposit_due_minor"] == 0
    assert body["threshold"] == score and "waived" in body["text"]
    config.deposit_waiver_score_min = score + 1
    body = api.get("/v1/me/deposit_waiver?amount_minor=50000", token, expect=200).json()
    assert body["eligible"] is False and body["deposit_due_minor"] == 50_000
    assert body["language"] == "zh-CN" and "押金" in body["text"]
    assert api.get("/v1/me/deposit_waiver?amount_minor=0", token).status_code in (400, 422)
