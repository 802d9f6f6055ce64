"""A real uvicorn server on loopback, and signed webhooks delivered to a real local HTTP
receiver with retries and backoff; on both stores."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import uvicorn

from creditpay.payments.webhooks import verify_webhook
from tests.api.helpers import GOOD_PAN, PASSWORD, Api, build_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Receiver:
    """A merchant's webhook endpoint: fails the first ``failures`` calls with 500."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = 500 if len(receiver.received) <= receiver.failures else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Uvicorn:
    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> _Uvicorn:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_checkout_over_real_http_with_signed_webhooks(store, clock):
    # The receiver is on loopback: the development setting lets webhooks go there.
    app = build_app(store.url, clock, webhooks_allow_private=True)
    try:
        with _Receiver(failures=2) as receiver, _Uvicorn(app) as server, \
                httpx.Client(base_url=server.base, timeout=10) as http:
            api = Api(http, app)
            admin = api.operator("admin")
            onboarded = api.merchant(admin, webhook_url=receiver.url)
            mkey, secret = onboarded["api_key"]["key"], onboarded["webhook_secret"]
            api.register({"email": "dana@example.com", "password": PASSWORD,
                          "device_id": "dana-phone"})
            dana = api.post("/v1/auth/login", {"identifier": "Dana@Example.com",
                                               "password": PASSWORD,
                                               "device_id": "dana-phone"},
                            expect=200).json()["access_token"]
            card = api.post("/v1/me/cards", {"pan": GOOD_PAN, "expiry_month": 1,
                                             "expiry_year": 2031}, dana, expect=201).json()
            assert card["last4"] == "4242" and card["masked"] == "**** **** **** 4242"
            intent = api.post("/v1/payment_intents", {"amount_minor": 8_800, "currency": "CNY",
                                                      "order_id": "live-1"}, mkey,
                              expect=201).json()
            api.post(f"/v1/payment_intents/{intent['id']}/confirm",
                     {"funding": "card", "card_id": card["id"]}, dana, expect=200)
            api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, mkey, expect=200)
            response = http.get("/v1/health")
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert "max-age" in response.headers["strict-transport-security"]
            assert http.get("/openapi.json").json()["openapi"].startswith("3.")

            def run_jobs() -> dict:
                return api.post("/v1/operator/jobs/webhooks", {}, admin, expect=200).json()

            first = run_jobs()  # 3 events; receiver fails the first 2 deliveries
            assert (first["delivered"], first["failed_attempts"]) == (1, 2)
            assert run_jobs()["delivered"] == 0  # backoff: not due yet
            clock.advance(seconds=31)
            assert run_jobs()["delivered"] == 2
            assert run_jobs()["delivered"] == 0
    finally:
        app.state.runtime.close()
    bodies = [json.loads(body) for _, body in receiver.received]
    ids = [b["id"] for b in bodies]
    assert len(receiver.received) == 5 and len(set(ids)) == 3  # retries keep their id
    assert {b["type"] for b in bodies} == {"payment_intent.created",
                                           "payment_intent.authorised",
                                           "payment_intent.succeeded"}
    for headers, body in receiver.received:
        signature = headers["Creditpay-Signature"]
        timestamp = int(signature.split(",")[0][2:])
        assert verify_webhook(secret, body, signature, timestamp)
        assert not verify_webhook(secret, body + b" ", signature, timestamp)
        assert not verify_webhook("whsec_other", body, signature, timestamp)
        assert headers["Creditpay-Event-Id"] == json.loads(body)["id"]
    succeeded = [b for b in bodies if b["type"] == "payment_intent.succeeded"][0]
    assert succeeded["data"]["captured_minor"] == 8_800
