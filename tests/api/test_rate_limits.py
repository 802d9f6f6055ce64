"""Rate limits through the real app: per client IP, per credential and per login identifier.

The buckets are configured through ``ApiConfig`` (small ones here) and read a fake clock
(``ApiConfig.rate_limit_clock``), so refill is tested by moving time, not by sleeping. On
SQLite the limits live in the process (MemoryRateLimits), on PostgreSQL in the database
(platform_rate_limits, shared by every API process): the same behaviour on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from creditpay.api.access import SECURITY_HEADERS, MemoryRateLimits
from creditpay.errors import PROBLEM_BASE
from creditpay.platform.rate_limits import RateLimits
from tests.api.helpers import PASSWORD, Api, build_app

pytestmark = pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)

BIG = (10_000, 10_000.0)


class FakeMonotonic:
    """A monotonic clock (seconds) that moves only when told."""

    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def limited(store, clock, monotonic) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """``limited(**buckets)`` builds the real app with those ApiConfig bucket settings."""
    built: list[Api] = []

    def make(**buckets: tuple[int, float]) -> Api:
        settings: dict[str, Any] = {"ip_bucket": BIG, "credential_bucket": BIG,
                                    "login_bucket": BIG, "rate_limit_clock": monotonic}
        settings.update(buckets)
        app = build_app(store.url, clock, **settings)
        # "auto": the database on PostgreSQL, this process's memory on SQLite.
        assert isinstance(app.state.rate_limiter, RateLimits if store.kind == "postgresql"
                          else MemoryRateLimits)
        api = Api(TestClient(app, raise_server_exceptions=False), app)
        built.append(api)
        return api

    yield make
    for api in built:
        api.client.close()
        api.runtime.close()


def _assert_rate_limited(response: Any) -> float:
    """The response is a 429 problem with Retry-After and every security header; returns
    Retry-After in seconds."""
    assert response.status_code == 429, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "rate-limited" and problem["status"] == 429
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def _me(api: Api, token: str, client: Any = None) -> Any:
    return (client or api.client).get("/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_credential_bucket_limits_one_credential_only_and_refills(limited, monotonic):
    api = limited(credential_bucket=(3, 1.0))
    alice, bob = api.customer("13700000001"), api.customer("13700000002")
    for _ in range(3):
        assert _me(api, alice).status_code == 200
    retry_after = _assert_rate_limited(_me(api, alice))
    # Another credential, same IP: its own bucket.
    assert _me(api, bob).status_code == 200
    # Another IP does not reset a credential's bucket.
    elsewhere = TestClient(api.app, client=("198.51.100.7", 4000))
    try:
        _assert_rate_limited(_me(api, alice, elsewhere))
    finally:
        elsewhere.close()
    # Half a token's time is not enough; Retry-After's worth is.
    monotonic.advance(0.5)
    _assert_rate_limited(_me(api, alice))
    monotonic.advance(retry_after)
    assert _me(api, alice).status_code == 200
    # A merchant API key is a credential too.
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    for _ in range(3):
        assert api.get("/v1/payment_intents", mkey).status_code == 200
    _assert_rate_limited(api.get("/v1/payment_intents", mkey))


def test_ip_bucket_limits_one_ip_only_and_refills(limited, monotonic):
    api = limited(ip_bucket=(3, 2.0))
    for _ in range(3):
        assert api.client.get("/v1/health").status_code == 200
    limited_response = api.client.get("/v1/health")
    retry_after = _assert_rate_limited(limited_response)
    # Authenticated or not, the same IP is over its limit (checked before the credential).
    _assert_rate_limited(api.client.post("/v1/customers", json={
        "phone": "13700000009", "password": PASSWORD, "device_id": "device-0001"},
        headers={"Idempotency-Key": "rl-0001"}))
    other = TestClient(api.app, client=("203.0.113.9", 5000))
    try:
        for _ in range(3):
            assert other.get("/v1/health").status_code == 200
        _assert_rate_limited(other.get("/v1/health"))
    finally:
        other.close()
    monotonic.advance(0.25)  # half a token at 2 tokens/s
    _assert_rate_limited(api.client.get("/v1/health"))
    monotonic.advance(retry_after)
    assert api.client.get("/v1/health").status_code == 200


def test_login_bucket_limits_one_identifier_and_refills(limited, monotonic):
    api = limited(login_bucket=(2, 0.5))
    api.register({"phone": "13700000003", "password": PASSWORD, "device_id": "device-0001"})
    api.register({"phone": "13700000004", "password": PASSWORD, "device_id": "device-0001"})

    def login(phone: str) -> Any:
        return api.post("/v1/auth/login", {"identifier": phone, "password": PASSWORD,
                                           "device_id": "device-0001"})

    assert login("13700000003").status_code == 200
    assert login("13700000003").status_code == 200
    retry_after = _assert_rate_limited(login("13700000003"))
    # Another identifier from the same client is not affected.
    assert login("13700000004").status_code == 200
    monotonic.advance(retry_after)
    assert login("13700000003").status_code == 200


def test_login_bucket_cannot_be_dodged_by_reformatting_the_phone(limited):
    api = limited(login_bucket=(2, 0.001))
    api.register({"phone": "13700000005", "password": PASSWORD, "device_id": "device-0001"})
    for identifier in ("13700000005", "+86 137 0000 0005"):
        api.post("/v1/auth/login", {"identifier": identifier, "password": PASSWORD,
                                    "device_id": "device-0001"}, expect=200)
    _assert_rate_limited(api.post("/v1/auth/login", {
        "identifier": "137-0000-0005", "password": PASSWORD, "device_id": "device-0001"}))


def test_the_shared_limits_fail_open_when_their_table_cannot_be_reached(store, clock, caplog):
    """If the database holding the limits fails, requests are admitted (and it is logged):
    the liveness probe and routes without the database keep answering."""
    from sqlalchemy import text

    app = build_app(store.url, clock, rate_limits="database", ip_bucket=(1, 0.001))
    api = Api(TestClient(app, raise_server_exceptions=False), app)
    try:
        assert api.client.get("/v1/health").status_code == 200
        _assert_rate_limited(api.client.get("/v1/health"))
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE platform_rate_limits"))
        with caplog.at_level("ERROR", logger="creditpay.api"):
            assert api.client.get("/v1/health").status_code == 200
            assert api.client.get("/v1/health").status_code == 200
        assert sum("rate limits unavailable" in r.getMessage() for r in caplog.records) == 1
    finally:
        api.client.close()
        api.runtime.close()
