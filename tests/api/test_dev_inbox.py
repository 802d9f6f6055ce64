"""The development inbox: with CREDITPAY_DEV_INBOX on, GET /v1/dev/inbox shows the codes and
notices the relay would have sent to a phone or e-mail, so a person can register and log in
against a development server; off by default, when the route does not exist. Both stores."""

from __future__ import annotations

import pytest

from creditpay.config import Settings
from tests.api.helpers import PASSWORD, Api, running_api


@pytest.fixture
def dev_api(store, clock):
    with running_api(store.url, clock, dev_inbox=True) as api:
        yield api


def _inbox(api: Api, to: str) -> list[dict]:
    return api.get("/v1/dev/inbox", params={"to": to}, expect=200).json()["data"]


def test_register_and_log_in_with_the_codes_from_the_inbox(dev_api):
    api = dev_api
    started = api.post("/v1/customers", {"phone": "13860000001", "password": PASSWORD,
                                         "device_id": "device-0001"}, expect=202).json()
    [message] = _inbox(api, "+86 138 6000 0001")  # however the number is written
    assert message["registration_id"] == started["registration_id"]
    assert message["code"] == api.registration_code(started["registration_id"])
    api.post("/v1/customers/verify", {"registration_id": started["registration_id"],
                                      "code": message["code"], "device_id": "device-0001"},
             expect=201)
    login = api.post("/v1/auth/login", {"identifier": "13860000001", "password": PASSWORD,
                                        "device_id": "new-laptop"}, expect=200).json()
    newest = _inbox(api, "13860000001")[0]
    assert newest["challenge_id"] == login["challenge_id"] and newest["purpose"] == "login"
    api.post("/v1/auth/login/verify", {"challenge_id": login["challenge_id"],
                                       "code": newest["code"], "device_id": "new-laptop"},
             expect=200)
    # A second registration of the taken number: its owner reads a notice, and no code.
    api.post("/v1/customers", {"phone": "13860000001", "password": PASSWORD,
                               "device_id": "device-0009"}, expect=202)
    notice = _inbox(api, "13860000001")[0]
    assert notice["template"] == "registration.already_registered" and notice["code"] is None
    assert _inbox(api, "someone@example.com") == []


def test_the_inbox_does_not_exist_unless_switched_on(api):
    assert api.get("/v1/dev/inbox", params={"to": "13860000002"}).status_code == 404


def test_the_setting_comes_from_the_environment():
    assert Settings.from_env("sqlite://", environ={}).dev_inbox is False
    assert Settings.from_env("sqlite://", environ={"CREDITPAY_DEV_INBOX": "true"}).dev_inbox
    with pytest.raises(ValueError):
        Settings.from_env("sqlite://", environ={"CREDITPAY_DEV_INBOX": "maybe"})
