"""Secrets and personal data never reach a log sink, whatever is logged at DEBUG.

Every record of the root logger and of the uvicorn, httpx, SQLAlchemy and psycopg loggers is
captured at DEBUG (SQLAlchemy then logs every statement, its parameters and its result rows)
across registration and login (password), KYC and a card (personal data), merchant onboarding
(API key and webhook signing secret, shown once), a refresh (refresh token) and a payment
with a bearer token. Each formatted record, with its exception text and ``extra`` fields,
must hold none of those values.

The sink is attached either before the app is built or after it (as ``uvicorn.run``
configures its handlers after ``create_app``, or a log shipper added at run time): both must
be masked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import GOOD_PAN, PASSWORD, Api, build_app, fake_dns

PHONE = "13987654321"
EMAIL = "han.meimei@example.com"
NAME = "韩梅梅"
ID_NUMBER = "11010519491231002X"
WRONG_PASSWORD = "tr0ub4dor&3 wrong"
# The merchant's webhook host, resolved without the network (a public address).
SHOP_DNS = fake_dns({"shop.example.com": ["93.184.215.14"]})

LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore",
           "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "psycopg", "creditpay",
           "fastapi", "starlette", "asyncio")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName"}


class _Capture(logging.Handler):
    """Keeps every record as a sink would write it: formatted, exception and extras too."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        extras = " ".join(f"{key}={value}" for key, value in record.__dict__.items()
                          if key not in _STANDARD)
        self.lines.append(f"{self.format(record)} {extras}")
        self.names.add(record.name)


@pytest.fixture
def debug_levels() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _journey(api: Api) -> dict[str, str]:
    """Every flow that carries a secret; returns the secrets it saw."""
    api.register({"phone": PHONE, "email": EMAIL, "password": PASSWORD,
                  "device_id": "device-0001"})
    api.post("/v1/auth/login", {"identifier": PHONE, "password": WRONG_PASSWORD,
                                "device_id": "device-0001"}, expect=401)
    session = api.post("/v1/auth/login", {"identifier": PHONE, "password": PASSWORD,
                                          "device_id": "device-0001"}, expect=200).json()
    refreshed = api.post("/v1/auth/refresh", {"refresh_token": session["refresh_token"]},
                         expect=200).json()
    token = refreshed["access_token"]
    api.post("/v1/me/kyc", {"legal_name": NAME, "id_number": ID_NUMBER,
                            "date_of_birth": "1949-12-31"}, token, expect=200)
    admin = api.operator("admin")
    onboarded = api.merchant(admin, webhook_url="https://shop.example.com/hooks")
    merchant_key = onboarded["api_key"]["key"]
    api.fund(token, 10_000)  # adds the card (PAN) and tops up through the card rail
    intent = api.post("/v1/payment_intents", {"amount_minor": 1_000, "currency": "CNY",
                                              "order_id": "secrets-1"}, merchant_key,
                      expect=201).json()
    api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"}, token,
             expect=200)
    api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, merchant_key, expect=200)
    api.get("/v1/me", token, expect=200)
    secrets = {
        "password": PASSWORD, "wrong password": WRONG_PASSWORD,
        "first access token": session["access_token"], "access token": token,
        "first refresh token": session["refresh_token"],
        "refresh token": refreshed["refresh_token"],
        "operator token": admin, "operator token secret": admin.split("_", 1)[1],
        "merchant API key": merchant_key, "API key secret": merchant_key.split("_", 1)[1],
        "webhook secret": onboarded["webhook_secret"],
        "webhook secret body": onboarded["webhook_secret"].removeprefix("whsec_"),
        "phone": PHONE, "phone with country code": "86" + PHONE, "email": EMAIL,
        "legal name": NAME, "ID number": ID_NUMBER, "card number": GOOD_PAN,
    }
    assert all(secrets.values())
    return secrets


@pytest.mark.parametrize("sink", ["before the app", "after the app"])
def test_no_secret_or_personal_data_in_any_log_record(store, clock, debug_levels, sink):
    capture = _Capture()
    root = logging.getLogger()
    if sink == "before the app":
        root.addHandler(capture)
    app = build_app(store.url, clock, webhook_resolve=SHOP_DNS)
    if sink == "after the app":
        root.addHandler(capture)
    api = Api(TestClient(app, raise_server_exceptions=False), app)
    try:
        secrets = _journey(api)
    finally:
        api.client.close()
        api.runtime.close()
        root.removeHandler(capture)
    # The capture saw the traffic: statements with parameters and rows, and the requests.
    assert {"sqlalchemy.engine.Engine", "httpx"} <= capture.names, capture.names
    text = "\n".join(capture.lines)
    assert "INSERT INTO customers" in text and "POST /v1/auth/login" in text.replace(
        "http://testserver", "")
    leaks = {label: line for label, value in secrets.items()
             for line in capture.lines if value in line}
    assert not leaks, leaks


@pytest.mark.parametrize("sink", ["before the app", "after the app"])
def test_secrets_logged_by_application_code_are_redacted(store, clock, debug_levels, sink):
    """Code that logs a request carelessly (headers, a body) still leaks nothing."""
    capture = _Capture()
    root = logging.getLogger()
    if sink == "before the app":
        root.addHandler(capture)
    app = build_app(store.url, clock, webhook_resolve=SHOP_DNS)
    if sink == "after the app":
        root.addHandler(capture)
    api = Api(TestClient(app, raise_server_exceptions=False), app)
    try:
        secrets = _journey(api)
        log = logging.getLogger("creditpay.api.debugging")
        bearer = secrets["access token"]
        log.debug("request headers %s", {"Authorization": f"Bearer {bearer}",
                                         "Content-Type": "application/json"})
        log.debug("Authorization: Bearer %s", secrets["merchant API key"])
        log.info("login body %s", {"identifier": PHONE, "password": PASSWORD})
        log.info('raw body {"phone": "%s", "password": "%s"}', PHONE, WRONG_PASSWORD)
        log.warning("password=%s refresh_token=%s", PASSWORD, secrets["refresh token"])
        log.warning("merchant onboarded: key %s, webhook secret %s",
                    secrets["merchant API key"], secrets["webhook secret"])
        log.error("operator %s failed", secrets["operator token"])
        if sink == "before the app":
            # ``extra`` fields are set after the record is created: only filters on loggers
            # and handlers see them, and install_pii_log_filter put one on this handler.
            log.error("lookup failed", extra={"credential": secrets["operator token"],
                                              "customer": f"phone={PHONE}"})
    finally:
        api.client.close()
        api.runtime.close()
        root.removeHandler(capture)
    text = "\n".join(capture.lines)
    assert "request headers" in text and "merchant onboarded" in text
    leaks: dict[str, Any] = {label: line for label, value in secrets.items()
                             for line in capture.lines if value in line}
    assert not leaks, leaks
