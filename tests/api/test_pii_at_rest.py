"""Personal data written through the API is not in the database in plaintext (the SQLite
file and its WAL byte for byte; on PostgreSQL every row of every table, a ``pg_dump`` of the
database and the server's log), nor in the logs, nor in the idempotency store, nor in a 500
response.

Each value is searched in every form it could be stored in: UTF-8 (raw file bytes, so a
Chinese name cannot hide behind ``repr`` escaping), JSON's ``\\uXXXX`` escaping (SQLAlchemy's
JSON type writes ASCII-only JSON) and hex (how PostgreSQL prints ``bytea``).
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess  # nosec B404 - pg_dump of the test database
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from creditpay.platform.logging_filter import install_pii_log_filter
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


def _stored_forms(secret: str) -> set[bytes]:
    """Byte strings that would give ``secret`` away in a file or a dump."""
    raw = secret.encode("utf-8")
    escaped = json.dumps(secret)[1:-1]  # ensure_ascii: 李 -> \\u674e
    escaped_upper = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), escaped)
    return {raw, escaped.encode("ascii"), escaped_upper.encode("ascii"),
            raw.hex().encode("ascii")}


def _assert_absent(blob: bytes, secrets: tuple[str, ...], where: str) -> None:
    for secret in secrets:
        for form in _stored_forms(secret):
            assert form not in blob, f"{secret!r} found in {where} as {form!r}"


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
                chunks.extend(_value_bytes(value) for value in row)
    return b"\n".join(chunks)


def _value_bytes(value: object) -> bytes:
    """A column value as bytes, without repr's escaping of non-ASCII text and bytes."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    return str(value).encode("utf-8")


def _write_personal_data(api: Api) -> str:
    """Register, verify and add a card through the API with the known values; the token."""
    api.register({"phone": PHONE, "email": EMAIL, "password": PASSWORD,
                  "device_id": "device-0001"})
    token = api.login(PHONE)
    me = api.post("/v1/me/kyc", {"legal_name": NAME, "id_number": ID_NUMBER,
                                 "date_of_birth": "1949-12-31"}, token, expect=200).json()
    assert me["phone"] == "+86 139****5678" and me["email"] == "l***@example.com"
    assert me["legal_name"] == "李**"
    api.post("/v1/me/cards", {"pan": PAN, "expiry_month": 12, "expiry_year": 2030}, token,
             expect=201)
    return token


def test_pii_is_encrypted_at_rest_and_masked_in_logs(store, clock):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    app = build_app(store.url, clock, risk=_Exploding())
    install_pii_log_filter()  # also covers the handler added above
    api = Api(TestClient(app, raise_server_exceptions=False), app)
    try:
        token = _write_personal_data(api)
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
        # The purpose is a code: words (which could name a person) never reach the chain.
        refused = api.post(f"/v1/operator/customers/{customer_id}/personal_data",
                           {"purpose": f"court order for {NAME}"}, officer, expect=422)
        assert refused.json()["field"] == "purpose"
        clear = api.post(f"/v1/operator/customers/{customer_id}/personal_data",
                         {"purpose": "legal_obligation"}, officer, expect=200).json()
        assert (clear["phone"], clear["id_number"]) == ("8613912345678", ID_NUMBER)
        logging.getLogger("creditpay.test").warning("customer %s paid", PHONE)
        dump = _scan_database(store, api.runtime)
    finally:
        root.removeHandler(handler)
        api.client.close()
        api.runtime.close()
    _assert_absent(dump, (PHONE, "8613912345678", EMAIL, NAME, ID_NUMBER, PAN, PASSWORD),
                   "the database")
    logs = stream.getvalue()
    assert "feature store lookup failed" in logs  # the crash was logged...
    for secret in (PHONE, EMAIL, PAN, ID_NUMBER):
        assert secret not in logs, f"{secret!r} found in the logs"  # ...masked


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_pii_is_not_in_a_postgresql_dump_nor_the_server_log(store, clock, pg_server):
    app = build_app(store.url, clock)
    api = Api(TestClient(app, raise_server_exceptions=False), app)
    try:
        token = _write_personal_data(api)
        customer_id = api.get("/v1/me", token, expect=200).json()["id"]
        # The same phone and ID number again: a registration that cannot complete, and a
        # refusal on a unique key, which a server may log with the offending values.
        api.post("/v1/customers", {"phone": PHONE, "password": PASSWORD,
                                   "device_id": "device-0001"}, expect=202)
        other = api.customer("13912340000")
        api.post("/v1/me/kyc", {"legal_name": NAME, "id_number": ID_NUMBER,
                                "date_of_birth": "1949-12-31"}, other, expect=409)
        admin = api.operator("admin")
        mkey = api.merchant(admin)["api_key"]["key"]
        intent = api.post("/v1/payment_intents", {"amount_minor": 100, "currency": "CNY",
                                                  "order_id": "pii-pg"}, mkey,
                          expect=201).json()
        cards = api.get("/v1/me/cards", token, expect=200).json()["data"]
        api.post(f"/v1/payment_intents/{intent['id']}/confirm",
                 {"funding": "card", "card_id": cards[0]["id"]}, token, expect=200)
    finally:
        api.client.close()
        api.runtime.close()
    url = make_url(store.url)
    dumped = subprocess.run(  # nosec B603 - the server's own pg_dump, fixed arguments
        [str(pg_server.bin / "pg_dump"), "--host", str(url.host), "--port", str(url.port),
         "--username", str(url.username), "--dbname", str(url.database), "--no-owner"],
        capture_output=True, timeout=120, check=False)
    assert dumped.returncode == 0, dumped.stderr.decode(errors="replace")
    dump = dumped.stdout
    # The dump holds this test's rows (the search below is not over an empty file).
    assert b"COPY public.customers" in dump and customer_id.encode() in dump
    secrets = (PHONE, "8613912345678", EMAIL, NAME, ID_NUMBER, PAN, PASSWORD)
    _assert_absent(dump, secrets, "the pg_dump")
    server_log = pg_server.log.read_bytes()
    assert server_log, "the server log is empty: wrong file?"
    _assert_absent(server_log, secrets, "the PostgreSQL server log")
