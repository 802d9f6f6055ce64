"""The assistant's test world, once per test session and store (every test only adds
questions and measures what it asked): the real app on a fresh
database of each store, with the two consumers of :func:`creditpay.benchmarks.assistant
.seed_world` (A and B, every figure different, both with a bill cut by the close of
business), driven in process and over HTTP (starlette's TestClient)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from creditpay.benchmarks.assistant import seed_world
from creditpay.clock import SimulatedClock
from tests.api.helpers import Api, running_api
from tests.conftest import STORES, Store, _new_store

PASSWORD = "bench password 1"  # seed_world's
DEVICE = "bench-device"


@dataclass
class World:
    store: Store
    api: Api
    clock: SimulatedClock
    people: dict[str, Any]

    @property
    def rt(self) -> Any:
        return self.api.runtime

    @property
    def assistant(self) -> Any:
        return self.rt.services.assistant

    def ask(self, who: str, text: str, conversation_id: str | None = None) -> Any:
        customer_id = self.people[who]["customer_id"]
        return self.rt.uow.run(lambda tx: self.assistant.ask(tx, customer_id, conversation_id,
                                                              text))

    def token(self, who: str) -> str:
        phone = self.people[who]["phone"]
        login = self.api.client.post("/v1/auth/login", json={
            "identifier": phone, "password": PASSWORD, "device_id": DEVICE},
            headers={"Idempotency-Key": uuid.uuid4().hex}).json()
        assert login["status"] == "authenticated", login
        return str(login["access_token"])


@pytest.fixture(scope="session", params=STORES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    stores = _new_store(request.param, request, tmp_path_factory.mktemp("assistant"))
    store = next(stores)
    clock = SimulatedClock("2025-03-01T09:00:00+00:00")
    try:
        with running_api(store.url, clock) as api:
            people = seed_world(api.runtime, clock)
            yield World(store, api, clock, people)
    finally:
        stores.close()
