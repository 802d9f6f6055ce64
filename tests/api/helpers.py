"""Test helpers: build the real app on a test store and drive it over HTTP."""

from __future__ import annotations

import contextlib
import functools
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.config import Settings
from creditpay.credit.products import Catalogue, load_catalogue
from creditpay.db.tables import outbox_events
from creditpay.parties.security import PasswordPolicy
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes

# Cheap argon2 for tests (the production default is OWASP's 19 MiB, t=2).
FAST_PASSWORDS = PasswordPolicy(time_cost=1, memory_cost_kib=1024)
PASSWORD = "correct horse battery"
GOOD_PAN = "4242424242424242"
DECLINE_PAN = "4000000000000002"
DELAY_PAN = "4000000000000259"


@functools.cache
def packaged_catalogue() -> Catalogue:
    """The packaged products and caps, parsed once per test process (0.2 s an app): a
    Catalogue is read-only once built, so every app of the process can be given the same
    one, as the bootstrap would load it."""
    return load_catalogue()


def api_config(**overrides: Any) -> ApiConfig:
    values: dict[str, Any] = {
        "catalogue": packaged_catalogue(),
        "master_key": LocalMasterKey(generate_key_bytes()),
        "token_key": generate_key_bytes(),
        "blind_index_key": generate_key_bytes(),
        "passwords": FAST_PASSWORDS,
        "pool_size": 4,
        # No test looks a webhook host name up on the real network.
        "webhook_resolve": fake_dns({}),
    }
    values.update(overrides)
    return ApiConfig(**values)


def build_app(url: str, clock: Any, **overrides: Any) -> Any:
    # Settings.of: no test depends on the CREDITPAY_* variables of the shell it runs in.
    return create_app(Settings.of(database_url=url), clock, config=api_config(**overrides))


def fake_dns(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    """A host name resolver for webhook targets that answers from ``table`` (no network);
    an unknown name does not resolve, as getaddrinfo would say."""
    def resolve(host: str, port: int) -> list[str]:
        try:
            return list(table[host])
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    return resolve


@contextlib.contextmanager
def running_api(url: str, clock: Any, **overrides: Any) -> Iterator[Api]:
    """The real app on ``url`` with ``overrides`` of its ApiConfig, driven through httpx;
    closed (runtime and client) on exit."""
    from starlette.testclient import TestClient

    app = build_app(url, clock, **overrides)
    client = TestClient(app, raise_server_exceptions=False)
    try:
        yield Api(client, app)
    finally:
        client.close()
        app.state.runtime.close()


def key() -> str:
    return str(uuid.uuid4())


@dataclass
class Api:
    """A thin wrapper that adds Authorization and a fresh Idempotency-Key to each POST."""

    client: Any
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def headers(self, token: str | None, idem: str | None = None) -> dict[str, str]:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return headers

    def post(self, path: str, json: Any = None, token: str | None = None,
             idem: str | None = None, expect: int | None = None) -> Any:
        response = self.client.post(path, json=json if json is not None else {},
                                    headers=self.headers(token, idem or key()))
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        return response

    def get(self, path: str, token: str | None = None, expect: int | None = None,
            params: dict[str, Any] | None = None) -> Any:
        response = self.client.get(path, headers=self.headers(token), params=params)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        return response

    # ----- fixtures of the world ---------------------------------------------------------
    def operator(self, role: str = "admin") -> str:
        result = self.runtime.uow.run(
            lambda tx: self.runtime.parties.create_operator(tx, name=f"{role}-op", role=role))
        return result["token"]

    def merchant(self, admin: str, *, rate: str = "0.006", webhook_url: str | None = None,
                 name: str = "Shop") -> dict[str, Any]:
        body = {"name": name, "mcc": "5411", "discount_rate": rate}
        if webhook_url:
            body["webhook_url"] = webhook_url
        return self.post("/v1/operator/merchants", body, admin, expect=201).json()

    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register as a person does: the code sent to the phone (or e-mail), then verify."""
        started = self.post("/v1/customers", body, expect=202).json()
        code = self.registration_code(started["registration_id"])
        return self.post("/v1/customers/verify", {
            "registration_id": started["registration_id"], "code": code,
            "device_id": body["device_id"]}, expect=201).json()

    def customer(self, phone: str, device: str = "device-0001") -> str:
        self.register({"phone": phone, "password": PASSWORD, "device_id": device})
        return self.login(phone, device)

    def customer_with_line(self, admin: str, phone: str, limit_minor: int = 1_000_000
                           ) -> tuple[str, str]:
        """A registered, KYC-verified customer granted a pay-later line of ``limit_minor``
        (product huabei) by operator ``admin``: (access token, customer id)."""
        token = self.customer(phone)
        self.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": "11010519491231002X",
                                 "date_of_birth": "1949-12-31"}, token, expect=200)
        customer_id = self.get("/v1/me", token).json()["id"]
        line = self.post(f"/v1/operator/customers/{customer_id}/credit_line",
                         {"limit_minor": limit_minor, "product_code": "huabei"}, admin,
                         expect=201).json()
        assert line["available_minor"] == limit_minor
        return token, customer_id

    def login(self, phone: str, device: str = "device-0001") -> str:
        login = self.post("/v1/auth/login", {"identifier": phone, "password": PASSWORD,
                                             "device_id": device}, expect=200).json()
        assert login["status"] == "authenticated", login
        return login["access_token"]

    def card(self, token: str, pan: str = GOOD_PAN) -> str:
        return self.post("/v1/me/cards", {"pan": pan, "expiry_month": 12,
                                          "expiry_year": 2030}, token, expect=201).json()["id"]

    def fund(self, token: str, amount_minor: int, card_id: str | None = None) -> None:
        card_id = card_id or self.card(token)
        self.post("/v1/me/wallet/top-ups", {"card_id": card_id, "amount_minor": amount_minor},
                  token, expect=201)
        from creditpay.api.routes_operators import deliver_rail_callbacks

        deliver_rail_callbacks(self.runtime)

    def wallet(self, token: str) -> dict[str, Any]:
        return self.get("/v1/me/wallet", token, expect=200).json()

    def outbox(self, topic: str) -> list[dict[str, Any]]:
        with self.runtime.uow.connect() as conn:
            rows = conn.execute(select(outbox_events).where(outbox_events.c.topic == topic)
                                .order_by(outbox_events.c.id)).all()
        return [r.payload for r in rows]

    def last_code(self, challenge_id: str) -> str:
        """The code the notification relay would send for a challenge (decrypted)."""
        from creditpay.parties.notifier import TOPIC_CODE, reveal

        for payload in reversed(self.outbox(TOPIC_CODE)):
            if payload["challenge_id"] == challenge_id:
                return reveal(self.runtime.vault, TOPIC_CODE, payload)["code"]
        raise AssertionError(f"no code sent for {challenge_id}")

    def registration_code(self, registration_id: str) -> str:
        from creditpay.parties.notifier import TOPIC_REGISTRATION_CODE, reveal

        for payload in reversed(self.outbox(TOPIC_REGISTRATION_CODE)):
            if payload["registration_id"] == registration_id:
                return reveal(self.runtime.vault, TOPIC_REGISTRATION_CODE, payload)["code"]
        raise AssertionError(f"no code sent for {registration_id}")
