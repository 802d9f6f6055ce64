"""Personal data written through the API is not in the database in plaintext (the SQLite
file and its WAL byte for byte; on PostgreSQL every row of every table), nor in the logs,
nor in the idempotency store, nor in a 500 response."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from starlette.testclient import TestClient

from creditpay.compliance.logging_filter import install_pii_log_filter
from tests.api.helpers import PASSWORD, Api, build_app

PHONE = "13912345678"
EMAIL = "li.lei@example.com"
NAME = "李雷雷"
ID_NUMBER = "11010519491231002X"
PAN = "4242424242424242"


class _Exploding:
    """A risk engine that crashes with personal data in its error message."""

    def screen_payment(self, tx, event):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"feature store lookup failed for {PHONE} / {EMAIL}")


def _scan_database(store, runtime) -> bytes:
    if store.kind == "sqlite":
        path = Path(store.url.removeprefix("sqlite:///"))
        runtime.uow.engine.dispose()
        data = path.read_bytes()
        wal = Path(str(path) + "-wal")
        return data + (wal.read_bytes() if wal.exists() else b"")
    chunks = []
    with runtime.uow.connect() as conn:
        # Every table in the database (not only those this code declares).
        names = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).scalars().all()
        for name in names:
            for row in conn.exec_driver_sql(f'SELECT * FROM "{name}"'):  # nosec B608
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks).encode("utf-8")


def test_pii_is_encrypted_at_rest_and_masked_in_logs(store, clock):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    app = build_app(store.url, clock, risk=_Exploding())
    install_pii_log_filter()  # also covers the handler added above
    api = Api(TestClient(app, raise_server_exceptions=False), app)
    try:
        api.post("/v1/customers", {"phone": PHONE, "email": EMAIL, "password": PASSWORD,
                                   "device_id": "device-0001"}, expect=201)
        token = api.login(PHONE)
        me = api.post("/v1/me/kyc", {"legal_name": NAME, "id_number": ID_NUMBER,
                                     "date_of_birth": "1949-12-31"}, token, expect=200).json()
        assert me["phone"] == "+86 139****5678" and me["email"] == "l***@example.com"
        assert me["legal_name"] == "李**"
        api.post("/v1/me/cards", {"pan": PAN, "expiry_month": 12, "expiry_year": 2030}, token,
                 expect=201)
        admin = api.operator("admin")
        mkey = api.merchant(admin)["api_key"]["key"]
        intent = api.post("/v1/payment_intents", {"amount_minor": 100, "currency": "CNY",
                                                  "order_id": "pii"}, mkey, expect=201).json()
        crash = api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                         token, expect=500)
        assert PHONE not in crash.text and EMAIL not in crash.text
        assert crash.headers["content-type"] == "application/problem+json"
        # A compliance officer can still read the data, for a stated purpose (audited).
        officer = api.operator("compliance_officer")
        customer_id = api.get("/v1/me", token).json()["id"]
        clear = api.post(f"/v1/operator/customers/{customer_id}/personal_data",
                         {"purpose": "court order 2025-17"}, officer, expect=200).json()
        assert (clear["phone"], clear["id_number"]) == ("8613912345678", ID_NUMBER)
        logging.getLogger("creditpay.test").warning("customer %s paid", PHONE)
        dump = _scan_database(store, api.runtime)
    finally:
        root.removeHandler(handler)
        api.client.close()
        api.runtime.close()
    for secret in (PHONE, "8613912345678", EMAIL, NAME, ID_NUMBER, PAN, PASSWORD):
        assert secret.encode("utf-8") not in dump, f"{secret!r} found in the database"
    logs = stream.getvalue()
    assert "feature store lookup failed" in logs  # the crash was logged...
    for secret in (PHONE, EMAIL, PAN, ID_NUMBER):
        assert secret not in logs, f"{secret!r} found in the logs"  # ...masked
