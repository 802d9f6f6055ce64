"""A shop for the browser tests of the hosted checkout: a real ``creditpay serve`` on a seeded
database with the development switch that allows an http return URL on loopback, a merchant
API key, an operator token, and the shop's own return page on loopback that records each
query string it is sent."""

from __future__ import annotations

import contextlib
import http.server
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.config import Settings
from creditpay.db.tables import outbox_events
from creditpay.devtools.apiserver import running_api_server
from creditpay.parties.service import Principal
from creditpay.platform.keys import LocalMasterKey, encode_key, generate_key_bytes
from tests.web.seed import seed

__all__ = ["Shop", "running_shop"]


@dataclass
class Shop:
    base: str
    db_url: str
    api_key: str
    returns: list[str]
    return_base: str
    admin_token: str = ""

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30)

    def intent(self, amount_minor: int, *, return_url: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "amount_minor": amount_minor, "currency": "CNY",
            "order_id": f"web-{uuid.uuid4().hex[:12]}", "description": "Tea set",
            "line_items": [{"name": "Tea set", "quantity": 1,
                            "unit_amount_minor": amount_minor}]}
        if return_url:
            body["return_url"] = f"{self.return_base}/return?shop=tea"
        with self.api() as client:
            response = client.post("/v1/payment_intents", json=body, headers=self._h())
        assert response.status_code == 201, response.text
        return response.json()

    def capture(self, intent_id: str) -> None:
        with self.api() as client:
            client.post(f"/v1/payment_intents/{intent_id}/capture", json={},
                        headers=self._h()).raise_for_status()

    def _h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}",
                "Idempotency-Key": uuid.uuid4().hex}

    def events(self, intent_id: str) -> list[str]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(select(outbox_events).where(
                    outbox_events.c.topic.like("payments.%"))).all()
        finally:
            engine.dispose()
        return [r.payload["type"] for r in rows
                if (r.payload.get("object") or {}).get("id") == intent_id]


@contextlib.contextmanager
def return_server() -> Iterator[tuple[str, list[str]]]:
    """A shop's return page on loopback that records each query string it is sent."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            seen.append(self.path)
            body = b"<!doctype html><html lang=en><title>Shop</title><h1>Thank you</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def shop_keys(url: str, master: bytes) -> tuple[str, str]:
    app = create_app(Settings.of(database_url=url),
                     config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
    rt = app.state.runtime
    try:
        admin = rt.uow.run(lambda tx: rt.parties.create_operator(tx, name="tea", role="admin"))
        made = rt.uow.run(lambda tx: rt.parties.onboard_merchant(
            tx, Principal("operator", admin["id"], role="admin"), name="Tea House",
            mcc="5411", discount_rate="0.006"))
        return str(made["api_key"]["key"]), str(admin["token"])
    finally:
        rt.close()


@contextlib.contextmanager
def running_shop() -> Iterator[Shop]:
    """The shop's server, seeded (tests/web/seed.py), and its return page."""
    with tempfile.TemporaryDirectory(prefix="creditpay-checkout-") as folder, \
            return_server() as (return_base, seen):
        url = f"sqlite:///{Path(folder) / 'web.db'}"
        master = generate_key_bytes()
        seed(url, master)
        api_key, admin_token = shop_keys(url, master)
        with running_api_server(url, encode_key(master), env={
                "CREDITPAY_DEV_INBOX": "true",
                "CREDITPAY_WEBHOOKS_ALLOW_PRIVATE": "true"}) as base:
            yield Shop(base, url, api_key, seen, return_base, admin_token)
