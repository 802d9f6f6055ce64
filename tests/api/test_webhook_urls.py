"""Setting a merchant's webhook URL over the API (both stores): a target on loopback, a
private network, link-local or a metadata service is a 422 naming ``webhook_url`` that changes
nothing, at onboarding and on update, also when a host name resolves there; the development
setting comes from the environment, is off by default and is logged when on."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from creditpay.config import Settings
from tests.api.helpers import Api, fake_dns, running_api

DNS = fake_dns({"hooks.shop.example": ["93.184.215.14"],
                "internal.shop.example": ["192.168.10.20"],
                "rebind.shop.example": ["93.184.215.14", "127.0.0.1"],
                "metadata.shop.example": ["169.254.169.254"]})
REFUSED = [
    "https://127.0.0.1/hooks",
    "https://[::1]:8443/hooks",
    "https://2130706433/hooks",
    "https://0x7f.1/hooks",
    "https://10.0.0.8/hooks",
    "https://[::ffff:169.254.169.254]/hooks",
    "https://100.100.100.200/hooks",
    "https://internal.shop.example/hooks",
    "https://rebind.shop.example/hooks",
    "https://metadata.shop.example/latest/meta-data/",
    "http://hooks.shop.example/hooks",
    "https://user:secret@hooks.shop.example/hooks",
    "https://nowhere.shop.example/hooks",
]


@pytest.fixture
def shop_api(store, clock):  # type: ignore[no-untyped-def]
    with running_api(store.url, clock, webhook_resolve=DNS) as api:
        yield api


def _problem(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "webhook_url" and problem["detail"]
    return problem


@pytest.mark.parametrize("url", REFUSED)
def test_onboarding_refuses_the_url(shop_api, url):
    admin = shop_api.operator("admin")
    _problem(shop_api.post("/v1/operator/merchants", {
        "name": "Shop", "mcc": "5411", "discount_rate": "0.006", "webhook_url": url}, admin))
    with shop_api.runtime.uow.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM merchants").scalar() == 0


@pytest.mark.parametrize("url", REFUSED)
def test_update_refuses_the_url_and_keeps_the_old_one(shop_api, url):
    admin = shop_api.operator("admin")
    onboarded = shop_api.merchant(admin, webhook_url="https://hooks.shop.example/hooks")
    key = onboarded["api_key"]["key"]
    _problem(shop_api.post("/v1/merchant/webhook", {"webhook_url": url}, key))
    assert shop_api.get("/v1/merchant", key, expect=200).json()["webhook_url"] == \
        "https://hooks.shop.example/hooks"


def test_a_public_url_is_set_and_cleared(shop_api):
    admin = shop_api.operator("admin")
    key = shop_api.merchant(admin)["api_key"]["key"]
    url = "https://hooks.shop.example:8443/creditpay?source=webhook"
    assert shop_api.post("/v1/merchant/webhook", {"webhook_url": url}, key,
                         expect=200).json()["webhook_url"] == url
    assert shop_api.post("/v1/merchant/webhook", {"webhook_url": None}, key,
                         expect=200).json()["webhook_url"] is None


def test_problem_says_why(shop_api):
    admin = shop_api.operator("admin")
    problem = _problem(shop_api.post("/v1/operator/merchants", {
        "name": "Shop", "mcc": "5411", "discount_rate": "0.006",
        "webhook_url": "https://internal.shop.example/hooks"}, admin))
    assert problem["detail"] == ("must not point at a private address "
                                 "(internal.shop.example is 192.168.10.20)")


def test_development_setting_from_the_environment_is_off_by_default_and_logged(
        store, clock, monkeypatch, caplog):
    monkeypatch.delenv("CREDITPAY_WEBHOOKS_ALLOW_PRIVATE", raising=False)
    assert Settings.from_env(store.url).webhooks_allow_private is False
    monkeypatch.setenv("CREDITPAY_WEBHOOKS_ALLOW_PRIVATE", "maybe")
    with pytest.raises(ValueError, match="CREDITPAY_WEBHOOKS_ALLOW_PRIVATE"):
        Settings.from_env(store.url)
    monkeypatch.setenv("CREDITPAY_WEBHOOKS_ALLOW_PRIVATE", "true")
    settings = Settings.from_env(store.url)
    assert settings.webhooks_allow_private is True

    from creditpay.api.app import create_app
    from tests.api.helpers import api_config

    with caplog.at_level(logging.WARNING, logger="creditpay.webhooks"):
        app = create_app(settings, clock, config=api_config())
    try:
        assert any("LOOPBACK AND PRIVATE" in r.getMessage() and r.levelno == logging.WARNING
                   for r in caplog.records)
        api = Api(TestClient(app, raise_server_exceptions=False), app)
        admin = api.operator("admin")
        body = {"name": "Dev shop", "mcc": "5411", "discount_rate": "0.006",
                "webhook_url": "http://127.0.0.1:8080/hooks"}
        assert api.post("/v1/operator/merchants", body, admin, expect=201).json()[
            "merchant"]["webhook_url"] == "http://127.0.0.1:8080/hooks"
        # Even in development a metadata service is no webhook.
        _problem(api.post("/v1/operator/merchants", {
            **body, "webhook_url": "http://169.254.169.254/latest/"}, admin))
    finally:
        app.state.runtime.close()
